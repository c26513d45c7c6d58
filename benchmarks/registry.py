"""The benchmarked methods: ``METHODS`` maps a name to a factory.

A factory takes ``(covariate_spec, random_state)`` and returns an unfitted
imputer; :func:`build` applies the per-method overrides (``--fast``) and the
device. Every method gets the data set's covariates: the baselines as one-hot
columns (:class:`~skimpute_gtex.baselines.CovariateImputer`), PMI and GAIN as
embeddings.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer

from skimpute_gtex import GAINImputer, PMIImputer
from skimpute_gtex.baselines import (
    BloodSurrogateImputer,
    CovariateImputer,
    MissForestImputer,
    SoftImputeImputer,
    TissueMedianImputer,
)
from skimpute_gtex.cli import FAST_PARAMS as DEEP_FAST_PARAMS
from skimpute_gtex.datasets import simulate_missing


def _first_categorical(spec):
    for name, kind, _ in spec or []:
        if kind == "categorical":
            return name
    return None


def _pmi(spec, random_state):
    return PMIImputer(covariates=spec, random_state=random_state)


def _gain(spec, random_state):
    # GAIN-GTEx: the adversarial variant (GAINImputer's default is GAIN-MSE)
    return GAINImputer(
        covariates=spec, adversarial_weight=1.0, random_state=random_state
    )


def _gain_mse(spec, random_state):
    return GAINImputer(
        covariates=spec, adversarial_weight=0.0, random_state=random_state
    )


def _knn(k):
    def factory(spec, random_state):
        return CovariateImputer(KNNImputer(n_neighbors=k), covariates=spec)

    factory.__name__ = f"knn{k}"
    return factory


class TunedKNN(BaseEstimator):
    """k-NN with k chosen on the data it is fitted on (the "k-NN (tuned)" row).

    For each k in ``KS``, 20% of the observed gene entries of the fit data are
    hidden (:func:`~skimpute_gtex.datasets.simulate_missing`, seed 0), the
    hidden data are imputed in place and the hidden entries scored, as
    :func:`~skimpute_gtex.metrics.make_imputation_scorer` does, by their mean
    squared error in units of each gene's standard deviation (a per-gene R²
    averaged over genes is dominated by genes whose few hidden entries happen
    to be nearly equal on the smallest sets); the best k is then fitted on all
    of the data. The chosen k is ``n_neighbors_``.
    """

    KS = (1, 3, 5, 10, 20)

    def __init__(self, covariates=None):
        self.covariates = covariates

    def _imputer(self, k):
        return CovariateImputer(KNNImputer(n_neighbors=k), covariates=self.covariates)

    def fit(self, X, y=None):
        genes = [c for c in X.columns if c not in
                 {col for _, _, cols in self.covariates or [] for col in cols}]
        values = X[genes].to_numpy(dtype=np.float64)
        hidden, mask = simulate_missing(values, 0.2, random_state=0)
        X_hidden = X.copy()
        X_hidden[genes] = hidden
        scale = np.nanstd(values, axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        scores = {}
        for k in self.KS:
            out = np.asarray(self._imputer(k).fit_transform(X_hidden), dtype=float)
            err = ((out[:, :len(genes)] - values) / scale)[mask]
            scores[k] = -float(np.mean(err**2))
        self.scores_ = scores
        self.n_neighbors_ = max(scores, key=lambda k: scores[k])
        self.best_estimator_ = self._imputer(self.n_neighbors_).fit(X)
        return self

    def transform(self, X):
        return self.best_estimator_.transform(X)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)


def _knn_tuned(spec, random_state):
    return TunedKNN(spec)


def _mice(n_nearest_features):
    def factory(spec, random_state):
        return CovariateImputer(
            IterativeImputer(
                max_iter=10, n_nearest_features=n_nearest_features,
                random_state=random_state,
            ),
            covariates=spec,
        )

    factory.__name__ = f"mice_{n_nearest_features}"
    return factory


def _softimpute(spec, random_state):
    return SoftImputeImputer(covariates=spec, random_state=random_state)


def _missforest(n_estimators):
    def factory(spec, random_state):
        return MissForestImputer(
            covariates=spec, n_estimators=n_estimators, random_state=random_state
        )

    factory.__name__ = f"missforest{n_estimators}"
    return factory


def _tissue_median(spec, random_state):
    # groups by the first categorical covariate: the tissue (B/T subtype for
    # the leukemia microarrays, which have no tissue)
    return TissueMedianImputer(covariates=spec, group=_first_categorical(spec))


def _blood_surrogate(spec, random_state):
    return BloodSurrogateImputer(
        covariates=list(spec) + [("donor", "categorical", ["donor"])],
        tissue=_first_categorical(spec),
    )


#: the fit input of this method has a ``donor`` column (data sets with donors)
_blood_surrogate.requires_donor = True

#: name -> factory(covariate_spec, random_state) returning an unfitted imputer
METHODS = {
    "PMI": _pmi,
    "GAIN": _gain,
    "GAIN-MSE": _gain_mse,
    "KNN-1": _knn(1),
    "KNN-5": _knn(5),
    "KNN-10": _knn(10),
    "KNN (tuned)": _knn_tuned,
    # MICE as a competent user configures it: each gene regressed on its 100
    # nearest (most correlated) features, or on all of them when there are fewer
    "MICE": _mice(100),
    "MICE (all features)": _mice(None),
    "SoftImpute": _softimpute,
    "MissForest-10": _missforest(10),
    "MissForest-100": _missforest(100),
    "Tissue median": _tissue_median,
    "Blood surrogate": _blood_surrogate,
}

#: methods at least as slow as another one: if the cheaper one ran over budget
#: on a data set and scenario, the dearer one is recorded over budget too
#: without being run (status "timeout", message says so)
SLOWER_THAN = {"MissForest-100": "MissForest-10", "MICE (all features)": "MICE"}

#: the methods that ``--slow-repeats`` applies to
SLOW_METHODS = {"MICE", "MissForest-10", "MissForest-100"}

#: fast settings for tests and smoke runs (``--fast``); the deep imputers' are
#: the package's own (``skimpute_gtex.cli.FAST_PARAMS``, the demo's ``--fast``)
#: the deep imputers of the registry (their options: --device, --precision)
DEEP_METHODS = ("PMI", "GAIN", "GAIN-MSE")

FAST_PARAMS = {
    "PMI": dict(DEEP_FAST_PARAMS),
    "GAIN": dict(DEEP_FAST_PARAMS),
    "GAIN-MSE": dict(DEEP_FAST_PARAMS),
    "MICE": dict(estimator__max_iter=2),
    "MICE (all features)": dict(estimator__max_iter=2),
    "SoftImpute": dict(max_iter=5, n_shrinkages=3),
    "MissForest-10": dict(max_iter=2),
    "MissForest-100": dict(n_estimators=20, max_iter=2),
}


def requires_donor(factory):
    """Whether the method needs the donor ids as a column of its input."""
    return getattr(factory, "requires_donor", False)


def build(name, factory, spec, seed, params=None, device=None):
    """The unfitted imputer of one run: ``factory``, overrides, device."""
    est = factory(spec, seed)
    overrides = dict((params or {}).get(name, {}))
    if device is not None and "device" in est.get_params(deep=False):
        overrides.setdefault("device", device)
    if overrides:
        est.set_params(**overrides)
    return est


def resolve(methods=None):
    """``{name: factory}`` from None (all), a list of names, or a dict."""
    if methods is None:
        return dict(METHODS)
    if isinstance(methods, dict):
        return dict(methods)
    return {m: METHODS[m] for m in methods}

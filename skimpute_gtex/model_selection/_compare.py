"""Compare imputers on the user's own data: hide entries, impute, score."""

import time
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._covariates import resolve_spec
from ..datasets import simulate_missing
from ..metrics import masked_r2_score
from ..utils._compat import Interval, validate_params


def _named(imputers):
    """``{name: imputer}`` from a dict, or a list named by class."""
    if isinstance(imputers, dict):
        named = dict(imputers)
    else:
        named = {}
        for imputer in imputers:
            name = type(imputer).__name__
            if name in named:
                raise ValueError(
                    f"Two imputers are named {name!r}: pass a dict of "
                    "{name: imputer} to tell them apart."
                )
            named[name] = imputer
    if not named:
        raise ValueError("imputers is empty: give at least one imputer.")
    return named


def _gene_positions(X, covariates):
    """Positions of the columns of X that are genes (not covariates)."""
    n_features = X.shape[1]
    taken = {i for _, _, idx in resolve_spec(X, covariates, n_features) for i in idx}
    genes = np.array([j for j in range(n_features) if j not in taken], dtype=np.intp)
    if not genes.size:
        raise ValueError("Every column of X is a covariate: there is no gene to hide.")
    return genes


def _with_hidden(X, genes, hidden):
    """X with its gene columns replaced by ``hidden`` (float64, NaN where hidden)."""
    if not hasattr(X, "iloc"):
        X = np.array(X, dtype=object if X.dtype == object else np.float64)
        X[:, genes] = hidden
        return X
    others = np.setdiff1d(np.arange(X.shape[1]), genes)
    masked = pd.DataFrame(hidden, index=X.index, columns=X.columns[genes])
    # one frame for all genes (fast with ~20k of them), covariates back in place
    both = pd.concat([masked, X.iloc[:, others]], axis=1)
    return both.iloc[:, np.argsort(np.concatenate([genes, others]))]


def _imputed_genes(imputer, out, genes, n_features):
    """The gene columns of an imputer's output.

    An imputer of this package (with ``gene_indices_``) returns the genes
    first; any other imputer must return every column of X, in order.
    """
    out = np.asarray(out.toarray() if hasattr(out, "toarray") else out)
    name = type(imputer).__name__
    gene_indices = getattr(imputer, "gene_indices_", None)
    if gene_indices is not None:
        if not np.array_equal(gene_indices, genes):
            raise ValueError(
                f"{name} imputes the columns {list(gene_indices)} of X, but the "
                f"genes (the columns that are not covariates) are {list(genes)}: "
                "give compare_imputers the covariates the imputer uses."
            )
        return out[:, : len(genes)].astype(np.float64)
    if out.shape[1] != n_features:
        raise ValueError(
            f"{name} returned {out.shape[1]} columns for an input with "
            f"{n_features}, so its imputed genes cannot be found; for "
            "scikit-learn imputers, set keep_empty_features=True."
        )
    return out[:, genes].astype(np.float64)


@validate_params(
    {
        "imputers": [dict, list, tuple],
        "X": ["array-like"],
        "covariates": [list, None],
        "missing_rate": [Interval(Real, 0, 1, closed="neither")],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def compare_imputers(
    imputers, X, *, covariates=None, missing_rate=0.5, n_repeats=3, random_state=None
):
    """Compare imputers on X: hide observed entries, impute them, score them.

    For each repeat, a fraction ``missing_rate`` of the observed entries of
    the gene columns of ``X`` is hidden completely at random
    (:func:`~skimpute_gtex.datasets.simulate_missing`); each imputer (a clone
    of it) is fitted on the masked ``X`` and imputes it in place
    (``fit_transform``); the hidden entries are scored with
    :func:`~skimpute_gtex.metrics.masked_r2_score`, the per-gene R² averaged
    over genes. Every imputer sees the same masks. Covariate columns are never
    hidden, and entries already missing in ``X`` are neither hidden nor scored.

    Parameters
    ----------
    imputers : dict of str to estimator, or list of estimators
        The imputers, unfitted. A list names them by class.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Genes and covariate columns, as the imputers take them.
    covariates : list of tuple, default=None
        The covariate columns of ``X``, in the form of the imputers'
        ``covariates=`` parameter (``[(name, kind, columns)]``); they are
        never hidden. Every other column is a gene. ``None``: every column is
        a gene.
    missing_rate : float, default=0.5
        Fraction of the observed gene entries hidden in each repeat, in (0, 1).
    n_repeats : int, default=3
        Number of masks.
    random_state : int, RandomState instance or None, default=None
        Draws the masks: one generator for all repeats, so an int gives the
        same masks on every call (the first repeat's is
        ``simulate_missing(X_genes, missing_rate, random_state=random_state)``).
        The imputers' own ``random_state`` is theirs to set.

    Returns
    -------
    results : DataFrame of shape (n_imputers, 4 + n_repeats)
        One row per imputer (index: its name): ``mean_r2`` and ``std_r2``
        (sample standard deviation over repeats, NaN with one repeat),
        ``mean_time`` and ``std_time`` (seconds of ``fit_transform``), and
        ``repeat0_r2``, ``repeat1_r2``, ... the score of each repeat.

    See Also
    --------
    skimpute_gtex.metrics.make_imputation_scorer : score held-out data in a
        grid search.

    Examples
    --------
    >>> from sklearn.impute import SimpleImputer
    >>> from skimpute_gtex.baselines import TissueMedianImputer
    >>> from skimpute_gtex.datasets import make_gtex_like
    >>> from skimpute_gtex.model_selection import compare_imputers
    >>> data = make_gtex_like(n_samples=100, n_genes=20, n_tissues=3,
    ...                       random_state=0)
    >>> X = data.frame[list(data.expression.columns) + ["tissue"]]
    >>> spec = [("tissue", "categorical", ["tissue"])]
    >>> results = compare_imputers(
    ...     {"median": TissueMedianImputer(covariates=spec)}, X,
    ...     covariates=spec, n_repeats=2, random_state=0)
    >>> list(results.columns)
    ['mean_r2', 'std_r2', 'mean_time', 'std_time', 'repeat0_r2', 'repeat1_r2']
    >>> bool(results.loc["median", "mean_r2"] > 0)
    True
    """
    named = _named(imputers)
    if not hasattr(X, "iloc"):
        X = np.asarray(X)
    if np.ndim(X) != 2:
        raise ValueError(f"X must be 2D; got shape {np.shape(X)}.")
    genes = _gene_positions(X, covariates)
    try:
        values = (X.iloc[:, genes].to_numpy(dtype=np.float64) if hasattr(X, "iloc")
                  else np.asarray(X[:, genes], dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The gene columns of X must be numeric ({exc}): name the covariate "
            "columns in covariates."
        ) from None
    rng = check_random_state(random_state)
    scores = {name: [] for name in named}
    times = {name: [] for name in named}
    for _ in range(n_repeats):
        hidden, mask = simulate_missing(values, missing_rate, random_state=rng)
        X_masked = _with_hidden(X, genes, hidden)
        for name, imputer in named.items():
            est = clone(imputer)
            start = time.perf_counter()
            out = est.fit_transform(X_masked)
            times[name].append(time.perf_counter() - start)
            imputed = _imputed_genes(est, out, genes, X.shape[1])
            scores[name].append(masked_r2_score(values, imputed, mask))
    return _table(scores, times, n_repeats)


def _table(scores, times, n_repeats):
    def sd(v):
        return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")

    rows = {
        name: {
            "mean_r2": float(np.mean(scores[name])),
            "std_r2": sd(scores[name]),
            "mean_time": float(np.mean(times[name])),
            "std_time": sd(times[name]),
            **{f"repeat{r}_r2": scores[name][r] for r in range(n_repeats)},
        }
        for name in scores
    }
    return pd.DataFrame.from_dict(rows, orient="index")

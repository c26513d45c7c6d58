"""A scorer that lets GridSearchCV and cross_val_score tune imputers."""

from numbers import Real

import numpy as np
from sklearn.pipeline import Pipeline

from ..datasets import simulate_missing
from ..utils._compat import Interval, StrOptions, validate_params
from ._regression import (
    masked_mean_absolute_error,
    masked_mean_squared_error,
    masked_pearson_r,
    masked_r2_score,
    masked_root_mean_squared_error,
)

# metric name -> (metric function, sign that makes "greater is better")
_METRICS = {
    "r2": (masked_r2_score, 1.0),
    "pearson": (masked_pearson_r, 1.0),
    "neg_rmse": (masked_root_mean_squared_error, -1.0),
    "neg_mse": (masked_mean_squared_error, -1.0),
    "neg_mae": (masked_mean_absolute_error, -1.0),
}


def _is_dataframe(X):
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _imputer_of(estimator):
    """The step that imputes: the estimator itself, or a Pipeline's first step."""
    imputer = estimator
    while isinstance(imputer, Pipeline):
        imputer = imputer[0]
    if not hasattr(imputer, "transform"):
        raise TypeError(
            "make_imputation_scorer needs an imputer with a transform method "
            f"(or a Pipeline whose first step is one); got {imputer!r}."
        )
    return imputer


def _hide_gene_entries(X, gene_indices, missing_rate, random_state):
    """Hide entries of the gene columns of X; return (X_masked, X_genes, mask).

    ``X`` is a DataFrame or a 2D ndarray. ``X_genes`` holds the original gene
    values as float and ``mask`` marks the hidden entries, both of shape
    (n_samples, len(gene_indices)). ``X_masked`` is a copy of ``X`` of the same
    type where only the hidden gene entries are NaN: a DataFrame keeps its
    column names and the dtypes of its non-gene columns (a non-float gene
    column becomes float64).
    """
    if _is_dataframe(X):
        X_genes = X.iloc[:, gene_indices].to_numpy(dtype=np.float64)
    else:
        X_genes = X[:, gene_indices].astype(np.float64)
    X_genes_missing, mask = simulate_missing(
        X_genes, missing_rate, mechanism="MCAR", random_state=random_state
    )
    if _is_dataframe(X):
        X_masked = X.copy()
        gene_dtypes = X.dtypes.iloc[gene_indices]
        for k, (pos, dtype) in enumerate(zip(gene_indices, gene_dtypes)):
            if dtype.kind != "f":
                # an int (or object) gene column cannot hold NaN: replace it by
                # its float version first (isetitem swaps the whole column)
                X_masked.isetitem(int(pos), X_genes[:, k])
        # one assignment for all genes: fast even with ~20k gene columns
        X_masked.iloc[:, gene_indices] = X_genes_missing
    else:
        if X.dtype.kind == "f" or X.dtype == object:
            X_masked = X.copy()
        else:
            X_masked = X.astype(np.float64)
        X_masked[:, gene_indices] = X_genes_missing
    return X_masked, X_genes, mask


class _ImputationScorer:
    """Callable ``scorer(estimator, X, y=None)``; built by make_imputation_scorer.

    A plain class (not a closure) so that it pickles, which ``n_jobs > 1`` in
    GridSearchCV and cross_val_score needs.
    """

    def __init__(self, metric, missing_rate, random_state):
        self.metric = metric
        self.missing_rate = missing_rate
        self.random_state = random_state

    def __repr__(self):
        return (
            f"make_imputation_scorer(metric={self.metric!r}, "
            f"missing_rate={self.missing_rate!r}, "
            f"random_state={self.random_state!r})"
        )

    def __call__(self, estimator, X, y=None):
        """Hide entries of X, impute them with ``estimator`` and score them.

        Parameters
        ----------
        estimator : fitted imputer or Pipeline
            The imputer, or a Pipeline whose first step is the imputer.
        X : array-like or DataFrame of shape (n_samples, n_features)
            Held-out data, in the format the imputer was fitted on.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Greater is better (error metrics are negated). NaN if undefined.
        """
        imputer = _imputer_of(estimator)
        if not _is_dataframe(X):
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(
                    "X must be a 2D array-like or DataFrame; got an array of "
                    f"shape {X.shape}."
                )
        n_features = X.shape[1]
        gene_indices = getattr(imputer, "gene_indices_", None)
        has_gene_indices = gene_indices is not None
        if has_gene_indices:
            gene_indices = np.asarray(gene_indices, dtype=np.intp)
        else:
            gene_indices = np.arange(n_features)
        n_genes = gene_indices.shape[0]

        X_masked, X_genes, mask = _hide_gene_entries(
            X, gene_indices, self.missing_rate, self.random_state
        )
        X_out = imputer.transform(X_masked)
        X_out = np.asarray(X_out.toarray() if hasattr(X_out, "toarray") else X_out)

        name = type(imputer).__name__
        if X_out.ndim != 2 or X_out.shape[0] != X_genes.shape[0]:
            raise ValueError(
                f"{name}.transform returned an array of shape {X_out.shape} for "
                f"an input with {X_genes.shape[0]} rows; the imputation scorer "
                "needs one output row per input row."
            )
        if has_gene_indices and X_out.shape[1] < n_genes:
            raise ValueError(
                f"{name}.transform returned {X_out.shape[1]} columns, fewer than "
                f"the {n_genes} genes listed in its gene_indices_."
            )
        if not has_gene_indices and X_out.shape[1] != n_features:
            raise ValueError(
                f"{name}.transform returned {X_out.shape[1]} columns for an input "
                f"with {n_features}, so the scorer cannot match imputed columns to "
                "true ones. Without a gene_indices_ attribute the output must keep "
                "every input column in order; for scikit-learn imputers, set "
                "keep_empty_features=True."
            )
        metric_func, sign = _METRICS[self.metric]
        score = metric_func(X_genes, X_out[:, :n_genes], mask)
        return sign * score


@validate_params(
    {
        "metric": [StrOptions(set(_METRICS))],
        "missing_rate": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_imputation_scorer(metric="r2", *, missing_rate=0.5, random_state=0):
    """Make a scorer that rates an imputer on entries it hides itself.

    The returned ``scorer(estimator, X, y=None)`` can be passed as
    ``scoring=`` to :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score` and friends. On each call
    it:

    1. finds the imputer: ``estimator`` itself, or, for a
       :class:`~sklearn.pipeline.Pipeline`, its first step (so a search over a
       ``Pipeline([("impute", imputer), ...])`` tunes the imputer);
    2. hides a random fraction ``missing_rate`` of the *observed* entries of
       the gene columns of ``X`` (missing completely at random, with
       :func:`~skimpute_gtex.datasets.simulate_missing` seeded by
       ``random_state``);
    3. calls the imputer's ``transform`` on the masked ``X``;
    4. scores the imputed values of the hidden entries only with ``metric``.

    Gene columns: if the fitted imputer has a ``gene_indices_`` attribute (the
    positions in ``X`` of the gene columns, in the order of the first
    ``len(gene_indices_)`` output columns), only those columns of ``X`` are
    masked, so covariate columns such as ``"tissue"`` are never hidden, and
    they are compared with the first ``len(gene_indices_)`` output columns.
    Otherwise, as for scikit-learn's imputers, every column of ``X`` is a gene
    and the output must have the same columns as ``X`` (a ``ValueError`` is
    raised if its width differs; use ``keep_empty_features=True``).

    ``X`` may be an array or a DataFrame; a DataFrame keeps its column names
    and the dtypes of its non-gene columns when masked. Entries already missing
    in ``X`` are never hidden nor scored.

    Parameters
    ----------
    metric : {"r2", "pearson", "neg_rmse", "neg_mse", "neg_mae"}, default="r2"
        ``"r2"``: :func:`masked_r2_score`; ``"pearson"``:
        :func:`masked_pearson_r`; ``"neg_rmse"``, ``"neg_mse"``,
        ``"neg_mae"``: the *negative* of
        :func:`masked_root_mean_squared_error`,
        :func:`masked_mean_squared_error` and
        :func:`masked_mean_absolute_error`. As with scikit-learn's ``neg_*``
        scorers, greater is always better.
    missing_rate : float, default=0.5
        Fraction of the observed gene entries to hide, in (0, 1).
    random_state : int, RandomState instance or None, default=0
        Seeds the mask. With an int, every call on the same ``X`` hides the
        same entries, so every candidate of a grid search is scored on the
        same mask. ``None`` or a ``RandomState`` instance give a different
        mask on each call.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``; ``y`` is ignored. It is
        picklable, so it works with ``n_jobs > 1``. The score is NaN (with an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`) when the metric is
        undefined on every gene, for example ``"pearson"`` with a constant
        (mean) imputation.

    See Also
    --------
    masked_r2_score : the default metric.
    skimpute_gtex.datasets.simulate_missing : how the entries are hidden.

    Examples
    --------
    >>> from sklearn.impute import KNNImputer
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skimpute_gtex.datasets import make_gtex_like
    >>> from skimpute_gtex.metrics import make_imputation_scorer
    >>> X = make_gtex_like(n_samples=200, n_genes=10, random_state=0).expression
    >>> scorer = make_imputation_scorer("r2", missing_rate=0.2)
    >>> scorer
    make_imputation_scorer(metric='r2', missing_rate=0.2, random_state=0)
    >>> search = GridSearchCV(KNNImputer(), {"n_neighbors": [1, 10]}, scoring=scorer)
    >>> search.fit(X).best_params_
    {'n_neighbors': 10}
    >>> scorer(search.best_estimator_, X) > 0.5
    True
    """
    return _ImputationScorer(metric, missing_rate, random_state)

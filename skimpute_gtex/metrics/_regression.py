"""Regression metrics computed on the masked (hidden, then imputed) entries only.

Every metric takes ``X_true``, ``X_imputed`` and a boolean ``mask`` of the same
shape ``(n_samples, n_genes)``; only the entries where ``mask`` is True are
scored, everything else (including NaN in ``X_true``) is ignored.
"""

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils import check_array

from ..utils._compat import StrOptions, validate_params
from ..utils._docstrings import fill_doc

_COMMON_CONSTRAINTS = {
    "X_true": ["array-like"],
    "X_imputed": ["array-like"],
    "mask": ["array-like"],
    "groups": ["array-like", None],
    "multioutput": [StrOptions({"raw_values", "uniform_average"})],
}


def _check_inputs(X_true, X_imputed, mask):
    """Validate the three arrays; return float arrays with unmasked entries zeroed.

    Returns ``(y_true, y_pred, mask)``: float64 arrays of the same 2D shape and
    a boolean mask. Entries outside the mask are set to 0 in ``y_true`` and
    ``y_pred`` so that they can never propagate NaN or inf into the sums.
    """
    mask_arr = check_array(
        mask, dtype=None, ensure_all_finite=False, ensure_min_samples=0,
        ensure_min_features=0, input_name="mask",
    )
    if mask_arr.dtype != np.bool_:
        raise TypeError(
            "mask must be a boolean array (True = hidden entry that is scored); "
            f"got dtype {mask_arr.dtype}. Convert it with mask.astype(bool) if it "
            "holds 0/1 values."
        )
    y_true = check_array(
        X_true, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=0,
        ensure_min_features=0, input_name="X_true",
    )
    y_pred = check_array(
        X_imputed, dtype=np.float64, ensure_all_finite=False, ensure_min_samples=0,
        ensure_min_features=0, input_name="X_imputed",
    )
    if not (y_true.shape == y_pred.shape == mask_arr.shape):
        raise ValueError(
            "X_true, X_imputed and mask must have the same shape; got "
            f"X_true {y_true.shape}, X_imputed {y_pred.shape} and mask "
            f"{mask_arr.shape}."
        )
    for name, arr in (("X_true", y_true), ("X_imputed", y_pred)):
        if not np.isfinite(arr[mask_arr]).all():
            raise ValueError(
                f"{name} has NaN or infinite values at masked entries; every "
                "entry where mask is True must be finite in both X_true and "
                "X_imputed."
            )
    y_true = np.where(mask_arr, y_true, 0.0)
    y_pred = np.where(mask_arr, y_pred, 0.0)
    return y_true, y_pred, mask_arr


def _centered(y, mask, n):
    """Per-column values minus the column mean over the masked entries (0 elsewhere)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = y.sum(axis=0) / n
    return np.where(mask, y - np.where(n > 0, mean, 0.0), 0.0)


def _varies(y, mask):
    """Per column: do the masked entries take at least two distinct values?

    Tested exactly (max > min) rather than by the variance, which rounding can
    make tiny but non-zero for a constant column.
    """
    return np.where(mask, y, -np.inf).max(axis=0, initial=-np.inf) > np.where(
        mask, y, np.inf
    ).min(axis=0, initial=np.inf)


def _r2_per_gene(y_true, y_pred, mask):
    n = mask.sum(axis=0)
    ss_res = ((y_true - y_pred) ** 2).sum(axis=0)
    ss_tot = (_centered(y_true, mask, n) ** 2).sum(axis=0)
    defined = (n >= 2) & _varies(y_true, mask) & (ss_tot > 0)
    out = np.full(y_true.shape[1], np.nan)
    with np.errstate(over="ignore"):  # a huge ratio is -inf, not an error
        out[defined] = 1.0 - ss_res[defined] / ss_tot[defined]
    return out


def _pearson_per_gene(y_true, y_pred, mask):
    n = mask.sum(axis=0)
    dt = _centered(y_true, mask, n)
    dp = _centered(y_pred, mask, n)
    ss_t = (dt**2).sum(axis=0)
    ss_p = (dp**2).sum(axis=0)
    denom = np.sqrt(ss_t) * np.sqrt(ss_p)
    defined = (n >= 2) & _varies(y_true, mask) & _varies(y_pred, mask)
    defined &= (ss_t > 0) & (ss_p > 0) & (denom > 0)
    out = np.full(y_true.shape[1], np.nan)
    out[defined] = (dt * dp).sum(axis=0)[defined] / denom[defined]
    return np.clip(out, -1.0, 1.0)


def _errors_per_gene(errors, mask):
    """Mean of ``errors`` (zero outside the mask) over the masked entries per gene."""
    n = mask.sum(axis=0)
    out = np.full(errors.shape[1], np.nan)
    out[n > 0] = errors.sum(axis=0)[n > 0] / n[n > 0]
    return out


def _warn_undefined(metric_name, reason, group_label):
    where = "" if group_label is None else f" in group {group_label!r}"
    warnings.warn(
        f"{metric_name} is undefined{where}: {reason}. Returning NaN.",
        UndefinedMetricWarning,
        stacklevel=7,  # the caller of the public metric
    )


def _average_defined(per_gene, multioutput, metric_name, group_label, reason):
    """Mean over the genes where the per-gene score is defined (not NaN)."""
    if multioutput == "raw_values":
        return per_gene
    defined = ~np.isnan(per_gene)
    if not defined.any():
        _warn_undefined(metric_name, reason, group_label)
        return float("nan")
    return float(per_gene[defined].mean())


def _mean_error(errors, mask, multioutput, metric_name, group_label, post=None):
    """Pooled mean of ``errors`` over all masked entries, or per gene."""
    post = (lambda v: v) if post is None else post
    if multioutput == "raw_values":
        return post(_errors_per_gene(errors, mask))
    n_masked = mask.sum()
    if n_masked == 0:
        _warn_undefined(metric_name, "mask has no True entry", group_label)
        return float("nan")
    return float(post(errors.sum() / n_masked))


def _dispatch(score_func, X_true, X_imputed, mask, groups):
    """Validate, then call ``score_func(y_true, y_pred, mask, group_label)``.

    Without groups, return its result; with groups, return a dict mapping each
    distinct group (in sorted order) to the result on that group's rows.
    """
    y_true, y_pred, mask = _check_inputs(X_true, X_imputed, mask)
    if groups is None:
        return score_func(y_true, y_pred, mask, None)
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != y_true.shape[0]:
        raise ValueError(
            "groups must be a 1D array-like with one label per sample (row); "
            f"got shape {groups.shape} for {y_true.shape[0]} samples."
        )
    result = {}
    for label in np.unique(groups):
        rows = groups == label
        key = label.item() if isinstance(label, np.generic) else label
        result[key] = score_func(y_true[rows], y_pred[rows], mask[rows], key)
    return result


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
@fill_doc
def masked_r2_score(
    X_true, X_imputed, mask, *, groups=None, multioutput="uniform_average"
):
    """Per-gene coefficient of determination R² on the masked entries.

    The headline metric of Viñas et al. (2021). For each gene (column) ``j``
    with masked rows ``M_j``::

        R²_j = 1 - sum_{i in M_j} (y_ij - ŷ_ij)² / sum_{i in M_j} (y_ij - ȳ_j)²

    where ``ȳ_j`` is the mean of the *true* values of the masked entries of
    gene ``j``. A perfect imputation scores 1; imputing every masked entry of a
    gene by the mean of its hidden true values scores 0; worse imputations are
    negative.

    Parameters
    ----------
    {X_true}
    {X_imputed}
    {mask}
    groups : array-like of shape (n_samples,), default=None
        Optional sample labels (for example tissues). If given, the score is
        computed separately on the rows of each group.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
        ``"uniform_average"``: mean of the per-gene R² over the genes where it
        is defined. ``"raw_values"``: the per-gene R² (NaN where undefined).

    Returns
    -------
    score : float, ndarray of shape (n_genes,) or dict
        A float for ``"uniform_average"``, an array for ``"raw_values"``; with
        ``groups``, a dict mapping each group label (sorted) to that result.

    See Also
    --------
    masked_pearson_r : per-gene correlation on the masked entries.
    make_imputation_scorer : use this metric in a grid search.

    Notes
    -----
    The per-gene R² is undefined (NaN) for a gene with fewer than 2 masked
    entries, or whose masked true values all equal each other (zero variance).
    Undefined genes are left out of the average. If no gene is defined, the
    average is NaN and an :class:`~sklearn.exceptions.UndefinedMetricWarning`
    is raised.

    Only the entries where ``mask`` is True are scored; the values of
    ``X_true`` and ``X_imputed`` elsewhere are ignored (they may be NaN).
    Masked entries must be finite in both arrays.

    References
    ----------
    .. [1] R. Viñas, T. Azevedo, E. R. Gamazon and P. Liò, "Deep learning
       enables fast and accurate imputation of gene expression", Frontiers in
       Genetics 12, 624128 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.metrics import masked_r2_score
    >>> X_true = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    >>> X_imputed = np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0]])
    >>> mask = np.array([[True, False], [True, False], [True, False]])
    >>> masked_r2_score(X_true, X_imputed, mask)
    0.5
    >>> masked_r2_score(X_true, X_imputed, mask, multioutput="raw_values")
    array([0.5, nan])
    >>> tissue = ["Lung", "Lung", "Liver", "Liver"]
    >>> masked_r2_score([[1.0], [3.0], [0.0], [4.0]], [[1.0], [3.0], [1.0], [3.0]],
    ...                 [[True], [True], [True], [True]], groups=tissue)
    {'Liver': 0.75, 'Lung': 1.0}
    """

    def score(y_true, y_pred, m, label):
        per_gene = _r2_per_gene(y_true, y_pred, m)
        return _average_defined(
            per_gene,
            multioutput,
            "masked_r2_score",
            label,
            "no gene has at least 2 masked entries whose true values vary",
        )

    return _dispatch(score, X_true, X_imputed, mask, groups)


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
@fill_doc
def masked_pearson_r(
    X_true, X_imputed, mask, *, groups=None, multioutput="uniform_average"
):
    """Per-gene Pearson correlation between true and imputed masked entries.

    For each gene (column) ``j``, the Pearson correlation coefficient between
    the true and the imputed values of its masked entries, both centred on
    their own mean over those entries.

    Parameters
    ----------
    {X_true}
    {X_imputed}
    {mask}
    groups : array-like of shape (n_samples,), default=None
        Optional sample labels (for example tissues). If given, the score is
        computed separately on the rows of each group.
    multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
        ``"uniform_average"``: mean of the per-gene correlations over the genes
        where it is defined. ``"raw_values"``: the per-gene correlations (NaN
        where undefined).

    Returns
    -------
    r : float, ndarray of shape (n_genes,) or dict
        In [-1, 1]. A float for ``"uniform_average"``, an array for
        ``"raw_values"``; with ``groups``, a dict mapping each group label
        (sorted) to that result.

    See Also
    --------
    masked_r2_score : per-gene R² on the masked entries.

    Notes
    -----
    The per-gene correlation is undefined (NaN) for a gene with fewer than 2
    masked entries, or whose masked true values or masked imputed values are
    all equal (zero variance). In particular, an imputer that fills a gene with
    a constant (such as the column mean) has an undefined correlation for that
    gene. Undefined genes are left out of the average. If no gene is defined,
    the average is NaN and an
    :class:`~sklearn.exceptions.UndefinedMetricWarning` is raised.

    Only the entries where ``mask`` is True are scored; the values of
    ``X_true`` and ``X_imputed`` elsewhere are ignored (they may be NaN).
    Masked entries must be finite in both arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.metrics import masked_pearson_r
    >>> X_true = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    >>> X_imputed = np.array([[2.0, 3.0], [4.0, 2.0], [6.0, 1.0]])
    >>> mask = np.ones((3, 2), dtype=bool)
    >>> masked_pearson_r(X_true, X_imputed, mask, multioutput="raw_values")
    array([ 1., -1.])
    >>> masked_pearson_r(X_true, X_imputed, mask)
    0.0
    """

    def score(y_true, y_pred, m, label):
        per_gene = _pearson_per_gene(y_true, y_pred, m)
        return _average_defined(
            per_gene,
            multioutput,
            "masked_pearson_r",
            label,
            "no gene has at least 2 masked entries whose true values vary and "
            "whose imputed values vary",
        )

    return _dispatch(score, X_true, X_imputed, mask, groups)


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
@fill_doc
def masked_mean_squared_error(
    X_true, X_imputed, mask, *, groups=None, multioutput="uniform_average"
):
    """Mean squared error over the masked entries.

    Parameters
    ----------
    {X_true}
    {X_imputed}
    {mask}
    {groups}
    {error_multioutput}

    Returns
    -------
    mse : float, ndarray of shape (n_genes,) or dict
        Non-negative. A float for ``"uniform_average"``, an array for
        ``"raw_values"``; with ``groups``, a dict mapping each group label
        (sorted) to that result.

    See Also
    --------
    masked_root_mean_squared_error : its square root.

    {error_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.metrics import masked_mean_squared_error
    >>> X_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> X_imputed = np.array([[1.0, 4.0], [0.0, 4.0]])
    >>> mask = np.array([[True, True], [True, False]])
    >>> masked_mean_squared_error(X_true, X_imputed, mask)
    4.333...
    >>> masked_mean_squared_error(X_true, X_imputed, mask, multioutput="raw_values")
    array([4.5, 4. ])
    """

    def score(y_true, y_pred, m, label):
        return _mean_error(
            (y_true - y_pred) ** 2, m, multioutput, "masked_mean_squared_error", label
        )

    return _dispatch(score, X_true, X_imputed, mask, groups)


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
@fill_doc
def masked_root_mean_squared_error(
    X_true, X_imputed, mask, *, groups=None, multioutput="uniform_average"
):
    """Root mean squared error over the masked entries.

    The square root of :func:`masked_mean_squared_error`: pooled over all
    masked entries, or per gene with ``multioutput="raw_values"``.

    Parameters
    ----------
    {X_true}
    {X_imputed}
    {mask}
    {groups}
    {error_multioutput}

    Returns
    -------
    rmse : float, ndarray of shape (n_genes,) or dict
        Non-negative. A float for ``"uniform_average"``, an array for
        ``"raw_values"``; with ``groups``, a dict mapping each group label
        (sorted) to that result.

    See Also
    --------
    masked_mean_squared_error : its square.

    {error_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.metrics import masked_root_mean_squared_error
    >>> X_true = np.array([[0.0, 0.0], [0.0, 0.0]])
    >>> X_imputed = np.array([[3.0, 0.0], [4.0, 9.0]])
    >>> mask = np.array([[True, False], [True, False]])
    >>> masked_root_mean_squared_error(X_true, X_imputed, mask)
    3.535...
    >>> masked_root_mean_squared_error(
    ...     X_true, X_imputed, mask, multioutput="raw_values")
    array([3.535...,      nan])
    """

    def score(y_true, y_pred, m, label):
        return _mean_error((y_true - y_pred) ** 2, m, multioutput,
                           "masked_root_mean_squared_error", label, post=np.sqrt)

    return _dispatch(score, X_true, X_imputed, mask, groups)


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
@fill_doc
def masked_mean_absolute_error(
    X_true, X_imputed, mask, *, groups=None, multioutput="uniform_average"
):
    """Mean absolute error over the masked entries.

    Parameters
    ----------
    {X_true}
    {X_imputed}
    {mask}
    {groups}
    {error_multioutput}

    Returns
    -------
    mae : float, ndarray of shape (n_genes,) or dict
        Non-negative. A float for ``"uniform_average"``, an array for
        ``"raw_values"``; with ``groups``, a dict mapping each group label
        (sorted) to that result.

    See Also
    --------
    masked_mean_squared_error : the squared-error analogue.

    {error_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.metrics import masked_mean_absolute_error
    >>> X_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> X_imputed = np.array([[2.0, 4.0], [0.0, 100.0]])
    >>> mask = np.array([[True, True], [True, False]])
    >>> masked_mean_absolute_error(X_true, X_imputed, mask)
    2.0
    >>> masked_mean_absolute_error(X_true, X_imputed, mask, groups=[0, 1])
    {0: 1.5, 1: 3.0}
    """

    def score(y_true, y_pred, m, label):
        return _mean_error(
            np.abs(y_true - y_pred), m, multioutput, "masked_mean_absolute_error", label
        )

    return _dispatch(score, X_true, X_imputed, mask, groups)



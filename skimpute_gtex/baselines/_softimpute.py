"""SoftImputeImputer: nuclear-norm (low-rank) matrix completion."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import _BaseImputer
from ..utils._compat import Interval, StrOptions, _fit_context
from ..utils._docstrings import fill_doc
from ..utils._linalg import singular
from ._common import one_hot

_ROW_BLOCK = 256  # rows per block in transform: bounded memory

_RIDGE = 1.0  # ridge of the per-gene covariate regression (standardized units)
# shrinkage="auto" searches penalties log-spaced between these fractions of
# the largest singular value
_LARGEST_SHRINKAGE, _SMALLEST_SHRINKAGE = 0.9, 0.005


def _missing_grams(miss, w):
    """``W_m.T @ W_m`` for each row's missing genes (``miss`` 0/1): one
    matrix product per row, on the rows of w it misses."""
    k = w.shape[1]
    out = np.empty((len(miss), k, k))
    for i, row in enumerate(miss.astype(bool)):
        wm = w[row]
        out[i] = wm.T @ wm
    return out


def _svt(filled, lam):
    """Singular value soft-thresholding: ``(U, d - lam, d, Vt)`` of the
    singular values ``d > lam`` (through :func:`~..utils._linalg.singular`)."""
    d, vt = singular(filled)
    keep = d > lam
    d, vt = d[keep], vt[keep]
    return (filled @ vt.T) / d, d - lam, d, vt


def soft_impute(values, mask, lam, *, start=None, max_iter=100, tol=1e-4):
    """Mazumder, Hastie & Tibshirani's soft-impute for one penalty ``lam``.

    Iterates ``Z <- SVT_lam(P_obs(values) + P_miss(Z))`` from ``start`` (zeros
    by default) until the relative change is below ``tol``. Returns ``(Z,
    Vt, shrink, n_iter)`` where ``shrink = (d - lam) / d`` for the kept
    singular vectors ``Vt`` of the last filled matrix.
    """
    z = np.zeros_like(values) if start is None else start
    observed = np.where(mask, values, 0.0)
    vt = np.zeros((0, values.shape[1]))
    shrink = np.zeros(0)
    for it in range(1, max_iter + 1):
        filled = np.where(mask, observed, z)
        u, d_shrunk, d, vt = _svt(filled, lam)
        z_new = (u * d_shrunk) @ vt
        change = np.sum((z_new - z) ** 2) / max(np.sum(z**2), 1e-12)
        z = z_new
        shrink = d_shrunk / d
        if change < tol:
            break
    return z, vt, shrink, it


@fill_doc
class SoftImputeImputer(_BaseImputer):
    """Low-rank imputation by nuclear-norm regularised matrix completion.

    Each gene is standardized with its observed entries; per-gene effects of
    the covariates (one-hot categories and numerical columns, a ridge
    regression on the observed entries) are removed; the residual matrix is
    completed by soft-impute [1]_, which repeatedly fills the missing entries
    with a low-rank estimate whose singular values are soft-thresholded by
    ``lam``. The penalty is chosen inside ``fit`` by hiding
    ``validation_fraction`` of the observed entries and scoring a path of
    penalties on them (warm starts, largest first), then the chosen penalty is
    refitted on every observed entry.

    ``transform`` folds new samples into the fitted low-rank model: with
    ``A = V diag(shrink) V^T`` from the last soft-thresholding, each sample's
    missing entries ``m`` solve the soft-impute fixed point ``z_m = (z A)_m``
    given its observed entries, in closed form. On the training data this is
    the fixed point soft-impute converged to, so ``fit_transform`` and
    ``fit().transform`` agree, and new samples (the inductive scenario) are
    imputed the same way.

    Parameters
    ----------
    covariates : list of (name, kind, columns) tuples, default=None
        Covariate spec, as in :class:`~skimpute_gtex.PMIImputer`.
    shrinkage : float or "auto", default="auto"
        The penalty as a fraction of the largest singular value of the
        zero-filled residual matrix. ``"auto"`` chooses it from ``n_shrinkages``
        values log-spaced between 0.9 and 0.005 on held-out observed entries.
    n_shrinkages : int, default=16
        Length of the penalty path searched when ``shrinkage="auto"``.
    validation_fraction : float, default=0.1
        Fraction of the observed entries hidden to choose the penalty.
    max_iter : int, default=100
        Maximum soft-impute iterations per penalty.
    tol : float, default=1e-4
        Relative change of the completed matrix at which iterations stop.
    covariate_output : {"drop", "passthrough"}, default="drop"
        Whether the covariate columns are appended after the genes.
    keep_empty_features : bool, default=False
        Keep genes with no observed value in fit (filled with 0).
    {missing_values}
    {add_indicator}
    {copy}
    random_state : int, RandomState instance or None, default=None
        Decides the entries hidden to choose the penalty.

    Attributes
    ----------
    shrinkage_ : float
        The chosen penalty, as a fraction of the largest singular value.
    lambda_ : float
        The penalty in standardized units.
    rank_ : int
        Rank of the fitted low-rank component.
    components_ : ndarray of shape (`rank_`, n_genes)
        Right singular vectors of the last soft-thresholding.
    shrink_ : ndarray of shape (`rank_`,)
        ``(d - lambda_) / d`` for those singular values ``d``.
    coef_ : ndarray of shape (n_design, n_genes)
        Per-gene covariate effects (intercept first), standardized units.
    validation_scores_ : list of float or None
        R² of the held-out entries along the penalty path (``"auto"`` only).
    mean_ : ndarray of shape (n_genes,)
        Per-gene mean of the observed training entries.
    scale_ : ndarray of shape (n_genes,)
        Per-gene standard deviation of the observed training entries.
    n_iter_ : int
        Soft-impute iterations of the final fit.
    n_genes_ : int
        Number of gene columns in X.
    gene_indices_ : ndarray of int
        Positions in X of the genes in the output, in output order.
    covariate_indices_ : ndarray of int
        Positions in X of the covariate columns, in spec order.
    categories_ : list of ndarray
        Categories of each categorical covariate column (with covariates).
    indicator_ : :class:`~sklearn.impute.MissingIndicator` or None
        Indicator of the missing genes, fitted on the gene columns only (its
        ``features_`` are positions among the ``n_genes_`` genes). None if
        ``add_indicator=False``.
    n_features_in_ : int
        Number of columns seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names seen in fit, when X has string column names.

    See Also
    --------
    sklearn.impute.IterativeImputer : MICE-style imputation.
    sklearn.impute.KNNImputer : k-nearest-neighbour imputation.

    References
    ----------
    .. [1] Mazumder R, Hastie T, Tibshirani R. "Spectral Regularization
       Algorithms for Learning Large Incomplete Matrices". JMLR 11 (2010).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.baselines import SoftImputeImputer
    >>> from skimpute_gtex.datasets import make_gtex_like, simulate_missing
    >>> data = make_gtex_like(n_samples=100, n_genes=20, random_state=0)
    >>> X, mask = simulate_missing(data.expression, 0.3, random_state=0)
    >>> imp = SoftImputeImputer(random_state=0).fit(X)
    >>> bool(np.isnan(imp.transform(X)).any())
    False
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "shrinkage": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "n_shrinkages": [Interval(Integral, 2, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        covariates=None,
        shrinkage="auto",
        n_shrinkages=16,
        validation_fraction=0.1,
        max_iter=100,
        tol=1e-4,
        covariate_output="drop",
        keep_empty_features=False,
        missing_values=np.nan,
        add_indicator=False,
        copy=True,
        random_state=None,
    ):
        self.covariates = covariates
        self.shrinkage = shrinkage
        self.n_shrinkages = n_shrinkages
        self.validation_fraction = validation_fraction
        self.max_iter = max_iter
        self.tol = tol
        self.covariate_output = covariate_output
        self.keep_empty_features = keep_empty_features
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.copy = copy
        self.random_state = random_state

    def _design(self, numeric, codes):
        cats = one_hot(codes, self.categories_) if codes.shape[1] else None
        parts = [np.ones((numeric.shape[0], 1)), numeric]
        if cats is not None:
            parts.append(cats.astype(np.float64))
        return np.hstack(parts)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Choose the penalty and fit the low-rank model on X's observed entries.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Expression with ``missing_values`` (NaN) for missing entries, plus
            covariate columns.
            Sparse X (without covariates) is densified.
        y : None
            Ignored.

        Returns
        -------
        self : SoftImputeImputer
            The fitted imputer.
        """
        genes, numeric, codes = self._validate_input(X, reset=True)
        mask = self._fit_gene_statistics(genes)
        return self._fit_arrays(genes, mask, numeric, codes)

    def _fit_arrays(self, genes, mask, numeric, codes):
        """The fit on validated arrays (``_valid_mask`` and ``categories_`` set)."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN genes
            mean = np.where(self._valid_mask, np.nanmean(genes, axis=0), 0.0)
            std = np.nanstd(genes, axis=0)
        self.mean_ = mean
        self.scale_ = np.where(self._valid_mask & (std > 0), std, 1.0)
        x = np.where(mask, (genes - self.mean_) / self.scale_, 0.0)
        design = self._design(numeric, codes)
        # per-gene ridge regression on the covariates, observed entries only
        m = mask.astype(np.float64)
        q = design.shape[1]
        outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), q * q)
        gram = (m.T @ outer).reshape(-1, q, q)  # design.T @ diag(m_j) @ design
        gram += _RIDGE * np.eye(design.shape[1])
        gram[:, 0, 0] += 1e-8 - _RIDGE  # the intercept is not shrunk
        rhs = design.T @ (x * m)
        self.coef_ = np.linalg.solve(gram, rhs.T[:, :, None])[:, :, 0].T
        resid = np.where(mask, x - design @ self.coef_, 0.0)
        lam_max = float(np.linalg.norm(resid, 2)) if resid.size else 0.0

        self.validation_scores_ = None
        if self.shrinkage == "auto":
            self.shrinkage_ = self._choose(resid, mask, lam_max)
        else:
            self.shrinkage_ = float(self.shrinkage)
        self.lambda_ = self.shrinkage_ * lam_max
        start = None
        for lam in self._path(lam_max):  # warm starts down to the chosen one
            z, vt, shrink, self.n_iter_ = soft_impute(
                resid, mask, lam, start=start, max_iter=self.max_iter, tol=self.tol
            )
            start = z
        self.components_, self.shrink_ = vt, shrink
        self.rank_ = int(len(shrink))
        return self

    def _grid(self):
        """The candidate shrinkages, largest first (warm starts go down it)."""
        return np.geomspace(_LARGEST_SHRINKAGE, _SMALLEST_SHRINKAGE,
                            self.n_shrinkages)

    def _path(self, lam_max):
        return [g * lam_max for g in self._grid() if g > self.shrinkage_] + [
            self.shrinkage_ * lam_max
        ]

    def _choose(self, resid, mask, lam_max):
        rng = check_random_state(self.random_state)
        # a random subset of the observed entries, drawn among them only: a
        # uniform draw over the whole matrix would be correlated with a mask
        # that simulate_missing drew from the same seed
        observed = np.flatnonzero(mask)
        n_held = int(round(self.validation_fraction * observed.size))
        if n_held == 0:
            return 0.1
        held = np.zeros(mask.shape, dtype=bool)
        held.flat[rng.choice(observed, n_held, replace=False)] = True
        train_mask = mask & ~held
        truth = resid[held]
        ss = max(float(np.sum(truth**2)), 1e-12)
        scores, start = [], None
        grid = self._grid()
        for g in grid:
            z, _, _, _ = soft_impute(
                resid, train_mask, g * lam_max, start=start,
                max_iter=self.max_iter, tol=self.tol,
            )
            start = z
            scores.append(1.0 - float(np.sum((z[held] - truth) ** 2)) / ss)
            if len(scores) > 2 and scores[-1] < max(scores) - 0.005:
                break  # past the optimum: smaller penalties only overfit
        self.validation_scores_ = scores
        return float(grid[int(np.argmax(scores))])

    def transform(self, X):
        """Impute X's missing genes from the covariates and the low-rank model.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data with the same columns as in fit; ``missing_values``
            marks missing genes.

        Returns
        -------
        X_imputed : {ndarray, sparse matrix} of shape (n_samples, n_features_out)
            The genes, observed entries unchanged, followed by the missing
            indicator if ``add_indicator=True`` and the covariates if
            ``covariate_output="passthrough"``.
            CSR (an array or matrix, as X) for sparse X.
        """
        check_is_fitted(self)
        genes, numeric, codes = self._validate_input(X, reset=False)
        mask = ~np.isnan(genes)
        imputed = self._imputed(genes, mask, numeric, codes)
        return self._assemble(X, genes, mask, imputed)

    def _imputed(self, genes, mask, numeric, codes):
        """The model's values of every entry of validated arrays, in data units."""
        base = self._design(numeric, codes) @ self.coef_
        resid = np.where(mask, (genes - self.mean_) / self.scale_ - base, 0.0)
        w = self.components_.T * np.sqrt(self.shrink_)  # A = w @ w.T
        fill = np.zeros_like(resid)
        k = w.shape[1]
        for start in range(0, len(resid) if k else 0, _ROW_BLOCK):
            sl = slice(start, start + _ROW_BLOCK)
            miss = (~mask[sl]).astype(np.float64)
            c = (resid[sl] * (1.0 - miss)) @ w  # x_o W_o
            gram = _missing_grams(miss, w)  # W_m^T W_m
            u = np.linalg.solve(np.eye(k) - gram, c[:, :, None])[:, :, 0]
            fill[sl] = (u @ w.T) * miss  # z_m = u W_m^T
        return (base + fill) * self.scale_ + self.mean_

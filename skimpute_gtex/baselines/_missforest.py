"""MissForestImputer: iterative random-forest imputation (Stekhoven & Bühlmann)."""

import warnings
from numbers import Integral

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import _BaseImputer
from ..utils._compat import Interval, _fit_context
from ..utils._docstrings import fill_doc
from ..utils._progress import log
from ._common import one_hot

_FOREST = RandomForestRegressor._parameter_constraints
_MAX_SEED = np.iinfo(np.int32).max


@fill_doc
class MissForestImputer(_BaseImputer):
    """MissForest: impute each gene with a random forest on all the others.

    The algorithm of Stekhoven & Bühlmann (2012): missing entries start at the
    mean of the observed values of their gene; then, gene after gene in order
    of increasing number of missing entries, a
    :class:`~sklearn.ensemble.RandomForestRegressor` is fit on the samples
    where the gene is observed, with the other genes (as currently imputed)
    and the covariates as features, and predicts the gene's missing entries.
    After each such sweep over the genes the normalized change over the
    missing entries,
    ``sum((X_new - X_old) ** 2) / sum(X_new ** 2)``, is recorded; as soon as
    it increases for the first time the previous iterate is returned. A
    :class:`~sklearn.exceptions.ConvergenceWarning` is raised when
    ``max_iter`` sweeps are run without the change increasing.

    Categorical covariates enter the forests one-hot encoded (categories
    unseen in fit are all zeros) and numerical covariates standardized with
    the training mean and standard deviation. Features are float32.

    The imputer is inductive: the forests of the returned sweep are kept in
    ``estimators_`` and ``transform`` starts new data from the training means
    and runs ``n_iter_`` sweeps with these fitted forests, as
    :class:`~sklearn.impute.IterativeImputer` does. ``fit_transform`` returns
    the MissForest iterate itself, which used a new forest at every sweep, so
    ``transform`` on the training data gives close but not identical values.

    Parameters
    ----------
    covariates : list of (name, kind, columns) tuples, default=None
        Covariate spec, as in :class:`~skimpute_gtex.PMIImputer`: ``kind`` is
        ``"categorical"`` or ``"numerical"`` and ``columns`` selects columns of
        X as in :class:`~sklearn.compose.ColumnTransformer`. Every other column
        is a gene.
    n_estimators : int, default=100
        Number of trees of each forest (MissForest's ``ntree``).
    max_iter : int, default=10
        Maximum number of sweeps over the genes.
    max_features : {"sqrt", "log2"}, int or float, default="sqrt"
        Features considered at each split, as in
        :class:`~sklearn.ensemble.RandomForestRegressor`. The default is
        MissForest's ``mtry = floor(sqrt(p))``, which is also much faster
        than scikit-learn's default of 1.0 (all features) with thousands of
        genes.
    max_depth : int, default=None
        Maximum depth of the trees (None: grown until the leaves are pure or
        hold ``min_samples_leaf`` samples).
    min_samples_leaf : int or float, default=1
        Minimum number of samples in a leaf.
    n_jobs : int, default=None
        Number of jobs each forest uses to fit and predict (``None``: 1).
    random_state : int, RandomState instance or None, default=None
        Draws one seed for each forest (bootstrap and feature sampling), so a
        fixed value gives the same imputation.
    verbose : int, default=0
        Print the change after each sweep when positive.
    {covariate_output}
    keep_empty_features : bool, default=False
        Keep genes with no observed value in fit in the output (filled with
        0); otherwise drop them.
    {missing_values}
    {add_indicator}
    {copy}

    Attributes
    ----------
    estimators_ : list of RandomForestRegressor or None
        One entry per gene column: the forest of the returned sweep, used by
        ``transform``. Genes without missing entries in fit get a forest fit
        on the final iterate (needed to impute new data). ``None`` for genes
        without any observed training value, or for every gene when there is
        no other feature to learn from (a single gene and no covariate).
    n_iter_ : int
        Number of sweeps that produced the returned imputation (the sweep
        after which the change increased is not counted); ``transform`` runs
        as many. 1 when the training data has no missing entry.
    differences_ : ndarray of shape (n_sweeps,)
        The normalized change after every sweep run, including the last one
        whose increase stopped the iterations.
    mean_ : ndarray of shape (n_genes,)
        Mean of the observed training values of each gene: the initial
        imputation (NaN for genes without any observed value).
    imputation_order_ : ndarray of int
        The genes with an observed training value, as indices among the
        ``n_genes_`` gene columns, in the order a sweep imputes them
        (increasing number of missing entries in fit, ties in column order).
    random_state_ : RandomState instance
        The generator the forest seeds were drawn from.
    n_genes_ : int
        Number of gene columns in X.
    gene_indices_ : ndarray of int
        Positions in X of the genes in the output, in output order.
    covariate_indices_ : ndarray of int
        Positions in X of the covariate columns, in spec order.
    categories_ : list of ndarray
        Categories of each categorical covariate column, as strings (only
        when ``covariates`` is given).
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
    sklearn.impute.IterativeImputer : the same scheme with any regressor.
    CovariateImputer : any scikit-learn imputer with the covariates as
        extra columns.

    References
    ----------
    .. [1] Stekhoven DJ, Bühlmann P. "MissForest—non-parametric missing value
       imputation for mixed-type data". Bioinformatics 28(1), 112-118 (2012).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.baselines import MissForestImputer
    >>> from skimpute_gtex.datasets import make_gtex_like, simulate_missing
    >>> data = make_gtex_like(n_samples=60, n_genes=8, random_state=0)
    >>> X = data.frame.drop(columns="donor")
    >>> X.iloc[:, :8], mask = simulate_missing(X.iloc[:, :8], 0.3, random_state=0)
    >>> imp = MissForestImputer(covariates=data.covariate_spec, n_estimators=10,
    ...                         max_iter=5, random_state=0)
    >>> X_imputed = imp.fit_transform(X)
    >>> X_imputed.shape, bool(np.isnan(X_imputed).any())
    ((60, 8), False)
    >>> 1 <= imp.n_iter_ <= 5
    True
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "n_estimators": _FOREST["n_estimators"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_features": _FOREST["max_features"],
        "max_depth": _FOREST["max_depth"],
        "min_samples_leaf": _FOREST["min_samples_leaf"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        covariates=None,
        n_estimators=100,
        max_iter=10,
        max_features="sqrt",
        max_depth=None,
        min_samples_leaf=1,
        n_jobs=None,
        random_state=None,
        verbose=0,
        covariate_output="drop",
        keep_empty_features=False,
        missing_values=np.nan,
        add_indicator=False,
        copy=True,
    ):
        self.covariates = covariates
        self.n_estimators = n_estimators
        self.max_iter = max_iter
        self.max_features = max_features
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.covariate_output = covariate_output
        self.keep_empty_features = keep_empty_features
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.copy = copy

    # ----------------------------------------------------------------- helpers
    def _features(self, current, numeric, codes):
        """float32 matrix: the current genes, one-hot codes, numeric covariates."""
        cats = self.categories_ if codes.shape[1] else []
        return np.hstack(
            [
                current.astype(np.float32),
                one_hot(codes, cats),
                numeric.astype(np.float32),
            ]
        )

    def _new_forest(self, rng):
        return RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            n_jobs=self.n_jobs,
            random_state=rng.randint(_MAX_SEED),
        )

    def _sweep(self, current, features, missing, rng=None):
        """One pass over the genes, in place; fits new forests if ``rng``."""
        forests = {}
        columns = np.arange(features.shape[1])
        for j in self._order:
            rows = missing[:, j]
            if rng is None:
                forest = self.estimators_[self._valid[j]]
                if forest is None or not rows.any():
                    continue
            elif not rows.any():
                continue
            others = features[:, columns != j]
            if rng is not None:
                forest = self._new_forest(rng)
                forest.fit(others[~rows], current[~rows, j])
                forests[j] = forest
            pred = forest.predict(others[rows])
            current[rows, j] = pred
            features[rows, j] = pred
        return forests

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Run MissForest on X and keep the forests for new data.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Expression with ``missing_values`` (NaN) for missing entries, plus
            the covariate columns named in ``covariates``.
            Sparse X (without covariates) is densified.
        y : None
            Ignored.

        Returns
        -------
        self : MissForestImputer
            The fitted imputer.
        """
        self._fit_transform(X, output=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Run MissForest on X and return the imputed data (in-place use).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Expression with ``missing_values`` (NaN) for missing entries, plus
            the covariate columns named in ``covariates``.
            Sparse X (without covariates) is densified.
        y : None
            Ignored.

        Returns
        -------
        X_imputed : {ndarray, sparse matrix} of shape (n_samples, n_features_out)
            The MissForest iterate; observed entries unchanged.
            CSR (an array or matrix, as X) for sparse X.
        """
        return self._fit_transform(X)

    def _fit_transform(self, X, output=True):
        """Fit; return the imputed X if ``output`` (fit never writes to X)."""
        genes, numeric, codes = self._validate_input(X, reset=True)
        mask = self._fit_gene_statistics(genes)
        self.random_state_ = check_random_state(self.random_state)
        rng = self.random_state_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN genes
            self.mean_ = np.nanmean(genes, axis=0)
        self._valid = np.flatnonzero(self._valid_mask)
        missing = ~mask[:, self._valid]
        current = np.where(mask, genes, self.mean_)[:, self._valid].astype(np.float64)
        features = self._features(current, numeric, codes)
        self._order = np.argsort(missing.sum(axis=0), kind="stable")
        self.imputation_order_ = self._valid[self._order]
        self.estimators_ = [None] * self.n_genes_
        differences = []
        learnable = features.shape[1] > 1
        if not missing.any() or not learnable:
            n_iter = 1
            differences.append(0.0)
        else:
            previous = None
            for it in range(1, self.max_iter + 1):
                old = current.copy()
                forests = self._sweep(current, features, missing, rng)
                change = current[missing] - old[missing]
                scale = float(np.sum(current[missing] ** 2))
                diff = float(np.sum(change**2)) / scale if scale > 0 else 0.0
                differences.append(diff)
                log(self, self.verbose, f"sweep {it}: normalized change {diff:.6g}")
                if it > 1 and diff > differences[-2]:
                    current, forests = old, previous
                    n_iter = it - 1
                    log(self, self.verbose,
                        f"change increased: returning sweep {n_iter}")
                    break
                previous = forests
            else:
                n_iter = self.max_iter
                warnings.warn(
                    f"[MissForestImputer] The normalized change did not increase "
                    f"within max_iter={self.max_iter} sweeps; returning the last "
                    "one. Increase max_iter for the MissForest stopping rule.",
                    ConvergenceWarning,
                )
            for j, forest in forests.items():
                self.estimators_[self._valid[j]] = forest
        if learnable:
            # forests of the genes complete in fit, on the final iterate
            features = self._features(current, numeric, codes)
            columns = np.arange(features.shape[1])
            for j in self._order:
                if not missing[:, j].any():
                    forest = self._new_forest(rng)
                    forest.fit(features[:, columns != j], current[:, j])
                    self.estimators_[self._valid[j]] = forest
        self.n_iter_ = n_iter
        self.differences_ = np.asarray(differences)
        if not output:
            return None
        imputed = np.empty(genes.shape)
        imputed[:, self._valid] = current
        return self._assemble(X, genes, mask, imputed)

    # --------------------------------------------------------------- transform
    def transform(self, X):
        """Impute new data with ``n_iter_`` sweeps of the fitted forests.

        Missing entries start at the training means (``mean_``); each sweep
        predicts the missing entries of every gene, in ``imputation_order_``,
        from the current values of the others and the covariates.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data with the same columns as in fit; ``missing_values``
            marks missing genes.

        Returns
        -------
        X_imputed : {ndarray, sparse matrix} of shape (n_samples, n_features_out)
            The genes, observed entries unchanged (all-missing training genes
            dropped unless ``keep_empty_features=True``), followed by the
            missing indicator if ``add_indicator=True`` and the covariates if
            ``covariate_output="passthrough"``.
            CSR (an array or matrix, as X) for sparse X.
        """
        check_is_fitted(self)
        genes, numeric, codes = self._validate_input(X, reset=False)
        mask = ~np.isnan(genes)
        missing = ~mask[:, self._valid]
        current = np.where(mask, genes, self.mean_)[:, self._valid].astype(np.float64)
        if missing.any():
            features = self._features(current, numeric, codes)
            for _ in range(self.n_iter_):
                self._sweep(current, features, missing)
        imputed = np.empty(genes.shape)
        imputed[:, self._valid] = current
        return self._assemble(X, genes, mask, imputed)

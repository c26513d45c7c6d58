"""CovariateImputer: any scikit-learn imputer, given the covariates as columns."""

import numpy as np
from sklearn.base import clone
from sklearn.impute import KNNImputer
from sklearn.utils.validation import check_is_fitted

from .._base import _BaseImputer
from ..utils._compat import HasMethods, _fit_context
from ..utils._docstrings import fill_doc
from ._common import one_hot


@fill_doc
class CovariateImputer(_BaseImputer):
    """Give any scikit-learn imputer the covariates as extra, complete columns.

    The genes are passed to a clone of ``estimator`` together with the
    covariates encoded as in Viñas et al. (2021): one column per category of
    each categorical covariate (one-hot; categories unseen in fit are all
    zeros) and the numerical covariates standardized with the training mean
    and standard deviation. :class:`~sklearn.impute.KNNImputer` or
    :class:`~sklearn.impute.IterativeImputer` thus see the same information as
    the deep imputers of the package. The covariate columns are never missing
    and are not in the output, which holds the genes only (and the raw
    covariates with ``covariate_output="passthrough"``); observed entries are
    returned unchanged.

    Genes without any observed value in fit are not passed to ``estimator``.
    If the estimator has a ``keep_empty_features`` parameter it is set to True
    so that its output has one column per input column. ``estimator`` sees NaN
    for every missing gene, whatever ``missing_values`` is, so its own
    ``missing_values`` must stay ``np.nan``; for a missing indicator use
    ``add_indicator`` of the CovariateImputer, not of ``estimator``.

    Parameters
    ----------
    estimator : estimator object, default=None
        Imputer with ``fit`` and ``transform`` that accepts NaN, such as
        :class:`~sklearn.impute.KNNImputer` (the default, ``KNNImputer()``) or
        :class:`~sklearn.impute.IterativeImputer`. It is cloned in fit.
    covariates : list of (name, kind, columns) tuples, default=None
        Covariate spec, as in :class:`~skimpute_gtex.PMIImputer`: ``kind`` is
        ``"categorical"`` or ``"numerical"`` and ``columns`` selects columns of
        X as in :class:`~sklearn.compose.ColumnTransformer`. Every other column
        is a gene. ``None`` passes the genes alone.
    {covariate_output}
    keep_empty_features : bool, default=False
        Keep genes with no observed value in fit in the output (filled with
        0); otherwise drop them.
    {missing_values}
    {add_indicator}
    {copy}

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``; its input columns are the genes
        with an observed training value, then the encoded covariates.
    n_covariate_columns_ : int
        Number of encoded covariate columns appended to the genes.
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
    sklearn.impute.KNNImputer : k-nearest-neighbour imputation.
    sklearn.impute.IterativeImputer : MICE-style imputation.
    MissForestImputer : random-forest imputation with covariates.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.impute import KNNImputer
    >>> from skimpute_gtex.baselines import CovariateImputer
    >>> from skimpute_gtex.datasets import make_gtex_like, simulate_missing
    >>> data = make_gtex_like(n_samples=60, n_genes=8, random_state=0)
    >>> X = data.frame.drop(columns="donor")
    >>> X.iloc[:, :8], mask = simulate_missing(X.iloc[:, :8], 0.3, random_state=0)
    >>> imp = CovariateImputer(KNNImputer(n_neighbors=5),
    ...                        covariates=data.covariate_spec)
    >>> X_imputed = imp.fit_transform(X)
    >>> X_imputed.shape, bool(np.isnan(X_imputed).any())
    ((60, 8), False)
    >>> imp.estimator_.n_features_in_  # 8 genes, 10 tissues, 2 sexes, age
    21
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "estimator": [HasMethods(["fit", "transform"]), None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        covariates=None,
        covariate_output="drop",
        keep_empty_features=False,
        missing_values=np.nan,
        add_indicator=False,
        copy=True,
    ):
        self.estimator = estimator
        self.covariates = covariates
        self.covariate_output = covariate_output
        self.keep_empty_features = keep_empty_features
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.copy = copy

    def _design(self, genes, numeric, codes):
        cats = self.categories_ if codes.shape[1] else []
        encoded = np.hstack([one_hot(codes, cats), numeric]).astype(genes.dtype)
        return np.hstack([genes[:, self._valid_mask], encoded]), encoded.shape[1]

    def _genes_out(self, design, genes):
        """Gene columns of the inner output, checked and placed back."""
        out = np.asarray(self.estimator_.transform(design))
        if out.shape != design.shape:
            raise ValueError(
                f"{type(self.estimator_).__name__} returned an array of shape "
                f"{out.shape} for an input of shape {design.shape}; "
                "CovariateImputer needs one output column per input column (an "
                "imputer that drops or adds columns, e.g. with add_indicator=True, "
                "cannot be used; set add_indicator=True on the CovariateImputer "
                "instead)."
            )
        imputed = np.zeros(genes.shape)
        imputed[:, self._valid_mask] = out[:, : int(self._valid_mask.sum())]
        return imputed

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit a clone of ``estimator`` on the genes and encoded covariates.

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
        self : CovariateImputer
            The fitted imputer.
        """
        genes, numeric, codes = self._validate_input(X, reset=True)
        self._fit_gene_statistics(genes)
        design, self.n_covariate_columns_ = self._design(genes, numeric, codes)
        estimator = KNNImputer() if self.estimator is None else self.estimator
        self.estimator_ = clone(estimator)
        if "keep_empty_features" in self.estimator_.get_params(deep=False):
            self.estimator_.set_params(keep_empty_features=True)
        self.estimator_.fit(design)
        return self

    def transform(self, X):
        """Impute the missing genes of X with the fitted estimator.

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
        design, _ = self._design(genes, numeric, codes)
        imputed = self._genes_out(design, genes)
        return self._assemble(X, genes, ~np.isnan(genes), imputed)

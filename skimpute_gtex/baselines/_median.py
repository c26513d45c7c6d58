"""TissueMedianImputer: per-tissue median of each gene."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._base import _BaseImputer
from ..utils._compat import _fit_context
from ..utils._docstrings import fill_doc
from ._common import categorical_position, group_medians


@fill_doc
class TissueMedianImputer(_BaseImputer):
    """Impute each gene with its median in the sample's tissue.

    A missing value of gene ``j`` in a sample of category ``k`` of the
    categorical covariate named ``group`` (usually the tissue) is replaced by
    the median of the observed training values of gene ``j`` in category
    ``k``. Categories unseen in fit, and categories without any observed
    training value of that gene, use the global median of the gene over all
    training samples. Without ``covariates`` (or when the spec has no
    covariate called ``group``) every sample uses the global median, like
    :class:`~sklearn.impute.SimpleImputer` with ``strategy="median"``.

    Parameters
    ----------
    covariates : list of (name, kind, columns) tuples, default=None
        Covariate spec, as in :class:`~skimpute_gtex.PMIImputer`: ``kind`` is
        ``"categorical"`` or ``"numerical"`` and ``columns`` selects columns of
        X as in :class:`~sklearn.compose.ColumnTransformer`. Every other column
        is a gene. Covariates other than ``group`` are not used.
    group : str or None, default="tissue"
        Name (in the spec) of the categorical covariate, of exactly one column,
        whose categories get their own medians. ``None`` uses the global
        median only. A name that is not in a given spec is ignored with a
        warning.
    {covariate_output}
    keep_empty_features : bool, default=False
        Keep genes with no observed value in fit in the output (filled with
        0); otherwise drop them.
    {missing_values}
    {add_indicator}
    {copy}

    Attributes
    ----------
    medians_ : ndarray of shape (n_categories + 1, n_genes)
        Row ``k`` holds the imputation values for category ``k`` of
        ``categories_`` of the group covariate (the ``k - 1``-th entry of
        ``group_categories_``); row 0, used for unseen categories, is the
        global median. Without a group there is only row 0.
    global_median_ : ndarray of shape (n_genes,)
        Median of the observed training values of each gene (NaN for genes
        without any observed value).
    group_categories_ : ndarray of str
        Categories of the group covariate seen in fit (empty without group).
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
    BloodSurrogateImputer : the same donor's whole-blood value.
    sklearn.impute.SimpleImputer : global median imputation.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skimpute_gtex.baselines import TissueMedianImputer
    >>> X = pd.DataFrame({"g1": [1.0, 3.0, np.nan, 10.0, np.nan],
    ...                   "tissue": ["a", "a", "a", "b", "c"]})
    >>> imp = TissueMedianImputer(covariates=[("tissue", "categorical", "tissue")])
    >>> imp.fit_transform(X).ravel().tolist()
    [1.0, 3.0, 2.0, 10.0, 3.0]
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "group": [str, None],
    }

    def __init__(
        self,
        *,
        covariates=None,
        group="tissue",
        covariate_output="drop",
        keep_empty_features=False,
        missing_values=np.nan,
        add_indicator=False,
        copy=True,
    ):
        self.covariates = covariates
        self.group = group
        self.covariate_output = covariate_output
        self.keep_empty_features = keep_empty_features
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.copy = copy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the per-group and global medians of each gene.

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
        self : TissueMedianImputer
            The fitted imputer.
        """
        genes, _, codes = self._validate_input(X, reset=True)
        self._fit_gene_statistics(genes)
        self._group_position, _ = categorical_position(self, self.group, role="group")
        if self._group_position is None:
            self.group_categories_ = np.array([], dtype=str)
            group_codes = None
        else:
            self.group_categories_ = self.categories_[self._group_position]
            group_codes = codes[:, self._group_position]
        self.global_median_, self.medians_ = group_medians(
            genes, group_codes, len(self.group_categories_)
        )
        return self

    def transform(self, X):
        """Replace the missing genes of X by their (per-group) medians.

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
        genes, _, codes = self._validate_input(X, reset=False)
        if self._group_position is None:
            rows = np.zeros(genes.shape[0], dtype=np.intp)
        else:
            rows = codes[:, self._group_position]
        return self._assemble(X, genes, ~np.isnan(genes), self.medians_[rows])

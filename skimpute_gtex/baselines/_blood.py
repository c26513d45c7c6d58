"""BloodSurrogateImputer: the same donor's whole-blood expression."""

import re
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._base import _BaseImputer
from ..utils._compat import StrOptions, _fit_context
from ..utils._docstrings import fill_doc
from ._common import categorical_position, group_medians, raw_categories


def _blood_profiles(genes, donors, is_blood):
    """Per-donor mean of the observed values over that donor's blood samples.

    Returns ``(donor_names, profiles)`` with NaN where a donor's blood samples
    have no observed value of a gene.
    """
    names, inverse = np.unique(donors[is_blood], return_inverse=True)
    values = genes[is_blood]
    observed = ~np.isnan(values)
    sums = np.zeros((len(names), genes.shape[1]))
    counts = np.zeros((len(names), genes.shape[1]))
    np.add.at(sums, inverse, np.where(observed, values, 0.0))
    np.add.at(counts, inverse, observed)
    with np.errstate(invalid="ignore", divide="ignore"):
        profiles = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return names, profiles


@fill_doc
class BloodSurrogateImputer(_BaseImputer):
    """Impute a sample with the same donor's whole-blood expression.

    The "blood surrogate" baseline of Viñas et al. (2021): a missing value of
    gene ``j`` in a sample of donor ``d`` is replaced by the value of gene
    ``j`` in the whole-blood sample of donor ``d``. Where that value is not
    available the ``fallback`` is used.

    The blood value of donor ``d`` for gene ``j`` is found as follows:

    1. The samples passed to ``transform`` whose ``tissue`` is ``surrogate``
       and whose ``donor`` is ``d`` (the sample itself included): the mean of
       their observed values of gene ``j``, if any.
    2. Otherwise, if ``d`` had blood samples in the data passed to ``fit``,
       the mean of their observed values of gene ``j`` (stored in
       ``blood_profiles_``), if any.
    3. Otherwise the fallback: the median of gene ``j`` in the sample's
       tissue (``fallback="tissue_median"``, as in
       :class:`TissueMedianImputer`) or over all training samples
       (``fallback="median"``).

    In-place use (``fit_transform``) thus uses the blood samples of the data
    itself, and new data uses its own blood samples first and the training
    blood samples of known donors second. The result for one sample depends
    on the other samples passed to ``transform`` with it. Samples with a
    missing donor always use the fallback. Without ``covariates``, or with a
    spec that has no ``donor`` or ``tissue`` covariate, every entry uses the
    fallback.

    Parameters
    ----------
    covariates : list of (name, kind, columns) tuples, default=None
        Covariate spec, as in :class:`~skimpute_gtex.PMIImputer`: ``kind`` is
        ``"categorical"`` or ``"numerical"`` and ``columns`` selects columns of
        X as in :class:`~sklearn.compose.ColumnTransformer`. Every other column
        is a gene. It must contain the ``donor`` and ``tissue`` covariates.
    donor : str, default="donor"
        Name (in the spec) of the categorical covariate, of one column, that
        identifies the donor.
    tissue : str, default="tissue"
        Name (in the spec) of the categorical covariate, of one column, that
        holds the tissue.
    surrogate : str, default="Whole Blood"
        Value of the tissue covariate that marks the surrogate (blood)
        samples, compared as a string.
    fallback : {"tissue_median", "median"}, default="tissue_median"
        Value used without a blood value: the median of the gene in the
        sample's tissue (the global median for tissues unseen in fit or
        without observed values of the gene) or the global median.
    {covariate_output}
    keep_empty_features : bool, default=False
        Keep genes with no observed value in fit in the output (filled with
        0); otherwise drop them.
    {missing_values}
    {add_indicator}
    {copy}

    Attributes
    ----------
    blood_donors_ : ndarray of str
        Donors with at least one ``surrogate`` sample in fit.
    blood_profiles_ : ndarray of shape (n_blood_donors, n_genes)
        Per donor of ``blood_donors_``, the mean of the observed values of
        each gene over its blood samples in fit (NaN if none).
    medians_ : ndarray of shape (n_tissues + 1, n_genes)
        Fallback values: row ``k`` for the ``k``-th tissue seen in fit, row 0
        (the global median) for unseen tissues. Only row 0 exists with
        ``fallback="median"`` or without a tissue covariate.
    global_median_ : ndarray of shape (n_genes,)
        Median of the observed training values of each gene.
    fallback_fraction_ : float
        Measured on the training data imputed in place (what
        ``fit_transform`` returns): among the missing entries of the genes
        kept in the output (genes with at least one observed training value),
        the fraction filled by the fallback instead of a blood value. 0.0
        when there is no such missing entry.
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
    TissueMedianImputer : the per-tissue median used as fallback.

    References
    ----------
    .. [1] Viñas R, Azevedo T, Gamazon ER, Liò P. "Deep Learning Enables Fast
       and Accurate Imputation of Gene Expression". Frontiers in Genetics 12,
       624128 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skimpute_gtex.baselines import BloodSurrogateImputer
    >>> X = pd.DataFrame({
    ...     "g1": [7.0, np.nan, 1.0, np.nan, 3.0],
    ...     "tissue": ["Whole Blood", "Lung", "Lung", "Lung", "Lung"],
    ...     "donor": ["d1", "d1", "d2", "d2", "d3"],
    ... })
    >>> spec = [("tissue", "categorical", "tissue"),
    ...         ("donor", "categorical", "donor")]
    >>> imp = BloodSurrogateImputer(covariates=spec)
    >>> imp.fit_transform(X).ravel().tolist()
    [7.0, 7.0, 1.0, 2.0, 3.0]
    >>> imp.fallback_fraction_
    0.5
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "donor": [str],
        "tissue": [str],
        "surrogate": [str],
        "fallback": [StrOptions({"tissue_median", "median"})],
    }

    def __init__(
        self,
        *,
        covariates=None,
        donor="donor",
        tissue="tissue",
        surrogate="Whole Blood",
        fallback="tissue_median",
        covariate_output="drop",
        keep_empty_features=False,
        missing_values=np.nan,
        add_indicator=False,
        copy=True,
    ):
        self.covariates = covariates
        self.donor = donor
        self.tissue = tissue
        self.surrogate = surrogate
        self.fallback = fallback
        self.covariate_output = covariate_output
        self.keep_empty_features = keep_empty_features
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.copy = copy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Store the blood profile of each donor and the fallback medians.

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
        self : BloodSurrogateImputer
            The fitted imputer.
        """
        genes, _, codes = self._validate_input(X, reset=True)
        mask = self._fit_gene_statistics(genes)
        self._tissue_position, self._tissue_column = categorical_position(
            self, self.tissue, role="tissue"
        )
        self._donor_position, self._donor_column = categorical_position(
            self, self.donor, role="donor"
        )
        use_tissue = self.fallback == "tissue_median" and (
            self._tissue_position is not None
        )
        self._medians_by_tissue = use_tissue
        n_tissues = len(self.categories_[self._tissue_position]) if use_tissue else 0
        self.global_median_, self.medians_ = group_medians(
            genes, codes[:, self._tissue_position] if use_tissue else None, n_tissues
        )
        blood = self._blood_rows(X)
        if blood is None:
            self.blood_donors_ = np.array([], dtype=str)
            self.blood_profiles_ = np.zeros((0, genes.shape[1]))
        else:
            donors, _, is_blood = blood
            self.blood_donors_, self.blood_profiles_ = _blood_profiles(
                genes, donors, is_blood
            )
        surrogate = self._surrogate_values(genes, blood)
        missing = ~mask & self._valid_mask
        n_missing = int(missing.sum())
        used_fallback = int((missing & np.isnan(surrogate)).sum())
        self.fallback_fraction_ = used_fallback / n_missing if n_missing else 0.0
        return self

    def _blood_rows(self, X):
        """``(donor strings, donor missing, is-blood mask)`` or None."""
        if self._donor_position is None or self._tissue_position is None:
            return None
        donors, donor_missing = raw_categories(X, self._donor_column)
        tissues, _ = raw_categories(X, self._tissue_column)
        is_blood = (tissues == str(self.surrogate)) & ~donor_missing
        return donors, donor_missing, is_blood

    def _surrogate_values(self, genes, blood):
        """Blood value of each entry's donor (NaN where there is none)."""
        values = np.full(genes.shape, np.nan)
        if blood is None:
            return values
        donors, donor_missing, is_blood = blood
        # 2. blood samples seen in fit, for known donors
        pos = np.searchsorted(self.blood_donors_, donors)
        pos = np.clip(pos, 0, max(len(self.blood_donors_) - 1, 0))
        known = ~donor_missing
        if len(self.blood_donors_):
            known &= self.blood_donors_[pos] == donors
            values[known] = self.blood_profiles_[pos[known]]
        else:
            known[:] = False
        # 1. blood samples among the rows themselves take precedence
        if is_blood.any():
            names, profiles = _blood_profiles(genes, donors, is_blood)
            pos = np.clip(np.searchsorted(names, donors), 0, len(names) - 1)
            here = (names[pos] == donors) & ~donor_missing
            rows = np.flatnonzero(here)
            own = profiles[pos[rows]]
            values[rows] = np.where(np.isnan(own), values[rows], own)
        return values

    def transform(self, X):
        """Fill missing genes with the donor's blood values or the fallback.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data with the same columns as in fit; ``missing_values``
            marks missing genes.
            Its own blood samples are used first (see the class docstring).

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
        with warnings.catch_warnings():
            # new donors are the normal case here, not a surprise
            warnings.filterwarnings(
                "ignore",
                message=re.escape(f"Covariate {self.donor!r} has categories unseen"),
            )
            genes, _, codes = self._validate_input(X, reset=False)
        surrogate = self._surrogate_values(genes, self._blood_rows(X))
        if self._medians_by_tissue:
            fallback = self.medians_[codes[:, self._tissue_position]]
        else:
            fallback = self.medians_[np.zeros(genes.shape[0], dtype=np.intp)]
        imputed = np.where(np.isnan(surrogate), fallback, surrogate)
        return self._assemble(X, genes, ~np.isnan(genes), imputed)

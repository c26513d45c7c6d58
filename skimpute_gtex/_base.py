"""The torch-free base of every imputer: covariates, validation, output."""

import warnings

import numpy as np
from scipy import sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import MissingIndicator
from sklearn.utils import check_array
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from ._covariates import (
    as_categories,
    encode_categorical,
    resolve_spec,
    take_columns,
)
from .utils._compat import (
    MissingValues,
    StrOptions,
    _check_feature_names_in,
    _get_output_config,
    fit_indicator_on_mask,
    is_pandas_na,
    is_scalar_nan,
)


class _BaseImputer(TransformerMixin, BaseEstimator):
    """Covariate spec, input validation and output assembly (no torch).

    Every imputer of the package takes ``covariates``, ``covariate_output``,
    ``keep_empty_features`` and scikit-learn's ``missing_values``,
    ``add_indicator`` and ``copy``. ``_validate_input`` splits X into the
    float gene matrix, with NaN for every missing entry whatever the marker,
    and encoded covariates; ``_assemble`` puts the observed entries back,
    handles all-missing genes, appends the missing indicator and passes
    covariates through.
    """

    _parameter_constraints: dict = {
        "covariates": [list, tuple, None],
        "covariate_output": [StrOptions({"drop", "passthrough"})],
        "missing_values": [MissingValues(numeric_only=True)],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
        "copy": ["boolean"],
    }

    def _nan_marker(self):
        """Whether missing genes are NaN in X (``np.nan`` or ``pd.NA``)."""
        return is_scalar_nan(self.missing_values) or is_pandas_na(
            self.missing_values
        )

    def _fit_gene_statistics(self, genes):
        """Observed-entry mask, ``_valid_mask``, ``gene_indices_``, ``indicator_``."""
        if genes.shape[0] == 0:
            raise ValueError("X has 0 samples: nothing to fit.")
        mask = ~np.isnan(genes)
        self._valid_mask = mask.any(axis=0)
        self.n_genes_ = genes.shape[1]
        self.gene_indices_ = self._gene_columns[
            slice(None) if self.keep_empty_features else self._valid_mask
        ]
        self._fit_indicator(~mask)
        return mask

    # ------------------------------------------------------ missing indicator
    # scikit-learn's _BaseImputer, over the gene columns only: covariates are
    # never missing and never part of the indicator.
    def _fit_indicator(self, missing):
        """Fit ``indicator_`` on the mask of missing genes (None without)."""
        if self.add_indicator:
            self.indicator_ = fit_indicator_on_mask(
                MissingIndicator(
                    missing_values=self.missing_values, error_on_new=False
                ),
                missing,
            )
        else:
            self.indicator_ = None

    def _transform_indicator(self, missing):
        """Indicator columns for the mask of missing genes, or None."""
        if self.add_indicator:
            return self.indicator_.transform(missing)
        return None

    def _concatenate_indicator(self, imputed, indicator):
        """The imputed genes followed by the indicator columns, if any."""
        if not self.add_indicator:
            return imputed
        return np.hstack([imputed, indicator])  # bool columns take imputed's dtype

    def _concatenate_indicator_feature_names_out(self, names, gene_names):
        if not self.add_indicator:
            return names
        return np.concatenate(
            [names, self.indicator_.get_feature_names_out(gene_names)]
        )

    # ----------------------------------------------------------------- output
    def _output_array(self, genes):
        """The array the imputations are written into.

        A copy of ``genes``, or with ``copy=False`` ``genes`` itself (X's own
        memory when ``_validate_input`` needed no conversion), unless it is
        read-only.
        """
        if self.copy or not genes.flags.writeable:
            return genes.copy()
        return genes

    def _assemble(self, X, genes, mask, imputed):
        """Output: observed entries of ``genes``, ``imputed`` elsewhere.

        Observed entries are copied bit for bit; the output keeps the dtype of
        ``genes``. All-missing training genes are dropped, or kept and filled
        with 0 when ``keep_empty_features=True``.
        """
        out = self._output_array(genes)
        out[~mask] = np.asarray(imputed)[~mask].astype(genes.dtype)
        return self._finish_output(X, genes, mask, out)

    def _finish_output(self, X, genes, mask, out):
        """Empty genes, indicator and covariate passthrough of ``_assemble``.

        ``out`` holds the observed entries of ``genes`` and imputations
        elsewhere, in the dtype of ``genes``; it may be modified. ``mask`` is
        the mask of observed genes of X, as validated before any imputation.
        The output is the genes, then the missing indicator
        (``add_indicator=True``), then the passed-through covariates; CSR
        (array or matrix, as X) for sparse X.
        """
        if self.keep_empty_features:
            empty = ~self._valid_mask
            out[:, empty] = np.where(mask[:, empty], genes[:, empty], 0.0)
        elif not self._valid_mask.all():
            out = out[:, self._valid_mask]
        out = self._concatenate_indicator(out, self._transform_indicator(~mask))
        if sp.issparse(X):  # covariates (passthrough) need dense X
            return sp.csr_array(out) if isinstance(X, sp.sparray) else (
                sp.csr_matrix(out)
            )
        if self.covariate_output == "passthrough" and self.covariate_indices_.size:
            if _get_output_config("transform", self)["dense"] == "pandas":
                return self._passthrough_frame(X, out)
            cov = take_columns(X, self.covariate_indices_)
            cov = cov.to_numpy() if hasattr(cov, "to_numpy") else np.asarray(cov)
            out = np.hstack([out.astype(object), cov.astype(object)])
        return out

    def _passthrough_frame(self, X, out):
        """Genes and passed-through covariates as a DataFrame, dtypes kept.

        With ``set_output(transform="pandas")`` an object array would make
        every column object; here genes keep their float dtype, covariates of
        a DataFrame keep theirs, and numerical covariates of an array become
        float64. Column names are set by scikit-learn's output wrapper.
        """
        import pandas as pd

        index = X.index if hasattr(X, "index") else None
        parts = [pd.DataFrame(out, index=index)]
        numeric_columns = {
            int(j) for _, kind, idx in self._covariates_resolved
            if kind == "numerical" for j in idx
        }
        for j in self.covariate_indices_:
            col = take_columns(X, [j])
            if not hasattr(col, "iloc"):
                values = np.asarray(col).ravel()
                if int(j) in numeric_columns:
                    values = values.astype(np.float64)
                col = pd.DataFrame({0: values}, index=index)
            parts.append(col.reset_index(drop=True).set_axis(index)
                         if index is not None else col.reset_index(drop=True))
        frame = pd.concat(parts, axis=1)
        frame.columns = range(frame.shape[1])
        return frame

    # ------------------------------------------------------------------ input
    def _nan_coded(self, genes):
        """``genes`` with NaN for every missing entry.

        With a numeric ``missing_values`` (NaN was rejected by validation), a
        copy with its occurrences replaced by NaN; with NaN or ``pd.NA`` (for
        which pandas nullable arrays were converted to NaN), ``genes`` as is.
        Sparse input is densified; its implicit zeros are observed values.
        """
        if sp.issparse(genes):
            if not self._nan_marker() and self.missing_values == 0:
                raise ValueError(
                    f"{type(self).__name__}: imputation is not possible with "
                    "missing_values=0 and sparse input (its implicit zeros would "
                    "all be missing). Provide a dense array instead."
                )
            genes = genes.toarray()
        if self._nan_marker():
            return genes
        missing = genes == self.missing_values
        if missing.any():
            genes = genes.copy(order="K")  # X's memory layout: the same bits
            genes[missing] = np.nan
        return genes

    def _validate_input(self, X, *, reset):
        """Split X into a float gene matrix and encoded covariates.

        Returns ``(genes, numeric, codes)``; ``genes`` keeps X's float dtype
        (float64 for non-float input), has NaN for missing entries (see
        ``_nan_coded``), and is written to only through ``_output_array``.
        """
        ensure_all_finite = "allow-nan" if self._nan_marker() else True
        if self.covariates is None:
            genes = validate_data(
                self,
                X,
                reset=reset,
                accept_sparse=("csr", "csc"),  # others converted: NaN/inf checked
                dtype=FLOAT_DTYPES,
                ensure_all_finite=ensure_all_finite,
                ensure_min_features=1,
            )
            if reset:
                self._covariates_resolved = []
                self.covariate_indices_ = np.array([], dtype=np.intp)
                self._gene_columns = np.arange(genes.shape[1])
            n = genes.shape[0]
            genes = self._nan_coded(genes)
            return genes, np.zeros((n, 0)), np.zeros((n, 0), dtype=np.int64)
        return self._validate_with_covariates(X, reset, ensure_all_finite)

    def _validate_with_covariates(self, X, reset, ensure_all_finite):
        """``_validate_input`` when ``covariates`` is set: resolve, split, encode."""
        if hasattr(X, "__sparse__") or hasattr(X, "tocsr"):
            raise TypeError(
                f"{type(self).__name__} with covariates needs a dense array or a "
                "DataFrame, not a sparse matrix."
            )
        if not hasattr(X, "iloc") and not isinstance(X, np.ndarray):
            # nested lists may mix numbers and strings: keep each value as is.
            # An ndarray stays as it is: converting a float matrix to object
            # dtype made a Python float of every entry (seconds per 10^7).
            X = np.asarray(X, dtype=object) if np.ndim(X) == 2 else X
        X = validate_data(self, X, reset=reset, skip_check_array=True)
        if np.ndim(X) != 2:
            raise ValueError(
                f"Expected a 2D array or DataFrame, got an array of shape "
                f"{np.shape(X)}."
            )
        n_features = X.shape[1]
        if reset:
            self._covariates_resolved = resolve_spec(X, self.covariates, n_features)
            self.covariate_indices_ = np.concatenate(
                [idx for _, _, idx in self._covariates_resolved]
            )
            self._gene_columns = np.setdiff1d(
                np.arange(n_features), self.covariate_indices_
            )
            if self._gene_columns.size == 0:
                raise ValueError(
                    "Every column of X is a covariate: there is no gene to impute."
                )
        try:
            genes = check_array(
                take_columns(X, self._gene_columns),
                dtype=FLOAT_DTYPES,
                ensure_all_finite=ensure_all_finite,
                input_name="X",
            )
        except ValueError as exc:
            raise ValueError(
                "The gene columns of X (all columns that are not covariates) must "
                f"be numeric: {exc}"
            ) from exc
        numeric, codes = self._encode_covariates(X, reset=reset)
        return self._nan_coded(genes), numeric, codes

    def _encode_covariates(self, X, *, reset):
        numeric, codes = [], []
        if reset:
            self.categories_ = []
            self._numeric_mean, self._numeric_scale = [], []
        k_cat = k_num = 0
        for name, kind, idx in self._covariates_resolved:
            block = take_columns(X, idx)
            block = block.to_numpy() if hasattr(block, "to_numpy") else block
            if kind == "categorical":
                for j in range(block.shape[1]):
                    if reset:
                        self.categories_.append(np.unique(as_categories(block[:, j])))
                    code, unseen = encode_categorical(
                        block[:, j], self.categories_[k_cat]
                    )
                    if unseen.size:
                        warnings.warn(
                            f"Covariate {name!r} has categories unseen in fit "
                            f"({sorted(set(unseen.tolist()))[:5]}); they are treated "
                            "as unknown.",
                            UserWarning,
                        )
                    codes.append(code)
                    k_cat += 1
            else:
                try:
                    values = np.asarray(block, dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"Numerical covariate {name!r} must hold numbers: {exc}"
                    ) from exc
                if not np.isfinite(values).all():
                    raise ValueError(
                        f"Numerical covariate {name!r} contains NaN or infinite "
                        "values; impute or drop them before fitting (for "
                        "example with SimpleImputer), or declare it categorical."
                    )
                for j in range(values.shape[1]):
                    if reset:
                        mean, std = values[:, j].mean(), values[:, j].std()
                        self._numeric_mean.append(mean)
                        self._numeric_scale.append(std if std > 0 else 1.0)
                    numeric.append(
                        (values[:, j] - self._numeric_mean[k_num])
                        / self._numeric_scale[k_num]
                    )
                    k_num += 1
        n = X.shape[0]
        numeric = np.column_stack(numeric) if numeric else np.zeros((n, 0))
        codes = np.column_stack(codes) if codes else np.zeros((n, 0), dtype=np.int64)
        return numeric, codes

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; ``feature_names_in_`` if None, or
            ``x0, x1, ...`` when fit on an array without names.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The imputed genes, then ``missingindicator_<gene>`` for the genes
            of the missing indicator (``add_indicator=True``), then the
            covariates if passed through.
        """
        check_is_fitted(self, "n_features_in_")
        names = _check_feature_names_in(self, input_features)
        out = self._concatenate_indicator_feature_names_out(
            names[self.gene_indices_], names[self._gene_columns]
        )
        if self.covariate_output == "passthrough":
            out = np.concatenate([out, names[self.covariate_indices_]])
        return np.asarray(out, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._nan_marker()
        # sparse X is densified; with covariates X must be dense or a DataFrame
        tags.input_tags.sparse = self.covariates is None
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

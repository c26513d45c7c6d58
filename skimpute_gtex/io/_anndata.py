"""Read and write AnnData objects and ``.h5ad`` files for the imputers.

anndata is an optional dependency: it is imported when a function is called,
never when :mod:`skimpute_gtex` is.
"""

import copy
import os

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._compat import HasMethods, validate_params

#: entries densified at a time (64 MB of float32): the transient memory of
#: reading a sparse or on-disk matrix, on top of the dense result
_BLOCK_ENTRIES = 2**24


def _import_anndata():
    try:
        import anndata
    except ImportError:
        raise ImportError(
            "Reading and writing AnnData (.h5ad) files needs the anndata package: "
            'pip install "skimpute-gtex[anndata]" (or pip install anndata).'
        ) from None
    return anndata


def _check_path(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{os.fspath(path)}: no such file.")


def _names(value, what):
    """``categorical``/``numerical`` as a list of str (a str is one column)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    names = list(value)
    if not all(isinstance(v, str) for v in names):
        raise TypeError(f"{what} must be a column name or a list of names of "
                        f"obs columns; got {value!r}.")
    return names


def _matrix(adata, layer):
    """``adata.X`` or ``adata.layers[layer]``, with clear errors."""
    if layer is None:
        if adata.X is None:
            raise ValueError(
                "The AnnData has no X; pass layer= to read one of its layers "
                f"({list(adata.layers.keys())}).")
        return adata.X
    if layer not in adata.layers:
        raise ValueError(f"The AnnData has no layer {layer!r}; its layers are "
                         f"{list(adata.layers.keys())}.")
    return adata.layers[layer]


def _float_dtype(matrix):
    """The matrix's float dtype; float64 for any other (integer counts...)."""
    dtype = np.dtype(getattr(matrix, "dtype", np.float64))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _dense_block(block, dtype):
    if hasattr(block, "toarray"):  # scipy.sparse
        block = block.toarray()
    elif hasattr(block, "compute"):  # a dask array
        block = block.compute()
    return np.asarray(block, dtype=dtype)


def _block_rows(n_columns):
    return max(1, _BLOCK_ENTRIES // max(1, n_columns))


def _densify(matrix, *, copy_dense):
    """A dense C-ordered float ndarray with the values of ``matrix``.

    A sparse, on-disk (backed) or dask matrix is densified a block of rows at
    a time into the result. An in-memory ndarray is copied when
    ``copy_dense`` (the result never shares memory with the caller's AnnData).
    """
    dtype = _float_dtype(matrix)
    if isinstance(matrix, np.ndarray):
        if copy_dense or matrix.dtype != dtype:
            return np.array(matrix, dtype=dtype, order="C", copy=True)
        return matrix
    n_rows, n_columns = matrix.shape
    out = np.empty((n_rows, n_columns), dtype=dtype)
    step = _block_rows(n_columns)
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        out[start:stop] = _dense_block(matrix[start:stop], dtype)
    return out


def _plain_strings(frame):
    """A copy of ``frame`` whose string index and columns are of object dtype.

    pandas 3 reads strings as its ``str`` dtype, which anndata 0.12 refuses to
    write by default; object columns of str are written as before.
    """
    frame = frame.copy()
    if pd.api.types.is_string_dtype(frame.index.dtype):
        frame.index = frame.index.astype(object)
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories
            if pd.api.types.is_string_dtype(categories.dtype):
                frame[name] = column.cat.set_categories(categories.astype(object))
        elif pd.api.types.is_string_dtype(column.dtype):
            frame[name] = column.astype(object)
    return frame


_ANNDATA = HasMethods(["write_h5ad"])  # an AnnData, without importing anndata


@validate_params(
    {
        "path_or_adata": [str, os.PathLike, _ANNDATA],
        "layer": [str, None],
        "categorical": [str, "array-like", None],
        "numerical": [str, "array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def read_anndata(path_or_adata, *, layer=None, categorical=None, numerical=None):
    """Read an AnnData object or ``.h5ad`` file as input for the imputers.

    The genes are the ``var_names``; the expression is ``X`` or the layer
    ``layer``; the covariates are the ``obs`` columns named by
    ``categorical`` and ``numerical``. The result's ``frame`` holds the genes
    followed by those covariates and ``covariate_spec`` says which is which,
    so that ``PMIImputer(covariates=data.covariate_spec).fit(data.frame)``
    works as is.

    .. versionadded:: 0.1

    Parameters
    ----------
    path_or_adata : str, path-like or anndata.AnnData
        An ``.h5ad`` file or an AnnData object (which is not modified).
    layer : str, default=None
        The layer holding the expression to impute; ``None`` reads ``X``.
        Missing values are ``NaN``. Expression is expected on a log scale, as
        for the imputers.
    categorical : str or list of str, default=None
        ``obs`` columns to use as categorical covariates (tissue, sex...).
    numerical : str or list of str, default=None
        ``obs`` columns to use as numerical covariates (age...). They must
        be numeric.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        frame : DataFrame of shape (n_obs, n_vars + n_covariates)
            The genes (columns ``var_names``, index ``obs_names``) followed by
            the covariate columns, categorical first.
        covariate_spec : list of tuple or None
            The matching ``covariates=`` spec for the imputers,
            ``[(name, "categorical" or "numerical", [name]), ...]``; ``None``
            without covariates.
        gene_names : ndarray of str of shape (n_vars,)
            The ``var_names``.
        covariate_names : list of str
            The covariate columns, in ``frame`` order.
        sample_ids : ndarray of str of shape (n_obs,)
            The ``obs_names``.

    See Also
    --------
    write_anndata : write an imputed matrix back into an AnnData.

    Notes
    -----
    The imputers need a dense matrix: ``frame`` holds ``n_obs * n_vars``
    values in the matrix's float dtype (integers become float64), for GTEx v8
    (15,201 samples x 12,557 genes) 0.76 GB in float32 or 1.5 GB in float64.
    A sparse ``X`` is densified one block of rows (about 16 million entries)
    at a time into that dense matrix, so the transient memory on top of the
    sparse and the dense matrices is one block. The implicit zeros of a
    sparse matrix are observed zeros, not missing values: missing entries
    must be stored as explicit ``NaN``.

    Read from a file, the matrix is read from disk block by block straight
    into ``frame`` (the file is opened with ``backed="r"``); read from an
    AnnData object in memory, it is copied, so that ``frame`` never shares
    memory with the object.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> import anndata
    >>> from skimpute_gtex.io import read_anndata
    >>> adata = anndata.AnnData(
    ...     np.array([[1.0, np.nan, 2.0], [0.5, 1.5, np.nan]], dtype=np.float32),
    ...     obs=pd.DataFrame({"tissue": ["Lung", "Liver"], "age": [31.0, 62.0]},
    ...                      index=["s1", "s2"]),
    ...     var=pd.DataFrame(index=["g1", "g2", "g3"]))
    >>> data = read_anndata(adata, categorical="tissue", numerical="age")
    >>> list(data.frame.columns)
    ['g1', 'g2', 'g3', 'tissue', 'age']
    >>> data.covariate_spec
    [('tissue', 'categorical', ['tissue']), ('age', 'numerical', ['age'])]
    """
    anndata = _import_anndata()
    categorical = _names(categorical, "categorical")
    numerical = _names(numerical, "numerical")
    backed = False
    if isinstance(path_or_adata, (str, os.PathLike)):
        _check_path(path_or_adata)
        adata = anndata.read_h5ad(path_or_adata, backed="r")
        backed = True
    elif isinstance(path_or_adata, anndata.AnnData):
        adata = path_or_adata
    else:
        raise TypeError("path_or_adata must be a path to an .h5ad file or an "
                        f"AnnData object; got {type(path_or_adata).__name__}.")
    try:
        return _read(adata, layer, categorical, numerical, copy_dense=not backed)
    finally:
        if backed:
            adata.file.close()


def _read(adata, layer, categorical, numerical, *, copy_dense):
    var_names = pd.Index(adata.var_names)
    if var_names.has_duplicates:
        dup = var_names[var_names.duplicated()].unique().tolist()
        raise ValueError(f"The var_names (genes) repeat: {dup[:5]}; make them "
                         "unique first (AnnData.var_names_make_unique()).")
    both = sorted(set(categorical) & set(numerical))
    if both:
        raise ValueError(f"obs column(s) {both} are both categorical and "
                         "numerical.")
    names = categorical + numerical
    unknown = [c for c in names if c not in adata.obs.columns]
    if unknown:
        raise ValueError(f"Covariate column(s) {unknown} are not in obs; its "
                         f"columns are {list(adata.obs.columns)[:20]}.")
    clash = sorted(set(names) & set(var_names))
    if clash:
        raise ValueError(f"Covariate column(s) {clash} are also gene names "
                         "(var_names).")
    for name in numerical:
        if not pd.api.types.is_numeric_dtype(adata.obs[name].dtype):
            raise ValueError(f"Numerical covariate {name!r} (obs column of dtype "
                             f"{adata.obs[name].dtype}) is not numeric; declare "
                             "it categorical.")
    genes = _densify(_matrix(adata, layer), copy_dense=copy_dense)
    index = pd.Index(adata.obs_names)
    frame = pd.DataFrame(genes, index=index, columns=var_names, copy=False)
    for name in names:  # adding columns leaves the gene block as it is
        frame[name] = adata.obs[name].array.copy()
    spec = ([(c, "categorical", [c]) for c in categorical]
            + [(c, "numerical", [c]) for c in numerical])
    return Bunch(
        frame=frame,
        covariate_spec=spec or None,
        gene_names=np.asarray(var_names, dtype=object),
        covariate_names=names,
        sample_ids=np.asarray(index, dtype=object),
    )


def _aligned(values, adata, what):
    """``values`` as an (n_obs, n_vars) float ndarray in the order of adata."""
    n_obs, n_vars = adata.n_obs, adata.n_vars
    if hasattr(values, "iloc"):  # a DataFrame: select the genes by name
        var_names = pd.Index(adata.var_names)
        columns = pd.Index(values.columns)
        missing = var_names.difference(columns)
        if len(missing):
            raise ValueError(f"{what} lacks {len(missing)} gene(s) of the AnnData "
                             f"(first: {missing[:3].tolist()}).")
        index = values.index
        if not isinstance(index, pd.RangeIndex) and not index.equals(
                pd.Index(adata.obs_names)):
            if len(index) != n_obs or index.has_duplicates or len(
                    index.difference(adata.obs_names)):
                raise ValueError(f"The index of {what} is not the obs_names of "
                                 "the AnnData.")
            values = values.loc[adata.obs_names]
        values = values.loc[:, var_names].to_numpy()
    else:
        values = np.asarray(values)
    if values.shape != (n_obs, n_vars):
        raise ValueError(f"{what} has shape {values.shape}; the AnnData has "
                         f"{n_obs} obs x {n_vars} vars (give a DataFrame with "
                         "gene columns when it has more columns, such as passed "
                         "through covariates).")
    if values.dtype.kind != "f":
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be numeric; got dtype "
                             f"{values.dtype}.") from None
    return values


def _check_observed(observed, imputed):
    """Fail when ``imputed`` differs from ``observed`` on an observed entry."""
    n_rows, n_columns = imputed.shape
    step = _block_rows(n_columns)
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        seen = _dense_block(observed[start:stop], _float_dtype(observed))
        known = ~np.isnan(seen)
        differ = known & (seen != imputed[start:stop])
        if differ.any():
            row, column = np.argwhere(differ)[0]
            raise ValueError(
                f"The imputed matrix differs from the observed one on "
                f"{int(differ.sum())} observed entries of rows {start}-{stop - 1} "
                f"(first: row {start + row}, column {column}): is it in the "
                "order of the AnnData (rows obs_names, columns var_names)? "
                "An imputer returns the observed entries unchanged.")


@validate_params(
    {
        "adata": [str, os.PathLike, _ANNDATA],
        "imputed": ["array-like"],
        "path": [str, os.PathLike, None],
        "layer": [str, None],
        "observed_layer": [str],
        "lower": ["array-like", None],
        "upper": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def write_anndata(adata, imputed, path=None, *, layer=None,
                  observed_layer="observed", lower=None, upper=None):
    """Put an imputed matrix into ``X`` of a new AnnData and optionally save it.

    The result is ``adata`` with ``X`` replaced by ``imputed`` and the
    observed matrix (``X`` of ``adata``, or its layer ``layer``) kept in
    ``layers[observed_layer]``: ``obs``, ``var``, ``uns``, ``obsm``,
    ``varm``, ``obsp``, ``varp`` and the other layers are kept. Interval
    bounds, when given, go to ``layers["lower"]`` and ``layers["upper"]``.

    .. versionadded:: 0.1

    Parameters
    ----------
    adata : anndata.AnnData, str or path-like
        The AnnData (or ``.h5ad`` file) that the observed matrix was read
        from, with :func:`read_anndata`. It is not modified.
    imputed : DataFrame or ndarray of shape (n_obs, n_vars)
        The imputed matrix. A DataFrame is matched by its gene columns (other
        columns, such as covariates passed through, are ignored) and, unless
        it has a RangeIndex, by its index (the ``obs_names``); an ndarray must
        be in the order of ``adata``.
    path : str or path-like, default=None
        Where to write the result as ``.h5ad``; ``None`` writes nothing.
    layer : str, default=None
        The layer the observed matrix was read from; ``None`` means ``X``.
        The layer stays as it is; ``X`` of ``adata``, replaced by the imputed
        matrix, is then kept in ``layers["X_original"]``.
    observed_layer : str, default="observed"
        The layer that receives the observed matrix.
    lower, upper : DataFrame or ndarray of shape (n_obs, n_vars), default=None
        Bounds of per-entry intervals, aligned like ``imputed``; stored in
        ``layers["lower"]`` and ``layers["upper"]``.

    Returns
    -------
    result : anndata.AnnData
        The new AnnData. It shares its layers and its ``obsm``, ``varm``,
        ``obsp`` and ``varp`` arrays with ``adata`` (nothing large is
        copied): call ``result.copy()`` for an independent object.

    Raises
    ------
    ValueError
        When ``imputed`` differs from the observed matrix on an observed
        (non-NaN) entry, which means it is misaligned: the imputers return
        the observed entries unchanged. Also when a layer it would write
        already exists.

    See Also
    --------
    read_anndata : read an AnnData as input for the imputers.

    Notes
    -----
    The observed matrix is stored as it was (a sparse ``X`` stays sparse), so
    its entries are bit-identical through the round trip, and so are the
    observed entries of the new ``X``. The comparison with the observed
    matrix densifies it a block of rows at a time.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> import anndata
    >>> from skimpute_gtex.io import read_anndata, write_anndata
    >>> adata = anndata.AnnData(
    ...     np.array([[1.0, np.nan], [0.5, 1.5]]),
    ...     obs=pd.DataFrame(index=["s1", "s2"]),
    ...     var=pd.DataFrame(index=["g1", "g2"]))
    >>> data = read_anndata(adata)
    >>> imputed = data.frame.fillna(1.5)          # stands for an imputer
    >>> result = write_anndata(adata, imputed)
    >>> result.X
    array([[1. , 1.5],
           [0.5, 1.5]])
    >>> result.layers["observed"]
    array([[1. , nan],
           [0.5, 1.5]])
    """
    anndata = _import_anndata()
    if isinstance(adata, (str, os.PathLike)):
        _check_path(adata)
        adata = anndata.read_h5ad(adata)
    elif not isinstance(adata, anndata.AnnData):
        raise TypeError("adata must be an AnnData object or a path to an .h5ad "
                        f"file; got {type(adata).__name__}.")
    elif adata.isbacked:
        adata = adata.to_memory()
    observed = _matrix(adata, layer)
    imputed = _aligned(imputed, adata, "imputed")
    _check_observed(observed, imputed)
    layers = dict(adata.layers)
    new = {observed_layer: observed}
    if layer is not None and adata.X is not None:
        new["X_original"] = adata.X
    if lower is not None:
        new["lower"] = _aligned(lower, adata, "lower")
    if upper is not None:
        new["upper"] = _aligned(upper, adata, "upper")
    for name in new:
        if name in layers and not (name == observed_layer and name == layer):
            raise ValueError(f"The AnnData already has a layer {name!r}; "
                             "choose another observed_layer, or remove it.")
    layers.update(new)
    result = anndata.AnnData(
        X=imputed,
        obs=_plain_strings(adata.obs),
        var=_plain_strings(adata.var),
        uns=copy.deepcopy(dict(adata.uns)),
        obsm=dict(adata.obsm),
        varm=dict(adata.varm),
        obsp=dict(adata.obsp),
        varp=dict(adata.varp),
        layers=layers,
    )
    if path is not None:
        result.write_h5ad(path)
    return result

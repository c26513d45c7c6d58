"""Covariate specs: ColumnTransformer-style column selection and encoding.

A spec is a list of ``(name, kind, columns)`` triples, ``kind`` being
``"categorical"`` or ``"numerical"``. ``columns`` selects columns of X the way
:class:`~sklearn.compose.ColumnTransformer` does: a str or list of str (column
names, DataFrames only), an int or list of int, a boolean mask, a slice, or a
callable ``X -> any of those`` such as
:func:`~sklearn.compose.make_column_selector`.
"""

import numpy as np
import pandas as pd

KINDS = ("categorical", "numerical")


def _is_str_list(obj):
    return isinstance(obj, (list, tuple, np.ndarray)) and all(
        isinstance(v, str) for v in obj
    )


def _feature_names(X):
    columns = getattr(X, "columns", None)
    return None if columns is None else np.asarray(columns, dtype=object)


def resolve_columns(X, columns, n_features, name):
    """Indices of the columns of X that ``columns`` selects (sorted as given)."""
    if callable(columns):
        columns = columns(X)
    names = _feature_names(X)
    if isinstance(columns, str) or _is_str_list(columns) or (
        isinstance(columns, slice)
        and (isinstance(columns.start, str) or isinstance(columns.stop, str))
    ):
        if names is None or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"Covariate {name!r} selects columns by name ({columns!r}), which "
                "needs X to be a pandas DataFrame with string column names."
            )
        position = {n: i for i, n in enumerate(names)}
        if isinstance(columns, slice):
            start = 0 if columns.start is None else position.get(columns.start)
            stop = (
                n_features - 1 if columns.stop is None
                else position.get(columns.stop)
            )
            if start is None or stop is None:
                raise ValueError(
                    f"Covariate {name!r}: slice {columns!r} names a column not in X."
                )
            return np.arange(start, stop + 1)  # label slices include the end
        wanted = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in wanted if c not in position]
        if unknown:
            raise ValueError(
                f"Covariate {name!r}: column(s) {unknown} not found in X. "
                f"Available columns start with {list(names[:10])}."
            )
        return np.array([position[c] for c in wanted], dtype=np.intp)
    if isinstance(columns, slice):
        return np.arange(n_features)[columns]
    arr = np.asarray(columns)
    if arr.dtype == bool:
        if arr.shape != (n_features,):
            raise ValueError(
                f"Covariate {name!r}: a boolean mask must have one entry per "
                f"column of X ({n_features}); got shape {arr.shape}."
            )
        return np.flatnonzero(arr)
    if arr.ndim <= 1 and (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        idx = np.atleast_1d(arr).astype(np.intp)
        if np.any((idx < -n_features) | (idx >= n_features)):
            raise ValueError(
                f"Covariate {name!r}: column index out of range for X with "
                f"{n_features} columns: {idx.tolist()}."
            )
        return idx % n_features if idx.size else idx
    raise ValueError(
        f"Covariate {name!r}: columns must be a str, list of str, int, list of int, "
        f"boolean mask, slice or callable; got {columns!r}."
    )


def validate_spec(covariates):
    """Check the structure of a ``covariates`` parameter; return it as a list."""
    if covariates is None:
        return []
    if not isinstance(covariates, (list, tuple)):
        raise ValueError(
            "covariates must be None or a list of (name, kind, columns) tuples; "
            f"got {type(covariates).__name__}."
        )
    seen = set()
    for item in covariates:
        if not (isinstance(item, (list, tuple)) and len(item) == 3):
            raise ValueError(
                "Each covariate must be a (name, kind, columns) tuple; got "
                f"{item!r}."
            )
        name, kind, _ = item
        if not isinstance(name, str) or name in seen:
            raise ValueError(f"Covariate names must be unique strings; got {name!r}.")
        if kind not in KINDS:
            raise ValueError(
                f"Covariate {name!r}: kind must be 'categorical' or 'numerical'; "
                f"got {kind!r}."
            )
        seen.add(name)
    return list(covariates)


def resolve_spec(X, covariates, n_features):
    """Resolve a spec into ``[(name, kind, indices)]``; columns may not overlap."""
    resolved = []
    used = {}
    for name, kind, columns in validate_spec(covariates):
        idx = resolve_columns(X, columns, n_features, name)
        if idx.size == 0:
            raise ValueError(f"Covariate {name!r} selects no column of X.")
        for i in idx:
            if i in used:
                raise ValueError(
                    f"Column {i} is selected by both covariates {used[i]!r} and "
                    f"{name!r}."
                )
            used[i] = name
        resolved.append((name, kind, idx))
    return resolved


def take_columns(X, idx):
    """Columns ``idx`` of X: a DataFrame for a DataFrame, else an ndarray."""
    if hasattr(X, "iloc"):
        return X.iloc[:, idx]
    return np.asarray(X)[:, idx] if np.ndim(X) == 2 else np.asarray(X)


#: the category of a missing covariate value (NaN, None, pd.NA, NaT), the same
#: in Python and in the CLI (where a CSV's empty and "NA" cells are missing)
MISSING_CATEGORY = "NA"


def as_categories(values):
    """Covariate values as strings; a missing value is the category ``"NA"``."""
    arr = np.asarray(values, dtype=object)
    out = arr.astype(str)
    missing = np.asarray(pd.isna(arr), dtype=bool)
    if missing.any():
        out[missing] = MISSING_CATEGORY
    return out


def encode_categorical(column, categories):
    """Codes 1..len(categories) for known values, 0 for unseen ones."""
    values = as_categories(column)
    pos = np.searchsorted(categories, values)
    pos = np.clip(pos, 0, len(categories) - 1)
    known = categories[pos] == values
    return np.where(known, pos + 1, 0), values[~known]

"""The covariates of a command: from ``--covariates FILE`` or the matrix file."""

import pandas as pd

from .._covariates import MISSING_CATEGORY
from ._io import CLIError, _NoSuchColumns, _read_table, read_input


def _covariate_frame(table, categorical, numerical, where):
    """The covariate columns as the imputers get them, and their spec.

    Categorical values become strings (a missing value is the category
    ``"NA"``); numerical ones floats, with no missing value.
    """
    cov = table.loc[:, categorical + numerical].copy()
    for c in categorical:
        cov[c] = cov[c].map(
            lambda v: MISSING_CATEGORY if pd.isna(v) else str(v)).astype(object)
    for c in numerical:
        try:
            cov[c] = cov[c].astype(float)
        except (TypeError, ValueError):
            raise CLIError(f"{where}: numerical covariate {c!r} is not numeric; "
                           "declare it with --categorical.") from None
        if cov[c].isna().any():
            raise CLIError(f"{where}: numerical covariate {c!r} has missing values; "
                           "fill them or declare it with --categorical.")
    spec = ([(c, "categorical", [c]) for c in categorical]
            + [(c, "numerical", [c]) for c in numerical])
    return cov, spec


def read_covariates(path, samples, *, sample_column=None, categorical=None,
                    numerical=None):
    """Covariate columns for ``samples`` and the matching ``covariates=`` spec."""
    table, _ = _read_table(path)
    table.columns = table.columns.astype(str)
    key = sample_column or table.columns[0]
    if key not in table.columns:
        raise CLIError(f"{path}: no sample id column {key!r}; columns: "
                       f"{list(table.columns)[:10]}")
    table = table.set_index(table[key].astype(str)).drop(columns=key)
    if categorical is None and numerical is None:
        categorical = [c for c in table.columns
                       if not pd.api.types.is_numeric_dtype(table[c])]
        numerical = [c for c in table.columns if c not in categorical]
    categorical, numerical = list(categorical or []), list(numerical or [])
    unknown = [c for c in categorical + numerical if c not in table.columns]
    if unknown:
        raise CLIError(f"{path}: covariate column(s) not found: {unknown}; "
                       f"columns: {list(table.columns)[:20]}")
    missing = pd.Index(samples).difference(table.index)
    if len(missing):
        raise CLIError(
            f"{path}: {len(missing)} sample(s) of the matrix have no covariates "
            f"(first: {missing[:3].tolist()})."
        )
    return _covariate_frame(table.loc[list(samples)], categorical, numerical, path)


def _join(matrix, cov):
    clash = set(matrix.columns) & set(cov.columns)
    if clash:
        raise CLIError(f"covariate column(s) {sorted(clash)} are also gene names.")
    return pd.concat([matrix, cov.set_axis(matrix.index)], axis=1)


def _spec_columns(spec, kind):
    return [c for _, k, cols in spec if k == kind
            for c in ([cols] if isinstance(cols, str) else cols)]


def _load_input(args, spec_from=None):
    """``(matrix, covariates, spec)`` for the command.

    The covariates come from ``--covariates FILE`` when given, else from the
    columns (``obs`` columns of an ``.h5ad``) of the matrix file that
    ``--categorical``/``--numerical`` name, or that the saved model's spec
    (``spec_from``) names.
    """
    if spec_from is not None:  # a saved model decides the covariates
        categorical = _spec_columns(spec_from, "categorical")
        numerical = _spec_columns(spec_from, "numerical")
    else:
        categorical, numerical = args.categorical, args.numerical
    in_matrix = (not args.covariates) and bool(categorical or numerical)
    columns = list(categorical or []) + list(numerical or [])
    try:
        matrix, raw = read_input(
            args.input, genes_as_rows=args.genes_as_rows, index_col=args.index_col,
            no_index=args.no_index, layer=args.layer,
            covariate_columns=columns if in_matrix else ())
    except _NoSuchColumns as exc:
        if spec_from is None:
            raise
        raise CLIError(f"the model needs the covariates {columns}, and "
                       f"{exc.path} lacks {exc.unknown} ({exc.listing}): give "
                       "them as columns of the matrix file or pass --covariates "
                       "FILE.") from None
    if args.covariates and args.no_index and not args.genes_as_rows:
        raise CLIError(f"--covariates are matched to the samples by id, and "
                       f"{args.input} has none (--no-index).")
    cov = spec = None
    if args.covariates:
        if spec_from is not None and not columns:
            pass  # the model uses no covariates: the file is not needed
        else:
            cov, spec = read_covariates(
                args.covariates, matrix.index, sample_column=args.sample_column,
                categorical=categorical, numerical=numerical)
    elif in_matrix:
        cov, spec = _covariate_frame(raw, list(categorical or []),
                                     list(numerical or []), args.input)
    if spec_from is not None:
        spec = None
    return matrix, cov, spec

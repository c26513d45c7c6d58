"""Command line interface: ``skimpute-gtex`` (or ``python -m skimpute_gtex``).

Subcommands:

``demo``
    Compare PMIImputer, KNNImputer (with the same covariates, one-hot) and the
    tissue median on synthetic GTEx-like data, in place and inductively.
``fit``
    Fit an imputer on an expression matrix (its covariates given as columns of
    the matrix file, ``obs`` columns of an ``.h5ad``, or in a separate table)
    and save it with joblib.
``impute``
    Impute a matrix, in place (fit PMI on it) or with a saved model.
``benchmark``
    Run the benchmark harness (the options of ``benchmarks/bench_imputers.py``),
    writing to ``--output-dir`` (default: a new timestamped folder in the
    current directory) and never over existing results without
    ``--overwrite``.

A CSV/TSV/Parquet matrix has its ids (of the samples, or of the genes with
``--genes-as-rows``) in its first column when the file marks that column as
row names or it holds distinct strings. Otherwise the first column may be a
gene, and the command stops and asks for ``--index-col NAME|N`` or
``--no-index``: it never guesses.

An ``.h5ad`` file (AnnData, with the optional ``anndata`` package) is read
with :func:`skimpute_gtex.io.read_anndata` (samples are ``obs``, genes
``var``, ``--layer`` or ``X``) and written with
:func:`skimpute_gtex.io.write_anndata` (imputed ``X``, the observed matrix in
``layers["observed"]``).

Every subcommand returns 0 on success and 2, with a one-line message on
stderr, on a user error (missing file, unknown format, unknown covariate
column, genes that do not match a saved model, training options given with a
saved model). Warnings are printed as one line ``warning: ...``.
"""

import argparse
import difflib
import os
import sys
import time
import warnings
from contextlib import contextmanager, redirect_stdout

import numpy as np
import pandas as pd

from . import __version__
from ._covariates import MISSING_CATEGORY

#: read every float of a CSV as written: pandas < 3 parses some a bit off
#: unless asked for round_trip, pandas 3 does by default (and deprecates it)
_EXACT_FLOATS = ({} if int(pd.__version__.split(".")[0]) >= 3
                 else {"float_precision": "round_trip"})


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class _NoSuchColumns(CLIError):
    """Covariate columns that the matrix file lacks."""

    def __init__(self, path, unknown, table):
        self.path, self.unknown = path, unknown
        text = [str(c) for c, t in table.dtypes.items()
                if not pd.api.types.is_numeric_dtype(t)]
        close = sorted({m for u in unknown
                        for m in difflib.get_close_matches(u, map(str, table), 3)})
        self.listing = (f"{table.shape[1]} columns; non-numeric: {text[:5]}"
                        f"{' ...' if len(text) > 5 else ''}"
                        f"{f'; did you mean {close}?' if close else ''}")
        super().__init__(
            f"{path}: covariate column(s) {unknown} not found in the matrix file "
            f"({self.listing}); name columns of this file, or give the "
            "covariates in --covariates FILE.")


# -------------------------------------------------------------------- input
def _kind(path):
    name = os.fspath(path).lower()
    if name.endswith(".h5ad"):
        return "h5ad"
    for ext in (".gz", ".bz2", ".xz", ".zip"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    if name.endswith(".h5ad"):
        raise CLIError(f"{path}: a compressed .h5ad cannot be read; decompress it "
                       "(an .h5ad file has its own compression).")
    for kind, exts in (("csv", (".csv",)), ("tsv", (".tsv", ".txt", ".tab")),
                       ("parquet", (".parquet", ".pq")), ("gct", (".gct",))):
        if name.endswith(exts):
            return kind
    raise CLIError(
        f"{path}: unknown file format; use .csv, .tsv/.txt, .parquet, .gct "
        "(optionally .gz) or .h5ad."
    )


def _need_parquet(path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        try:
            import fastparquet  # noqa: F401
        except ImportError:
            raise CLIError(
                f"{path}: reading or writing Parquet needs pyarrow "
                "(pip install pyarrow); or use CSV/TSV."
            ) from None


def _read_table(path):
    """A CSV/TSV/Parquet table with a RangeIndex, and whether it has row names.

    ``row_names`` is True when the file itself marks its first column as row
    names: the header has no name for it (R's ``write.table`` leaves the cell
    out, pandas' ``to_csv`` and R's ``write.csv`` leave it empty), or the
    Parquet file stores an index. That column is then the first of ``table``.
    """
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file.")
    kind = _kind(path)
    if kind == "gct":
        raise CLIError(f"{path}: a GCT file is an expression matrix, not a table.")
    try:
        if kind == "parquet":
            _need_parquet(path)
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, sep="," if kind == "csv" else "\t",
                                **_EXACT_FLOATS)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read it as {kind.upper()}: {exc}") from None
    if isinstance(table.index, pd.RangeIndex):
        # pandas names an empty header cell "Unnamed: 0"
        return table, bool(table.shape[1]) and str(table.columns[0]) == "Unnamed: 0"
    # a header one name short (pandas then reads the first column as the
    # index), or an index stored in a Parquet file
    if isinstance(table.index, pd.MultiIndex):
        raise CLIError(f"{path}: the header names {table.shape[1]} columns but the "
                       "rows have more; is the separator right?")
    name = table.index.name
    table = table.reset_index(names="" if name is None else name)
    return table, True


def _column(table, spec, path):
    """The column that ``--index-col`` names: a column name or a 0-based position."""
    names = [str(c) for c in table.columns]
    if spec in names:
        return table.columns[names.index(spec)]
    if spec.isdigit() and int(spec) < len(names):
        return table.columns[int(spec)]
    raise CLIError(f"{path}: --index-col {spec!r} is neither a column name nor a "
                   f"position below {len(names)}; columns: {names[:5]}"
                   f"{' ...' if len(names) > 5 else ''}")


def _ambiguous_first_column(table, what):
    """Why the first column may be data rather than the ids, or None."""
    first = table.iloc[:, 0]
    name = str(table.columns[0])
    if pd.api.types.is_numeric_dtype(first):
        return f"its first column {name!r} is numeric"
    numbers = pd.to_numeric(first, errors="coerce")
    if numbers.notna().sum() > first.notna().sum() / 2:
        text = np.flatnonzero((numbers.isna() & first.notna()).to_numpy())
        if not len(text):
            return f"its first column {name!r} holds numbers (stored as text)"
        return (f"its first column {name!r} is numeric but for "
                f"{first.iloc[text[0]]!r} in data row {text[0] + 1}")
    if first.isna().any():
        rows = (np.flatnonzero(first.isna().to_numpy()) + 1).tolist()
        return f"its first column {name!r} has empty cells (data rows {rows[:5]})"
    if first.duplicated().any():
        dup = first[first.duplicated()].unique().tolist()
        return (f"its first column {name!r} repeats values ({dup[:5]}), so it "
                f"cannot be the {what} ids")
    return None


def _check_ids(index, path, what):
    if index.isna().any():
        rows = (np.flatnonzero(index.isna()) + 1).tolist()
        raise CLIError(f"{path}: empty {what} ids in data rows {rows[:5]}.")
    if index.duplicated().any():
        dup = index[index.duplicated()].unique().tolist()
        raise CLIError(f"{path}: duplicated {what} ids: {dup[:5]}")


def _text_cells(table, columns):
    """Boolean frame: the cells of ``columns`` that hold text, not numbers."""
    return pd.DataFrame({c: (pd.to_numeric(table[c], errors="coerce").isna()
                             & table[c].notna()).to_numpy() for c in columns},
                        index=table.index)


def _text_hint(table, bad, *, genes_as_rows, row_ids):
    """Why the columns ``bad`` may hold text, as a parenthesised hint, or ''."""
    text = _text_cells(table, bad)
    rows = text.any(axis=1).to_numpy()
    n_rows, n_columns = table.shape
    names = f"{bad[:5]}{' ...' if len(bad) > 5 else ''}"
    # transposed: a few rows (annotations such as tissue) carry the text of
    # most columns, where a samples x genes file has it in a few columns
    if len(bad) >= 2 and len(bad) > n_columns / 2 and rows.sum() <= n_rows / 2:
        which = (table.index[rows] if row_ids else np.flatnonzero(rows) + 1)
        which = [str(w) for w in which[:5]]
        if genes_as_rows:
            return (f" (rows {which} hold text in {len(bad)} of {n_columns} "
                    "sample columns: covariates given as rows of a genes x "
                    "samples file are not read; give them in --covariates FILE, "
                    "or as columns of a samples x genes file named by "
                    "--categorical/--numerical)")
        return (f" (rows {which} hold text in {len(bad)} of {n_columns} "
                "columns, as annotation rows of a genes x samples file would: "
                "wrong orientation? See --genes-as-rows; give covariates in "
                "--covariates FILE or as columns of a samples x genes file)")
    # columns of text: covariates (samples as rows) or annotations
    wordy = [c for c in bad if text[c].sum() >= table[c].notna().sum() / 2]
    if wordy:
        listed = f"{wordy[:5]}{' ...' if len(wordy) > 5 else ''}"
        if genes_as_rows:
            return (f" (column(s) {listed} hold text rather than a sample's "
                    "values: drop annotation columns such as a description; if "
                    "the file is samples x genes with covariate columns, leave "
                    "out --genes-as-rows and name them with "
                    "--categorical/--numerical)")
        return (f" (column(s) {listed} hold text: to use them as covariates, "
                "name them with --categorical (or --numerical), or give the "
                "covariates in --covariates FILE)")
    if len(bad) > 1:
        return f" ({len(bad)} columns are not numeric: {names})"
    return ""


def _check_numeric(table, path, row_what, column_what, *, row_ids,
                   genes_as_rows=False):
    """Fail on the first non-numeric cell, naming its row and value."""
    bad = [c for c, t in table.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if not bad:
        return
    column = table[bad[0]]
    numbers = pd.to_numeric(column, errors="coerce")
    rows = np.flatnonzero((numbers.isna() & column.notna()).to_numpy())
    cell = ""
    if len(rows):
        where = f"data row {rows[0] + 1}"
        if row_ids:
            where = f"{row_what} {table.index[rows[0]]!r} ({where})"
        cell = f": {where} has {column.iloc[rows[0]]!r}"
    hint = _text_hint(table, bad, genes_as_rows=genes_as_rows, row_ids=row_ids)
    raise CLIError(f"{path}: {column_what} {bad[0]!r} is not numeric{cell}{hint}.")


def read_matrix(path, *, genes_as_rows=False, index_col=None, no_index=False,
                layer=None):
    """Samples x genes DataFrame (index: sample ids, columns: gene ids).

    The first column of a CSV, TSV or Parquet file holds the ids (of the
    samples, or of the genes with ``genes_as_rows``) when the file marks it as
    row names or when it is a column of distinct strings. ``index_col`` (a
    name or a 0-based position) names the id column; ``no_index`` says there
    is none (the ids are then the row numbers). A first column that could be
    data is an error that asks for one of the two: it is never guessed. An
    ``.h5ad`` file gives its ``X`` (or ``layer``), ``obs_names`` x
    ``var_names``, in its own float dtype.
    """
    return read_input(path, genes_as_rows=genes_as_rows, index_col=index_col,
                      no_index=no_index, layer=layer)[0]


def _read_h5ad(path, columns, *, genes_as_rows, index_col, no_index, layer):
    """The genes of an ``.h5ad`` file, and its ``obs`` columns ``columns``."""
    if genes_as_rows or index_col is not None or no_index:
        raise CLIError(f"{path}: --genes-as-rows, --index-col and --no-index do "
                       "not apply to .h5ad files (samples are obs, genes var).")
    try:
        from .io import read_anndata

        # as categorical: the obs columns as they are, converted below
        data = read_anndata(path, layer=layer, categorical=list(columns))
    except ImportError as exc:
        raise CLIError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise CLIError(f"{path}: {exc}") from None
    n_genes = len(data.gene_names)
    raw = data.frame.iloc[:, n_genes:] if columns else None
    return data.frame.iloc[:, :n_genes], raw


def read_input(path, *, genes_as_rows=False, index_col=None, no_index=False,
               layer=None, covariate_columns=()):
    """``(matrix, covariates)``: ``read_matrix``, less the columns that are covariates.

    ``covariate_columns`` names columns of the matrix file itself (samples as
    rows) or ``obs`` columns of an ``.h5ad`` file; they are returned as they
    were read (``None`` without them), and every other column is a gene.
    """
    columns = list(covariate_columns)
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file.")
    kind = _kind(path)
    if layer is not None and kind != "h5ad":
        raise CLIError(f"{path}: --layer applies to .h5ad files only.")
    if kind == "h5ad":
        return _read_h5ad(path, columns, genes_as_rows=genes_as_rows,
                          index_col=index_col, no_index=no_index, layer=layer)
    if kind == "gct":
        if index_col is not None or no_index:
            raise CLIError(f"{path}: --index-col and --no-index do not apply to GCT "
                           "files (their ids are the Name column and the header).")
        if columns:
            raise CLIError(f"{path}: a GCT file holds no covariates {columns}: "
                           "give them in --covariates FILE.")
        from .datasets import read_gct

        try:
            return read_gct(path).expression, None  # GCT is genes x samples
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    if columns and genes_as_rows:
        raise CLIError(f"{path}: with --genes-as-rows the covariates {columns} "
                       "cannot be columns of the matrix file (its columns are "
                       "samples): give them in --covariates FILE.")
    what, other = ("gene", "sample") if genes_as_rows else ("sample", "gene")
    table, row_names = _read_table(path)
    if not table.shape[1]:
        raise CLIError(f"{path}: the file has no columns.")
    marked = (f"the file marks its first column {str(table.columns[0])!r} as "
              "row names (no name for it in the header, or a Parquet index)")
    if no_index:
        if row_names:
            raise CLIError(f"{path}: --no-index, but {marked}; use --index-col 0, "
                           "or name that column in the header.")
    else:
        if index_col is not None:
            key = _column(table, index_col, path)
            if row_names and key != table.columns[0]:
                raise CLIError(f"{path}: --index-col {index_col!r}, but {marked}; "
                               "use --index-col 0.")
        else:
            key = table.columns[0]
            why = None if row_names else _ambiguous_first_column(table, what)
            if why is not None:
                raise CLIError(
                    f"{path}: {why}: is it a {other} rather than the {what} ids? "
                    f"If the file has no {what} id column (pandas "
                    "to_csv(index=False), R row.names=FALSE), pass --no-index; "
                    f"if that column holds the {what} ids, pass --index-col 0.")
        table = table.set_index(key)
        if row_names and str(key) in ("", "Unnamed: 0"):
            table.index.name = None
        _check_ids(table.index, path, what)
    table.index = table.index.astype(str)
    table.columns = table.columns.astype(str)
    raw = None
    if columns:
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise _NoSuchColumns(path, unknown, table)
        raw = table[columns]
        table = table.drop(columns=columns)
        if not table.shape[1]:
            raise CLIError(f"{path}: every column is a covariate: there is no "
                           "gene to impute.")
    _check_numeric(table, path, what, other, row_ids=not no_index,
                   genes_as_rows=genes_as_rows)
    if genes_as_rows:
        table = table.T
    return table.astype(np.float64), raw


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


def _write_matrix(df, path, *, genes_as_rows=False, index=True):
    """Write ``df`` (samples x genes); ``index=False`` leaves the row ids out."""
    kind = _kind(path)
    if genes_as_rows:
        df = df.T
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"{path}: directory {directory} does not exist.")
    if kind == "csv":
        df.to_csv(path, index=index)
    elif kind == "tsv":
        df.to_csv(path, sep="\t", index=index)
    elif kind == "parquet":
        _need_parquet(path)
        df.to_parquet(path, index=index)
    else:
        raise CLIError(f"{path}: output must be .csv, .tsv, .parquet or .h5ad.")


def _check_output(path):
    """Fail before any work on an output format that cannot be written."""
    kind = _kind(path)
    if kind == "gct":
        raise CLIError(f"{path}: output must be .csv, .tsv, .parquet or .h5ad.")
    if kind == "h5ad":
        try:
            from .io._anndata import _import_anndata

            _import_anndata()
        except ImportError as exc:
            raise CLIError(f"{path}: {exc}") from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"{path}: directory {directory} does not exist.")


def _write_h5ad(result, path, *, args, matrix, cov, same_genes):
    """Write ``result`` as an ``.h5ad``: imputed ``X``, observed layer, annotations.

    From an ``.h5ad`` input with its genes unchanged, everything of the input
    is kept (``obs``, ``var``, ``uns``, other layers); otherwise ``obs`` is
    the covariates (and the input's ``obs`` for an ``.h5ad``), ``var`` the
    genes.
    """
    import anndata

    from .io import write_anndata

    if _kind(args.input) == "h5ad" and same_genes:
        write_anndata(args.input, result, path, layer=args.layer)
        return
    obs, uns = pd.DataFrame(index=matrix.index), {}
    if _kind(args.input) == "h5ad":  # aligned to a model's genes
        source = anndata.read_h5ad(args.input, backed="r")
        try:
            obs, uns = source.obs.copy(), dict(source.uns)
        finally:
            source.file.close()
    elif cov is not None:
        obs = cov.set_axis(matrix.index)
    observed = anndata.AnnData(X=matrix.to_numpy(), obs=obs, uns=uns,
                               var=pd.DataFrame(index=matrix.columns))
    write_anndata(observed, result, path)


def _progress(verbose):
    """The estimators print progress on stdout: send it to stderr instead."""
    return redirect_stdout(sys.stderr)


@contextmanager
def _threads(threads):
    """``torch.set_num_threads(threads)`` for the command, restored afterwards."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise CLIError("--threads must be >= 1.")
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------- commands
#: the training options (dest, option, default); their parser default is None,
#: so that ``impute --model-file`` can tell which ones were given
_TRAINING_OPTIONS = (("model", "--model", "pmi"), ("max_iter", "--max-iter", 300),
                     ("hidden_layer_sizes", "--hidden-layer-sizes", None),
                     ("batch_size", "--batch-size", None),
                     ("device", "--device", "auto"),
                     ("random_state", "--random-state", 0),
                     ("categorical", "--categorical", None),
                     ("numerical", "--numerical", None))


def _option(args, dest):
    value = getattr(args, dest)
    if value is None:
        return next(d for k, _, d in _TRAINING_OPTIONS if k == dest)
    return value


def _make_model(args, spec):
    from . import GAINImputer, PMIImputer

    cls = PMIImputer if _option(args, "model") == "pmi" else GAINImputer
    params = dict(covariates=spec, max_iter=_option(args, "max_iter"),
                  device=_option(args, "device"),
                  random_state=_option(args, "random_state"), verbose=args.verbose)
    if args.hidden_layer_sizes:
        params["hidden_layer_sizes"] = tuple(args.hidden_layer_sizes)
    if args.batch_size:
        params["batch_size"] = args.batch_size
    return cls(**params)


def cmd_fit(args):
    import joblib

    matrix, cov, spec = _load_input(args)
    X = matrix if cov is None else _join(matrix, cov)
    model = _make_model(args, spec)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise CLIError(f"{args.output}: directory {out_dir} does not exist.")
    with _progress(args.verbose):
        model.fit(X)
    joblib.dump(model, args.output)
    print(f"fitted {type(model).__name__} on {matrix.shape[0]} samples x "
          f"{matrix.shape[1]} genes{_with_covariates(spec)} ({model.n_iter_} "
          f"epochs); saved {args.output}", file=sys.stderr)
    return 0


def _with_covariates(spec):
    if not spec:
        return ", no covariates"
    return ", covariates " + ", ".join(f"{name} ({kind})" for name, kind, _ in spec)


def _model_genes(model):
    names = np.asarray(model.feature_names_in_, dtype=object)
    cov = set(names[model.covariate_indices_].tolist())
    return [n for n in names if n not in cov]


def _load_model(path):
    import joblib

    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file.")
    try:
        model = joblib.load(path)
    except (ImportError, AttributeError) as exc:  # a class that moved or is gone
        raise CLIError(f"{path}: cannot load the model: saved with another version "
                       f"of skimpute_gtex or its dependencies? ({exc})") from None
    except Exception:  # any other unpickling failure: not a joblib file at all
        raise CLIError(f"{path}: not a saved model: joblib cannot read it (a model "
                       "file is what 'skimpute-gtex fit -o FILE' writes).") from None
    if not hasattr(model, "feature_names_in_"):
        raise CLIError(f"{path}: not a saved model: it holds a "
                       f"{type(model).__name__}, not an imputer written by "
                       "'skimpute-gtex fit'.")
    return model


def cmd_impute(args):
    _check_output(args.output)
    if args.model_file:
        given = [opt for dest, opt, _ in _TRAINING_OPTIONS
                 if getattr(args, dest) is not None]
        if given:
            raise CLIError(
                f"{' '.join(given)}: training option(s) that a saved model "
                "(--model-file) does not use: it imputes as it was fitted, with "
                "its own covariates. Drop them, or fit a new model with them.")
        model = _load_model(args.model_file)
        matrix, cov, _ = _load_input(args, spec_from=model.covariates or [])
        genes = _model_genes(model)
        if args.align:
            from .datasets import align_to_genes

            matrix, report = align_to_genes(matrix, reference_genes=genes)
            print(f"aligned: {report.n_matched}/{len(genes)} model genes found, "
                  f"{len(report.extra_genes)} extra genes dropped",
                  file=sys.stderr)
        else:
            missing = [g for g in genes if g not in set(matrix.columns)]
            extra = [g for g in matrix.columns if g not in set(genes)]
            if missing or extra:
                raise CLIError(
                    f"the genes of {args.input} do not match the model: "
                    f"{len(missing)} model gene(s) missing (first: {missing[:3]}), "
                    f"{len(extra)} unknown gene(s) (first: {extra[:3]}). "
                    "Use --align to match Ensembl ids without versions and impute "
                    "the missing genes."
                )
            matrix = matrix[genes]
        X = matrix if cov is None else _join(matrix, cov)
        if args.verbose:
            model.set_params(verbose=args.verbose)
        with _progress(args.verbose):
            out = model.transform(X)
    else:
        matrix, cov, spec = _load_input(args)
        X = matrix if cov is None else _join(matrix, cov)
        model = _make_model(args, spec)
        with _progress(args.verbose):
            out = model.fit_transform(X)
    columns = list(model.get_feature_names_out())
    result = pd.DataFrame(np.asarray(out), index=matrix.index, columns=columns)
    if _kind(args.output) == "h5ad":  # keeps the input's float dtype
        _write_h5ad(result, args.output, args=args, matrix=matrix, cov=cov,
                    same_genes=not (args.model_file and args.align))
    else:
        if model.covariate_output == "drop":
            result = result.astype(np.float64)
        _write_matrix(result, args.output, genes_as_rows=args.genes_as_rows,
                      index=not args.no_index)
    n_missing = int(matrix.isna().to_numpy().sum())
    print(f"imputed {n_missing} missing values in {matrix.shape[0]} samples x "
          f"{matrix.shape[1]} genes{_with_covariates(model.covariates)}; wrote "
          f"{args.output}", file=sys.stderr)
    return 0


def run_demo(*, n_samples=2000, n_genes=500, n_tissues=10, missing_rate=0.5,
             random_state=0, device="cpu", fast=False, out=None, verbose=1):
    """The ``demo`` subcommand as a function; returns the result rows."""
    from sklearn.impute import KNNImputer
    from sklearn.utils import Bunch

    from . import PMIImputer
    from ._benchmark import execute, prepare_run
    from .baselines import CovariateImputer, TissueMedianImputer
    from .datasets import make_gtex_like

    out = out or sys.stdout
    data = make_gtex_like(n_samples, n_genes, n_tissues=n_tissues,
                          random_state=random_state)
    spec = data.covariate_spec
    dataset = Bunch(name="demo", genes=data.expression,
                    covariates=data.covariates[["tissue", "sex", "age"]],
                    covariate_spec=spec,
                    donors=data.covariates["donor"].to_numpy(dtype=object))
    pmi_params = dict(covariates=spec, device=device, random_state=random_state,
                      verbose=verbose)
    if fast:
        pmi_params.update(hidden_layer_sizes=(16,), max_iter=3, early_stopping=False)
    methods = {
        "PMIImputer": lambda: PMIImputer(**pmi_params),
        "KNNImputer (+ one-hot covariates)":
            lambda: CovariateImputer(KNNImputer(), covariates=spec),
        "TissueMedianImputer": lambda: TissueMedianImputer(covariates=spec),
    }
    print(f"make_gtex_like: {n_samples} samples x {n_genes} genes, {n_tissues} "
          f"tissues; {missing_rate:.0%} of the entries hidden at random "
          f"(seed {random_state})", file=out)
    print("inplace: fit_transform on the masked matrix; inductive: fit on the "
          "complete samples of training donors, impute masked samples of other "
          "donors", file=out, flush=True)
    rows = []
    for scenario in ("inplace", "inductive"):
        run = prepare_run(dataset, scenario, random_state, missing_rate)
        for name, make in methods.items():
            if verbose:
                print(f"{scenario}: {name} ...", file=sys.stderr, flush=True)
            with _progress(verbose):
                res = execute(make(), dataset, run)
            rows.append(dict(method=name, scenario=scenario, **res))
    width = max(len(r["method"]) for r in rows)
    print(f"\n{'method':<{width}}  {'scenario':<9}  {'R2 (per gene)':>13}  "
          f"{'time (s)':>8}", file=out)
    for r in rows:
        print(f"{r['method']:<{width}}  {r['scenario']:<9}  {r['r2_mean']:>13.3f}  "
              f"{r['time_s']:>8.1f}", file=out)
    print("\nR2: mean over genes of the R2 on the hidden entries; time: fit + "
          "transform.", file=out)
    if fast:
        print("--fast: a tiny network trained for 3 epochs, to check that the "
              "command runs; its R2 values say nothing about the methods.",
              file=out)
    return rows


def cmd_demo(args):
    if min(args.n_samples, args.n_genes) < 2 or args.n_samples < 20:
        raise CLIError("--n-samples must be >= 20 and --n-genes >= 2.")
    run_demo(n_samples=args.n_samples, n_genes=args.n_genes,
             n_tissues=args.n_tissues, missing_rate=args.missing_rate,
             random_state=args.random_state, device=args.device, fast=args.fast,
             verbose=0 if args.quiet else 1)
    return 0


class _Later(str):
    """A default shown by ``--help`` and decided when the command runs."""


def _new_output_dir():
    stem = os.path.join(os.getcwd(),
                        time.strftime("skimpute-gtex-benchmark-%Y%m%d-%H%M%S"))
    path, n = stem, 1
    while os.path.exists(path):
        n += 1
        path = f"{stem}-{n}"
    return path


def cmd_benchmark(args):
    """The harness of ``_benchmark``, writing only where the user says.

    Its own defaults (``benchmarks/results``, ``docs/benchmark_tables.rst``)
    are the repository's committed results, right for
    ``benchmarks/bench_imputers.py`` and wrong for a command run anywhere:
    here they are a new folder, and existing files are kept unless
    ``--overwrite``.
    """
    from ._benchmark import run_from_args

    if isinstance(args.output_dir, _Later):
        args.output_dir = _new_output_dir()
    if isinstance(args.tables, _Later):
        args.tables = os.path.join(args.output_dir, "benchmark_tables.rst")
    targets = [os.path.join(args.output_dir, f"{args.name}.json"), args.tables]
    existing = [t for t in targets if t and os.path.exists(t)]
    if existing and not args.overwrite:
        raise CLIError(f"{' and '.join(existing)} already exist(s): pass "
                       "--overwrite to replace, or choose another --output-dir, "
                       "--name or --tables.")
    return run_from_args(args)


# ------------------------------------------------------------------ parser
def _add_input_options(p):
    p.add_argument("input", help="expression matrix: .csv, .tsv/.txt, .parquet or "
                   ".gct (optionally .gz), samples x genes, first column the "
                   "sample ids (see --index-col, --no-index); or .h5ad (AnnData: "
                   "obs x var, covariates from obs; needs anndata)")
    p.add_argument("--genes-as-rows", action="store_true",
                   help="the CSV/TSV/Parquet matrix is genes x samples")
    ids = p.add_mutually_exclusive_group()
    ids.add_argument("--index-col", metavar="NAME|N",
                     help="the column of the sample ids (gene ids with "
                          "--genes-as-rows), by name or 0-based position "
                          "(default: the first column, if the header leaves it "
                          "unnamed or it holds distinct strings; else an error)")
    ids.add_argument("--no-index", action="store_true",
                     help="the CSV/TSV/Parquet matrix has no id column (pandas "
                          "to_csv(index=False), R row.names=FALSE): every column "
                          "is a gene; the output has no id column either")
    p.add_argument("--layer", metavar="NAME",
                   help="the layer of an .h5ad input to impute (default: X)")
    p.add_argument("--covariates", metavar="FILE",
                   help="CSV/TSV table of sample covariates (default: the "
                        "covariates are columns of the matrix file, obs columns "
                        "of an .h5ad)")
    p.add_argument("--sample-column", metavar="COL",
                   help="sample id column of --covariates (default: the first)")
    p.add_argument("--categorical", nargs="+", metavar="COL",
                   help="categorical covariate columns: of --covariates FILE, "
                        "else of the matrix file (obs of an .h5ad) (default "
                        "with --covariates and no --numerical: its non-numeric "
                        "columns; a saved model knows its own)")
    p.add_argument("--numerical", nargs="+", metavar="COL",
                   help="numerical covariate columns, found as --categorical")
    p.add_argument("--verbose", "-v", action="count", default=1,
                   help="training progress on stderr: by default one line "
                        "(updated in place on a terminal) with the epoch, "
                        "time elapsed and time left; -v: one line per epoch")
    p.add_argument("--quiet", "-q", dest="verbose", action="store_const",
                   const=0, help="no training progress")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's choice)")


def _add_model_options(p):
    # defaults None: the real ones are in _TRAINING_OPTIONS (see cmd_impute)
    g = p.add_argument_group("training options (not with --model-file)")
    g.add_argument("--model", choices=("pmi", "gain"), help="(default: pmi)")
    g.add_argument("--max-iter", type=int, help="maximum epochs (default: 300)")
    g.add_argument("--hidden-layer-sizes", type=int, nargs="+", metavar="N")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: auto)")
    g.add_argument("--random-state", type=int, help="(default: 0)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skimpute-gtex",
        description="Covariate-aware deep imputation of gene expression "
                    "(PMIImputer, GAINImputer).",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="compare PMI, KNN and tissue median on "
                       "synthetic data (about a minute)")
    p.add_argument("--n-samples", type=int, default=2000)
    p.add_argument("--n-genes", type=int, default=500)
    p.add_argument("--n-tissues", type=int, default=10)
    p.add_argument("--missing-rate", type=float, default=0.5)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--fast", action="store_true",
                   help="tiny network, 3 epochs: a smoke test whose R2 values "
                        "mean nothing")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no training progress on stderr")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fit", help="fit an imputer and save it (joblib)")
    _add_input_options(p)
    _add_model_options(p)
    p.add_argument("--output", "-o", required=True, help="model file to write")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("impute", help="impute a matrix (in place or with a saved "
                       "model)")
    _add_input_options(p)
    _add_model_options(p)
    p.add_argument("--model-file", metavar="FILE",
                   help="model saved by 'fit' (default: fit PMI on the input)")
    p.add_argument("--align", action="store_true",
                   help="with --model-file: match Ensembl ids without version, "
                        "impute model genes absent from the input, drop others")
    p.add_argument("--output", "-o", required=True,
                   help="imputed matrix: .csv, .tsv, .parquet or .h5ad (imputed "
                        "X, the observed matrix in layers['observed'], the "
                        "input's obs/var/uns kept)")
    p.set_defaults(func=cmd_impute)

    from ._benchmark import add_arguments

    p = sub.add_parser(
        "benchmark", help="run the benchmark harness",
        description="Run the benchmark harness. Results go to --output-dir, by "
                    "default a new folder skimpute-gtex-benchmark-DATE-TIME in "
                    "the current directory; existing result files are never "
                    "replaced without --overwrite.")
    add_arguments(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing OUTPUT_DIR/NAME.json and --tables files")
    p.set_defaults(func=cmd_benchmark,
                   output_dir=_Later("a new folder in the current directory"),
                   tables=_Later("OUTPUT_DIR/benchmark_tables.rst"))
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` for the command: one line, no source path."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv=None):
    """Run ``skimpute-gtex``; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    # catch_warnings restores showwarning (and the filters) on the way out
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            with _threads(getattr(args, "threads", None)):
                return args.func(args)
        except CLIError as exc:
            print(f"skimpute-gtex {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except (ValueError, TypeError, OSError) as exc:
            print(f"skimpute-gtex {args.command}: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())

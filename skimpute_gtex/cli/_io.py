"""Reading and writing the command's files: CSV, TSV, Parquet, GCT, ``.h5ad``.

A CSV/TSV/Parquet matrix has its ids (of the samples, or of the genes with
``--genes-as-rows``) in its first column when the file marks that column as
row names or it holds distinct strings. Otherwise the first column may be a
gene, and the command stops and asks for ``--index-col NAME|N`` or
``--no-index``: it never guesses.
"""

import difflib
import os

import numpy as np
import pandas as pd

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
        from ..io import read_anndata

        # as categorical: the obs columns as they are, converted below
        data = read_anndata(path, layer=layer, categorical=list(columns))
    except ImportError as exc:
        raise CLIError(f"{path}: {exc}") from None
    except ValueError as exc:
        raise CLIError(f"{path}: {exc}") from None
    n_genes = len(data.gene_names)
    raw = data.frame.iloc[:, n_genes:] if columns else None
    return data.frame.iloc[:, :n_genes], raw


def _index_rows(path, what, other, *, index_col, no_index):
    """The table of a CSV/TSV/Parquet matrix, its id column as the index."""
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
    return table


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
        from ..datasets import read_gct

        try:
            return read_gct(path).expression, None  # GCT is genes x samples
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    if columns and genes_as_rows:
        raise CLIError(f"{path}: with --genes-as-rows the covariates {columns} "
                       "cannot be columns of the matrix file (its columns are "
                       "samples): give them in --covariates FILE.")
    what, other = ("gene", "sample") if genes_as_rows else ("sample", "gene")
    table = _index_rows(path, what, other, index_col=index_col,
                        no_index=no_index)
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
            from ..io._anndata import _import_anndata

            _import_anndata()
        except ImportError as exc:
            raise CLIError(f"{path}: {exc}") from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"{path}: directory {directory} does not exist.")


def _write_h5ad(result, path, *, args, matrix, cov, same_genes):
    """Write ``result`` as an ``.h5ad``: imputed ``X``, observed layer, annotations.

    From an ``.h5ad`` input that has every gene of ``result``
    (``same_genes``), everything of the input is kept (``obs``, ``var`` and
    its order, ``uns``, other layers); otherwise ``matrix`` is the observed
    matrix, ``obs`` the covariates (the input's ``obs`` for an ``.h5ad``) and
    ``var`` the gene names.
    """
    import anndata

    from ..io import write_anndata

    if _kind(args.input) == "h5ad" and same_genes:
        write_anndata(args.input, result, path, layer=args.layer)
        return
    obs, uns = pd.DataFrame(index=matrix.index), {}
    if _kind(args.input) == "h5ad":  # lacked some of a model's genes
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

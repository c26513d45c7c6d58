"""Read GCT 1.2 expression matrices (the GTEx portal's format), streaming them.

The matrices are streamed line by line: only the rows of the requested genes
are parsed, and only the columns of the kept samples, so restricting to a gene
panel or a few tissues of the 56,200 x 17,382 GTEx v8 matrix needs memory for
the result only.
"""

import gzip
import os
import re
import warnings
import zlib
from collections import defaultdict

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._compat import StrOptions, validate_params
from ._align import _preview, _strip_version

_GZIP_MAGIC = b"\x1f\x8b"
_GCT_VERSION = "#1.2"
# selected rows are buffered as text and parsed together by numpy's C parser
# once the buffer holds this many characters
_BATCH_CHARS = 1 << 24
# pandas' default ``na_values``: a GCT cell holding one of these (or nothing)
# is missing, as it is in a CSV read by pandas
_NA_STRINGS = (
    "#N/A N/A",
    "#N/A",
    "N/A",
    "n/a",
    "NA",
    "<NA>",
    "#NA",
    "NULL",
    "null",
    "NaN",
    "-NaN",
    "nan",
    "-nan",
    "None",
    "1.#IND",
    "-1.#IND",
    "1.#QNAN",
    "-1.#QNAN",
    "",
)
_NA_CELL_RE = re.compile(
    r"(?<=\t) *(?:" + "|".join(re.escape(s) for s in _NA_STRINGS) + r") *(?=[\t\r\n]|$)"
)
_PATH = [str, os.PathLike]


def _open_text(path):
    """Open ``path`` for reading text, gunzipping it if it starts with gzip magic."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _read_gct_header(fh, path):
    """Parse the version, dimensions and header lines; return (n_genes, sample_ids)."""
    try:
        return _parse_gct_header(fh, path)
    except UnicodeDecodeError:
        raise ValueError(
            f"{os.fspath(path)!r} is not a GCT 1.2 file: it is not text."
        ) from None


def _parse_gct_header(fh, path):
    version = fh.readline()
    if version.rstrip("\r\n").strip() != _GCT_VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} is not a GCT 1.2 file: its first line should be "
            f"{_GCT_VERSION!r}, got {version[:40]!r}."
        )
    dims = fh.readline().split()
    try:
        if len(dims) != 2:
            raise ValueError
        n_genes, n_samples = int(dims[0]), int(dims[1])
    except ValueError:
        raise ValueError(
            f"{os.fspath(path)!r} is not a GCT 1.2 file: its second line should "
            f"give the dimensions 'n_genes<TAB>n_samples', got {' '.join(dims)[:40]!r}."
        ) from None
    header = fh.readline().rstrip("\r\n").split("\t")
    if header[:2] != ["Name", "Description"]:
        raise ValueError(
            f"{os.fspath(path)!r} is not a GCT 1.2 file: its third line should be "
            f"the header 'Name<TAB>Description<TAB>sample ids...', got "
            f"{'<TAB>'.join(header[:3])[:60]!r}."
        )
    sample_ids = header[2:]
    if len(sample_ids) != n_samples:
        raise ValueError(
            f"{os.fspath(path)!r} declares {n_samples} samples on line 2 but its "
            f"header lists {len(sample_ids)}; the file is truncated or corrupt."
        )
    if len(set(sample_ids)) != n_samples:
        seen, dups = set(), []
        for s in sample_ids:
            if s in seen:
                dups.append(s)
            seen.add(s)
        raise ValueError(
            f"{os.fspath(path)!r} has duplicated sample ids: {_preview(dups)}."
        )
    return n_genes, sample_ids


def _loadtxt(lines, usecols, dtype):
    return np.loadtxt(
        lines, delimiter="\t", usecols=usecols, dtype=dtype, comments=None, ndmin=2
    )


def _parse_batch(lines, linenos, usecols, dtype, path):
    """Parse buffered GCT rows (only the ``usecols`` fields) with numpy's C parser.

    Empty cells and the ``_NA_STRINGS`` markers are NaN. numpy reads ``nan``
    but not ``NA`` or an empty field, so a batch that fails is parsed again
    with those cells rewritten as ``nan``; batches without them pay nothing.
    """
    try:
        try:
            return _loadtxt(lines, usecols, dtype)
        except ValueError:
            lines = [_NA_CELL_RE.sub("nan", line) for line in lines]
            return _loadtxt(lines, usecols, dtype)
    except ValueError as exc:
        where = f"lines {linenos[0]}-{linenos[-1]}"
        match = re.search(r"at row (\d+)", str(exc))
        if match is not None and int(match.group(1)) < len(linenos):
            where = f"line {linenos[int(match.group(1))]}"
        raise ValueError(
            f"{os.fspath(path)!r}, {where}: non-numeric expression value ({exc})"
        ) from None


class _RowBuffer:
    """Selected GCT rows, buffered as text and parsed in batches of ~16 MB.

    With ``n_rows`` known (every row is kept) the values go into one
    preallocated matrix, which saves the copy of concatenating the batches.
    """

    def __init__(self, path, usecols, dtype, n_rows=None):
        self.path, self.usecols, self.dtype = path, usecols, dtype
        self.ids, self.symbols, self.blocks = [], [], []
        self.lines, self.linenos, self.chars, self.filled = [], [], 0, 0
        self.out = None if not n_rows else np.empty((n_rows, len(usecols)), dtype)

    def add(self, line, lineno, name, symbol):
        self.ids.append(name)
        self.symbols.append(symbol)
        self.lines.append(line)
        self.linenos.append(lineno)
        self.chars += len(line)
        if self.chars >= _BATCH_CHARS:
            self.flush()

    def flush(self):
        if not self.lines:
            return
        values = _parse_batch(self.lines, self.linenos, self.usecols, self.dtype,
                              self.path)
        if self.out is not None:
            self.out[self.filled : self.filled + len(self.lines)] = values
        else:
            self.blocks.append(values)
        self.filled += len(self.lines)
        self.lines, self.linenos, self.chars = [], [], 0

    def result(self):
        """``(gene_ids, gene_symbols, values)``, values samples x genes."""
        self.flush()
        out = self.out
        if out is None:
            out = (np.concatenate(self.blocks, axis=0) if self.blocks
                   else np.empty((0, len(self.usecols)), dtype=self.dtype))
        # (n_genes, n_samples) C-ordered: its transpose is the samples x genes view
        return (np.asarray(self.ids, dtype=object),
                np.asarray(self.symbols, dtype=object), out.T)


def _stream_gct_rows(fh, path, n_genes, n_samples, keep, usecols, dtype):
    """Stream the gene rows after the header.

    ``keep(name, symbol) -> bool`` selects rows (``None`` keeps all); only
    selected rows are parsed. Returns ``(gene_ids, gene_symbols, values)`` with
    ``values`` of shape (len(usecols), n_selected_genes).
    """
    n_tabs = n_samples + 1
    rows = _RowBuffer(path, usecols, dtype, n_genes if keep is None else None)
    n_rows = 0
    lineno = 3
    try:
        for line in fh:
            lineno += 1
            if len(line) <= 2 and not line.strip():
                continue  # blank line, e.g. a trailing newline
            n_rows += 1
            if n_rows > n_genes:
                raise ValueError(
                    f"{os.fspath(path)!r} has more gene rows than the {n_genes} "
                    f"declared on line 2 (extra row at line {lineno})."
                )
            if line.count("\t") != n_tabs:
                raise ValueError(
                    f"{os.fspath(path)!r}, line {lineno}: expected {n_samples + 2} "
                    f"tab-separated fields (Name, Description and {n_samples} "
                    f"samples), found {line.count(chr(9)) + 1}; the file is "
                    "truncated or corrupt."
                )
            i = line.index("\t")
            name = line[:i]
            symbol = line[i + 1 : line.index("\t", i + 1)]
            if keep is None or keep(name, symbol):
                rows.add(line, lineno, name, symbol)
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{os.fspath(path)!r} is truncated or corrupt: reading failed after "
            f"line {lineno} ({type(exc).__name__}: {exc})."
        ) from None
    rows.flush()  # a bad value in the last batch is reported before truncation
    if n_rows < n_genes:
        raise ValueError(
            f"{os.fspath(path)!r} is truncated: line 2 declares {n_genes} gene rows "
            f"but the file has {n_rows}."
        )
    return rows.result()


class _GeneSelector:
    """Row predicate for GCT streaming: requested genes and/or a gene-type filter.

    A requested token matches a row when it equals the row's Ensembl id up to
    the version suffix, or the row's symbol (Description column).
    """

    def __init__(self, genes=None, gene_types=None, gene_type=None):
        self.by_id = self.by_symbol = None
        if genes is not None:
            self.tokens = [str(g) for g in genes]
            self.by_id, self.by_symbol = defaultdict(list), defaultdict(list)
            for token in self.tokens:
                self.by_id[_strip_version(token)].append(token)
                self.by_symbol[token].append(token)
        self.types = None
        if gene_type is not None:
            self.types = {_strip_version(k): v for k, v in gene_types.items()}
            self.gene_type = gene_type
        self.found = set()
        self.n_matched_rows = 0

    def __call__(self, name, symbol):
        if self.by_id is not None:
            hits = self.by_id.get(_strip_version(name), []) + self.by_symbol.get(
                symbol, []
            )
            if not hits:
                return False
            self.found.update(hits)
            self.n_matched_rows += 1
        if self.types is not None:
            return self.types.get(_strip_version(name)) == self.gene_type
        return True

    def check(self, path, n_kept):
        """Warn about, or fail on, requested genes absent from the file."""
        if self.by_id is not None:
            missing = [t for t in dict.fromkeys(self.tokens) if t not in self.found]
            if not self.found:
                raise ValueError(
                    f"None of the {len(self.tokens)} requested genes was found in "
                    f"{os.fspath(path)!r}: {_preview(self.tokens)}. Genes are "
                    "matched by Ensembl id (with or without version) or by symbol "
                    "(Description column)."
                )
            if missing:
                warnings.warn(
                    f"{len(missing)} of the {len(set(self.tokens))} requested genes "
                    f"were not found in {os.fspath(path)!r}: {_preview(missing)}.",
                    UserWarning,
                    stacklevel=3,
                )
        if n_kept == 0:
            raise ValueError(
                f"No gene of {os.fspath(path)!r} is left: none of the selected genes "
                f"has gene type {self.gene_type!r} in gene_types."
            )


def _make_selector(genes, gene_types, protein_coding_only):
    if genes is None and not protein_coding_only:
        return None
    if protein_coding_only and gene_types is None:
        raise ValueError(
            "protein_coding_only=True needs gene_types, a mapping from Ensembl id "
            "to gene type (e.g. the gene_type attribute of the GENCODE v26 GTF used "
            "by GTEx v8): GCT files do not record gene types."
        )
    if genes is not None:
        genes = np.asarray(genes, dtype=object).ravel().tolist()
        if not genes:
            raise ValueError("genes is empty; pass None to keep all genes.")
    return _GeneSelector(
        genes, gene_types, "protein_coding" if protein_coding_only else None
    )


@validate_params(
    {
        "path": _PATH,
        "genes": ["array-like", None],
        "samples": ["array-like", None],
        "dtype": [StrOptions({"float64", "float32"})],
    },
    prefer_skip_nested_validation=True,
)
def read_gct(path, *, genes=None, samples=None, dtype="float64"):
    """Read a GCT 1.2 expression matrix, streaming it line by line.

    GCT is the format of the GTEx portal's expression matrices
    (``*_gene_tpm.gct.gz``, ``*_gene_reads.gct.gz``): a version line ``#1.2``,
    a dimensions line ``n_genes<TAB>n_samples``, a header
    ``Name<TAB>Description<TAB>sample ids...``, then one row per gene. The file
    may be gzip-compressed or plain (detected from its first bytes, not its
    name). Only the rows of the requested genes are parsed, and only the
    columns of the requested samples.

    Parameters
    ----------
    path : str or path-like
        The GCT file.
    genes : array-like of str, default=None
        Genes to keep, by Ensembl id with or without version suffix
        (``"ENSG00000141510"`` matches ``ENSG00000141510.16``) or by symbol
        (the Description column; a symbol shared by several rows keeps them
        all). Kept genes are in file order. ``None`` keeps all genes. Requested
        genes that are not found are listed in a ``UserWarning``; if none is
        found, a ``ValueError`` is raised.
    samples : array-like of str, default=None
        Sample ids to keep (in file order). ``None`` keeps all samples.
    dtype : {'float64', 'float32'}, default='float64'
        Type of the values. ``'float32'`` halves the memory (the full GTEx v8
        TPM matrix is 7.8 GB in float64).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        expression : DataFrame of shape (n_samples, n_genes)
            The values as in the file (no transformation), samples as rows
            (index: sample ids), genes as columns (Ensembl ids as in the file).
            Empty cells and the missing-value markers that
            :func:`pandas.read_csv` knows by default (``NA``, ``NaN``, ``nan``,
            ``N/A``, ``NULL``, ``None``, ...) are NaN, as in a CSV.
        gene_ids : ndarray of str of shape (n_genes,)
            The Name column of the kept rows.
        gene_symbols : ndarray of str of shape (n_genes,)
            The Description column of the kept rows.
        sample_ids : ndarray of str of shape (n_samples,)
            The ids of the kept samples (columns of the file).

    Raises
    ------
    ValueError
        If the file is not GCT 1.2, is truncated (fewer rows than declared, a
        row with the wrong number of fields, an incomplete gzip stream), has
        non-numeric values, or if requested samples or genes are absent.

    See Also
    --------
    load_gtex : expression with sample and donor covariates.

    Examples
    --------
    >>> import os, tempfile
    >>> from skimpute_gtex.datasets import read_gct
    >>> gct = ("#1.2\\n3\\t2\\n"
    ...        "Name\\tDescription\\t"
    ...        "GTEX-1117F-0226-SM-5GZZ7\\tGTEX-111CU-0326-SM-5GZXO\\n"
    ...        "ENSG00000141510.16\\tTP53\\t12.5\\t8.25\\n"
    ...        "ENSG00000012048.20\\tBRCA1\\t1.5\\t0.5\\n"
    ...        "ENSG00000146648.15\\tEGFR\\t30.0\\t4.0\\n")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "tiny_gene_tpm.gct")
    ...     with open(path, "w") as f:
    ...         _ = f.write(gct)
    ...     data = read_gct(path, genes=["TP53", "ENSG00000146648"])
    >>> data.expression
                              ENSG00000141510.16  ENSG00000146648.15
    SAMPID
    GTEX-1117F-0226-SM-5GZZ7               12.50                30.0
    GTEX-111CU-0326-SM-5GZXO                8.25                 4.0
    >>> list(data.gene_symbols)
    ['TP53', 'EGFR']
    """
    selector = _make_selector(genes, None, False)
    with _open_text(path) as fh:
        n_genes, sample_ids = _read_gct_header(fh, path)
        if samples is None:
            keep = np.arange(len(sample_ids))
        else:
            wanted = set(np.asarray(samples, dtype=object).ravel().tolist())
            missing = wanted - set(sample_ids)
            if missing:
                raise ValueError(
                    f"{len(missing)} requested sample(s) are not in "
                    f"{os.fspath(path)!r}: {_preview(sorted(missing, key=str))}."
                )
            keep = np.array(
                [i for i, s in enumerate(sample_ids) if s in wanted], dtype=np.intp
            )
        gene_ids, gene_symbols, values = _stream_gct_rows(
            fh, path, n_genes, len(sample_ids), selector, keep + 2, dtype
        )
    if selector is not None:
        selector.check(path, len(gene_ids))
    kept_samples = np.asarray(sample_ids, dtype=object)[keep]
    expression = pd.DataFrame(
        values,
        index=pd.Index(kept_samples, name="SAMPID"),
        columns=list(gene_ids),
        copy=False,
    )
    return Bunch(
        expression=expression,
        gene_ids=gene_ids,
        gene_symbols=gene_symbols,
        sample_ids=kept_samples,
    )


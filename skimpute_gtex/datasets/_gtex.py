"""Read the GTEx portal files: GCT expression matrices and annotation tables.

The GCT matrices are streamed line by line: only the rows of the requested
genes are parsed, and only the columns of the kept samples, so restricting to a
gene panel or a few tissues of the 56,200 x 17,382 GTEx v8 matrix needs memory
for the result only.
"""

import gzip
import os
import re
import warnings
import zlib
from collections import defaultdict
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._compat import Interval, StrOptions, validate_params
from ._align import _preview, _strip_version

_GZIP_MAGIC = b"\x1f\x8b"
_GCT_VERSION = "#1.2"
# selected rows are buffered as text and parsed together by numpy's C parser
# once the buffer holds this many characters
_BATCH_CHARS = 1 << 24
_SEX_CODES = {1: "male", 2: "female"}
# Hardy scale (DTHHRDY) of the GTEx subject phenotypes
_HARDY_SCALE = {
    0: "ventilator",
    1: "violent_fast",
    2: "natural_fast",
    3: "intermediate",
    4: "slow",
}
_AGE_BRACKET_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
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


def _donor_id(sample_id):
    """GTEx donor id: the first two dash-separated fields of a sample id."""
    return "-".join(str(sample_id).split("-")[:2])


def _read_gct_header(fh, path):
    """Parse the version, dimensions and header lines; return (n_genes, sample_ids)."""
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


def _stream_gct_rows(fh, path, n_genes, n_samples, keep, usecols, dtype):
    """Stream the gene rows after the header.

    ``keep(name, symbol) -> bool`` selects rows (``None`` keeps all); only
    selected rows are parsed. Returns ``(gene_ids, gene_symbols, values)`` with
    ``values`` of shape (len(usecols), n_selected_genes).
    """
    n_tabs = n_samples + 1
    ids, symbols = [], []
    blocks, batch, linenos = [], [], []
    batch_chars = 0
    out = None
    if keep is None and n_genes > 0:
        # every row is kept: fill a preallocated matrix (no concatenation copy)
        out = np.empty((n_genes, len(usecols)), dtype=dtype)
    filled = 0

    def flush():
        nonlocal batch, linenos, batch_chars, filled
        if not batch:
            return
        values = _parse_batch(batch, linenos, usecols, dtype, path)
        if out is not None:
            out[filled : filled + len(batch)] = values
        else:
            blocks.append(values)
        filled += len(batch)
        batch, linenos, batch_chars = [], [], 0

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
                ids.append(name)
                symbols.append(symbol)
                batch.append(line)
                linenos.append(lineno)
                batch_chars += len(line)
                if batch_chars >= _BATCH_CHARS:
                    flush()
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{os.fspath(path)!r} is truncated or corrupt: reading failed after "
            f"line {lineno} ({type(exc).__name__}: {exc})."
        ) from None
    flush()
    if n_rows < n_genes:
        raise ValueError(
            f"{os.fspath(path)!r} is truncated: line 2 declares {n_genes} gene rows "
            f"but the file has {n_rows}."
        )
    if out is None:
        if blocks:
            out = np.concatenate(blocks, axis=0)
        else:
            out = np.empty((0, len(usecols)), dtype=dtype)
    # (n_genes, n_samples) C-ordered: its transpose is the samples x genes view
    return np.asarray(ids, dtype=object), np.asarray(symbols, dtype=object), out.T


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
        try:
            n_genes, sample_ids = _read_gct_header(fh, path)
        except UnicodeDecodeError:
            raise ValueError(
                f"{os.fspath(path)!r} is not a GCT 1.2 file: it is not text."
            ) from None
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


def _read_table(source, required, optional, what, file_hint):
    """Read the needed columns of a tab-separated GTEx annotation table as strings."""
    wanted = set(required) | set(optional)
    if isinstance(source, pd.DataFrame):
        table = source.loc[:, [c for c in source.columns if c in wanted]]
        table = table.astype(object).where(table.notna(), None)
        name = f"the {what} DataFrame"
    else:
        name = repr(os.fspath(source))
        with _open_text(source) as fh:
            table = pd.read_csv(
                fh,
                sep="\t",
                dtype=object,
                usecols=lambda c: c in wanted,
                keep_default_na=False,
                na_values=["", "NA", "NaN", "nan"],
            )
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise ValueError(
            f"{name} has no column {absent[0]!r}: is it the GTEx {what} table "
            f"({file_hint})?"
        )
    key = required[0]
    keys = table[key]
    if keys.isna().any():
        raise ValueError(f"{name} has rows with an empty {key}.")
    keys = keys.astype(str)
    if keys.duplicated().any():
        raise ValueError(
            f"{name} has duplicated {key} values: "
            f"{_preview(keys[keys.duplicated()].unique().tolist())}."
        )
    return table.set_axis(pd.Index(keys, name=key), axis=0), name


def _parse_sex(codes, name):
    numeric = pd.to_numeric(codes, errors="coerce")
    bad = ~numeric.isin(list(_SEX_CODES))
    if bad.any():
        raise ValueError(
            f"{name}: SEX must be coded 1 (male) or 2 (female); got "
            f"{_preview(sorted(set(map(str, codes[bad]))))}."
        )
    return numeric.map(_SEX_CODES).astype(str)


def _parse_age(values, name):
    """Age bracket ``"60-69"`` -> midpoint 65.0; an exact age -> itself."""
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None or pd.isna(value):
            continue
        match = _AGE_BRACKET_RE.match(str(value))
        if match is not None:
            low, high = int(match.group(1)), int(match.group(2))
            out[i] = (low + high + 1) / 2.0
            continue
        try:
            out[i] = float(value)
        except ValueError:
            raise ValueError(
                f"{name}: AGE must be a bracket like '60-69' or a number of years; "
                f"got {value!r}."
            ) from None
    return out


def _parse_hardy(codes, name):
    numeric = pd.to_numeric(codes, errors="coerce")
    bad = codes.notna() & ~numeric.isin(list(_HARDY_SCALE))
    if bad.any():
        raise ValueError(
            f"{name}: DTHHRDY must be a Hardy scale code 0-4 or empty; got "
            f"{_preview(sorted(set(map(str, codes[bad]))))}."
        )
    return numeric.map(_HARDY_SCALE).fillna("unknown").astype(str)


@validate_params(
    {
        "expression": _PATH,
        "sample_attributes": _PATH + [pd.DataFrame],
        "subject_phenotypes": _PATH + [pd.DataFrame, None],
        "tissues": ["array-like", None],
        "genes": ["array-like", None],
        "min_samples_per_tissue": [Interval(Integral, 1, None, closed="left")],
        "log_transform": ["boolean"],
        "gene_types": [Mapping, pd.Series, None],
        "protein_coding_only": ["boolean"],
        "freeze_only": ["boolean"],
        "dtype": [StrOptions({"float64", "float32"})],
        "as_frame": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_gtex(
    expression,
    sample_attributes,
    subject_phenotypes=None,
    *,
    tissues=None,
    genes=None,
    min_samples_per_tissue=1,
    log_transform=True,
    gene_types=None,
    protein_coding_only=False,
    freeze_only=True,
    dtype="float64",
    as_frame=True,
):
    """Load GTEx expression with its sample and donor covariates.

    Reads the files as published on the GTEx portal (no network access): an
    expression matrix in GCT format, the sample attributes table and,
    optionally, the subject phenotypes table. The GCT is streamed: only the
    requested genes and the samples that pass the filters are parsed.

    Parameters
    ----------
    expression : str or path-like
        GCT 1.2 matrix, gzip-compressed or plain, e.g.
        ``GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz``.
    sample_attributes : str, path-like or DataFrame
        ``GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt`` (tab-separated)
        or the same table as a DataFrame. Needs ``SAMPID``, ``SMTS`` (tissue
        group) and ``SMTSD`` (detailed tissue); ``SMAFRZE`` with
        ``freeze_only=True``. Every sample of the GCT must be listed.
    subject_phenotypes : str, path-like or DataFrame, default=None
        ``GTEx_Analysis_v8_Annotations_SubjectPhenotypesDS.txt``. Needs
        ``SUBJID``; ``SEX`` (1 = male, 2 = female), ``AGE`` (a bracket such as
        ``60-69``, or exact years in the protected dbGaP table), ``DTHHRDY``
        (Hardy scale, may be empty) and ``COHORT`` (protected) are used when
        present. Every donor of the kept samples must be listed. ``None``
        gives tissue and donor covariates only.
    tissues : array-like of str, default=None
        Keep samples whose ``SMTSD`` (``"Brain - Cortex"``) or ``SMTS``
        (``"Brain"``) is listed. ``None`` keeps all tissues.
    genes : array-like of str, default=None
        Keep these genes, by Ensembl id with or without version or by symbol;
        see :func:`read_gct`. ``None`` keeps all genes.
    min_samples_per_tissue : int, default=1
        Drop tissues (``SMTSD``) with fewer kept samples than this.
    log_transform : bool, default=True
        Return ``log1p`` of the values (TPM or read counts), the scale the
        imputers are meant for.
    gene_types : dict or Series, default=None
        Ensembl id (with or without version) -> gene type, e.g. read from the
        ``gene_type`` attribute of the GENCODE v26 GTF that GTEx v8 uses. Only
        needed for ``protein_coding_only``.
    protein_coding_only : bool, default=False
        Keep only genes whose type in ``gene_types`` is ``"protein_coding"``
        (genes absent from ``gene_types`` are dropped).
    freeze_only : bool, default=True
        Keep only samples of the RNA-seq analysis freeze
        (``SMAFRZE == "RNASEQ"``).
    dtype : {'float64', 'float32'}, default='float64'
        Type of the expression values.
    as_frame : bool, default=True
        Return pandas DataFrames; ``False`` returns NumPy arrays and no
        ``frame``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        frame : DataFrame of shape (n_samples, n_genes + n_covariates)
            ``expression`` and ``covariates`` side by side: the input the
            imputers take. Only with ``as_frame=True``.
        expression : DataFrame or ndarray of shape (n_samples, n_genes)
            Expression (``log1p`` if ``log_transform``), samples in GCT order
            (index: ``SAMPID``), genes in GCT order (columns: Ensembl ids).
        covariates : DataFrame or ndarray of object of shape (n_samples, n_covariates)
            ``tissue`` (``SMTSD``), ``tissue_group`` (``SMTS``), ``donor``
            (first two dash-separated fields of ``SAMPID``) and, with
            ``subject_phenotypes``, those of ``sex`` (``"male"``/``"female"``),
            ``age`` (years, float; a bracket gives its midpoint, ``60-69`` ->
            65.0), ``death_type`` (Hardy scale: ``"ventilator"``,
            ``"violent_fast"``, ``"natural_fast"``, ``"intermediate"``,
            ``"slow"``, or ``"unknown"`` when empty) and ``cohort`` whose
            source columns are present.
        covariate_names : list of str
            The columns of ``covariates``.
        covariate_spec : list of tuple
            A ``covariates=`` spec for the imputers: ``tissue`` and ``sex``
            categorical, ``age`` numerical (those available).
        gene_ids : ndarray of str of shape (n_genes,)
            Ensembl ids of the genes (the Name column of the GCT).
        gene_symbols : ndarray of str of shape (n_genes,)
            Gene symbols (the Description column of the GCT).
        sample_ids : ndarray of str of shape (n_samples,)
            ``SAMPID`` of each sample.

    Raises
    ------
    ValueError
        For a malformed or truncated GCT (see :func:`read_gct`), GCT samples
        missing from the attributes table, donors missing from the phenotypes
        table, unknown tissues, missing table columns, no sample left after
        filtering, or none of ``genes`` found (some missing only warns).

    See Also
    --------
    read_gct : read a GCT matrix alone.
    skimpute_gtex.model_selection.gtex_donor_split : donor-disjoint split.
    align_to_genes : align another study to the loaded genes.

    Examples
    --------
    >>> import os, tempfile
    >>> from skimpute_gtex.datasets import load_gtex
    >>> s1, s2, s3 = ("GTEX-1117F-0226-SM-5GZZ7", "GTEX-1117F-0426-SM-5EGHI",
    ...               "GTEX-111CU-0326-SM-5GZXO")
    >>> files = {
    ...     "gene_tpm.gct": "#1.2\\n2\\t3\\nName\\tDescription\\t"
    ...     f"{s1}\\t{s2}\\t{s3}\\n"
    ...     "ENSG00000141510.16\\tTP53\\t12.5\\t3.0\\t8.25\\n"
    ...     "ENSG00000012048.20\\tBRCA1\\t1.5\\t0.0\\t0.5\\n",
    ...     "attributes.txt": "SAMPID\\tSMTS\\tSMTSD\\tSMAFRZE\\n"
    ...     f"{s1}\\tAdipose Tissue\\tAdipose - Subcutaneous\\tRNASEQ\\n"
    ...     f"{s2}\\tBlood\\tWhole Blood\\tRNASEQ\\n"
    ...     f"{s3}\\tBlood\\tWhole Blood\\tRNASEQ\\n",
    ...     "phenotypes.txt": "SUBJID\\tSEX\\tAGE\\tDTHHRDY\\n"
    ...     "GTEX-1117F\\t2\\t60-69\\t4\\nGTEX-111CU\\t1\\t50-59\\t\\n",
    ... }
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name, text in files.items():
    ...         with open(os.path.join(tmp, name), "w") as f:
    ...             _ = f.write(text)
    ...     data = load_gtex(os.path.join(tmp, "gene_tpm.gct"),
    ...                      os.path.join(tmp, "attributes.txt"),
    ...                      os.path.join(tmp, "phenotypes.txt"))
    >>> data.frame.shape
    (3, 8)
    >>> data.covariates[["tissue", "donor", "sex", "age", "death_type"]]
                                              tissue  ...  death_type
    SAMPID                                            ...
    GTEX-1117F-0226-SM-5GZZ7  Adipose - Subcutaneous  ...        slow
    GTEX-1117F-0426-SM-5EGHI             Whole Blood  ...        slow
    GTEX-111CU-0326-SM-5GZXO             Whole Blood  ...     unknown
    <BLANKLINE>
    [3 rows x 5 columns]
    >>> data.covariate_spec
    [('tissue', 'categorical', ['tissue']), ('sex', 'categorical', ['sex']),
     ('age', 'numerical', ['age'])]
    """
    selector = _make_selector(genes, gene_types, protein_coding_only)
    attributes, attributes_name = _read_table(
        sample_attributes,
        ["SAMPID", "SMTS", "SMTSD"] + (["SMAFRZE"] if freeze_only else []),
        [],
        "sample attributes",
        "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt",
    )
    with _open_text(expression) as fh:
        try:
            n_genes, sample_ids = _read_gct_header(fh, expression)
        except UnicodeDecodeError:
            raise ValueError(
                f"{os.fspath(expression)!r} is not a GCT 1.2 file: it is not text."
            ) from None
        sample_ids = pd.Index(sample_ids, dtype=object)
        absent = sample_ids[~sample_ids.isin(attributes.index)]
        if len(absent):
            raise ValueError(
                f"{len(absent)} sample(s) of {os.fspath(expression)!r} are not in "
                f"the sample attributes table {attributes_name}: "
                f"{_preview(absent.tolist())}. Are both files from the same GTEx "
                "release?"
            )
        attrs = attributes.loc[sample_ids]
        tissue = attrs["SMTSD"].astype(object).to_numpy()
        group = attrs["SMTS"].astype(object).to_numpy()
        keep = np.ones(len(sample_ids), dtype=bool)
        if freeze_only:
            keep &= (attrs["SMAFRZE"] == "RNASEQ").to_numpy()
        if tissues is not None:
            tissues = np.asarray(tissues, dtype=object).ravel().tolist()
            available = set(tissue.tolist()) | set(group.tolist())
            unknown = [t for t in tissues if t not in available]
            if unknown:
                raise ValueError(
                    f"Unknown tissue(s) {_preview(unknown)}: not a SMTSD or SMTS "
                    f"value of the samples of {os.fspath(expression)!r}. Available: "
                    f"{_preview(sorted(available - {None}, key=str), limit=60)}."
                )
            keep &= np.isin(tissue, tissues) | np.isin(group, tissues)
        if min_samples_per_tissue > 1:
            counts = pd.Series(tissue[keep]).value_counts()
            too_small = counts.index[counts < min_samples_per_tissue].tolist()
            keep &= ~np.isin(tissue, too_small)
        if not keep.any():
            raise ValueError(
                f"No sample of {os.fspath(expression)!r} is left after filtering "
                f"(freeze_only={freeze_only}, tissues={tissues!r}, "
                f"min_samples_per_tissue={min_samples_per_tissue})."
            )
        columns = np.flatnonzero(keep)
        gene_ids, gene_symbols, values = _stream_gct_rows(
            fh, expression, n_genes, len(sample_ids), selector, columns + 2, dtype
        )
    if selector is not None:
        selector.check(expression, len(gene_ids))
    if log_transform and values.size:
        # fmin skips NaN (missing cells), and does not warn if all are missing
        if np.fmin.reduce(values, axis=None) < 0:
            raise ValueError(
                f"{os.fspath(expression)!r} has negative values, so log1p cannot "
                "apply; is it already log-transformed? Pass log_transform=False."
            )
        np.log1p(values, out=values)

    kept = sample_ids[columns]
    index = pd.Index(kept, name="SAMPID")
    donors = np.array([_donor_id(s) for s in kept], dtype=object)
    covariates = {
        "tissue": tissue[columns],
        "tissue_group": group[columns],
        "donor": donors,
    }
    spec = [("tissue", "categorical", ["tissue"])]
    if subject_phenotypes is not None:
        phenotypes, phenotypes_name = _read_table(
            subject_phenotypes,
            ["SUBJID"],
            ["SEX", "AGE", "DTHHRDY", "COHORT"],
            "subject phenotypes",
            "GTEx_Analysis_v8_Annotations_SubjectPhenotypesDS.txt",
        )
        unique_donors = pd.Index(pd.unique(donors))
        absent = unique_donors[~unique_donors.isin(phenotypes.index)]
        if len(absent):
            raise ValueError(
                f"{len(absent)} donor(s) of {os.fspath(expression)!r} are not in "
                f"the subject phenotypes table {phenotypes_name}: "
                f"{_preview(absent.tolist())}."
            )
        pheno = phenotypes.loc[donors]
        if "SEX" in pheno:
            covariates["sex"] = _parse_sex(pheno["SEX"], phenotypes_name).to_numpy()
            spec.append(("sex", "categorical", ["sex"]))
        if "AGE" in pheno:
            covariates["age"] = _parse_age(pheno["AGE"].to_numpy(), phenotypes_name)
            spec.append(("age", "numerical", ["age"]))
        if "DTHHRDY" in pheno:
            covariates["death_type"] = _parse_hardy(
                pheno["DTHHRDY"], phenotypes_name
            ).to_numpy()
        if "COHORT" in pheno:
            covariates["cohort"] = pheno["COHORT"].fillna("unknown").to_numpy()

    names = list(covariates)
    bunch = Bunch(
        covariate_names=names,
        covariate_spec=spec,
        gene_ids=gene_ids,
        gene_symbols=gene_symbols,
        sample_ids=np.asarray(kept, dtype=object),
    )
    if not as_frame:
        bunch.expression = values
        cov = np.empty((len(kept), len(names)), dtype=object)
        for j, name in enumerate(names):
            cov[:, j] = covariates[name]
        bunch.covariates = cov
        return bunch
    expr_df = pd.DataFrame(values, index=index, columns=list(gene_ids), copy=False)
    cov_df = pd.DataFrame(
        {
            name: (
                np.asarray(col, dtype=float)
                if name == "age"
                else pd.Series(col, index=index, dtype=object).astype(str)
            )
            for name, col in covariates.items()
        },
        index=index,
    )
    bunch.expression = expr_df
    bunch.covariates = cov_df
    bunch.frame = pd.concat([expr_df, cov_df], axis=1)
    return bunch

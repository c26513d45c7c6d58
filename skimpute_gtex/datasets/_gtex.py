"""Load GTEx with its covariates: annotation tables, their codes, ``load_gtex``.

The expression matrix is read by :mod:`._gct` (streamed); this module reads the
sample attributes and subject phenotypes tables, decodes their columns (sex,
age bracket, Hardy scale) and joins them to the samples.
"""

import os
import re
from collections.abc import Mapping
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..utils._compat import Interval, StrOptions, validate_params
from ._align import _preview
from ._gct import _PATH, _make_selector, _open_text, _read_gct_header, _stream_gct_rows

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


def _donor_id(sample_id):
    """GTEx donor id: the first two dash-separated fields of a sample id."""
    return "-".join(str(sample_id).split("-")[:2])


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


@validate_params({"values": ["array-like"]}, prefer_skip_nested_validation=True)
def parse_gtex_age(values):
    """Years of age from GTEx ``AGE`` values: a bracket gives its midpoint.

    The public GTEx subject phenotypes give each donor's age as a ten-year
    bracket (``"60-69"``); the protected dbGaP table gives exact years. A
    bracket ``"lo-hi"`` of whole years covers ages ``lo`` to ``hi + 1``
    (exclusive), so its midpoint is ``(lo + hi + 1) / 2``: ``"60-69"`` gives
    65.0. A number is taken as it is; a missing value is NaN.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        ``AGE`` values: strings such as ``"60-69"``, numbers, or missing
        (``None``, NaN).

    Returns
    -------
    age : ndarray of float of shape (n_samples,)
        Years of age; NaN where the value is missing.

    Raises
    ------
    ValueError
        If a value is neither a bracket ``"lo-hi"`` nor a number.

    See Also
    --------
    load_gtex : uses it for the ``age`` covariate.

    Examples
    --------
    >>> from skimpute_gtex.datasets import parse_gtex_age
    >>> parse_gtex_age(["60-69", "20-29", 43, None])
    array([65., 25., 43., nan])
    """
    values = np.asarray(values, dtype=object).ravel()
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
                f"AGE must be a bracket like '60-69' or a number of years; got "
                f"{value!r}."
            ) from None
    return out


def _parse_age(values, name):
    """:func:`parse_gtex_age`, its error message naming the table."""
    try:
        return parse_gtex_age(values)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


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
    filters = dict(freeze_only=freeze_only, tissues=tissues,
                   min_samples_per_tissue=min_samples_per_tissue)
    with _open_text(expression) as fh:
        n_genes, sample_ids = _read_gct_header(fh, expression)
        sample_ids = pd.Index(sample_ids, dtype=object)
        attrs = _attributes_of(attributes, attributes_name, sample_ids, expression)
        columns = _kept_samples(attrs, expression, **filters)
        gene_ids, gene_symbols, values = _stream_gct_rows(
            fh, expression, n_genes, len(sample_ids), selector, columns + 2, dtype
        )
    if selector is not None:
        selector.check(expression, len(gene_ids))
    if log_transform:
        _log1p(values, expression)
    kept = sample_ids[columns]
    donors = np.array([_donor_id(s) for s in kept], dtype=object)
    covariates = {
        "tissue": attrs["SMTSD"].astype(object).to_numpy()[columns],
        "tissue_group": attrs["SMTS"].astype(object).to_numpy()[columns],
        "donor": donors,
    }
    spec = [("tissue", "categorical", ["tissue"])]
    if subject_phenotypes is not None:
        more, more_spec = _phenotype_covariates(subject_phenotypes, donors,
                                                expression)
        covariates.update(more)
        spec += more_spec
    bunch = Bunch(
        covariate_names=list(covariates),
        covariate_spec=spec,
        gene_ids=gene_ids,
        gene_symbols=gene_symbols,
        sample_ids=np.asarray(kept, dtype=object),
    )
    return _fill_bunch(bunch, values, covariates, as_frame)


def _attributes_of(attributes, attributes_name, sample_ids, expression):
    """The rows of the attributes table for the GCT's samples, in GCT order."""
    absent = sample_ids[~sample_ids.isin(attributes.index)]
    if len(absent):
        raise ValueError(
            f"{len(absent)} sample(s) of {os.fspath(expression)!r} are not in "
            f"the sample attributes table {attributes_name}: "
            f"{_preview(absent.tolist())}. Are both files from the same GTEx "
            "release?"
        )
    return attributes.loc[sample_ids]


def _kept_samples(attrs, expression, *, freeze_only, tissues,
                  min_samples_per_tissue):
    """Positions (in GCT order) of the samples that pass the filters."""
    tissue = attrs["SMTSD"].astype(object).to_numpy()
    group = attrs["SMTS"].astype(object).to_numpy()
    keep = np.ones(len(attrs), dtype=bool)
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
    return np.flatnonzero(keep)


def _log1p(values, expression):
    """``log1p`` in place; negative values mean the data is already on log scale."""
    if not values.size:
        return
    # fmin skips NaN (missing cells), and does not warn if all are missing
    if np.fmin.reduce(values, axis=None) < 0:
        raise ValueError(
            f"{os.fspath(expression)!r} has negative values, so log1p cannot "
            "apply; is it already log-transformed? Pass log_transform=False."
        )
    np.log1p(values, out=values)


def _phenotype_covariates(subject_phenotypes, donors, expression):
    """Sex, age, death type and cohort of each sample's donor, and their spec."""
    phenotypes, name = _read_table(
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
            f"the subject phenotypes table {name}: {_preview(absent.tolist())}."
        )
    pheno = phenotypes.loc[donors]
    covariates, spec = {}, []
    if "SEX" in pheno:
        covariates["sex"] = _parse_sex(pheno["SEX"], name).to_numpy()
        spec.append(("sex", "categorical", ["sex"]))
    if "AGE" in pheno:
        covariates["age"] = _parse_age(pheno["AGE"].to_numpy(), name)
        spec.append(("age", "numerical", ["age"]))
    if "DTHHRDY" in pheno:
        covariates["death_type"] = _parse_hardy(pheno["DTHHRDY"], name).to_numpy()
    if "COHORT" in pheno:
        covariates["cohort"] = pheno["COHORT"].fillna("unknown").to_numpy()
    return covariates, spec


def _fill_bunch(bunch, values, covariates, as_frame):
    """Add ``expression``, ``covariates`` (and ``frame``) as arrays or frames."""
    names = bunch.covariate_names
    if not as_frame:
        bunch.expression = values
        cov = np.empty((len(bunch.sample_ids), len(names)), dtype=object)
        for j, name in enumerate(names):
            cov[:, j] = covariates[name]
        bunch.covariates = cov
        return bunch
    index = pd.Index(bunch.sample_ids, name="SAMPID")
    expr_df = pd.DataFrame(values, index=index, columns=list(bunch.gene_ids),
                           copy=False)
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

"""Tests for the GTEx portal-format loader (read_gct, load_gtex).

Every test writes its own tiny portal-format files into ``tmp_path``.
"""

import gzip
import re

import numpy as np
import pandas as pd
import pytest

from skimpute_gtex.datasets import load_gtex, read_gct

GENE_IDS = [
    "ENSG00000141510.16",
    "ENSG00000012048.20",
    "ENSG00000146648.15",
    "ENSG00000002586.18_PAR_Y",
]
SYMBOLS = ["TP53", "BRCA1", "EGFR", "CD99"]
# (SAMPID, SMTS, SMTSD, SMAFRZE)
SAMPLES = [
    ("GTEX-1117F-0226-SM-5GZZ7", "Blood", "Whole Blood", "RNASEQ"),
    ("GTEX-1117F-0426-SM-5EGHI", "Lung", "Lung", "RNASEQ"),
    ("GTEX-1117F-3226-SM-5N9CT", "Brain", "Brain - Cortex", "RNASEQ"),
    ("GTEX-111CU-0326-SM-5GZXO", "Blood", "Whole Blood", "RNASEQ"),
    ("GTEX-111CU-1826-SM-5GZYN", "Brain", "Brain - Cerebellum", "RNASEQ"),
    ("GTEX-111FC-0226-SM-5N9B8", "Blood", "Whole Blood", "EXCLUDE"),
]
SAMPLE_IDS = [s[0] for s in SAMPLES]
# (SUBJID, SEX, AGE, DTHHRDY)
SUBJECTS = [
    ("GTEX-1117F", "2", "60-69", "4"),
    ("GTEX-111CU", "1", "50-59", ""),
    ("GTEX-111FC", "1", "20-29", "0"),
    ("GTEX-999XX", "2", "70-79", "1"),
]
VALUES = (
    np.arange(len(GENE_IDS) * len(SAMPLES), dtype=float).reshape(
        len(GENE_IDS), len(SAMPLES)
    )
    * 1.5
)


def gct_text(
    gene_ids=GENE_IDS,
    symbols=SYMBOLS,
    sample_ids=SAMPLE_IDS,
    values=VALUES,
    *,
    version="#1.2",
    dims=None,
):
    """The text of a GCT 1.2 file (genes x samples)."""
    if dims is None:
        dims = f"{len(gene_ids)}\t{len(sample_ids)}"
    lines = [version, dims, "\t".join(["Name", "Description", *sample_ids])]
    for gene, symbol, row in zip(gene_ids, symbols, values):
        lines.append("\t".join([gene, symbol, *(str(v) for v in row)]))
    return "\n".join(lines) + "\n"


def write(path, text, compress=False):
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def attributes_text(samples=SAMPLES, extra=True):
    lines = ["SAMPID\tSMATSSCR\tSMTS\tSMTSD\tSMAFRZE"]
    for sampid, smts, smtsd, frz in samples:
        lines.append(f"{sampid}\t1.0\t{smts}\t{smtsd}\t{frz}")
    if extra:  # a DNA sample, absent from the expression matrix
        lines.append("GTEX-999XX-0001-SM-AAAAA\t\tBlood\tWhole Blood\tWGS")
    return "\n".join(lines) + "\n"


def phenotypes_text(subjects=SUBJECTS, cohort=False):
    header = "SUBJID\tSEX\tAGE\tDTHHRDY" + ("\tCOHORT" if cohort else "")
    lines = [header]
    for i, row in enumerate(subjects):
        fields = list(row) + (
            ["Postmortem" if i % 2 else "Organ Donor (OPO)"] if cohort else []
        )
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


@pytest.fixture
def files(tmp_path):
    """Paths of a gzip GCT, a plain GCT, the attributes and phenotypes tables."""
    return {
        "gz": write(tmp_path / "x_gene_tpm.gct.gz", gct_text(), compress=True),
        "plain": write(tmp_path / "x_gene_tpm.gct", gct_text()),
        "attributes": write(tmp_path / "SampleAttributesDS.txt", attributes_text()),
        "phenotypes": write(tmp_path / "SubjectPhenotypesDS.txt", phenotypes_text()),
    }


# --------------------------------------------------------------------- read_gct
@pytest.mark.parametrize("kind", ["gz", "plain"])
def test_read_gct_matches_pandas(files, kind):
    data = read_gct(files[kind])
    reference = pd.read_csv(files["plain"], sep="\t", skiprows=2, index_col=0)
    expected = reference.drop(columns="Description").T
    np.testing.assert_array_equal(data.expression.to_numpy(), expected.to_numpy())
    assert list(data.expression.columns) == GENE_IDS
    assert list(data.expression.index) == SAMPLE_IDS
    assert list(data.gene_symbols) == SYMBOLS
    assert list(data.sample_ids) == SAMPLE_IDS


def test_gzip_detected_by_magic_bytes_not_name(tmp_path):
    gz_named_plain = write(tmp_path / "a.gct.gz", gct_text())
    plain_named_gz = write(tmp_path / "b.gct", gct_text(), compress=True)
    a, b = read_gct(gz_named_plain), read_gct(plain_named_gz)
    pd.testing.assert_frame_equal(a.expression, b.expression)


@pytest.mark.parametrize(
    "genes, expected",
    [
        (["ENSG00000146648"], ["ENSG00000146648.15"]),  # id without version
        (["ENSG00000146648.15"], ["ENSG00000146648.15"]),  # id with version
        (["ENSG00000146648.14"], ["ENSG00000146648.15"]),  # other version
        (["EGFR", "TP53"], ["ENSG00000141510.16", "ENSG00000146648.15"]),  # symbols
        (["ENSG00000002586_PAR_Y"], ["ENSG00000002586.18_PAR_Y"]),
        (np.array(["TP53", "ENSG00000141510"]), ["ENSG00000141510.16"]),
    ],
)
def test_read_gct_gene_selection(files, genes, expected):
    data = read_gct(files["gz"], genes=genes)
    assert list(data.expression.columns) == expected  # file order
    for gene in expected:
        row = GENE_IDS.index(gene)
        np.testing.assert_array_equal(data.expression[gene].to_numpy(), VALUES[row])


def test_read_gct_samples_and_dtype(files):
    wanted = [SAMPLE_IDS[3], SAMPLE_IDS[1]]
    data = read_gct(files["gz"], samples=wanted, dtype="float32")
    assert list(data.expression.index) == [SAMPLE_IDS[1], SAMPLE_IDS[3]]
    assert (data.expression.dtypes == np.float32).all()
    np.testing.assert_array_equal(data.expression.to_numpy(), VALUES[:, [1, 3]].T)


def test_read_gct_missing_samples(files):
    with pytest.raises(ValueError, match=r"sample\(s\) are not in .*GTEX-NOPE"):
        read_gct(files["gz"], samples=["GTEX-NOPE-0001"])


def test_only_selected_rows_are_parsed(tmp_path):
    """A bad value in an unselected row is never parsed: proof of streaming."""
    values = VALUES.astype(object)
    values[2, 3] = "not-a-number"
    path = write(tmp_path / "bad.gct.gz", gct_text(values=values), compress=True)
    data = read_gct(path, genes=["TP53", "BRCA1"])
    assert data.expression.shape == (len(SAMPLES), 2)
    with pytest.raises(ValueError, match=r"bad\.gct\.gz'?, line 6: non-numeric"):
        read_gct(path)


def test_missing_genes_warn(files):
    with pytest.warns(UserWarning, match=r"1 of the 3 requested genes.*\['NOTAGENE'\]"):
        data = read_gct(files["gz"], genes=["TP53", "NOTAGENE", "EGFR"])
    assert data.expression.shape[1] == 2


def test_no_genes_found_error(files):
    with pytest.raises(ValueError, match=r"None of the 2 requested genes.*x_gene_tpm"):
        read_gct(files["gz"], genes=["NOPE1", "ENSG99999999999"])


def test_genes_must_not_be_empty_or_a_string(files):
    with pytest.raises(ValueError, match="genes is empty"):
        read_gct(files["gz"], genes=[])
    with pytest.raises(ValueError, match="'genes' parameter"):
        read_gct(files["gz"], genes="TP53")


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize("compress", [False, True])
def test_not_a_gct(tmp_path, compress):
    path = write(tmp_path / "table.txt", "SAMPID\tSMTS\nA\tB\n", compress=compress)
    match = r"table\.txt'? is not a GCT 1\.2 file.*'#1\.2"
    with pytest.raises(ValueError, match=match):
        read_gct(path)


def test_gct_version_13_rejected(tmp_path):
    path = write(tmp_path / "v13.gct", gct_text(version="#1.3"))
    with pytest.raises(ValueError, match="not a GCT 1.2 file.*#1.3"):
        read_gct(path)


def test_empty_file(tmp_path):
    path = write(tmp_path / "empty.gct", "")
    with pytest.raises(ValueError, match="empty.gct'? is not a GCT"):
        read_gct(path)


def test_binary_file(tmp_path):
    path = tmp_path / "binary.gct"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ValueError, match="binary.gct'? is not a GCT"):
        read_gct(path)


def test_bad_dimensions_line(tmp_path):
    path = write(tmp_path / "dims.gct", gct_text(dims="four\tsix"))
    with pytest.raises(ValueError, match="second line should give the dimensions"):
        read_gct(path)


def test_bad_header(tmp_path):
    text = gct_text().replace("Name\tDescription", "gene_id\tsymbol")
    path = write(tmp_path / "header.gct", text)
    with pytest.raises(ValueError, match="third line should be the header"):
        read_gct(path)


def test_header_sample_count_mismatch(tmp_path):
    path = write(tmp_path / "n.gct", gct_text(dims=f"{len(GENE_IDS)}\t99"))
    with pytest.raises(ValueError, match=r"declares 99 samples .* header lists 6"):
        read_gct(path)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_fewer_rows(tmp_path, compress):
    text = gct_text(dims=f"10\t{len(SAMPLES)}")
    path = write(tmp_path / "short.gct", text, compress=compress)
    match = r"short\.gct'? is truncated: .*declares 10 gene rows.*has 4"
    with pytest.raises(ValueError, match=match):
        read_gct(path)


def test_more_rows_than_declared(tmp_path):
    path = write(tmp_path / "long.gct", gct_text(dims=f"2\t{len(SAMPLES)}"))
    with pytest.raises(ValueError, match="more gene rows than the 2 declared"):
        read_gct(path)


def test_truncated_row_wrong_field_count(tmp_path):
    text = gct_text()
    text = text[: text.rindex("\t")] + "\n"  # cut the last row short
    path = write(tmp_path / "cut.gct", text)
    match = r"cut\.gct'?, line 7: expected 8 tab-separated fields.*found 7"
    with pytest.raises(ValueError, match=match):
        read_gct(path)


def test_truncated_gzip_stream(tmp_path):
    full = write(tmp_path / "full.gct.gz", gct_text(), compress=True).read_bytes()
    path = tmp_path / "cut.gct.gz"
    path.write_bytes(full[: len(full) - 12])
    with pytest.raises(ValueError, match=r"cut\.gct\.gz'? is truncated or corrupt"):
        read_gct(path)


def test_duplicated_sample_ids(tmp_path):
    ids = SAMPLE_IDS[:-1] + [SAMPLE_IDS[0]]
    path = write(tmp_path / "dup.gct", gct_text(sample_ids=ids))
    with pytest.raises(ValueError, match="duplicated sample ids"):
        read_gct(path)


# -------------------------------------------------------------------- load_gtex
@pytest.mark.parametrize("kind", ["gz", "plain"])
def test_load_gtex_full(files, kind):
    data = load_gtex(files[kind], files["attributes"], files["phenotypes"])
    kept = SAMPLE_IDS[:5]  # the EXCLUDE sample is not in the freeze
    assert list(data.expression.index) == kept
    assert list(data.expression.columns) == GENE_IDS
    np.testing.assert_allclose(data.expression.to_numpy(), np.log1p(VALUES[:, :5].T))
    cov = data.covariates
    assert list(cov.columns) == [
        "tissue",
        "tissue_group",
        "donor",
        "sex",
        "age",
        "death_type",
    ]
    assert data.covariate_names == list(cov.columns)
    assert list(cov["tissue"]) == [s[2] for s in SAMPLES[:5]]
    assert list(cov["tissue_group"]) == [s[1] for s in SAMPLES[:5]]
    assert list(cov["donor"]) == ["GTEX-1117F"] * 3 + ["GTEX-111CU"] * 2
    assert list(cov["sex"]) == ["female"] * 3 + ["male"] * 2
    assert cov["age"].dtype == np.float64
    assert list(cov["age"]) == [65.0] * 3 + [55.0] * 2
    assert list(cov["death_type"]) == ["slow"] * 3 + ["unknown"] * 2
    assert data.covariate_spec == [
        ("tissue", "categorical", ["tissue"]),
        ("sex", "categorical", ["sex"]),
        ("age", "numerical", ["age"]),
    ]
    pd.testing.assert_frame_equal(
        data.frame, pd.concat([data.expression, data.covariates], axis=1)
    )
    assert list(data.gene_ids) == GENE_IDS
    assert list(data.gene_symbols) == SYMBOLS
    assert list(data.sample_ids) == kept


def test_load_gtex_without_phenotypes(files):
    data = load_gtex(files["gz"], files["attributes"], log_transform=False)
    assert list(data.covariates.columns) == ["tissue", "tissue_group", "donor"]
    assert data.covariate_spec == [("tissue", "categorical", ["tissue"])]
    np.testing.assert_array_equal(data.expression.to_numpy(), VALUES[:, :5].T)


def test_load_gtex_cohort_and_exact_age(tmp_path, files):
    subjects = [(s, sex, str(40 + i), d) for i, (s, sex, _, d) in enumerate(SUBJECTS)]
    pheno = write(tmp_path / "protected.txt", phenotypes_text(subjects, cohort=True))
    data = load_gtex(files["gz"], files["attributes"], pheno)
    assert list(data.covariates["age"]) == [40.0] * 3 + [41.0] * 2
    assert (
        list(data.covariates["cohort"])
        == ["Organ Donor (OPO)"] * 3 + ["Postmortem"] * 2
    )


def test_load_gtex_freeze_only_false(files):
    data = load_gtex(
        files["gz"], files["attributes"], files["phenotypes"], freeze_only=False
    )
    assert list(data.sample_ids) == SAMPLE_IDS
    assert data.covariates["death_type"].iloc[-1] == "ventilator"


@pytest.mark.parametrize(
    "tissues, expected",
    [
        (["Whole Blood"], [0, 3]),
        (["Brain"], [2, 4]),  # a tissue group (SMTS)
        (["Lung", "Brain - Cortex"], [1, 2]),
    ],
)
def test_load_gtex_tissues(files, tissues, expected):
    data = load_gtex(files["gz"], files["attributes"], tissues=tissues)
    assert list(data.sample_ids) == [SAMPLE_IDS[i] for i in expected]
    np.testing.assert_allclose(
        data.expression.to_numpy(), np.log1p(VALUES[:, expected].T)
    )


def test_load_gtex_min_samples_per_tissue(files):
    data = load_gtex(files["gz"], files["attributes"], min_samples_per_tissue=2)
    assert set(data.covariates["tissue"]) == {"Whole Blood"}
    assert len(data.sample_ids) == 2


def test_load_gtex_genes_and_as_frame_false(files):
    data = load_gtex(
        files["gz"],
        files["attributes"],
        files["phenotypes"],
        genes=["BRCA1", "ENSG00000141510"],
        as_frame=False,
    )
    assert isinstance(data.expression, np.ndarray)
    assert data.expression.shape == (5, 2)
    assert "frame" not in data
    assert data.covariates.shape == (5, 6)
    assert list(data.gene_ids) == GENE_IDS[:2]


def test_load_gtex_attributes_as_dataframe(files):
    attributes = pd.read_csv(files["attributes"], sep="\t")
    a = load_gtex(files["gz"], attributes, files["phenotypes"])
    b = load_gtex(files["gz"], files["attributes"], files["phenotypes"])
    pd.testing.assert_frame_equal(a.frame, b.frame)


def test_load_gtex_protein_coding_only(files):
    gene_types = {
        "ENSG00000141510": "protein_coding",
        "ENSG00000012048.19": "protein_coding",  # version ignored
        "ENSG00000146648": "lncRNA",
    }
    data = load_gtex(
        files["gz"],
        files["attributes"],
        gene_types=gene_types,
        protein_coding_only=True,
    )
    assert list(data.gene_ids) == GENE_IDS[:2]
    data = load_gtex(
        files["gz"],
        files["attributes"],
        genes=["TP53", "EGFR"],
        gene_types=pd.Series(gene_types),
        protein_coding_only=True,
    )
    assert list(data.gene_ids) == GENE_IDS[:1]
    with pytest.raises(ValueError, match="no gene .* is left|No gene"):
        load_gtex(
            files["gz"],
            files["attributes"],
            genes=["EGFR"],
            gene_types=gene_types,
            protein_coding_only=True,
        )


def test_load_gtex_protein_coding_needs_gene_types(files):
    with pytest.raises(ValueError, match="protein_coding_only=True needs gene_types"):
        load_gtex(files["gz"], files["attributes"], protein_coding_only=True)


def test_load_gtex_float32(files):
    data = load_gtex(files["gz"], files["attributes"], dtype="float32")
    assert (data.expression.dtypes == np.float32).all()


def test_samples_missing_from_attributes(tmp_path, files):
    attributes = write(tmp_path / "attrs.txt", attributes_text(SAMPLES[1:]))
    with pytest.raises(
        ValueError,
        match=r"1 sample\(s\) of .*x_gene_tpm.gct.gz'? are not in the sample "
        r"attributes table .*attrs\.txt.*GTEX-1117F-0226-SM-5GZZ7",
    ):
        load_gtex(files["gz"], attributes)


def test_donors_missing_from_phenotypes(tmp_path, files):
    pheno = write(tmp_path / "pheno.txt", phenotypes_text(SUBJECTS[1:]))
    with pytest.raises(ValueError, match=r"1 donor\(s\) .*pheno\.txt.*GTEX-1117F"):
        load_gtex(files["gz"], files["attributes"], pheno)


def test_attributes_missing_column(tmp_path, files):
    text = attributes_text().replace("SMTSD", "TISSUE")
    attributes = write(tmp_path / "attrs.txt", text)
    with pytest.raises(ValueError, match=r"attrs\.txt'? has no column 'SMTSD'"):
        load_gtex(files["gz"], attributes)


def test_attributes_duplicated_sample(tmp_path, files):
    attributes = write(tmp_path / "attrs.txt", attributes_text(SAMPLES + SAMPLES[:1]))
    with pytest.raises(ValueError, match="duplicated SAMPID"):
        load_gtex(files["gz"], attributes)


def test_unknown_tissue(files):
    with pytest.raises(ValueError, match=r"Unknown tissue\(s\) \['Blood - Whole'\]"):
        load_gtex(files["gz"], files["attributes"], tissues=["Blood - Whole"])


def test_no_sample_left(files):
    with pytest.raises(ValueError, match="No sample of .* is left after filtering"):
        load_gtex(
            files["gz"], files["attributes"], tissues=["Lung"], min_samples_per_tissue=2
        )


def test_bad_sex_and_hardy_codes(tmp_path, files):
    bad_sex = [("GTEX-1117F", "M", "60-69", "4")] + SUBJECTS[1:]
    pheno = write(tmp_path / "sex.txt", phenotypes_text(bad_sex))
    with pytest.raises(ValueError, match=r"SEX must be coded 1 \(male\) or 2"):
        load_gtex(files["gz"], files["attributes"], pheno)
    bad_hardy = [("GTEX-1117F", "2", "60-69", "7")] + SUBJECTS[1:]
    pheno = write(tmp_path / "hardy.txt", phenotypes_text(bad_hardy))
    with pytest.raises(ValueError, match="DTHHRDY must be a Hardy scale code"):
        load_gtex(files["gz"], files["attributes"], pheno)
    bad_age = [("GTEX-1117F", "2", "sixty", "4")] + SUBJECTS[1:]
    pheno = write(tmp_path / "age.txt", phenotypes_text(bad_age))
    with pytest.raises(ValueError, match="AGE must be a bracket"):
        load_gtex(files["gz"], files["attributes"], pheno)


def test_negative_values_with_log_transform(tmp_path, files):
    path = write(tmp_path / "neg.gct", gct_text(values=VALUES - 5))
    with pytest.raises(ValueError, match=re.escape("Pass log_transform=False")):
        load_gtex(path, files["attributes"])
    data = load_gtex(path, files["attributes"], log_transform=False)
    assert data.expression.to_numpy().min() < 0


def test_load_gtex_errors_from_gct(tmp_path, files):
    """GCT errors surface through load_gtex too."""
    path = write(tmp_path / "short.gct.gz", gct_text(dims="9\t6"), compress=True)
    with pytest.raises(ValueError, match="is truncated"):
        load_gtex(path, files["attributes"])
    with pytest.warns(UserWarning, match="NOPE"):
        load_gtex(files["gz"], files["attributes"], genes=["TP53", "NOPE"])


# ---------------------------------------------------------------- missing cells
NA_CELLS = ["", "NA", "nan", "NaN", "N/A", "NULL", " NA"]


def gct_with_missing_cells():
    """VALUES with one missing marker per cell of ``NA_CELLS`` (and a last cell)."""
    values = VALUES.astype(object)
    for k, marker in enumerate(NA_CELLS):
        values[k % len(GENE_IDS), k % len(SAMPLES)] = marker
    values[1, -1] = ""  # an empty last field: the line ends with a tab
    return values


@pytest.mark.parametrize("compress", [False, True])
def test_read_gct_blank_and_na_cells_are_missing(tmp_path, compress):
    """Empty and NA cells are NaN, the other cells as in the file, as in a CSV."""
    values = gct_with_missing_cells()
    text = gct_text(values=values)
    path = write(tmp_path / "na.gct", text, compress=compress)
    data = read_gct(path)
    expected = np.where(
        [[isinstance(v, str) for v in row] for row in values], np.nan, VALUES
    ).T
    np.testing.assert_array_equal(data.expression.to_numpy(), expected)
    # pandas reads the same cells as missing (" NA" aside: it keeps spaces)
    plain = write(tmp_path / "na.tsv", text.replace("\t NA", "\tNA"))
    reference = pd.read_csv(plain, sep="\t", skiprows=2, index_col=0)
    np.testing.assert_array_equal(
        reference.drop(columns="Description").T.to_numpy(dtype=float), expected
    )
    # a gene and sample selection reads the same cells
    subset = read_gct(path, genes=["BRCA1", "EGFR"], samples=SAMPLE_IDS[:3])
    np.testing.assert_array_equal(subset.expression.to_numpy(), expected[:3, 1:3])


def test_read_gct_na_markers_do_not_hide_bad_values(tmp_path):
    values = gct_with_missing_cells()
    values[3, 2] = "n.d."
    path = write(tmp_path / "bad.gct", gct_text(values=values))
    with pytest.raises(ValueError, match=r"line 7: non-numeric .*'n\.d\.'"):
        read_gct(path)


def test_load_gtex_missing_cells(tmp_path, files):
    values = gct_with_missing_cells()
    path = write(tmp_path / "na.gct", gct_text(values=values))
    data = load_gtex(path, files["attributes"], files["phenotypes"])
    missing = np.array([[isinstance(v, str) for v in row] for row in values]).T
    keep = [s[3] == "RNASEQ" for s in SAMPLES]
    np.testing.assert_array_equal(data.expression.isna().to_numpy(), missing[keep])
    # a negative value is still found among the missing ones
    values[0, 1] = -1.0
    path = write(tmp_path / "neg_na.gct", gct_text(values=values))
    with pytest.raises(ValueError, match="has negative values"):
        load_gtex(path, files["attributes"])


def test_parse_gtex_age_midpoints_numbers_and_missing():
    from skimpute_gtex.datasets import parse_gtex_age

    out = parse_gtex_age(["20-29", " 70 - 79 ", "43", 51.5, None, np.nan])
    np.testing.assert_array_equal(out[:4], [25.0, 75.0, 43.0, 51.5])
    assert np.isnan(out[4:]).all()
    with pytest.raises(ValueError, match="bracket like '60-69'"):
        parse_gtex_age(["sixty"])

"""The command line interface, through ``main([...])``."""

import builtins
import csv
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skimpute_gtex.cli import _EXACT_FLOATS, build_parser, main
from skimpute_gtex.datasets import make_gtex_like, simulate_missing

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

def read_csv(*args, **kwargs):
    """``pd.read_csv`` that reads every float as written, as the CLI does."""
    return pd.read_csv(*args, **_EXACT_FLOATS, **kwargs)


FAST = ["--max-iter", "2", "--hidden-layer-sizes", "8", "--device", "cpu",
        "--batch-size", "16"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A masked CSV matrix, the same matrix as genes-x-samples TSV, covariates."""
    tmp = tmp_path_factory.mktemp("cli")
    data = make_gtex_like(n_samples=60, n_genes=12, n_tissues=3, random_state=0)
    ids = [f"S{i:03d}" for i in range(60)]
    X_miss, _ = simulate_missing(data.expression, 0.3, random_state=0)
    matrix = pd.DataFrame(X_miss, index=pd.Index(ids, name="sample"),
                          columns=data.gene_names)
    matrix.to_csv(tmp / "expr.csv")
    matrix.T.to_csv(tmp / "expr_t.tsv", sep="\t")
    complete = pd.DataFrame(data.expression.to_numpy(), index=matrix.index,
                            columns=data.gene_names)
    complete.to_csv(tmp / "complete.csv")
    cov = data.covariates.assign(sample=ids)[["sample", "tissue", "sex", "age"]]
    cov.to_csv(tmp / "cov.tsv", sep="\t", index=False)
    return tmp, matrix


def test_demo_tiny(capsys):
    assert main(["demo", "--n-samples", "100", "--n-genes", "10", "--fast",
                 "--random-state", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "PMIImputer" in out and "inductive" in out and "TissueMedianImputer" in out


def test_fit_impute_round_trip(files, capsys):
    tmp, matrix = files
    model = tmp / "model.joblib"
    assert main(["fit", str(tmp / "complete.csv"), "--covariates",
                 str(tmp / "cov.tsv"), "--categorical", "tissue", "sex",
                 "--numerical", "age", "-o", str(model), *FAST]) == 0
    # inductive: genes as rows in a TSV, the model decides the covariates
    out = tmp / "imputed.tsv"
    assert main(["impute", str(tmp / "expr_t.tsv"), "--genes-as-rows",
                 "--covariates", str(tmp / "cov.tsv"), "--model-file", str(model),
                 "-o", str(out)]) == 0
    result = read_csv(out, sep="\t", index_col=0).T
    assert list(result.index) == list(matrix.index)
    assert list(result.columns) == list(matrix.columns)
    observed = ~matrix.isna().to_numpy()
    assert not result.isna().to_numpy().any()
    np.testing.assert_allclose(result.to_numpy()[observed],
                               matrix.to_numpy()[observed])


def test_impute_in_place_csv(files):
    tmp, matrix = files
    out = tmp / "inplace.csv"
    assert main(["impute", str(tmp / "expr.csv"), "--covariates",
                 str(tmp / "cov.tsv"), "-o", str(out), *FAST]) == 0
    result = read_csv(out, index_col=0)
    assert result.shape == matrix.shape and not result.isna().to_numpy().any()


def test_verbose_goes_to_stderr(files, capsys):
    tmp, _ = files
    assert main(["impute", str(tmp / "expr.csv"), "-o", str(tmp / "v.csv"),
                 "--verbose", *FAST]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "[PMIImputer] epoch    1/2" in captured.err


def test_progress_by_default_and_quiet(files, capsys):
    # not a terminal here: plain progress lines with epoch i/N and the time
    # left, then the fit's one-line summary; --quiet silences the training
    tmp, _ = files
    assert main(["fit", str(tmp / "complete.csv"), "--covariates",
                 str(tmp / "cov.tsv"), "--categorical", "tissue",
                 "-o", str(tmp / "p.joblib"), *FAST]) == 0
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "left" in err
    assert re.search(r"\[PMIImputer\] trained \d network\(s\) on 60 samples "
                     r"x 12 genes \(covariates: tissue\)", err)
    assert main(["fit", str(tmp / "complete.csv"), "--covariates",
                 str(tmp / "cov.tsv"), "--categorical", "tissue", "--quiet",
                 "-o", str(tmp / "q.joblib"), *FAST]) == 0
    assert "[PMIImputer]" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["impute", "{tmp}/nope.csv", "-o", "{tmp}/o.csv"], "no such file"),
        (["impute", "{tmp}/cov.tsv", "-o", "{tmp}/o.csv"], "numeric"),
        (["impute", "{tmp}/expr.json", "-o", "{tmp}/o.csv"], "unknown file format"),
        (["fit", "{tmp}/expr.csv", "--covariates", "{tmp}/cov.tsv",
          "--categorical", "organ", "-o", "{tmp}/m.joblib"], "not found"),
        (["impute", "{tmp}/expr.csv", "--model-file", "{tmp}/expr.csv",
          "-o", "{tmp}/o.csv"], "not a saved model"),
        (["demo", "--bogus"], "unrecognized"),
    ],
    ids=["missing-file", "bad-matrix", "bad-format", "bad-covariate",
         "bad-model", "bad-option"],
)
def test_errors_return_2(files, capsys, argv, message):
    tmp, _ = files
    (tmp / "expr.json").write_text("{}")
    assert main([a.format(tmp=tmp) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# ------------------------------------------- a study aligned to a saved model
@pytest.fixture(scope="module")
def ensembl(tmp_path_factory):
    """A model fitted on 12 genes ``ENSG...7`` (covariate: tissue), a masked study."""
    tmp = tmp_path_factory.mktemp("ensembl")
    data = make_gtex_like(n_samples=60, n_genes=12, n_tissues=3, random_state=3)
    genes = [f"ENSG{i:011d}.7" for i in range(12)]
    ids = [f"S{i:03d}" for i in range(60)]
    tissue = data.covariates["tissue"].to_numpy()
    complete = pd.DataFrame(data.expression.to_numpy(), index=ids, columns=genes)
    complete.assign(tissue=tissue).to_csv(tmp / "reference.csv")
    model = str(tmp / "m.joblib")
    assert main(["fit", str(tmp / "reference.csv"), "--categorical", "tissue",
                 "-o", model, *FAST]) == 0
    masked = simulate_missing(complete.to_numpy(), 0.3, random_state=3)[0]
    study = pd.DataFrame(masked, index=ids, columns=genes)
    return tmp, model, study, tissue


def _other_study(study, seed=0):
    """``(other, renamed)``: the study less genes 1, 4, 9, with two unknown genes.

    The genes kept are re-versioned or unversioned (``renamed``: old -> new)
    and shuffled; the unknown genes have NaN.
    """
    rng = np.random.RandomState(seed)
    kept = [g for i, g in enumerate(study.columns) if i not in (1, 4, 9)]
    renamed = {g: g[:-2] + (".8" if i % 2 else "") for i, g in enumerate(kept)}
    other = study[kept].rename(columns=renamed)
    other = other.iloc[:, rng.permutation(other.shape[1])]
    unknown = rng.lognormal(size=(len(study), 2))
    unknown[rng.uniform(size=unknown.shape) < 0.3] = np.nan
    other.insert(2, "ENSG99999999999.1", unknown[:, 0])
    other["MYGENE"] = unknown[:, 1]
    return other, renamed


def _main_with_warnings(argv, capsys):
    """``main(argv)`` with every warning shown: its exit code and stderr lines."""
    import warnings

    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = main(argv)
    return code, capsys.readouterr().err.splitlines()


def _impute_study(ensembl, genes, name, out_name, capsys):
    """``impute --model-file`` of ``genes`` (with the tissues) written as
    ``name``: ``(exit code, stderr lines, output path)``."""
    tmp, model, _, tissue = ensembl
    genes.assign(tissue=tissue).to_csv(tmp / name)
    out = tmp / out_name
    code, err = _main_with_warnings(
        ["impute", str(tmp / name), "--model-file", model, "-o", str(out)], capsys)
    return code, err, out


def test_model_file_aligns_the_study_genes(ensembl, capsys):
    tmp, _, study, _ = ensembl
    other, renamed = _other_study(study)
    code, err, out = _impute_study(ensembl, other, "other.csv", "other_imputed.csv",
                                   capsys)
    assert code == 0
    assert f"imputed 3 of 12 model genes entirely (not in {tmp / 'other.csv'})" in err
    warned = [line for line in err if line.startswith("warning:")]
    assert warned == [f"warning: 2 gene(s) of {tmp / 'other.csv'} unknown to the "
                      "model, passed through as read: ['ENSG99999999999.1', "
                      "'MYGENE']"]
    result = read_csv(out, index_col=0)
    # the model's genes in its order, named as in the study where it has
    # them; then the unknown genes
    model_genes = [renamed.get(g, g) for g in study.columns]
    assert list(result.columns) == [*model_genes, "ENSG99999999999.1", "MYGENE"]
    assert list(result.index) == list(study.index)
    assert not result[model_genes].isna().to_numpy().any()
    for gene in ("ENSG99999999999.1", "MYGENE"):  # NaN included
        np.testing.assert_array_equal(result[gene].to_numpy(), other[gene].to_numpy())
    seen = other[list(renamed.values())]
    observed = seen.notna().to_numpy()
    np.testing.assert_array_equal(result[seen.columns].to_numpy()[observed],
                                  seen.to_numpy()[observed])


def test_model_file_same_genes_other_versions_and_order(ensembl, capsys):
    """Every model gene present: no count line, no warning, the study's names."""
    study = ensembl[2]
    other = study.rename(columns=lambda g: g[:-2] + ".9").iloc[:, ::-1]
    code, err, out = _impute_study(ensembl, other, "same.csv", "same_imputed.tsv",
                                   capsys)
    assert code == 0
    assert not any("entirely" in line or "warning" in line for line in err)
    result = read_csv(out, sep="\t", index_col=0)
    assert list(result.columns) == list(other.columns[::-1])
    observed = other.notna().to_numpy()
    np.testing.assert_array_equal(result[other.columns].to_numpy()[observed],
                                  other.to_numpy()[observed])


@pytest.mark.parametrize(
    "columns, message",
    [
        (lambda g: "SYM" + g[-4:], "no gene in common with the model: none of "
                                   "its 12 gene columns"),
        ({"ENSG00000000001.7": "ENSG00000000000.3"},
         "duplicated gene ids once versions are ignored: ['ENSG00000000000.3']"),
    ],
    ids=["symbols", "duplicates"],
)
def test_model_file_alignment_errors(ensembl, capsys, columns, message):
    tmp, model, study, tissue = ensembl
    study.rename(columns=columns).assign(tissue=tissue).to_csv(tmp / "bad.csv")
    capsys.readouterr()
    assert main(["impute", str(tmp / "bad.csv"), "--model-file", model,
                 "-o", str(tmp / "bad_out.csv")]) == 2
    err = capsys.readouterr().err
    assert "skimpute-gtex impute: error:" in err and message in err
    assert not (tmp / "bad_out.csv").exists()


def test_align_flag_is_a_deprecated_no_op(ensembl, capsys):
    tmp, model, study, tissue = ensembl
    study.assign(tissue=tissue).to_csv(tmp / "study.csv")
    code, err = _main_with_warnings(
        ["impute", str(tmp / "study.csv"), "--model-file", model, "--align",
         "-o", str(tmp / "o.csv")], capsys)
    assert code == 0
    assert err[0].startswith("warning: --align has no effect and will be removed")
    assert "--align" not in build_parser().format_help()


def test_parquet_without_pyarrow_is_clear(files, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name in ("pyarrow", "fastparquet"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    tmp, _ = files
    (tmp / "x.parquet").write_bytes(b"PAR1")
    assert main(["impute", str(tmp / "x.parquet"), "-o", str(tmp / "o.csv")]) == 2
    assert "pyarrow" in capsys.readouterr().err


def test_impute_gct(tmp_path):
    rng = np.random.RandomState(0)
    values = rng.lognormal(size=(6, 30))
    values[rng.uniform(size=values.shape) < 0.2] = np.nan
    samples = [f"GTEX-{i:04d}-0001" for i in range(30)]
    lines = ["#1.2", "6\t30", "\t".join(["Name", "Description", *samples])]
    for g in range(6):
        cells = ["nan" if np.isnan(v) else f"{v:.4f}" for v in values[g]]
        lines.append("\t".join([f"ENSG{g:011d}.1", f"G{g}", *cells]))
    (tmp_path / "x.gct").write_text("\n".join(lines) + "\n")
    out = tmp_path / "x.csv"
    assert main(["impute", str(tmp_path / "x.gct"), "-o", str(out), *FAST]) == 0
    result = read_csv(out, index_col=0)
    assert result.shape == (30, 6) and list(result.index) == samples
    assert not result.isna().to_numpy().any()


def test_python_m_help():
    proc = subprocess.run([sys.executable, "-m", "skimpute_gtex", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("demo", "fit", "impute", "compare"):
        assert command in proc.stdout


# ------------------------------------------------------------ sample id column
def small_matrix(n_samples=20, n_genes=6, seed=0):
    """A samples x genes matrix with a few NaN, sample ids ``S000``..."""
    rng = np.random.RandomState(seed)
    values = rng.lognormal(size=(n_samples, n_genes))
    values[rng.uniform(size=values.shape) < 0.15] = np.nan
    return pd.DataFrame(values, index=[f"S{i:03d}" for i in range(n_samples)],
                        columns=[f"G{j}" for j in range(n_genes)])


@pytest.mark.parametrize("first_gene_nan", [False, True], ids=["plain", "nan"])
def test_matrix_without_sample_ids_needs_no_index(tmp_path, capsys, first_gene_nan):
    """to_csv(index=False) / R row.names=FALSE: the first gene is not the ids."""
    matrix = small_matrix()
    # the old reading: 19 genes, or "duplicated sample ids: [nan]"
    matrix.iloc[[0, 3], 0] = np.nan if first_gene_nan else 2.0
    path = tmp_path / "noindex.csv"
    matrix.to_csv(path, index=False)
    before = path.read_bytes()
    assert main(["fit", str(path), "-o", str(tmp_path / "m.joblib"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "--no-index" in err and "--index-col" in err and "'G0'" in err
    assert "duplicated sample ids" not in err
    # --no-index: every column is a gene
    assert main(["fit", str(path), "--no-index", "-o", str(tmp_path / "m.joblib"),
                 *FAST]) == 0
    assert "20 samples x 6 genes" in capsys.readouterr().err
    out = tmp_path / "out.csv"
    assert main(["impute", str(path), "--no-index", "-o", str(out), *FAST]) == 0
    result = read_csv(out)  # no id column in, none out
    assert list(result.columns) == list(matrix.columns)
    observed = ~matrix.isna().to_numpy()
    np.testing.assert_array_equal(result.to_numpy()[observed],
                                  matrix.to_numpy()[observed])
    assert not result.isna().to_numpy().any()
    assert path.read_bytes() == before


def _write_r_table(matrix, path):
    """R write.table: the header has no cell for the row names."""
    lines = ["\t".join(matrix.columns)]
    lines += ["\t".join([i, *(repr(float(v)) for v in row)]).replace("nan", "NA")
              for i, row in zip(matrix.index, matrix.to_numpy())]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("layout", ["pandas", "named", "r-write-csv", "r-table"])
def test_files_with_sample_ids_still_read(tmp_path, layout):
    """Row names (an unnamed header cell) or a column of distinct strings."""
    from skimpute_gtex.cli import read_matrix

    matrix = small_matrix()
    path = tmp_path / ("x.tsv" if layout == "r-table" else "x.csv")
    if layout == "pandas":
        matrix.to_csv(path)
    elif layout == "named":
        matrix.rename_axis("sample").to_csv(path)
    elif layout == "r-write-csv":  # "","G0",... then "S000",0.5,NA,...
        matrix.to_csv(path, index_label="", na_rep="NA",
                      quoting=csv.QUOTE_NONNUMERIC)
    else:
        _write_r_table(matrix, path)
    read = read_matrix(str(path))
    assert list(read.index) == list(matrix.index)
    assert list(read.columns) == list(matrix.columns)
    np.testing.assert_array_equal(read.to_numpy(), matrix.to_numpy())


def test_numeric_row_names_are_ids(tmp_path):
    """pandas to_csv() of a RangeIndex frame: the unnamed column is the ids."""
    from skimpute_gtex.cli import read_matrix

    matrix = small_matrix().reset_index(drop=True)
    matrix.to_csv(tmp_path / "x.csv")
    read = read_matrix(str(tmp_path / "x.csv"))
    assert list(read.index) == [str(i) for i in range(20)]
    assert list(read.columns) == list(matrix.columns)


def test_index_col_by_name_or_position(tmp_path, capsys):
    from skimpute_gtex.cli import read_matrix

    matrix = small_matrix()
    table = matrix.reset_index(drop=True)
    table.insert(2, "donor", [1000 + i for i in range(20)])  # numeric ids
    path = tmp_path / "x.csv"
    table.to_csv(path, index=False)
    for spec in ("donor", "2"):
        read = read_matrix(str(path), index_col=spec)
        assert list(read.index) == [str(1000 + i) for i in range(20)]
        assert list(read.columns) == list(matrix.columns)
    assert main(["fit", str(path), "--index-col", "donor", "-o",
                 str(tmp_path / "m.joblib"), *FAST]) == 0
    assert "20 samples x 6 genes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make, argv, message",
    [
        (lambda m: m.set_axis(["S1"] * 20), [], "duplicated sample ids: ['S1']"),
        (lambda m: m.set_axis(["S1"] * 20).rename_axis("id"), [],
         "repeats values (['S1'])"),
        (lambda m: m.set_axis([None] + list(m.index[1:])).rename_axis("id"), [],
         "empty cells (data rows [1])"),
        (lambda m: m, ["--no-index"], "--no-index, but the file marks"),
        (lambda m: m, ["--index-col", "nope"], "--index-col 'nope' is neither"),
        (lambda m: m, ["--index-col", "G2"], "--index-col 'G2', but the file marks"),
        (lambda m: m, ["--index-col", "0", "--no-index"], "not allowed with"),
        (lambda m: m.reset_index(drop=True), ["--no-index", "--covariates",
                                              "{tmp}/cov.csv"], "has none"),
    ],
    ids=["duplicated-row-names", "duplicated", "empty-id",
         "no-index-with-row-names", "unknown-column", "index-col-after-row-names",
         "both", "no-index-covariates"],
)
def test_sample_id_errors(tmp_path, capsys, make, argv, message):
    frame = make(small_matrix())
    if "--no-index" in argv and "--covariates" in argv:
        frame.to_csv(tmp_path / "x.csv", index=False)
    else:
        frame.to_csv(tmp_path / "x.csv")
    pd.DataFrame({"sample": ["S000"], "tissue": ["Lung"]}).to_csv(
        tmp_path / "cov.csv", index=False)
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(["fit", str(tmp_path / "x.csv"), *argv, "-o",
                 str(tmp_path / "m.joblib"), *FAST]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_index_options_do_not_apply_to_gct(tmp_path, capsys):
    (tmp_path / "x.gct").write_text("#1.2\n1\t2\nName\tDescription\tA\tB\n"
                                    "G1\tg\t1\t2\n")
    assert main(["fit", str(tmp_path / "x.gct"), "--no-index", "-o",
                 str(tmp_path / "m.joblib"), *FAST]) == 2
    assert "do not apply to GCT" in capsys.readouterr().err


@pytest.mark.parametrize("genes_as_rows", [False, True], ids=["samples", "genes"])
def test_non_numeric_value_names_row_and_value(tmp_path, capsys, genes_as_rows):
    matrix = small_matrix().astype(object)
    matrix.iloc[4, 3] = "1,5"
    path = tmp_path / "x.csv"
    (matrix.T if genes_as_rows else matrix).to_csv(path)
    argv = ["--genes-as-rows"] if genes_as_rows else []
    assert main(["fit", str(path), *argv, "-o", str(tmp_path / "m.joblib"),
                 *FAST]) == 2
    err = capsys.readouterr().err
    if genes_as_rows:
        assert "sample 'S004' is not numeric: gene 'G3' (data row 4) has '1,5'" in err
    else:
        assert "gene 'G3' is not numeric: sample 'S004' (data row 5) has '1,5'" in err


# ---------------------------------------------------------------- missing cells
def test_gct_and_csv_read_blank_and_na_alike(tmp_path):
    from skimpute_gtex.cli import read_matrix

    matrix = small_matrix(n_samples=30, n_genes=4)
    cells = matrix.T.astype(object).where(matrix.T.notna(), "NA")
    cells.iloc[0, 1] = cells.iloc[2, 3] = ""
    lines = ["#1.2", "4\t30", "\t".join(["Name", "Description", *matrix.index])]
    lines += ["\t".join([g, "", *map(str, row)])
              for g, row in zip(matrix.columns, cells.to_numpy())]
    (tmp_path / "x.gct").write_text("\n".join(lines) + "\n")
    cells.T.to_csv(tmp_path / "x.csv")
    gct = read_matrix(str(tmp_path / "x.gct"))
    csv = read_matrix(str(tmp_path / "x.csv"))
    expected = np.where(cells.T.isin(["", "NA"]), np.nan,
                        matrix.to_numpy(na_value=np.nan))
    np.testing.assert_array_equal(gct.to_numpy(), expected)
    np.testing.assert_array_equal(csv.to_numpy(), expected)
    assert main(["impute", str(tmp_path / "x.gct"), "-o", str(tmp_path / "o.csv"),
                 *FAST]) == 0


# ------------------------------------------------------------------ saved model
@pytest.mark.parametrize(
    "options",
    [["--model", "gain", "--max-iter", "3"], ["--hidden-layer-sizes", "4"],
     ["--batch-size", "8"], ["--device", "cpu"], ["--random-state", "1"],
     ["--covariates", "{tmp}/cov.tsv", "--categorical", "tissue"]],
    ids=["model-max-iter", "hidden", "batch", "device", "seed", "categorical"],
)
def test_model_file_rejects_training_options(files, capsys, options):
    tmp, _ = files
    model = tmp / "nocov_opts.joblib"
    if not model.exists():
        assert main(["fit", str(tmp / "complete.csv"), "-o", str(model), *FAST]) == 0
    options = [o.format(tmp=tmp) for o in options]
    capsys.readouterr()
    assert main(["impute", str(tmp / "expr.csv"), "--model-file", str(model),
                 "-o", str(tmp / "o.csv"), *options]) == 2
    err = capsys.readouterr().err
    named = " ".join(o for o in options if o.startswith("--") and o != "--covariates")
    assert f"error: {named}: training option(s)" in err


@pytest.mark.parametrize("content", ["csv", "dict"])
def test_non_model_file_says_so(files, capsys, content):
    import joblib

    tmp, _ = files
    path = tmp / f"not_a_model_{content}.joblib"
    if content == "csv":
        path.write_bytes((tmp / "expr.csv").read_bytes())
    else:
        joblib.dump({"a": 1}, path)
    assert main(["impute", str(tmp / "expr.csv"), "--model-file", str(path),
                 "-o", str(tmp / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: not a saved model" in err
    assert "pop from empty list" not in err and "Traceback" not in err
    if content == "dict":
        assert "it holds a dict" in err


# ------------------------------------------------------------------- warnings
def test_warnings_are_one_clean_line(files, capsys, monkeypatch):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from skimpute_gtex.cli import _commands

    def warn_twice(args):
        warnings.warn("first line\n  second line", UserWarning)
        warnings.warn("not converged", ConvergenceWarning)
        return 0

    monkeypatch.setattr(_commands, "cmd_fit", warn_twice)
    tmp, _ = files
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        shown = warnings.showwarning
        assert main(["fit", str(tmp / "complete.csv"), "-o", "m.joblib"]) == 0
        assert warnings.showwarning is shown  # restored
    assert capsys.readouterr().err.splitlines() == [
        "warning: first line second line", "warning: not converged"]


def test_threads_are_restored(files):
    import torch

    tmp, _ = files
    before = torch.get_num_threads()
    assert main(["fit", str(tmp / "complete.csv"), "-o", str(tmp / "t.joblib"),
                 "--threads", "1", *FAST]) == 0
    assert torch.get_num_threads() == before


# -------------------------------------------------------------------- compare
def test_compare_prints_and_writes_the_table(files, capsys):
    tmp, _ = files
    out = tmp / "compare.tsv"
    assert main(["compare", str(tmp / "expr.csv"), "--covariates",
                 str(tmp / "cov.tsv"), "--methods", "pmi", "knn", "median",
                 "--repeats", "2", "--fast", "--device", "cpu", "-q",
                 "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "covariates tissue (categorical), sex (categorical), age (numerical)" \
        in captured.err
    for name in ("pmi", "knn", "median"):
        assert re.search(rf"^{name}\s+-?\d\.\d{{3}} ± \d\.\d{{3}}", captured.out,
                         re.M), captured.out
    table = pd.read_csv(out, sep="\t", index_col="imputer")
    assert list(table.index) == ["pmi", "knn", "median"]
    assert {"mean_r2", "std_r2", "mean_time", "repeat1_r2"} <= set(table.columns)
    assert table.loc["median", "mean_r2"] > 0


def test_compare_matches_compare_imputers(files, capsys):
    from skimpute_gtex.baselines import TissueMedianImputer
    from skimpute_gtex.cli import read_covariates, read_matrix
    from skimpute_gtex.model_selection import compare_imputers

    tmp, _ = files
    out = tmp / "median.csv"
    assert main(["compare", str(tmp / "expr.csv"), "--covariates",
                 str(tmp / "cov.tsv"), "--categorical", "tissue", "--methods",
                 "median", "--repeats", "1", "--random-state", "3",
                 "-o", str(out)]) == 0
    matrix = read_matrix(str(tmp / "expr.csv"))
    cov, spec = read_covariates(str(tmp / "cov.tsv"), matrix.index,
                                categorical=["tissue"])
    X = pd.concat([matrix, cov], axis=1)
    expected = compare_imputers(
        {"median": TissueMedianImputer(covariates=spec, group="tissue")}, X,
        covariates=spec, n_repeats=1, random_state=3)
    got = read_csv(out, index_col=0)
    assert got.loc["median", "mean_r2"] == expected.loc["median", "mean_r2"]


@pytest.mark.parametrize("argv, message", [
    (["--missing-rate", "1.5"], "missing_rate"),
    (["--repeats", "0"], "n_repeats"),
    (["-o", "results.parquet"], ".csv or .tsv"),
])
def test_compare_user_errors(files, capsys, argv, message):
    tmp, _ = files
    assert main(["compare", str(tmp / "complete.csv"), "--methods", "median",
                 *argv]) == 2
    err = capsys.readouterr().err
    assert "skimpute-gtex compare: error:" in err and message in err


def test_parquet_without_sample_ids(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    matrix = small_matrix()
    matrix.reset_index(drop=True).to_parquet(tmp_path / "x.parquet")
    matrix.to_parquet(tmp_path / "ids.parquet")  # the index is stored
    model = str(tmp_path / "m.joblib")
    assert main(["fit", str(tmp_path / "x.parquet"), "-o", model, *FAST]) == 2
    assert "--no-index" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "x.parquet"), "--no-index", "-o", model,
                 *FAST]) == 0
    assert main(["impute", str(tmp_path / "ids.parquet"), "--model-file", model,
                 "-o", str(tmp_path / "o.csv")]) == 0
    assert list(read_csv(tmp_path / "o.csv", index_col=0).index) == list(
        matrix.index)


# ------------------------------------------- covariates in the matrix file
@pytest.fixture(scope="module")
def with_covariates(tmp_path_factory):
    """``train_all.csv`` and a masked ``study_all.csv``: genes, tissue, sex, age."""
    tmp = tmp_path_factory.mktemp("cov_in_matrix")
    data = make_gtex_like(n_samples=60, n_genes=12, n_tissues=3, random_state=1)
    frame = data.frame.drop(columns="donor").set_axis(
        [f"S{i:03d}" for i in range(60)])
    frame.to_csv(tmp / "train_all.csv")
    study = frame.copy()
    study.iloc[:, :12], _ = simulate_missing(frame.iloc[:, :12], 0.3,
                                             random_state=1)
    study.to_csv(tmp / "study_all.csv")
    return tmp, study


def test_covariates_from_the_matrix_file(with_covariates, capsys):
    tmp, study = with_covariates
    model = str(tmp / "m.joblib")
    assert main(["fit", str(tmp / "train_all.csv"), "--categorical", "tissue",
                 "sex", "--numerical", "age", "-o", model, *FAST]) == 0
    err = capsys.readouterr().err
    assert ("60 samples x 12 genes, covariates tissue (categorical), sex "
            "(categorical), age (numerical)") in err
    # the saved model finds its covariates in the study's own columns
    out = tmp / "imputed.csv"
    assert main(["impute", str(tmp / "study_all.csv"), "--model-file", model,
                 "-o", str(out)]) == 0
    result = read_csv(out, index_col=0)
    genes = study.iloc[:, :12]
    assert list(result.columns) == list(genes.columns)
    observed = genes.notna().to_numpy()
    np.testing.assert_array_equal(result.to_numpy()[observed],
                                  genes.to_numpy()[observed])
    assert not result.isna().to_numpy().any()
    # in place, and the same without ids (nothing to match by)
    assert main(["impute", str(tmp / "study_all.csv"), "--categorical", "tissue",
                 "-o", str(tmp / "inplace.csv"), *FAST[:4], "--numerical", "age",
                 "sex"]) == 2  # sex is text: not numerical
    assert "numerical covariate 'sex' is not numeric" in capsys.readouterr().err
    study.to_csv(tmp / "noids.csv", index=False)
    assert main(["impute", str(tmp / "noids.csv"), "--no-index", "--categorical",
                 "tissue", "sex", "--numerical", "age", "-o",
                 str(tmp / "noids_out.csv"), *FAST]) == 0
    assert read_csv(tmp / "noids_out.csv").shape == (60, 12)


def test_model_covariates_missing_from_the_matrix(with_covariates, capsys):
    tmp, study = with_covariates
    model = str(tmp / "m2.joblib")
    assert main(["fit", str(tmp / "train_all.csv"), "--categorical", "tissue",
                 "sex", "--numerical", "age", "-o", model, *FAST]) == 0
    study.drop(columns="age").to_csv(tmp / "noage.csv")
    capsys.readouterr()
    assert main(["impute", str(tmp / "noage.csv"), "--model-file", model, "-o",
                 str(tmp / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "the model needs the covariates ['tissue', 'sex', 'age']" in err
    assert "lacks ['age']" in err and "--covariates FILE" in err


@pytest.mark.parametrize(
    "argv, expected, absent",
    [
        ([], "column(s) ['tissue', 'sex'] hold text: to use them as covariates, "
             "name them with --categorical", "orientation"),
        (["--categorical", "tissue"], "column(s) ['sex'] hold text", "orientation"),
        (["--categorical", "Tissue"], "did you mean ['tissue']?", "orientation"),
        (["--categorical", "tissue", "--genes-as-rows"],
         "cannot be columns of the matrix file", "orientation"),
    ],
    ids=["none-named", "one-left", "typo", "genes-as-rows"],
)
def test_text_columns_are_no_orientation_problem(with_covariates, capsys, argv,
                                                 expected, absent):
    tmp, _ = with_covariates
    assert main(["fit", str(tmp / "train_all.csv"), *argv, "-o",
                 str(tmp / "x.joblib"), *FAST]) == 2
    err = capsys.readouterr().err
    assert expected in err and absent not in err


@pytest.mark.parametrize("genes_as_rows", [False, True], ids=["samples", "genes"])
def test_orientation_hint_when_the_file_looks_transposed(with_covariates, capsys,
                                                         genes_as_rows):
    """Genes x samples with tissue and sex rows: text in a few rows of every column."""
    tmp, study = with_covariates
    study.T.to_csv(tmp / "transposed.csv")
    argv = ["--genes-as-rows"] if genes_as_rows else []
    assert main(["fit", str(tmp / "transposed.csv"), *argv, "-o",
                 str(tmp / "x.joblib"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "rows ['tissue', 'sex'] hold text in 60 of 60" in err
    assert ("wrong orientation? See --genes-as-rows" in err) != genes_as_rows


# ------------------------------------------------------------------- .h5ad
def _write_h5ad(adata, path):
    """Write with str columns of object dtype (anndata 0.12 and pandas 3)."""
    for frame in (adata.obs, adata.var):
        frame.index = pd.Index([str(i) for i in frame.index], dtype=object)
        for name in frame.columns:
            if pd.api.types.is_string_dtype(frame[name].dtype):
                frame[name] = frame[name].astype(object)
    adata.write_h5ad(path)


@pytest.fixture(scope="module")
def h5ad_files(tmp_path_factory):
    ad = pytest.importorskip("anndata")
    tmp = tmp_path_factory.mktemp("h5ad")
    data = make_gtex_like(n_samples=60, n_genes=12, n_tissues=3, random_state=2)
    obs = data.covariates.set_axis([f"S{i:03d}" for i in range(60)])
    obs["n_counts"] = np.arange(60.0)
    var = pd.DataFrame({"symbol": [f"SYM{j}" for j in range(12)]},
                       index=list(data.gene_names))
    complete = data.expression.to_numpy().astype(np.float32)
    masked = simulate_missing(complete, 0.3, random_state=2)[0].astype(np.float32)
    _write_h5ad(ad.AnnData(X=complete, obs=obs.copy(), var=var.copy()),
                tmp / "reference.h5ad")
    study = ad.AnnData(X=masked, obs=obs.copy(), var=var.copy())
    study.uns["study"] = "test"
    study.layers["tpm"] = np.expm1(masked)
    _write_h5ad(study, tmp / "study.h5ad")
    return tmp, ad.read_h5ad(tmp / "study.h5ad")


_H5AD = pytest.mark.filterwarnings(
    "ignore:The 'future.infer_string' option is deprecated")


@_H5AD
def test_h5ad_fit_and_impute_with_obs_covariates(h5ad_files, capsys):
    import anndata

    tmp, study = h5ad_files
    model = str(tmp / "m.joblib")
    assert main(["fit", str(tmp / "reference.h5ad"), "--categorical", "tissue",
                 "sex", "--numerical", "age", "-o", model, *FAST]) == 0
    assert "covariates tissue (categorical)" in capsys.readouterr().err
    out = tmp / "imputed.h5ad"
    assert main(["impute", str(tmp / "study.h5ad"), "--model-file", model,
                 "-o", str(out)]) == 0
    result = anndata.read_h5ad(out)
    observed = ~np.isnan(study.X)
    assert result.X.dtype == np.float32 and not np.isnan(result.X).any()
    np.testing.assert_array_equal(result.X.view(np.uint32)[observed],
                                  study.X.view(np.uint32)[observed])
    np.testing.assert_array_equal(result.layers["observed"].view(np.uint32),
                                  study.X.view(np.uint32))
    np.testing.assert_array_equal(result.layers["tpm"], study.layers["tpm"])
    assert list(result.obs.columns) == list(study.obs.columns)
    assert list(result.obs["tissue"]) == list(study.obs["tissue"])
    assert list(result.var["symbol"]) == list(study.var["symbol"])
    assert result.uns["study"] == "test"
    # .h5ad in, CSV out; and CSV in, .h5ad out (obs: the covariates)
    assert main(["impute", str(tmp / "study.h5ad"), "--model-file", model,
                 "-o", str(tmp / "imputed.csv")]) == 0
    csv = read_csv(tmp / "imputed.csv", index_col=0)
    assert list(csv.index) == list(study.obs_names)
    np.testing.assert_array_equal(csv.to_numpy(), result.X.astype(np.float64))
    frame = pd.DataFrame(study.X, index=study.obs_names, columns=study.var_names)
    frame.assign(tissue=list(study.obs["tissue"])).to_csv(tmp / "study.csv")
    assert main(["impute", str(tmp / "study.csv"), "--categorical", "tissue",
                 "-o", str(tmp / "from_csv.h5ad"), *FAST]) == 0
    from_csv = anndata.read_h5ad(tmp / "from_csv.h5ad")
    assert list(from_csv.obs.columns) == ["tissue"]
    read = read_csv(tmp / "study.csv", index_col=0).iloc[:, :12].to_numpy()
    np.testing.assert_array_equal(from_csv.layers["observed"], read)
    assert list(from_csv.obs_names) == list(study.obs_names)


@_H5AD
def test_h5ad_study_aligned_to_a_saved_model(ensembl, capsys):
    """.h5ad in and out, float32, genes lacking, re-versioned and unknown."""
    ad = pytest.importorskip("anndata")
    tmp, model, study, tissue = ensembl
    other, renamed = _other_study(study, seed=1)
    obs = pd.DataFrame({"tissue": tissue, "batch": "b1"}, index=other.index)
    var = pd.DataFrame({"symbol": [f"SYM{j}" for j in range(other.shape[1])]},
                       index=list(other.columns))
    X = other.to_numpy().astype(np.float32)
    _write_h5ad(ad.AnnData(X=X, obs=obs.copy(), var=var.copy()),
                tmp / "other.h5ad")
    out = tmp / "other_imputed.h5ad"
    code, err = _main_with_warnings(
        ["impute", str(tmp / "other.h5ad"), "--model-file", model, "-o", str(out)],
        capsys)
    assert code == 0 and "imputed 3 of 12 model genes entirely" in "".join(err)
    assert sum(line.startswith("warning: 2 gene(s)") for line in err) == 1
    result = ad.read_h5ad(out)
    model_genes = [renamed.get(g, g) for g in study.columns]
    assert list(result.var_names) == [*model_genes, "ENSG99999999999.1", "MYGENE"]
    assert list(result.obs_names) == list(other.index)
    assert list(result.obs["batch"]) == ["b1"] * len(other)
    assert result.X.dtype == np.float32
    assert not np.isnan(result.X[:, :12]).any()
    given = [list(other.columns).index(g) for g in result.var_names
             if g in set(other.columns)]
    kept = result[:, list(other.columns[given])]
    observed = ~np.isnan(X[:, given])
    np.testing.assert_array_equal(kept.X.view(np.uint32)[observed],
                                  X[:, given].view(np.uint32)[observed])
    unknown = [list(other.columns).index(g) for g in ("ENSG99999999999.1", "MYGENE")]
    np.testing.assert_array_equal(result.X[:, 12:].view(np.uint32),
                                  X[:, unknown].view(np.uint32))  # NaN included
    absent = [g for g in model_genes if g not in set(other.columns)]
    assert np.isnan(result[:, absent].layers["observed"]).all()
    # every model gene there (plus an unknown one): the input's var, its
    # order and its layers are kept
    full = study.rename(columns=lambda g: g[:-2]).assign(MYGENE=1.5)
    var = pd.DataFrame({"symbol": [f"SYM{j}" for j in range(13)]},
                       index=list(full.columns))
    X = full.to_numpy().astype(np.float32)
    _write_h5ad(ad.AnnData(X=X, obs=obs.copy(), var=var, layers={"tpm": X * 2}),
                tmp / "full.h5ad")
    code, err = _main_with_warnings(
        ["impute", str(tmp / "full.h5ad"), "--model-file", model, "-o",
         str(tmp / "full_imputed.h5ad")], capsys)
    assert code == 0 and not any("entirely" in line for line in err)
    result = ad.read_h5ad(tmp / "full_imputed.h5ad")
    assert list(result.var_names) == list(full.columns)
    assert list(result.var["symbol"]) == list(var["symbol"])
    np.testing.assert_array_equal(result.layers["tpm"], X * 2)
    assert not np.isnan(result.X).any()


@_H5AD
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--categorical", "organ"], "['organ'] are not in obs"),
        (["--numerical", "tissue"], "numerical covariate 'tissue' is not numeric"),
        (["--no-index"], "do not apply to .h5ad files"),
        (["--layer", "counts"], "no layer 'counts'; its layers are ['tpm']"),
    ],
    ids=["unknown-obs", "not-numeric", "no-index", "no-layer"],
)
def test_h5ad_errors(h5ad_files, capsys, argv, message):
    tmp, _ = h5ad_files
    assert main(["impute", str(tmp / "study.h5ad"), *argv, "-o",
                 str(tmp / "o.h5ad"), *FAST]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_layer_needs_h5ad_and_h5ad_needs_anndata(files, capsys, monkeypatch):
    tmp, _ = files
    assert main(["impute", str(tmp / "expr.csv"), "--layer", "tpm", "-o",
                 str(tmp / "o.csv"), *FAST]) == 2
    assert "--layer applies to .h5ad files only" in capsys.readouterr().err
    real_import = builtins.__import__

    def no_anndata(name, *args, **kwargs):
        if name == "anndata" or name.startswith("anndata."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_anndata)
    for argv in (["impute", str(tmp / "expr.csv"), "-o", str(tmp / "o.h5ad")],
                 ["impute", str(tmp / "x.h5ad"), "-o", str(tmp / "o.csv")]):
        (tmp / "x.h5ad").write_bytes(b"")
        assert main([*argv, *FAST]) == 2
        assert 'pip install "skimpute-gtex[anndata]"' in capsys.readouterr().err


def test_impute_interval_writes_calibrated_bounds(files, tmp_path, capsys):
    tmp, matrix = files
    out = tmp_path / "imputed.csv"
    assert main(["impute", str(tmp / "expr.csv"), "--covariates",
                 str(tmp / "cov.tsv"), "--categorical", "tissue", "sex",
                 "--interval", "0.9", "-o", str(out), *FAST]) == 0
    assert "90% interval bounds" in capsys.readouterr().err
    imputed = read_csv(out, index_col=0)
    lower = read_csv(tmp_path / "imputed.lower.csv", index_col=0)
    upper = read_csv(tmp_path / "imputed.upper.csv", index_col=0)
    for bound in (lower, upper):
        assert bound.shape == imputed.shape
        assert list(bound.columns) == list(imputed.columns)
        assert list(bound.index) == list(imputed.index)
    observed = matrix.notna().to_numpy()
    for bound in (lower, upper, imputed):
        assert np.array_equal(bound.to_numpy()[observed],
                              matrix.to_numpy()[observed])
    lo, mid, hi = (f.to_numpy()[~observed] for f in (lower, imputed, upper))
    assert np.all(lo <= mid) and np.all(mid <= hi) and np.all(lo < hi)


def test_impute_interval_with_a_saved_model(files, tmp_path, capsys):
    tmp, _ = files
    calibrated, plain = tmp_path / "cal.joblib", tmp_path / "plain.joblib"
    assert main(["fit", str(tmp / "complete.csv"), "--calibration",
                 "-o", str(calibrated), *FAST]) == 0
    assert main(["fit", str(tmp / "complete.csv"), "-o", str(plain), *FAST]) == 0
    out = tmp_path / "new.csv"
    assert main(["impute", str(tmp / "expr.csv"), "--model-file", str(calibrated),
                 "--interval", "0.8", "-o", str(out)]) == 0
    assert (tmp_path / "new.lower.csv").exists()
    assert (tmp_path / "new.upper.csv").exists()
    capsys.readouterr()
    assert main(["impute", str(tmp / "expr.csv"), "--model-file", str(plain),
                 "--interval", "0.8", "-o", str(tmp_path / "x.csv")]) == 2
    assert "fitted without calibration" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    assert main(["impute", str(tmp / "expr.csv"), "--interval", "1.5",
                 "-o", str(tmp_path / "y.csv"), *FAST]) == 2
    assert "--interval must be in (0, 1)" in capsys.readouterr().err

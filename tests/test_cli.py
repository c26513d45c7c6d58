"""The command line interface, through ``main([...])``."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from skimpute_gtex.cli import main
from skimpute_gtex.datasets import make_gtex_like, simulate_missing

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

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
    result = pd.read_csv(out, sep="\t", index_col=0).T
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
    result = pd.read_csv(out, index_col=0)
    assert result.shape == matrix.shape and not result.isna().to_numpy().any()


def test_verbose_goes_to_stderr(files, capsys):
    tmp, _ = files
    assert main(["impute", str(tmp / "expr.csv"), "-o", str(tmp / "v.csv"),
                 "--verbose", *FAST]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "[PMIImputer]" in captured.err


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


def test_gene_mismatch_with_model(files, capsys):
    tmp, matrix = files
    model = tmp / "nocov.joblib"
    assert main(["fit", str(tmp / "complete.csv"), "-o", str(model), *FAST]) == 0
    matrix.iloc[:, :-2].to_csv(tmp / "fewer.csv")
    capsys.readouterr()
    assert main(["impute", str(tmp / "fewer.csv"), "--model-file", str(model),
                 "-o", str(tmp / "o.csv")]) == 2
    assert "do not match the model" in capsys.readouterr().err
    # --align imputes the model genes the input lacks
    assert main(["impute", str(tmp / "fewer.csv"), "--model-file", str(model),
                 "--align", "-o", str(tmp / "o.csv")]) == 0
    assert pd.read_csv(tmp / "o.csv", index_col=0).shape == matrix.shape


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
    result = pd.read_csv(out, index_col=0)
    assert result.shape == (30, 6) and list(result.index) == samples
    assert not result.isna().to_numpy().any()


def test_python_m_help():
    proc = subprocess.run([sys.executable, "-m", "skimpute_gtex", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("demo", "fit", "impute", "benchmark"):
        assert command in proc.stdout

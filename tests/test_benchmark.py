"""The benchmark harness (``benchmarks/``) on tiny synthetic data.

It never reads ../shared/data. The harness is not part of the installed
package: these tests import it from the repository root.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Bunch

from benchmarks import cli as bench_cli
from benchmarks import datasets, registry, reports, runner, speed, studies
from benchmarks.machine import machine_info
from benchmarks.protocol import SCENARIOS, make_split
from skimpute_gtex.datasets import make_gtex_like

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def tiny():
    data = make_gtex_like(n_samples=80, n_genes=10, n_tissues=4, random_state=0)
    return Bunch(name="tiny", genes=data.expression,
                 covariates=data.covariates[["tissue", "sex", "age"]],
                 covariate_spec=data.covariate_spec,
                 donors=data.covariates["donor"].to_numpy(dtype=object), notes=[])


class SlowImputer(TransformerMixin, BaseEstimator):
    """Sleeps, to go over the time budget."""

    def __init__(self, seconds=120.0):
        self.seconds = seconds

    def fit(self, X, y=None):
        time.sleep(self.seconds)
        return self

    def transform(self, X):
        return X


def test_registries():
    assert {"PMI", "GAIN", "GAIN-MSE", "KNN-1", "KNN-5", "KNN-10", "MICE",
            "MissForest-10", "MissForest-100", "Tissue median",
            "Blood surrogate"} <= set(registry.METHODS)
    assert {"gtex_scira_tf467", "gtex_v8_acmg59", "microarray_all_leukemia",
            "tcga_laml_seamless20", "synthetic_pathway",
            "synthetic_gtex_scale"} <= set(datasets.DATASETS)
    for name, loader in datasets.DATASETS.items():
        # the loaders are importable as benchmarks.datasets.load_<name>
        assert getattr(datasets, f"load_{name}") is loader
    spec = [("tissue", "categorical", ["tissue"])]
    for name, factory in registry.METHODS.items():
        est = factory(spec, 0)
        assert hasattr(est, "fit") and hasattr(est, "transform"), name


def test_run_records_and_budget(tiny):
    methods = {"PMI": registry.METHODS["PMI"],
               "Tissue median": registry.METHODS["Tissue median"],
               "Slow": lambda spec, rs: SlowImputer()}
    records = runner.run_benchmark(
        [tiny], methods=methods, repeats=1, time_budget=10.0,
        params=registry.FAST_PARAMS, device="cpu", threads=1,
    )
    assert len(records) == 2 * 3
    by = {(r["scenario"], r["method"]): r for r in records}
    for scenario in SCENARIOS:
        ok = by[scenario, "Tissue median"]
        assert ok["status"] == "ok" and 0 < ok["r2_mean"] <= 1
        assert ok["time_s"] >= 0 and ok["peak_mem_mb"] >= 0
        assert by[scenario, "PMI"]["status"] == "ok"
    # over the budget: stopped once, then not run again on this data set
    assert by["inplace", "Slow"]["status"] == "timeout"
    assert by["inplace", "Slow"]["time_s"] == 10.0
    assert by["inductive", "Slow"]["status"] == "timeout"
    assert by["inductive", "Slow"]["message"].startswith("not run")
    rows = reports.summarize(records)
    slow_rows = [r for r in rows if r["method"] == "Slow"]
    assert all(r["r2"] == "> budget" for r in slow_rows)
    md = reports.markdown_summary(rows)
    assert "> budget" in md and "| Tissue median |" in md


def test_workers_spawn_once_cuda_is_initialised(tiny, monkeypatch):
    # --device cuda initialises CUDA in the parent, which a forked worker
    # cannot use: the runner spawns its workers then, and they still work
    import torch

    from benchmarks.protocol import prepare_run
    from skimpute_gtex.baselines import TissueMedianImputer

    assert runner.start_method() in {"fork", "spawn"}
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert runner.start_method() == "spawn"
    run = prepare_run(tiny, "inplace", 0, 0.5)
    est = TissueMedianImputer(covariates=tiny.covariate_spec)
    status, result = runner.run_isolated(est, tiny, run, time_budget=120)
    assert status == "ok", result
    assert 0 < result["r2_mean"] <= 1


def test_inductive_split_is_donor_disjoint(tiny):
    train, test = make_split(tiny, 0)
    assert not set(tiny.donors[train]) & set(tiny.donors[test])
    no_donor = Bunch(**{**tiny, "donors": None})
    train, test = make_split(no_donor, 0)
    assert len(test) == 16 and len(np.intersect1d(train, test)) == 0


def test_cli_writes_json_and_tables(tmp_path, monkeypatch, tiny, capsys):
    monkeypatch.setitem(datasets.DATASETS, "synthetic_pathway", lambda data_dir: tiny)
    parser = bench_cli.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args([
        "--datasets", "synthetic_pathway", "--methods", "KNN-5", "Tissue median",
        "Blood surrogate", "--repeats", "2", "--scenarios", "inplace", "--fast",
        "--output-dir", str(tmp_path), "--name", "smoke",
        "--tables", str(tmp_path / "tables.rst"), "--data-dir", str(tmp_path),
    ])
    assert bench_cli.run_from_args(args) == 0
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert result["machine"]["cpu_cores"] >= 1 and result["machine"]["torch"]
    assert len(result["runs"]) == 2 * 3
    for key in ("dataset", "scenario", "method", "repeat", "r2_mean", "r2_std",
                "time_s", "peak_mem_mb", "status"):
        assert key in result["runs"][0]
    rst = (tmp_path / "tables.rst").read_text()
    assert "KNN-5" in rst and " ± " in rst
    assert "| Blood surrogate |" in capsys.readouterr().out


def test_huge_needs_flag(tmp_path, capsys):
    parser = bench_cli.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--datasets", "synthetic_gtex_scale",
                              "--output-dir", str(tmp_path)])
    assert bench_cli.run_from_args(args) == 2
    assert "--allow-huge" in capsys.readouterr().err


def test_missing_data_dir_is_clear(tmp_path, capsys):
    parser = bench_cli.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--datasets", "gtex_scira_tf467", "--data-dir",
                              str(tmp_path), "--output-dir", str(tmp_path)])
    assert bench_cli.run_from_args(args) == 2
    assert "not found" in capsys.readouterr().err


def test_merge_regenerates_tables(tmp_path, capsys):
    machine = machine_info(1)
    rec = dict(dataset="d", scenario="inplace", method="KNN-5", repeat=0,
               r2_mean=0.5, r2_std=0.1, time_s=1.0, peak_mem_mb=10.0, status="ok",
               message="", time_budget_s=60.0)
    slow = dict(rec, method="MICE", status="timeout", message="stopped after 60 s",
                r2_mean=None, time_s=60.0)
    reports.write_results(tmp_path / "a.json", [rec], machine=machine, config={})
    reports.write_results(tmp_path / "b.json", [slow], machine=machine, config={})
    parser = bench_cli.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--merge", str(tmp_path / "a.json"),
                              str(tmp_path / "b.json"), "--output-dir",
                              str(tmp_path), "--name", "all", "--tables",
                              str(tmp_path / "t.rst")])
    assert bench_cli.run_from_args(args) == 0
    assert len(json.loads((tmp_path / "all.json").read_text())["runs"]) == 2
    rst = (tmp_path / "t.rst").read_text()
    assert "0.500" in rst and "> budget" in rst


def test_first_seed_continues_the_repeats(tiny):
    records = runner.run_benchmark([tiny], methods=["Tissue median"],
                                  scenarios=["inplace"], repeats=2, first_seed=3,
                                  isolate=False)
    assert [(r["repeat"], r["seed"]) for r in records] == [(3, 3), (4, 4)]
    first = runner.run_benchmark([tiny], methods=["Tissue median"],
                                scenarios=["inplace"], repeats=4, isolate=False)
    # the same seed gives the same mask, whichever run it belongs to
    assert records[0]["r2_mean"] == first[3]["r2_mean"]


def _speed_args(tmp_path, *extra):
    parser = bench_cli.add_arguments(argparse.ArgumentParser())
    return parser.parse_args(["--fast", "--time-budget", "120",
                              "--output-dir", str(tmp_path), *extra])


def test_speed_extra_measures_pmi_end_to_end(tmp_path, tiny):
    logged = []
    ctx = studies.StudyContext(_speed_args(tmp_path), log=logged.append,
                               datasets={"synthetic_gtex_scale": tiny})
    result, text = speed.extra_speed(ctx, sizes_knn=(30, 60), n_pmi=60,
                                     epochs=(1, 2), matmul_n=128)
    assert [r["n"] for r in result["knn"]] == [30, 60]
    steady = result["pmi_steady"]
    assert steady["epoch_s"] > 0 and steady["gflops"] > 0
    assert set(steady["fit_s"]) == {"1", "2"}
    full = result["pmi_full"]
    assert full["status"] == "ok" and full["n_fit"] == len(tiny.genes)
    assert result["ratio_knn_pmi"] == pytest.approx(
        result["knn_full_extrapolated_s"] / full["time_s"])
    assert "measured" in text and "KNN / PMI" in text
    assert any("PMI" in line and "inplace" in line for line in logged)


def test_speed_extra_rates_against_the_peak_of_the_precision_used(tmp_path, tiny):
    ctx = studies.StudyContext(_speed_args(tmp_path, "--precision", "bfloat16"),
                               log=lambda line: None,
                               datasets={"synthetic_gtex_scale": tiny})
    result, text = speed.extra_speed(ctx, sizes_knn=(30, 60), n_pmi=60,
                                     epochs=(1, 2), matmul_n=128)
    steady = result["pmi_steady"]
    assert steady["precision"] == "bfloat16"
    assert result["matmul_gflops_bfloat16"] > 0
    share = f"{steady['gflops'] / result['matmul_gflops_bfloat16']:.0%}"
    assert "measured bfloat16 torch.mm 128x128" in text and f"({share})" in text
    # a result stored before the precision was recorded: float32
    del steady["precision"]
    share = f"{steady['gflops'] / result['matmul_gflops']:.0%}"
    old = speed.speed_text(result)
    assert "measured float32 torch.mm" in old and f"({share})" in old


def test_speed_extra_reuses_the_full_scale_record(tmp_path, tiny):
    record = dict(dataset=tiny.name, scenario="inplace", method="PMI",
                  status="ok", message="", n_fit=80, n_genes=10, r2_mean=0.5,
                  time_s=2.0, n_iter=7)
    logged = []
    ctx = studies.StudyContext(_speed_args(tmp_path), log=logged.append,
                               records=[record],
                               datasets={"synthetic_gtex_scale": tiny})
    result, text = speed.extra_speed(ctx, sizes_knn=(30, 60), n_pmi=60,
                                     epochs=(1, 2), matmul_n=128)
    assert result["pmi_full"]["time_s"] == 2.0 and result["pmi_full"]["n_iter"] == 7
    assert not any("inplace" in line for line in logged)  # nothing rerun
    assert "7 epochs" in text


def test_pmi_flops_count_the_work_done():
    # 4 -> 3 -> 2: forward 2*(12 + 6), weight gradients as much again, input
    # gradient of the second layer only (the data gets no gradient)
    assert speed.pmi_flops_per_sample_epoch(4, [3], 2) == 2 * 36 + 12


def test_tables_are_written_only_where_told(tmp_path, monkeypatch, tiny):
    monkeypatch.setitem(datasets.DATASETS, "synthetic_pathway", lambda data_dir: tiny)
    monkeypatch.chdir(tmp_path)
    parser = bench_cli.add_arguments(argparse.ArgumentParser())
    with pytest.raises(SystemExit):  # --output-dir is required
        parser.parse_args(["--datasets", "synthetic_pathway"])
    args = parser.parse_args(["--datasets", "synthetic_pathway", "--methods",
                              "Tissue median", "--repeats", "1", "--scenarios",
                              "inplace", "--output-dir", "out"])
    assert bench_cli.run_from_args(args) == 0
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert os.listdir(tmp_path / "out") == ["imputers.json"]


def test_shared_pmi_fit_of_the_studies_is_made_once(tmp_path, tiny):
    tissues = np.asarray(tiny.covariates["tissue"], dtype=str)
    tiny_brain = Bunch(**{**tiny, "name": "gtex_v8_acmg59"})
    tiny_brain.covariates = tiny.covariates.assign(
        tissue=np.where(tissues == tissues[0], "Brain - Cortex", tissues))
    logged = []
    ctx = studies.StudyContext(_speed_args(tmp_path), log=logged.append,
                               datasets={"gtex_v8_acmg59": tiny_brain})
    results, texts = studies.run_extras(["per-tissue", "embeddings"], ctx)
    assert sum("fitting PMI" in line for line in logged) == 1
    assert results["embeddings"]["n_brain"] == 1
    assert "error" not in results["per-tissue"]
    assert set(texts) == {"Per-tissue R²", "Tissue embeddings"}


@pytest.mark.parametrize("script", ["bench_imputers.py", "headline.py",
                                    "study_inplace.py", "bench_loader.py",
                                    "bench_memory.py"])
def test_scripts_and_commands_still_run(script):
    """``python benchmarks/<script> --help`` and ``python -m benchmarks``."""
    proc = subprocess.run([sys.executable, os.path.join("benchmarks", script),
                           "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_python_m_benchmarks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "headline",
                           os.path.join("benchmarks", "results", "imputers.json"),
                           "--rst", str(tmp_path / "h.rst")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(ROOT, "docs", "benchmark_headline.rst")) as fh:
        assert (tmp_path / "h.rst").read_text() == fh.read()
    assert bench_cli.main(["nope"]) == 2

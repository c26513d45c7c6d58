"""The benchmark harness on tiny synthetic data (never reads ../shared/data)."""

import argparse
import json
import time

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Bunch

from skimpute_gtex import _benchmark as bench
from skimpute_gtex.datasets import make_gtex_like

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
            "Blood surrogate"} <= set(bench.METHODS)
    assert {"gtex_scira_tf467", "gtex_v8_acmg59", "microarray_all_leukemia",
            "tcga_laml_seamless20", "synthetic_pathway",
            "synthetic_gtex_scale"} <= set(bench.DATASETS)
    spec = [("tissue", "categorical", ["tissue"])]
    for name, factory in bench.METHODS.items():
        est = factory(spec, 0)
        assert hasattr(est, "fit") and hasattr(est, "transform"), name


def test_run_records_and_budget(tiny):
    methods = {"PMI": bench.METHODS["PMI"],
               "Tissue median": bench.METHODS["Tissue median"],
               "Slow": lambda spec, rs: SlowImputer()}
    records = bench.run_benchmark(
        [tiny], methods=methods, repeats=1, time_budget=10.0,
        params=bench.FAST_PARAMS, device="cpu", threads=1,
    )
    assert len(records) == 2 * 3
    by = {(r["scenario"], r["method"]): r for r in records}
    for scenario in bench.SCENARIOS:
        ok = by[scenario, "Tissue median"]
        assert ok["status"] == "ok" and 0 < ok["r2_mean"] <= 1
        assert ok["time_s"] >= 0 and ok["peak_mem_mb"] >= 0
        assert by[scenario, "PMI"]["status"] == "ok"
    # over the budget: stopped once, then not run again on this data set
    assert by["inplace", "Slow"]["status"] == "timeout"
    assert by["inplace", "Slow"]["time_s"] == 10.0
    assert by["inductive", "Slow"]["status"] == "timeout"
    assert by["inductive", "Slow"]["message"].startswith("not run")
    rows = bench.summarize(records)
    slow_rows = [r for r in rows if r["method"] == "Slow"]
    assert all(r["r2"] == "> budget" for r in slow_rows)
    md = bench.markdown_summary(rows)
    assert "> budget" in md and "| Tissue median |" in md


def test_inductive_split_is_donor_disjoint(tiny):
    train, test = bench.make_split(tiny, 0)
    assert not set(tiny.donors[train]) & set(tiny.donors[test])
    no_donor = Bunch(**{**tiny, "donors": None})
    train, test = bench.make_split(no_donor, 0)
    assert len(test) == 16 and len(np.intersect1d(train, test)) == 0


def test_cli_writes_json_and_tables(tmp_path, monkeypatch, tiny, capsys):
    monkeypatch.setitem(bench.DATASETS, "synthetic_pathway", lambda data_dir: tiny)
    parser = bench.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args([
        "--datasets", "synthetic_pathway", "--methods", "KNN-5", "Tissue median",
        "Blood surrogate", "--repeats", "2", "--scenarios", "inplace", "--fast",
        "--output-dir", str(tmp_path), "--name", "smoke",
        "--tables", str(tmp_path / "tables.rst"), "--data-dir", str(tmp_path),
    ])
    assert bench.run_from_args(args) == 0
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
    parser = bench.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--datasets", "synthetic_gtex_scale",
                              "--output-dir", str(tmp_path)])
    assert bench.run_from_args(args) == 2
    assert "--allow-huge" in capsys.readouterr().err


def test_missing_data_dir_is_clear(tmp_path, capsys):
    parser = bench.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--datasets", "gtex_scira_tf467", "--data-dir",
                              str(tmp_path), "--output-dir", str(tmp_path)])
    assert bench.run_from_args(args) == 2
    assert "not found" in capsys.readouterr().err


def test_merge_regenerates_tables(tmp_path, capsys):
    machine = bench.machine_info(1)
    rec = dict(dataset="d", scenario="inplace", method="KNN-5", repeat=0,
               r2_mean=0.5, r2_std=0.1, time_s=1.0, peak_mem_mb=10.0, status="ok",
               message="", time_budget_s=60.0)
    slow = dict(rec, method="MICE", status="timeout", message="stopped after 60 s",
                r2_mean=None, time_s=60.0)
    bench.write_results(tmp_path / "a.json", [rec], machine=machine, config={})
    bench.write_results(tmp_path / "b.json", [slow], machine=machine, config={})
    parser = bench.add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--merge", str(tmp_path / "a.json"),
                              str(tmp_path / "b.json"), "--output-dir",
                              str(tmp_path), "--name", "all", "--tables",
                              str(tmp_path / "t.rst")])
    assert bench.run_from_args(args) == 0
    assert len(json.loads((tmp_path / "all.json").read_text())["runs"]) == 2
    rst = (tmp_path / "t.rst").read_text()
    assert "0.500" in rst and "> budget" in rst


def test_first_seed_continues_the_repeats(tiny):
    records = bench.run_benchmark([tiny], methods=["Tissue median"],
                                  scenarios=["inplace"], repeats=2, first_seed=3,
                                  isolate=False)
    assert [(r["repeat"], r["seed"]) for r in records] == [(3, 3), (4, 4)]
    first = bench.run_benchmark([tiny], methods=["Tissue median"],
                                scenarios=["inplace"], repeats=4, isolate=False)
    # the same seed gives the same mask, whichever run it belongs to
    assert records[0]["r2_mean"] == first[3]["r2_mean"]


def _speed_args(tmp_path, *extra):
    parser = bench.add_arguments(argparse.ArgumentParser())
    return parser.parse_args(["--fast", "--time-budget", "120",
                              "--output-dir", str(tmp_path), *extra])


def test_speed_extra_measures_pmi_end_to_end(tmp_path, tiny):
    logged = []
    result, text = bench.extra_speed(
        _speed_args(tmp_path), log=logged.append, sizes_knn=(30, 60), n_pmi=60,
        epochs=(1, 2), dataset=tiny)
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


def test_speed_extra_reuses_the_full_scale_record(tmp_path, tiny):
    record = dict(dataset=tiny.name, scenario="inplace", method="PMI",
                  status="ok", message="", n_fit=80, n_genes=10, r2_mean=0.5,
                  time_s=2.0, n_iter=7)
    logged = []
    result, text = bench.extra_speed(
        _speed_args(tmp_path), log=logged.append, sizes_knn=(30, 60), n_pmi=60,
        epochs=(1, 2), dataset=tiny, records=[record])
    assert result["pmi_full"]["time_s"] == 2.0 and result["pmi_full"]["n_iter"] == 7
    assert not any("inplace" in line for line in logged)  # nothing rerun
    assert "7 epochs" in text


def test_pmi_flops_count_the_work_done():
    # 4 -> 3 -> 2: forward 2*(12 + 6), weight gradients as much again, input
    # gradient of the second layer only (the data gets no gradient)
    assert bench.pmi_flops_per_sample_epoch(4, [3], 2) == 2 * 36 + 12

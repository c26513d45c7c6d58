"""Fits from disk (skimpute_gtex.io sources) and data-parallel fits (torchrun)."""

import os
import re
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest

from skimpute_gtex import GAINImputer, PMIImputer
from skimpute_gtex._torch._data import gene_statistics
from skimpute_gtex._torch._stream import ShuffledBlocks, stream_statistics
from skimpute_gtex.io import AnnDataSource, ARCHS4Source, RowSource
from skimpute_gtex.metrics import masked_r2_score

h5py = pytest.importorskip("h5py")
ad = pytest.importorskip("anndata")

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings(
        "ignore:The 'future.infer_string' option is deprecated"),
    pytest.mark.filterwarnings("ignore:X does not have valid feature names"),
]

SMALL = dict(hidden_layer_sizes=(64,), max_iter=40, batch_size=128,
             device="cpu", n_jobs=1, verbose=0)


def low_rank(n, g, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    z, w = rng.normal(size=(n, 4)), rng.normal(size=(4, g))
    return (z @ w + noise * rng.normal(size=(n, g))).astype(np.float32)


def write_h5ad(path, X):
    adata = ad.AnnData(X)
    adata.var_names = [f"g{j}" for j in range(X.shape[1])]
    adata.obs_names = [f"s{i}" for i in range(X.shape[0])]
    adata.write_h5ad(path)
    return path


def write_archs4(path, counts, genes=None, expression="data/expression"):
    genes = genes or [f"G{j}" for j in range(counts.shape[1])]
    with h5py.File(path, "w") as f:
        f.create_dataset(expression, data=counts.T.astype(np.uint32))
        f.create_dataset("meta/genes/gene_symbol", data=np.array(genes, dtype="S"))
        f.create_dataset("meta/samples/geo_accession",
                         data=np.array([f"GSM{i}" for i in range(len(counts))],
                                       dtype="S"))
    return path


def masked_r2(model, X, seed=1):
    """Per-gene R² of the entries of X hidden at random (50%), the
    imputed matrix and the study (X with NaN at the hidden entries)."""
    rng = np.random.default_rng(seed)
    hidden = rng.random(X.shape) < 0.5
    study = np.where(hidden, np.nan, X)
    out = model.transform(study)
    return masked_r2_score(X, out, hidden), out, study


def panel_r2(model, X, n_panel=6, seed=0):
    """Mean per-gene R² of the genes outside a random panel of ``n_panel``
    genes measured in every row of X (the other genes missing)."""
    panel = np.zeros(X.shape[1], dtype=bool)
    panel[np.random.default_rng(seed).choice(X.shape[1], n_panel,
                                             replace=False)] = True
    out = model.transform(np.where(panel, X, np.nan))
    return masked_r2_score(X, out, np.broadcast_to(~panel, X.shape))


# ------------------------------------------------------------------ sources
def test_stream_statistics_match_the_in_memory_ones(tmp_path):
    X = low_rank(2500, 12)
    X[np.random.default_rng(0).random(X.shape) < 0.3] = np.nan
    X[:, 3] = np.nan  # a gene never observed
    source = AnnDataSource(ad.read_h5ad(write_h5ad(tmp_path / "x.h5ad", X),
                                        backed="r"))
    count, mean, std, low, high = stream_statistics(source, rows=333)
    want = gene_statistics(X.astype(np.float64), ~np.isnan(X))
    np.testing.assert_array_equal(count, (~np.isnan(X)).sum(axis=0))
    for got, expected in zip((mean, std, low, high), want):
        ok = np.isfinite(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-9, atol=1e-12)
    assert count[3] == 0


def test_archs4_source_reads_the_published_layout(tmp_path):
    counts = np.random.default_rng(0).poisson(20, size=(30, 6))
    counts[4] = 0  # a sample without reads
    path = write_archs4(tmp_path / "a.h5", counts)
    with ARCHS4Source(path, genes=["G5", "G1"]) as source:
        assert source.shape == (30, 2)
        assert list(source.gene_names) == ["G5", "G1"]
        assert source.sample_names[2] == "GSM2"
        block = source.read(0, 30)
    with np.errstate(invalid="ignore"):
        cpm = counts / counts.sum(axis=1, keepdims=True) * 1e6
    some = [0, 1, 2, 5]
    np.testing.assert_allclose(block[some], np.log1p(cpm[some][:, [5, 1]]),
                               rtol=1e-6)
    assert np.isnan(block[4]).all()  # no library: missing
    with ARCHS4Source(path, transform="log1p") as source:
        np.testing.assert_allclose(source.read(3, 5), np.log1p(counts[3:5]),
                                   rtol=1e-6)
    with ARCHS4Source(path, transform=None) as source:
        np.testing.assert_array_equal(source.take([1, 7, 29]), counts[[1, 7, 29]])


def test_archs4_source_reads_a_subset_of_samples(tmp_path):
    counts = np.random.default_rng(1).poisson(20, size=(40, 5))
    path = write_archs4(tmp_path / "a.h5", counts)
    bulk = np.zeros(40, dtype=bool)
    bulk[[1, 2, 7, 30, 39]] = True
    for samples in (bulk, np.flatnonzero(bulk)):
        with ARCHS4Source(path, ["G3", "G0"], transform=None,
                          samples=samples) as source:
            assert source.shape == (5, 2)
            assert list(source.sample_names) == ["GSM1", "GSM2", "GSM7", "GSM30",
                                                 "GSM39"]
            np.testing.assert_array_equal(source.read(1, 4),
                                          counts[[2, 7, 30]][:, [3, 0]])
            np.testing.assert_array_equal(source.take([0, 4]),
                                          counts[[1, 39]][:, [3, 0]])
    for bad, what in [(np.ones(3, dtype=bool), "needs 40 values"),
                      ([5, 2], "increase strictly"), ([0, 40], r"\[0, 40\)")]:
        with pytest.raises(ValueError, match=what):
            ARCHS4Source(path, samples=bad)


def test_archs4_bad_input_is_named(tmp_path):
    counts = np.ones((5, 3))
    path = write_archs4(tmp_path / "a.h5", counts)
    with pytest.raises(ValueError, match=r"2 of the 3 ids are not in meta/genes"):
        ARCHS4Source(path, genes=["G0", "BRCA1", "TP53"])
    with pytest.raises(ValueError, match="more than once"):
        ARCHS4Source(path, genes=["G0", "G0"])
    other = write_archs4(tmp_path / "b.h5", counts, expression="counts/matrix")
    with pytest.raises(ValueError, match="not in ARCHS4's layout.*data/expression"):
        ARCHS4Source(other)
    with h5py.File(tmp_path / "c.h5", "w") as f:  # samples x genes: transposed
        f.create_dataset("data/expression", data=np.ones((5, 3)))
        f.create_dataset("meta/genes/gene_symbol", data=np.array(list("abc"), "S"))
        f.create_dataset("meta/samples/geo_accession",
                         data=np.array(list("vwxyz"), "S"))
    with pytest.raises(ValueError, match=r"shape \(5, 3\), expected \(genes, "
                                         r"samples\) = \(3, 5\)"):
        ARCHS4Source(tmp_path / "c.h5")
    with pytest.raises(ValueError, match="transform must be one of"):
        ARCHS4Source(path, transform="tpm")
    with pytest.raises(FileNotFoundError):
        ARCHS4Source(tmp_path / "none.h5")


def test_anndata_source_needs_a_backed_file_and_known_genes(tmp_path):
    path = write_h5ad(tmp_path / "x.h5ad", low_rank(20, 5))
    with pytest.raises(TypeError, match="backed AnnData"):
        AnnDataSource(ad.read_h5ad(path))
    with pytest.raises(ValueError, match="not in the AnnData's var_names"):
        AnnDataSource(ad.read_h5ad(path, backed="r"), genes=["g1", "gX"])
    source = AnnDataSource(ad.read_h5ad(path, backed="r"), genes=["g4", "g0"])
    np.testing.assert_array_equal(source.read(2, 5), low_rank(20, 5)[2:5][:, [4, 0]])
    with pytest.raises(TypeError, match="cannot be pickled"):
        joblib.dump(source, tmp_path / "s.joblib")


class Rows(RowSource):
    """Column 0 holds each row's index: which rows a stream yields."""

    def __init__(self, n):
        self.n_samples, self.gene_names = n, np.array(["row", "other"])

    def _read(self, start, stop):
        return np.stack([np.arange(start, stop), np.zeros(stop - start)], axis=1)


@pytest.mark.parametrize("world", [1, 2])
def test_shuffled_blocks_visit_every_training_row_once_per_epoch(world):
    n = 5000
    training = np.ones(n, dtype=bool)
    training[::7] = False  # validation rows never train
    source = Rows(n)
    seen = []
    for rank in range(world):
        stream = iter(ShuffledBlocks(source, training, np.zeros(2), np.ones(2),
                                     batch_size=50, seed=3, rank=rank,
                                     world=world, chunk_rows=100,
                                     buffer_chunks=4))
        # one epoch of this rank: its blocks' training rows, less a last
        # partial batch carried into the next epoch
        rows = [b[0][:, 0] for b in (next(stream) for _ in range(
            int(training.sum()) // (50 * world)))]
        seen.append(np.concatenate(rows).astype(int))
    every = np.concatenate(seen)
    assert len(np.unique(every)) == len(every)  # no row twice, no rank overlap
    assert training[every].all()
    assert len(every) >= training.sum() - 50 * world * 2
    assert not np.array_equal(every[:50], np.sort(every[:50]))  # shuffled


# -------------------------------------------------------------- streaming fit
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    X = low_rank(4400, 40)
    path = write_h5ad(tmp_path_factory.mktemp("ref") / "ref.h5ad", X[:4000])
    return path, X[:4000], X[4000:]


def test_fit_from_disk_matches_an_in_memory_fit(reference, tmp_path):
    path, train, test = reference
    streamed = PMIImputer(random_state=0, **SMALL).fit(ad.read_h5ad(path, backed="r"))
    r2_stream, out, study = masked_r2(streamed, test)
    in_memory = [PMIImputer(random_state=s, **SMALL).fit(train) for s in (0, 1)]
    r2_memory = [masked_r2(m, test)[0] for m in in_memory]
    # the same model up to the row order: within 0.02 of the in-memory fits
    assert abs(r2_stream - np.mean(r2_memory)) < 0.02
    # a gene panel: its ridge mixture too, from rows sampled from the file
    network_only = PMIImputer(random_state=0, gene_panel=False, **SMALL).fit(
        ad.read_h5ad(path, backed="r"))
    panel = panel_r2(streamed, test)
    assert streamed.panel_weight_ is not None and network_only.panel_weight_ is None
    assert abs(panel - np.mean([panel_r2(m, test) for m in in_memory])) < 0.01
    assert panel > panel_r2(network_only, test) + 0.05
    assert streamed.n_features_in_ == 40 and streamed.n_estimators_ == 1
    assert list(streamed.feature_names_in_[:2]) == ["g0", "g1"]
    observed = ~np.isnan(study)
    np.testing.assert_array_equal(out[observed], test[observed])
    restored = joblib.load(joblib.dump(streamed, tmp_path / "m.joblib")[0])
    np.testing.assert_array_equal(restored.transform(study), streamed.transform(study))


def test_fit_from_disk_is_decided_by_random_state(reference):
    path, _, test = reference
    params = dict(SMALL, max_iter=3)
    fits = [PMIImputer(random_state=s, **params).fit(
        AnnDataSource(ad.read_h5ad(path, backed="r"))) for s in (0, 0, 1)]
    outs = [masked_r2(f, test)[1] for f in fits]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_fit_from_disk_without_early_stopping_still_weighs_gene_panels(reference):
    path, _, _ = reference
    model = PMIImputer(**dict(SMALL, max_iter=2, early_stopping=False)).fit(
        ad.read_h5ad(path, backed="r"))
    assert model.validation_scores_ is None and model.n_iter_ == 2
    assert model.panel_weight_ is not None


def test_fit_from_disk_refuses_what_it_cannot_do(reference):
    path, _, _ = reference
    backed = ad.read_h5ad(path, backed="r")
    for params, what in [(dict(covariates=[("tissue", "categorical", [0])]),
                          "covariates"),
                         (dict(calibration=True), "calibration=True"),
                         (dict(n_estimators=3), "n_estimators=3"),
                         (dict(add_indicator=True), "add_indicator")]:
        model = PMIImputer(**params)
        with pytest.raises(ValueError, match=what):
            model.fit(backed)
        assert not hasattr(model, "n_features_in_")  # nothing half-fitted
    with pytest.raises(TypeError, match="GAINImputer cannot be fitted from a file"):
        GAINImputer().fit(backed)
    with pytest.raises(ValueError, match="missing_values=0"):
        PMIImputer(missing_values=0).fit(backed)
    with pytest.raises(TypeError, match="fit_transform needs X in memory"):
        PMIImputer().fit_transform(backed)
    fitted = PMIImputer(**dict(SMALL, max_iter=1)).fit(backed)
    with pytest.raises(TypeError, match="imputes data in memory"):
        fitted.transform(backed)


def test_sources_need_h5py_only_when_used(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(ImportError, match=r"skimpute-gtex\[anndata\]"):
        ARCHS4Source(tmp_path / "a.h5")


def test_fit_stream_command_fits_archs4_bulk_samples(tmp_path, capsys):
    from skimpute_gtex.cli import main

    counts = np.random.default_rng(0).poisson(30, size=(300, 6))
    path = write_archs4(tmp_path / "a.h5", counts)
    out = tmp_path / "m.joblib"
    args = ["fit-stream", str(path), "-o", str(out), "--bulk-only",
            "--max-iter", "1", "--hidden-layer-sizes", "8", "--quiet"]
    assert main(args) == 2  # the file has no single-cell probabilities
    assert "singlecellprobability" in capsys.readouterr().err
    with h5py.File(path, "a") as f:
        f["meta/samples/singlecellprobability"] = np.where(
            np.arange(300) % 3 == 0, 0.9, 0.1)
    assert main(args) == 0
    assert "on 200 samples x 6 genes" in capsys.readouterr().err
    assert list(joblib.load(out).feature_names_in_) == [f"G{j}" for j in range(6)]


def test_fit_stream_command_reports_bad_input(tmp_path, capsys):
    from skimpute_gtex.cli import main

    out = tmp_path / "m.joblib"
    assert main(["fit-stream", str(tmp_path / "none.h5"), "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    path = write_archs4(tmp_path / "a.h5", np.ones((20, 3)))
    genes = tmp_path / "genes.txt"
    genes.write_text("G0\nKRAS\n")
    assert main(["fit-stream", str(path), "--genes", str(genes), "-o",
                 str(out)]) == 2
    assert "KRAS" in capsys.readouterr().err
    assert not out.exists()


# -------------------------------------------------------------- data-parallel
def _fit_command(path, out, seed, nproc):
    cmd = ["-m", "skimpute_gtex", "fit-stream", str(path), "-o", str(out),
           "--max-iter", "40", "--hidden-layer-sizes", "64", "--batch-size",
           "128", "--random-state", str(seed), "--quiet"]
    if nproc > 1:
        cmd = ["-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(nproc), *cmd]
    return [sys.executable, *cmd]


def _run(cmd, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_two_gloo_processes_match_one_process(reference, tmp_path):
    """Two processes (global batch 128: 64 rows each) against one (batch 128).

    Tolerance: the 2-process fit's imputations are closer to the 1-process
    fit with the same random_state than two 1-process fits with different
    random_states are to each other, and its R² is within 0.02.
    """
    path, _, test = reference
    models = {}
    for name, seed, nproc in [("one", 0, 1), ("other seed", 1, 1), ("two", 0, 2)]:
        out = tmp_path / f"{name}.joblib"
        result = _run(_fit_command(path, out, seed, nproc))
        assert result.returncode == 0, result.stderr[-2000:]
        models[name] = joblib.load(out)
    fits = {k: masked_r2(m, test) for k, m in models.items()}

    def gap(a, b):
        return np.abs(fits[a][1] - fits[b][1]).mean()

    assert gap("one", "two") < gap("one", "other seed")
    assert abs(fits["one"][0] - fits["two"][0]) < 0.02
    assert models["two"].n_iter_ == models["one"].n_iter_ == 40


EARLY = """
import os
import sys
import anndata
import joblib
from skimpute_gtex import PMIImputer
from skimpute_gtex.distributed import fit_distributed

model = PMIImputer(hidden_layer_sizes=(16,), max_iter=50, batch_size=64,
                   tol=0.5, n_iter_no_change=2, learning_rate="constant",
                   verbose=0)
fit_distributed(model, anndata.read_h5ad(sys.argv[1], backed="r"), sys.argv[2])
joblib.dump(model.n_iter_, sys.argv[2] + ".rank" + os.environ["RANK"])
"""


def test_ranks_stop_early_at_the_same_epoch(reference, tmp_path):
    path, _, _ = reference
    script = tmp_path / "early.py"
    script.write_text(EARLY)
    out = tmp_path / "model.joblib"
    result = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", "2", str(script), str(path), str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    epochs = [joblib.load(f"{out}.rank{r}") for r in (0, 1)]
    assert epochs[0] == epochs[1] < 50  # stopped early, together
    assert joblib.load(out).n_iter_ == epochs[0]


DYING = """
import os, sys
import anndata
from skimpute_gtex import PMIImputer
from skimpute_gtex.distributed import fit_distributed
from skimpute_gtex.io import AnnDataSource

class Dying(AnnDataSource):
    reads = 0

    def _read(self, start, stop):
        self.reads += 1
        if os.environ["RANK"] == "1" and self.reads > 40:
            {how}
        return super()._read(start, stop)

source = Dying(anndata.read_h5ad(sys.argv[1], backed="r"))
fit_distributed(PMIImputer(hidden_layer_sizes=(16,), max_iter=50, batch_size=64,
                           verbose=0), source, sys.argv[2], timeout=60)
"""


@pytest.mark.parametrize("how, cause", [
    ("raise RuntimeError('disk gone')", r"RuntimeError: disk gone"),
    ("os._exit(3)", r"rank\s*:\s*1.*\n.*exitcode\s*:\s*3"),
])
def test_a_rank_that_dies_fails_the_run_without_a_model_file(reference, tmp_path,
                                                             how, cause):
    path, _, _ = reference
    script = tmp_path / "dying.py"
    script.write_text(textwrap.dedent(DYING).replace("{how}", how))
    out = tmp_path / "model.joblib"
    result = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", "2", str(script), str(path), str(out)])
    assert result.returncode != 0
    assert re.search(cause, result.stderr), result.stderr[-2000:]
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_fit_distributed_without_torchrun_is_a_plain_fit(reference, tmp_path,
                                                         monkeypatch):
    from skimpute_gtex.distributed import fit_distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    path, _, test = reference
    out = tmp_path / "m.joblib"
    params = dict(SMALL, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit_distributed(PMIImputer(random_state=0, **params),
                                 ad.read_h5ad(path, backed="r"), out)
        plain = PMIImputer(random_state=0, **params).fit(
            ad.read_h5ad(path, backed="r"))
    np.testing.assert_array_equal(masked_r2(fitted, test)[1],
                                  masked_r2(joblib.load(out), test)[1])
    np.testing.assert_array_equal(masked_r2(fitted, test)[1],
                                  masked_r2(plain, test)[1])
    with pytest.raises(TypeError, match="reads a matrix on disk"):
        fit_distributed(PMIImputer(), np.ones((3, 3)))

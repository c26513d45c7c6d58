"""Fitting from disk: peak memory, samples/s and accuracy against memory.

Usage::

    python benchmarks/bench_stream.py --dir /scratch/stream \\
        --output benchmarks/results/stream.json

Writes (once; reused when it is there) a synthetic complete reference of
``--rows`` x ``--genes`` float32 to ``DIR/reference.h5ad`` (a dense ``X``
written a block of rows at a time: never held in memory; never commit it),
then runs each measurement in a fresh Python process so that its peak
resident set size (``ru_maxrss``, the whole process: torch included) is its
own:

* speed, training alone (``gene_panel=False``: the gene-panel weighing is
  not the same work in memory and from disk): ``stream``,
  :class:`~skimpute_gtex.PMIImputer` fitted from the backed file
  (``--epochs`` epochs, 2 by default: 400,000 samples seen), after one
  timed pass of the fit's statistics alone (the rate of reading the file),
  against ``memory``, fitted on the first ``--slice`` rows read into memory
  for ``--slice-epochs`` epochs (25: about as many samples seen);
* the defaults (gene panels on): ``stream`` again (its peak memory), then
  ``memory`` and ``stream-slice`` (fitted from disk on the slice's rows),
  ``--slice-epochs`` epochs, seeds 0 and 1;
* every fit is scored on 2,000 held-out rows of the same generator: with
  50% of their entries hidden, and with only a random 10% of the genes
  measured (a gene panel); per-gene R² of the hidden values, averaged over
  genes.

Samples/s is the training rows seen (epochs x training rows in memory,
steps x batch rows from disk) over the fit's seconds, end to end: the
streaming fit's statistics pass and both fits' validation included.
Nothing is written without ``--output``; the reference goes only to
``--dir``.
"""

import argparse
import json
import os
import subprocess
import sys
import time

if __package__ in (None, ""):  # run as a script: import the package from the root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from skimpute_gtex.metrics import masked_r2_score  # noqa: E402

RANK, CLUSTERS, NOISE = 20, 30, 0.5
BLOCK = 4096


def _model(n_genes, seed=0):
    rng = np.random.default_rng([seed, 0])
    return dict(w=rng.normal(size=(RANK, n_genes)) / np.sqrt(RANK),
                centers=rng.normal(size=(CLUSTERS, n_genes)),
                mu=rng.normal(5.0, 2.0, size=n_genes),
                sd=rng.uniform(0.5, 2.0, size=n_genes))


def synthetic_rows(model, start, stop, stream=1):
    """Rows ``start:stop`` of the reference (``stream=1``) or of the
    held-out rows (``stream=2``): cluster centre + rank-20 signal + noise."""
    out = []
    for lo in range(start - start % BLOCK, stop, BLOCK):
        rng = np.random.default_rng([stream, lo // BLOCK])
        n, g = BLOCK, model["w"].shape[1]
        z = rng.normal(size=(n, RANK))
        cluster = rng.integers(CLUSTERS, size=n)
        x = (model["centers"][cluster] + z @ model["w"]
             + NOISE * rng.normal(size=(n, g)))
        out.append((model["mu"] + model["sd"] * x).astype(np.float32))
    block = np.concatenate(out)
    first = start - start % BLOCK
    return block[start - first:stop - first]


def write_reference(path, n_rows, n_genes):
    """The reference as an .h5ad with a dense ``X``, written in blocks."""
    import anndata
    import h5py
    import pandas as pd

    try:
        from anndata.io import write_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import write_elem
    model = _model(n_genes)
    tmp = f"{path}.partial"
    with h5py.File(tmp, "w") as f:
        f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
        X = f.create_dataset("X", (n_rows, n_genes), dtype="float32",
                             chunks=(256, n_genes))
        X.attrs["encoding-type"], X.attrs["encoding-version"] = "array", "0.2.0"
        for lo in range(0, n_rows, BLOCK):
            X[lo:lo + BLOCK] = synthetic_rows(model, lo, min(lo + BLOCK, n_rows))
        write_elem(f, "obs", pd.DataFrame(
            index=pd.Index([f"s{i}" for i in range(n_rows)], dtype=object)))
        write_elem(f, "var", pd.DataFrame(
            index=pd.Index([f"g{j}" for j in range(n_genes)], dtype=object)))
    os.replace(tmp, path)
    anndata.read_h5ad(path, backed="r").file.close()  # it reads back


def _score(model, n_genes, n_test=2000):
    """Mean per-gene R² on held-out rows: of random entries (50% hidden),
    and of the genes outside a random panel of 10% of the genes."""
    truth = synthetic_rows(_model(n_genes), 0, n_test, stream=2)
    hidden = np.random.default_rng(7).random(truth.shape) < 0.5
    panel = np.zeros(n_genes, dtype=bool)
    panel[np.random.default_rng(8).choice(n_genes, n_genes // 10,
                                          replace=False)] = True
    return [masked_r2_score(truth, model.transform(np.where(hide, np.nan, truth)),
                            hide)
            for hide in (hidden, np.broadcast_to(~panel, truth.shape))]


def worker(args):
    """One measurement, in this process; prints its record as JSON."""
    import warnings

    import anndata

    from benchmarks.machine import maxrss_mb
    from skimpute_gtex import PMIImputer
    from skimpute_gtex._torch._stream import MAX_VALIDATION_ROWS as MAX_VAL
    from skimpute_gtex.io import AnnDataSource, RowSource

    warnings.simplefilter("ignore")
    path = os.path.join(args.dir, "reference.h5ad")
    source = AnnDataSource(anndata.read_h5ad(path, backed="r"))
    n_genes = source.shape[1]

    class Head(RowSource):
        def __init__(self, inner, n):
            self.inner, self.n_samples = inner, n
            self.gene_names = inner.gene_names

        def _read(self, start, stop):
            return self.inner.read(start, stop)

    rows = args.rows if args.worker == "stream" else args.slice
    data = source if rows >= source.n_samples else Head(source, rows)
    if args.worker == "memory":
        data = source.read(0, rows)
    read_seconds = None
    if args.worker == "stream":  # one pass of reading alone: the statistics
        from skimpute_gtex._torch._stream import stream_statistics

        t0 = time.perf_counter()
        stream_statistics(data)
        read_seconds = time.perf_counter() - t0
    est = PMIImputer(max_iter=args.epochs, random_state=args.seed,
                     gene_panel=bool(args.gene_panel), verbose=0)
    t0 = time.perf_counter()
    est.fit(data)
    seconds = time.perf_counter() - t0
    peak = maxrss_mb()  # of the fit (and of reading the slice, in memory)
    n_val = round(est.validation_fraction * rows)
    if args.worker == "memory":  # every epoch trains every training row
        samples = est.n_iter_ * (rows - n_val)
    else:  # whole batches from the shuffle buffer
        samples = est.n_steps_ * est._plan.batch(rows - min(n_val, MAX_VAL))
    entries, panel = _score(est, n_genes)
    record = dict(kind=args.worker, rows=rows, genes=n_genes, seed=args.seed,
                  gene_panel=bool(args.gene_panel), epochs=est.n_iter_,
                  n_steps=est.n_steps_, fit_seconds=seconds,
                  samples_per_second=samples / seconds,
                  peak_rss_mb=peak, statistics_pass_seconds=read_seconds,
                  held_out_r2=entries, panel_r2=panel)
    print(json.dumps(record))


def _run(args, kind, epochs, seed=0, gene_panel=True):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind,
           "--dir", args.dir, "--rows", str(args.rows), "--slice",
           str(args.slice), "--epochs", str(epochs), "--seed", str(seed),
           "--gene-panel", str(int(gene_panel))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    record = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(record), flush=True)
    return record


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", required=True, help="where the reference is written")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--genes", type=int, default=5_000)
    p.add_argument("--slice", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=2,
                   help="epochs of the fit from the whole file")
    p.add_argument("--slice-epochs", type=int, default=25,
                   help="epochs of the fits of the slice")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", help="JSON file for the results")
    p.add_argument("--worker", choices=("stream", "memory", "stream-slice"),
                   help=argparse.SUPPRESS)
    p.add_argument("--gene-panel", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, "reference.h5ad")
    if not os.path.exists(path):
        t0 = time.perf_counter()
        write_reference(path, args.rows, args.genes)
        print(f"wrote {path} ({os.path.getsize(path) / 2**30:.2f} GiB) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    from benchmarks.machine import machine_info

    results = dict(machine=machine_info(), file_gib=os.path.getsize(path) / 2**30,
                   runs=[])
    # speed: training alone (no gene-panel weighing, which an in-memory fit
    # does differently), from disk against memory
    results["runs"].append(_run(args, "stream", args.epochs, gene_panel=False))
    results["runs"].append(_run(args, "memory", args.slice_epochs,
                                gene_panel=False))
    # the defaults: memory of the fit from disk; accuracy against memory
    results["runs"].append(_run(args, "stream", args.epochs))
    for seed in (0, 1):
        for kind in ("memory", "stream-slice"):
            results["runs"].append(_run(args, kind, args.slice_epochs, seed))
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

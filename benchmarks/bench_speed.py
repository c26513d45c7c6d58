"""PMI against KNNImputer(10) at 3,000 x 5,000, in one run (issue 13).

What a user who switches from KNNImputer sees: the default
``PMIImputer(covariates=...)`` and ``KNNImputer(n_neighbors=10)`` (on the genes
plus the one-hot covariates, as the harness runs it) impute the same
synthetic GTEx-like matrix (``make_gtex_like``, tissue and age covariates,
50% of the gene entries hidden completely at random), one after the other in
one process, so the ratio of their times is measured under the same
conditions. Reported for each: wall time of ``fit_transform``, per-gene R² on
the hidden entries; for PMI also the epochs, the time to reach 99% and 99.9%
of its best validation R² (time-to-accuracy, from the epoch timeline), the
training throughput in GFLOP/s against the measured float32 and bfloat16
matrix-product peaks of this machine with the same threads.

Run from the repository root::

    python benchmarks/bench_speed.py --output benchmarks/results/speed_3000x5000.json

Writes only the ``--output`` file. ``--precision bfloat16`` adds a PMI run
under bfloat16 autocast; ``--skip-knn`` leaves KNN out.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.impute import KNNImputer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._internals import hidden_sizes, input_width  # noqa: E402
from benchmarks.machine import machine_info, matmul_gflops  # noqa: E402
from benchmarks.speed import pmi_flops_per_sample_epoch  # noqa: E402
from skimpute_gtex import PMIImputer  # noqa: E402
from skimpute_gtex.baselines import CovariateImputer  # noqa: E402
from skimpute_gtex.datasets import make_gtex_like, simulate_missing  # noqa: E402
from skimpute_gtex.metrics import masked_r2_score  # noqa: E402
from skimpute_gtex.utils import _progress  # noqa: E402


def _data(n_samples, n_genes, n_tissues, seed=0):
    data = make_gtex_like(n_samples=n_samples, n_genes=n_genes,
                          n_tissues=n_tissues, random_state=seed)
    genes = data.expression.to_numpy()
    X_miss, mask = simulate_missing(genes, 0.5, random_state=seed)
    frame = data.frame[[*data.expression.columns, "tissue", "age"]].copy()
    frame[list(data.expression.columns)] = X_miss
    spec = [("tissue", "categorical", ["tissue"]), ("age", "numerical", ["age"])]
    return frame, genes, mask, spec


class _Timeline:
    """Epoch end times of a fit, from the estimator's progress hook."""

    def __init__(self):
        self.events = []

    def __enter__(self):
        self._update = _progress.Progress.update
        timeline = self

        def update(progress, network, epoch, score=None):
            timeline.events.append((time.perf_counter(), network, epoch, score))
            return timeline._update(progress, network, epoch, score)

        _progress.Progress.update = update
        return self

    def __exit__(self, *exc):
        _progress.Progress.update = self._update
        return False


def _time_to(events, t_start, fraction):
    """Seconds until the validation R² first reaches ``fraction`` of its best."""
    scores = [(t, s) for t, _, _, s in events if s is not None]
    if not scores:
        return None
    best = max(s for _, s in scores)
    return next(t - t_start for t, s in scores if s >= fraction * best)


def run_pmi(frame, genes, mask, spec, precision):
    est = PMIImputer(covariates=spec, precision=precision, random_state=0)
    with _Timeline() as timeline, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out = est.fit_transform(frame)
        seconds = time.perf_counter() - t0
    epochs = [t for t, *_ in timeline.events]
    train_s = epochs[-1] - t0 if epochs else seconds
    n_train = int(round(len(frame) * (1 - est.validation_fraction))) \
        if est.best_validation_score_ is not None else len(frame)
    flops = pmi_flops_per_sample_epoch(input_width(est), hidden_sizes(est),
                                       genes.shape[1])
    epoch_s = np.diff([t0, *epochs])
    return dict(
        precision=precision, time_s=seconds,
        r2=float(masked_r2_score(genes, out, mask)),
        n_iter=int(est.n_iter_), n_estimators=int(est.n_estimators_),
        best_validation_r2=est.best_validation_score_,
        time_to_99pct_s=_time_to(timeline.events, t0, 0.99),
        time_to_999pct_s=_time_to(timeline.events, t0, 0.999),
        median_epoch_s=float(np.median(epoch_s)) if epoch_s.size else None,
        train_gflops=flops * n_train * est.n_iter_ * est.n_estimators_
        / train_s / 1e9,
        # the rate of a median epoch (its steps and its validation pass),
        # without the fit's one-off costs (validation, standardization,
        # the threads probe, the first epoch's warm-up)
        epoch_gflops=(flops * n_train / float(np.median(epoch_s)) / 1e9
                      if epoch_s.size else None),
        thread_counts=[n for _, n in getattr(est, "_thread_choices", [])],
        # (seconds since the start of fit_transform, validation R²) per epoch
        validation_curve=[[t - t0, s] for t, _, _, s in timeline.events
                          if s is not None],
    )


def run_knn(frame, genes, mask, spec):
    est = CovariateImputer(KNNImputer(n_neighbors=10), covariates=spec)
    t0 = time.perf_counter()
    out = est.fit_transform(frame)
    seconds = time.perf_counter() - t0
    out = np.asarray(out)[:, :genes.shape[1]]
    return dict(time_s=seconds, r2=float(masked_r2_score(genes, out, mask)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=3000)
    p.add_argument("--genes", type=int, default=5000)
    p.add_argument("--tissues", type=int, default=30)
    p.add_argument("--precision", nargs="+", default=["float32"],
                   choices=["float32", "bfloat16"])
    p.add_argument("--skip-knn", action="store_true")
    p.add_argument("--output", help="JSON file to write (nothing written without)")
    args = p.parse_args(argv)

    frame, genes, mask, spec = _data(args.samples, args.genes, args.tissues)
    result = dict(
        n_samples=args.samples, n_genes=args.genes, n_tissues=args.tissues,
        machine=dict(machine_info(torch.get_num_threads()),
                     loadavg_at_start=os.getloadavg()),
        # the peak of each precision run (bfloat16 without AVX512-BF16 or AMX
        # is emulated: its 2048^3 product alone takes minutes)
        peak_gflops={precision: matmul_gflops(dtype=getattr(torch, precision))
                     for precision in dict.fromkeys(["float32", *args.precision])},
        pmi=[],
    )
    print(f"matmul peaks: {result['peak_gflops']}", flush=True)
    for precision in args.precision:
        r = run_pmi(frame, genes, mask, spec, precision)
        r["fraction_of_peak"] = r["train_gflops"] / result["peak_gflops"][precision]
        if r["epoch_gflops"] is not None:
            r["epoch_fraction_of_peak"] = (r["epoch_gflops"]
                                           / result["peak_gflops"][precision])
        result["pmi"].append(r)
        print(f"PMI ({precision}): {r['time_s']:.1f} s, R2 {r['r2']:.3f}, "
              f"{r['n_iter']} epochs, 99% of best validation R2 after "
              f"{r['time_to_99pct_s']} s, {r['train_gflops']:.0f} GFLOP/s "
              f"({100 * r['fraction_of_peak']:.0f}% of peak; a median epoch "
              f"{r['epoch_gflops'] or 0:.0f})", flush=True)
    if not args.skip_knn:
        result["knn10"] = run_knn(frame, genes, mask, spec)
        k = result["knn10"]
        print(f"KNN(10): {k['time_s']:.1f} s, R2 {k['r2']:.3f}", flush=True)
        for r in result["pmi"]:
            r["speedup_vs_knn10"] = k["time_s"] / r["time_s"]
            print(f"PMI ({r['precision']}) is {r['speedup_vs_knn10']:.2f}x "
                  "faster than KNN(10)")
    result["loadavg_at_end"] = os.getloadavg()
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

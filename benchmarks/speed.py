"""The speed study (``--extras speed``): PMI against KNN at GTEx scale on CPU.

* KNNImputer is timed on a few subsets of rows and extrapolated (log-log) to
  the full data set: at 15,201 rows it would take hours.
* PMI's steady-state training rate is the time difference between a fit of
  ``epochs[1]`` and one of ``epochs[0]`` epochs on ``n_pmi`` rows, so that the
  one-off costs (validation, standardization, building the network) are not
  counted as training; it gives the GFLOP/s, against the measured matmul rate
  of the precision the fit used (``precision_``: float32, or bfloat16 under
  autocast).
* PMI end to end at full scale is *measured*, not extrapolated: the in-place
  PMI record of the same invocation when there is one, else one such run
  here, with the harness's protocol (defaults, early stopping, fit +
  transform).
"""

import time
import warnings

import numpy as np
import torch
from sklearn.impute import KNNImputer

from skimpute_gtex import PMIImputer
from skimpute_gtex.baselines import CovariateImputer
from skimpute_gtex.datasets import simulate_missing

from . import _internals
from .machine import matmul_gflops
from .protocol import frame
from .registry import FAST_PARAMS
from .runner import run_benchmark


def pmi_flops_per_sample_epoch(n_in, hidden, n_out):
    """Floating-point operations of one PMI training pass over one sample.

    Forward and weight gradients cost ``2 * in * out`` each per linear layer;
    the input gradient costs as much again for every layer but the first,
    whose input (the data) needs no gradient and gets none.
    """
    sizes = [n_in] + list(hidden) + [n_out]
    layers = [2 * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * sum(layers) + sum(layers[1:])


_KNN_K = 10  # KNNImputer(n_neighbors=10), as bench_speed.py (issue 13)


def _knn_scaling(ctx, subset, spec, sizes, n_full):
    """KNNImputer(10) times on ``sizes`` rows, extrapolated to ``n_full`` rows."""
    runs = []
    for n in sizes:
        est = CovariateImputer(KNNImputer(n_neighbors=_KNN_K), covariates=spec)
        data = subset(n)
        t0 = time.perf_counter()
        est.fit_transform(data)
        runs.append(dict(n=n, time_s=time.perf_counter() - t0))
        ctx.log(f"speed: KNN-{_KNN_K} on {n} rows: {runs[-1]['time_s']:.1f} s")
    ns = np.array([r["n"] for r in runs], float)
    ts = np.array([r["time_s"] for r in runs], float)
    slope, intercept = np.polyfit(np.log(ns), np.log(ts), 1)
    # the pairwise distances make KNN quadratic in rows at scale; the slope of
    # the last two sizes is the closer (and larger) estimate
    last_slope = float(np.log(ts[-1] / ts[-2]) / np.log(ns[-1] / ns[-2]))
    return dict(knn=runs, knn_exponent=float(slope),
                knn_full_extrapolated_s=float(np.exp(intercept) * n_full**slope),
                knn_exponent_last=last_slope,
                knn_full_extrapolated_last_s=float(
                    ts[-1] * (n_full / ns[-1]) ** last_slope))


def _pmi_steady(ctx, subset, spec, n_pmi, epochs, n_full, n_genes):
    """PMI's per-epoch time and GFLOP/s on ``n_pmi`` rows, full-scale batch."""
    # the batch size "auto" picks at full scale (on the training rows)
    n_train = n_full - int(round(PMIImputer().validation_fraction * n_full))
    batch = _internals.auto_batch_size(n_train)
    # one network, trained once: without early stopping the defaults would
    # average several networks (n_estimators="auto") and blend, which trains
    # them a second time
    params = dict(batch_size=batch, early_stopping=False, n_estimators=1,
                  blend_low_rank=False)
    if getattr(ctx.args, "precision", None):
        params["precision"] = ctx.args.precision
    if ctx.args.fast:
        params["hidden_layer_sizes"] = FAST_PARAMS["PMI"]["hidden_layer_sizes"]

    def fit(n_epochs):
        return PMIImputer(covariates=spec, max_iter=n_epochs, device=ctx.args.device,
                          random_state=0, **params).fit(data)

    data = subset(n_pmi)
    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(1)  # warm-up: torch kernels, allocator, lazy imports
        for e in epochs:
            t0 = time.perf_counter()
            est = fit(e)
            times[e] = time.perf_counter() - t0
        t0 = time.perf_counter()
        est.transform(data)
        t_transform = time.perf_counter() - t0
    hidden = _internals.hidden_sizes(est)
    per_epoch = max(times[epochs[1]] - times[epochs[0]], 1e-9) / (epochs[1] - epochs[0])
    flops = pmi_flops_per_sample_epoch(_internals.input_width(est), hidden, n_genes)
    gflops = flops * n_pmi / per_epoch / 1e9
    ctx.log(f"speed: PMI {per_epoch:.2f} s per epoch on {n_pmi} rows, "
            f"{gflops:.1f} GFLOP/s")
    return dict(n=n_pmi, batch_size=batch, hidden=hidden, precision=est.precision_,
                fit_s={str(e): t for e, t in times.items()}, epoch_s=per_epoch,
                transform_s=t_transform, gflops=gflops,
                epoch_full_extrapolated_s=per_epoch * n_full / n_pmi)


def _pmi_full(ctx, dataset):
    """The in-place PMI record on the whole data set: reused, or run now."""
    full = next((r for r in ctx.records
                 if r["dataset"] == dataset.name and r["method"] == "PMI"
                 and r["scenario"] == "inplace" and r["status"] == "ok"), None)
    if full is None:
        full = run_benchmark(
            [dataset], methods=["PMI"], scenarios=["inplace"], repeats=1,
            missing_rate=ctx.args.missing_rate, time_budget=ctx.args.time_budget,
            params=ctx.params(), device=ctx.args.device, threads=ctx.args.threads,
            log=ctx.log)[0]
    return full


def extra_speed(ctx, sizes_knn=(500, 1000, 2000), n_pmi=2000, epochs=(2, 6),
                matmul_n=2048):
    """PMI vs KNN at GTEx scale on CPU, PMI throughput vs the matmul peak.

    The peaks are ``torch.mm`` rates of ``matmul_n`` x ``matmul_n`` matrices:
    float32's, and bfloat16's when the fit trained in it (bfloat16 without
    AVX512-BF16 or AMX is emulated: its peak alone takes minutes there).
    """
    dataset = ctx.dataset("synthetic_gtex_scale")
    n_full, g = dataset.genes.shape
    X = dataset.genes.to_numpy()
    peak = matmul_gflops(matmul_n)
    ctx.log(f"speed: matmul peak {peak:.1f} GFLOP/s (float32)")
    rng = np.random.RandomState(0)

    def subset(n):
        rows = np.sort(rng.choice(n_full, n, replace=False))
        X_miss, _ = simulate_missing(X[rows], ctx.args.missing_rate, random_state=0)
        return frame(X_miss, dataset, rows)

    spec = dataset.covariate_spec
    result = dict(n_samples=n_full, n_genes=g, matmul_n=matmul_n,
                  matmul_gflops=peak, threads=ctx.args.threads)
    result.update(_knn_scaling(ctx, subset, spec, sizes_knn, n_full))
    result["pmi_steady"] = _pmi_steady(ctx, subset, spec, min(n_pmi, n_full),
                                       epochs, n_full, g)
    if result["pmi_steady"]["precision"] == "bfloat16":
        result["matmul_gflops_bfloat16"] = matmul_gflops(matmul_n,
                                                         dtype=torch.bfloat16)
        ctx.log(f"speed: matmul peak {result['matmul_gflops_bfloat16']:.1f} "
                "GFLOP/s (bfloat16)")
    full = _pmi_full(ctx, dataset)
    result["pmi_full"] = {k: full[k] for k in (
        "n_fit", "n_genes", "r2_mean", "time_s", "n_iter", "status", "message")}
    result.update(dataset=dataset.name, missing_rate=ctx.args.missing_rate,
                  device=str(ctx.args.device))
    if full["status"] == "ok":
        result.update(
            ratio_knn_pmi=result["knn_full_extrapolated_s"] / full["time_s"],
            ratio_knn_pmi_last=result["knn_full_extrapolated_last_s"] / full["time_s"])
    return result, speed_text(result)


def speed_text(result):
    """The speed section of the docs, from a stored ``extra_speed`` result."""
    r = result
    n_full, g = r["n_samples"], r["n_genes"]
    knn_full, knn_last = r["knn_full_extrapolated_s"], r["knn_full_extrapolated_last_s"]
    steady, full = r["pmi_steady"], r["pmi_full"]
    gflops = steady["gflops"]
    # results stored before the precision was recorded trained in float32
    precision = steady.get("precision", "float32")
    peak = r["matmul_gflops"] if precision == "float32" else r["matmul_gflops_bfloat16"]
    n_mm = r.get("matmul_n", 2048)  # stored results before it was recorded
    lines = [
        f"Data: {r['dataset']} ({n_full:,} x {g:,}), {r['missing_rate']:.0%} MCAR; "
        f"{r['threads']} thread(s), device {r['device']}.",
        f"KNNImputer (k={_KNN_K}, + one-hot covariates), measured: "
        + ", ".join(f"{k['n']:,} rows {k['time_s']:.1f} s" for k in r["knn"])
        + f"; **extrapolated** to {n_full:,} rows: {knn_full / 3600:.1f} h "
          f"(log-log slope {r['knn_exponent']:.2f} over all sizes) or "
          f"{knn_last / 3600:.1f} h (slope {r['knn_exponent_last']:.2f} of the "
          "last two; the pairwise distances make KNN quadratic at scale).",
    ]
    if full["status"] == "ok":
        lines += [
            f"PMIImputer with its defaults, in place on all {full['n_fit']:,} rows, "
            f"**measured** end to end (fit + transform): {full['time_s'] / 60:.1f} "
            f"min, {full['n_iter']} epochs (early stopping), per-gene R² "
            f"{full['r2_mean']:.3f}.",
            f"**KNN / PMI: {r['ratio_knn_pmi']:.1f}x** with the all-sizes "
            f"extrapolation, {r['ratio_knn_pmi_last']:.1f}x with the last-two one.",
        ]
    else:
        lines.append(f"PMIImputer at full scale: {full['status']} "
                     f"({full['message']}).")
    lines.append(
        f"PMI steady-state training (hidden {tuple(steady['hidden'])}, batch "
        f"{steady['batch_size']}, {precision}, {steady['n']:,} rows, fits of "
        + " and ".join(f"{e} epochs" for e in steady["fit_s"])
        + f" differenced): {steady['epoch_s']:.2f} s per epoch, i.e. "
        f"{steady['epoch_full_extrapolated_s']:.1f} s per epoch at {n_full:,} rows; "
        f"**{gflops:.0f} GFLOP/s** of the arithmetic done (forward, weight "
        "gradients, input gradients of all layers but the first) against a "
        f"measured {precision} torch.mm {n_mm}x{n_mm} rate of {peak:.0f} GFLOP/s "
        f"({gflops / peak:.0%}).")
    return "\n".join(f"- {line}" for line in lines)

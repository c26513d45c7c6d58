"""PMI fit time alone and beside one busy process, by ``n_jobs``.

How much slower does a fit get when another CPU-bound process shares the
machine? On a 2-core machine a fair share is about 2x. torch's OpenMP
threads spin-wait for each other, so a fit that keeps all threads beside a
busy process can be many times slower. This script times the same fit
(2,000 x 2,000 by default, fixed number of epochs, one network, no early
stopping, no blend) with ``n_jobs=None`` (the default: adaptive), with all
threads (``n_jobs=-1``, what torch does by itself) and with one thread, each
alone and beside one busy process, interleaved, in one run; ratios within
the run are what it reports. It also checks that ``torch.get_num_threads()``
is the same after every fit and that a fixed ``n_jobs`` gives the same
imputations alone and beside a busy process in every repeat (the load never
changes its result); for ``n_jobs=None``, whose thread count follows the
load, it records the largest difference from its first result, and the
mean difference of every setting's imputations from the default's beside
that of another ``random_state`` (the contract of ``docs/user_guide.rst``,
"CPU threads").

Run from the repository root::

    python benchmarks/bench_threads.py --output benchmarks/results/threads.json

It writes only the ``--output`` file (nothing without it).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: import the package from the root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from benchmarks.machine import machine_info  # noqa: E402
from skimpute_gtex import PMIImputer  # noqa: E402
from skimpute_gtex.datasets import simulate_missing  # noqa: E402

# The competing processes: a torch job using every core (two OpenMP thread
# pools fighting), and a plain Python loop (one core busy).
BUSY = {
    "torch": (
        "import torch\n"
        "a = torch.randn(256, 2000); b = torch.randn(2000, 256)\n"
        "while True:\n"
        "    a @ b\n"
    ),
    "python": "while True:\n    pass\n",
}
SETTINGS = {"None (default)": None, "-1 (all threads)": -1, "1": 1}


def _data(n_samples, n_genes, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, 50) @ rng.randn(50, n_genes)
    X += rng.randn(n_samples, n_genes)
    return simulate_missing(X, 0.5, random_state=seed)[0]


def _fit(X, n_jobs, epochs, random_state=0):
    # one network, no low-rank blend: without early stopping "auto" would
    # blend, and the soft-impute fit (NumPy's BLAS, not torch's threads)
    # would dominate the time measured
    est = PMIImputer(max_iter=epochs, early_stopping=False, n_estimators=1,
                     max_steps=None, blend_low_rank=False, n_jobs=n_jobs,
                     device="cpu", random_state=random_state)
    before = torch.get_num_threads()
    t0 = time.perf_counter()
    out = est.fit_transform(X)
    seconds = time.perf_counter() - t0
    assert torch.get_num_threads() == before, "thread setting not restored"
    counts = [n for _, n in getattr(est, "_thread_choices", [])]
    return seconds, out, counts


def run(n_samples, n_genes, epochs, repeats, busy_kinds, log=print):
    X = _data(n_samples, n_genes)
    _fit(X[:200], None, 1)  # warm up torch
    times = {kind: {s: [] for s in SETTINGS} for kind in ("alone", *busy_kinds)}
    reference, counts_seen, largest = {}, {}, {}
    for r in range(repeats):
        for kind in times:
            proc = None
            if kind != "alone":
                proc = subprocess.Popen([sys.executable, "-c", BUSY[kind]])
                time.sleep(2.0)  # let it get going
            try:
                for name, n_jobs in SETTINGS.items():
                    seconds, out, counts = _fit(X, n_jobs, epochs)
                    reference.setdefault(name, out)
                    if n_jobs is None:
                        largest[name] = max(largest.get(name, 0.0), float(
                            np.max(np.abs(out - reference[name]))))
                    else:
                        assert np.array_equal(out, reference[name]), (
                            f"n_jobs={name}: the load changed the result")
                    times[kind][name].append(seconds)
                    counts_seen.setdefault(f"{kind} / {name}", []).append(counts)
                    log(f"repeat {r}  {kind:6s}  n_jobs={name:18s} {seconds:7.2f} s  "
                        f"threads used {counts}")
            finally:
                if proc is not None:
                    proc.kill()
                    proc.wait()
    # the scale of those differences: another random_state, alone
    _, other_seed, _ = _fit(X, 1, epochs, random_state=1)
    missing = np.isnan(X)
    default = reference["None (default)"][missing]
    mean_difference = {s: float(np.mean(np.abs(out[missing] - default)))
                       for s, out in reference.items()}
    mean_difference["n_jobs=1, random_state=1"] = float(
        np.mean(np.abs(other_seed[missing] - default)))
    med = {k: {s: float(np.median(v)) for s, v in d.items()} for k, d in times.items()}
    alone = med["alone"]
    slowdown = {
        kind: {s: med[kind][s] / alone[s] for s in SETTINGS} for kind in busy_kinds
    }
    # against the fastest quiet setting: what the user waits for in the end
    best_alone = min(alone.values())
    vs_best = {
        kind: {s: med[kind][s] / best_alone for s in SETTINGS} for kind in busy_kinds
    }
    return {
        "n_samples": n_samples, "n_genes": n_genes, "epochs": epochs,
        "repeats": repeats, "times_s": times, "median_s": med,
        "slowdown": slowdown, "slowdown_vs_best_alone": vs_best,
        "thread_counts": counts_seen,
        "same_result_under_load": {s: True for s, n in SETTINGS.items()
                                   if n is not None},
        "default_largest_difference_under_load": largest,
        "mean_difference_from_default": mean_difference,
        "largest_difference_from_default": {
            s: float(np.max(np.abs(out - reference["None (default)"])))
            for s, out in reference.items()},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--busy", nargs="+", default=["torch", "python"],
                   choices=sorted(BUSY))
    p.add_argument("--output", help="JSON file to write (nothing written without)")
    args = p.parse_args(argv)
    info = dict(machine_info(torch.get_num_threads()),
                loadavg_at_start=os.getloadavg())
    result = run(args.samples, args.genes, args.epochs, args.repeats, args.busy)
    result["machine"] = info
    print("mean difference of the imputations from n_jobs=None: " + ", ".join(
        f"{s} {v:.2g}" for s, v in result["mean_difference_from_default"].items()))
    for kind, row in result["slowdown"].items():
        print(f"beside a busy {kind} process: " + ", ".join(
            f"n_jobs={s} {v:.2f}x" for s, v in row.items()))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

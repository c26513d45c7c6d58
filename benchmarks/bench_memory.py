"""Peak memory growth of PMIImputer's fit and transform on wide data.

Usage (or ``python -m benchmarks memory ...``)::

    python benchmarks/bench_memory.py --samples 4000 --genes 12557

Generates ``make_gtex_like`` data (50% MCAR), then, in a forked worker (as the
benchmark harness does, so that building the data does not count), fits
``PMIImputer`` for one epoch and transforms the same data. It prints the
growth of the worker's peak resident set size over its size at the start:
after fit, and after fit + transform; then, in a second worker, of
``fit_transform`` (in-place use), and each growth as a multiple of the input
matrix's size (the issue-13 target: ``fit_transform`` at 15,201 x 12,557
within 3x). The number of epochs does not change the peak, which comes from
the data copies, not from training. ``--output FILE`` also writes the
numbers as JSON (nothing is written without it).
"""

import argparse
import json
import multiprocessing
import os
import sys
import warnings

if __package__ in (None, ""):  # run as a script: import the package from the root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.machine import maxrss_mb, rss_mb  # noqa: E402
from skimpute_gtex import PMIImputer  # noqa: E402
from skimpute_gtex._torch._device import resolve_precision  # noqa: E402
from skimpute_gtex.datasets import make_gtex_like, simulate_missing  # noqa: E402


def _measure(conn, est, frame):
    start = rss_mb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(frame)
        fit = maxrss_mb() - start
        est.transform(frame)
    conn.send((fit, maxrss_mb() - start))


def _measure_fit_transform(conn, est, frame):
    start = rss_mb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit_transform(frame)
    conn.send(maxrss_mb() - start)


def _in_worker(target, *args):
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    worker = ctx.Process(target=target, args=(child, *args))
    worker.start()
    result = parent.recv()
    worker.join()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--genes", type=int, default=12557)
    parser.add_argument("--precision", default="auto",
                        choices=["auto", "float32", "bfloat16"],
                        help="PMIImputer's precision (default: its default)")
    parser.add_argument("--output", help="JSON file to write")
    args = parser.parse_args(argv)
    data = make_gtex_like(args.samples, args.genes, n_tissues=49, random_state=0)
    X, _ = simulate_missing(data.expression.to_numpy(np.float32), 0.5,
                            random_state=0)
    frame = pd.concat([pd.DataFrame(X, columns=data.expression.columns),
                       data.covariates[["tissue", "sex", "age"]]
                       .reset_index(drop=True)], axis=1)
    est = PMIImputer(covariates=data.covariate_spec, max_iter=1, random_state=0,
                     precision=args.precision)
    input_mb = frame.memory_usage(deep=True).sum() / 2**20
    # what the fits in the workers train in ("auto" resolved on this machine)
    precision = resolve_precision(args.precision, "cpu")
    del data, X
    fit, total = _in_worker(_measure, est, frame)
    fit_transform = _in_worker(_measure_fit_transform, est, frame)
    print(f"{args.samples} x {args.genes} (input {input_mb:.0f} MB): peak growth "
          f"{fit:.0f} MB after fit, {total:.0f} MB after fit + transform, "
          f"{fit_transform:.0f} MB in fit_transform "
          f"({fit_transform / input_mb:.2f}x the input; training in "
          f"{precision})")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(dict(n_samples=args.samples, n_genes=args.genes,
                           precision=precision, input_mb=input_mb, fit_mb=fit,
                           fit_then_transform_mb=total,
                           fit_transform_mb=fit_transform,
                           fit_transform_ratio=fit_transform / input_mb), f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

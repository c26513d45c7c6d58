"""Peak memory growth of PMIImputer's fit and transform on wide data.

Usage (or ``python -m benchmarks memory ...``)::

    python benchmarks/bench_memory.py --samples 4000 --genes 12557

Generates ``make_gtex_like`` data (50% MCAR), then, in a forked worker (as the
benchmark harness does, so that building the data does not count), fits
``PMIImputer`` for one epoch and transforms the same data. It prints the
growth of the worker's peak resident set size over its size at the start:
after fit, and after fit + transform. The number of epochs does not change
the peak, which comes from the data copies, not from training.
"""

import argparse
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
from skimpute_gtex.datasets import make_gtex_like, simulate_missing  # noqa: E402


def _measure(conn, est, frame):
    start = rss_mb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(frame)
        fit = maxrss_mb() - start
        est.transform(frame)
    conn.send((fit, maxrss_mb() - start))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--genes", type=int, default=12557)
    args = parser.parse_args(argv)
    data = make_gtex_like(args.samples, args.genes, n_tissues=49, random_state=0)
    X, _ = simulate_missing(data.expression.to_numpy(np.float32), 0.5,
                            random_state=0)
    frame = pd.concat([pd.DataFrame(X, columns=data.expression.columns),
                       data.covariates[["tissue", "sex", "age"]]
                       .reset_index(drop=True)], axis=1)
    est = PMIImputer(covariates=data.covariate_spec, max_iter=1, random_state=0)
    del data, X
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    worker = ctx.Process(target=_measure, args=(child, est, frame))
    worker.start()
    fit, total = parent.recv()
    worker.join()
    print(f"{args.samples} x {args.genes}: peak growth {fit:.0f} MB after fit, "
          f"{total:.0f} MB after fit + transform")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the imputers on real and synthetic expression data.

Every method of ``METHODS`` (PMI, GAIN, GAIN-MSE, KNN k=1/5/10, MICE,
MissForest with 10 and 100 trees, tissue median, blood surrogate) is run on
every data set, in two scenarios (``inplace``: 50% of all entries hidden at
random, ``fit_transform``; ``inductive``: fit on complete training samples,
donor-disjoint where donors are known, impute held-out samples with 50% of
their entries hidden), for 3 repeats (seeds 0, 1, 2). Each run is a forked
worker stopped after ``--time-budget`` seconds and then recorded as
"> budget". The score is the per-gene R² on the hidden entries, averaged over
genes. Results go to ``OUTPUT_DIR/NAME.json`` (``--output-dir``, required;
one record per run, with the machine), the RST tables to ``--tables`` when
given, and, as Markdown, to stdout. Progress goes to stderr.

The real data sets are read from ``--data-dir`` (default ``$SKIMPUTE_GTEX_DATA``,
else ``../shared/data``); see ``docs/benchmarks.rst`` for the protocol.

Usage (``python benchmarks/bench_imputers.py`` takes the same options)::

    python -m benchmarks run --datasets synthetic_pathway \\
        --methods PMI KNN-5 "Tissue median" --repeats 1 --output-dir /tmp/bench
    python -m benchmarks run --time-budget 600 --extras speed sweep \\
        --output-dir OUT --tables OUT/benchmark_tables.rst

Sample output (``--datasets gtex_scira_tf467 --methods PMI KNN-5 "Tissue median"
--scenarios inplace --output-dir OUT --tables OUT/tables.rst``; 2-core Xeon, 1
thread per run; numbers vary)::

    ### gtex_scira_tf467 — inplace (3 repeats)

    | Method | R² (mean ± sd, repeats) | R² sd over genes | Time (s) | Peak mem (MB) |
    |---|---:|---:|---:|---:|
    | PMI | 0.629 ± 0.004 | 0.180 | 6.5 ± 0.8 | 95 |
    | KNN-5 | 0.584 ± 0.004 | 0.183 | 0.4 ± 0.0 | 14 |
    | Tissue median | 0.514 ± 0.003 | 0.222 | 0.1 ± 0.0 | 2 |

    wrote OUT/imputers.json and OUT/tables.rst
"""

import os
import sys

if __package__ in (None, ""):  # run as a script: import the package from the root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    from benchmarks.cli import main_run

    return main_run(argv, prog="bench_imputers.py")


if __name__ == "__main__":
    sys.exit(main())

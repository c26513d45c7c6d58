"""Training settings at 3,000 x 5,000: time and R² of PMI variants (issue 13).

The data and the timeline are those of ``bench_speed.py``; each variant is
``PMIImputer(covariates=..., random_state=0, **params)``, fitted in turn in
one process (run it on an idle machine: only the ratios between variants of
one run mean something). Prints one JSON line per variant (``--out`` appends
them to a file): time, R² of the hidden entries, epochs, best validation R²,
time to 99% and 99.9% of it, and the validation curve.

Run from the repository root::

    python benchmarks/study_speed.py \\
        '{"precision": "bfloat16", "n_iter_no_change": 10, "batch_size": 64}' \\
        '{"precision": "bfloat16", "n_iter_no_change": 5, "batch_size": 64}' \\
        --out benchmarks/results/speed_variants_3000x5000.jsonl
"""

import argparse
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_speed import _data, _time_to, _Timeline  # noqa: E402
from benchmarks.machine import machine_info  # noqa: E402
from skimpute_gtex import PMIImputer  # noqa: E402
from skimpute_gtex.metrics import masked_r2_score  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("variants", nargs="+", help="JSON objects of PMIImputer parameters")
    p.add_argument("--samples", type=int, default=3000)
    p.add_argument("--genes", type=int, default=5000)
    p.add_argument("--out",
                   help="JSON-lines file to append to (nothing written without)")
    args = p.parse_args(argv)
    frame, genes, mask, spec = _data(args.samples, args.genes, 30)
    machine = machine_info()
    for text in args.variants:
        params = json.loads(text)
        est = PMIImputer(covariates=spec, random_state=0, **params)
        with _Timeline() as timeline, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            out = est.fit_transform(frame)
            seconds = time.perf_counter() - t0
        scores = est.validation_scores_ or []
        line = json.dumps(dict(
            params=params, n_samples=args.samples, n_genes=args.genes,
            time_s=round(seconds, 1),
            r2=round(float(masked_r2_score(genes, out, mask)), 4),
            n_iter=int(est.n_iter_),
            best_validation_r2=est.best_validation_score_,
            time_to_99pct_s=_time_to(timeline.events, t0, 0.99),
            time_to_999pct_s=_time_to(timeline.events, t0, 0.999),
            validation_scores=[round(s, 4) for s in scores],
            machine=machine,
        ))
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(line + "\n")


if __name__ == "__main__":
    main()

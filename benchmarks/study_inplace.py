"""Research study for in-place imputation on small studies (issue 11).

Runs candidate PMI recipes and the fair baselines on the small real sets,
several mask seeds, and appends one JSON line per run to ``--out`` (nothing
is written anywhere else). Each run uses the benchmark harness's protocol
(:func:`skimpute_gtex._benchmark.prepare_run` / ``execute``): 50% MCAR, per-gene
R² on the hidden entries averaged over genes.

Usage::

    python benchmarks/study_inplace.py --out /tmp/study.jsonl \\
        --datasets gtex_scira_tf467 microarray_golub_multtest \\
        --methods PMI-v1 PMI-v2 MICE-nn100 --seeds 0 1 2

The committed results and what they show are in ``docs/benchmarks.rst``
("In-place study").
"""

import argparse
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skimpute_gtex import PMIImputer  # noqa: E402
from skimpute_gtex import _benchmark as B  # noqa: E402

V2 = dict(
    early_stopping=False, ema_decay=0.995, dropout=0.5,
    pseudo_mask_range=(0.5, 0.95), batch_size=64, max_iter=500, max_steps=4000,
)


def _pmi(**params):
    def factory(spec, seed):
        return PMIImputer(covariates=spec, random_state=seed, **params)

    return factory


STUDY = {
    "PMI-v1": _pmi(),
    "PMI-v2": _pmi(**V2),
    "PMI-v2-2k": _pmi(**{**V2, "max_steps": 2000}),
    "PMI-v2-8k": _pmi(**{**V2, "max_steps": 8000}),
    "PMI-v2-d0.3": _pmi(**{**V2, "dropout": 0.3}),
    "PMI-v2-noema": _pmi(**{**V2, "ema_decay": None}),
    "PMI-v2-h256": _pmi(**{**V2, "hidden_layer_sizes": (256, 256)}),
    "PMI-v2-bf16": _pmi(**{**V2, "precision": "bfloat16"}),
    "PMI-v2-auto": _pmi(**{**V2, "n_estimators": "auto"}),
    "PMI-v2-auto-bf16": _pmi(**{**V2, "n_estimators": "auto",
                                "precision": "bfloat16"}),
    "PMI-v2-ens5": _pmi(**{**V2, "n_estimators": 5}),
    "PMI-v1-ema": _pmi(ema_decay=0.995),
    "PMI-v1-ema-bf16": _pmi(ema_decay=0.995, precision="bfloat16"),
}


def method(name):
    if name in STUDY:
        return STUDY[name]
    return B.METHODS[name]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir", default=B.default_data_dir())
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--methods", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scenarios", nargs="+", default=["inplace"])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)  # a script may; the library never does
    for ds_name in args.datasets:
        dataset = B.DATASETS[ds_name](args.data_dir)
        for scenario in args.scenarios:
            for seed in args.seeds:
                run = B.prepare_run(dataset, scenario, seed, 0.5)
                for name in args.methods:
                    est = method(name)(dataset.covariate_spec, seed)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        rec = B.execute(est, dataset, run)
                    rec.update(dataset=ds_name, scenario=scenario, seed=seed,
                               method=name, shape=list(dataset.genes.shape),
                               when=time.strftime("%Y-%m-%d %H:%M:%S"))
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(rec) + "\n")
                    print(f"{ds_name:32s} {scenario:9s} {seed} {name:16s} "
                          f"R2 {rec['r2_mean']:.4f}  {rec['time_s']:7.1f}s",
                          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Coverage of the calibrated intervals of PMIImputer and GAINImputer.

For every real data set, both scenarios and two missingness mechanisms, fit
the imputer with ``calibration=True`` and record, over the hidden entries,
how often ``transform_interval(X, coverage)`` contains the true value, the
mean width of the intervals (in the data's units) and the spread of the
per-gene coverage, at the nominal levels 80%, 90% and 95%:

- ``inplace``: ``fit`` on the masked matrix (50% of the entries hidden), then
  ``transform_interval`` on it;
- ``inductive``: ``fit`` on the complete reference rows (the donor split of
  the benchmarks, or a random 80/20), then ``transform_interval`` on the
  other rows with 50% of their entries hidden. One fit serves both
  mechanisms;
- ``MCAR`` and ``MNAR`` (self-masking: ``simulate_missing(...,
  mechanism="MNAR")`` hides high values more often), one mask seed each.

Per set, a plain fit (``calibration=False``) of the in-place MCAR cell gives
the cost ratio and the accuracy cost of calibration. GTEx v8 ACMG59 is
subsampled to 2,000 rows (a fixed random subset, seed 0). PMIImputer runs
with its defaults; GAINImputer with its defaults (GAIN-MSE) except
``max_steps=2000`` (half the step budget), to fit the CPU budget.

Usage (about 40 minutes on 2 shared cores)::

    nice python benchmarks/coverage.py --data-dir ../shared/data \\
        --output benchmarks/results/coverage.json \\
        --table docs/coverage_table.rst

``--data-dir`` defaults to ``$SKIMPUTE_GTEX_DATA``. Nothing is written but
``--output`` and, when given, ``--table``. Sample output (one line per cell)::

    microarray_golub_multtest PMI inplace MCAR 80%: 0.79 width 1.97 ...
"""

import argparse
import json
import os
import sys
import time
import warnings

if __package__ in (None, ""):  # run as a script: import the package from the root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from benchmarks.datasets import (  # noqa: E402
    load_gtex_scira_tf467,
    load_gtex_v8_acmg59,
    load_microarray_all_leukemia_top500,
    load_microarray_bladder_batch,
    load_microarray_golub_multtest,
    load_tcga_laml_seamless20_top500,
)
from benchmarks.protocol import frame, make_split, scaled_r2  # noqa: E402
from skimpute_gtex import GAINImputer, PMIImputer  # noqa: E402
from skimpute_gtex.datasets import simulate_missing  # noqa: E402

DATA_ENV = "SKIMPUTE_GTEX_DATA"
LEVELS = (0.8, 0.9, 0.95)
MECHANISMS = ("MCAR", "MNAR")
SCENARIOS = ("inplace", "inductive")
MISSING_RATE = 0.5
ACMG_ROWS = 2000
MIN_GENE_ENTRIES = 3  # per-gene coverage over genes with this many hidden entries
LOADERS = {
    "gtex_scira_tf467": load_gtex_scira_tf467,
    "gtex_v8_acmg59": load_gtex_v8_acmg59,
    "microarray_all_leukemia_top500": load_microarray_all_leukemia_top500,
    "microarray_bladder_batch": load_microarray_bladder_batch,
    "microarray_golub_multtest": load_microarray_golub_multtest,
    "tcga_laml_seamless20_top500": load_tcga_laml_seamless20_top500,
}
MODELS = {"PMI": PMIImputer, "GAIN": GAINImputer}


def load(name, data_dir):
    d = LOADERS[name](data_dir)
    if name == "gtex_v8_acmg59" and len(d.genes) > ACMG_ROWS:
        rows = np.sort(np.random.RandomState(0).choice(len(d.genes), ACMG_ROWS,
                                                       replace=False))
        d.genes = d.genes.iloc[rows].reset_index(drop=True)
        d.covariates = d.covariates.iloc[rows].reset_index(drop=True)
        d.donors = None if d.donors is None else d.donors[rows]
        d.notes = list(d.notes) + [f"a random subset of {ACMG_ROWS} rows (seed 0)"]
    return d


def coverage_cells(X_true, lower_upper, mask):
    """Coverage, width and per-gene spread for each level."""
    out = {}
    for level, (lo, hi) in lower_upper.items():
        inside = (X_true >= lo) & (X_true <= hi)
        n_j = mask.sum(axis=0)
        keep = n_j >= MIN_GENE_ENTRIES
        per_gene = (inside & mask).sum(axis=0)[keep] / n_j[keep]
        # the spread binomial noise alone would give
        noise = np.sqrt(level * (1 - level) / n_j[keep])
        out[f"{level:.2f}"] = dict(
            coverage=float(inside[mask].mean()),
            width=float((hi - lo)[mask].mean()),
            gene_p10=float(np.percentile(per_gene, 10)),
            gene_p90=float(np.percentile(per_gene, 90)),
            gene_sd=float(per_gene.std()),
            gene_sd_binomial=float(np.sqrt(np.mean(noise**2))),
            n_genes=int(keep.sum()),
        )
    return out


def intervals(imputer, X):
    out = {}
    for level in LEVELS:
        lo, hi = imputer.transform_interval(X, coverage=level)
        out[level] = (np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    return out


#: cheaper than the defaults, to fit the CPU budget: GAIN trains half the steps
MODEL_PARAMS = {"PMI": {}, "GAIN": dict(max_steps=2000)}


def make(model, d, calibration, seed):
    return MODELS[model](covariates=d.covariate_spec, calibration=calibration,
                         random_state=seed, **MODEL_PARAMS[model])


def run_set(name, d, model, seed, log):
    X = d.genes.to_numpy()
    records = []

    def record(scenario, mechanism, X_true, X_in, mask, imputer, fit_s, n_fit):
        t0 = time.perf_counter()
        lu = intervals(imputer, X_in)
        interval_s = (time.perf_counter() - t0) / len(LEVELS)
        t0 = time.perf_counter()
        point = np.asarray(imputer.transform(X_in), dtype=float)
        transform_s = time.perf_counter() - t0
        rec = dict(dataset=name, model=model, scenario=scenario,
                   mechanism=mechanism, n_fit=int(n_fit),
                   n_eval_entries=int(mask.sum()), fit_s=fit_s,
                   interval_s=interval_s, transform_s=transform_s,
                   r2_scaled=scaled_r2(X_true, point, mask, X),
                   n_estimators=int(imputer.n_estimators_),
                   levels=coverage_cells(X_true, lu, mask))
        records.append(rec)
        cells = ", ".join(
            f"{k}: {v['coverage']:.3f} (w {v['width']:.2f}, gene p10-p90 "
            f"{v['gene_p10']:.2f}-{v['gene_p90']:.2f})"
            for k, v in rec["levels"].items())
        log(f"{name} {model} {scenario} {mechanism} fit {fit_s:.0f}s: {cells}")

    for mechanism in MECHANISMS:  # in place: one fit per mask
        X_miss, mask = simulate_missing(X, MISSING_RATE, mechanism=mechanism,
                                        random_state=seed)
        Xf = frame(X_miss, d, np.arange(len(X)))
        imp = make(model, d, True, seed)
        t0 = time.perf_counter()
        imp.fit(Xf)
        record("inplace", mechanism, X, Xf, mask, imp, time.perf_counter() - t0,
               len(X))
        if mechanism == "MCAR":  # the plain fit of the same cell: cost ratio
            plain = make(model, d, False, seed)
            t0 = time.perf_counter()
            plain.fit(Xf)
            plain_s = time.perf_counter() - t0
            point = np.asarray(plain.transform(Xf), dtype=float)
            records[-1]["plain_fit_s"] = plain_s
            records[-1]["plain_r2_scaled"] = scaled_r2(X, point, mask, X)
            log(f"  plain fit {plain_s:.0f}s, R2 {records[-1]['plain_r2_scaled']:.3f}"
                f" (calibrated {records[-1]['r2_scaled']:.3f})")

    train, test = make_split(d, seed)  # inductive: one fit, both masks
    imp = make(model, d, True, seed)
    t0 = time.perf_counter()
    imp.fit(frame(X[train], d, train))
    fit_s = time.perf_counter() - t0
    for mechanism in MECHANISMS:
        X_miss, mask = simulate_missing(X[test], MISSING_RATE, mechanism=mechanism,
                                        random_state=seed)
        record("inductive", mechanism, X[test], frame(X_miss, d, test), mask, imp,
               fit_s, len(train))
    return records


def rst_table(records):
    """The docs table: one row per set x model x scenario x mechanism."""
    header = ["Set", "Model", "Scenario", "Mask"] + [
        f"{int(round(100 * lv))}%: cov. / width / gene p10-p90" for lv in LEVELS]
    rows = []
    for r in records:
        cells = [r["dataset"], r["model"], r["scenario"], r["mechanism"]]
        for lv in LEVELS:
            c = r["levels"][f"{lv:.2f}"]
            cells.append(f"{100 * c['coverage']:.1f} / {c['width']:.2f} / "
                         f"{100 * c['gene_p10']:.0f}-{100 * c['gene_p90']:.0f}")
        rows.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("=" * w for w in widths)

    def fmt(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line, fmt(header), line, *map(fmt, rows), line]) + "\n"


def cost_table(records):
    rows = []
    for r in records:
        if "plain_fit_s" in r:
            rows.append([r["dataset"], r["model"], f"{r['plain_fit_s']:.0f}",
                         f"{r['fit_s']:.0f}", f"{r['fit_s'] / r['plain_fit_s']:.2f}",
                         f"{r['plain_r2_scaled']:.3f}", f"{r['r2_scaled']:.3f}",
                         f"{1000 * r['transform_s']:.0f}",
                         f"{1000 * r['interval_s']:.0f}"])
    header = ["Set", "Model", "plain fit (s)", "calibrated fit (s)", "ratio",
              "plain R2", "calibrated R2", "transform (ms)", "interval (ms)"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("=" * w for w in widths)

    def fmt(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line, fmt(header), line, *map(fmt, rows), line]) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get(DATA_ENV),
                        help=f"folder of the shared data sets (default ${DATA_ENV})")
    parser.add_argument("--output", required=True, help="JSON results file")
    parser.add_argument("--table", help="also write the RST tables here")
    parser.add_argument("--datasets", nargs="+", choices=sorted(LOADERS),
                        default=list(LOADERS))
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS),
                        default=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="run nothing: merge these result files (for runs "
                        "split by --models) into --output and --table")
    args = parser.parse_args(argv)
    if args.merge:
        parts = [json.load(open(path)) for path in args.merge]
        result = dict(parts[0], records=[r for p in parts for r in p["records"]],
                      total_s=sum(p.get("total_s", 0.0) for p in parts),
                      command=[p.get("command") for p in parts])
        result["records"].sort(key=lambda r: (r["dataset"], r["model"] != "PMI"))
        return _write(args, result)
    if not args.data_dir:
        parser.error(f"pass --data-dir or set ${DATA_ENV}")

    def log(msg):
        print(msg, flush=True)

    import torch

    records, notes = [], {}
    t_start = time.perf_counter()
    for name in args.datasets:
        d = load(name, args.data_dir)
        notes[name] = list(d.notes)
        for model in args.models:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                records.extend(run_set(name, d, model, args.seed, log))
            with open(args.output, "w") as fh:  # partial results survive a crash
                json.dump(dict(records=records), fh, indent=1)
    result = dict(
        description=__doc__.split("\n\n")[0],
        command="nice python benchmarks/coverage.py " + " ".join(
            a for a in (argv if argv is not None else sys.argv[1:])),
        levels=list(LEVELS), missing_rate=MISSING_RATE, seed=args.seed,
        machine=dict(cpu_count=os.cpu_count(), torch=torch.__version__,
                     threads=torch.get_num_threads()),
        total_s=time.perf_counter() - t_start, notes=notes, records=records,
    )
    return _write(args, result)


def _write(args, result):
    records = result["records"]
    with open(args.output, "w") as fh:
        json.dump(result, fh, indent=1)
    if args.table:
        with open(args.table, "w") as fh:
            fh.write(".. generated by benchmarks/coverage.py; do not edit\n\n")
            fh.write(".. rubric:: Coverage of hidden entries (%), mean width "
                     "(data units), per-gene coverage p10-p90 (%)\n\n")
            fh.write(rst_table(records))
            fh.write("\n.. rubric:: Cost of calibration (in-place MCAR fit)\n\n")
            fh.write(cost_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gene panels: recover the transcriptome from a random subset of its genes.

The paper's question (as in LINCS L1000 and D-GEX): measure a panel of genes,
infer the rest. For each data set the samples are split into reference and
test rows by :func:`benchmarks.protocol.make_split` (donor-disjoint where
donors are known, as for GTEx v8 ACMG59, else a random 80/20 split, seed
``--seed``); the reference rows are complete. Then, for each panel fraction
``f`` and each panel draw ``d`` (``numpy.random.RandomState(d)``, ``d`` = 0,
1, ..., ``--draws`` - 1), a panel of ``max(1, round(f * n_genes))`` genes is
drawn (the same panel for every method), every gene outside it is hidden
(NaN) in every test row, and each method predicts the hidden genes of the
test rows. The score is the per-gene R² over the test rows of the hidden
genes (:func:`skimpute_gtex.metrics.masked_r2_score`, ``"raw_values"``),
averaged over the genes where it is defined (``r2_mean``); with both PMI and
ridge run, ``pmi_better`` is the fraction of those genes where PMI's R² is
above ridge's (D-GEX's figure).

The methods and their configuration:

``PMI``
    ``PMIImputer(covariates=<the set's covariate spec>, random_state=--seed,
    n_jobs=--threads)``, otherwise the defaults (``--pmi-params`` overrides
    them through ``set_params``). Fitted ONCE per data set on the reference
    rows (genes and covariates, :func:`benchmarks.protocol.frame`); each
    panel is one ``transform`` of the test rows with their non-panel genes
    NaN. ``pmi_fit_s`` and each ``transform``'s ``time_s`` are timed apart.
``Ridge (L1000)``
    Per panel, the LINCS L1000 linear model: ``RidgeCV(alphas=np.logspace(-3,
    5, 17))`` (efficient leave-one-out CV) on the reference's panel genes and
    covariates (numerical ones standardized, categorical ones one-hot,
    ``OneHotEncoder(handle_unknown="ignore")``), predicting every non-panel
    gene (multi-output), in four configurations: the panel genes in the
    data's units or standardized (``StandardScaler``), one alpha for all
    genes or one per gene (``alpha_per_target``). The row reports the best of
    the four *on the test rows* (``config``; every configuration's score is
    in ``configs_r2``): an optimistic bar, since the choice sees the hidden
    truth, and no single configuration was best on every set. ``time_s`` is
    the chosen configuration's fit + predict (all four: ``all_configs_s``).
``kNN``
    Per panel, ``KNeighborsRegressor`` from the panel genes, standardized with
    the reference's mean and sd, to the non-panel genes, with k chosen by
    5-fold CV on the reference (``GridSearchCV``, shuffled ``KFold`` seeded
    by ``--seed``, mean per-gene R²) from (1, 3, 5, 10, 20, 50), capped at
    the size of a CV training fold (below ``n_ref - 1``). ``time_s`` is CV +
    fit + predict.

Data sets (``--datasets``; default: every shared set with at least 100
samples): ``gtex_scira_tf467``, ``gtex_v8_acmg59``,
``microarray_all_leukemia_top500`` at the fractions 0.02, 0.05, 0.10, 0.25
and 0.50, and ``microarray_all_leukemia`` at full width (12,625 probes) with
only one panel size, ``--full-width-panel`` (1,000) genes: fraction
``1000 / n_genes``. ``--threads`` is passed to PMI as ``n_jobs`` (the global
torch settings are not touched); ridge and kNN run with the process's
BLAS threads.

Run from the repository root (2 cores shared: the GTEx v8 set, 14k reference
rows, dominates)::

    python benchmarks/bench_panel.py --threads 2 --label defaults \\
        --output benchmarks/results/panel.json
    # one set, an A/B of a PMI setting
    python benchmarks/bench_panel.py --datasets gtex_scira_tf467 \\
        --pmi-params '{"pseudo_mask_range": [0.5, 0.99]}' --label wide-mask \\
        --output /tmp/panel_wide_mask.json
    # smoke test (about 15 s)
    python benchmarks/bench_panel.py --datasets synthetic_pathway \\
        --fractions 0.1 --draws 1 --pmi-params '{"max_iter": 3, "max_steps": 50}' \\
        --output /tmp/panel_smoke.json

Writes only the ``--output`` file (after each data set, ``"complete": false``
until the last): the machine, command line, git commit, arguments, and per
data set ``n_ref``, ``n_test``, ``n_genes``, ``pmi_fit_s``, one record per
(method, fraction, draw) in ``runs`` (``r2_mean``, ``r2_median``, ``time_s``,
``n_panel``, and the chosen ``k`` or median ridge ``alpha``) and one per
(fraction, draw) in ``pmi_vs_ridge``. It prints a summary, mean ± sd over the
draws, one row per data set and fraction, e.g. (smoke test)::

    mean ± sd over draws (label: smoke); PMI fit: synthetic_pathway 2.8 s
    data set           panel       PMI R2  Ridge R2  kNN R2  PMI tr s  Ridge s  ...
    synthetic_pathway  27 (10.0%)  0.201   0.970     0.883   0.02      0.55     ...

(3 PMI epochs: the smoke test checks the plumbing, not PMI.)

The docs table is a second entry point: an RST ``list-table`` (mean ± sd over
draws) of one or more result files, for ``docs/benchmarks.rst``::

    python benchmarks/bench_panel.py table benchmarks/results/panel.json \\
        [/tmp/panel_wide_mask.json ...]
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.datasets import DATASETS, default_data_dir, load  # noqa: E402
from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.protocol import frame, make_split  # noqa: E402
from benchmarks.reports import _clean, fmt_pm  # noqa: E402
from skimpute_gtex import PMIImputer  # noqa: E402
from skimpute_gtex.metrics import masked_r2_score  # noqa: E402

FRACTIONS = (0.02, 0.05, 0.10, 0.25, 0.50)
DEFAULT_DATASETS = ("gtex_scira_tf467", "gtex_v8_acmg59",
                    "microarray_all_leukemia_top500", "microarray_all_leukemia")
#: sets benchmarked at full width with one panel of --full-width-panel genes
FULL_WIDTH_DATASETS = {"microarray_all_leukemia"}
METHODS = ("PMI", "Ridge (L1000)", "kNN")
_ALIASES = {"pmi": "PMI", "ridge": "Ridge (L1000)", "ridge (l1000)": "Ridge (L1000)",
            "l1000": "Ridge (L1000)", "knn": "kNN"}
RIDGE_ALPHAS = np.logspace(-3, 5, 17)
#: nominal levels of the intervals' coverage (PMI with calibration=True)
COVERAGE_LEVELS = (0.8, 0.9, 0.95)
KNN_KS = (1, 3, 5, 10, 20, 50)
KNN_FOLDS = 5


def _method(name):
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown method {name!r}: one of {', '.join(METHODS)}"
        ) from None


def _git_commit():
    """``(commit, dirty)`` of the repository, or ``(None, None)``."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT,
                                text=True, capture_output=True, timeout=10)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _per_gene_r2(X_true, X_pred, mask):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return masked_r2_score(X_true, X_pred, mask, multioutput="raw_values")


def _scores(per_gene):
    finite = per_gene[np.isfinite(per_gene)]
    if not finite.size:
        return dict(r2_mean=float("nan"), r2_median=float("nan"), n_scored=0)
    return dict(r2_mean=float(finite.mean()), r2_median=float(np.median(finite)),
                n_scored=int(finite.size))


def draw_panel(n_genes, fraction, draw):
    """Sorted column positions of the panel: ``round(fraction * n_genes)`` genes."""
    n_panel = min(n_genes - 1, max(1, int(round(fraction * n_genes))))
    rng = np.random.RandomState(draw)
    return np.sort(rng.choice(n_genes, n_panel, replace=False))


def _design(dataset, rows, panel):
    """Panel genes of ``rows`` beside their covariates (ridge's input)."""
    genes = dataset.genes.iloc[rows, panel].reset_index(drop=True)
    genes.columns = [f"gene:{c}" for c in genes.columns]
    cov = dataset.covariates.iloc[rows].reset_index(drop=True)
    return genes.join(cov)


#: the RidgeCV configurations tried: (panel genes standardized, alpha per gene)
RIDGE_CONFIGS = ((False, False), (False, True), (True, False), (True, True))


def _ridge(dataset, panel, standardize, per_gene):
    gene_cols = [f"gene:{c}" for c in dataset.genes.columns[panel]]
    spec = dataset.covariate_spec or []
    categorical = [c for _, kind, cols in spec if kind == "categorical" for c in cols]
    numerical = [c for _, kind, cols in spec if kind != "categorical" for c in cols]
    parts = [("genes", StandardScaler() if standardize else "passthrough",
              gene_cols)]
    if numerical:
        parts.append(("scale", StandardScaler(), numerical))
    if categorical:
        parts.append(("onehot", OneHotEncoder(handle_unknown="ignore",
                                              sparse_output=False), categorical))
    return make_pipeline(ColumnTransformer(parts),
                         RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=per_gene))


def run_ridge(dataset, ref, test, panel, hidden):
    """Ridge on panel genes + covariates: the best of RIDGE_CONFIGS on the
    test rows (an optimistic bar: chosen with the hidden truth)."""
    X = dataset.genes.to_numpy()
    mask = np.zeros((len(test), X.shape[1]), dtype=bool)
    mask[:, hidden] = True
    best, tried, seconds = None, {}, []
    for standardize, per_gene in RIDGE_CONFIGS:
        t0 = time.perf_counter()
        model = _ridge(dataset, panel, standardize, per_gene).fit(
            _design(dataset, ref, panel), X[np.ix_(ref, hidden)])
        pred = model.predict(_design(dataset, test, panel))
        seconds.append(time.perf_counter() - t0)
        full = X[test].copy()
        full[:, hidden] = pred
        score = float(np.nanmean(_per_gene_r2(X[test], full, mask)[hidden]))
        name = (f"{'standardized' if standardize else 'data units'}, "
                f"{'alpha per gene' if per_gene else 'one alpha'}")
        tried[name] = score
        if best is None or score > best[0]:
            best = (score, pred, name, seconds[-1])
    _, pred, name, chosen_s = best
    return pred, chosen_s, dict(config=name, configs_r2=tried,
                                all_configs_s=float(sum(seconds)))


def run_knn(dataset, ref, test, panel, hidden, seed):
    """k-NN regression from the standardized panel genes, k by 5-fold CV."""
    X = dataset.genes.to_numpy()
    smallest_fold = len(ref) - int(np.ceil(len(ref) / KNN_FOLDS))
    ks = [k for k in KNN_KS if k <= min(len(ref) - 1, smallest_fold)] or [1]
    t0 = time.perf_counter()
    search = GridSearchCV(
        make_pipeline(StandardScaler(), KNeighborsRegressor()),
        {"kneighborsregressor__n_neighbors": ks},
        cv=KFold(KNN_FOLDS, shuffle=True, random_state=seed),
    ).fit(X[np.ix_(ref, panel)], X[np.ix_(ref, hidden)])
    pred = search.predict(X[np.ix_(test, panel)])
    seconds = time.perf_counter() - t0
    return pred, seconds, dict(k=int(search.best_params_[
        "kneighborsregressor__n_neighbors"]))


def fit_pmi(dataset, ref, args, pmi_params):
    est = PMIImputer(covariates=dataset.covariate_spec, random_state=args.seed,
                     n_jobs=args.threads)
    if pmi_params:
        est.set_params(**pmi_params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(frame(dataset.genes.to_numpy()[ref], dataset, ref))
        seconds = time.perf_counter() - t0
    info = dict(
        pmi_fit_s=seconds,
        pmi_n_iter=getattr(est, "n_iter_", None),
        pmi_n_estimators=getattr(est, "n_estimators_", None),
        pmi_best_validation_r2=getattr(est, "best_validation_score_", None),
        pmi_warnings=sorted({str(w.message).splitlines()[0] for w in caught}),
    )
    return est, info


def run_pmi(est, dataset, test, hidden):
    X_test = dataset.genes.to_numpy()[test].copy()
    X_test[:, hidden] = np.nan
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = est.transform(frame(X_test, dataset, test))
    seconds = time.perf_counter() - t0
    out = np.asarray(out, dtype=np.float64)[:, :dataset.genes.shape[1]]
    extra = {}
    if est.calibration:  # the intervals' coverage of the hidden genes
        truth = dataset.genes.to_numpy()[test][:, hidden]
        for level in COVERAGE_LEVELS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lower, upper = est.transform_interval(
                    frame(X_test, dataset, test), coverage=level)
            lower = np.asarray(lower, dtype=np.float64)[:, hidden]
            upper = np.asarray(upper, dtype=np.float64)[:, hidden]
            extra[f"coverage_{round(100 * level)}"] = float(
                np.mean((truth >= lower) & (truth <= upper)))
    return out[:, hidden], seconds, extra


def bench_dataset(dataset, args, pmi_params, log):
    X = dataset.genes.to_numpy()
    n_genes = X.shape[1]
    ref, test = make_split(dataset, args.seed)
    if dataset.name in FULL_WIDTH_DATASETS:
        fractions = [args.full_width_panel / n_genes]
    else:
        fractions = list(args.fractions)
    record = dict(
        name=dataset.name, n_ref=len(ref), n_test=len(test), n_genes=n_genes,
        split="donor-disjoint" if dataset.donors is not None else "random 80/20",
        notes=dataset.notes, fractions=fractions, runs=[], pmi_vs_ridge=[],
    )
    log(f"{dataset.name}: {len(ref)} reference / {len(test)} test rows, "
        f"{n_genes} genes")
    pmi = None
    if "PMI" in args.methods:
        pmi, info = fit_pmi(dataset, ref, args, pmi_params)
        record.update(info)
        log(f"  PMI fit {info['pmi_fit_s']:.1f} s ({info['pmi_n_iter']} epochs)")
    runners = {
        "PMI": lambda p, h: run_pmi(pmi, dataset, test, h),
        "Ridge (L1000)": lambda p, h: run_ridge(dataset, ref, test, p, h),
        "kNN": lambda p, h: run_knn(dataset, ref, test, p, h, args.seed),
    }
    for fraction in fractions:
        for draw in range(args.draws):
            panel = draw_panel(n_genes, fraction, draw)
            hidden = np.setdiff1d(np.arange(n_genes), panel)
            mask = np.zeros((len(test), n_genes), dtype=bool)
            mask[:, hidden] = True
            per_gene = {}
            for method in args.methods:
                pred, seconds, extra = runners[method](panel, hidden)
                full = X[test].copy()
                full[:, hidden] = pred
                per_gene[method] = _per_gene_r2(X[test], full, mask)[hidden]
                run = dict(method=method, fraction=fraction, draw=draw,
                           n_panel=len(panel), time_s=seconds,
                           **_scores(per_gene[method]), **extra)
                record["runs"].append(run)
                log(f"  {method:14s} f={fraction:.4f} draw {draw} "
                    f"({len(panel)} genes): R2 {run['r2_mean']:.3f}, "
                    f"{seconds:.2f} s")
            if {"PMI", "Ridge (L1000)"} <= per_gene.keys():
                a, b = per_gene["PMI"], per_gene["Ridge (L1000)"]
                both = np.isfinite(a) & np.isfinite(b)
                record["pmi_vs_ridge"].append(dict(
                    fraction=fraction, draw=draw, n_genes=int(both.sum()),
                    pmi_better=float(np.mean(a[both] > b[both]))
                    if both.any() else float("nan"),
                ))
    return record


def summary_rows(result):
    """One row per data set and fraction: the values of every draw."""
    rows = []
    for ds in result["datasets"]:
        for fraction in ds["fractions"]:
            runs = [r for r in ds["runs"] if r["fraction"] == fraction]
            row = dict(label=result.get("label"), dataset=ds["name"],
                       n_ref=ds["n_ref"], n_test=ds["n_test"],
                       n_genes=ds["n_genes"], fraction=fraction,
                       pmi_fit_s=ds.get("pmi_fit_s"),
                       n_panel=runs[0]["n_panel"] if runs else None,
                       draws=len({r["draw"] for r in runs}), r2={}, time={})
            for method in METHODS:
                mine = [r for r in runs if r["method"] == method]
                if mine:
                    row["r2"][method] = [r["r2_mean"] for r in mine]
                    row["time"][method] = [r["time_s"] for r in mine]
            row["pmi_better"] = [c["pmi_better"] for c in ds["pmi_vs_ridge"]
                                 if c["fraction"] == fraction]
            pmi = [r for r in runs if r["method"] == "PMI"]
            row["coverage"] = {
                level: [r[f"coverage_{round(100 * level)}"] for r in pmi]
                for level in COVERAGE_LEVELS
                if pmi and f"coverage_{round(100 * level)}" in pmi[0]}
            rows.append(row)
    return rows


def _pm(values, digits, scale=1.0):
    values = [v * scale for v in values or [] if v is not None]
    return fmt_pm(values, digits) if values else "–"


def _panel_cell(row):
    return f"{row['n_panel']} ({100 * row['fraction']:.1f}%)"


def print_summary(result):
    header = ["data set", "panel", "PMI R2", "Ridge R2", "kNN R2", "PMI tr s",
              "Ridge s", "kNN s", "PMI>Ridge %"]
    body = [[r["dataset"], _panel_cell(r),
             *(_pm(r["r2"].get(m), 3) for m in METHODS),
             _pm(r["time"].get("PMI"), 2), _pm(r["time"].get("Ridge (L1000)"), 2),
             _pm(r["time"].get("kNN"), 2), _pm(r["pmi_better"], 1, 100)]
            for r in summary_rows(result)]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    fits = ", ".join(f"{d['name']} {d['pmi_fit_s']:.1f} s"
                     for d in result["datasets"] if d.get("pmi_fit_s") is not None)
    print(f"\nmean ± sd over draws (label: {result.get('label')})"
          + (f"; PMI fit: {fits}" if fits else ""))
    for line in [header, *body]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())


def rst_coverage_table(results):
    """An RST list-table of PMI's interval coverage (runs with calibration)."""
    body, draws = [], set()
    for result in results:
        for r in summary_rows(result):
            if r["coverage"]:
                draws.add(r["draws"])
                body.append([f"{r['dataset']} ({r['n_ref']} / {r['n_test']})",
                             _panel_cell(r), _pm(r["r2"].get("PMI"), 3),
                             *(_pm(r["coverage"][lv], 1, 100)
                               for lv in COVERAGE_LEVELS)])
    if not body:
        return ""
    n = "/".join(str(d) for d in sorted(draws))
    header = ["Data set (ref / test)", "Panel genes", "PMI R²",
              *(f"{round(100 * lv)}% interval covers (%)" for lv in COVERAGE_LEVELS)]
    lines = [f".. list-table:: Gene panels, PMIImputer(calibration=True): "
             f"coverage of the hidden genes, mean ± sd over {n} panel draws",
             "   :header-rows: 1", ""]
    for cells in [header, *body]:
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {c}" for c in cells[1:])
    return "\n".join(lines)


def rst_table(results, names):
    """An RST list-table of the runs of several result files."""
    several = len({r.get("label") for r in results}) > 1
    header = (["Run"] if several else []) + [
        "Data set (ref / test)", "Panel genes", "PMI R²", "Ridge (L1000) R²",
        "kNN R²", "PMI > ridge (% genes)", "PMI transform (s)", "Ridge (s)",
        "kNN (s)"]
    body, fits, draws = [], [], set()
    for result, name in zip(results, names):
        run = result.get("label") or name
        for r in summary_rows(result):
            draws.add(r["draws"])
            body.append(([run] if several else []) + [
                f"{r['dataset']} ({r['n_ref']} / {r['n_test']})", _panel_cell(r),
                *(_pm(r["r2"].get(m), 3) for m in METHODS),
                _pm(r["pmi_better"], 1, 100), _pm(r["time"].get("PMI"), 2),
                _pm(r["time"].get("Ridge (L1000)"), 2), _pm(r["time"].get("kNN"), 2),
            ])
        for ds in result["datasets"]:
            if ds.get("pmi_fit_s") is not None:
                fits.append(f"{ds['name']} {ds['pmi_fit_s']:.0f} s"
                            + (f" ({run})" if several else ""))
    n = "/".join(str(d) for d in sorted(draws))
    lines = [f".. list-table:: Gene panels: per-gene R² of the hidden genes, "
             f"mean ± sd over {n} panel draws (ridge: the best of four RidgeCV "
             "configurations on the test rows)", "   :header-rows: 1", ""]
    for cells in [header, *body]:
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {c}" for c in cells[1:])
    if fits:
        lines += ["", "PMI fit, once per data set: " + "; ".join(fits) + "."]
    return "\n".join(lines)


def table_main(argv):
    p = argparse.ArgumentParser(
        prog="bench_panel.py table",
        description="RST list-table (mean ± sd over draws) of result files.")
    p.add_argument("results", nargs="+", help="JSON files of bench_panel.py")
    args = p.parse_args(argv)
    results = []
    for path in args.results:
        with open(path) as fh:
            results.append(json.load(fh))
    names = [os.path.splitext(os.path.basename(p))[0] for p in args.results]
    plain = [r for r in results if not r.get("calibration")]
    if plain:
        print(rst_table(plain, [n for r, n in zip(results, names) if r in plain]))
    coverage = rst_coverage_table(results)
    if coverage:
        print(("\n\n" if plain else "") + coverage)
    return 0


def _write(path, result):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(_clean(result), fh, indent=1)
        fh.write("\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["table"]:
        return table_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS),
                   choices=list(DATASETS), metavar="NAME",
                   help=f"default: {' '.join(DEFAULT_DATASETS)}")
    p.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    p.add_argument("--draws", type=int, default=3,
                   help="panel draws, seeds 0 .. draws-1 (default 3)")
    p.add_argument("--methods", nargs="+", type=_method, default=list(METHODS),
                   help="PMI, ridge, knn (default: all)")
    p.add_argument("--full-width-panel", type=int, default=1000,
                   help="panel genes of the full-width sets "
                   f"({', '.join(sorted(FULL_WIDTH_DATASETS))})")
    p.add_argument("--data-dir", default=default_data_dir())
    p.add_argument("--threads", type=int, default=None,
                   help="PMI's n_jobs (default None: its own choice)")
    p.add_argument("--seed", type=int, default=0,
                   help="split seed and PMI random_state")
    p.add_argument("--pmi-params", type=json.loads, default={},
                   help="JSON dict passed to PMIImputer.set_params")
    p.add_argument("--label", default=None)
    p.add_argument("--output", required=True, help="the JSON file to write")
    args = p.parse_args(argv)
    if not isinstance(args.pmi_params, dict):
        p.error("--pmi-params must be a JSON object")
    args.methods = [m for m in METHODS if m in args.methods]

    commit, dirty = _git_commit()
    result = dict(
        label=args.label, command=[sys.executable, *sys.argv], git_commit=commit,
        git_dirty=dirty,
        machine=dict(machine_info(args.threads), loadavg_at_start=os.getloadavg()),
        config=dict(vars(args), ridge_alphas=RIDGE_ALPHAS.tolist(),
                    knn_ks=list(KNN_KS), knn_folds=KNN_FOLDS),
        calibration=bool(args.pmi_params.get("calibration", False)),
        complete=False, datasets=[],
    )

    def log(message):
        print(message, flush=True)

    for name in args.datasets:
        dataset = load(name, args.data_dir)
        result["datasets"].append(bench_dataset(dataset, args, args.pmi_params, log))
        _write(args.output, result)
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    result["complete"] = True
    _write(args.output, result)
    print_summary(result)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

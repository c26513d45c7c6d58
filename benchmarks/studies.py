"""The extra studies (``--extras``): speed, missing-rate sweep, per tissue,
tissue embeddings, cross-study.

Each ``extra_<name>(ctx, ...)`` returns ``(result, text)``: a JSON-able
result stored under ``extras`` in the result file, and the reStructuredText
of its docs section. A :class:`StudyContext` holds what the studies of one
invocation share: the options, the data sets loaded so far and the one PMI
fit in place on GTEx v8 that ``per-tissue`` and ``embeddings`` both read.
"""

import os
import traceback
import warnings

import numpy as np
import pandas as pd

from skimpute_gtex import PMIImputer
from skimpute_gtex.datasets import align_to_genes, simulate_missing
from skimpute_gtex.metrics import masked_r2_score

from . import _internals
from .datasets import load
from .protocol import frame
from .registry import FAST_PARAMS
from .reports import rst_simple_table
from .runner import run_benchmark
from .speed import extra_speed


class StudyContext:
    """Options, data sets and the shared PMI fit of one invocation's studies.

    Parameters
    ----------
    args : argparse.Namespace
        The harness's options (``missing_rate``, ``device``, ``fast``,
        ``threads``, ``time_budget``, ``output_dir``).
    data_dir : str, default=None
        Folder of the real data sets.
    log : callable, default=print
        Called with progress lines.
    records : list of dict, default=None
        The records of the same invocation (``speed`` reuses one).
    datasets : dict of str to Bunch, default=None
        Data sets to use instead of loading them by name (tests).
    """

    def __init__(self, args, data_dir=None, log=print, records=None, datasets=None):
        self.args, self.data_dir, self.log = args, data_dir, log
        self.records = records or []
        self._datasets = dict(datasets or {})
        self._acmg_fit = None

    def dataset(self, name):
        if name not in self._datasets:
            self._datasets[name] = load(name, self.data_dir)
        return self._datasets[name]

    def params(self):
        """The ``set_params`` overrides per method (``--fast``) or None."""
        return FAST_PARAMS if self.args.fast else None

    def pmi(self, spec, seed, **params):
        est = PMIImputer(covariates=spec, device=self.args.device,
                         random_state=seed, **params)
        if self.args.fast:
            est.set_params(**FAST_PARAMS["PMI"])
        return est

    def acmg_fit(self):
        """``(dataset, est, X, imputed, mask)``: PMI in place on gtex_v8_acmg59."""
        if self._acmg_fit is None:
            dataset = self.dataset("gtex_v8_acmg59")
            self.log("fitting PMI in place on gtex_v8_acmg59 (seed 0)")
            X = dataset.genes.to_numpy()
            X_miss, mask = simulate_missing(X, self.args.missing_rate, random_state=0)
            est = self.pmi(dataset.covariate_spec, 0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = est.fit_transform(frame(X_miss, dataset, np.arange(len(X))))
            self._acmg_fit = (dataset, est, X, out, mask)
        return self._acmg_fit


def bullets(lines):
    return "\n".join(f"- {line}" for line in lines)


def extra_sweep(ctx, rates=(0.1, 0.3, 0.5, 0.7, 0.9),
                methods=("PMI", "KNN-5", "Tissue median")):
    """In-place R² for missing rates 10%..90% on gtex_scira_tf467."""
    dataset = ctx.dataset("gtex_scira_tf467")
    table = {}
    for rate in rates:
        recs = run_benchmark([dataset], methods=list(methods), scenarios=["inplace"],
                             repeats=1, missing_rate=rate,
                             time_budget=ctx.args.time_budget, params=ctx.params(),
                             device=ctx.args.device, threads=ctx.args.threads,
                             log=ctx.log)
        for r in recs:
            table.setdefault(r["method"], {})[rate] = r["r2_mean"]
    header = ["Method"] + [f"{r:.0%}" for r in rates]
    body = [[m] + [("%.3f" % v) if v is not None else "--"
                   for v in (table[m].get(r) for r in rates)] for m in methods]
    text = (f"In-place per-gene R² on {dataset.name} versus the fraction of "
            "entries hidden (MCAR, seed 0, one repeat).\n\n"
            + rst_simple_table(header, body))
    return {m: {str(k): v for k, v in d.items()} for m, d in table.items()}, text


def extra_per_tissue(ctx):
    """Per-tissue R² distribution of PMI (in place) on gtex_v8_acmg59."""
    dataset, est, X, out, mask = ctx.acmg_fit()
    tissue = dataset.covariates["tissue"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = masked_r2_score(X, np.asarray(out, float), mask, groups=tissue)
    vals = np.array([v for v in scores.values() if np.isfinite(v)])
    q = np.percentile(vals, [0, 25, 50, 75, 100])
    order = sorted(scores, key=lambda k: scores[k])
    text = bullets([
        f"PMI in place ({ctx.args.missing_rate:.0%} MCAR, seed 0), per-gene R² "
        f"averaged within each of {len(scores)} tissues: min {q[0]:.3f}, "
        f"quartiles {q[1]:.3f} / {q[2]:.3f} / {q[3]:.3f}, max {q[4]:.3f}.",
        "Worst tissues: " + ", ".join(f"{t} {scores[t]:.3f}" for t in order[:3]),
        "Best tissues: " + ", ".join(f"{t} {scores[t]:.3f}" for t in order[-3:]),
    ])
    return {k: float(v) for k, v in scores.items()}, text


def _plot_embeddings(weight, names, brain, png):
    """PCA of the tissue embeddings, brain tissues in red, saved to ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centred = weight - weight.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ vt[:2].T
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(*pcs[~brain].T, c="0.6", label="other tissues")
    ax.scatter(*pcs[brain].T, c="C3", label="Brain - *")
    for i in np.flatnonzero(brain | np.char.startswith(names, "Whole")):
        ax.annotate(names[i].replace("Brain - ", ""), pcs[i], fontsize=6)
    ax.set(xlabel="PC 1", ylabel="PC 2",
           title="PMI tissue embeddings (gtex_v8_acmg59)")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def extra_embeddings(ctx, output_dir=None):
    """Do brain tissues have brain nearest neighbours in the learned embedding?"""
    dataset, est, *_ = ctx.acmg_fit()
    names, weight = _internals.first_embedding(est)
    unit = weight / np.linalg.norm(weight, axis=1, keepdims=True).clip(1e-12)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(axis=1)
    brain = np.char.startswith(names, "Brain")
    n_brain, n = int(brain.sum()), len(names)
    hits = int(brain[nearest[brain]].sum())
    chance = (n_brain - 1) / (n - 1)
    result = dict(n_tissues=n, n_brain=n_brain, brain_nn_brain=hits,
                  fraction=hits / max(n_brain, 1), chance=chance,
                  embedding_dim=int(weight.shape[1]))
    lines = [
        f"Tissue embedding of PMI (in place on {dataset.name}, "
        f"{weight.shape[1]} dimensions): {hits} of the {n_brain} ``Brain - *`` "
        f"tissues have another brain tissue as cosine nearest neighbour "
        f"({hits / max(n_brain, 1):.0%}); chance rate {chance:.0%}.",
    ]
    png = os.path.join(output_dir or ctx.args.output_dir, "tissue_embeddings.png")
    try:
        _plot_embeddings(weight, names, brain, png)
        result["plot"] = png
        lines.append(f"PCA plot: {png}.")
    except ImportError:
        lines.append("matplotlib is not installed: no plot.")
    return result, bullets(lines)


def _blood_frame(values, shape_names):
    """A frame of ``values`` (genes named 0..) with tissue 'Whole Blood'."""
    return pd.concat([pd.DataFrame(values),
                      pd.DataFrame({"tissue": ["Whole Blood"] * len(values)})],
                     axis=1).set_axis(shape_names, axis=1)


def _cross_study_scores(ctx, Xg, Xt, standardize):
    """R² of PMI (GTEx blood -> masked TCGA) and of the column mean, seeds 0-2."""
    spec = [("tissue", "categorical", ["tissue"])]
    names = [*map(str, range(Xg.shape[1])), "tissue"]
    scores, base = [], []
    for seed in range(3):
        _, mask = simulate_missing(Xt, ctx.args.missing_rate, random_state=seed)
        zg, zt = Xg, Xt
        if standardize:
            # each study standardized with its own per-gene mean/sd (TCGA:
            # from its observed entries only), so that library size and
            # platform offsets do not count as errors
            zg = (Xg - Xg.mean(0)) / Xg.std(0).clip(1e-6)
            seen = np.where(mask, np.nan, Xt)
            zt = (Xt - np.nanmean(seen, 0)) / np.nanstd(seen, 0).clip(1e-6)
        est = ctx.pmi(spec, seed)
        Xm = np.where(mask, np.nan, zt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(_blood_frame(zg, names))
            out = np.asarray(est.transform(_blood_frame(Xm, names)), float)
            scores.append(masked_r2_score(zt, out, mask))
            # reference: each masked entry = mean of the observed TCGA entries
            col_mean = np.nanmean(Xm, axis=0)
            base.append(masked_r2_score(zt, np.where(mask, col_mean, zt), mask))
    return scores, base


def extra_cross_study(ctx):
    """Train PMI on GTEx Whole Blood, impute masked TCGA LAML (cross-study)."""
    gtex = ctx.dataset("gtex_v8_acmg59")
    tcga = ctx.dataset("tcga_laml_seamless20")
    blood = np.flatnonzero(gtex.covariates["tissue"].to_numpy() == "Whole Blood")
    genes_ref = list(gtex.genes.columns)
    aligned, _ = align_to_genes(tcga.genes, reference_genes=genes_ref)
    matched = ~aligned.isna().all(axis=0).to_numpy()
    Xg = gtex.genes.to_numpy()[blood][:, matched]
    Xt = aligned.to_numpy()[:, matched]
    result = dict(n_gtex_blood=int(len(blood)), n_tcga=int(len(Xt)),
                  n_matched=int(matched.sum()))
    lines = [f"PMI (no covariate but tissue, all 'Whole Blood') trained on the "
             f"{len(blood)} GTEx v8 Whole Blood samples, log1p(counts); "
             f"{int(matched.sum())} of {len(genes_ref)} genes matched in TCGA LAML "
             f"by Ensembl id without version; {len(Xt)} TCGA samples, "
             f"{ctx.args.missing_rate:.0%} of their entries masked (seeds 0-2)."]
    for label, standardize in (("log1p", False), ("per-gene z-score", True)):
        scores, base = _cross_study_scores(ctx, Xg, Xt, standardize)
        result[label] = dict(r2=scores, r2_mean=float(np.mean(scores)),
                             column_mean_r2=float(np.mean(base)))
        lines.append(f"{label}: R² {np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}"
                     f" (TCGA observed-column mean: {np.mean(base):.3f}).")
    lines.append("With 20 samples the R² of one gene rests on ~10 masked values: "
                 "a sanity check, not a benchmark.")
    return result, bullets(lines)


#: name -> (study, title of its docs section)
EXTRAS = {
    "speed": (extra_speed, "Speed at GTEx scale"),
    "sweep": (extra_sweep, "Missing-rate sweep"),
    "per-tissue": (extra_per_tissue, "Per-tissue R²"),
    "embeddings": (extra_embeddings, "Tissue embeddings"),
    "cross-study": (extra_cross_study, "Cross-study: GTEx to TCGA LAML"),
}


def run_extras(names, ctx):
    """``(results, texts)`` of the studies ``names``; a failure is recorded."""
    results, texts = {}, {}
    for name in names:
        ctx.log(f"extra: {name}")
        func, title = EXTRAS[name]
        try:
            result, text = func(ctx)
        except Exception as exc:  # an extra failing must not lose the results
            result, text = {"error": f"{type(exc).__name__}: {exc}"}, f"failed: {exc}"
            ctx.log(traceback.format_exc())
        results[name] = result
        texts[title] = text
    return results, texts

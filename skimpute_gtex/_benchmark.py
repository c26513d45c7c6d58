"""Benchmark harness: methods x data sets x scenarios x repeats (private).

Used by ``benchmarks/bench_imputers.py`` and ``skimpute-gtex benchmark``.

Protocol
--------
For each data set, scenario, method and repeat ``r`` (seed ``r``):

- ``inplace``: hide ``missing_rate`` of all gene entries completely at random
  (:func:`~skimpute_gtex.datasets.simulate_missing`, seed ``r``) and call
  ``fit_transform`` on the masked matrix and its covariates.
- ``inductive``: split the samples, donor-disjoint where donors are known
  (:func:`~skimpute_gtex.model_selection.gtex_donor_split`; training and
  validation parts are fitted on, the test part is imputed; the split is the
  same for every repeat), else a random 80/20 split (seed ``r``). Fit on the
  complete training rows, then ``transform`` the test rows with
  ``missing_rate`` of their entries hidden.

The score is the per-gene R² on the hidden entries
(:func:`~skimpute_gtex.metrics.masked_r2_score`): its mean over genes
(``r2_mean``) and its standard deviation over genes (``r2_std``); and
``r2_scaled`` (:func:`scaled_r2`), the per-gene ``1 - MSE / variance of the
gene over the whole set`` averaged over genes, which stays meaningful when the
test rows are few. ``time_s`` is
the wall time of ``fit`` + ``transform`` (or ``fit_transform``) only.

Each run executes in a forked worker process so that a run over
``time_budget`` seconds can be stopped and recorded as ``"timeout"`` (shown as
"> budget") instead of being dropped. ``peak_mem_mb`` is the growth of the
worker's peak resident set size (``ru_maxrss``) over its resident size when the
run started: the extra memory the method needed (its copies of the data, the
network, the forests...), not counting the data already loaded by the parent.
It is measured by the kernel, so it includes torch and BLAS buffers that
``tracemalloc`` does not see.
"""

import json
import math
import os
import platform
import resource
import sys
import time
import traceback
import warnings
from contextlib import nullcontext

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch

from ._torch._gain import GAINImputer
from ._torch._pmi import PMIImputer
from .baselines import (
    BloodSurrogateImputer,
    CovariateImputer,
    MissForestImputer,
    SoftImputeImputer,
    TissueMedianImputer,
)
from .datasets import make_gtex_like, simulate_missing
from .metrics import masked_r2_score
from .model_selection import gtex_donor_split

DATA_ENV = "SKIMPUTE_GTEX_DATA"
SCENARIOS = ("inplace", "inductive")


# ----------------------------------------------------------------- methods
def _first_categorical(spec):
    for name, kind, _ in spec or []:
        if kind == "categorical":
            return name
    return None


def _pmi(spec, random_state):
    return PMIImputer(covariates=spec, random_state=random_state)


def _gain(spec, random_state):
    # GAIN-GTEx: the adversarial variant (GAINImputer's default is GAIN-MSE)
    return GAINImputer(
        covariates=spec, adversarial_weight=1.0, random_state=random_state
    )


def _gain_mse(spec, random_state):
    return GAINImputer(
        covariates=spec, adversarial_weight=0.0, random_state=random_state
    )


def _knn(k):
    def factory(spec, random_state):
        from sklearn.impute import KNNImputer

        return CovariateImputer(KNNImputer(n_neighbors=k), covariates=spec)

    factory.__name__ = f"knn{k}"
    return factory


class TunedKNN(BaseEstimator):
    """k-NN with k chosen on the data it is fitted on (the "k-NN (tuned)" row).

    For each k in ``KS``, 20% of the observed gene entries of the fit data are
    hidden (:func:`~skimpute_gtex.datasets.simulate_missing`, seed 0), the
    hidden data are imputed in place and the hidden entries scored, as
    :func:`~skimpute_gtex.metrics.make_imputation_scorer` does, by their mean
    squared error in units of each gene's standard deviation (a per-gene R²
    averaged over genes is dominated by genes whose few hidden entries happen
    to be nearly equal on the smallest sets); the best k is then fitted on all
    of the data. The chosen k is ``n_neighbors_``.
    """

    KS = (1, 3, 5, 10, 20)

    def __init__(self, covariates=None):
        self.covariates = covariates

    def _imputer(self, k):
        from sklearn.impute import KNNImputer

        return CovariateImputer(KNNImputer(n_neighbors=k), covariates=self.covariates)

    def fit(self, X, y=None):
        genes = [c for c in X.columns if c not in
                 {col for _, _, cols in self.covariates or [] for col in cols}]
        values = X[genes].to_numpy(dtype=np.float64)
        hidden, mask = simulate_missing(values, 0.2, random_state=0)
        X_hidden = X.copy()
        X_hidden[genes] = hidden
        scale = np.nanstd(values, axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        scores = {}
        for k in self.KS:
            out = np.asarray(self._imputer(k).fit_transform(X_hidden), dtype=float)
            err = ((out[:, :len(genes)] - values) / scale)[mask]
            scores[k] = -float(np.mean(err**2))
        self.scores_ = scores
        self.n_neighbors_ = max(scores, key=lambda k: scores[k])
        self.best_estimator_ = self._imputer(self.n_neighbors_).fit(X)
        return self

    def transform(self, X):
        return self.best_estimator_.transform(X)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)


def _knn_tuned(spec, random_state):
    return TunedKNN(spec)


def _mice_factory(n_nearest_features):
    def factory(spec, random_state):
        from sklearn.experimental import enable_iterative_imputer  # noqa: F401
        from sklearn.impute import IterativeImputer

        return CovariateImputer(
            IterativeImputer(
                max_iter=10, n_nearest_features=n_nearest_features,
                random_state=random_state,
            ),
            covariates=spec,
        )

    factory.__name__ = f"mice_{n_nearest_features}"
    return factory


#: MICE as a competent user configures it: each gene regressed on its 100
#: nearest (most correlated) features, or on all of them when there are fewer
_mice = _mice_factory(100)


def _softimpute(spec, random_state):
    return SoftImputeImputer(covariates=spec, random_state=random_state)


def _missforest(n_estimators):
    def factory(spec, random_state):
        return MissForestImputer(
            covariates=spec, n_estimators=n_estimators, random_state=random_state
        )

    factory.__name__ = f"missforest{n_estimators}"
    return factory


def _tissue_median(spec, random_state):
    # groups by the first categorical covariate: the tissue (B/T subtype for
    # the leukemia microarrays, which have no tissue)
    return TissueMedianImputer(covariates=spec, group=_first_categorical(spec))


def _blood_surrogate(spec, random_state):
    return BloodSurrogateImputer(
        covariates=list(spec) + [("donor", "categorical", ["donor"])],
        tissue=_first_categorical(spec),
    )


_blood_surrogate.requires_donor = True

#: name -> factory(covariate_spec, random_state) returning an unfitted imputer
METHODS = {
    "PMI": _pmi,
    "GAIN": _gain,
    "GAIN-MSE": _gain_mse,
    "KNN-1": _knn(1),
    "KNN-5": _knn(5),
    "KNN-10": _knn(10),
    "KNN (tuned)": _knn_tuned,
    "MICE": _mice,
    "MICE (all features)": _mice_factory(None),
    "SoftImpute": _softimpute,
    "MissForest-10": _missforest(10),
    "MissForest-100": _missforest(100),
    "Tissue median": _tissue_median,
    "Blood surrogate": _blood_surrogate,
}

#: A run over the budget is not repeated: the method's later repeats and
#: scenarios on the same data set are recorded as over the budget, with a
#: message saying they were not run.
#: methods at least as slow as another one: if the cheaper one ran over budget
#: on a data set and scenario, the dearer one is recorded over budget too
#: without being run (status "timeout", message says so)
SLOWER_THAN = {"MissForest-100": "MissForest-10", "MICE (all features)": "MICE"}

#: fast settings for tests and smoke runs (``--fast``)
FAST_PARAMS = {
    "PMI": dict(hidden_layer_sizes=(16,), max_iter=3, early_stopping=False),
    "GAIN": dict(hidden_layer_sizes=(16,), max_iter=3, early_stopping=False),
    "GAIN-MSE": dict(hidden_layer_sizes=(16,), max_iter=3, early_stopping=False),
    "MICE": dict(estimator__max_iter=2),
    "MICE (all features)": dict(estimator__max_iter=2),
    "SoftImpute": dict(max_iter=5, n_shrinkages=3),
    "MissForest-10": dict(max_iter=2),
    "MissForest-100": dict(n_estimators=20, max_iter=2),
}


# ---------------------------------------------------------------- datasets
def default_data_dir():
    """``$SKIMPUTE_GTEX_DATA``, else ``../shared/data`` if it exists, else None."""
    env = os.environ.get(DATA_ENV)
    if env:
        return env
    candidate = os.path.join(os.getcwd(), "..", "shared", "data")
    return os.path.abspath(candidate) if os.path.isdir(candidate) else None


def _need_dir(data_dir, sub):
    if data_dir is None:
        raise FileNotFoundError(
            f"no data directory: pass --data-dir or set ${DATA_ENV} (it must hold "
            f"the folder {sub!r})."
        )
    path = os.path.join(data_dir, sub)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"data set folder not found: {path}")
    return path


def _dataset(name, genes, covariates, spec, donors=None, notes=(), log_scale=True):
    genes = genes.astype(np.float64)
    return Bunch(
        name=name,
        genes=genes,
        covariates=covariates,
        covariate_spec=spec,
        donors=None if donors is None else np.asarray(donors, dtype=object),
        notes=list(notes),
    )


def load_gtex_scira_tf467(data_dir):
    """GTEx, 26 tissues x 20 samples, 467 TFs; already log scale."""
    path = _need_dir(data_dir, "gtex_scira_tf467")
    d = np.load(os.path.join(path, "gtex_scira_tf467.npz"), allow_pickle=True)
    meta = pd.read_csv(os.path.join(path, "samples.csv"))
    genes = pd.DataFrame(d["X"], columns=[f"ENTREZ{g}" for g in d["entrez_ids"]])
    cov = pd.DataFrame({"tissue": meta["tissue"].astype(str).to_numpy()})
    spec = [("tissue", "categorical", ["tissue"])]
    return _dataset("gtex_scira_tf467", genes, cov, spec,
                    notes=["no donor ids: inductive split is a random 80/20"])


def _age_midpoint(values):
    def mid(v):
        try:
            lo, hi = str(v).split("-")
            return (float(lo) + float(hi)) / 2
        except ValueError:
            return np.nan

    return np.array([mid(v) for v in values], dtype=float)


def load_gtex_v8_acmg59(data_dir):
    """GTEx v8, all 17,382 samples, 59 ACMG genes; log1p(read counts)."""
    path = _need_dir(data_dir, "gtex_v8_acmg59")
    d = np.load(os.path.join(path, "gtex_v8_acmg59.npz"), allow_pickle=True)
    meta = pd.read_csv(os.path.join(path, "samples.csv.gz"))
    if not (meta["SAMPID"].to_numpy() == d["sample_ids"]).all():
        meta = meta.set_index("SAMPID").loc[d["sample_ids"]].reset_index()
    genes = pd.DataFrame(
        np.log1p(d["X"].astype(np.float64)), columns=[str(g) for g in d["gene_ids"]]
    )
    age = _age_midpoint(meta["AGE"])
    notes = ["expression is log1p(read counts); AGE bracket -> midpoint (years)"]
    if np.isnan(age).any():
        notes.append(f"{int(np.isnan(age).sum())} unparsable ages -> median")
        age = np.where(np.isnan(age), np.nanmedian(age), age)
    hardy = meta["DTHHRDY"].map(lambda v: "NA" if pd.isna(v) else str(int(v)))
    cov = pd.DataFrame({
        "tissue": meta["SMTSD"].astype(str).to_numpy(),
        "sex": meta["SEX"].astype(str).to_numpy(),
        "age": age,
        "hardy": hardy.to_numpy(),
    })
    spec = [
        ("tissue", "categorical", ["tissue"]),
        ("sex", "categorical", ["sex"]),
        ("age", "numerical", ["age"]),
        ("hardy", "categorical", ["hardy"]),
    ]
    notes.append("Hardy scale NA (111 samples) is its own category")
    return _dataset("gtex_v8_acmg59", genes, cov, spec,
                    donors=meta["SUBJID"].astype(str).to_numpy(), notes=notes)


def load_microarray_all_leukemia(data_dir):
    """ALL leukemia, 128 x 12,625 Affymetrix probes, log2 RMA."""
    path = _need_dir(data_dir, "microarray_all_leukemia")
    d = np.load(os.path.join(path, "ALL.npz"), allow_pickle=True)
    meta = pd.read_csv(os.path.join(path, "samples.csv"), dtype={"sample_id": str})
    genes = pd.DataFrame(d["X"], columns=[str(p) for p in d["probe_ids"]])
    age = meta["age"].astype(float).to_numpy()
    n_nan = int(np.isnan(age).sum())
    age = np.where(np.isnan(age), np.nanmedian(age), age)
    cov = pd.DataFrame({
        "BT": meta["BT"].astype(str).to_numpy(),
        "sex": meta["sex"].fillna("NA").astype(str).to_numpy(),
        "age": age,
    })
    spec = [
        ("BT", "categorical", ["BT"]),
        ("sex", "categorical", ["sex"]),
        ("age", "numerical", ["age"]),
    ]
    notes = [
        f"{n_nan} missing ages filled with the median age",
        "missing sex is its own category 'NA'",
        "no tissue: the tissue-median baseline groups by B/T subtype",
        "no donor ids: inductive split is a random 80/20",
    ]
    return _dataset("microarray_all_leukemia", genes, cov, spec, notes=notes)


def load_tcga_laml_seamless20(data_dir):
    """TCGA LAML, 20 x 60,483 genes, log1p(counts): cross-study use only."""
    path = _need_dir(data_dir, "tcga_laml_seamless20")
    d = np.load(os.path.join(path, "tcga_laml_seamless20.npz"), allow_pickle=True)
    meta = pd.read_csv(os.path.join(path, "samples.csv"))
    genes = pd.DataFrame(
        np.log1p(d["X"].astype(np.float64)), columns=[str(g) for g in d["gene_ids"]]
    )
    cov = pd.DataFrame({"sex": meta["gender"].astype(str).to_numpy()})
    return _dataset("tcga_laml_seamless20", genes, cov,
                    [("sex", "categorical", ["sex"])],
                    notes=["20 samples: too small to train on; cross-study only"])


def _top_variance(genes, n_top):
    """The ``n_top`` columns of highest variance, in their original order."""
    if genes.shape[1] <= n_top:
        return genes
    order = np.argsort(-genes.var(axis=0).to_numpy(), kind="stable")[:n_top]
    return genes.iloc[:, np.sort(order)]


#: wide sets are benchmarked on their most variable genes, as in issue 11
TOP_GENES = 500


def load_microarray_all_leukemia_top500(data_dir):
    """ALL leukemia restricted to its 500 most variable probes."""
    d = load_microarray_all_leukemia(data_dir)
    d.genes = _top_variance(d.genes, TOP_GENES)
    d.name = "microarray_all_leukemia_top500"
    d.notes.append(f"the {TOP_GENES} probes of highest variance (all 128 samples)")
    return d


def load_microarray_bladder_batch(data_dir):
    """Bladder cancer, 57 x 1,000 HG-U133A probes (log2 RMA), 5 batches."""
    path = _need_dir(data_dir, "microarray_bladder_batch")
    d = np.load(os.path.join(path, "microarray_bladder_batch.npz"), allow_pickle=True)
    meta = pd.read_csv(os.path.join(path, "samples.csv"), dtype=str)
    genes = _top_variance(
        pd.DataFrame(d["X"], columns=[str(g) for g in d["gene_ids"]]), TOP_GENES
    )
    cov = pd.DataFrame({
        "batch": meta["batch"].to_numpy(),
        "cancer": meta["cancer"].to_numpy(),
    })
    spec = [("batch", "categorical", ["batch"]), ("cancer", "categorical", ["cancer"])]
    notes = [
        f"the {TOP_GENES} probes of highest variance of the 1,000 shipped",
        "covariates: processing batch (5) and cancer status (3); the tissue-median "
        "baseline groups by batch",
        "no donor ids: inductive split is a random 80/20",
    ]
    return _dataset("microarray_bladder_batch", genes, cov, spec, notes=notes)


def load_microarray_golub_multtest(data_dir):
    """Golub ALL/AML, 38 x 3,051 genes (per-sample z-scored log10)."""
    path = _need_dir(data_dir, "microarray_golub_multtest")
    d = np.load(os.path.join(path, "microarray_golub_multtest.npz"),
                allow_pickle=True)
    meta = pd.read_csv(os.path.join(path, "samples.csv"), dtype=str)
    genes = _top_variance(
        pd.DataFrame(d["X"], columns=[str(g) for g in d["gene_ids"]]), TOP_GENES
    )
    cov = pd.DataFrame({"class": meta["class"].to_numpy()})
    notes = [
        f"the {TOP_GENES} genes of highest variance of the 3,051 shipped",
        "covariate: ALL/AML class",
        "no donor ids: inductive split is a random 80/20",
    ]
    return _dataset("microarray_golub_multtest", genes, cov,
                    [("class", "categorical", ["class"])], notes=notes)


def load_tcga_laml_seamless20_top500(data_dir):
    """TCGA LAML restricted to its 500 most variable genes (log1p counts)."""
    d = load_tcga_laml_seamless20(data_dir)
    d.genes = _top_variance(d.genes, TOP_GENES)
    d.name = "tcga_laml_seamless20_top500"
    d.notes = [f"log1p(counts); the {TOP_GENES} genes of highest variance",
               "no donor ids: inductive split is a random 80/20 (16 / 4 samples)"]
    return d


def _synthetic(name, n_samples, n_genes, n_tissues, dtype=np.float64):
    def load(data_dir=None):
        data = make_gtex_like(n_samples, n_genes, n_tissues=n_tissues, random_state=0)
        genes = data.expression.astype(dtype)
        cov = data.covariates[["tissue", "sex", "age"]]
        return Bunch(
            name=name, genes=genes, covariates=cov,
            covariate_spec=data.covariate_spec,
            donors=data.covariates["donor"].to_numpy(dtype=object),
            notes=[f"make_gtex_like({n_samples}, {n_genes}, n_tissues={n_tissues}, "
                   "random_state=0)"],
        )

    return load


#: name -> loader(data_dir) returning a Bunch (genes, covariates,
#: covariate_spec, donors, notes)
DATASETS = {
    "gtex_scira_tf467": load_gtex_scira_tf467,
    "gtex_v8_acmg59": load_gtex_v8_acmg59,
    "microarray_all_leukemia": load_microarray_all_leukemia,
    "tcga_laml_seamless20": load_tcga_laml_seamless20,
    "microarray_all_leukemia_top500": load_microarray_all_leukemia_top500,
    "microarray_bladder_batch": load_microarray_bladder_batch,
    "microarray_golub_multtest": load_microarray_golub_multtest,
    "tcga_laml_seamless20_top500": load_tcga_laml_seamless20_top500,
    "synthetic_pathway": _synthetic("synthetic_pathway", 2000, 273, 10),
    "synthetic_gtex_scale": _synthetic(
        "synthetic_gtex_scale", 15201, 12557, 49, dtype=np.float32
    ),
}
#: data sets that are not benchmarked by default
HUGE_DATASETS = {"synthetic_gtex_scale"}
CROSS_STUDY_ONLY = {"tcga_laml_seamless20"}


# ------------------------------------------------------------------ machine
def machine_info(threads=None):
    """CPU model, cores, library versions: stored with every result file."""
    import sklearn
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cpu_cores": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


# ------------------------------------------------------------------- splits
def make_split(dataset, seed):
    """Inductive split: (train, test) row positions."""
    n = len(dataset.genes)
    if dataset.donors is not None:
        train, val, test = gtex_donor_split(dataset.donors)
        return np.sort(np.concatenate([train, val])), test
    rng = np.random.RandomState(seed)
    perm = rng.permutation(n)
    n_test = max(1, int(round(0.2 * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _frame(genes, dataset, rows, with_donor):
    cov = dataset.covariates.iloc[rows].reset_index(drop=True)
    parts = [pd.DataFrame(genes, columns=dataset.genes.columns), cov]
    if with_donor:
        parts.append(pd.DataFrame({"donor": dataset.donors[rows]}))
    return pd.concat(parts, axis=1)


def prepare_run(dataset, scenario, seed, missing_rate):
    """Arrays of one run: fit input rows, evaluated rows, masked values, mask."""
    X = dataset.genes.to_numpy()
    if scenario == "inplace":
        rows = np.arange(len(X))
        X_miss, mask = simulate_missing(X, missing_rate, random_state=seed)
        return Bunch(train=None, test=rows, X_true=X, X_miss=X_miss, mask=mask)
    train, test = make_split(dataset, seed)
    X_miss, mask = simulate_missing(X[test], missing_rate, random_state=seed)
    return Bunch(train=train, test=test, X_true=X[test], X_miss=X_miss, mask=mask)


# --------------------------------------------------------------------- runs
def _rss_mb():
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _maxrss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def scaled_r2(X_true, X_imputed, mask, X_all):
    """Mean over genes of ``1 - MSE_j / Var_j`` on the hidden entries.

    ``Var_j`` is gene j's variance over the whole (complete) data set, so the
    score is R² against imputing the gene's overall mean. Unlike the per-gene
    R² of the hidden entries (whose denominator is their own variance), it
    stays meaningful when a gene has only a few hidden entries, as in the
    inductive test rows of the smallest sets (4-11 samples), where a few genes
    whose hidden values happen to be nearly equal dominate the mean R².
    """
    var = X_all.var(axis=0)
    keep = var > 0
    err = np.where(mask, (np.asarray(X_imputed, dtype=float) - X_true) ** 2, 0.0)
    n = mask.sum(axis=0)
    keep &= n > 0
    mse = err.sum(axis=0)[keep] / n[keep]
    return float(np.mean(1.0 - mse / var[keep])) if keep.any() else float("nan")


def execute(estimator, dataset, run, with_donor=False):
    """Fit/transform ``estimator`` on one prepared run; returns the scores."""
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    if run.train is None:
        out = estimator.fit_transform(
            _frame(run.X_miss, dataset, run.test, with_donor)
        )
    else:
        estimator.fit(_frame(dataset.genes.to_numpy()[run.train], dataset,
                             run.train, with_donor))
        out = estimator.transform(_frame(run.X_miss, dataset, run.test, with_donor))
    elapsed = time.perf_counter() - t0
    peak = max(0.0, _maxrss_mb() - rss0)
    out = np.asarray(out, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per_gene = masked_r2_score(run.X_true, out, run.mask,
                                   multioutput="raw_values")
    per_gene = per_gene[np.isfinite(per_gene)]
    return dict(
        r2_mean=float(per_gene.mean()) if per_gene.size else float("nan"),
        r2_std=float(per_gene.std()) if per_gene.size else float("nan"),
        r2_scaled=scaled_r2(run.X_true, out, run.mask, dataset.genes.to_numpy()),
        time_s=elapsed,
        peak_mem_mb=peak,
        n_iter=getattr(estimator, "n_iter_", None),
    )


def _limit_threads(threads):
    """Inside a worker process only: cap torch and BLAS/OpenMP threads."""
    if threads is None:
        return nullcontext()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    return threadpool_limits(threads)


def _worker(conn, estimator, dataset, run, with_donor, threads):
    try:
        with _limit_threads(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = execute(estimator, dataset, run, with_donor)
        conn.send(("ok", result))
    except BaseException as exc:  # report any failure to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}\n"
                   + traceback.format_exc(limit=3)))
    finally:
        conn.close()


def run_isolated(estimator, dataset, run, *, with_donor=False, time_budget=None,
                 threads=None):
    """Run :func:`execute` in a forked process, stopping it after ``time_budget``.

    Returns ``(status, result_or_message)`` with status ``"ok"``,
    ``"timeout"`` or ``"error"``.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker,
                       args=(child, estimator, dataset, run, with_donor, threads))
    t0 = time.perf_counter()
    proc.start()
    child.close()
    try:
        ready = parent.poll(time_budget)
        if not ready:
            return "timeout", f"stopped after {time.perf_counter() - t0:.0f} s"
        try:
            status, payload = parent.recv()
        except EOFError:
            proc.join(5)
            return "error", f"worker died (exit code {proc.exitcode})"
        return status, payload
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()


def _build(name, factory, spec, seed, params, device):
    est = factory(spec, seed)
    overrides = dict((params or {}).get(name, {}))
    if device is not None and "device" in est.get_params(deep=False):
        overrides.setdefault("device", device)
    if overrides:
        est.set_params(**overrides)
    return est


def run_benchmark(
    datasets,
    *,
    methods=None,
    scenarios=SCENARIOS,
    repeats=3,
    first_seed=0,
    missing_rate=0.5,
    time_budget=900.0,
    data_dir=None,
    params=None,
    device=None,
    threads=None,
    isolate=True,
    log=None,
    on_record=None,
):
    """Run every method on every data set and scenario; return the records.

    Parameters
    ----------
    datasets : list of str or Bunch
        Names in :data:`DATASETS` (read from ``data_dir``) or loaded data sets.
    methods : dict of name -> factory or list of str, default=None
        Factories ``(covariate_spec, random_state) -> imputer``; names are
        looked up in :data:`METHODS`; ``None`` means all of :data:`METHODS`.
    repeats : int, default=3
        Number of repeats per data set and scenario.
    first_seed : int, default=0
        Repeats use seeds ``first_seed .. first_seed + repeats - 1`` (and
        record them as their repeat number), so that more repeats can be
        added to a result file later and merged.
    params : dict of name -> dict, default=None
        ``set_params`` overrides per method (e.g. :data:`FAST_PARAMS`).
    isolate : bool, default=True
        Run each fit in a forked worker with the time budget; ``False`` runs
        in this process (no budget, no thread cap; for debugging).
    log : callable, default=None
        Called with one progress line per run.
    on_record : callable, default=None
        Called with the list of records after each run (to save as it goes).

    Returns
    -------
    records : list of dict
        One per run: dataset, scenario, method, repeat, seed, r2_mean,
        r2_std, time_s, peak_mem_mb, status, message, n_fit, n_test, n_genes.
    """
    if methods is None:
        methods = dict(METHODS)
    elif not isinstance(methods, dict):
        methods = {m: METHODS[m] for m in methods}
    log = log or (lambda msg: None)
    records = []
    for ds in datasets:
        dataset = DATASETS[ds](data_dir) if isinstance(ds, str) else ds
        over = {}  # method -> why it is not run again on this data set
        for scenario in scenarios:
            for repeat in range(first_seed, first_seed + repeats):
                seed = repeat
                run = prepare_run(dataset, scenario, seed, missing_rate)
                for name, factory in methods.items():
                    rec = dict(
                        dataset=dataset.name, scenario=scenario, method=name,
                        repeat=repeat, seed=seed, missing_rate=missing_rate,
                        n_fit=int(len(run.train if run.train is not None
                                      else run.test)),
                        n_test=int(len(run.test)),
                        n_genes=int(dataset.genes.shape[1]),
                        r2_mean=None, r2_std=None, time_s=None,
                        peak_mem_mb=None, n_iter=None, status="ok", message="",
                        time_budget_s=time_budget,
                    )
                    with_donor = getattr(factory, "requires_donor", False)
                    slower = SLOWER_THAN.get(name)
                    if with_donor and dataset.donors is None:
                        rec.update(status="n/a", message="no donor ids")
                    elif name in over:
                        rec.update(status="timeout", message=over[name])
                    elif slower in over and slower in methods:
                        rec.update(
                            status="timeout",
                            message=f"not run: {slower} was over the budget and "
                                    f"{name} does strictly more work",
                        )
                        over[name] = rec["message"]
                    else:
                        est = _build(name, factory, dataset.covariate_spec, seed,
                                     params, device)
                        if isolate:
                            status, payload = run_isolated(
                                est, dataset, run, with_donor=with_donor,
                                time_budget=time_budget, threads=threads,
                            )
                        else:
                            try:
                                status, payload = "ok", execute(
                                    est, dataset, run, with_donor)
                            except Exception as exc:  # recorded, not raised
                                status = "error"
                                payload = f"{type(exc).__name__}: {exc}"
                        if status == "ok":
                            rec.update(payload)
                        else:
                            rec.update(status=status, message=payload)
                            if status == "timeout":
                                rec["time_s"] = time_budget
                                over[name] = (f"not run: over the budget in "
                                              f"{scenario} repeat {repeat}")
                    records.append(rec)
                    log(_progress(rec))
                    if on_record is not None:
                        on_record(records)
    return records


def _progress(rec):
    head = (f"{rec['dataset']:<24} {rec['scenario']:<9} {rec['method']:<15} "
            f"r{rec['repeat']}")
    if rec["status"] == "ok":
        return (f"{head} R2={rec['r2_mean']:.3f} (genes sd {rec['r2_std']:.3f}) "
                f"{rec['time_s']:.1f} s {rec['peak_mem_mb']:.0f} MB")
    first = rec["message"].splitlines()[0] if rec["message"] else ""
    return f"{head} {rec['status']}: {first}"


# ------------------------------------------------------------------ summary
def _fmt_pm(values, digits):
    values = np.asarray(values, dtype=float)
    if values.size == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def summarize(records):
    """One row per (dataset, scenario, method), in the paper's mean ± std form.

    R² is the mean over repeats of the per-gene mean R², ± its standard
    deviation over repeats; "genes sd" is the mean over repeats of the
    standard deviation of the per-gene R².
    """
    rows = []
    keys = []
    for r in records:
        key = (r["dataset"], r["scenario"], r["method"])
        if key not in keys:
            keys.append(key)
    for key in keys:
        runs = [r for r in records if (r["dataset"], r["scenario"], r["method"]) == key]
        ok = [r for r in runs if r["status"] == "ok"]
        statuses = {r["status"] for r in runs}
        row = dict(dataset=key[0], scenario=key[1], method=key[2],
                   n_runs=len(ok), n_repeats=len(runs))
        if "n/a" in statuses:
            continue
        if "timeout" in statuses:
            budget = runs[0]["time_budget_s"]
            row.update(r2="> budget", genes_sd="", scaled="", time=f"> {budget:.0f}",
                       mem="", note="; ".join(sorted({r["message"].splitlines()[0]
                                                      for r in runs if r["message"]})))
        elif not ok:
            row.update(r2="error", genes_sd="", scaled="", time="", mem="",
                       note=runs[0]["message"].splitlines()[0])
        else:
            row.update(
                r2=_fmt_pm([r["r2_mean"] for r in ok], 3),
                genes_sd=f"{np.mean([r['r2_std'] for r in ok]):.3f}",
                scaled=(_fmt_pm([r["r2_scaled"] for r in ok], 3)
                        if all(r.get("r2_scaled") is not None for r in ok) else ""),
                time=_fmt_pm([r["time_s"] for r in ok], 1),
                mem=f"{np.mean([r['peak_mem_mb'] for r in ok]):.0f}",
                note="" if len(ok) == len(runs) else f"{len(runs) - len(ok)} failed",
                r2_value=float(np.mean([r["r2_mean"] for r in ok])),
            )
        rows.append(row)
    return rows


_HEADER = ["Method", "R² (mean ± sd, repeats)", "R² sd over genes",
           "R² vs gene mean", "Time (s)", "Peak mem (MB)"]


def _cells(row):
    return [row["method"], row["r2"], row["genes_sd"], row.get("scaled", ""),
            row["time"], row["mem"]]


def _groups(rows):
    out = {}
    for row in rows:
        out.setdefault((row["dataset"], row["scenario"]), []).append(row)
    return out


def markdown_summary(rows, records=None):
    """Markdown tables, one per data set and scenario."""
    lines = []
    for (ds, sc), group in _groups(rows).items():
        n = max(r["n_repeats"] for r in group)
        lines += [f"### {ds} — {sc} ({n} repeat{'s' if n > 1 else ''})", "",
                  "| " + " | ".join(_HEADER) + " |",
                  "|" + "|".join(["---"] + ["---:"] * (len(_HEADER) - 1)) + "|"]
        for row in group:
            lines.append("| " + " | ".join(_cells(row)) + " |")
        notes = [f"{r['method']}: {r['note']}" for r in group if r.get("note")]
        if notes:
            lines += [""] + [f"- {n}" for n in notes]
        lines.append("")
    return "\n".join(lines)


def _rst_simple_table(header, body):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    rule = "  ".join("=" * w for w in widths)

    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([rule, line(header), rule] + [line(b) for b in body] + [rule])


def rst_tables(rows, machine=None, config=None, extras=None):
    """The reStructuredText included by ``docs/benchmarks.rst``."""
    # ":orphan:" keeps Sphinx quiet about this file as a page of its own;
    # docs/benchmarks.rst includes it from line 2 (":start-line: 2")
    out = [":orphan:", "",
           ".. This file is generated by benchmarks/bench_imputers.py; do not edit.",
           ""]
    if machine:
        out += [
            f"Machine: {machine['cpu_model']}, {machine['cpu_cores']} cores, "
            f"{machine.get('threads') or 'default'} thread(s) per run; "
            f"torch {machine['torch']}, scikit-learn {machine['sklearn']}.",
            "",
        ]
    if config:
        out += [f"Settings: {config}", ""]
    for (ds, sc), group in _groups(rows).items():
        n = max(r["n_repeats"] for r in group)
        title = f"{ds}, {sc} ({n} repeat{'s' if n > 1 else ''})"
        out += [title, "-" * len(title), ""]
        body = [[c if c else ".." for c in _cells(r)] for r in group]
        body = [[c.replace("*", "\\*") for c in b] for b in body]
        out += [_rst_simple_table(_HEADER, body), ""]
        notes = [f"* {r['method']}: {r['note']}" for r in group if r.get("note")]
        if notes:
            out += notes + [""]
    for title, text in (extras or {}).items():
        out += [title, "-" * len(title), "", text, ""]
    return "\n".join(out)


def write_results(path, records, *, machine, config, extras=None):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def clean(obj):
        if isinstance(obj, float) and not math.isfinite(obj):
            return None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [clean(v) for v in obj]
        if isinstance(obj, np.generic):
            return clean(obj.item())
        return obj

    with open(path, "w") as fh:
        json.dump(clean(dict(machine=machine, config=config, runs=records,
                             extras=extras or {})), fh, indent=1)
        fh.write("\n")


# ---------------------------------------------------------------------- CLI
EXTRAS = ("speed", "sweep", "per-tissue", "embeddings", "cross-study")
DEFAULT_DATASETS = ("gtex_scira_tf467", "gtex_v8_acmg59", "microarray_all_leukemia")


def add_arguments(parser):
    """Options shared by ``bench_imputers.py`` and ``skimpute-gtex benchmark``."""
    parser.add_argument(
        "--datasets", nargs="+", default=list(DEFAULT_DATASETS),
        choices=sorted(set(DATASETS) - CROSS_STUDY_ONLY), metavar="NAME",
        help="data sets (default: %(default)s; choices: %(choices)s)",
    )
    parser.add_argument("--methods", nargs="*", default=list(METHODS),
                        choices=list(METHODS), metavar="NAME",
                        help="methods (default: all: %(choices)s)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        choices=SCENARIOS)
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats, seeds S..S+R-1 with S = --first-seed "
                             "(default: %(default)s)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seed of the first repeat; later results can be "
                             "added with --merge (default: %(default)s)")
    parser.add_argument("--slow-repeats", type=int, default=None,
                        help="repeats for MICE and MissForest (default: --repeats)")
    parser.add_argument("--missing-rate", type=float, default=0.5)
    parser.add_argument("--time-budget", type=float, default=900.0,
                        help="seconds per run before it is stopped and recorded "
                             "as '> budget' (default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help=f"folder of the real data sets (default: ${DATA_ENV}, "
                             "else ../shared/data if it exists)")
    parser.add_argument("--output-dir", default=os.path.join("benchmarks", "results"))
    parser.add_argument("--name", default="imputers",
                        help="result file name: OUTPUT_DIR/NAME.json")
    parser.add_argument("--tables",
                        default=os.path.join("docs", "benchmark_tables.rst"),
                        help="generated RST tables (default: %(default)s; '' to skip)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads per run (default: %(default)s)")
    parser.add_argument("--device", default="cpu",
                        help="device of the deep imputers (default: %(default)s)")
    parser.add_argument("--allow-huge", action="store_true",
                        help="allow synthetic_gtex_scale (15,201 x 12,557)")
    parser.add_argument("--fast", action="store_true",
                        help="tiny networks and few iterations (smoke test)")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="run nothing: merge these result files into "
                             "OUTPUT_DIR/NAME.json and regenerate the tables")
    parser.add_argument("--extras", nargs="*", default=[], choices=EXTRAS,
                        help="extra studies to run (default: none)")
    return parser


def run_from_args(args, *, methods=None, params=None, out=None, err=None):
    """Body of the benchmark command; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    if args.threads is not None and args.threads < 1:
        print("error: --threads must be >= 1", file=err)
        return 2
    huge = set(args.datasets) & HUGE_DATASETS
    if huge and not args.allow_huge:
        print(f"error: {sorted(huge)} is huge; pass --allow-huge to run it",
              file=err)
        return 2
    data_dir = args.data_dir or default_data_dir()
    path = os.path.join(args.output_dir, f"{args.name}.json")
    if args.merge:
        return _merge(args, path, out, err)
    if params is None:
        params = FAST_PARAMS if args.fast else None
    if methods is None:
        methods = {m: METHODS[m] for m in args.methods}

    def log(msg):
        print(msg, file=err, flush=True)

    try:
        datasets = [DATASETS[d](data_dir) for d in args.datasets]
    except (FileNotFoundError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    machine = machine_info(args.threads)
    config = dict(datasets=args.datasets, methods=list(methods),
                  scenarios=args.scenarios, repeats=args.repeats,
                  first_seed=args.first_seed,
                  slow_repeats=args.slow_repeats, missing_rate=args.missing_rate,
                  time_budget_s=args.time_budget, device=args.device,
                  fast=bool(args.fast), notes={d.name: d.notes for d in datasets})
    done = []

    def save(records):  # after every run, so that an interrupted run keeps them
        write_results(path, done + records, machine=machine, config=config)

    common = dict(scenarios=args.scenarios, missing_rate=args.missing_rate,
                  first_seed=args.first_seed,
                  time_budget=args.time_budget, params=params, device=args.device,
                  threads=args.threads, log=log, on_record=save)
    slow = {"MICE", "MissForest-10", "MissForest-100"}
    if args.slow_repeats is not None and args.slow_repeats != args.repeats:
        fast_m = {k: v for k, v in methods.items() if k not in slow}
        slow_m = {k: v for k, v in methods.items() if k in slow}
        records = run_benchmark(datasets, methods=fast_m, repeats=args.repeats,
                                **common)
        done.extend(records)
        if slow_m:
            records += run_benchmark(datasets, methods=slow_m,
                                     repeats=args.slow_repeats, **common)
        order = list(methods)
        records.sort(key=lambda r: (args.datasets.index(r["dataset"]),
                                    args.scenarios.index(r["scenario"]),
                                    order.index(r["method"]), r["repeat"]))
    else:
        records = run_benchmark(datasets, methods=methods, repeats=args.repeats,
                                **common)
    extras = {}
    extra_text = {}
    for name in args.extras:
        log(f"extra: {name}")
        func = EXTRA_FUNCTIONS[name]
        kwargs = {"records": records} if name in _EXTRAS_WITH_RECORDS else {}
        try:
            result, text = func(args, data_dir=data_dir, log=log, **kwargs)
        except Exception as exc:  # an extra failing must not lose the results
            result, text = {"error": f"{type(exc).__name__}: {exc}"}, f"failed: {exc}"
            log(traceback.format_exc())
        extras[name] = result
        extra_text[EXTRA_TITLES[name]] = text

    write_results(path, records, machine=machine, config=config, extras=extras)
    _report(args, path, records, machine, _config_line(args), extra_text, out)
    return 0


def _config_line(args):
    first, last = args.first_seed, args.first_seed + args.repeats - 1
    return (f"{args.repeats} repeat(s) (seeds {first}..{last})"
            + (f", {args.slow_repeats} for MICE/MissForest"
               if args.slow_repeats is not None else "")
            + f", {args.missing_rate:.0%} MCAR, budget {args.time_budget:.0f} s"
              " per run" + (", fast settings" if args.fast else ""))


def _merge(args, path, out, err):
    records, machine, extras, notes = [], None, {}, {}
    for p in args.merge:
        try:
            with open(p) as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            print(f"error: {p}: {exc}", file=err)
            return 2
        records += data["runs"]
        machine = machine or data.get("machine")
        extras.update(data.get("extras") or {})
        notes.update((data.get("config") or {}).get("notes") or {})
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    names = list(METHODS) + sorted({r["method"] for r in records} - set(METHODS))
    records.sort(key=lambda r: (
        datasets.index(r["dataset"]),
        SCENARIOS.index(r["scenario"]) if r["scenario"] in SCENARIOS else 9,
        names.index(r["method"]), r["repeat"]))
    config = dict(merged=list(args.merge), notes=notes)
    write_results(path, records, machine=machine, config=config, extras=extras)
    _report(args, path, records, machine, None, {}, out)
    return 0


def _report(args, path, records, machine, cfg_line, extra_text, out):
    rows = summarize(records)
    if args.tables:
        os.makedirs(os.path.dirname(os.path.abspath(args.tables)), exist_ok=True)
        with open(args.tables, "w") as fh:
            fh.write(rst_tables(rows, machine, cfg_line, extra_text))
    print(markdown_summary(rows), file=out)
    for title, text in extra_text.items():
        print(f"### {title}\n\n{text}\n", file=out)
    print(f"wrote {path}" + (f" and {args.tables}" if args.tables else ""), file=out)


EXTRA_FUNCTIONS = {}
#: extras that reuse the records of the same invocation
_EXTRAS_WITH_RECORDS = {"speed"}
EXTRA_TITLES = {
    "speed": "Speed at GTEx scale",
    "sweep": "Missing-rate sweep",
    "per-tissue": "Per-tissue R²",
    "embeddings": "Tissue embeddings",
    "cross-study": "Cross-study: GTEx to TCGA LAML",
}


# ------------------------------------------------------------------- extras
def _bullets(lines):
    return "\n".join(f"- {line}" for line in lines)


def matmul_gflops(n=2048, repeats=5):
    """Measured fp32 ``torch.mm`` rate (GFLOP/s) with the current thread count."""
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def pmi_flops_per_sample_epoch(n_in, hidden, n_out):
    """Floating-point operations of one PMI training pass over one sample.

    Forward and weight gradients cost ``2 * in * out`` each per linear layer;
    the input gradient costs as much again for every layer but the first,
    whose input (the data) needs no gradient and gets none.
    """
    sizes = [n_in] + list(hidden) + [n_out]
    layers = [2 * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * sum(layers) + sum(layers[1:])


def _pmi_speed_estimator(spec, batch, epochs, device, fast):
    est = PMIImputer(covariates=spec, max_iter=epochs, batch_size=batch,
                     early_stopping=False, device=device, random_state=0)
    if fast:
        est.set_params(hidden_layer_sizes=FAST_PARAMS["PMI"]["hidden_layer_sizes"])
    return est


def extra_speed(args, data_dir=None, log=print, sizes_knn=(500, 1000, 2000),
                n_pmi=2000, epochs=(2, 6), dataset=None, records=None):
    """PMI vs KNN at GTEx scale on CPU, PMI throughput vs the matmul peak.

    * KNNImputer is timed on ``sizes_knn`` rows and extrapolated (log-log) to
      the full data set: at 15,201 rows it would take hours.
    * PMI's steady-state training rate is the time difference between a fit
      of ``epochs[1]`` and one of ``epochs[0]`` epochs on ``n_pmi`` rows, so
      that the one-off costs (validation, standardization, building the
      network) are not counted as training; it gives the GFLOP/s.
    * PMI end to end at full scale is *measured*, not extrapolated: the
      in-place PMI record of the same invocation (``records``) when there is
      one, else one such run here, with the harness's protocol (defaults,
      early stopping, fit + transform).
    """
    import torch
    from sklearn.impute import KNNImputer

    dataset = dataset or DATASETS["synthetic_gtex_scale"](data_dir)
    n_full, g = dataset.genes.shape
    X = dataset.genes.to_numpy()
    peak = matmul_gflops()
    log(f"speed: matmul peak {peak:.1f} GFLOP/s")
    result = dict(n_samples=n_full, n_genes=g, matmul_gflops=peak,
                  threads=args.threads, knn=[])
    rng = np.random.RandomState(0)

    def subset(n):
        rows = np.sort(rng.choice(n_full, n, replace=False))
        X_miss, _ = simulate_missing(X[rows], args.missing_rate, random_state=0)
        return _frame(X_miss, dataset, rows, False)

    spec = dataset.covariate_spec
    for n in sizes_knn:
        frame = subset(n)
        est = CovariateImputer(KNNImputer(n_neighbors=5), covariates=spec)
        t0 = time.perf_counter()
        est.fit_transform(frame)
        t = time.perf_counter() - t0
        result["knn"].append(dict(n=n, time_s=t))
        log(f"speed: KNN-5 on {n} rows: {t:.1f} s")
    ns = np.array([r["n"] for r in result["knn"]], float)
    ts = np.array([r["time_s"] for r in result["knn"]], float)
    slope, intercept = np.polyfit(np.log(ns), np.log(ts), 1)
    knn_full = float(np.exp(intercept) * n_full**slope)
    # the pairwise distances make KNN quadratic in rows at scale; the slope of
    # the last two sizes is the closer (and larger) estimate
    last_slope = float(np.log(ts[-1] / ts[-2]) / np.log(ns[-1] / ns[-2]))
    knn_full_last = float(ts[-1] * (n_full / ns[-1]) ** last_slope)
    result.update(knn_exponent=float(slope), knn_full_extrapolated_s=knn_full,
                  knn_exponent_last=last_slope,
                  knn_full_extrapolated_last_s=knn_full_last)

    # steady-state training rate, on the batch size "auto" picks at full scale
    n_pmi = min(n_pmi, n_full)
    default = PMIImputer()
    n_train = n_full - int(round(default.validation_fraction * n_full))
    batch = default._batch_size(n_train)
    frame = subset(n_pmi)
    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm-up: torch kernels, allocator, lazy imports
        _pmi_speed_estimator(spec, batch, 1, args.device, args.fast).fit(frame)
        for e in epochs:
            est = _pmi_speed_estimator(spec, batch, e, args.device, args.fast)
            t0 = time.perf_counter()
            est.fit(frame)
            times[e] = time.perf_counter() - t0
        t0 = time.perf_counter()
        est.transform(frame)
        t_transform = time.perf_counter() - t0
    hidden = est._hidden()
    n_in = next(m for m in est.module_.modules()
                if isinstance(m, torch.nn.Linear)).in_features
    per_epoch = max(times[epochs[1]] - times[epochs[0]], 1e-9) / (epochs[1] - epochs[0])
    gflops = pmi_flops_per_sample_epoch(n_in, hidden, g) * n_pmi / per_epoch / 1e9
    result["pmi_steady"] = dict(
        n=n_pmi, batch_size=batch, hidden=hidden,
        fit_s={str(e): t for e, t in times.items()}, epoch_s=per_epoch,
        transform_s=t_transform, gflops=gflops,
        epoch_full_extrapolated_s=per_epoch * n_full / n_pmi)
    log(f"speed: PMI {per_epoch:.2f} s per epoch on {n_pmi} rows, "
        f"{gflops:.1f} GFLOP/s")

    # end to end at full scale, measured
    full = next((r for r in records or []
                 if r["dataset"] == dataset.name and r["method"] == "PMI"
                 and r["scenario"] == "inplace" and r["status"] == "ok"), None)
    if full is None:
        recs = run_benchmark(
            [dataset], methods=["PMI"], scenarios=["inplace"], repeats=1,
            missing_rate=args.missing_rate, time_budget=args.time_budget,
            params=FAST_PARAMS if args.fast else None, device=args.device,
            threads=args.threads, log=log)
        full = recs[0]
    result["pmi_full"] = {k: full[k] for k in (
        "n_fit", "n_genes", "r2_mean", "time_s", "n_iter", "status", "message")}
    result["dataset"] = dataset.name
    result["missing_rate"] = args.missing_rate
    result["device"] = str(args.device)
    if full["status"] == "ok":
        result.update(ratio_knn_pmi=knn_full / full["time_s"],
                      ratio_knn_pmi_last=knn_full_last / full["time_s"])
    return result, speed_text(result)


def speed_text(result):
    """The speed section of the docs, from a stored ``extra_speed`` result."""
    r = result
    n_full, g = r["n_samples"], r["n_genes"]
    knn_full, knn_last = r["knn_full_extrapolated_s"], r["knn_full_extrapolated_last_s"]
    steady, full = r["pmi_steady"], r["pmi_full"]
    peak, gflops = r["matmul_gflops"], steady["gflops"]
    lines = [
        f"Data: {r['dataset']} ({n_full:,} x {g:,}), {r['missing_rate']:.0%} MCAR; "
        f"{r['threads']} thread(s), device {r['device']}.",
        "KNNImputer (k=5, + one-hot covariates), measured: "
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
        f"{steady['batch_size']}, {steady['n']:,} rows, fits of "
        + " and ".join(f"{e} epochs" for e in steady["fit_s"])
        + f" differenced): {steady['epoch_s']:.2f} s per epoch, i.e. "
        f"{steady['epoch_full_extrapolated_s']:.1f} s per epoch at {n_full:,} rows; "
        f"**{gflops:.0f} GFLOP/s** of the arithmetic done (forward, weight "
        "gradients, input gradients of all layers but the first) against a "
        f"measured fp32 torch.mm 2048x2048 rate of {peak:.0f} GFLOP/s "
        f"({gflops / peak:.0%}).")
    return _bullets(lines)


def extra_sweep(args, data_dir=None, log=print, dataset=None,
                rates=(0.1, 0.3, 0.5, 0.7, 0.9), methods=("PMI", "KNN-5",
                                                          "Tissue median")):
    """In-place R² for missing rates 10%..90% on gtex_scira_tf467."""
    dataset = dataset or DATASETS["gtex_scira_tf467"](data_dir)
    params = FAST_PARAMS if args.fast else None
    table = {}
    for rate in rates:
        recs = run_benchmark([dataset], methods=list(methods), scenarios=["inplace"],
                             repeats=1, missing_rate=rate,
                             time_budget=args.time_budget, params=params,
                             device=args.device, threads=args.threads, log=log)
        for r in recs:
            table.setdefault(r["method"], {})[rate] = r["r2_mean"]
    header = ["Method"] + [f"{r:.0%}" for r in rates]
    body = [[m] + [("%.3f" % v) if v is not None else "--"
                   for v in (table[m].get(r) for r in rates)] for m in methods]
    text = (f"In-place per-gene R² on {dataset.name} versus the fraction of "
            "entries hidden (MCAR, seed 0, one repeat).\n\n"
            + _rst_simple_table(header, body))
    return {m: {str(k): v for k, v in d.items()} for m, d in table.items()}, text


def _fit_pmi_full(dataset, args, seed=0):
    """PMI fitted in place on the dataset with 50% MCAR (for c and d)."""
    X = dataset.genes.to_numpy()
    X_miss, mask = simulate_missing(X, args.missing_rate, random_state=seed)
    est = PMIImputer(covariates=dataset.covariate_spec, device=args.device,
                     random_state=seed)
    if args.fast:
        est.set_params(**FAST_PARAMS["PMI"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = est.fit_transform(_frame(X_miss, dataset, np.arange(len(X)), False))
    return est, X, out, mask


_PMI_CACHE = {}


def _pmi_acmg(args, data_dir, dataset, log):
    key = id(dataset) if dataset is not None else "acmg"
    if key not in _PMI_CACHE:
        dataset = dataset or DATASETS["gtex_v8_acmg59"](data_dir)
        log("fitting PMI in place on gtex_v8_acmg59 (seed 0)")
        _PMI_CACHE[key] = (dataset,) + _fit_pmi_full(dataset, args)
    return _PMI_CACHE[key]


def extra_per_tissue(args, data_dir=None, log=print, dataset=None):
    """Per-tissue R² distribution of PMI (in place) on gtex_v8_acmg59."""
    dataset, est, X, out, mask = _pmi_acmg(args, data_dir, dataset, log)
    tissue = dataset.covariates["tissue"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = masked_r2_score(X, np.asarray(out, float), mask, groups=tissue)
    vals = np.array([v for v in scores.values() if np.isfinite(v)])
    q = np.percentile(vals, [0, 25, 50, 75, 100])
    order = sorted(scores, key=lambda k: scores[k])
    text = _bullets([
        f"PMI in place ({args.missing_rate:.0%} MCAR, seed 0), per-gene R² "
        f"averaged within each of {len(scores)} tissues: min {q[0]:.3f}, "
        f"quartiles {q[1]:.3f} / {q[2]:.3f} / {q[3]:.3f}, max {q[4]:.3f}.",
        "Worst tissues: " + ", ".join(f"{t} {scores[t]:.3f}" for t in order[:3]),
        "Best tissues: " + ", ".join(f"{t} {scores[t]:.3f}" for t in order[-3:]),
    ])
    return {k: float(v) for k, v in scores.items()}, text


def extra_embeddings(args, data_dir=None, log=print, dataset=None, output_dir=None):
    """Do brain tissues have brain nearest neighbours in the learned embedding?"""
    dataset, est, *_ = _pmi_acmg(args, data_dir, dataset, log)
    weight = est.module_.embeddings.tables[0].weight.detach().numpy()[1:]
    names = np.asarray(est.categories_[0], dtype=str)
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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        centred = weight - weight.mean(axis=0)
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
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
        out_dir = output_dir or args.output_dir
        os.makedirs(out_dir, exist_ok=True)
        png = os.path.join(out_dir, "tissue_embeddings.png")
        fig.savefig(png, dpi=120)
        plt.close(fig)
        result["plot"] = png
        lines.append(f"PCA plot: {png}.")
    except ImportError:
        lines.append("matplotlib is not installed: no plot.")
    return result, _bullets(lines)


def extra_cross_study(args, data_dir=None, log=print, gtex=None, tcga=None):
    """Train PMI on GTEx Whole Blood, impute masked TCGA LAML (cross-study)."""
    from .datasets import align_to_genes

    gtex = gtex or DATASETS["gtex_v8_acmg59"](data_dir)
    tcga = tcga or DATASETS["tcga_laml_seamless20"](data_dir)
    blood = np.flatnonzero(gtex.covariates["tissue"].to_numpy() == "Whole Blood")
    genes_ref = list(gtex.genes.columns)
    aligned, report = align_to_genes(tcga.genes, reference_genes=genes_ref)
    matched = ~aligned.isna().all(axis=0).to_numpy()
    Xg = gtex.genes.to_numpy()[blood][:, matched]
    Xt = aligned.to_numpy()[:, matched]
    result = dict(n_gtex_blood=int(len(blood)), n_tcga=int(len(Xt)),
                  n_matched=int(matched.sum()))
    lines = [f"PMI (no covariate but tissue, all 'Whole Blood') trained on the "
             f"{len(blood)} GTEx v8 Whole Blood samples, log1p(counts); "
             f"{int(matched.sum())} of {len(genes_ref)} genes matched in TCGA LAML "
             f"by Ensembl id without version; {len(Xt)} TCGA samples, "
             f"{args.missing_rate:.0%} of their entries masked (seeds 0-2)."]
    spec = [("tissue", "categorical", ["tissue"])]
    for label, standardize in (("log1p", False), ("per-gene z-score", True)):
        scores, base = [], []
        for seed in range(3):
            _, hide = simulate_missing(Xt, args.missing_rate, random_state=seed)
            if standardize:
                # each study standardized with its own per-gene mean/sd (TCGA:
                # from its observed entries only), so that library size and
                # platform offsets do not count as errors
                zg = (Xg - Xg.mean(0)) / Xg.std(0).clip(1e-6)
                seen = np.where(hide, np.nan, Xt)
                mu, sd = np.nanmean(seen, 0), np.nanstd(seen, 0).clip(1e-6)
                zt = (Xt - mu) / sd
            else:
                zg, zt = Xg, Xt
            est = PMIImputer(covariates=spec, device=args.device, random_state=seed)
            if args.fast:
                est.set_params(**FAST_PARAMS["PMI"])
            tis_g = pd.DataFrame({"tissue": ["Whole Blood"] * len(zg)})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(pd.concat([pd.DataFrame(zg), tis_g], axis=1)
                        .set_axis([*map(str, range(zg.shape[1])), "tissue"], axis=1))
                mask = hide
                Xm = np.where(mask, np.nan, zt)
                tis_t = pd.DataFrame({"tissue": ["Whole Blood"] * len(zt)})
                frame = pd.concat([pd.DataFrame(Xm), tis_t], axis=1).set_axis(
                    [*map(str, range(zt.shape[1])), "tissue"], axis=1)
                out = np.asarray(est.transform(frame), float)
                scores.append(masked_r2_score(zt, out, mask))
                # reference: each masked entry = mean of the observed TCGA entries
                col_mean = np.nanmean(Xm, axis=0)
                base.append(masked_r2_score(zt, np.where(mask, col_mean, zt), mask))
        result[label] = dict(r2=scores, r2_mean=float(np.mean(scores)),
                             column_mean_r2=float(np.mean(base)))
        lines.append(f"{label}: R² {np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}"
                     f" (TCGA observed-column mean: {np.mean(base):.3f}).")
    lines.append("With 20 samples the R² of one gene rests on ~10 masked values: "
                 "a sanity check, not a benchmark.")
    return result, _bullets(lines)


EXTRA_FUNCTIONS.update({
    "speed": extra_speed,
    "sweep": extra_sweep,
    "per-tissue": extra_per_tissue,
    "embeddings": extra_embeddings,
    "cross-study": extra_cross_study,
})

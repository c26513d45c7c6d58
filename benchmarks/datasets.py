"""The benchmark's data sets: loaders of our private ``.npz`` sets, synthetic ones.

Each ``load_<name>(data_dir)`` reads the folder ``<name>`` of ``data_dir``
(``--data-dir``, else ``$SKIMPUTE_GTEX_DATA``, else ``../shared/data`` if it
exists: :func:`default_data_dir`) and returns a :class:`~sklearn.utils.Bunch`:

``name``
    The data set's name.
``genes``
    DataFrame of float64, samples x genes, on the scale the imputers get.
``covariates``
    DataFrame, one column per covariate, rows as ``genes``.
``covariate_spec``
    The imputers' ``covariates=`` spec for those columns.
``donors``
    Donor id of each sample (object array), or None.
``notes``
    List of str: how the set was prepared (stored with every result file).

:data:`DATASETS` maps every name to its loader. The GTEx age brackets are
parsed by :func:`skimpute_gtex.datasets.parse_gtex_age` and the synthetic sets
come from :func:`skimpute_gtex.datasets.make_gtex_like`: the package's
loaders, where it has one.
"""

import os

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from skimpute_gtex.datasets import make_gtex_like, parse_gtex_age

DATA_ENV = "SKIMPUTE_GTEX_DATA"

#: wide sets are benchmarked on their most variable genes, as in issue 11
TOP_GENES = 500


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


def _npz(path, name):
    return np.load(os.path.join(path, name), allow_pickle=True)


def _dataset(name, genes, covariates, spec, donors=None, notes=()):
    return Bunch(
        name=name,
        genes=genes.astype(np.float64),
        covariates=covariates,
        covariate_spec=spec,
        donors=None if donors is None else np.asarray(donors, dtype=object),
        notes=list(notes),
    )


def _categorical(*names):
    return [(n, "categorical", [n]) for n in names]


def top_variance(genes, n_top=TOP_GENES):
    """The ``n_top`` columns of highest variance, in their original order."""
    if genes.shape[1] <= n_top:
        return genes
    order = np.argsort(-genes.var(axis=0).to_numpy(), kind="stable")[:n_top]
    return genes.iloc[:, np.sort(order)]


def load_gtex_scira_tf467(data_dir):
    """GTEx, 26 tissues x 20 samples, 467 TFs; already log scale."""
    path = _need_dir(data_dir, "gtex_scira_tf467")
    d = _npz(path, "gtex_scira_tf467.npz")
    meta = pd.read_csv(os.path.join(path, "samples.csv"))
    genes = pd.DataFrame(d["X"], columns=[f"ENTREZ{g}" for g in d["entrez_ids"]])
    cov = pd.DataFrame({"tissue": meta["tissue"].astype(str).to_numpy()})
    return _dataset("gtex_scira_tf467", genes, cov, _categorical("tissue"),
                    notes=["no donor ids: inductive split is a random 80/20"])


def load_gtex_v8_acmg59(data_dir):
    """GTEx v8, all 17,382 samples, 59 ACMG genes; log1p(read counts)."""
    path = _need_dir(data_dir, "gtex_v8_acmg59")
    d = _npz(path, "gtex_v8_acmg59.npz")
    meta = pd.read_csv(os.path.join(path, "samples.csv.gz"))
    if not (meta["SAMPID"].to_numpy() == d["sample_ids"]).all():
        meta = meta.set_index("SAMPID").loc[d["sample_ids"]].reset_index()
    genes = pd.DataFrame(
        np.log1p(d["X"].astype(np.float64)), columns=[str(g) for g in d["gene_ids"]]
    )
    age = parse_gtex_age(meta["AGE"])
    notes = ["expression is log1p(read counts); AGE bracket -> midpoint "
             "(60-69 -> 65 years)"]
    if np.isnan(age).any():
        notes.append(f"{int(np.isnan(age).sum())} missing ages -> median")
        age = np.where(np.isnan(age), np.nanmedian(age), age)
    # the Hardy scale as its codes ("0".."4", "NA"), not load_gtex's names: the
    # category order sets the embedding rows, so names would change the results
    hardy = meta["DTHHRDY"].map(lambda v: "NA" if pd.isna(v) else str(int(v)))
    cov = pd.DataFrame({
        "tissue": meta["SMTSD"].astype(str).to_numpy(),
        "sex": meta["SEX"].astype(str).to_numpy(),
        "age": age,
        "hardy": hardy.to_numpy(),
    })
    spec = [*_categorical("tissue", "sex"), ("age", "numerical", ["age"]),
            *_categorical("hardy")]
    notes.append("Hardy scale NA (111 samples) is its own category")
    return _dataset("gtex_v8_acmg59", genes, cov, spec,
                    donors=meta["SUBJID"].astype(str).to_numpy(), notes=notes)


def load_microarray_all_leukemia(data_dir):
    """ALL leukemia, 128 x 12,625 Affymetrix probes, log2 RMA."""
    path = _need_dir(data_dir, "microarray_all_leukemia")
    d = _npz(path, "ALL.npz")
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
    spec = [*_categorical("BT", "sex"), ("age", "numerical", ["age"])]
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
    d = _npz(path, "tcga_laml_seamless20.npz")
    meta = pd.read_csv(os.path.join(path, "samples.csv"))
    genes = pd.DataFrame(
        np.log1p(d["X"].astype(np.float64)), columns=[str(g) for g in d["gene_ids"]]
    )
    cov = pd.DataFrame({"sex": meta["gender"].astype(str).to_numpy()})
    return _dataset("tcga_laml_seamless20", genes, cov, _categorical("sex"),
                    notes=["20 samples: too small to train on; cross-study only"])


def load_microarray_all_leukemia_top500(data_dir):
    """ALL leukemia restricted to its 500 most variable probes."""
    d = load_microarray_all_leukemia(data_dir)
    d.genes = top_variance(d.genes)
    d.name = "microarray_all_leukemia_top500"
    d.notes.append(f"the {TOP_GENES} probes of highest variance (all 128 samples)")
    return d


def load_microarray_bladder_batch(data_dir):
    """Bladder cancer, 57 x 1,000 HG-U133A probes (log2 RMA), 5 batches."""
    path = _need_dir(data_dir, "microarray_bladder_batch")
    d = _npz(path, "microarray_bladder_batch.npz")
    meta = pd.read_csv(os.path.join(path, "samples.csv"), dtype=str)
    genes = top_variance(pd.DataFrame(d["X"], columns=[str(g) for g in d["gene_ids"]]))
    cov = pd.DataFrame({
        "batch": meta["batch"].to_numpy(),
        "cancer": meta["cancer"].to_numpy(),
    })
    notes = [
        f"the {TOP_GENES} probes of highest variance of the 1,000 shipped",
        "covariates: processing batch (5) and cancer status (3); the tissue-median "
        "baseline groups by batch",
        "no donor ids: inductive split is a random 80/20",
    ]
    return _dataset("microarray_bladder_batch", genes, cov,
                    _categorical("batch", "cancer"), notes=notes)


def load_microarray_golub_multtest(data_dir):
    """Golub ALL/AML, 38 x 3,051 genes (per-sample z-scored log10)."""
    path = _need_dir(data_dir, "microarray_golub_multtest")
    d = _npz(path, "microarray_golub_multtest.npz")
    meta = pd.read_csv(os.path.join(path, "samples.csv"), dtype=str)
    genes = top_variance(pd.DataFrame(d["X"], columns=[str(g) for g in d["gene_ids"]]))
    cov = pd.DataFrame({"class": meta["class"].to_numpy()})
    notes = [
        f"the {TOP_GENES} genes of highest variance of the 3,051 shipped",
        "covariate: ALL/AML class",
        "no donor ids: inductive split is a random 80/20",
    ]
    return _dataset("microarray_golub_multtest", genes, cov,
                    _categorical("class"), notes=notes)


def load_tcga_laml_seamless20_top500(data_dir):
    """TCGA LAML restricted to its 500 most variable genes (log1p counts)."""
    d = load_tcga_laml_seamless20(data_dir)
    d.genes = top_variance(d.genes)
    d.name = "tcga_laml_seamless20_top500"
    d.notes = [f"log1p(counts); the {TOP_GENES} genes of highest variance",
               "no donor ids: inductive split is a random 80/20 (16 / 4 samples)"]
    return d


def _synthetic(name, n_samples, n_genes, n_tissues, dtype=np.float64):
    """A loader of ``make_gtex_like`` data (``data_dir`` is not read)."""

    def load(data_dir=None):
        data = make_gtex_like(n_samples, n_genes, n_tissues=n_tissues, random_state=0)
        return Bunch(
            name=name, genes=data.expression.astype(dtype),
            covariates=data.covariates[["tissue", "sex", "age"]],
            covariate_spec=data.covariate_spec,
            donors=data.covariates["donor"].to_numpy(dtype=object),
            notes=[f"make_gtex_like({n_samples}, {n_genes}, n_tissues={n_tissues}, "
                   "random_state=0)"],
        )

    load.__name__ = f"load_{name}"
    return load


load_synthetic_pathway = _synthetic("synthetic_pathway", 2000, 273, 10)
load_synthetic_gtex_scale = _synthetic("synthetic_gtex_scale", 15201, 12557, 49,
                                       dtype=np.float32)

#: name -> loader(data_dir) returning a Bunch (see the module docstring)
DATASETS = {
    "gtex_scira_tf467": load_gtex_scira_tf467,
    "gtex_v8_acmg59": load_gtex_v8_acmg59,
    "microarray_all_leukemia": load_microarray_all_leukemia,
    "tcga_laml_seamless20": load_tcga_laml_seamless20,
    "microarray_all_leukemia_top500": load_microarray_all_leukemia_top500,
    "microarray_bladder_batch": load_microarray_bladder_batch,
    "microarray_golub_multtest": load_microarray_golub_multtest,
    "tcga_laml_seamless20_top500": load_tcga_laml_seamless20_top500,
    "synthetic_pathway": load_synthetic_pathway,
    "synthetic_gtex_scale": load_synthetic_gtex_scale,
}
#: data sets that are not benchmarked by default
HUGE_DATASETS = {"synthetic_gtex_scale"}
CROSS_STUDY_ONLY = {"tcga_laml_seamless20"}
DEFAULT_DATASETS = ("gtex_scira_tf467", "gtex_v8_acmg59", "microarray_all_leukemia")


def load(name, data_dir=None):
    """The data set ``name`` of :data:`DATASETS`, read from ``data_dir``."""
    return DATASETS[name](data_dir)

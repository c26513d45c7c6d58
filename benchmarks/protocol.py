"""One run of the protocol: the split, the mask, the fit and the scores.

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
test rows are few. ``time_s`` is the wall time of ``fit`` + ``transform`` (or
``fit_transform``) only; ``peak_mem_mb`` the growth of the process's peak
resident set size over its size when the run started.
"""

import time
import warnings

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from skimpute_gtex.datasets import simulate_missing
from skimpute_gtex.metrics import masked_r2_score
from skimpute_gtex.model_selection import gtex_donor_split

from .machine import maxrss_mb, rss_mb

SCENARIOS = ("inplace", "inductive")


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


def frame(genes, dataset, rows, with_donor=False):
    """The imputers' input: ``genes`` (of ``rows``) beside their covariates."""
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
    rss0 = rss_mb()
    t0 = time.perf_counter()
    if run.train is None:
        out = estimator.fit_transform(frame(run.X_miss, dataset, run.test, with_donor))
    else:
        estimator.fit(frame(dataset.genes.to_numpy()[run.train], dataset,
                            run.train, with_donor))
        out = estimator.transform(frame(run.X_miss, dataset, run.test, with_donor))
    elapsed = time.perf_counter() - t0
    peak = max(0.0, maxrss_mb() - rss0)
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

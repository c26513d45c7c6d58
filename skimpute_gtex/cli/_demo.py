"""The ``demo`` command: PMI, KNN and the tissue median on synthetic data."""

import sys
import time

import numpy as np
import pandas as pd

from ._commands import FAST_PARAMS, _progress
from ._io import CLIError


def _methods(spec, *, device, random_state, verbose, fast):
    from sklearn.impute import KNNImputer

    from .. import PMIImputer
    from ..baselines import CovariateImputer, TissueMedianImputer

    pmi = PMIImputer(covariates=spec, device=device, random_state=random_state,
                     verbose=verbose)
    if fast:
        pmi.set_params(**FAST_PARAMS)
    return {
        "PMIImputer": pmi,
        "KNNImputer (+ one-hot covariates)":
            CovariateImputer(KNNImputer(), covariates=spec),
        "TissueMedianImputer": TissueMedianImputer(covariates=spec),
    }


def _inductive(imputer, data, X, missing_rate, random_state):
    """Fit on the complete samples of training donors, impute masked others.

    Returns the mean per-gene R² of the hidden entries and the seconds of
    fit + transform.
    """
    from sklearn.base import clone

    from ..datasets import simulate_missing
    from ..metrics import masked_r2_score
    from ..model_selection import gtex_donor_split

    train, val, test = gtex_donor_split(data.covariates["donor"].to_numpy())
    fit_rows = np.sort(np.concatenate([train, val]))
    genes = data.expression.to_numpy(dtype=np.float64)
    hidden, mask = simulate_missing(genes[test], missing_rate,
                                    random_state=random_state)
    X_test = pd.concat(
        [pd.DataFrame(hidden, columns=data.expression.columns),
         X.iloc[test, genes.shape[1]:].reset_index(drop=True)], axis=1)
    est = clone(imputer)
    start = time.perf_counter()
    est.fit(X.iloc[fit_rows])
    out = np.asarray(est.transform(X_test), dtype=np.float64)
    elapsed = time.perf_counter() - start
    return masked_r2_score(genes[test], out[:, :genes.shape[1]], mask), elapsed


def run_demo(*, n_samples=2000, n_genes=500, n_tissues=10, missing_rate=0.5,
             random_state=0, device="cpu", fast=False, out=None, verbose=1):
    """The ``demo`` subcommand as a function; returns the result rows."""
    from ..datasets import make_gtex_like
    from ..model_selection import compare_imputers

    out = out or sys.stdout
    data = make_gtex_like(n_samples, n_genes, n_tissues=n_tissues,
                          random_state=random_state)
    spec = data.covariate_spec
    X = pd.concat([data.expression, data.covariates[["tissue", "sex", "age"]]],
                  axis=1)
    methods = _methods(spec, device=device, random_state=random_state,
                       verbose=verbose, fast=fast)
    print(f"make_gtex_like: {n_samples} samples x {n_genes} genes, {n_tissues} "
          f"tissues; {missing_rate:.0%} of the entries hidden at random "
          f"(seed {random_state})", file=out)
    print("inplace: fit_transform on the masked matrix; inductive: fit on the "
          "complete samples of training donors, impute masked samples of other "
          "donors", file=out, flush=True)
    rows = []
    for scenario in ("inplace", "inductive"):
        for name, imputer in methods.items():
            if verbose:
                print(f"{scenario}: {name} ...", file=sys.stderr, flush=True)
            with _progress(verbose):
                if scenario == "inplace":
                    res = compare_imputers(
                        {name: imputer}, X, covariates=spec, n_repeats=1,
                        missing_rate=missing_rate, random_state=random_state)
                    r2, seconds = res.loc[name, "mean_r2"], res.loc[name, "mean_time"]
                else:
                    r2, seconds = _inductive(imputer, data, X, missing_rate,
                                             random_state)
            rows.append(dict(method=name, scenario=scenario, r2_mean=float(r2),
                             time_s=float(seconds)))
    _print_rows(rows, out, fast)
    return rows


def _print_rows(rows, out, fast):
    width = max(len(r["method"]) for r in rows)
    print(f"\n{'method':<{width}}  {'scenario':<9}  {'R2 (per gene)':>13}  "
          f"{'time (s)':>8}", file=out)
    for r in rows:
        print(f"{r['method']:<{width}}  {r['scenario']:<9}  {r['r2_mean']:>13.3f}  "
              f"{r['time_s']:>8.1f}", file=out)
    print("\nR2: mean over genes of the R2 on the hidden entries; time: fit + "
          "transform.", file=out)
    if fast:
        print("--fast: a tiny network trained for 3 epochs, to check that the "
              "command runs; its R2 values say nothing about the methods.",
              file=out)


def cmd_demo(args):
    if min(args.n_samples, args.n_genes) < 2 or args.n_samples < 20:
        raise CLIError("--n-samples must be >= 20 and --n-genes >= 2.")
    run_demo(n_samples=args.n_samples, n_genes=args.n_genes,
             n_tissues=args.n_tissues, missing_rate=args.missing_rate,
             random_state=args.random_state, device=args.device, fast=args.fast,
             verbose=0 if args.quiet else 1)
    return 0

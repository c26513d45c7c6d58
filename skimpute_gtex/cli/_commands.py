"""The ``fit``, ``impute`` and ``compare`` commands."""

import os
import sys
import warnings
from contextlib import contextmanager, redirect_stdout

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._inputs import _join, _load_input
from ._io import CLIError, _check_output, _kind, _write_h5ad, _write_matrix

#: ``--fast`` (demo, compare) and the benchmark harness's smoke tests: a tiny
#: network trained for 3 epochs, to check that a command runs; the one place
#: these settings live (``benchmarks/registry.py`` reads them from here)
FAST_PARAMS = dict(hidden_layer_sizes=(16,), max_iter=3, early_stopping=False)


def _progress(verbose):
    """The estimators print progress on stdout: send it to stderr instead."""
    return redirect_stdout(sys.stderr)


@contextmanager
def _threads(threads):
    """At most ``threads`` CPU threads (OpenMP: torch; BLAS) for the command.

    threadpoolctl's limits, restored afterwards. The deep imputers'
    ``n_jobs=None`` starts from this count and may use fewer.
    """
    if threads is None:
        yield
        return
    if threads < 1:
        raise CLIError("--threads must be >= 1.")
    from .._torch._threads import limit_threads

    with limit_threads(threads):
        yield


# --------------------------------------------------------------- commands
#: the training options (dest, option, default); their parser default is None,
#: so that ``impute --model-file`` can tell which ones were given
_TRAINING_OPTIONS = (("model", "--model", "pmi"), ("max_iter", "--max-iter", 500),
                     ("hidden_layer_sizes", "--hidden-layer-sizes", None),
                     ("batch_size", "--batch-size", None),
                     ("device", "--device", "auto"),
                     ("random_state", "--random-state", 0),
                     ("calibration", "--calibration", False),
                     ("categorical", "--categorical", None),
                     ("numerical", "--numerical", None))


def _option(args, dest):
    value = getattr(args, dest)
    if value is None:
        return next(d for k, _, d in _TRAINING_OPTIONS if k == dest)
    return value


def _make_model(args, spec):
    from .. import GAINImputer, PMIImputer

    cls = PMIImputer if _option(args, "model") == "pmi" else GAINImputer
    params = dict(covariates=spec, max_iter=_option(args, "max_iter"),
                  device=_option(args, "device"),
                  random_state=_option(args, "random_state"), verbose=args.verbose,
                  # impute --interval needs the calibration of the fit
                  calibration=bool(_option(args, "calibration")
                                   or getattr(args, "interval", None) is not None))
    if args.hidden_layer_sizes:
        params["hidden_layer_sizes"] = tuple(args.hidden_layer_sizes)
    if args.batch_size:
        params["batch_size"] = args.batch_size
    return cls(**params)


def cmd_fit(args):
    import joblib

    matrix, cov, spec = _load_input(args)
    X = matrix if cov is None else _join(matrix, cov)
    model = _make_model(args, spec)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise CLIError(f"{args.output}: directory {out_dir} does not exist.")
    with _progress(args.verbose):
        model.fit(X)
    joblib.dump(model, args.output)
    print(f"fitted {type(model).__name__} on {matrix.shape[0]} samples x "
          f"{matrix.shape[1]} genes{_with_covariates(spec)} ({model.n_iter_} "
          f"epochs); saved {args.output}", file=sys.stderr)
    return 0


def _with_covariates(spec):
    if not spec:
        return ", no covariates"
    return ", covariates " + ", ".join(f"{name} ({kind})" for name, kind, _ in spec)


def _model_genes(model):
    names = np.asarray(model.feature_names_in_, dtype=object)
    cov = set(names[model.covariate_indices_].tolist())
    return [n for n in names if n not in cov]


def _load_model(path):
    import joblib

    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file.")
    try:
        model = joblib.load(path)
    except (ImportError, AttributeError) as exc:  # a class that moved or is gone
        raise CLIError(f"{path}: cannot load the model: saved with another version "
                       f"of skimpute_gtex or its dependencies? ({exc})") from None
    except Exception:  # any other unpickling failure: not a joblib file at all
        raise CLIError(f"{path}: not a saved model: joblib cannot read it (a model "
                       "file is what 'skimpute-gtex fit -o FILE' writes).") from None
    if not hasattr(model, "feature_names_in_"):
        raise CLIError(f"{path}: not a saved model: it holds a "
                       f"{type(model).__name__}, not an imputer written by "
                       "'skimpute-gtex fit'.")
    return model


def _impute_with_model(args):
    """``(model, study, covariates, X, imputed)`` with the saved ``--model-file``."""
    given = [opt for dest, opt, _ in _TRAINING_OPTIONS
             if getattr(args, dest) is not None]
    if given:
        raise CLIError(
            f"{' '.join(given)}: training option(s) that a saved model "
            "(--model-file) does not use: it imputes as it was fitted, with "
            "its own covariates. Drop them, or fit a new model with them.")
    model = _load_model(args.model_file)
    matrix, cov, _ = _load_input(args, spec_from=model.covariates or [])
    study = _align_study(matrix, _model_genes(model), args.input)
    X = study.genes if cov is None else _join(study.genes, cov)
    if args.interval is not None and not getattr(model, "calibration", False):
        raise CLIError(
            f"--interval: {args.model_file} was fitted without calibration; "
            "fit it with 'skimpute-gtex fit --calibration' to get intervals.")
    if args.verbose:
        model.set_params(verbose=args.verbose)
    with _progress(args.verbose):
        return model, study, cov, X, model.transform(X)


def _align_study(matrix, genes, path):
    """The study's genes matched by name to the model's ``genes``.

    Ensembl ids match without their version suffix. Returns a Bunch:
    ``genes``, samples x the model's genes (in its order and named as it
    names them; all NaN where the study lacks the gene, in the study's float
    dtype); ``names``, model gene -> the study's own id for it; ``extra``, the
    study's genes that the model does not know, as read; ``n_absent``, the
    number of model genes the study lacks, and ``same_genes``, whether it
    lacks none.
    """
    from ..datasets import align_to_genes
    from ..datasets._align import _preview, _strip_version

    keys = {_strip_version(g) for g in genes}
    if not any(_strip_version(g) in keys for g in matrix.columns):
        raise CLIError(
            f"{path}: no gene in common with the model: none of its "
            f"{matrix.shape[1]} gene columns (first: {list(matrix.columns[:3])}) "
            f"is one of the model's {len(genes)} genes (first: {genes[:3]}), "
            "Ensembl versions ignored. Are both Ensembl ids (not symbols)? Is "
            "the matrix oriented right (--genes-as-rows)?")
    try:
        aligned, report = align_to_genes(matrix, reference_genes=genes)
    except ValueError as exc:  # ids duplicated once versions are ignored
        raise CLIError(f"{path}: {exc}") from None
    aligned = aligned.astype(np.result_type(*set(matrix.dtypes)))
    unknown = set(report.extra_genes)
    if unknown:
        warnings.warn(f"{len(unknown)} gene(s) of {path} unknown to the model, "
                      "passed through as read: "
                      f"{_preview(report.extra_genes, 5)}", UserWarning)
    return Bunch(
        genes=aligned,
        names={g: s for g, s in zip(genes, report.source_genes) if s is not None},
        extra=matrix.loc[:, [str(c) in unknown for c in matrix.columns]],
        n_absent=len(report.missing_genes),
        same_genes=not report.missing_genes,
    )


def _study_as_is(matrix):
    """``_align_study``'s Bunch for a matrix imputed in place."""
    return Bunch(genes=matrix, names={}, extra=matrix.iloc[:, :0], n_absent=0,
                 same_genes=True)


def interval_paths(output):
    """Where ``impute --interval`` writes the bounds: beside ``output``.

    ``imputed.csv`` -> ``imputed.lower.csv`` and ``imputed.upper.csv``.
    """
    root, ext = os.path.splitext(output)
    return f"{root}.lower{ext}", f"{root}.upper{ext}"


def _write_result(out, model, args, study, cov, path):
    """Write ``out``: the study's ids for the model's genes, then its others."""
    columns = [study.names.get(c, c) for c in model.get_feature_names_out()]
    result = pd.DataFrame(np.asarray(out), index=study.genes.index,
                          columns=columns)
    observed = study.genes.rename(columns=study.names)
    if study.extra.shape[1]:
        result = pd.concat([result, study.extra], axis=1)
        observed = pd.concat([observed, study.extra], axis=1)
    if _kind(path) == "h5ad":  # keeps the input's float dtype
        _write_h5ad(result, path, args=args, matrix=observed, cov=cov,
                    same_genes=study.same_genes)
    else:
        if model.covariate_output == "drop":
            result = result.astype(np.float64)
        _write_matrix(result, path, genes_as_rows=args.genes_as_rows,
                      index=not args.no_index)


def cmd_impute(args):
    if args.align:
        warnings.warn("--align has no effect and will be removed: impute "
                      "--model-file always aligns the study's genes to the "
                      "model's now. Drop it.", FutureWarning)
    _check_output(args.output)
    if args.interval is not None:
        if not 0 < args.interval < 1:
            raise CLIError(f"--interval must be in (0, 1), e.g. 0.9; got "
                           f"{args.interval}.")
        for path in interval_paths(args.output):
            _check_output(path)
    if args.model_file:
        model, study, cov, X, out = _impute_with_model(args)
    else:
        matrix, cov, spec = _load_input(args)
        study = _study_as_is(matrix)
        X = matrix if cov is None else _join(matrix, cov)
        model = _make_model(args, spec)
        with _progress(args.verbose):
            out = model.fit_transform(X)
    _write_result(out, model, args, study, cov, args.output)
    written = args.output
    if args.interval is not None:
        bounds = model.transform_interval(X, coverage=args.interval)
        for bound, path in zip(bounds, interval_paths(args.output)):
            _write_result(bound, model, args, study, cov, path)
        written += (" and the {:.0%} interval bounds {} and {}"
                    .format(args.interval, *interval_paths(args.output)))
    matrix = study.genes
    if study.n_absent:
        print(f"imputed {study.n_absent} of {matrix.shape[1]} model genes "
              f"entirely (not in {args.input})", file=sys.stderr)
    n_missing = int(matrix.isna().to_numpy().sum())
    print(f"imputed {n_missing} missing values in {matrix.shape[0]} samples x "
          f"{matrix.shape[1]} genes{_with_covariates(model.covariates)}; wrote "
          f"{written}", file=sys.stderr)
    return 0


#: the imputers that ``compare --methods`` names
COMPARE_METHODS = ("pmi", "gain", "knn", "softimpute", "median")


def _compare_candidates(names, spec, args):
    """``{name: unfitted imputer}`` for ``compare``, all with the same covariates."""
    from sklearn.impute import KNNImputer

    from .. import GAINImputer, PMIImputer
    from ..baselines import CovariateImputer, SoftImputeImputer, TissueMedianImputer

    deep = dict(covariates=spec, device=args.device, random_state=args.random_state,
                verbose=args.verbose, **(FAST_PARAMS if args.fast else {}))
    group = next((n for n, kind, _ in spec or [] if kind == "categorical"), None)
    make = {
        "pmi": lambda: PMIImputer(**deep),
        "gain": lambda: GAINImputer(**deep),
        "knn": lambda: CovariateImputer(KNNImputer(), covariates=spec),
        "softimpute": lambda: SoftImputeImputer(covariates=spec,
                                                random_state=args.random_state),
        # grouped by the first categorical covariate (usually the tissue)
        "median": lambda: TissueMedianImputer(covariates=spec, group=group),
    }
    return {name: make[name]() for name in dict.fromkeys(names)}


def cmd_compare(args):
    from ..model_selection import compare_imputers

    if args.output:
        _check_table_output(args.output)
    matrix, cov, spec = _load_input(args)
    X = matrix if cov is None else _join(matrix, cov)
    imputers = _compare_candidates(args.methods, spec, args)
    print(f"{matrix.shape[0]} samples x {matrix.shape[1]} genes"
          f"{_with_covariates(spec)}; {args.missing_rate:.0%} of the observed "
          f"entries hidden at random, {args.repeats} repeat(s) (seed "
          f"{args.random_state})", file=sys.stderr, flush=True)
    with _progress(args.verbose):
        results = compare_imputers(imputers, X, covariates=spec,
                                   missing_rate=args.missing_rate,
                                   n_repeats=args.repeats,
                                   random_state=args.random_state)
    _print_comparison(results)
    if args.output:
        results.rename_axis("imputer").to_csv(
            args.output, sep="\t" if _kind(args.output) == "tsv" else ",")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _check_table_output(path):
    if _kind(path) not in ("csv", "tsv"):
        raise CLIError(f"{path}: the results table must be .csv or .tsv.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"{path}: directory {directory} does not exist.")


def _print_comparison(results):
    width = max(len("imputer"), *(len(n) for n in results.index))
    print(f"{'imputer':<{width}}  {'R2 (mean ± sd)':>15}  {'time (s)':>8}")
    for name, row in results.iterrows():
        sd = "" if np.isnan(row["std_r2"]) else f" ± {row['std_r2']:.3f}"
        print(f"{name:<{width}}  {row['mean_r2']:.3f}{sd:>8}  "
              f"{row['mean_time']:>8.1f}")
    print("\nR2: mean over genes of the R2 on the hidden entries, over repeats "
          "(sd: sample sd over repeats); time: fit_transform.")

"""Command line interface: ``skimpute-gtex`` (or ``python -m skimpute_gtex``).

Subcommands:

``demo``
    Compare PMIImputer, KNNImputer (with the same covariates, one-hot) and the
    tissue median on synthetic GTEx-like data, in place and inductively.
``fit``
    Fit an imputer on an expression matrix (and a covariate table) and save it
    with joblib.
``impute``
    Impute a matrix, in place (fit PMI on it) or with a saved model.
``benchmark``
    Run the benchmark harness (the options of ``benchmarks/bench_imputers.py``).

Every subcommand returns 0 on success and 2, with a one-line message on
stderr, on a user error (missing file, unknown format, unknown covariate
column, genes that do not match a saved model).
"""

import argparse
import os
import sys
from contextlib import redirect_stdout

import numpy as np
import pandas as pd

from . import __version__


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


# -------------------------------------------------------------------- input
def _kind(path):
    name = os.fspath(path).lower()
    for ext in (".gz", ".bz2", ".xz", ".zip"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    for kind, exts in (("csv", (".csv",)), ("tsv", (".tsv", ".txt", ".tab")),
                       ("parquet", (".parquet", ".pq")), ("gct", (".gct",))):
        if name.endswith(exts):
            return kind
    raise CLIError(
        f"{path}: unknown file format; use .csv, .tsv/.txt, .parquet or .gct "
        "(optionally .gz)."
    )


def _need_parquet(path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        try:
            import fastparquet  # noqa: F401
        except ImportError:
            raise CLIError(
                f"{path}: reading or writing Parquet needs pyarrow "
                "(pip install pyarrow); or use CSV/TSV."
            ) from None


def _read_table(path, *, index=True):
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file.")
    kind = _kind(path)
    try:
        if kind in ("csv", "tsv"):
            return pd.read_csv(path, sep="," if kind == "csv" else "\t",
                               index_col=0 if index else None)
        if kind == "parquet":
            _need_parquet(path)
            df = pd.read_parquet(path)
            if index and isinstance(df.index, pd.RangeIndex) and (
                df.shape[1] and not pd.api.types.is_numeric_dtype(df.dtypes.iloc[0])
            ):
                df = df.set_index(df.columns[0])
            return df
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read it as {kind.upper()}: {exc}") from None
    raise CLIError(f"{path}: a GCT file is an expression matrix, not a table.")


def read_matrix(path, *, genes_as_rows=False):
    """Samples x genes DataFrame (index: sample ids, columns: gene ids)."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file.")
    if _kind(path) == "gct":
        from .datasets import read_gct

        try:
            return read_gct(path).expression  # GCT is genes x samples on disk
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    df = _read_table(path)
    if genes_as_rows:
        df = df.T
    df.index = df.index.astype(str)
    df.columns = df.columns.astype(str)
    bad = [c for c, t in df.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if bad:
        raise CLIError(
            f"{path}: the matrix must be numeric (samples x genes, first column the "
            f"sample ids{'; genes as rows' if genes_as_rows else ''}); non-numeric "
            f"columns: {bad[:5]}{' ...' if len(bad) > 5 else ''}. Wrong orientation? "
            "See --genes-as-rows."
        )
    if df.index.duplicated().any():
        dup = df.index[df.index.duplicated()].unique().tolist()
        raise CLIError(f"{path}: duplicated sample ids: {dup[:5]}")
    return df.astype(np.float64)


def read_covariates(path, samples, *, sample_column=None, categorical=None,
                    numerical=None):
    """Covariate columns for ``samples`` and the matching ``covariates=`` spec."""
    table = _read_table(path, index=False)
    table.columns = table.columns.astype(str)
    key = sample_column or table.columns[0]
    if key not in table.columns:
        raise CLIError(f"{path}: no sample id column {key!r}; columns: "
                       f"{list(table.columns)[:10]}")
    table = table.set_index(table[key].astype(str)).drop(columns=key)
    if categorical is None and numerical is None:
        categorical = [c for c in table.columns
                       if not pd.api.types.is_numeric_dtype(table[c])]
        numerical = [c for c in table.columns if c not in categorical]
    categorical, numerical = list(categorical or []), list(numerical or [])
    unknown = [c for c in categorical + numerical if c not in table.columns]
    if unknown:
        raise CLIError(f"{path}: covariate column(s) not found: {unknown}; "
                       f"columns: {list(table.columns)[:20]}")
    missing = pd.Index(samples).difference(table.index)
    if len(missing):
        raise CLIError(
            f"{path}: {len(missing)} sample(s) of the matrix have no covariates "
            f"(first: {missing[:3].tolist()})."
        )
    cov = table.loc[list(samples), categorical + numerical].copy()
    for c in categorical:
        cov[c] = cov[c].map(lambda v: "NA" if pd.isna(v) else str(v))
    for c in numerical:
        try:
            cov[c] = cov[c].astype(float)
        except ValueError:
            raise CLIError(f"{path}: numerical covariate {c!r} is not numeric; "
                           "declare it with --categorical.") from None
        if cov[c].isna().any():
            raise CLIError(f"{path}: numerical covariate {c!r} has missing values; "
                           "fill them or declare it with --categorical.")
    spec = ([(c, "categorical", [c]) for c in categorical]
            + [(c, "numerical", [c]) for c in numerical])
    return cov, spec


def _join(matrix, cov):
    clash = set(matrix.columns) & set(cov.columns)
    if clash:
        raise CLIError(f"covariate column(s) {sorted(clash)} are also gene names.")
    return pd.concat([matrix, cov.set_axis(matrix.index)], axis=1)


def _load_input(args, spec_from=None):
    matrix = read_matrix(args.input, genes_as_rows=args.genes_as_rows)
    spec = None
    cov = None
    if spec_from is not None:  # a saved model decides the covariates
        names = [c for _, _, cols in (spec_from or [])
                 for c in ([cols] if isinstance(cols, str) else cols)]
        if names and not args.covariates:
            raise CLIError(f"the model needs the covariates {names}: pass "
                           "--covariates FILE.")
        if names:
            cat = [c for n, k, cols in spec_from if k == "categorical"
                   for c in ([cols] if isinstance(cols, str) else cols)]
            num = [c for c in names if c not in cat]
            cov, _ = read_covariates(args.covariates, matrix.index,
                                     sample_column=args.sample_column,
                                     categorical=cat, numerical=num)
    elif args.covariates:
        cov, spec = read_covariates(
            args.covariates, matrix.index, sample_column=args.sample_column,
            categorical=args.categorical, numerical=args.numerical)
    elif args.categorical or args.numerical:
        raise CLIError("--categorical/--numerical need --covariates FILE.")
    return matrix, cov, spec


def _write_matrix(df, path, *, genes_as_rows=False):
    kind = _kind(path)
    if genes_as_rows:
        df = df.T
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"{path}: directory {directory} does not exist.")
    if kind == "csv":
        df.to_csv(path)
    elif kind == "tsv":
        df.to_csv(path, sep="\t")
    elif kind == "parquet":
        _need_parquet(path)
        df.to_parquet(path)
    else:
        raise CLIError(f"{path}: output must be .csv, .tsv or .parquet.")


def _progress(verbose):
    """The estimators print progress on stdout: send it to stderr instead."""
    return redirect_stdout(sys.stderr)


def _set_threads(threads):
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


# --------------------------------------------------------------- commands
def _make_model(args, spec):
    from . import GAINImputer, PMIImputer

    cls = PMIImputer if args.model == "pmi" else GAINImputer
    params = dict(covariates=spec, max_iter=args.max_iter, device=args.device,
                  random_state=args.random_state, verbose=args.verbose)
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
    with _progress(args.verbose):
        model.fit(X)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise CLIError(f"{args.output}: directory {out_dir} does not exist.")
    joblib.dump(model, args.output)
    print(f"fitted {type(model).__name__} on {matrix.shape[0]} samples x "
          f"{matrix.shape[1]} genes ({model.n_iter_} epochs); saved {args.output}",
          file=sys.stderr)
    return 0


def _model_genes(model):
    names = np.asarray(model.feature_names_in_, dtype=object)
    cov = set(names[model.covariate_indices_].tolist())
    return [n for n in names if n not in cov]


def cmd_impute(args):
    if args.model_file:
        import joblib

        if not os.path.exists(args.model_file):
            raise CLIError(f"{args.model_file}: no such file.")
        try:
            model = joblib.load(args.model_file)
        except Exception as exc:  # any unpickling failure is a bad file
            raise CLIError(f"{args.model_file}: not a saved model: {exc}") from None
        if not hasattr(model, "feature_names_in_"):
            raise CLIError(f"{args.model_file}: not a model saved by "
                           "'skimpute-gtex fit'.")
        if args.covariates is None and (args.categorical or args.numerical):
            raise CLIError("--categorical/--numerical need --covariates FILE.")
        matrix, cov, _ = _load_input(args, spec_from=model.covariates or [])
        genes = _model_genes(model)
        if args.align:
            from .datasets import align_to_genes

            matrix, report = align_to_genes(matrix, reference_genes=genes)
            print(f"aligned: {report.n_matched}/{len(genes)} model genes found, "
                  f"{len(report.extra_genes)} extra genes dropped",
                  file=sys.stderr)
        else:
            missing = [g for g in genes if g not in set(matrix.columns)]
            extra = [g for g in matrix.columns if g not in set(genes)]
            if missing or extra:
                raise CLIError(
                    f"the genes of {args.input} do not match the model: "
                    f"{len(missing)} model gene(s) missing (first: {missing[:3]}), "
                    f"{len(extra)} unknown gene(s) (first: {extra[:3]}). "
                    "Use --align to match Ensembl ids without versions and impute "
                    "the missing genes."
                )
            matrix = matrix[genes]
        X = matrix if cov is None else _join(matrix, cov)
        if args.verbose:
            model.set_params(verbose=args.verbose)
        with _progress(args.verbose):
            out = model.transform(X)
    else:
        matrix, cov, spec = _load_input(args)
        X = matrix if cov is None else _join(matrix, cov)
        model = _make_model(args, spec)
        with _progress(args.verbose):
            out = model.fit_transform(X)
    columns = list(model.get_feature_names_out())
    result = pd.DataFrame(np.asarray(out), index=matrix.index, columns=columns)
    if model.covariate_output == "drop":
        result = result.astype(np.float64)
    _write_matrix(result, args.output, genes_as_rows=args.genes_as_rows)
    n_missing = int(matrix.isna().to_numpy().sum())
    print(f"imputed {n_missing} missing values in {matrix.shape[0]} samples x "
          f"{matrix.shape[1]} genes; wrote {args.output}", file=sys.stderr)
    return 0


def run_demo(*, n_samples=2000, n_genes=500, n_tissues=10, missing_rate=0.5,
             random_state=0, device="cpu", fast=False, out=None):
    """The ``demo`` subcommand as a function; returns the result rows."""
    from sklearn.impute import KNNImputer
    from sklearn.utils import Bunch

    from . import PMIImputer
    from ._benchmark import execute, prepare_run
    from .baselines import CovariateImputer, TissueMedianImputer
    from .datasets import make_gtex_like

    out = out or sys.stdout
    data = make_gtex_like(n_samples, n_genes, n_tissues=n_tissues,
                          random_state=random_state)
    spec = data.covariate_spec
    dataset = Bunch(name="demo", genes=data.expression,
                    covariates=data.covariates[["tissue", "sex", "age"]],
                    covariate_spec=spec,
                    donors=data.covariates["donor"].to_numpy(dtype=object))
    pmi_params = dict(covariates=spec, device=device, random_state=random_state)
    if fast:
        pmi_params.update(hidden_layer_sizes=(16,), max_iter=3, early_stopping=False)
    methods = {
        "PMIImputer": lambda: PMIImputer(**pmi_params),
        "KNNImputer (+ one-hot covariates)":
            lambda: CovariateImputer(KNNImputer(), covariates=spec),
        "TissueMedianImputer": lambda: TissueMedianImputer(covariates=spec),
    }
    print(f"make_gtex_like: {n_samples} samples x {n_genes} genes, {n_tissues} "
          f"tissues; {missing_rate:.0%} of the entries hidden at random "
          f"(seed {random_state})", file=out)
    print("inplace: fit_transform on the masked matrix; inductive: fit on the "
          "complete samples of training donors, impute masked samples of other "
          "donors", file=out, flush=True)
    rows = []
    for scenario in ("inplace", "inductive"):
        run = prepare_run(dataset, scenario, random_state, missing_rate)
        for name, make in methods.items():
            res = execute(make(), dataset, run)
            rows.append(dict(method=name, scenario=scenario, **res))
    width = max(len(r["method"]) for r in rows)
    print(f"\n{'method':<{width}}  {'scenario':<9}  {'R2 (per gene)':>13}  "
          f"{'time (s)':>8}", file=out)
    for r in rows:
        print(f"{r['method']:<{width}}  {r['scenario']:<9}  {r['r2_mean']:>13.3f}  "
              f"{r['time_s']:>8.1f}", file=out)
    print("\nR2: mean over genes of the R2 on the hidden entries; time: fit + "
          "transform.", file=out)
    return rows


def cmd_demo(args):
    if min(args.n_samples, args.n_genes) < 2 or args.n_samples < 20:
        raise CLIError("--n-samples must be >= 20 and --n-genes >= 2.")
    run_demo(n_samples=args.n_samples, n_genes=args.n_genes,
             n_tissues=args.n_tissues, missing_rate=args.missing_rate,
             random_state=args.random_state, device=args.device, fast=args.fast)
    return 0


def cmd_benchmark(args):
    from ._benchmark import run_from_args

    return run_from_args(args)


# ------------------------------------------------------------------ parser
def _add_input_options(p):
    p.add_argument("input", help="expression matrix: .csv, .tsv/.txt, .parquet or "
                   ".gct (optionally .gz); samples x genes, first column the "
                   "sample ids")
    p.add_argument("--genes-as-rows", action="store_true",
                   help="the CSV/TSV/Parquet matrix is genes x samples")
    p.add_argument("--covariates", metavar="FILE",
                   help="CSV/TSV table of sample covariates")
    p.add_argument("--sample-column", metavar="COL",
                   help="sample id column of --covariates (default: the first)")
    p.add_argument("--categorical", nargs="+", metavar="COL",
                   help="categorical covariate columns (default with --covariates "
                        "and no --numerical: the non-numeric columns)")
    p.add_argument("--numerical", nargs="+", metavar="COL",
                   help="numerical covariate columns")
    p.add_argument("--verbose", "-v", action="count", default=0,
                   help="training progress (one line per epoch) on stderr")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's choice)")


def _add_model_options(p):
    p.add_argument("--model", choices=("pmi", "gain"), default="pmi")
    p.add_argument("--max-iter", type=int, default=300, help="maximum epochs")
    p.add_argument("--hidden-layer-sizes", type=int, nargs="+", metavar="N")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", default="auto",
                   help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--random-state", type=int, default=0)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skimpute-gtex",
        description="Covariate-aware deep imputation of gene expression "
                    "(PMIImputer, GAINImputer).",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="compare PMI, KNN and tissue median on "
                       "synthetic data (about a minute)")
    p.add_argument("--n-samples", type=int, default=2000)
    p.add_argument("--n-genes", type=int, default=500)
    p.add_argument("--n-tissues", type=int, default=10)
    p.add_argument("--missing-rate", type=float, default=0.5)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--fast", action="store_true",
                   help="tiny network, 3 epochs (smoke test)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fit", help="fit an imputer and save it (joblib)")
    _add_input_options(p)
    _add_model_options(p)
    p.add_argument("--output", "-o", required=True, help="model file to write")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("impute", help="impute a matrix (in place or with a saved "
                       "model)")
    _add_input_options(p)
    _add_model_options(p)
    p.add_argument("--model-file", metavar="FILE",
                   help="model saved by 'fit' (default: fit PMI on the input)")
    p.add_argument("--align", action="store_true",
                   help="with --model-file: match Ensembl ids without version, "
                        "impute model genes absent from the input, drop others")
    p.add_argument("--output", "-o", required=True,
                   help="imputed matrix: .csv, .tsv or .parquet")
    p.set_defaults(func=cmd_impute)

    from ._benchmark import add_arguments

    p = sub.add_parser("benchmark", help="run the benchmark harness")
    add_arguments(p)
    p.set_defaults(func=cmd_benchmark)
    return parser


def main(argv=None):
    """Run ``skimpute-gtex``; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    _set_threads(getattr(args, "threads", None))
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"skimpute-gtex {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as exc:
        print(f"skimpute-gtex {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

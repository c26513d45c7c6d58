"""The options of ``skimpute-gtex`` and its subcommands."""

import argparse

from .. import __version__
from ._commands import COMPARE_METHODS


def _add_input_options(p):
    p.add_argument("input", help="expression matrix: .csv, .tsv/.txt, .parquet or "
                   ".gct (optionally .gz), samples x genes, first column the "
                   "sample ids (see --index-col, --no-index); or .h5ad (AnnData: "
                   "obs x var, covariates from obs; needs anndata)")
    p.add_argument("--genes-as-rows", action="store_true",
                   help="the CSV/TSV/Parquet matrix is genes x samples")
    ids = p.add_mutually_exclusive_group()
    ids.add_argument("--index-col", metavar="NAME|N",
                     help="the column of the sample ids (gene ids with "
                          "--genes-as-rows), by name or 0-based position "
                          "(default: the first column, if the header leaves it "
                          "unnamed or it holds distinct strings; else an error)")
    ids.add_argument("--no-index", action="store_true",
                     help="the CSV/TSV/Parquet matrix has no id column (pandas "
                          "to_csv(index=False), R row.names=FALSE): every column "
                          "is a gene; the output has no id column either")
    p.add_argument("--layer", metavar="NAME",
                   help="the layer of an .h5ad input to impute (default: X)")
    p.add_argument("--covariates", metavar="FILE",
                   help="CSV/TSV table of sample covariates (default: the "
                        "covariates are columns of the matrix file, obs columns "
                        "of an .h5ad)")
    p.add_argument("--sample-column", metavar="COL",
                   help="sample id column of --covariates (default: the first)")
    p.add_argument("--categorical", nargs="+", metavar="COL",
                   help="categorical covariate columns: of --covariates FILE, "
                        "else of the matrix file (obs of an .h5ad) (default "
                        "with --covariates and no --numerical: its non-numeric "
                        "columns; a saved model knows its own)")
    p.add_argument("--numerical", nargs="+", metavar="COL",
                   help="numerical covariate columns, found as --categorical")
    _add_run_options(p)


def _add_run_options(p, threads="torch threads (default: torch's choice)"):
    p.add_argument("--verbose", "-v", action="count", default=1,
                   help="training progress on stderr: by default one line "
                        "(updated in place on a terminal) with the epoch, "
                        "time elapsed and time left; -v: one line per epoch")
    p.add_argument("--quiet", "-q", dest="verbose", action="store_const",
                   const=0, help="no training progress")
    p.add_argument("--threads", type=int, default=None, help=threads)


def _add_model_options(p):
    # defaults None: the real ones are in _TRAINING_OPTIONS (see cmd_impute)
    g = p.add_argument_group("training options (not with --model-file)")
    g.add_argument("--model", choices=("pmi", "gain"), help="(default: pmi)")
    g.add_argument("--max-iter", type=int,
                   help="maximum epochs per network (default: 500, as the "
                   "estimators' max_iter)")
    g.add_argument("--hidden-layer-sizes", type=int, nargs="+", metavar="N")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: auto)")
    g.add_argument("--random-state", type=int, help="(default: 0)")
    g.add_argument("--calibration", action="store_const", const=True,
                   help="hold out observed entries in fit to calibrate "
                        "prediction intervals (what impute --interval needs "
                        "of a saved model)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skimpute-gtex",
        description="Covariate-aware deep imputation of gene expression "
                    "(PMIImputer, GAINImputer).",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_demo(sub)
    p = sub.add_parser("fit", help="fit an imputer and save it (joblib)")
    _add_input_options(p)
    _add_model_options(p)
    p.add_argument("--output", "-o", required=True, help="model file to write")

    p = sub.add_parser("impute", help="impute a matrix (in place or with a saved "
                       "model)")
    _add_input_options(p)
    _add_model_options(p)
    p.add_argument("--model-file", metavar="FILE",
                   help="model saved by 'fit' (default: fit PMI on the input); "
                        "the input's genes are matched to the model's by id, "
                        "Ensembl versions ignored: model genes the input lacks "
                        "are imputed entirely, genes the model does not know "
                        "are passed through as read, after the model's")
    # deprecated: --model-file always aligns now; accepted with a warning
    p.add_argument("--align", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--output", "-o", required=True,
                   help="imputed matrix: .csv, .tsv, .parquet or .h5ad (imputed "
                        "X, the observed matrix in layers['observed'], the "
                        "input's obs/var/uns kept)")
    p.add_argument("--interval", type=float, metavar="COVERAGE",
                   help="also write calibrated prediction intervals of this "
                        "coverage (e.g. 0.9) beside the output: OUTPUT.lower.EXT "
                        "and OUTPUT.upper.EXT (observed entries: the value); "
                        "fits with --calibration, or needs a model fitted so")

    _add_compare(sub)
    _add_fit_stream(sub)
    return parser


def _add_demo(sub):
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
                   help="tiny network, 3 epochs: a smoke test whose R2 values "
                        "mean nothing")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no training progress on stderr")


def _add_compare(sub):
    p = sub.add_parser(
        "compare", help="compare imputers on your matrix (hide entries at "
        "random, impute them, score them)",
        description="Hide --missing-rate of the observed gene entries at random "
                    "(--repeats times), impute them in place with each method, "
                    "and print the mean per-gene R2 of the hidden entries and "
                    "the time (skimpute_gtex.model_selection.compare_imputers).")
    _add_input_options(p)
    p.add_argument("--methods", nargs="+", choices=COMPARE_METHODS,
                   default=["pmi", "knn", "median"], metavar="NAME",
                   help="imputers: pmi, gain (deep, with the covariates), knn "
                        "(KNNImputer + one-hot covariates), softimpute, median "
                        "(per value of the first categorical covariate) "
                        "(default: %(default)s)")
    p.add_argument("--missing-rate", type=float, default=0.5,
                   help="fraction of the observed gene entries hidden "
                        "(default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3,
                   help="number of random masks (default: %(default)s)")
    p.add_argument("--random-state", type=int, default=0,
                   help="seed of the masks and of the imputers "
                        "(default: %(default)s)")
    p.add_argument("--device", default="auto",
                   help="device of pmi and gain: auto, cpu, cuda or cuda:N "
                        "(default: %(default)s)")
    p.add_argument("--fast", action="store_true",
                   help="tiny networks, 3 epochs: a smoke test whose R2 values "
                        "mean nothing")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="also write the results table here (.csv or .tsv)")


def _add_fit_stream(sub):
    p = sub.add_parser(
        "fit-stream",
        help="fit PMI on a matrix on disk a block of samples at a time (an "
             ".h5ad, or an ARCHS4 HDF5 file); data-parallel under torchrun")
    p.add_argument("input", help=".h5ad (samples x genes) or ARCHS4 .h5 file")
    p.add_argument("--output", "-o", required=True, help="model file to write")
    p.add_argument("--format", choices=("auto", "h5ad", "archs4"),
                   default="auto", help="(default: by the file's extension)")
    p.add_argument("--genes", metavar="FILE",
                   help="text file of the gene ids to read, one per line "
                        "(default: all)")
    p.add_argument("--gene-field", default="gene_symbol",
                   help="ARCHS4: the meta/genes field of the ids (default: "
                        "gene_symbol)")
    p.add_argument("--bulk-only", action="store_true",
                   help="ARCHS4: only the samples whose single-cell "
                        "probability is below 0.5")
    p.add_argument("--transform", choices=("log1p_cpm", "log1p", "none"),
                   default="log1p_cpm",
                   help="ARCHS4: counts to expression (default: log1p_cpm)")
    p.add_argument("--max-iter", type=int, default=500)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--no-early-stopping", action="store_true")
    p.add_argument("--hidden-layer-sizes", type=int, nargs="+", metavar="N")
    p.add_argument("--batch-size", type=int,
                   help="global batch: split over the processes")
    p.add_argument("--device", default="auto")
    p.add_argument("--random-state", type=int, default=0)
    _add_run_options(p, threads="torch threads per process (default: torch's "
                               "choice)")

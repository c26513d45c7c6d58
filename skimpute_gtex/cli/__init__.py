"""Command line interface: ``skimpute-gtex`` (or ``python -m skimpute_gtex``).

Subcommands:

``demo``
    Compare PMIImputer, KNNImputer (with the same covariates, one-hot) and the
    tissue median on synthetic GTEx-like data, in place and inductively.
``fit``
    Fit an imputer on an expression matrix (its covariates given as columns of
    the matrix file, ``obs`` columns of an ``.h5ad``, or in a separate table)
    and save it with joblib.
``impute``
    Impute a matrix, in place (fit PMI on it) or with a saved model. With a
    saved model the matrix's genes are matched to the model's by id (Ensembl
    versions ignored): the model's genes that the matrix lacks are imputed
    entirely, and genes the model does not know are passed through as read.
``fit-stream``
    Fit PMI on a matrix on disk (a backed ``.h5ad``, an ARCHS4 HDF5 file) a
    block of samples at a time; under ``torchrun``, data-parallel
    (:func:`skimpute_gtex.distributed.fit_distributed`).
``compare``
    Compare imputers on the user's matrix: hide observed entries at random,
    impute them in place, score them
    (:func:`skimpute_gtex.model_selection.compare_imputers`).

A CSV/TSV/Parquet matrix has its ids (of the samples, or of the genes with
``--genes-as-rows``) in its first column when the file marks that column as
row names or it holds distinct strings. Otherwise the first column may be a
gene, and the command stops and asks for ``--index-col NAME|N`` or
``--no-index``: it never guesses.

An ``.h5ad`` file (AnnData, with the optional ``anndata`` package) is read
with :func:`skimpute_gtex.io.read_anndata` (samples are ``obs``, genes
``var``, ``--layer`` or ``X``) and written with
:func:`skimpute_gtex.io.write_anndata` (imputed ``X``, the observed matrix in
``layers["observed"]``).

The code: ``_io`` reads and writes the files, ``_inputs`` finds the
covariates, ``_commands`` holds ``fit``/``impute``/``compare``, ``_stream``
``fit-stream``, ``_demo`` the demo, ``_parser`` the options.

Every subcommand returns 0 on success and 2, with a one-line message on
stderr, on a user error (missing file, unknown format, unknown covariate
column, no gene in common with a saved model, training options given with
a saved model). Warnings are printed as one line ``warning: ...``.
"""

import sys
import warnings

from . import _commands, _demo, _stream
from ._commands import FAST_PARAMS, _threads
from ._inputs import read_covariates
from ._io import _EXACT_FLOATS, CLIError, read_input, read_matrix
from ._parser import build_parser

run_demo = _demo.run_demo

__all__ = [
    "CLIError",
    "FAST_PARAMS",
    "build_parser",
    "main",
    "read_covariates",
    "read_input",
    "read_matrix",
    "run_demo",
    "_EXACT_FLOATS",
]


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` for the command: one line, no source path."""
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


def _command(name):
    """The function of a subcommand, looked up when it runs (tests patch it)."""
    module = {"demo": _demo, "fit-stream": _stream}.get(name, _commands)
    return getattr(module, f"cmd_{name.replace('-', '_')}")


def main(argv=None):
    """Run ``skimpute-gtex``; returns the exit code (0 ok, 2 user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    # catch_warnings restores showwarning (and the filters) on the way out
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            with _threads(getattr(args, "threads", None)):
                return _command(args.command)(args)
        except CLIError as exc:
            print(f"skimpute-gtex {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except (ValueError, TypeError, OSError) as exc:
            print(f"skimpute-gtex {args.command}: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())

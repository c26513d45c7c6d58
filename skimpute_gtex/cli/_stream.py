"""The ``fit-stream`` command: fit PMI on a matrix on disk, maybe data-parallel."""

import os
import sys

import numpy as np

from ._io import CLIError


def _source(args):
    from ..io import AnnDataSource, ARCHS4Source

    genes = None
    if args.genes:
        with open(args.genes) as f:
            genes = [line.strip() for line in f if line.strip()]
    if not os.path.isfile(args.input):
        raise CLIError(f"{args.input}: no such file.")
    if args.format == "archs4" or (args.format == "auto"
                                   and not args.input.endswith(".h5ad")):
        transform = None if args.transform == "none" else args.transform
        return ARCHS4Source(args.input, genes, gene_field=args.gene_field,
                            transform=transform,
                            samples=_bulk(args.input) if args.bulk_only else None)
    if args.bulk_only:
        raise CLIError("--bulk-only reads ARCHS4's single-cell probabilities: "
                       "an ARCHS4 file only.")
    import anndata

    return AnnDataSource(anndata.read_h5ad(args.input, backed="r"), genes)


def _bulk(path):
    """ARCHS4's bulk samples: single-cell probability below 0.5 (archs4py's
    ``filterSingle``)."""
    import h5py

    field = "meta/samples/singlecellprobability"
    with h5py.File(path, "r") as f:
        if field not in f:
            raise CLIError(f"{path}: --bulk-only needs {field}, which the file "
                           "lacks.")
        return np.asarray(f[field][()], dtype=float) < 0.5


def cmd_fit_stream(args):
    from .. import PMIImputer
    from ..distributed import fit_distributed

    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise CLIError(f"{args.output}: directory {out_dir} does not exist.")
    params = dict(max_iter=args.max_iter, random_state=args.random_state,
                  device=args.device, verbose=args.verbose)
    if args.hidden_layer_sizes:
        params["hidden_layer_sizes"] = tuple(args.hidden_layer_sizes)
    if args.batch_size:
        params["batch_size"] = args.batch_size
    if args.max_steps:
        params["max_steps"] = args.max_steps
    if args.no_early_stopping:
        params["early_stopping"] = False
    model = PMIImputer(**params)
    with _source(args) as source:
        fit_distributed(model, source, args.output)
        shape = source.shape
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"fitted PMIImputer on {shape[0]} samples x {shape[1]} genes "
              f"streamed from {args.input} ({model.n_iter_} epochs, "
              f"{os.environ.get('WORLD_SIZE', 1)} process(es)); saved "
              f"{args.output}", file=sys.stderr)
    return 0

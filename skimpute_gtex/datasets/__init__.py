"""The :mod:`skimpute_gtex.datasets` module: synthetic data, GTEx files, masking."""

from ._align import align_to_genes, map_categories
from ._gct import read_gct
from ._gtex import load_gtex, parse_gtex_age
from ._masking import simulate_missing
from ._synthetic import make_gtex_like

__all__ = [
    "align_to_genes",
    "load_gtex",
    "make_gtex_like",
    "map_categories",
    "parse_gtex_age",
    "read_gct",
    "simulate_missing",
]

"""The :mod:`skimpute_gtex.datasets` module: synthetic data, GTEx files, masking."""

from ._masking import simulate_missing
from ._synthetic import make_gtex_like

__all__ = ["make_gtex_like", "simulate_missing"]

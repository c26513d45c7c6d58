"""Baseline imputers of gene expression, on the same covariate spec.

The :mod:`skimpute_gtex.baselines` module includes the reference methods the
deep imputers are compared with: per-tissue medians
(:class:`TissueMedianImputer`), the same donor's whole-blood expression
(:class:`BloodSurrogateImputer`), MissForest (:class:`MissForestImputer`),
low-rank soft-impute (:class:`SoftImputeImputer`) and any scikit-learn imputer
given the covariates as extra columns (:class:`CovariateImputer`).
"""

from ._blood import BloodSurrogateImputer
from ._covariate import CovariateImputer
from ._median import TissueMedianImputer
from ._missforest import MissForestImputer
from ._softimpute import SoftImputeImputer

__all__ = [
    "BloodSurrogateImputer",
    "CovariateImputer",
    "MissForestImputer",
    "SoftImputeImputer",
    "TissueMedianImputer",
]

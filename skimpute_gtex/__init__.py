"""skimpute_gtex: fast, covariate-aware deep imputation of gene expression.

The pseudo-mask imputer (:class:`PMIImputer`) and GAIN-GTEx
(:class:`GAINImputer`) of Viñas et al. (2021) as scikit-learn estimators.
"""

from ._torch._gain import GAINImputer
from ._torch._pmi import PMIImputer

__version__ = "0.1.0.dev0"

__all__ = ["GAINImputer", "PMIImputer", "__version__"]

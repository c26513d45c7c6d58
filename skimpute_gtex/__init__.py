"""skimpute_gtex: fast, covariate-aware deep imputation of gene expression.

The pseudo-mask imputer (:class:`PMIImputer`) and GAIN-GTEx
(:class:`GAINImputer`) of Viñas et al. (2021) as scikit-learn estimators.

The two deep imputers are imported on first use (PEP 562), so that
``skimpute_gtex.baselines``, ``.metrics``, ``.datasets`` and
``.model_selection``, which do not need torch, import without it.
"""

__version__ = "0.1.0.dev0"

__all__ = ["GAINImputer", "PMIImputer", "__version__"]


def __getattr__(name):
    if name == "PMIImputer":
        from ._torch._pmi import PMIImputer

        return PMIImputer
    if name == "GAINImputer":
        from ._torch._gain import GAINImputer

        return GAINImputer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), "GAINImputer", "PMIImputer"])

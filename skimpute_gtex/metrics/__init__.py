"""The :mod:`skimpute_gtex.metrics` module includes imputation metrics and a scorer.

The metrics score an imputation on the masked entries only (the entries that
were hidden from the imputer), and :func:`make_imputation_scorer` turns them
into a scorer for :class:`~sklearn.model_selection.GridSearchCV`.
"""

from ._regression import (
    masked_mean_absolute_error,
    masked_mean_squared_error,
    masked_pearson_r,
    masked_r2_score,
    masked_root_mean_squared_error,
)
from ._scorer import make_imputation_scorer

__all__ = [
    "make_imputation_scorer",
    "masked_mean_absolute_error",
    "masked_mean_squared_error",
    "masked_pearson_r",
    "masked_r2_score",
    "masked_root_mean_squared_error",
]

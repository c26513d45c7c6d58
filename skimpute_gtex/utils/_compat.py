"""The only module that imports private scikit-learn helpers.

scikit-learn is pinned to ``>=1.6,<2`` in ``pyproject.toml``; if one of these
helpers moves, this is the single place to adapt.
"""

from sklearn.base import _fit_context
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    MissingValues,
    Options,
    StrOptions,
    validate_params,
)
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import _check_feature_names_in

__all__ = [
    "_fit_context",
    "_get_output_config",
    "_check_feature_names_in",
    "fit_indicator_on_mask",
    "HasMethods",
    "Interval",
    "is_pandas_na",
    "is_scalar_nan",
    "MissingValues",
    "Options",
    "StrOptions",
    "validate_params",
]


def fit_indicator_on_mask(indicator, mask):
    """Fit a :class:`~sklearn.impute.MissingIndicator` on a boolean mask.

    What scikit-learn's own imputers do (``_BaseImputer._fit_indicator``):
    the indicator is fitted on the precomputed mask of missing entries, and
    its ``transform`` then takes such a mask too, so the data are not
    validated, nor their mask computed, a second time.
    """
    indicator._fit(mask, precomputed=True)
    return indicator

"""The only module that imports private scikit-learn helpers.

scikit-learn is pinned to ``>=1.6,<2`` in ``pyproject.toml``; if one of these
helpers moves, this is the single place to adapt.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
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
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "validate_params",
]

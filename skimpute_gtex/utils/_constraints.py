"""Parameter constraints of our own, for ``_parameter_constraints``.

scikit-learn's declarative validation (``@_fit_context``) checks every
parameter against a list of constraints and raises an ``InvalidParameterError``
(a ``ValueError`` and ``TypeError``) that names the parameter and what it
accepts. These add the two shapes of value our estimators take that
scikit-learn has no constraint for.

scikit-learn's ``make_constraint`` passes through only instances of its own
constraint classes, so ours derive from ``Options`` (with no options) and
override the test and the description.
"""

from numbers import Integral, Real

import numpy as np

from ._compat import Options


class PositiveIntegers(Options):
    """A non-empty tuple or list of integers >= 1 (e.g. layer widths)."""

    def __init__(self):
        super().__init__(tuple, set())

    def is_satisfied_by(self, val):
        if isinstance(val, (str, bytes)) or not isinstance(val, (tuple, list)):
            return False
        return len(val) > 0 and all(
            isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
            for v in val
        )

    def __str__(self):
        return "a non-empty tuple or list of integers >= 1"


class UnitRange(Options):
    """A pair ``(low, high)`` with ``0 <= low <= high <= 1``.

    With ``low_below_one=True`` the pair ``(1, 1)`` is excluded: for a
    visibility probability it would hide nothing and train nothing.
    """

    def __init__(self, *, low_below_one=False):
        super().__init__(tuple, set())
        self.low_below_one = low_below_one

    def is_satisfied_by(self, val):
        if isinstance(val, (str, bytes)) or not isinstance(val, (tuple, list)):
            return False
        if len(val) != 2 or not all(
            isinstance(v, Real) and not isinstance(v, bool) for v in val
        ):
            return False
        low, high = (float(v) for v in val)
        if not (np.isfinite(low) and np.isfinite(high)):
            return False
        if self.low_below_one and low >= 1.0:
            return False
        return 0.0 <= low <= high <= 1.0

    def __str__(self):
        extra = " and low < 1" if self.low_below_one else ""
        return f"a pair (low, high) with 0 <= low <= high <= 1{extra}"

"""Find every public estimator of the package (used by the common tests)."""

import inspect
import pkgutil
from importlib import import_module
from operator import itemgetter

from sklearn.base import BaseEstimator


def all_estimators():
    """List every public scikit-learn estimator of :mod:`skimpute_gtex`.

    The package and each of its public subpackages are imported and the
    estimator classes named in their ``__all__`` are collected, so a new
    estimator is picked up by the common tests as soon as it is exported.

    Returns
    -------
    estimators : list of tuple
        ``(name, class)`` pairs sorted by name.

    See Also
    --------
    sklearn.utils.discovery.all_estimators : the same for scikit-learn.

    Examples
    --------
    >>> from skimpute_gtex.utils import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "PMIImputer" in names and "GAINImputer" in names
    True
    """
    package = import_module("skimpute_gtex")
    modules = [package] + [
        import_module(f"skimpute_gtex.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.ispkg and not info.name.startswith("_")
    ]
    found = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    return sorted(found.items(), key=itemgetter(0))

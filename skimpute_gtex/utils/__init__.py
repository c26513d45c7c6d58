"""Utilities: estimator discovery and the sklearn compatibility layer."""

from .discovery import all_estimators

__all__ = ["all_estimators"]

"""Helpers shared by the baselines: covariate lookup, one-hot codes, medians."""

import warnings

import numpy as np
import pandas as pd

from .._covariates import as_categories, take_columns


def categorical_position(estimator, name, *, role):
    """Column of ``codes`` (from ``_validate_input``) of covariate ``name``.

    Returns ``(position, indices)``: the column of the code matrix and the
    column of X of the categorical covariate called ``name`` in the spec, or
    ``(None, None)`` when the spec has no covariate of that name (a warning is
    issued if a spec was given). ``role`` names the parameter in messages.
    """
    if name is None:
        return None, None
    position = 0
    for cov_name, kind, idx in estimator._covariates_resolved:
        if cov_name == name:
            if kind != "categorical":
                raise ValueError(
                    f"{type(estimator).__name__}: {role}={name!r} must name a "
                    f"categorical covariate; {name!r} is {kind}."
                )
            if len(idx) != 1:
                raise ValueError(
                    f"{type(estimator).__name__}: {role}={name!r} must select "
                    f"exactly one column of X; it selects {len(idx)}."
                )
            return position, int(idx[0])
        if kind == "categorical":
            position += len(idx)
    if estimator.covariates is not None:
        names = [n for n, _, _ in estimator._covariates_resolved]
        warnings.warn(
            f"{type(estimator).__name__}: {role}={name!r} is not the name of a "
            f"covariate in the spec ({names}); it is ignored.",
            UserWarning,
        )
    return None, None


def raw_categories(X, column):
    """Values of one column of X as strings, and a mask of missing values."""
    if not hasattr(X, "iloc"):
        X = np.asarray(X, dtype=object)
    values = take_columns(X, [column])
    values = values.to_numpy() if hasattr(values, "to_numpy") else values
    values = np.asarray(values, dtype=object).ravel()
    missing = np.asarray(pd.isna(values), dtype=bool)
    return as_categories(values), missing


def one_hot(codes, categories):
    """One-hot columns for each code column; unseen categories (code 0) are 0."""
    blocks = []
    for j, cats in enumerate(categories):
        block = np.zeros((codes.shape[0], len(cats)), dtype=np.float32)
        rows = np.flatnonzero(codes[:, j] > 0)
        block[rows, codes[rows, j] - 1] = 1.0
        blocks.append(block)
    if not blocks:
        return np.zeros((codes.shape[0], 0), dtype=np.float32)
    return np.hstack(blocks)


def group_medians(genes, group_codes, n_groups):
    """Per-gene medians of the observed values, overall and within each group.

    Returns ``(global_median, medians)``: ``medians`` has shape
    ``(n_groups + 1, n_genes)``; row 0 (unseen categories) and every entry
    without an observed value in its group hold the global median. Genes
    without any observed value have a NaN global median.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        global_median = np.nanmedian(genes, axis=0) if genes.shape[0] else (
            np.full(genes.shape[1], np.nan)
        )
        medians = np.tile(global_median, (n_groups + 1, 1))
        if group_codes is not None:
            for k in range(1, n_groups + 1):
                rows = group_codes == k
                if rows.any():
                    med = np.nanmedian(genes[rows], axis=0)
                    medians[k] = np.where(np.isnan(med), global_median, med)
    return global_median, medians

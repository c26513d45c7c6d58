"""Properties of the masked metrics, checked on random arrays and masks."""

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose
from sklearn.exceptions import UndefinedMetricWarning

from skimpute_gtex.metrics import (
    masked_mean_absolute_error,
    masked_mean_squared_error,
    masked_pearson_r,
    masked_r2_score,
    masked_root_mean_squared_error,
)

ALL_METRICS = [
    masked_r2_score,
    masked_pearson_r,
    masked_mean_squared_error,
    masked_root_mean_squared_error,
    masked_mean_absolute_error,
]
ERROR_METRICS = ALL_METRICS[2:]

# bounded values: squares of huge floats overflow, which no metric promises to handle
values = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


@st.composite
def triples(draw):
    """(X_true, X_imputed, mask) of one random shape, values in [-1e6, 1e6]."""
    shape = draw(st.tuples(st.integers(1, 12), st.integers(1, 5)))
    X_true = draw(arrays(np.float64, shape, elements=values))
    X_imputed = draw(arrays(np.float64, shape, elements=values))
    mask = draw(arrays(np.bool_, shape))
    return X_true, X_imputed, mask


def _quiet(metric, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return metric(*args, **kwargs)


@given(triples())
def test_perfect_imputation(data):
    X_true, _, mask = data
    r2 = masked_r2_score(X_true, X_true, mask, multioutput="raw_values")
    defined = ~np.isnan(r2)
    assert_allclose(r2[defined], 1.0)
    for metric in ERROR_METRICS:
        raw = metric(X_true, X_true, mask, multioutput="raw_values")
        assert_allclose(raw[mask.any(axis=0)], 0.0)
        if mask.any():
            assert metric(X_true, X_true, mask) == 0.0


@given(triples(), st.randoms(use_true_random=False))
def test_row_permutation_invariance(data, random):
    X_true, X_imputed, mask = data
    perm = np.array(random.sample(range(X_true.shape[0]), X_true.shape[0]))
    for metric in ALL_METRICS:
        before = metric(X_true, X_imputed, mask, multioutput="raw_values")
        after = metric(
            X_true[perm], X_imputed[perm], mask[perm], multioutput="raw_values"
        )
        np.testing.assert_array_equal(np.isnan(before), np.isnan(after))
        assert_allclose(after, before, rtol=1e-6, atol=1e-9)
        avg = _quiet(metric, X_true, X_imputed, mask)
        avg_perm = _quiet(metric, X_true[perm], X_imputed[perm], mask[perm])
        assert_allclose(avg_perm, avg, rtol=1e-6, atol=1e-9, equal_nan=True)


@given(triples())
def test_pearson_bounded(data):
    r = masked_pearson_r(*data, multioutput="raw_values")
    r = r[~np.isnan(r)]
    assert ((r >= -1.0) & (r <= 1.0)).all()


@given(triples())
def test_errors_nonnegative_and_rmse_is_sqrt_mse(data):
    mse = masked_mean_squared_error(*data, multioutput="raw_values")
    rmse = masked_root_mean_squared_error(*data, multioutput="raw_values")
    mae = masked_mean_absolute_error(*data, multioutput="raw_values")
    for raw in (mse, rmse, mae):
        assert (raw[~np.isnan(raw)] >= 0).all()
    assert_allclose(rmse, np.sqrt(mse), equal_nan=True)

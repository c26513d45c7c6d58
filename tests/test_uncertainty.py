"""Calibrated intervals and multiple imputation of PMIImputer and GAINImputer."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skimpute_gtex import GAINImputer, PMIImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing

from .conftest import FAST

ESTIMATORS = [PMIImputer, GAINImputer]
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


@pytest.fixture(scope="module")
def data():
    """300 samples x 40 genes, 50% MCAR, covariates; the true values."""
    d = make_gtex_like(n_samples=300, n_genes=40, n_tissues=4, random_state=1)
    X = d.frame.drop(columns="donor")
    truth = d.expression.to_numpy()
    X.iloc[:, :40], mask = simulate_missing(truth, 0.5, random_state=0)
    return X, truth, mask, d.covariate_spec


def _fit(cls, X, spec, **params):
    settings = {**FAST, "hidden_layer_sizes": (32,), "max_iter": 10,
                "calibration": True, **params}
    return cls(covariates=spec, **settings).fit(X)


@pytest.fixture(scope="module")
def fitted(data):
    X, _, _, spec = data
    return {cls: _fit(cls, X, spec) for cls in ESTIMATORS}


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_coverage_near_nominal(cls, data, fitted):
    X, truth, mask, _ = data
    imp = fitted[cls]
    widths = []
    for level in (0.8, 0.9, 0.95):
        lower, upper = imp.transform_interval(X, coverage=level)
        covered = ((truth >= lower) & (truth <= upper))[mask].mean()
        assert abs(covered - level) < 0.06, (level, covered)
        widths.append((upper - lower)[mask].mean())
    assert widths[0] < widths[1] < widths[2]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_bounds_bracket_transform_and_keep_observed(cls, data, fitted):
    X, _, mask, _ = data
    X_before = X.copy()
    imp = fitted[cls]
    point = imp.transform(X)
    lower, upper = imp.transform_interval(X)
    assert lower.shape == upper.shape == point.shape
    assert (lower <= point).all() and (point <= upper).all()
    observed = X.iloc[:, :40].to_numpy()
    assert np.array_equal(lower[~mask], observed[~mask])
    assert np.array_equal(upper[~mask], observed[~mask])
    assert (upper - lower)[mask].min() > 0
    pd.testing.assert_frame_equal(X, X_before)  # input not modified


def test_draws_match_intervals(data, fitted):
    X, _, mask, _ = data
    imp = fitted[PMIImputer]
    draws = imp.sample_imputations(X, n_imputations=200, random_state=0)
    assert draws.shape == (200, *mask.shape)
    lower, upper = imp.transform_interval(X, coverage=0.9)
    inside = ((draws >= lower) & (draws <= upper))[:, mask].mean()
    assert abs(inside - 0.9) < 0.02
    # observed entries are the same in every copy; missing ones vary
    assert (draws[:, ~mask] == draws[0, ~mask]).all()
    assert (draws[:, mask].std(axis=0) > 0).all()
    assert np.allclose(draws.mean(axis=0)[mask], imp.transform(X)[mask],
                       atol=0.5 * (upper - lower)[mask].mean())


def test_determinism_and_pickle(data, fitted):
    X, _, _, spec = data
    imp = fitted[PMIImputer]
    again = _fit(PMIImputer, X, spec)
    for a, b in zip(imp.transform_interval(X), again.transform_interval(X)):
        assert np.array_equal(a, b)
    d1 = imp.sample_imputations(X, 3, random_state=5)
    assert np.array_equal(d1, imp.sample_imputations(X, 3, random_state=5))
    assert not np.array_equal(d1, imp.sample_imputations(X, 3, random_state=6))
    loaded = pickle.loads(pickle.dumps(imp))
    for a, b in zip(imp.transform_interval(X), loaded.transform_interval(X)):
        assert np.array_equal(a, b)


def test_pandas_output_indicator_and_passthrough(data):
    X, _, mask, spec = data
    X = X.set_axis([f"s{i}" for i in range(len(X))])
    imp = _fit(PMIImputer, X, spec, max_iter=2, add_indicator=True,
               covariate_output="passthrough").set_output(transform="pandas")
    expected = imp.transform(X)
    lower, upper = imp.transform_interval(X, coverage=0.8)
    for bound in (lower, upper):
        assert isinstance(bound, pd.DataFrame)
        assert list(bound.columns) == list(expected.columns)
        assert list(bound.index) == list(X.index)
        # indicator and passed-through covariates as in transform
        rest = expected.columns[40:]
        pd.testing.assert_frame_equal(bound[rest], expected[rest])
    draws = imp.sample_imputations(X, n_imputations=2, random_state=0)
    assert isinstance(draws, list) and len(draws) == 2
    assert list(draws[0].columns) == list(expected.columns)


def test_early_stopping_calibration_keeps_the_fit(data):
    """With validation rows, calibration does not change training."""
    X, _, _, spec = data
    # (300 samples: "auto" would blend the uncalibrated fit, not this one)
    params = dict(max_iter=3, early_stopping=True, validation_fraction=0.2,
                  blend_low_rank=False)
    plain = _fit(PMIImputer, X, spec, calibration=False, **params)
    cal = _fit(PMIImputer, X, spec, **params)
    assert np.array_equal(plain.transform(X), cal.transform(X))
    assert plain.calibration_scores_ is None and plain.interval_scale_ is None
    assert cal.calibration_scores_.size > 100
    assert np.all(np.diff(cal.calibration_scores_) >= 0)
    assert cal.interval_scale_.shape == (40,)


def test_uncalibrated(data, fitted):
    X, _, mask, spec = data
    pmi = _fit(PMIImputer, X, spec, calibration=False, max_iter=2)
    # the methods exist only with calibration=True (like SVC.predict_proba)
    assert not hasattr(pmi, "transform_interval")
    assert not hasattr(pmi, "sample_imputations")
    with pytest.raises(AttributeError, match="transform_interval") as err:
        pmi.transform_interval(X)
    assert "calibration=True" in str(err.value.__cause__)
    with pytest.raises(NotFittedError):
        clone(fitted[PMIImputer]).transform_interval(X)
    # GAIN without calibration: the generator's noise, as before 0.1.0
    gain = _fit(GAINImputer, X, spec, calibration=False, max_iter=2)
    assert not hasattr(gain, "transform_interval")
    draws = gain.sample_imputations(X, n_imputations=2, random_state=0)
    assert draws.shape == (2, *mask.shape)


@pytest.mark.parametrize("coverage", [0, 1, 1.5, -0.1, "0.9"])
def test_bad_coverage(data, fitted, coverage):
    X = data[0]
    with pytest.raises(InvalidParameterError, match="coverage"):
        fitted[PMIImputer].transform_interval(X, coverage=coverage)


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_bad_n_imputations(data, fitted, n):
    with pytest.raises(InvalidParameterError, match="n_imputations"):
        fitted[PMIImputer].sample_imputations(data[0], n_imputations=n)


def test_bad_calibration_parameter(data):
    X, _, _, spec = data
    with pytest.raises(InvalidParameterError, match="calibration"):
        PMIImputer(covariates=spec, calibration="yes", **{
            k: v for k, v in FAST.items()}).fit(X)

"""Hypothesis properties of the imputers: what holds for any input."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skimpute_gtex import GAINImputer, PMIImputer
from skimpute_gtex.baselines import TissueMedianImputer

from ..conftest import FAST

IMPUTERS = [
    lambda **kw: PMIImputer(**FAST, **kw),
    lambda **kw: GAINImputer(**FAST, adversarial_weight=1.0, **kw),
    lambda **kw: TissueMedianImputer(**kw),
]
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)
SETTINGS = settings(
    max_examples=8, suppress_health_check=[HealthCheck.too_slow], deadline=None
)


@st.composite
def incomplete_matrices(draw):
    """Float matrices with NaN where every row and column keeps a value."""
    n = draw(st.integers(4, 12))
    p = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    values = draw(arrays(dtype, (n, p), elements=st.floats(
        -1e3, 1e3, allow_nan=False, width=32)))
    missing = draw(arrays(bool, (n, p)))
    missing[:, 0] &= np.arange(n) % 2 == 0  # every row keeps a value...
    missing[np.arange(n) % 2 == 0, 0] = False
    missing[1, :] = False  # ...and so does every column
    values = values.copy()
    values[missing] = np.nan
    return values


@pytest.mark.parametrize("make", IMPUTERS, ids=["PMI", "GAIN", "TissueMedian"])
@SETTINGS
@given(X=incomplete_matrices())
def test_observed_kept_no_nan_shape_dtype(make, X):
    before = X.copy()
    out = make().fit_transform(X)
    assert np.array_equal(X, before, equal_nan=True)  # input untouched
    observed = ~np.isnan(X)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert np.array_equal(out[observed], X[observed])
    assert not np.isnan(out).any()


@pytest.mark.parametrize("make", IMPUTERS, ids=["PMI", "GAIN", "TissueMedian"])
@SETTINGS
@given(X=incomplete_matrices(), data=st.data())
def test_feature_names_kept(make, X, data):
    names = [f"gene_{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names)
    imp = make().set_output(transform="pandas")
    out = imp.fit_transform(frame)
    assert list(out.columns) == names
    assert list(imp.get_feature_names_out()) == names


@SETTINGS
@given(X=incomplete_matrices(), seed=st.integers(0, 2**16))
def test_covariate_spec_forms_resolve_alike(X, seed):
    rng = np.random.RandomState(seed)
    n, p = X.shape
    frame = pd.DataFrame(X, columns=[f"g{j}" for j in range(p)])
    frame.insert(int(rng.randint(p + 1)), "tissue", rng.choice(["a", "b"], n))
    frame["age"] = rng.uniform(20, 70, n)
    t = frame.columns.get_loc("tissue")
    a = frame.columns.get_loc("age")
    specs = [
        [("t", "categorical", "tissue"), ("a", "numerical", ["age"])],
        [("t", "categorical", [t]), ("a", "numerical", a)],
        [("t", "categorical", frame.columns == "tissue"),
         ("a", "numerical", slice(a, a + 1))],
        [("t", "categorical", lambda df: ["tissue"]),
         ("a", "numerical", lambda df: [a])],
    ]
    outs = [PMIImputer(covariates=s, **FAST).fit_transform(frame) for s in specs]
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])


DEEP = [
    lambda **kw: PMIImputer(**{**FAST, "dropout": 0.5, **kw}),
    lambda **kw: GAINImputer(**{**FAST, "adversarial_weight": 1.0, **kw}),
]


@pytest.mark.parametrize("make", DEEP, ids=["PMI", "GAIN"])
@SETTINGS
@given(X=incomplete_matrices(), n_estimators=st.integers(1, 2))
def test_global_torch_state_untouched(make, X, n_estimators):
    # a library borrows the process: torch's global generator and its thread
    # settings are what they were after fit, transform and sampling
    import torch

    rng_state = torch.get_rng_state()
    threads, interop = torch.get_num_threads(), torch.get_num_interop_threads()
    imp = make(n_estimators=n_estimators).fit(X)
    imp.transform(X)
    if hasattr(imp, "sample_imputations"):
        imp.sample_imputations(X, 2, random_state=0)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads
    assert torch.get_num_interop_threads() == interop


class _Interrupt:
    """Make the training step of ``estimator`` raise ``exc`` at call ``after``."""

    def __init__(self, estimator, exc, after=1):
        self.estimator, self.exc, self.after = estimator, exc, after

    def __enter__(self):
        original = type(self.estimator)._make_step
        calls = [0]

        def make_step(est, *args):
            step, optimizers = original(est, *args)

            def failing(idx):
                calls[0] += 1
                if calls[0] > self.after:
                    raise self.exc
                return step(idx)

            return failing, optimizers

        self.estimator._make_step = make_step.__get__(self.estimator)
        return self

    def __exit__(self, *exc_info):
        del self.estimator._make_step


@pytest.mark.parametrize("make", DEEP, ids=["PMI", "GAIN"])
@SETTINGS
@given(X=incomplete_matrices(),
       exc=st.sampled_from([KeyboardInterrupt, ValueError("diverged"),
                            RuntimeError("out of memory")]))
def test_failed_fit_leaves_no_fitted_state(make, X, exc):
    # an exception (or Ctrl-C) from inside a training step propagates and
    # leaves the estimator exactly as before the call: unfitted after a
    # failed first fit, still the old model after a failed refit
    from sklearn.exceptions import NotFittedError

    imp = make(max_iter=3)  # at least 3 steps: the second one raises
    before = dict(imp.__dict__)
    with _Interrupt(imp, exc), pytest.raises(type(exc) if isinstance(
            exc, BaseException) else exc):
        imp.fit(X)
    assert imp.__dict__ == before
    with pytest.raises(NotFittedError):
        imp.transform(X)
    fitted = imp.fit(X).transform(X)
    state = dict(imp.__dict__)
    with _Interrupt(imp, exc), pytest.raises(type(exc) if isinstance(
            exc, BaseException) else exc):
        imp.fit(X[::-1])
    assert imp.__dict__.keys() == state.keys()
    assert all(imp.__dict__[k] is state[k] for k in state)
    assert np.array_equal(imp.transform(X), fitted)  # the old model survives

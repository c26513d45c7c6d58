"""Reliability of the deep imputers: randomness, threads, interruption, pickles."""

import pickle
from unittest import mock

import joblib
import numpy as np
import pytest
import torch
from joblib import Parallel, delayed

from skimpute_gtex import GAINImputer, PMIImputer

FAST = dict(hidden_layer_sizes=(32, 32), max_iter=4, batch_size=16,
            n_estimators=1, early_stopping=False, device="cpu", dropout=0.5)


def _data(seed=0, n=96, p=12):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3) @ rng.randn(3, p) + 0.3 * rng.randn(n, p)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    X[:, 0] = np.where(np.isnan(X[:, 0]), 0.0, X[:, 0])
    return X


def _fit_out(make, X):
    return make().fit(X).transform(X)


MAKERS = {
    "PMI": lambda: PMIImputer(**FAST, random_state=0),
    "PMI-ensemble": lambda: PMIImputer(**{**FAST, "n_estimators": 2},
                                       random_state=0),
    "GAIN": lambda: GAINImputer(**FAST, adversarial_weight=1.0, random_state=0),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_serial_threaded_and_process_fits_are_bit_identical(name):
    # every random number comes from generators the estimator owns, so fits
    # in threads (which share torch's global generator) or in other
    # processes give the serial result bit for bit
    make, X = MAKERS[name], _data()
    serial = _fit_out(make, X)
    threaded = Parallel(n_jobs=4, backend="threading")(
        delayed(_fit_out)(make, X) for _ in range(4)
    )
    loky = Parallel(n_jobs=2, backend="loky")(
        delayed(_fit_out)(make, X) for _ in range(2)
    )
    for out in threaded + loky:
        assert np.array_equal(out, serial)


def test_interleaved_global_draws_do_not_change_a_fit():
    # user code drawing from torch's global generator between (or during)
    # fits changes nothing: the fit never reads it
    X = _data(1)
    a = _fit_out(MAKERS["PMI"], X)
    torch.rand(1000)
    torch.manual_seed(123)
    b = _fit_out(MAKERS["PMI"], X)
    assert np.array_equal(a, b)


def test_keyboard_interrupt_in_a_step_keeps_the_previous_model():
    X = _data(2)
    imp = PMIImputer(**FAST, random_state=0).fit(X)
    expected = imp.transform(X)
    model = imp.module_
    original = PMIImputer._make_step

    def make_step(self, *args):
        step, optimizers = original(self, *args)

        def interrupted(idx):
            raise KeyboardInterrupt

        return interrupted, optimizers

    with mock.patch.object(PMIImputer, "_make_step", make_step):
        with pytest.raises(KeyboardInterrupt):
            imp.set_params(max_iter=50).fit(X)
    assert imp.module_ is model
    assert np.array_equal(imp.transform(X), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_pickle_made_after_cuda_training_loads_without_cuda(tmp_path):
    # skorch's test_pickle_load: the pickle of a model trained on CUDA loads
    # where CUDA is unavailable (the networks are moved to the CPU in fit)
    X = _data(3)
    imp = PMIImputer(**{**FAST, "device": "cuda"}, random_state=0).fit(X)
    expected = imp.transform(X)
    path = tmp_path / "model.joblib"
    joblib.dump(imp, path)
    with mock.patch("torch.cuda.is_available", return_value=False):
        loaded = joblib.load(path)
        assert np.array_equal(loaded.transform(X), expected)
        assert np.array_equal(pickle.loads(pickle.dumps(imp)).transform(X),
                              expected)

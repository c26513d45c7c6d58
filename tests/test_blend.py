"""The low-rank blend of PMIImputer (blend_low_rank; _torch/_blend.py)."""

import numpy as np
import pytest
import torch

from skimpute_gtex import PMIImputer
from skimpute_gtex._panel import mixture_weight as _weight
from skimpute_gtex._torch._blend import _held_out

from .conftest import FAST


def _low_rank_data(n=120, g=12, rank=2, missing=0.4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, rank) @ rng.randn(rank, g) + 0.1 * rng.randn(n, g)
    X_miss = X.copy()
    X_miss[rng.uniform(size=X.shape) < missing] = np.nan
    return X, X_miss


def test_weight_is_the_least_squares_blend_clipped():
    truth = np.array([1.0, 2.0, 3.0])
    assert _weight(truth, truth + 1, truth) == 1.0  # the network is exact
    assert _weight(truth + 1, truth, truth) == 0.0  # the low-rank model is
    # halfway: errors +1 and -1 cancel at w = 0.5
    assert _weight(truth + 1, truth - 1, truth) == pytest.approx(0.5)
    assert _weight(truth + 1, truth + 2, truth) == 1.0  # w = 2, clipped
    assert _weight(truth, truth, truth) == 1.0  # the same predictions


def test_held_out_entries_are_observed_and_leave_every_gene_one():
    mask = np.ones((5, 3), dtype=bool)
    mask[1:, 2] = False  # gene 2 has a single observed entry
    held = _held_out(mask, 0.5, np.random.RandomState(0))
    assert not (held & ~mask).any()
    assert (mask & ~held).any(axis=0).all()
    assert held.sum() > 0
    assert _held_out(np.zeros((3, 2), dtype=bool), 0.1,
                     np.random.RandomState(0)) is None


def test_blend_keeps_the_networks_and_observed_entries():
    X, X_miss = _low_rank_data()
    params = dict(FAST, max_iter=20)
    plain = PMIImputer(**params, blend_low_rank=False).fit(X_miss)
    blended = PMIImputer(**params).fit(X_miss)  # "auto": small data
    assert plain.blend_weight_ is None and plain.blend_visibility_ is None
    w, v = blended.blend_weight_, blended.blend_visibility_
    assert w.shape == v.shape == (2,)
    assert ((0 <= w) & (w <= 1)).all() and v[0] < v[1]
    # the networks kept are those of the fit without the blend, bit for bit
    for a, b in zip(plain.module_.state_dict().values(),
                    blended.module_.state_dict().values()):
        assert torch.equal(a, b)
    out = blended.transform(X_miss)
    observed = ~np.isnan(X_miss)
    assert np.array_equal(out[observed], X_miss[observed])
    np.testing.assert_array_equal(blended.fit_transform(X_miss), out)
    # a weight below 1 moves the imputations towards the low-rank model
    if w.max() < 1:
        assert not np.array_equal(out, plain.transform(X_miss))


def test_blend_helps_on_low_rank_data():
    X, X_miss = _low_rank_data(n=150, g=15, seed=1)
    params = dict(FAST, hidden_layer_sizes=(8,), max_iter=5)
    hidden = np.isnan(X_miss)

    def error(est):
        return np.mean((est.fit_transform(X_miss)[hidden] - X[hidden]) ** 2)

    # an underfitted network beside an exact low-rank structure: the held-out
    # weight moves towards the low-rank model and the error drops
    blended = PMIImputer(**params)
    assert error(blended) < error(PMIImputer(**params, blend_low_rank=False))
    assert blended.blend_weight_.max() < 0.5


def test_auto_blend_follows_regime_and_calibration():
    # "auto" blends below 1,000 samples without calibration, whatever
    # early_stopping says (an explicit parameter changes only itself)
    X, X_miss = _low_rank_data()
    params = dict(FAST, max_iter=2)  # early_stopping=False
    stopped = PMIImputer(**dict(params, early_stopping=True)).fit(X_miss)
    assert stopped.blend_weight_ is not None
    calibrated = PMIImputer(**FAST, calibration=True).fit(X_miss)
    assert calibrated.blend_weight_ is None
    _, large = _low_rank_data(n=1000)
    assert PMIImputer(**params).fit(large).blend_weight_ is None
    forced = PMIImputer(**params, blend_low_rank=True).fit(large)
    assert forced.blend_weight_ is not None


def test_blend_with_calibration_is_an_error_that_leaves_no_state():
    _, X_miss = _low_rank_data()
    est = PMIImputer(**FAST, calibration=True, blend_low_rank=True)
    with pytest.raises(ValueError, match="blend_low_rank=True.*calibration=True"):
        est.fit(X_miss)
    assert not hasattr(est, "module_")


def test_blend_with_covariates_and_pickle(gtex_small):
    import pickle

    spec = [("tissue", "categorical", "tissue"), ("age", "numerical", "age")]
    X = gtex_small.X[[*gtex_small.expression.columns, "tissue", "age"]]
    est = PMIImputer(**FAST, covariates=spec).fit(X)
    assert est.blend_weight_ is not None
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(X), est.transform(X))


def test_complete_reference_is_weighed_on_held_out_rows():
    X, X_miss = _low_rank_data(n=100)
    est = PMIImputer(**FAST).fit(X)  # complete: only new samples to impute
    # a tenth of the rows held out, a quarter or three quarters visible
    np.testing.assert_allclose(est.blend_visibility_, [0.25, 0.75], atol=0.1)
    out = est.transform(X_miss)
    observed = ~np.isnan(X_miss)
    assert np.array_equal(out[observed], X_miss[observed])
    assert not np.isnan(out).any()
    # an incomplete study: held-out entries, the rows' observed fractions
    inplace = PMIImputer(**FAST).fit(X_miss)
    f = observed.mean()
    np.testing.assert_allclose(inplace.blend_visibility_, [0.45 * f, 0.9 * f],
                               atol=0.05)


def test_verbose_reports_the_blend(capsys):
    _, X_miss = _low_rank_data()
    PMIImputer(**FAST, verbose=1).fit(X_miss)
    out = capsys.readouterr().out
    assert "blend: training again without 0 rows and" in out
    # the second training reports like the first
    assert out.count("trained 1 network(s)") == 2

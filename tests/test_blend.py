"""The low-rank blend of PMIImputer (blend_low_rank; _compose/_low_rank.py) and
the cross-fitted ensemble it is weighed on (_torch/_crossfit.py)."""

import numpy as np
import pytest
import torch

from skimpute_gtex import PMIImputer
from skimpute_gtex._compose._low_rank import held_out_fold, weighing_levels
from skimpute_gtex._panel import mixture_weight as _weight
from skimpute_gtex._torch._crossfit import HELD_OUT_ENTRIES, N_FOLDS, CrossFit
from skimpute_gtex._torch._data import _Data

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


def test_weight_for_an_ensemble_removes_one_networks_extra_spread():
    rng = np.random.RandomState(0)
    truth = rng.randn(20000)
    low_rank = truth + rng.randn(truth.size)  # error variance 1
    # networks with a shared error (variance 0.25) and their own noise
    # (variance 1): the average of 4 has error variance 0.25 + 0.25
    shared = 0.5 * rng.randn(truth.size)
    nets = [truth + shared + rng.randn(truth.size) for _ in range(4)]
    ensemble = np.mean(nets, axis=0)
    best = _weight(ensemble, low_rank, truth)  # what the ensemble deserves
    one = _weight(nets[0], low_rank, truth)  # one network: too low
    excess = (1 - 1 / 4) * np.var(np.stack(nets), axis=0, ddof=1).mean()
    corrected = _weight(nets[0], low_rank, truth, excess * truth.size)
    assert one < best - 0.1
    assert abs(corrected - best) < 0.05
    # an excess larger than the spread is ignored
    assert _weight(nets[0], low_rank, truth, 1e12) == one


def _data(mask):
    genes = np.where(mask, 1.0, np.nan)
    n = len(mask)
    return _Data(genes, mask, 0.0, 1.0, np.arange(n), np.zeros((n, 0)),
                 np.zeros((n, 0), dtype=np.int64), "cpu")


def test_entry_folds_hide_each_networks_fold_from_it():
    rng = np.random.RandomState(0)
    mask = rng.uniform(size=(40, 6)) < 0.7
    data = _data(mask)
    crossfit = CrossFit(data, 3, by_rows=False, seed=0)
    assert crossfit.n_folds == N_FOLDS
    idx = torch.arange(40)
    for k in range(3):
        _, seen, _, _ = crossfit.member_data(data, k).rows(idx)
        fold = crossfit.held_out_entries(k)
        assert not (seen.numpy().astype(bool) & fold).any()
        np.testing.assert_array_equal(seen.numpy().astype(bool), mask & ~fold)
    # fold 0's held-out entries are observed, and no gene loses them all
    found = held_out_fold(crossfit, mask)
    _, train_mask, eval_rows, _ = found
    held = mask & ~train_mask
    assert held.any() and not (held & ~mask).any()
    for visible, target in weighing_levels(found, np.random.RandomState(0)):
        assert not (visible & target).any()
        assert not (target & ~held[eval_rows]).any()


def test_row_folds_are_balanced_new_samples():
    mask = np.ones((21, 4), dtype=bool)
    data = _data(mask)
    crossfit = CrossFit(data, 2, by_rows=True, seed=0)
    sizes = np.bincount(crossfit.row_fold, minlength=N_FOLDS)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 21
    member = crossfit.member_data(data, 0)
    assert member.shape == (21 - sizes[0], 4)
    train_rows, _, eval_rows, held = held_out_fold(crossfit, mask)
    assert held is None
    assert np.intersect1d(train_rows, eval_rows).size == 0
    assert len(train_rows) + len(eval_rows) == 21
    assert not CrossFit.possible(2, 1, by_rows=True)
    assert CrossFit.possible(3, 1, by_rows=True)


def test_a_wide_study_holds_out_a_smaller_fold_of_its_entries():
    """One cross-fitted network misses 1/16 of the observed entries, less
    (down to 1/64) when a fold would hold more than HELD_OUT_ENTRIES."""
    assert CrossFit._n_folds(4, False, 1, 16 * HELD_OUT_ENTRIES) == 16
    assert CrossFit._n_folds(4, False, 1, 40 * HELD_OUT_ENTRIES + 5) == 40
    assert CrossFit._n_folds(4, False, 1, 10**9) == 64
    assert CrossFit._n_folds(4, False, 4, 10**9) == N_FOLDS  # every network
    assert CrossFit._n_folds(4, True, 1) == N_FOLDS  # rows
    mask = np.ones((50, 20 * HELD_OUT_ENTRIES // 50 * 2), dtype=bool)
    crossfit = CrossFit(_data(mask), 4, by_rows=False, seed=0, n_crossed=1)
    assert crossfit.n_folds == 40
    assert int(crossfit.fold.max()) == 39


def test_blend_and_calibration_share_the_cross_fitted_networks():
    X, X_miss = _low_rank_data()
    params = dict(FAST, max_iter=20)
    plain = PMIImputer(**params, blend_low_rank=False).fit(X_miss)
    blended = PMIImputer(**params).fit(X_miss)  # "auto": small data
    calibrated = PMIImputer(**params, calibration=True).fit(X_miss)
    assert plain.blend_weight_ is None and plain.blend_visibility_ is None
    w, v = blended.blend_weight_, blended.blend_visibility_
    assert w.shape == v.shape == (2,)
    assert ((0 <= w) & (w <= 1)).all() and v[0] < v[1]
    # the blend's networks are the calibrated fit's, bit for bit: one
    # cross-fit serves both; without either, every network sees every entry
    for a, b, c in zip(calibrated.module_.state_dict().values(),
                       blended.module_.state_dict().values(),
                       plain.module_.state_dict().values()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(
        plain.module_.state_dict().values(),
        blended.module_.state_dict().values()))
    out = blended.transform(X_miss)
    observed = ~np.isnan(X_miss)
    assert np.array_equal(out[observed], X_miss[observed])
    np.testing.assert_array_equal(blended.fit_transform(X_miss), out)


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


def test_the_blend_trains_once(capsys):
    _, X_miss = _low_rank_data()
    PMIImputer(**FAST, verbose=1).fit(X_miss)
    assert capsys.readouterr().out.count("trained 1 network(s)") == 1

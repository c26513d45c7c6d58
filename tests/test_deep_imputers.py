"""Behaviour of PMIImputer and GAINImputer beyond the common sklearn checks."""

import math
import pickle
import re
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.compose import make_column_selector
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skimpute_gtex import GAINImputer, PMIImputer
from skimpute_gtex._torch._training import n_batches
from skimpute_gtex.metrics import make_imputation_scorer, masked_r2_score

from .conftest import FAST

IMPUTERS = [PMIImputer, GAINImputer]
ids = [c.__name__ for c in IMPUTERS]
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def _genes(data):
    return data.X.iloc[:, :30]


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_observed_entries_bit_identical_and_input_untouched(cls, gtex_small):
    X = gtex_small.X.drop(columns="donor")
    before = X.copy()
    out = cls(covariates=gtex_small.covariate_spec, **FAST).fit_transform(X)
    pd.testing.assert_frame_equal(X, before)
    genes = X.iloc[:, :30].to_numpy()
    observed = ~np.isnan(genes)
    assert np.array_equal(out[observed], genes[observed])
    assert not np.isnan(out).any()
    assert out.dtype == np.float64


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_float32_kept(cls, gtex_small):
    X = _genes(gtex_small).to_numpy(np.float32)
    out = cls(**FAST).fit(X).transform(X)
    assert out.dtype == np.float32
    observed = ~np.isnan(X)
    assert np.array_equal(out[observed], X[observed])


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_random_state_decides_the_run(cls, gtex_small):
    X = _genes(gtex_small)
    # PMI's low-rank blend may weigh a 3-epoch network 0: compare networks
    params = {**FAST, "blend_low_rank": False} if cls is PMIImputer else FAST
    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    a = cls(**params).fit_transform(X)
    assert torch.equal(torch.get_rng_state(), state), "global torch RNG touched"
    assert torch.get_num_threads() == threads, "torch thread setting not restored"
    b = cls(**params).fit_transform(X)
    c = cls(**{**params, "random_state": 1}).fit_transform(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_row_blocks_change_no_training_bit(cls, gtex_small, monkeypatch):
    # fit and transform standardize the data a block of rows at a time to
    # bound memory, and predict a block at a time. Training must not change
    # at all; the predictions may differ in their last bits only (on a 2-core
    # AVX2 EPYC a matrix product of 16 rows differs from one of 200 rows in
    # the last bits; on AVX512 Xeons they were identical)
    from skimpute_gtex._torch import _ensemble as _base

    X = _genes(gtex_small)
    est = cls(**FAST)
    whole = est.fit_transform(X)
    loss = est.loss_curve_
    monkeypatch.setattr(_base, "_PREDICT_CHUNK", 7)
    est = cls(**FAST)
    out = est.fit_transform(X)
    assert est.loss_curve_ == loss
    np.testing.assert_allclose(out, whole, rtol=1e-6, atol=1e-6)
    observed = ~np.isnan(X.to_numpy())
    assert np.array_equal(np.asarray(out)[observed], np.asarray(whole)[observed])


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_pickle_and_joblib_round_trip(cls, gtex_small, tmp_path):
    X = gtex_small.X.drop(columns="donor")
    imp = cls(covariates=gtex_small.covariate_spec, **FAST).fit(X)
    expected = imp.transform(X)
    path = tmp_path / "imp.joblib"
    joblib.dump(imp, path)
    assert np.array_equal(joblib.load(path).transform(X), expected)
    assert np.array_equal(pickle.loads(pickle.dumps(imp)).transform(X), expected)


def test_covariate_spec_forms_agree(gtex_small):
    X = gtex_small.X.drop(columns=["donor", "sex", "age"])
    n = X.shape[1]
    specs = [
        [("tissue", "categorical", "tissue")],
        [("tissue", "categorical", ["tissue"])],
        [("tissue", "categorical", n - 1)],
        [("tissue", "categorical", [-1])],
        [("tissue", "categorical", np.arange(n) == n - 1)],
        [("tissue", "categorical", slice(n - 1, n))],
        [("tissue", "categorical", make_column_selector(pattern="^tissue$"))],
    ]
    outs = []
    for spec in specs:
        imp = PMIImputer(covariates=spec, **FAST)
        outs.append(imp.fit_transform(X))
        assert imp.covariate_indices_.tolist() == [n - 1]
        assert imp.covariates is spec  # the parameter is never overwritten
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])


def test_covariate_spec_errors(gtex_small):
    X = gtex_small.X
    with pytest.raises(ValueError, match="not found in X"):
        PMIImputer(covariates=[("t", "categorical", ["nope"])], **FAST).fit(X)
    with pytest.raises(ValueError, match="needs X to be a pandas DataFrame"):
        PMIImputer(covariates=[("t", "categorical", "tissue")], **FAST).fit(
            X.to_numpy()
        )
    with pytest.raises(ValueError, match="kind must be"):
        PMIImputer(covariates=[("t", "ordinal", "tissue")], **FAST).fit(X)
    with pytest.raises(ValueError, match="selected by both"):
        PMIImputer(
            covariates=[("a", "categorical", "tissue"), ("b", "categorical", "tissue")],
            **FAST,
        ).fit(X)
    with pytest.raises(ValueError, match="gene columns of X .* must be numeric"):
        PMIImputer(covariates=[("t", "categorical", "tissue")], **FAST).fit(X)


def test_unseen_category_warns_and_nan_category(gtex_small):
    X = gtex_small.X.drop(columns=["donor"])
    spec = gtex_small.covariate_spec
    X_fit = X.copy()
    X_fit.loc[X_fit.index[:5], "sex"] = np.nan  # NaN is a category of its own
    imp = PMIImputer(covariates=spec, **FAST).fit(X_fit)
    # "NA", as in the CLI (a CSV's empty or NA cell), whatever the marker
    assert "NA" in imp.categories_[1].tolist()
    X_none = X_fit.astype({"sex": object})
    X_none.loc[X_none.index[:5], "sex"] = None
    assert "NA" in clone(imp).fit(X_none).categories_[1].tolist()
    X_new = X.copy()
    X_new.loc[X_new.index[0], "tissue"] = "Brain - Frontal Cortex (BA9)"
    with pytest.warns(UserWarning, match="unseen in fit"):
        out = imp.transform(X_new)
    assert not np.isnan(out).any()


def test_nan_numerical_covariate_is_an_error(gtex_small):
    X = gtex_small.X.drop(columns=["donor"]).copy()
    X.loc[X.index[3], "age"] = np.nan
    with pytest.raises(ValueError, match="Numerical covariate 'age' contains NaN"):
        PMIImputer(covariates=gtex_small.covariate_spec, **FAST).fit(X)


def test_passthrough_feature_names_and_pandas_output(gtex_small):
    X = gtex_small.X.drop(columns=["donor"])
    imp = PMIImputer(
        covariates=gtex_small.covariate_spec, covariate_output="passthrough", **FAST
    ).set_output(transform="pandas")
    out = imp.fit_transform(X)
    assert list(out.columns) == list(X.columns[:30]) + ["tissue", "sex", "age"]
    assert out["tissue"].tolist() == X["tissue"].tolist()
    imp.set_params(covariate_output="drop").fit(X)
    assert list(imp.get_feature_names_out()) == list(X.columns[:30])


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_empty_gene_dropped_or_kept(cls, gtex_small):
    X = _genes(gtex_small).to_numpy().copy()
    X[:, 4] = np.nan
    out = cls(**FAST).fit_transform(X)
    assert out.shape == (X.shape[0], X.shape[1] - 1)
    imp = cls(**{**FAST, "keep_empty_features": True})
    out = imp.fit_transform(X)
    assert out.shape == X.shape and np.all(out[:, 4] == 0)
    assert imp.get_feature_names_out().shape == (X.shape[1],)


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_bad_input_errors(cls, gtex_small):
    X = _genes(gtex_small).to_numpy()
    imp = cls(**FAST)
    with pytest.raises(ValueError, match="[Ii]nf"):
        imp.fit(np.where(np.isnan(X), np.inf, X))
    with pytest.raises(ValueError, match="0 sample"):
        imp.fit(X[:0])
    with pytest.raises(ValueError, match="no observed gene value"):
        imp.fit(np.full((5, 3), np.nan))
    imp.fit(X)
    with pytest.raises(ValueError, match="features"):
        imp.transform(X[:, :10])
    rows = X.copy()
    rows[2] = np.nan
    with pytest.warns(UserWarning, match="1 sample.*no observed gene.*mean"):
        out = imp.transform(rows)
    # as KNNImputer: the training means, and the other rows as without it
    np.testing.assert_array_equal(out[2], imp.mean_.astype(out.dtype))
    np.testing.assert_array_equal(np.delete(out, 2, axis=0),
                                  np.delete(imp.transform(X), 2, axis=0))
    with pytest.raises(ValueError, match="could not convert|must be numeric"):
        cls(**FAST).fit(np.array([["a", "b"], ["c", "d"]], dtype=object))
    frame = _genes(gtex_small)
    imp.fit(frame)
    with pytest.raises(ValueError, match="feature names"):
        imp.transform(frame.rename(columns={frame.columns[0]: "other"}))


def test_all_missing_row_allowed_with_covariates(gtex_small):
    X = gtex_small.X.drop(columns=["donor"]).copy()
    imp = PMIImputer(covariates=gtex_small.covariate_spec, **FAST).fit(X)
    X.iloc[0, :30] = np.nan
    assert not np.isnan(imp.transform(X)).any()


def test_early_stopping_attributes_and_convergence_warning(gtex_small):
    X = _genes(gtex_small)
    imp = PMIImputer(**{**FAST, "early_stopping": True, "max_iter": 50,
                        "n_iter_no_change": 2, "tol": 0.5})
    imp.fit(X)
    assert imp.n_iter_ == len(imp.loss_curve_) == len(imp.validation_scores_)
    assert imp.n_iter_ < 50
    assert imp.best_validation_score_ == max(imp.validation_scores_)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        PMIImputer(**{**FAST, "early_stopping": True, "max_iter": 2,
                      "tol": 0.0}).fit(X)
    # too few rows for a validation split: a warning, then the whole budget
    with pytest.warns(UserWarning, match="early_stopping needs at least 2"):
        small = PMIImputer(**{**FAST, "early_stopping": True}).fit(X.iloc[:8])
    assert small.n_iter_ == FAST["max_iter"] and small.validation_scores_ is None


def test_fixed_budget_runs_every_epoch_without_warning(gtex_small):
    # without early stopping, training is a budget (max_iter epochs or
    # max_steps steps), not a convergence criterion: nothing to warn about
    X = _genes(gtex_small)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        imp = PMIImputer(**{**FAST, "max_iter": 4}).fit(X)
        assert imp.n_iter_ == 4 and imp.n_steps_ == 4 * 13
        # 200 rows in batches of 16 = 13 steps an epoch: 30 steps -> 3 epochs
        imp = PMIImputer(**{**FAST, "max_iter": 50, "max_steps": 30}).fit(X)
        assert imp.n_iter_ == 3 and imp.n_steps_ == 39


@pytest.mark.parametrize("cls, n_samples, early_stopping, n_steps", [
    # PMI batches more under early stopping: 1,080 // 4 = 270, four batches
    (PMIImputer, 1200, True, 4),
    # 2,700 // 4 clipped to 512 is 5.3 batches: five of 540 rows, not five
    # of 512 and one of 140
    (PMIImputer, 3000, True, 5),
    # the rule follows the regime, not early_stopping: 1,200 samples
    # without it, 1,200 // 4 = 300 rows, four batches
    (PMIImputer, 1200, False, 4),
    # below 1,000 samples, with early stopping: 720 // 16 clipped to 64 rows,
    # 12 batches (the last of 16 rows); not evened
    (PMIImputer, 800, True, 12),
    # 1,080 // 16 = 67 is 16.1 batches: sixteen of 68 (the last of 60), not
    # sixteen of 67 and one of 8
    (GAINImputer, 1200, True, 16),
])
def test_auto_batch_size_by_regime(cls, n_samples, early_stopping, n_steps):
    # batch_size="auto": n_rows // 16 clipped to [64, 256]; PMI from 1,000
    # samples on n_rows // 4 clipped to [64, 512] (a tenth of the rows held
    # out under early stopping), evened out to equal batches
    X = np.random.default_rng(0).normal(size=(n_samples, 4))
    params = {**FAST, "batch_size": "auto", "max_iter": 1,
              "early_stopping": early_stopping, "n_estimators": 1}
    imp = cls(**params).fit(X)
    assert imp.n_steps_ == n_steps


def test_best_weights_are_kept_in_the_same_cpu_tensors():
    # early stopping copies the weights at each improvement into the tensors
    # of the previous copy: no new memory, and no alias of the live weights
    from skimpute_gtex._torch._training import _cpu_state

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    modules = {"module_": net}
    first = _cpu_state(modules)
    pointers = {k: v.data_ptr() for k, v in first["module_"].items()}
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].num_batches_tracked.add_(3)
    second = _cpu_state(modules, into=first)
    assert second is first
    assert {k: v.data_ptr() for k, v in second["module_"].items()} == pointers
    for k, v in net.state_dict().items():
        assert torch.equal(second["module_"][k], v)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert not torch.equal(second["module_"]["0.weight"], net[0].weight)


@settings(max_examples=200, deadline=None)
@given(n_rows=st.integers(2, 100_000), batch_size=st.integers(1, 5_000))
def test_even_batch_size_splits_rows_into_nearly_equal_batches(n_rows, batch_size):
    from skimpute_gtex._torch._training import batches, even_batch_size

    size = even_batch_size(n_rows, batch_size)
    k = max(1, math.floor(n_rows / batch_size + 0.5))  # rounded half up
    sizes = [len(c) for c in batches(n_rows, size, torch.Generator())]
    assert sum(sizes) == n_rows
    # every batch of the same size but the last, which is smaller by less
    # than the number of batches (or one row larger: a single row merged)
    assert all(s == size for s in sizes[:-1])
    assert size - len(sizes) < sizes[-1] <= size + 1
    # round(n_rows / batch_size) batches at most, exactly that many when
    # they have as many rows as there are batches (always, at the sizes of
    # "auto")
    assert len(sizes) <= k
    if size >= k:
        assert len(sizes) == k or (len(sizes) == k - 1 and sizes[-1] == size + 1)


def test_verbose_prints_progress(gtex_small, capsys):
    # verbose=1 outside a terminal (captured here): a plain progress line about
    # every tenth of the work, with epoch i/N and the time left, then a
    # one-line summary; verbose=2: one line per epoch; 0: nothing
    X = _genes(gtex_small)
    fast = {**FAST, "blend_low_rank": False}
    PMIImputer(**{**fast, "max_iter": 30, "n_estimators": 2, "verbose": 1}).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert "\r" not in "".join(lines)
    assert 10 <= len(lines) <= 13
    # the two networks may train concurrently (two CPU threads): either may
    # report first and last
    assert re.search(r"\[PMIImputer\] network [12]/2  epoch 1/30", lines[0])
    assert all("elapsed, ~" in line and "left" in line for line in lines[:-1])
    assert re.search(r"network [12]/2  epoch 30/30", lines[-2])
    assert lines[-1].startswith("[PMIImputer] trained 2 network(s) on 200 "
                                "samples x 30 genes (covariates: none), 60 epochs")
    PMIImputer(**{**fast, "verbose": 2}).fit(X)
    out = capsys.readouterr().out
    assert "[PMIImputer] epoch    1/3" in out and "epoch    3/3" in out
    PMIImputer(**FAST).fit(X)
    assert capsys.readouterr().out == ""


def test_progress_line_is_rewritten_in_place_on_a_terminal(gtex_small, capsys):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    import contextlib

    stream = Terminal()
    with contextlib.redirect_stdout(stream):
        PMIImputer(**{**FAST, "verbose": 1, "blend_low_rank": False}).fit(
            _genes(gtex_small))
    text = stream.getvalue()
    assert text.count("\r[PMIImputer] network 1/1  epoch") == 3
    assert text.splitlines()[-1].startswith("[PMIImputer] trained 1 network(s)")


def test_device_errors():
    X = np.random.RandomState(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="device must be"):
        PMIImputer(**{**FAST, "device": "tpu"}).fit(X)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            PMIImputer(**{**FAST, "device": "cuda"}).fit(X)


def test_fit_on_device(device, gtex_small):
    imp = PMIImputer(**{**FAST, "device": device}).fit(_genes(gtex_small))
    assert all(p.device.type == "cpu" for p in imp.module_.parameters())


@pytest.mark.parametrize(
    "params, match",
    [({"pseudo_mask_range": (0.8, 0.2)}, "pseudo_mask_range"),
     ({"hidden_layer_sizes": 0}, "hidden_layer_sizes"),
     ({"batch_size": 1}, "batch_size")],
)
def test_parameter_errors(params, match, gtex_small):
    with pytest.raises(ValueError, match=match):
        PMIImputer(**{**FAST, **params}).fit(_genes(gtex_small))


def test_pipeline_and_grid_search(gtex_small):
    X = _genes(gtex_small)
    pipe = Pipeline([("impute", PMIImputer(**FAST)), ("pca", PCA(3))])
    assert pipe.fit_transform(X).shape == (X.shape[0], 3)
    search = GridSearchCV(
        PMIImputer(**FAST),
        {"hidden_layer_sizes": [(8,), (16,)]},
        scoring=make_imputation_scorer(missing_rate=0.3),
        cv=2,
    ).fit(X)
    assert set(search.cv_results_["param_hidden_layer_sizes"]) == {(8,), (16,)}
    assert np.isfinite(search.best_score_)
    search = GridSearchCV(
        pipe, {"impute__dropout": [0.0, 0.2]}, scoring=make_imputation_scorer(), cv=2
    ).fit(X)
    assert np.isfinite(search.best_score_)


# --------------------------------------------------------------------- GAIN
def test_gain_mse_builds_no_discriminator(gtex_small):
    X = _genes(gtex_small)
    assert GAINImputer(**FAST, adversarial_weight=0).fit(X).discriminator_ is None
    assert GAINImputer(**FAST).fit(X).discriminator_ is None  # the default
    assert GAINImputer(**FAST, adversarial_weight=1).fit(X).discriminator_ is not None


def test_gain_sample_imputations(gtex_small):
    X = _genes(gtex_small).to_numpy()
    imp = GAINImputer(**FAST, adversarial_weight=1.0).fit(X)
    draws = imp.sample_imputations(X, n_imputations=3, random_state=0)
    observed = ~np.isnan(X)
    assert draws.shape == (3, *X.shape)
    assert all(np.array_equal(d[observed], X[observed]) for d in draws)
    assert not np.array_equal(draws[0], draws[1])
    again = imp.sample_imputations(X, n_imputations=3, random_state=0)
    assert np.array_equal(draws, again)
    assert np.array_equal(imp.transform(X), imp.transform(X))
    with pytest.raises(ValueError, match="n_imputations"):
        imp.sample_imputations(X, n_imputations=0)


def test_gain_hint_range_error(gtex_small):
    with pytest.raises(ValueError, match="hint_range"):
        GAINImputer(**FAST, hint_range=(0.9, 0.1)).fit(_genes(gtex_small))


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [
        lambda: PMIImputer(hidden_layer_sizes=(64,), device="cpu", random_state=0),
        lambda: GAINImputer(hidden_layer_sizes=(64,), adversarial_weight=1,
                            device="cpu", random_state=0),
        lambda: GAINImputer(hidden_layer_sizes=(64,), adversarial_weight=0,
                            device="cpu", random_state=0),
    ],
    ids=["PMI", "GAIN", "GAIN-MSE"],
)
def test_deep_imputers_beat_column_means(make, gtex_small):
    """In-place, 30% MCAR: per-gene R2 above the column mean (which scores ~0)."""
    X = gtex_small.X.drop(columns="donor")
    truth = gtex_small.expression.to_numpy()
    imp = make().set_params(covariates=gtex_small.covariate_spec)
    r2 = masked_r2_score(truth, imp.fit_transform(X), gtex_small.mask)
    mean_r2 = masked_r2_score(
        truth, SimpleImputer().fit_transform(X.iloc[:, :30]), gtex_small.mask
    )
    assert r2 > mean_r2 + 0.2


def test_clone_keeps_params():
    imp = PMIImputer(hidden_layer_sizes=(4, 4), pseudo_mask_range=(0.1, 0.9))
    assert clone(imp).get_params() == imp.get_params()


@pytest.mark.parametrize(
    "n_rows, batch_size", [(9, 8), (17, 8), (16, 8), (3, 2), (5, 64)]
)
def test_batches_cover_rows_without_singletons(n_rows, batch_size):
    from skimpute_gtex._torch._training import batches

    chunks = batches(n_rows, batch_size, torch.Generator().manual_seed(0))
    assert len(chunks) == n_batches(n_rows, batch_size)
    assert sorted(torch.cat(chunks).tolist()) == list(range(n_rows))
    assert all(c.numel() > 1 for c in chunks)


@pytest.mark.parametrize("Imputer", [PMIImputer, GAINImputer])
@pytest.mark.parametrize(
    "param, value",
    [
        ("hidden_layer_sizes", (16, 0)),
        ("hidden_layer_sizes", (16, -3)),
        ("hidden_layer_sizes", ()),
        ("hidden_layer_sizes", (16, 2.5)),
        ("pseudo_mask_range", (1, 1)),  # would hide, and so train, nothing
        ("pseudo_mask_range", (0.1, 0.5, 0.9)),
        ("pseudo_mask_range", (0.8, 0.2)),
        ("pseudo_mask_range", "0.5"),
        ("n_estimators", 0),
        ("max_steps", 0),
        ("ema_decay", 1.0),
        ("precision", "float16"),
    ],
)
def test_invalid_parameters_are_named(Imputer, param, value):
    from sklearn.utils._param_validation import InvalidParameterError

    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        Imputer(**{param: value}).fit(X)


@pytest.mark.parametrize("value", [(0.6, 0.2), (0.5, 1.5), (0.5,)])
def test_invalid_hint_range_is_named(value):
    from sklearn.utils._param_validation import InvalidParameterError

    X = np.random.RandomState(0).randn(20, 3)
    with pytest.raises(InvalidParameterError, match="'hint_range' parameter"):
        GAINImputer(hint_range=value, adversarial_weight=1.0).fit(X)


def _low_rank_with_gaps(n_samples, rng):
    """Rank-4 data of 6 genes, 30% missing except in the first gene."""
    X = rng.randn(n_samples, 4) @ rng.randn(4, 6)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    X[:, 0] = np.nan_to_num(X[:, 0])
    return X


def test_auto_defaults_pick_the_regime_by_sample_count():
    # small studies: every row trains for the step budget, dropout 0.5, the
    # wide pseudo-mask range and as many networks as the budget holds; from
    # 1,000 samples on: early stopping on held-out rows, dropout 0.2
    rng = np.random.RandomState(0)
    X = _low_rank_with_gaps(1000, rng)
    small = PMIImputer(hidden_layer_sizes=(8,), max_iter=5, max_steps=40,
                       random_state=0).fit(X[:40])
    # 40 rows = 1 batch: 5 steps a network, 40 // 5 = 8 networks
    assert small.n_estimators_ == 8 and small.n_steps_ == 40
    assert small.validation_scores_ is None
    drop = [m for m in small.module_.modules() if type(m).__name__ == "Dropout"]
    assert drop and all(m.p == 0.5 for m in drop)
    # the budget regime's range follows the observed fraction of the data
    f = float((~np.isnan(X[:40])).mean())
    assert 0.5 < f < 1
    t = (f - 0.5) / 0.5
    np.testing.assert_allclose(small._plan.mask_range,
                               (0.5 - 0.3 * t, 0.95 - 0.15 * t))
    half = PMIImputer(hidden_layer_sizes=(8,), max_iter=1, max_steps=4,
                      random_state=0)
    complete = np.nan_to_num(X[:40])
    assert half.fit(complete)._plan.mask_range == pytest.approx((0.2, 0.8))
    mostly_missing = complete.copy()
    mostly_missing[:, 1:][rng.uniform(size=(40, 5)) < 0.7] = np.nan
    assert half.fit(mostly_missing)._plan.mask_range == (0.5, 0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        large = PMIImputer(hidden_layer_sizes=(8,), max_iter=2,
                           random_state=0).fit(X)
    assert large.n_estimators_ == 1 and len(large.validation_scores_) == 2
    drop = [m for m in large.module_.modules() if type(m).__name__ == "Dropout"]
    assert all(m.p == 0.2 for m in drop) and large._plan.mask_range == (0.2, 0.8)
    # explicit values win over the regime
    fixed = PMIImputer(hidden_layer_sizes=(8,), max_iter=2, dropout=0.1,
                       pseudo_mask_range=(0.3, 0.6), n_estimators=2,
                       random_state=0).fit(X[:40])
    assert fixed.n_estimators_ == 2 and fixed._plan.mask_range == (0.3, 0.6)


def test_explicit_early_stopping_changes_only_itself():
    # early_stopping=True on small data holds out rows, and every other
    # "auto" keeps the small-data value (one plan, _plan.py)
    X = _low_rank_with_gaps(200, np.random.RandomState(0))
    params = dict(hidden_layer_sizes=(8,), max_iter=3, max_steps=40,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto = PMIImputer(**params).fit(X)
        stopped = PMIImputer(early_stopping=True, **params).fit(X)
    assert auto.validation_scores_ is None
    assert len(stopped.validation_scores_) == stopped.n_iter_
    for field in ("large", "dropout", "mask_range", "blend", "batch_rule"):
        assert getattr(stopped._plan, field) == getattr(auto._plan, field)
    assert stopped._plan.dropout == 0.5 and stopped._plan.blend
    # the step budget's ensemble (of networks on fewer rows: more of them)
    assert auto.n_estimators_ > 1 and stopped.n_estimators_ > 1


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_indicator_and_marker_leave_training_unchanged(cls, gtex_small):
    # the missing indicator and a numeric marker draw no random number and
    # change no input of training: the same networks, bit for bit
    X = gtex_small.X.drop(columns="donor")
    spec = gtex_small.covariate_spec
    plain = cls(covariates=spec, **FAST).fit(X)
    expected = plain.transform(X)
    coded = X.copy()
    coded.iloc[:, :30] = coded.iloc[:, :30].fillna(-1.0)
    imp = cls(covariates=spec, missing_values=-1, add_indicator=True, **FAST)
    out = imp.fit_transform(coded)
    assert imp.loss_curve_ == plain.loss_curve_
    assert np.array_equal(out[:, :30], expected)
    assert np.array_equal(out[:, 30:], np.isnan(_genes(gtex_small).to_numpy()))
    frame = imp.set_output(transform="pandas").transform(coded)
    assert list(frame.columns) == list(imp.get_feature_names_out())
    assert frame.columns[30] == f"missingindicator_{X.columns[0]}"


def test_sample_imputations_copy_false_and_sparse(gtex_small):
    from scipy import sparse as sp

    X = np.array(_genes(gtex_small))  # a writeable float array
    before = X.copy()
    imp = GAINImputer(copy=False, **FAST).fit(X)
    draws = imp.sample_imputations(X, n_imputations=2, random_state=0)
    assert np.array_equal(X, before, equal_nan=True)  # never in place
    assert not np.array_equal(draws[0], draws[1])
    # sparse X: implicit zeros are observed, NaN is stored; dense draws
    X_sparse = sp.csr_array(np.where(before > 3, 0.0, before))
    dense = imp.sample_imputations(X_sparse.toarray(), 2, random_state=0)
    draws = imp.sample_imputations(X_sparse, 2, random_state=0)
    assert isinstance(draws, np.ndarray) and np.array_equal(draws, dense)


@pytest.mark.parametrize("n_rows", [40, 7])  # 7: padded to 16 rows
@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bfloat16"])
def test_network_skips_the_data_gradient_and_changes_no_other(n_rows, bf16):
    # ConditionalMLP takes its first product so that backward computes no
    # input gradient of the expression columns; outputs and every parameter
    # gradient must match one plain product over the concatenated input
    from skimpute_gtex._torch._networks import ConditionalMLP

    g = torch.Generator().manual_seed(0)
    net = ConditionalMLP(20, 10, 1, [5, 3], (16, 8), 0.0, True)
    x = torch.randn(n_rows, 10, generator=g)
    m = (torch.rand(n_rows, 10, generator=g) > 0.5).float()
    num = torch.randn(n_rows, 1, generator=g)
    codes = torch.stack([torch.randint(0, 5, (n_rows,), generator=g),
                         torch.randint(0, 3, (n_rows,), generator=g)], 1)
    runs = []
    for plain in (False, True):
        net.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if plain:
                inputs = [x * m, m, num, net.embeddings(codes)]
                out = net.body(torch.cat(inputs, dim=1))
            else:
                out = net((x * m, m), num, codes)
        out.float().square().sum().backward()
        runs.append([out.float(), *(p.grad for p in net.parameters())])
    assert all(p.grad.dtype == torch.float32 for p in net.parameters())
    # the training path also runs batch norm's closed-form backward, which
    # rounds differently from autograd's composition of the plain body
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bfloat16"])
def test_prefilled_input_buffer_trains_as_the_concatenated_input(bf16):
    # PMI's step writes x * visible and visible into a reused buffer (in
    # bfloat16 under bfloat16 autocast); the network then fills the covariate
    # columns. Outputs and gradients must be those of forward's own input.
    from skimpute_gtex._torch._networks import ConditionalMLP

    g = torch.Generator().manual_seed(1)
    net = ConditionalMLP(20, 10, 1, [5, 3], (16, 8), 0.0, True)
    x = torch.randn(24, 10, generator=g)
    m = (torch.rand(24, 10, generator=g) > 0.5).float()
    num = torch.randn(24, 1, generator=g)
    codes = torch.stack([torch.randint(0, 5, (24,), generator=g),
                         torch.randint(0, 3, (24,), generator=g)], 1)
    dtype = torch.bfloat16 if bf16 else torch.float32
    runs = []
    for prefilled in (False, True):
        net.zero_grad()
        buffer = torch.full((24, net.in_features), float("nan"), dtype=dtype)
        buffer[:, :10], buffer[:, 10:20] = x * m, m
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = (net.forward_prefilled(buffer, num, codes) if prefilled
                   else net((x * m, m), num, codes))
        out.float().square().sum().backward()
        runs.append([out.float(), *(p.grad for p in net.parameters())])
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_workspace_returns_reused_memory_grown_on_demand():
    from skimpute_gtex._torch._networks import Workspace

    ws = Workspace()
    a = ws.get("a", (8, 3), torch.float32, "cpu")
    assert a.shape == (8, 3) and a.is_contiguous()
    b = ws.get("a", (5, 3), torch.float32, "cpu")  # fewer rows: a view
    assert b.shape == (5, 3) and b.data_ptr() == a.data_ptr() and b.is_contiguous()
    c = ws.get("a", (9, 3), torch.float32, "cpu")  # more rows: grown
    assert c.shape == (9, 3) and ws.get("a", (9, 3), torch.float32, "cpu") is c
    assert ws.get("a", (9, 3), torch.bfloat16, "cpu").dtype == torch.bfloat16
    assert ws.get("b", (9, 4), torch.float32, "cpu").data_ptr() != c.data_ptr()


def test_training_rows_gathered_into_a_workspace_are_the_rows():
    from skimpute_gtex._torch._data import _Data
    from skimpute_gtex._torch._networks import Workspace

    rng = np.random.default_rng(0)
    genes = rng.normal(size=(30, 6))
    mask = rng.random((30, 6)) > 0.3
    genes[~mask] = np.nan
    data = _Data(genes, mask, np.zeros(6), np.ones(6), np.arange(30),
                 rng.normal(size=(30, 1)), rng.integers(0, 3, (30, 2)), "cpu")
    ws = Workspace()
    for idx in (torch.tensor([4, 0, 29, 7]), torch.tensor([1, 2])):
        plain = data.rows(idx, mask_dtype=torch.uint8)
        gathered = data.rows(idx, mask_dtype=torch.uint8, workspace=ws)
        for a, b in zip(plain, gathered):
            assert a.dtype == b.dtype and torch.equal(a, b)
    assert gathered[0].data_ptr() == ws.tensors["rows_x"].data_ptr()


@pytest.mark.parametrize("n_rows", [40, 7])  # 7: padded to 16 rows
@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bfloat16"])
def test_training_steps_in_a_workspace_match_autograd_and_reuse_it(n_rows, bf16):
    # PMI's steps run the network in one Workspace: casts, transposes and
    # the weight gradients (written into .grad) reuse its memory. Outputs
    # and every gradient must be those of the plain network; after the first
    # step no tensor is allocated in it; a second backward accumulates.
    from skimpute_gtex._torch._networks import ConditionalMLP, Workspace

    g = torch.Generator().manual_seed(5)
    net = ConditionalMLP(20, 30, 1, [5, 3], (16, 8), 0.0, True)
    dtype = torch.bfloat16 if bf16 else torch.float32
    ws = Workspace()

    def batch():
        x = torch.randn(n_rows, 10, generator=g)
        m = (torch.rand(n_rows, 10, generator=g) > 0.5).float()
        num = torch.randn(n_rows, 1, generator=g)
        codes = torch.stack([torch.randint(0, 5, (n_rows,), generator=g),
                             torch.randint(0, 3, (n_rows,), generator=g)], 1)
        return x * m, m, num, codes

    def run(args, workspace):
        xm, m, num, codes = args
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if workspace is None:
                inputs = [xm, m, num, net.embeddings(codes)]
                out = net.body(torch.cat(inputs, dim=1))
            else:
                buffer = torch.empty((n_rows, net.in_features), dtype=dtype)
                buffer[:, :10], buffer[:, 10:20] = xm, m
                out = net.forward_prefilled(buffer, num, codes, workspace=ws)
        out.float().square().sum().backward()
        return [out.float(), *(p.grad.clone() for p in net.parameters())]

    seen = None
    for _ in range(2):
        args = batch()
        net.zero_grad(set_to_none=True)
        ours = run(args, ws)
        net.zero_grad(set_to_none=True)
        plain = run(args, None)
        # differences of float32 rounding at each tensor's scale
        for a, b in zip(ours, plain):
            torch.testing.assert_close(a, b, rtol=1e-4,
                                       atol=1e-5 * float(b.detach().abs().max()))
        net.zero_grad(set_to_none=True)
        run(args, ws)
        kept = {k: t.data_ptr() for k, t in ws.tensors.items()}
        assert seen is None or kept == seen  # nothing new, nothing moved
        seen = kept
        weights = [layer.weight for layer in net.body if hasattr(layer, "in_features")]
        assert all(any(w.grad.data_ptr() == ptr for ptr in kept.values())
                   for w in weights)
        twice = run(args, ws)  # .grad set: added to, as autograd does
        for a, b in zip(twice[1:], ours[1:]):
            torch.testing.assert_close(a, 2 * b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("in_workspace", [False, True])
def test_masked_squared_error_matches_autograd(in_workspace):
    # PMI's loss, a custom autograd function kept for its workspace (a
    # benchmark A/B): the value and gradient of the plain expression
    # ((out - x)^2 * hidden).sum() / max(hidden.sum(), 1), with or without a
    # workspace for its temporaries
    from skimpute_gtex._torch._networks import Workspace
    from skimpute_gtex._torch._step import _MaskedSquaredError

    g = torch.Generator().manual_seed(2)
    x = torch.randn(30, 7, generator=g)
    hidden = (torch.rand(30, 7, generator=g) > 0.6).to(torch.uint8)
    ws = Workspace() if in_workspace else None
    for dtype in (torch.float32, torch.bfloat16):
        for h in (hidden, torch.zeros_like(hidden)):  # none hidden: loss 0
            out = torch.randn(30, 7, generator=g).to(dtype).requires_grad_()
            ref = out.detach().clone().requires_grad_()
            loss = _MaskedSquaredError.apply(out, x, h, ws)
            expected = ((ref.float() - x) ** 2 * h).sum() / h.sum().clamp_min(1)
            (3 * loss).backward()
            (3 * expected).backward()
            assert out.grad.dtype == dtype
            torch.testing.assert_close(loss, expected)
            torch.testing.assert_close(out.grad, ref.grad)


def test_masked_squared_error_backward_twice():
    # a retained graph backpropagated twice accumulates twice the gradient:
    # the backward leaves the tensor it saved unchanged
    from skimpute_gtex._torch._step import _MaskedSquaredError

    g = torch.Generator().manual_seed(5)
    x = torch.randn(12, 5, generator=g)
    hidden = (torch.rand(12, 5, generator=g) > 0.5).to(torch.uint8)
    out = torch.randn(12, 5, generator=g).requires_grad_()
    loss = _MaskedSquaredError.apply(out, x, hidden)
    loss.backward(retain_graph=True)
    once = out.grad.clone()
    loss.backward()
    torch.testing.assert_close(out.grad, 2 * once)


def test_keep_sampler_draws_each_row_at_its_probability():
    # the CPU sampler of PMI's visible entries: True with probability p per
    # row (within 2e-5 by construction), decided by the generator's seed
    from skimpute_gtex._torch._step import _keep_sampler

    cpu = torch.device("cpu")
    p = torch.tensor([[0.0], [0.1], [0.5], [0.9], [1.0]])
    draw = _keep_sampler(torch.Generator().manual_seed(3), cpu)
    keep = torch.cat([draw(p, (5, 20000)) for _ in range(5)], dim=1)
    assert keep.dtype == torch.bool and keep.shape == (5, 100000)
    freq = keep.double().mean(1)
    assert freq[0] == 0 and freq[-1] > 0.9999
    # binomial sd at n=1e5 is at most 0.0016
    torch.testing.assert_close(freq, p[:, 0].double(), atol=0.008, rtol=0)
    again = _keep_sampler(torch.Generator().manual_seed(3), cpu)
    other = _keep_sampler(torch.Generator().manual_seed(4), cpu)
    assert torch.equal(again(p, (5, 20000)), keep[:, :20000])
    assert not torch.equal(other(p, (5, 20000)), keep[:, :20000])


def test_dropout_masks_come_from_its_generator_at_its_rate():
    # CPU dropout draws from a NumPy generator seeded by the generator the
    # training loop sets: rate 1 - p, kept values scaled, decided by the
    # seed, reset with the generator, and no global generator is touched
    from skimpute_gtex._torch._networks import Dropout, set_generator

    x = torch.ones((301, 333))  # an element count that is not a multiple of 4
    drop = Dropout(0.3).train()
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    set_generator(drop, torch.Generator().manual_seed(5))
    out = drop(x)
    kept = out != 0
    torch.testing.assert_close(out[kept], torch.full_like(out[kept], 1 / 0.7))
    # binomial sd of the kept fraction at n=1e5 is 0.0015
    assert abs(kept.double().mean().item() - 0.7) < 0.008
    second = drop(x)
    assert not torch.equal(second, out)  # the stream goes on
    set_generator(drop, torch.Generator().manual_seed(5))
    assert torch.equal(drop(x), out)
    set_generator(drop, torch.Generator().manual_seed(6))
    assert not torch.equal(drop(x), out)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])
    set_generator(drop, None)
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(RuntimeError, match="generator"):
        drop.train()(x)


@pytest.mark.parametrize("native", [False, True], ids=["no-bf16", "bf16"])
def test_precision_auto_is_bfloat16_where_the_hardware_has_it(
    native, monkeypatch, gtex_small
):
    # "auto" (PMI's default) must train exactly as the precision it resolves
    # to, and say which in precision_; forced bfloat16 trains differently
    from skimpute_gtex._torch import _device

    assert PMIImputer().precision == "auto"
    assert GAINImputer().precision == "float32"
    X = _genes(gtex_small)
    fast = dict(FAST, blend_low_rank=False)  # the network's output alone
    outs = {}
    for precision in ("float32", "bfloat16"):
        est = PMIImputer(precision=precision, **fast).fit(X)
        assert est.precision_ == precision
        outs[precision] = est.transform(X)
    assert not np.array_equal(outs["float32"], outs["bfloat16"])
    monkeypatch.setattr(_device, "bf16_supported", lambda device: native)
    est = PMIImputer(**fast).fit(X)
    expected = "bfloat16" if native else "float32"
    assert est.precision_ == expected
    assert np.array_equal(est.transform(X), outs[expected])


def _weights(est):
    return [t.clone() for name in est._network_names
            if getattr(est, name) is not None
            for t in getattr(est, name).state_dict().values()]


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_explicit_n_jobs_gives_the_same_bits(cls, gtex_small):
    # the determinism contract: random_state, device and an explicit n_jobs
    # decide the fit bit for bit
    X = gtex_small.X.drop(columns="donor")
    params = {**FAST, "covariates": gtex_small.covariate_spec, "batch_size": 13}
    for n_jobs in (1, 2):
        a, b = (cls(**params, n_jobs=n_jobs).fit(X) for _ in range(2))
        assert a.loss_curve_ == b.loss_curve_
        assert all(torch.equal(u, v) for u, v in zip(_weights(a), _weights(b)))
        assert np.array_equal(a.transform(X), b.transform(X))


@pytest.mark.parametrize("cls", IMPUTERS, ids=ids)
def test_small_fits_train_each_network_on_one_thread(cls, gtex_small):
    # n_jobs=None below the large regime: one thread per network (networks
    # side by side), so the model is n_jobs=1's, bit for bit, on any machine
    X = gtex_small.X.drop(columns="donor")
    params = {**FAST, "covariates": gtex_small.covariate_spec,
              "n_estimators": 2}
    one, auto = (cls(**params, n_jobs=n_jobs).fit(X) for n_jobs in (1, None))
    assert one.loss_curve_ == auto.loss_curve_
    assert all(torch.equal(u, v) for u, v in zip(_weights(one), _weights(auto)))
    # the fit itself never set or adapted a thread count
    assert auto._thread_choices == []


def test_adapting_threads_stay_close_to_fixed_threads(monkeypatch):
    # n_jobs=None in the large regime moves between thread counts as it
    # trains; the products may round differently at each count, so the
    # model may differ from a fixed-n_jobs fit; in a short fit of a small
    # network, by less than a thousandth of the data's spread. Windows of
    # one step make it move between counts all the time.
    from skimpute_gtex._torch import _threads

    if torch.get_num_threads() < 2:
        pytest.skip("one CPU thread: nothing to adapt")
    rng = np.random.RandomState(0)
    n = 1000  # the large regime (LARGE_FROM)
    X = rng.randn(n, 3) @ rng.randn(3, 40) + 0.3 * rng.randn(n, 40)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    params = dict(hidden_layer_sizes=(32,), max_iter=4, random_state=0,
                  device="cpu", precision="float32")
    fixed = PMIImputer(**params, n_jobs=2).fit(X)
    monkeypatch.setattr(_threads, "_WINDOW_S", 0.0)
    monkeypatch.setattr(_threads, "_WINDOW_STEPS", 1)
    adapted = PMIImputer(**params, n_jobs=None).fit(X)
    if adapted._thread_choices[0][1] < 2 or len(adapted._thread_choices) < 2:
        pytest.skip("torch without an OpenMP thread pool to adapt")
    np.testing.assert_allclose(adapted.transform(X), fixed.transform(X),
                               rtol=0, atol=1e-3 * np.nanstd(X))


def test_threads_restored_and_private_to_the_calling_thread():
    import threading

    from skimpute_gtex._torch._threads import Threads

    before = torch.get_num_threads()
    seen = {}
    barrier = threading.Barrier(2)

    def work(name, n):
        with Threads(n):
            seen[name] = torch.get_num_threads()
            barrier.wait()  # both inside at once
            seen[name + " still"] = torch.get_num_threads()
        seen[name + " after"] = torch.get_num_threads()

    workers = [threading.Thread(target=work, args=(f"t{n}", n)) for n in (1, 3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if seen["t1"] == before:  # no OpenMP runtime to control
        pytest.skip("torch without an OpenMP thread pool")
    assert seen["t1"] == seen["t1 still"] == 1
    assert seen["t3"] == seen["t3 still"] == 3
    assert seen["t1 after"] == seen["t3 after"] == before
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("fast_threads", [1, 4])
def test_threads_settle_on_the_fastest_count(monkeypatch, fast_threads):
    # a fake clock: a step takes 4 ms at the fast count and 10 ms otherwise
    # (one thread is fastest beside a busy process, all on an idle machine)
    from skimpute_gtex._torch import _threads

    clock = [0.0]
    monkeypatch.setattr(_threads.time, "perf_counter", lambda: clock[0])
    steps_at = {}
    with _threads.Threads(4, adapt=True) as threads:
        if threads.n_threads is None:
            pytest.skip("torch without an OpenMP thread pool")
        assert torch.get_num_threads() == threads.n_threads
        for _ in range(2000):
            n = threads.n_threads
            steps_at[n] = steps_at.get(n, 0) + 1
            clock[0] += 0.004 if n == fast_threads else 0.010
            threads.step()
            assert torch.get_num_threads() == threads.n_threads
    assert threads.choices[0] == (0, 4)
    assert {n for _, n in threads.choices} <= {4, 2, 1}
    # most steps at the fast count; the others are the probes
    assert steps_at[fast_threads] > 0.8 * 2000


def test_concurrent_networks_stop_when_one_fails():
    # train_members: networks in threads; the first error propagates and the
    # other networks stop at their next step instead of training to the end
    import time as _time

    from skimpute_gtex._torch._threads import Stopped
    from skimpute_gtex._torch._training import train_members

    steps = {}

    def train_one(k, threads):
        for i in range(2000):
            steps[k] = i
            if k == 1 and i == 5:
                raise ValueError("network 1 diverged")
            threads.step()
            _time.sleep(0.001)
        return k

    with pytest.raises(ValueError, match="network 1 diverged"):
        train_members(train_one, 2, n_threads=2)
    assert steps[0] < 1999  # stopped early
    # serially (one thread), no Threads object is given and nothing stops
    assert train_members(lambda k, threads: (k, threads), 3, n_threads=1) == [
        (0, None), (1, None), (2, None)]
    assert issubclass(Stopped, Exception)


def test_gene_statistics_by_blocks_have_the_bits_of_the_whole_matrix(monkeypatch):
    # fit's per-gene statistics are taken over blocks of columns (bounded
    # memory); every block size must give numpy's whole-matrix values
    import warnings

    from skimpute_gtex._torch import _data

    rng = np.random.default_rng(0)
    genes = rng.normal(size=(50, 23)) * rng.uniform(0.1, 100, size=23)
    genes[rng.random(genes.shape) < 0.5] = np.nan
    genes[:, 3] = np.nan  # a gene never observed
    mask = ~np.isnan(genes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = (np.nanmean(genes, 0), np.nanstd(genes, 0),
                    np.nanmin(np.where(mask, genes, np.inf), 0),
                    np.nanmax(np.where(mask, genes, -np.inf), 0))
    # blocks of 2 columns, of 4 (the last of 3), of 11 (the last of 1), all
    for block in (1, 50 * 4, 50 * 11, 2**22):
        monkeypatch.setattr(_data, "_STATS_BLOCK", block)
        for got, want in zip(_data.gene_statistics(genes, mask), expected):
            assert np.array_equal(got, want, equal_nan=True)

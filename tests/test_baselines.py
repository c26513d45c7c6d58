"""Rules of the baseline imputers (sklearn compatibility is in test_common)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from skimpute_gtex.baselines import (
    BloodSurrogateImputer,
    CovariateImputer,
    MissForestImputer,
    SoftImputeImputer,
    TissueMedianImputer,
)
from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import masked_r2_score

SPEC = [
    ("tissue", "categorical", ["tissue"]),
    ("donor", "categorical", ["donor"]),
    ("sex", "categorical", ["sex"]),
    ("age", "numerical", ["age"]),
]
TISSUE = [("tissue", "categorical", "tissue")]
BLOOD = [("tissue", "categorical", "tissue"), ("donor", "categorical", "donor")]
FOREST = dict(n_estimators=8, random_state=0)


@pytest.fixture(scope="module")
def gtex():
    """150 samples x 12 genes, 4 tissues, 30% MCAR, and the truth."""
    n_genes = 12
    data = make_gtex_like(n_samples=150, n_genes=n_genes, n_tissues=4, random_state=0)
    X = data.frame.copy()
    X_missing, mask = simulate_missing(data.expression, 0.3, random_state=0)
    X.iloc[:, :n_genes] = X_missing
    return X, mask, data.expression.to_numpy(), n_genes


def _rmse(X_imputed, truth, mask):
    return float(np.sqrt(np.mean((X_imputed[mask] - truth[mask]) ** 2)))


def _genes(X, n_genes):
    return X.iloc[:, :n_genes].to_numpy()


# ------------------------------------------------------------- tissue median
def test_tissue_median_hand_computed():
    X = pd.DataFrame(
        {
            "g1": [1.0, 2.0, 6.0, np.nan, 10.0, np.nan],
            "g2": [np.nan, 4.0, 5.0, 7.0, np.nan, np.nan],
            "tissue": ["a", "a", "a", "a", "b", "b"],
        }
    )
    imp = TissueMedianImputer(covariates=TISSUE).fit(X)
    assert_array_equal(imp.group_categories_, ["a", "b"])
    assert_array_equal(imp.global_median_, [4.0, 5.0])
    # row 0: unseen -> global; b has no observed g2 -> global median of g2
    assert_array_equal(imp.medians_, [[4.0, 5.0], [2.0, 5.0], [10.0, 5.0]])
    out = imp.transform(X)
    assert_array_equal(out[:, 0], [1.0, 2.0, 6.0, 2.0, 10.0, 10.0])
    assert_array_equal(out[:, 1], [5.0, 4.0, 5.0, 7.0, 5.0, 5.0])

    new = pd.DataFrame({"g1": [np.nan, np.nan], "g2": [np.nan, 1.5],
                        "tissue": ["c", "b"]})
    with pytest.warns(UserWarning, match="unseen"):
        out = imp.transform(new)
    assert_array_equal(out, [[4.0, 5.0], [10.0, 1.5]])


def test_tissue_median_empty_gene_and_global():
    X = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 5.0], [4.0, np.nan, np.nan]])
    out = TissueMedianImputer().fit_transform(X)
    with pytest.warns(UserWarning, match="Skipping features"):
        expected = SimpleImputer(strategy="median").fit_transform(X)
    assert_array_equal(out, expected)
    kept = TissueMedianImputer(keep_empty_features=True).fit_transform(X)
    assert kept.shape == (3, 3)
    assert_array_equal(kept[:, 1], 0.0)


def test_tissue_median_group_not_in_spec_warns():
    X = pd.DataFrame({"g": [1.0, np.nan, 3.0, 8.0], "sex": ["m", "m", "f", "f"]})
    imp = TissueMedianImputer(covariates=[("sex", "categorical", "sex")])
    with pytest.warns(UserWarning, match="group='tissue' is not the name"):
        out = imp.fit_transform(X)
    assert out[1, 0] == 3.0  # global median, not the median of "m"
    by_sex = TissueMedianImputer(covariates=[("sex", "categorical", "sex")],
                                 group="sex").fit_transform(X)
    assert by_sex[1, 0] == 1.0


def test_tissue_median_group_must_be_categorical():
    X = pd.DataFrame({"g": [1.0, np.nan], "tissue": [0.0, 1.0]})
    imp = TissueMedianImputer(covariates=[("tissue", "numerical", "tissue")])
    with pytest.raises(ValueError, match="must name a categorical covariate"):
        imp.fit(X)


def test_tissue_median_beats_global_on_gtex(gtex):
    X, mask, truth, n = gtex
    X_before = X.copy()
    cols = X.columns[:n].tolist() + ["tissue"]
    out = TissueMedianImputer(covariates=TISSUE).fit_transform(X[cols])
    glob = TissueMedianImputer().fit_transform(_genes(X, n))
    assert _rmse(out, truth, mask) < 0.8 * _rmse(glob, truth, mask)
    observed = ~np.isnan(_genes(X, n))
    assert_array_equal(out[observed], _genes(X, n)[observed])
    pd.testing.assert_frame_equal(X, X_before)


# ------------------------------------------------------------- blood surrogate
def _blood_frame():
    return pd.DataFrame(
        {
            "g1": [7.0, np.nan, 1.0, np.nan, 3.0, np.nan],
            "g2": [np.nan, np.nan, 2.0, 4.0, 6.0, np.nan],
            "tissue": ["Whole Blood", "Lung", "Lung", "Lung", "Lung", "Liver"],
            "donor": ["d1", "d1", "d2", "d2", "d3", "d1"],
        }
    )


def test_blood_surrogate_hand_computed():
    X = _blood_frame()
    imp = BloodSurrogateImputer(covariates=BLOOD)
    out = imp.fit_transform(X)
    assert_array_equal(imp.blood_donors_, ["d1"])
    # d1's blood sample: g1 = 7 observed, g2 missing
    assert_array_equal(imp.blood_profiles_, [[7.0, np.nan]])
    # g1: d1 -> 7 (rows 1, 5); d2 has no blood -> Lung median of 1, 3 = 2
    assert_array_equal(out[:, 0], [7.0, 7.0, 1.0, 2.0, 3.0, 7.0])
    # g2: blood value missing -> tissue medians: blood none -> global 4,
    # Lung median(2, 4, 6) = 4, Liver none -> global 4
    assert_array_equal(out[:, 1], [4.0, 4.0, 2.0, 4.0, 6.0, 4.0])
    # missing entries: g1 rows 1, 3, 5; g2 rows 0, 1, 5 -> blood used twice
    assert imp.fallback_fraction_ == pytest.approx(4 / 6)

    glob = BloodSurrogateImputer(covariates=BLOOD, fallback="median").fit(X)
    assert glob.medians_.shape == (1, 2)
    assert_array_equal(glob.transform(X)[:, 0], [7.0, 7.0, 1.0, 3.0, 3.0, 7.0])


def test_blood_surrogate_several_blood_samples_and_missing_donor():
    X = pd.DataFrame(
        {
            "g": [2.0, 4.0, np.nan, np.nan, np.nan, 9.0],
            "tissue": ["Blood", "Blood", "Blood", "Skin", "Skin", "Skin"],
            "donor": ["d1", "d1", "d1", "d1", None, "d2"],
        }
    )
    imp = BloodSurrogateImputer(covariates=BLOOD, surrogate="Blood")
    out = imp.fit_transform(X)
    # mean of d1's observed blood values, also for d1's third blood sample;
    # the sample without donor falls back to the Skin median (9)
    assert_array_equal(out[:, 0], [2.0, 4.0, 3.0, 3.0, 9.0, 9.0])
    assert imp.fallback_fraction_ == pytest.approx(1 / 3)


def test_blood_surrogate_transform_new_rows():
    imp = BloodSurrogateImputer(covariates=BLOOD).fit(_blood_frame())
    new = pd.DataFrame(
        {
            "g1": [np.nan, 5.0, np.nan, np.nan, np.nan],
            "g2": [np.nan, 8.0, np.nan, 1.0, np.nan],
            "tissue": ["Lung", "Whole Blood", "Lung", "Whole Blood", "Lung"],
            "donor": ["d1", "d9", "d9", "d1", "d2"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the unseen donor d9 is expected
        out = imp.transform(new)
    # d1: blood sample in these rows has g2 = 1 but no g1 -> fit profile 7
    assert_array_equal(out[0], [7.0, 1.0])
    # new donor d9 uses its blood sample in the rows passed to transform
    assert_array_equal(out[2], [5.0, 8.0])
    # d1's blood sample itself: g1 from the fit profile
    assert_array_equal(out[3], [7.0, 1.0])
    # d2 has no blood sample anywhere: Lung medians
    assert_array_equal(out[4], [2.0, 4.0])


def test_blood_surrogate_without_covariates_falls_back():
    X = np.array([[1.0, np.nan], [np.nan, 2.0], [5.0, 6.0]])
    imp = BloodSurrogateImputer()
    out = imp.fit_transform(X)
    assert_array_equal(out, SimpleImputer(strategy="median").fit_transform(X))
    assert imp.fallback_fraction_ == 1.0


def test_blood_surrogate_uses_same_donor_on_gtex(gtex):
    X, mask, truth, n = gtex
    imp = BloodSurrogateImputer(covariates=SPEC)
    out = imp.fit_transform(X)
    assert out.shape == (len(X), n)
    assert 0.0 < imp.fallback_fraction_ < 1.0
    genes = _genes(X, n)
    blood = (X["tissue"] == "Whole Blood").to_numpy()
    # donors with one blood sample: other samples get its observed values
    checked = 0
    for i in np.flatnonzero(~blood):
        b = np.flatnonzero(blood & (X["donor"] == X["donor"].iloc[i]).to_numpy())
        if b.size == 1:
            use = np.isnan(genes[i]) & ~np.isnan(genes[b[0]])
            assert_array_equal(out[i, use], genes[b[0], use])
            checked += use.sum()
    assert checked > 100


# ------------------------------------------------------------------ missforest
def test_missforest_beats_median_and_stops_early(gtex):
    X, mask, truth, n = gtex
    imp = MissForestImputer(covariates=SPEC, max_iter=10, **FOREST)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        out = imp.fit_transform(X)
    median = TissueMedianImputer().fit_transform(_genes(X, n))
    assert _rmse(out, truth, mask) < 0.8 * _rmse(median, truth, mask)
    # the sweep whose change increased is run but not returned
    assert 1 <= imp.n_iter_ < 10
    assert len(imp.differences_) == imp.n_iter_ + 1
    assert imp.differences_[-1] > imp.differences_[-2]
    assert np.all(np.diff(imp.differences_[:-1]) <= 0)
    observed = ~np.isnan(_genes(X, n))
    assert_array_equal(out[observed], _genes(X, n)[observed])
    assert len(imp.estimators_) == n and all(imp.estimators_)

    # the returned iterate is the one the same run stops at with max_iter
    same = MissForestImputer(covariates=SPEC, max_iter=imp.n_iter_, **FOREST)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        assert_array_equal(same.fit_transform(X), out)


def test_missforest_deterministic(gtex):
    X, _, _, n = gtex
    X = X.iloc[:60, :n]
    a = MissForestImputer(max_iter=3, **FOREST)
    b = MissForestImputer(max_iter=3, **FOREST)
    c = MissForestImputer(max_iter=3, n_estimators=8, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out_a, out_b, out_c = a.fit_transform(X), b.fit_transform(X), c.fit_transform(X)
    assert_array_equal(out_a, out_b)
    assert not np.array_equal(out_a, out_c)


def test_missforest_inductive_transform(gtex):
    X, mask, truth, n = gtex
    train, test = X.iloc[:100], X.iloc[100:]
    imp = MissForestImputer(covariates=SPEC, max_iter=4, **FOREST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        imp.fit(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # donors unseen in fit
        out = imp.transform(test)
    assert out.shape == (50, n) and not np.isnan(out).any()
    genes = _genes(test, n)
    observed = ~np.isnan(genes)
    assert_array_equal(out[observed], genes[observed])
    median = TissueMedianImputer().fit(train.iloc[:, :n]).transform(test.iloc[:, :n])
    assert _rmse(out, truth[100:], mask[100:]) < _rmse(median, truth[100:], mask[100:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert_array_equal(imp.transform(test), out)  # transform is deterministic


def test_missforest_complete_training_data(gtex):
    _, mask, truth, n = gtex
    imp = MissForestImputer(max_iter=5, **FOREST).fit(truth[:80])
    assert imp.n_iter_ == 1
    assert_array_equal(imp.differences_, [0.0])
    assert all(forest is not None for forest in imp.estimators_)
    X_new = np.where(mask[80:], np.nan, truth[80:])
    out = imp.transform(X_new)
    assert not np.isnan(out).any()
    median = np.nanmedian(truth[:80], axis=0)
    assert _rmse(out, truth[80:], mask[80:]) < _rmse(
        np.where(mask[80:], median, truth[80:]), truth[80:], mask[80:]
    )


def test_missforest_convergence_warning_and_empty_gene():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    X[:, 2] = np.nan
    imp = MissForestImputer(max_iter=1, **FOREST)
    with pytest.warns(ConvergenceWarning, match=r"\[MissForestImputer\]"):
        out = imp.fit_transform(X)
    assert out.shape == (30, 3) and imp.n_iter_ == 1
    assert imp.estimators_[2] is None
    assert 2 not in imp.imputation_order_


# ------------------------------------------------------------ covariate wrapper
@pytest.mark.parametrize(
    "estimator",
    [KNNImputer(n_neighbors=5), IterativeImputer(max_iter=2, random_state=0)],
    ids=lambda e: type(e).__name__,
)
def test_covariate_imputer_genes_only(gtex, estimator):
    X, mask, truth, n = gtex
    X = X.drop(columns="donor")  # 37 donors: too many columns for a fast test
    spec = [cov for cov in SPEC if cov[0] != "donor"]
    X_before = X.copy()
    imp = CovariateImputer(estimator, covariates=spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = imp.fit_transform(X)
    assert out.shape == (len(X), n) and not np.isnan(out).any()
    genes = _genes(X, n)
    observed = ~np.isnan(genes)
    assert_array_equal(out[observed], genes[observed])
    pd.testing.assert_frame_equal(X, X_before)
    # the inner imputer saw the genes, one-hot tissue and sex, standardized age
    n_onehot = X["tissue"].nunique() + X["sex"].nunique()
    assert imp.n_covariate_columns_ == n_onehot + 1
    assert imp.estimator_.n_features_in_ == n + n_onehot + 1
    assert not hasattr(estimator, "n_features_in_")  # the parameter is cloned
    assert imp.estimator_.get_params()["keep_empty_features"] is True
    assert _rmse(out, truth, mask) < _rmse(
        TissueMedianImputer().fit_transform(genes), truth, mask
    )

    passthrough = CovariateImputer(estimator, covariates=spec,
                                   covariate_output="passthrough")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = passthrough.fit_transform(X)
    assert full.shape == (len(X), n + 3)
    assert_array_equal(full[:, n:], X.iloc[:, n:].to_numpy(dtype=object))
    assert list(passthrough.get_feature_names_out()) == list(X.columns)


def test_covariate_imputer_without_covariates_is_the_estimator():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 5))
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    X[:, 3] = np.nan
    out = CovariateImputer().fit_transform(X)
    assert_array_equal(out, KNNImputer().fit_transform(X))
    kept = CovariateImputer(keep_empty_features=True).fit_transform(X)
    assert kept.shape == (40, 5)
    assert_array_equal(kept[:, 3], 0.0)


def test_covariate_imputer_rejects_width_changes():
    X = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 4.0]])
    imp = CovariateImputer(SimpleImputer(add_indicator=True))
    with pytest.raises(ValueError, match="one output column per input column"):
        imp.fit_transform(X)


# ---------------------------------------------------------------- soft-impute
def _low_rank(n=120, p=40, rank=3, seed=0, rate=0.4):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, rank) @ rng.randn(rank, p) + 0.1 * rng.randn(n, p)
    X_miss, mask = simulate_missing(X, rate, random_state=seed + 1)
    return X, X_miss, mask


def test_softimpute_recovers_low_rank_and_beats_the_mean():
    X, X_miss, mask = _low_rank()
    imp = SoftImputeImputer(random_state=0).fit(X_miss)
    out = imp.transform(X_miss)
    assert masked_r2_score(X, out, mask) > 0.9
    assert imp.shrinkage_ in np.geomspace(0.9, 0.005, imp.n_shrinkages)
    assert imp.validation_scores_ and max(imp.validation_scores_) > 0.8
    np.testing.assert_array_equal(out[~mask], X_miss[~mask])


def test_softimpute_transform_is_the_fitted_fixed_point():
    # transform folds rows into the fitted model in closed form; on the
    # training data that must give soft-impute's own completed matrix
    from skimpute_gtex.baselines._softimpute import soft_impute

    X, X_miss, mask = _low_rank(seed=3)
    imp = SoftImputeImputer(shrinkage=0.05, tol=1e-12, max_iter=3000).fit(X_miss)
    observed = ~np.isnan(X_miss)
    resid = np.where(observed, (X_miss - imp.mean_) / imp.scale_ - imp.coef_[0], 0)
    z, _, _, _ = soft_impute(resid, observed, imp.lambda_, max_iter=3000, tol=1e-12)
    expected = (imp.coef_[0] + z) * imp.scale_ + imp.mean_
    out = imp.transform(X_miss)
    np.testing.assert_allclose(out[mask], expected[mask], rtol=1e-4, atol=1e-4)


def test_softimpute_uses_covariates_and_imputes_new_samples(gtex_small):
    X = gtex_small.X.drop(columns=["donor"])
    imp = SoftImputeImputer(covariates=gtex_small.covariate_spec, random_state=0)
    imp.fit(X.iloc[:150])
    out = imp.transform(X.iloc[150:])
    truth = gtex_small.expression.to_numpy()[150:]
    assert out.shape == truth.shape and not np.isnan(out).any()
    tm = TissueMedianImputer(covariates=gtex_small.covariate_spec).fit(X.iloc[:150])
    mask = gtex_small.mask[150:]
    assert masked_r2_score(truth, out, mask) > masked_r2_score(
        truth, tm.transform(X.iloc[150:]), mask
    )


# ------------------------------------------- missing_values, add_indicator
def test_tissue_median_marker_indicator_and_passthrough_hand_computed():
    X = pd.DataFrame(
        {
            "g1": [1.0, 3.0, 0.0, 10.0],
            "g2": [2.0, 4.0, 6.0, 8.0],
            "tissue": ["a", "a", "a", "b"],
        }
    )
    imp = TissueMedianImputer(
        covariates=TISSUE, missing_values=0, add_indicator=True,
        covariate_output="passthrough",
    )
    out = imp.fit_transform(X)
    assert out[:, :2].tolist() == [[1.0, 2.0], [3.0, 4.0], [2.0, 6.0], [10.0, 8.0]]
    assert out[:, 2].tolist() == [0.0, 0.0, 1.0, 0.0]  # g1 only: g2 has no 0
    assert out[:, 3].tolist() == ["a", "a", "a", "b"]
    assert list(imp.get_feature_names_out()) == [
        "g1", "g2", "missingindicator_g1", "tissue"
    ]
    assert X["g1"].tolist() == [1.0, 3.0, 0.0, 10.0]


def test_covariate_imputer_passes_nan_to_its_estimator_whatever_the_marker(gtex):
    X, _, _, n_genes = gtex
    coded = X.copy()
    coded.iloc[:, :n_genes] = coded.iloc[:, :n_genes].fillna(-1.0)
    expected = CovariateImputer(KNNImputer(), covariates=SPEC).fit_transform(X)
    imp = CovariateImputer(KNNImputer(), covariates=SPEC, missing_values=-1)
    assert_array_equal(imp.fit_transform(coded), expected)
    with pytest.raises(ValueError, match="set add_indicator=True on the"):
        CovariateImputer(SimpleImputer(add_indicator=True)).fit_transform(
            np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 4.0]])
        )

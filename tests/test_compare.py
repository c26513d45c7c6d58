"""compare_imputers: the same masks for every imputer, a tidy table."""

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer

from skimpute_gtex.baselines import CovariateImputer, TissueMedianImputer
from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import masked_r2_score
from skimpute_gtex.model_selection import compare_imputers

SPEC = [("tissue", "categorical", ["tissue"])]


@pytest.fixture(scope="module")
def data():
    d = make_gtex_like(n_samples=120, n_genes=15, n_tissues=3, random_state=0)
    d.X = pd.concat([d.expression, d.covariates[["tissue"]]], axis=1)
    return d


def test_table_and_first_mask(data):
    imputers = {"median": TissueMedianImputer(covariates=SPEC),
                "mean": CovariateImputer(SimpleImputer(), covariates=SPEC)}
    res = compare_imputers(imputers, data.X, covariates=SPEC, n_repeats=3,
                           missing_rate=0.3, random_state=0)
    assert list(res.index) == ["median", "mean"]
    assert list(res.columns) == ["mean_r2", "std_r2", "mean_time", "std_time",
                                 "repeat0_r2", "repeat1_r2", "repeat2_r2"]
    repeats = res[["repeat0_r2", "repeat1_r2", "repeat2_r2"]].to_numpy()
    np.testing.assert_allclose(res["mean_r2"], repeats.mean(axis=1))
    np.testing.assert_allclose(res["std_r2"], repeats.std(axis=1, ddof=1))
    assert (res["mean_time"] >= 0).all()
    assert res.loc["median", "mean_r2"] > res.loc["mean", "mean_r2"]
    # repeat 0 is simulate_missing(genes, rate, random_state=0), scored by hand
    genes = data.expression.to_numpy()
    hidden, mask = simulate_missing(genes, 0.3, random_state=0)
    X = data.X.copy()
    X.iloc[:, :15] = hidden
    out = TissueMedianImputer(covariates=SPEC).fit_transform(X)
    assert res.loc["median", "repeat0_r2"] == masked_r2_score(genes, out, mask)


def test_same_masks_for_every_imputer_and_call(data):
    a = compare_imputers([TissueMedianImputer(covariates=SPEC)], data.X,
                         covariates=SPEC, n_repeats=2, random_state=1)
    b = compare_imputers({"x": TissueMedianImputer(covariates=SPEC),
                          "y": TissueMedianImputer(covariates=SPEC)}, data.X,
                         covariates=SPEC, n_repeats=2, random_state=1)
    assert list(a.index) == ["TissueMedianImputer"]
    r2 = ["repeat0_r2", "repeat1_r2"]
    np.testing.assert_array_equal(a[r2].to_numpy()[0], b.loc["x", r2])
    np.testing.assert_array_equal(b.loc["x", r2], b.loc["y", r2])


def test_plain_sklearn_imputer_on_an_array(data):
    X = data.expression.to_numpy().copy()
    X[0, 0] = np.nan  # already missing: never hidden nor scored
    res = compare_imputers([SimpleImputer()], X, n_repeats=1, random_state=0)
    assert np.isnan(res.loc["SimpleImputer", "std_r2"])
    assert np.isfinite(res.loc["SimpleImputer", "mean_r2"])


@pytest.mark.filterwarnings("ignore:Skipping features without any observed")
def test_errors(data):
    with pytest.raises(ValueError, match="Two imputers are named"):
        compare_imputers([SimpleImputer(), SimpleImputer()], data.expression)
    with pytest.raises(ValueError, match="name the covariate columns"):
        compare_imputers([SimpleImputer()], data.X)
    empty = data.expression.copy()
    empty.iloc[:, 3] = np.nan  # SimpleImputer drops the empty column
    with pytest.raises(ValueError, match="keep_empty_features"):
        compare_imputers([SimpleImputer()], empty, n_repeats=1)
    with pytest.raises(ValueError, match="missing_rate"):
        compare_imputers([SimpleImputer()], data.expression, missing_rate=1.0)

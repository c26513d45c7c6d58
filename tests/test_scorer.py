"""Tests for make_imputation_scorer: sklearn imputers, pipelines, covariates."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline

from skimpute_gtex.datasets import make_gtex_like, simulate_missing
from skimpute_gtex.metrics import (
    make_imputation_scorer,
    masked_mean_squared_error,
    masked_r2_score,
)

METRICS = ["r2", "pearson", "neg_rmse", "neg_mse", "neg_mae"]


@pytest.fixture(scope="module")
def gtex():
    return make_gtex_like(n_samples=120, n_genes=12, n_tissues=4, random_state=0)


@pytest.fixture(scope="module")
def expression(gtex):
    return gtex.expression


class OracleImputer(TransformerMixin, BaseEstimator):
    """Fake imputer taking a DataFrame with covariates; exposes ``gene_indices_``.

    ``fit`` memorises the complete gene values (by row label) and ``transform``
    returns them for the rows it is given, in ``gene_order``, followed by one
    extra column (like an encoded covariate). It records what it was given.
    """

    def __init__(self, gene_order=None):
        self.gene_order = gene_order

    def fit(self, X, y=None):
        is_gene = [X[c].dtype.kind == "f" and c != "age" for c in X.columns]
        indices = np.flatnonzero(is_gene)
        if self.gene_order is not None:
            indices = indices[list(self.gene_order)]
        self.gene_indices_ = indices
        self.truth_ = X.iloc[:, indices].copy()
        return self

    def transform(self, X):
        self.seen_ = X.copy()
        genes = self.truth_.loc[X.index].to_numpy()
        return np.hstack([genes, np.zeros((len(X), 1))])


class WrongGeneImputer(OracleImputer):
    """Returns the genes shifted by one column: the scorer must see the mismatch."""

    def transform(self, X):
        return np.roll(super().transform(X)[:, :-1], 1, axis=1)


class NarrowImputer(OracleImputer):
    def transform(self, X):
        return super().transform(X)[:, :2]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    "imputer",
    [SimpleImputer(keep_empty_features=True), KNNImputer(n_neighbors=3)],
    ids=lambda e: type(e).__name__,
)
def test_sklearn_imputers_score(expression, imputer, metric):
    scorer = make_imputation_scorer(metric, missing_rate=0.3)
    est = imputer.fit(expression)
    if metric == "pearson" and isinstance(imputer, SimpleImputer):
        # a constant imputation has no defined correlation on any gene
        with pytest.warns(UndefinedMetricWarning, match="undefined"):
            assert np.isnan(scorer(est, expression))
        return
    score = scorer(est, expression)
    assert isinstance(score, float) and np.isfinite(score)
    if metric.startswith("neg_"):
        assert score < 0
    # deterministic: same mask, same score
    assert scorer(est, expression) == score
    assert make_imputation_scorer(metric, missing_rate=0.3)(est, expression) == score


def test_scorer_matches_metric_on_same_mask(expression):
    X_true = expression.to_numpy()
    imputer = KNNImputer().fit(X_true)
    X_missing, mask = simulate_missing(X_true, 0.5, random_state=7)
    X_imputed = imputer.transform(X_missing)
    assert make_imputation_scorer("r2", random_state=7)(
        imputer, X_true
    ) == pytest.approx(masked_r2_score(X_true, X_imputed, mask))
    assert make_imputation_scorer("neg_mse", random_state=7)(
        imputer, X_true
    ) == pytest.approx(-masked_mean_squared_error(X_true, X_imputed, mask))


def test_knn_beats_mean_and_seed_changes_mask(expression):
    knn = KNNImputer().fit(expression)
    mean = SimpleImputer().fit(expression)
    scorer = make_imputation_scorer()
    assert scorer(knn, expression) > scorer(mean, expression)
    # the mean of the training rows is not the mean of the hidden entries
    assert scorer(mean, expression) < 0.05
    other = make_imputation_scorer(random_state=1)
    assert other(knn, expression) != scorer(knn, expression)


def test_cross_val_score(expression):
    scores = cross_val_score(
        KNNImputer(), expression, scoring=make_imputation_scorer(), cv=3
    )
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_grid_search_knn(expression):
    search = GridSearchCV(
        KNNImputer(), {"n_neighbors": [1, 5]}, scoring=make_imputation_scorer(), cv=3
    ).fit(expression)
    assert search.best_params_ in ({"n_neighbors": 1}, {"n_neighbors": 5})
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_pickle_and_repr(expression):
    # picklable is what GridSearchCV(n_jobs > 1) needs; test_grid_search_n_jobs
    # checks it end to end
    scorer = make_imputation_scorer("neg_mae", missing_rate=0.2, random_state=3)
    clone = pickle.loads(pickle.dumps(scorer))
    est = KNNImputer().fit(expression)
    assert clone(est, expression) == scorer(est, expression)
    assert repr(clone) == (
        "make_imputation_scorer(metric='neg_mae', missing_rate=0.2, random_state=3)"
    )


@pytest.mark.slow  # spawning the worker processes takes seconds, not the search
def test_grid_search_n_jobs(expression):
    scorer = make_imputation_scorer("neg_mae", missing_rate=0.2, random_state=3)
    grid = {"n_neighbors": [1, 5]}
    serial = GridSearchCV(KNNImputer(), grid, scoring=scorer, cv=2).fit(expression)
    parallel = GridSearchCV(KNNImputer(), grid, scoring=scorer, cv=2, n_jobs=2)
    parallel.fit(expression)
    np.testing.assert_allclose(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )


def test_pipeline_uses_first_step(expression):
    pipe = Pipeline([("impute", KNNImputer()), ("pca", PCA(n_components=2))])
    scorer = make_imputation_scorer()
    pipe.fit(expression)
    assert scorer(pipe, expression) == scorer(pipe[0], expression)
    search = GridSearchCV(
        pipe, {"impute__n_neighbors": [1, 5]}, scoring=scorer, cv=3
    ).fit(expression)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    nested = Pipeline([("inner", Pipeline([("impute", pipe[0])])), ("pca", pipe[1])])
    assert scorer(nested, expression) == scorer(pipe, expression)


def test_width_mismatch_errors(expression):
    X = expression.to_numpy().copy()
    X[:, 3] = np.nan  # an empty feature: SimpleImputer drops it by default
    imputer = SimpleImputer().fit(X)
    with (
        pytest.raises(ValueError, match="keep_empty_features=True"),
        pytest.warns(UserWarning, match="Skipping features"),
    ):
        make_imputation_scorer()(imputer, X)
    kept = SimpleImputer(keep_empty_features=True).fit(X)
    assert np.isfinite(make_imputation_scorer("neg_mse")(kept, X))


def test_already_missing_entries_are_not_scored(expression):
    X = expression.to_numpy().copy()
    X[::2, 0] = np.nan
    imputer = KNNImputer().fit(X)
    assert np.isfinite(make_imputation_scorer()(imputer, X))


def test_integer_dataframe_gene_column_becomes_float(expression):
    X = expression.iloc[:, :4].copy()
    X["GENE00000"] = (X["GENE00000"] * 100).round().astype("int64")
    imputer = OracleImputer().fit(X.astype(float))
    assert make_imputation_scorer()(imputer, X) == pytest.approx(1.0)
    assert imputer.seen_.dtypes.iloc[0] == np.float64
    assert imputer.seen_["GENE00000"].isna().any()
    assert X.dtypes.iloc[0] == np.int64  # the input is not modified


def test_integer_array_input():
    X = np.arange(60).reshape(20, 3) % 7
    imputer = SimpleImputer(keep_empty_features=True).fit(X)
    assert np.isfinite(make_imputation_scorer("neg_rmse")(imputer, X))


@pytest.mark.parametrize("gene_order", [None, [2, 0, 1, 3]])
def test_gene_indices_and_covariates_never_masked(gene_order):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        {
            "tissue": rng.choice(["Lung", "Liver"], size=40),
            "G0": rng.normal(size=40),
            "G1": rng.normal(size=40),
            "age": rng.uniform(20, 80, size=40),
            "G2": rng.normal(size=40),
            "G3": rng.normal(size=40),
        },
        index=np.arange(100, 140),
    )
    original = X.copy()
    imputer = OracleImputer(gene_order=gene_order).fit(X)
    for metric in METRICS:
        score = make_imputation_scorer(metric)(imputer, X)
        assert score == pytest.approx(0.0 if metric.startswith("neg_") else 1.0)
    pd.testing.assert_frame_equal(X, original)  # input left untouched

    seen = imputer.seen_
    assert list(seen.columns) == list(X.columns)
    assert (seen.dtypes == X.dtypes).all()
    pd.testing.assert_series_equal(seen["tissue"], X["tissue"])
    pd.testing.assert_series_equal(seen["age"], X["age"])
    genes = seen[["G0", "G1", "G2", "G3"]]
    assert 0.3 < genes.isna().to_numpy().mean() < 0.7
    observed = genes.notna().to_numpy()
    np.testing.assert_array_equal(
        genes.to_numpy()[observed], X[["G0", "G1", "G2", "G3"]].to_numpy()[observed]
    )


def test_gene_indices_alignment_is_checked_by_the_score():
    X = make_gtex_like(n_samples=40, n_genes=5, random_state=0).frame
    wrong = WrongGeneImputer().fit(X)
    assert make_imputation_scorer()(wrong, X) < 0.5
    narrow = NarrowImputer().fit(X)
    with pytest.raises(ValueError, match="fewer than the 5 genes"):
        make_imputation_scorer()(narrow, X)


def test_gene_indices_with_object_array():
    X_df = make_gtex_like(n_samples=30, n_genes=4, random_state=0).frame
    imputer = OracleImputer().fit(X_df)
    # an object array of the same frame: lookup by row label needs a DataFrame,
    # so wrap transform to turn the array back into one
    X_obj = X_df.to_numpy(dtype=object)

    class ArrayOracle(OracleImputer):
        def transform(self, X):
            assert X.dtype == object
            assert not pd.isna(X[:, 4:6]).any()  # tissue, donor never masked
            return super().transform(pd.DataFrame(X, columns=X_df.columns))

    oracle = ArrayOracle()
    oracle.gene_indices_, oracle.truth_ = imputer.gene_indices_, imputer.truth_
    assert make_imputation_scorer()(oracle, X_obj) == pytest.approx(1.0)


def test_invalid_parameters():
    with pytest.raises(ValueError, match="metric"):
        make_imputation_scorer("accuracy")
    for rate in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="missing_rate"):
            make_imputation_scorer(missing_rate=rate)


def test_estimator_without_transform(expression):
    class NoTransform:
        pass

    with pytest.raises(TypeError, match="needs an imputer with a transform"):
        make_imputation_scorer()(NoTransform(), expression)
    pipe = Pipeline([("impute", "passthrough"), ("pca", PCA(2))]).fit(expression)
    with pytest.raises(TypeError, match="needs an imputer with a transform"):
        make_imputation_scorer()(pipe, expression)


def test_one_dimensional_input_errors(expression):
    imputer = SimpleImputer().fit(expression.to_numpy()[:, :1])
    with pytest.raises(ValueError, match="must be a 2D array-like"):
        make_imputation_scorer()(imputer, expression.to_numpy()[:, 0])

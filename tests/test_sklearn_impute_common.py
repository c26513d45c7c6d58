"""scikit-learn's ``sklearn/impute/tests/test_common.py``, run on our imputers.

A copy of the file of scikit-learn 1.9.1, adapted only where it must be; each
adaptation is marked ``# ADAPTED:`` with the reason. The assertions and
tolerances are scikit-learn's, and so is the data. Tests of our own of the
same parameters follow the copy, after a separating comment.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._testing import (
    assert_allclose,
    assert_allclose_dense_sparse,
    assert_array_equal,
)
from sklearn.utils.fixes import CSR_CONTAINERS

# ADAPTED: our imputers replace IterativeImputer, KNNImputer and SimpleImputer
# (hence no enable_iterative_imputer import); imports sorted as ruff's "I"
# rule wants.
from skimpute_gtex.utils import all_estimators

# ADAPTED: fast settings, so that each test takes a fraction of a second (the
# defaults train up to 8 networks of 2 x 512 units for 500 epochs, or 100-tree
# forests). ``random_state=0`` wherever there is one: these tests compare two
# fits, which scikit-learn's deterministic imputers need no seed for.
FAST_PARAMS = {
    "PMIImputer": dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=8,
                       n_estimators=1, early_stopping=False, device="cpu",
                       random_state=0),
    "GAINImputer": dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=8,
                        n_estimators=1, early_stopping=False, device="cpu",
                        random_state=0),
    "MissForestImputer": dict(n_estimators=5, max_iter=2, random_state=0),
    "SoftImputeImputer": dict(random_state=0),
}


# ADAPTED: every imputer of the package, instead of scikit-learn's three.
def imputers():
    return [cls(**FAST_PARAMS.get(name, {})) for name, cls in all_estimators()]


# ADAPTED: scikit-learn runs its sparse test on the imputers that accept
# sparse input (SimpleImputer only); ours all do (it is densified).
def sparse_imputers():
    return imputers()




# ConvergenceWarning will be raised by the IterativeImputer
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_imputation_missing_value_in_test_array(imputer):
    # [Non Regression Test for issue #13968] Missing value in test set should
    # not throw an error and return a finite dataset
    train = [[1], [2]]
    test = [[3], [np.nan]]
    imputer = clone(imputer)
    imputer.set_params(add_indicator=True)
    imputer.fit(train).transform(test)


# ConvergenceWarning will be raised by the IterativeImputer
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("marker", [np.nan, -1, 0])
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_imputers_add_indicator(marker, imputer):
    X = np.array(
        [
            [marker, 1, 5, marker, 1],
            [2, marker, 1, marker, 2],
            [6, 3, marker, marker, 3],
            [1, 2, 9, marker, 4],
        ]
    )
    X_true_indicator = np.array(
        [
            [1.0, 0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    imputer = clone(imputer)
    imputer.set_params(missing_values=marker, add_indicator=True)

    X_trans = imputer.fit_transform(X)
    assert_allclose(X_trans[:, -4:], X_true_indicator)
    assert_array_equal(imputer.indicator_.features_, np.array([0, 1, 2, 3]))

    imputer.set_params(add_indicator=False)
    X_trans_no_indicator = imputer.fit_transform(X)
    assert_allclose(X_trans[:, :-4], X_trans_no_indicator)


# ConvergenceWarning will be raised by the IterativeImputer
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("marker", [np.nan, -1])
@pytest.mark.parametrize(
    "imputer", sparse_imputers(), ids=lambda x: x.__class__.__name__
)
@pytest.mark.parametrize("csr_container", CSR_CONTAINERS)
def test_imputers_add_indicator_sparse(imputer, marker, csr_container):
    imputer = clone(imputer)  # Avoid side effects from shared instances.
    X = csr_container(
        [
            [marker, 1, 5, marker, 1],
            [2, marker, 1, marker, 2],
            [6, 3, marker, marker, 3],
            [1, 2, 9, marker, 4],
        ]
    )
    X_true_indicator = csr_container(
        [
            [1.0, 0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    imputer.set_params(missing_values=marker, add_indicator=True)

    X_trans = imputer.fit_transform(X)
    assert_allclose_dense_sparse(X_trans[:, -4:], X_true_indicator)
    assert_array_equal(imputer.indicator_.features_, np.array([0, 1, 2, 3]))

    imputer.set_params(add_indicator=False)
    X_trans_no_indicator = imputer.fit_transform(X)
    assert_allclose_dense_sparse(X_trans[:, :-4], X_trans_no_indicator)


# ConvergenceWarning will be raised by the IterativeImputer
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
@pytest.mark.parametrize("add_indicator", [True, False])
def test_imputers_pandas_na_integer_array_support(imputer, add_indicator):
    # Test pandas IntegerArray with pd.NA
    pd = pytest.importorskip("pandas")
    marker = np.nan
    imputer = imputer.set_params(add_indicator=add_indicator, missing_values=marker)

    X = np.array(
        [
            [marker, 1, 5, marker, 1],
            [2, marker, 1, marker, 2],
            [6, 3, marker, marker, 3],
            [1, 2, 9, marker, 4],
        ]
    )
    # fit on numpy array
    X_trans_expected = imputer.fit_transform(X)

    # Creates dataframe with IntegerArrays with pd.NA
    X_df = pd.DataFrame(X, dtype="Int16", columns=["a", "b", "c", "d", "e"])

    # fit on pandas dataframe with IntegerArrays
    X_trans = imputer.fit_transform(X_df)

    assert_allclose(X_trans_expected, X_trans)


@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
@pytest.mark.parametrize("add_indicator", [True, False])
def test_imputers_feature_names_out_pandas(imputer, add_indicator):
    """Check feature names out for imputers."""
    pd = pytest.importorskip("pandas")
    marker = np.nan
    imputer = imputer.set_params(add_indicator=add_indicator, missing_values=marker)

    X = np.array(
        [
            [marker, 1, 5, 3, marker, 1],
            [2, marker, 1, 4, marker, 2],
            [6, 3, 7, marker, marker, 3],
            [1, 2, 9, 8, marker, 4],
        ]
    )
    X_df = pd.DataFrame(X, columns=["a", "b", "c", "d", "e", "f"])
    imputer.fit(X_df)

    names = imputer.get_feature_names_out()

    if add_indicator:
        expected_names = [
            "a",
            "b",
            "c",
            "d",
            "f",
            "missingindicator_a",
            "missingindicator_b",
            "missingindicator_d",
            "missingindicator_e",
        ]
        assert_array_equal(expected_names, names)
    else:
        expected_names = ["a", "b", "c", "d", "f"]
        assert_array_equal(expected_names, names)


@pytest.mark.parametrize("keep_empty_features", [True, False])
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_keep_empty_features(imputer, keep_empty_features):
    """Check that the imputer keeps features with only missing values."""
    X = np.array([[np.nan, 1], [np.nan, 2], [np.nan, 3]])
    imputer = clone(imputer)
    imputer = imputer.set_params(
        add_indicator=False, keep_empty_features=keep_empty_features
    )

    for method in ["fit_transform", "transform"]:
        X_imputed = getattr(imputer, method)(X)
        if keep_empty_features:
            assert X_imputed.shape == X.shape
        else:
            assert X_imputed.shape == (X.shape[0], X.shape[1] - 1)


@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
@pytest.mark.parametrize("missing_value_test", [np.nan, 1])
def test_imputation_adds_missing_indicator_if_add_indicator_is_true(
    imputer, missing_value_test
):
    """Check that missing indicator always exists when add_indicator=True.

    Non-regression test for gh-26590.
    """
    X_train = np.array([[0, np.nan], [1, 2]])

    # Test data where missing_value_test variable can be set to np.nan or 1.
    X_test = np.array([[0, missing_value_test], [1, 2]])

    imputer = clone(imputer)
    imputer.set_params(add_indicator=True)
    imputer.fit(X_train)

    X_test_imputed_with_indicator = imputer.transform(X_test)
    assert X_test_imputed_with_indicator.shape == (2, 3)

    imputer.set_params(add_indicator=False)
    imputer.fit(X_train)
    X_test_imputed_without_indicator = imputer.transform(X_test)
    assert X_test_imputed_without_indicator.shape == (2, 2)

    assert_allclose(
        X_test_imputed_with_indicator[:, :-1], X_test_imputed_without_indicator
    )
    if np.isnan(missing_value_test):
        expected_missing_indicator = [1, 0]
    else:
        expected_missing_indicator = [0, 0]

    assert_allclose(X_test_imputed_with_indicator[:, -1], expected_missing_indicator)


# ---------------------------------------------------------------------------
# Not in scikit-learn's file: the same parameters with what only our imputers
# have (covariates, bit-identical observed entries, densified sparse input).
# ---------------------------------------------------------------------------
def _gtex_frame():
    """40 samples x 6 genes (gene 2 never observed), tissue/donor/sex/age."""
    from skimpute_gtex.datasets import make_gtex_like, simulate_missing

    data = make_gtex_like(n_samples=40, n_genes=6, n_tissues=3, random_state=0)
    X = data.frame.copy()
    X.iloc[:, :6], _ = simulate_missing(data.expression, 0.3, random_state=0)
    X.iloc[:, 2] = np.nan
    spec = data.covariate_spec + [("donor", "categorical", ["donor"])]
    return X, spec


def _bits(a):
    return a.dtype, a.shape, a.tobytes()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("marker", [-1, 0, 7.5])
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_marker_gives_the_nan_result_bit_for_bit(imputer, marker):
    X, spec = _gtex_frame()
    genes = np.ascontiguousarray(X.iloc[:, :6].to_numpy())
    coded = np.where(np.isnan(genes), marker, genes)
    before = coded.copy()
    expected = clone(imputer).fit_transform(genes)
    out = clone(imputer).set_params(missing_values=marker).fit_transform(coded)
    assert _bits(out) == _bits(expected)
    assert np.array_equal(coded, before)  # input untouched
    # with covariates: only the gene columns hold the marker
    frame = X.copy()
    frame.iloc[:, :6] = coded
    with_cov = clone(imputer).set_params(covariates=spec)
    expected = clone(with_cov).fit_transform(X)
    out = with_cov.set_params(missing_values=marker).fit_transform(frame)
    assert _bits(out) == _bits(expected)
    observed = ~np.isnan(genes[:, with_cov.gene_indices_])
    assert np.array_equal(out[observed], genes[:, with_cov.gene_indices_][observed])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_pandas_na_marker_and_nan_rejected_with_a_number(imputer):
    pd = pytest.importorskip("pandas")
    X = np.array([[np.nan, 1, 5, 1], [2, np.nan, 1, 2], [6, 3, np.nan, 3],
                  [1, 2, 9, 4], [3, 1, 2, np.nan]])
    expected = clone(imputer).fit_transform(X)
    frame = pd.DataFrame(X, dtype="Int64", columns=list("abcd"))
    out = clone(imputer).set_params(missing_values=pd.NA).fit_transform(frame)
    assert_allclose(out, expected)
    est = clone(imputer).set_params(missing_values=-1)
    assert not est.__sklearn_tags__().input_tags.allow_nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_indicator_over_genes_only_before_passthrough(imputer):
    X, spec = _gtex_frame()
    genes = X.iloc[:, :6].to_numpy()
    est = clone(imputer).set_params(
        covariates=spec, covariate_output="passthrough", add_indicator=True
    )
    out = est.fit_transform(X)
    plain = clone(est).set_params(add_indicator=False).fit_transform(X)
    kept = est.gene_indices_.size
    assert_array_equal(est.indicator_.features_, np.arange(6))  # gene 2 too
    assert est.indicator_.n_features_in_ == 6  # no covariate
    assert out.shape == (40, plain.shape[1] + 6)
    assert_array_equal(out[:, kept:kept + 6].astype(float), np.isnan(genes))
    assert_array_equal(out[:, :kept], plain[:, :kept])
    assert_array_equal(out[:, kept + 6:], plain[:, kept:])
    names = est.get_feature_names_out()
    assert list(names[kept:kept + 6]) == [
        f"missingindicator_{g}" for g in X.columns[:6]
    ]
    assert list(names[kept + 6:]) == ["tissue", "sex", "age", "donor"]
    # genes missing only in transform get no column (error_on_new=False)
    complete = X.copy()
    complete.iloc[:, [0, 1, 3, 4, 5]] = complete.iloc[:, [0, 1, 3, 4, 5]].fillna(1.0)
    est.fit(complete)
    assert_array_equal(est.indicator_.features_, [2])
    assert est.transform(X).shape[1] == plain.shape[1] + 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_copy_false_imputes_in_place(imputer):
    X, spec = _gtex_frame()
    genes = np.ascontiguousarray(X.iloc[:, [0, 1, 3, 4, 5]].to_numpy())
    expected = clone(imputer).fit_transform(genes)
    X_in = genes.copy()
    est = clone(imputer).set_params(copy=False).fit(X_in)
    assert np.array_equal(X_in, genes, equal_nan=True)  # fit never writes
    out = clone(est).fit_transform(X_in)
    assert out is X_in
    assert _bits(out) == _bits(expected)
    # a copy whenever X is not a float NumPy array with NaN as marker
    for X_other, params in [
        (np.where(np.isnan(genes), -1, genes), dict(missing_values=-1)),
        (X.copy(), dict(covariates=spec)),
    ]:
        before = X_other.copy()
        clone(est).set_params(**params).fit_transform(X_other)
        if hasattr(before, "equals"):
            assert X_other.equals(before)
        else:
            assert np.array_equal(X_other, before)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("csr_container", CSR_CONTAINERS)
@pytest.mark.parametrize("imputer", imputers(), ids=lambda x: x.__class__.__name__)
def test_sparse_input_is_the_dense_result(imputer, csr_container):
    from scipy import sparse as sp

    X, spec = _gtex_frame()
    genes = np.array(X.iloc[:, :6], order="C")  # toarray's layout: the same bits
    genes[genes < 1.0] = 0.0  # implicit zeros, observed
    expected = clone(imputer).set_params(add_indicator=True).fit_transform(genes)
    X_sparse = csr_container(genes)
    out = clone(imputer).set_params(add_indicator=True).fit_transform(X_sparse)
    assert sp.issparse(out) and out.format == "csr"
    assert isinstance(out, sp.sparray) == isinstance(X_sparse, sp.sparray)
    assert _bits(out.toarray()) == _bits(expected)
    with pytest.raises(ValueError, match="missing_values=0 and sparse"):
        clone(imputer).set_params(missing_values=0).fit(csr_container(
            np.nan_to_num(genes, nan=1.0)))
    with pytest.raises(TypeError, match="sparse"):
        clone(imputer).set_params(covariates=spec[:1]).fit(X_sparse)

"""Tests for the masked imputation metrics, against values worked out by hand."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import UndefinedMetricWarning

from skimpute_gtex.metrics import (
    masked_mean_absolute_error,
    masked_mean_squared_error,
    masked_pearson_r,
    masked_r2_score,
    masked_root_mean_squared_error,
)

ALL_METRICS = [
    masked_r2_score,
    masked_pearson_r,
    masked_mean_squared_error,
    masked_root_mean_squared_error,
    masked_mean_absolute_error,
]
ERROR_METRICS = [
    masked_mean_squared_error,
    masked_root_mean_squared_error,
    masked_mean_absolute_error,
]

NAN = np.nan


@pytest.fixture
def tiny():
    """Three genes, four samples; NaN in X_true only outside the mask.

    Masked entries:
      gene 0: rows 0, 1, 2   y = [1, 2, 3]  y_hat = [1, 3, 2]
      gene 1: rows 1, 3      y = [4, 8]     y_hat = [5, 5]
      gene 2: row 0          y = [7]        y_hat = [9]
    """
    X_true = np.array(
        [
            [1.0, NAN, 7.0],
            [2.0, 4.0, 0.0],
            [3.0, 0.0, 0.0],
            [NAN, 8.0, 0.0],
        ]
    )
    X_imputed = np.array(
        [
            [1.0, 0.0, 9.0],
            [3.0, 5.0, 0.0],
            [2.0, 0.0, 0.0],
            [0.0, 5.0, 0.0],
        ]
    )
    mask = np.array(
        [
            [True, False, True],
            [True, True, False],
            [True, False, False],
            [False, True, False],
        ]
    )
    return X_true, X_imputed, mask


def test_r2_hand_computed(tiny):
    # gene 0: ss_res = 0 + 1 + 1 = 2, mean 2, ss_tot = 1 + 0 + 1 = 2 -> 0
    # gene 1: ss_res = 1 + 9 = 10, mean 6, ss_tot = 4 + 4 = 8 -> 1 - 10/8 = -0.25
    # gene 2: one masked entry -> undefined
    raw = masked_r2_score(*tiny, multioutput="raw_values")
    assert_allclose(raw, [0.0, -0.25, NAN])
    assert masked_r2_score(*tiny) == pytest.approx(-0.125)
    assert isinstance(masked_r2_score(*tiny), float)


def test_r2_uses_mean_of_masked_true_values():
    # unmasked rows hold very different values: they must not move the mean
    X_true = np.array([[0.0], [2.0], [100.0], [-100.0]])
    X_imputed = np.array([[1.0], [1.0], [0.0], [0.0]])
    mask = np.array([[True], [True], [False], [False]])
    # mean of masked true = 1, ss_tot = 2, ss_res = 2 -> 0
    assert masked_r2_score(X_true, X_imputed, mask) == pytest.approx(0.0)


def test_pearson_hand_computed(tiny):
    # gene 0: y = [1, 2, 3], y_hat = [1, 3, 2]; centred [-1, 0, 1] and [-1, 1, 0]
    #   -> cov 1, norms sqrt(2) * sqrt(2) -> 0.5
    # gene 1: imputed values constant -> undefined; gene 2: one entry -> undefined
    raw = masked_pearson_r(*tiny, multioutput="raw_values")
    assert_allclose(raw, [0.5, NAN, NAN])
    assert masked_pearson_r(*tiny) == pytest.approx(0.5)


def test_mse_rmse_mae_hand_computed(tiny):
    # squared errors of the masked entries: gene 0 [0, 1, 1], gene 1 [1, 9], gene 2 [4]
    # pooled: 16 / 6; per gene: 2/3, 5, 4
    assert masked_mean_squared_error(*tiny) == pytest.approx(16 / 6)
    assert_allclose(
        masked_mean_squared_error(*tiny, multioutput="raw_values"), [2 / 3, 5.0, 4.0]
    )
    assert masked_root_mean_squared_error(*tiny) == pytest.approx(np.sqrt(16 / 6))
    assert_allclose(
        masked_root_mean_squared_error(*tiny, multioutput="raw_values"),
        np.sqrt([2 / 3, 5.0, 4.0]),
    )
    # absolute errors: gene 0 [0, 1, 1], gene 1 [1, 3], gene 2 [2] -> 8 / 6
    assert masked_mean_absolute_error(*tiny) == pytest.approx(8 / 6)
    assert_allclose(
        masked_mean_absolute_error(*tiny, multioutput="raw_values"), [2 / 3, 2.0, 2.0]
    )


def test_error_raw_values_nan_for_gene_without_masked_entry():
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    mask = np.array([[True, False], [False, False]])
    for metric in ERROR_METRICS:
        raw = metric(X, X + 1, mask, multioutput="raw_values")
        assert_allclose(raw, [1.0, NAN])


def test_zero_variance_gene_is_undefined_and_left_out():
    X_true = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
    X_imputed = np.array([[4.0, 1.0], [6.0, 2.0], [5.0, 4.0]])
    mask = np.ones((3, 2), dtype=bool)
    # gene 0 constant -> NaN; gene 1: ss_res = 1, ss_tot = 2 -> 0.5
    assert_allclose(
        masked_r2_score(X_true, X_imputed, mask, multioutput="raw_values"), [NAN, 0.5]
    )
    assert masked_r2_score(X_true, X_imputed, mask) == pytest.approx(0.5)


@pytest.mark.parametrize("metric", [masked_r2_score, masked_pearson_r])
def test_no_defined_gene_returns_nan_with_warning(metric):
    X_true = np.array([[1.0, 2.0], [3.0, 2.0]])
    mask = np.array([[True, True], [False, True]])  # 1 entry / constant gene
    with pytest.warns(UndefinedMetricWarning, match="undefined"):
        score = metric(X_true, X_true + 1, mask)
    assert np.isnan(score)


@pytest.mark.parametrize("metric", ERROR_METRICS)
def test_empty_mask_errors_return_nan_with_warning(metric):
    X = np.ones((3, 2))
    with pytest.warns(UndefinedMetricWarning, match="no True entry"):
        assert np.isnan(metric(X, X, np.zeros((3, 2), dtype=bool)))


def test_raw_values_do_not_warn(tiny, recwarn):
    X_true, _, _ = tiny
    mask = np.zeros(X_true.shape, dtype=bool)
    for metric in ALL_METRICS:
        raw = metric(X_true, X_true, mask, multioutput="raw_values")
        assert np.isnan(raw).all()
    assert not [w for w in recwarn if w.category is UndefinedMetricWarning]


def test_pearson_constant_imputation_undefined():
    X_true = np.array([[1.0], [2.0], [4.0]])
    X_imputed = np.full((3, 1), 2.0)
    mask = np.ones((3, 1), dtype=bool)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(masked_pearson_r(X_true, X_imputed, mask))
    # R² is defined for a constant imputation: mean 7/3, ss_tot = 14/3, ss_res = 5
    assert masked_r2_score(X_true, X_imputed, mask) == pytest.approx(1 - 15 / 14)


def test_groups_r2():
    X_true = np.array([[1.0], [3.0], [0.0], [4.0], [9.0]])
    X_imputed = np.array([[1.0], [3.0], [1.0], [3.0], [0.0]])
    mask = np.ones((5, 1), dtype=bool)
    groups = np.array(["lung", "lung", "liver", "liver", "blood"])
    with pytest.warns(UndefinedMetricWarning, match="'blood'"):
        scores = masked_r2_score(X_true, X_imputed, mask, groups=groups)
    # liver: y = [0, 4], y_hat = [1, 3]: ss_res 2, ss_tot 8 -> 0.75; blood: 1 entry
    assert list(scores) == ["blood", "liver", "lung"]
    assert np.isnan(scores["blood"])
    assert scores["liver"] == pytest.approx(0.75)
    assert scores["lung"] == pytest.approx(1.0)
    assert all(type(k) is str for k in scores)


def test_groups_raw_values_and_error_metric(tiny):
    groups = [0, 0, 1, 1]
    raw = masked_r2_score(*tiny, groups=groups, multioutput="raw_values")
    assert set(raw) == {0, 1}
    # group 0 rows 0-1: gene 0 y = [1, 2], y_hat = [1, 3]: ss_res 1, ss_tot 0.5 -> -1
    assert_allclose(raw[0], [-1.0, NAN, NAN])
    mae = masked_mean_absolute_error(*tiny, groups=groups)
    # group 0: |errors| = 0, 1 (gene 0), 1 (gene 1), 2 (gene 2) -> 1.0
    # group 1: |errors| = 1 (gene 0), 3 (gene 1) -> 2.0
    assert mae == pytest.approx({0: 1.0, 1: 2.0})


def test_groups_wrong_length(tiny):
    with pytest.raises(ValueError, match="one label per sample"):
        masked_r2_score(*tiny, groups=[0, 1])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_dataframe_inputs_match_arrays(tiny, metric):
    X_true, X_imputed, mask = tiny
    cols = ["GENE0", "GENE1", "GENE2"]
    df_args = (
        pd.DataFrame(X_true, columns=cols),
        pd.DataFrame(X_imputed, columns=cols),
        pd.DataFrame(mask, columns=cols),
    )
    assert_allclose(
        metric(*df_args, multioutput="raw_values"),
        metric(X_true, X_imputed, mask, multioutput="raw_values"),
    )
    groups = pd.Series(["a", "a", "b", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        by_group_df = metric(*df_args, groups=groups)
        by_group_np = metric(X_true, X_imputed, mask, groups=groups.to_numpy())
    assert by_group_df.keys() == by_group_np.keys()
    assert_allclose(list(by_group_df.values()), list(by_group_np.values()))


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_shape_mismatch(tiny, metric):
    X_true, X_imputed, mask = tiny
    with pytest.raises(ValueError, match="same shape"):
        metric(X_true, X_imputed[:, :2], mask)
    with pytest.raises(ValueError, match="same shape"):
        metric(X_true, X_imputed, mask[:3])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_non_bool_mask(tiny, metric):
    X_true, X_imputed, mask = tiny
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        metric(X_true, X_imputed, mask.astype(int))


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_nan_at_masked_entry(tiny, metric):
    X_true, X_imputed, mask = tiny
    X_imputed = X_imputed.copy()
    X_imputed[0, 0] = np.nan
    with pytest.raises(ValueError, match="X_imputed has NaN or infinite"):
        metric(X_true, X_imputed, mask)
    X_true = X_true.copy()
    X_true[1, 1] = np.inf
    with pytest.raises(ValueError, match="X_true has NaN or infinite"):
        metric(X_true, X_true, mask)


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_invalid_multioutput(tiny, metric):
    with pytest.raises(ValueError, match="multioutput"):
        metric(*tiny, multioutput="variance_weighted")

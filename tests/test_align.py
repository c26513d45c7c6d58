"""Tests for cross-study alignment: align_to_genes and map_categories."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer

from skimpute_gtex.datasets import align_to_genes, make_gtex_like, map_categories

REFERENCE = ["ENSG00000141510.16", "ENSG00000012048.20", "ENSG00000146648.15"]


def test_align_reorders_strips_versions_and_fills_missing():
    X = pd.DataFrame(
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        columns=["ENSG00000000003.15", "ENSG00000012048.23", "ENSG00000141510"],
        index=["s1", "s2"],
    )
    aligned, report = align_to_genes(X, reference_genes=REFERENCE)
    assert list(aligned.columns) == REFERENCE
    assert list(aligned.index) == ["s1", "s2"]
    np.testing.assert_array_equal(aligned["ENSG00000141510.16"], [3.0, 6.0])
    np.testing.assert_array_equal(aligned["ENSG00000012048.20"], [2.0, 5.0])
    assert aligned["ENSG00000146648.15"].isna().all()
    assert aligned["ENSG00000146648.15"].dtype == np.float64
    assert report.missing_genes == ["ENSG00000146648.15"]
    assert report.extra_genes == ["ENSG00000000003.15"]
    # the column of X each reference gene came from, with its own version
    assert report.source_genes == ["ENSG00000141510", "ENSG00000012048.23", None]
    assert report.n_matched == 2
    assert report.matched_fraction == pytest.approx(2 / 3)
    # the input is untouched
    assert list(X.columns)[0] == "ENSG00000000003.15"


def test_align_ignore_version_false():
    X = pd.DataFrame([[1.0, 2.0]], columns=["ENSG00000141510.17", "ENSG00000012048.20"])
    aligned, report = align_to_genes(X, reference_genes=REFERENCE, ignore_version=False)
    assert report.n_matched == 1
    assert report.missing_genes == ["ENSG00000141510.16", "ENSG00000146648.15"]
    assert aligned["ENSG00000141510.16"].isna().all()


def test_align_par_y_kept_apart():
    X = pd.DataFrame(
        [[1.0, 2.0]], columns=["ENSG00000002586.19", "ENSG00000002586.19_PAR_Y"]
    )
    reference = ["ENSG00000002586.18_PAR_Y", "ENSG00000002586.18"]
    aligned, report = align_to_genes(X, reference_genes=reference)
    assert aligned.iloc[0].tolist() == [2.0, 1.0]
    assert report.n_matched == 2


def test_align_ndarray_with_gene_ids():
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    aligned, report = align_to_genes(
        X, ["ENSG00000146648.1", "ENSG00000141510.1"], reference_genes=REFERENCE
    )
    assert isinstance(aligned, pd.DataFrame)
    np.testing.assert_array_equal(aligned[REFERENCE[0]], [2.0, 4.0])
    np.testing.assert_array_equal(aligned[REFERENCE[2]], [1.0, 3.0])
    assert report.missing_genes == [REFERENCE[1]]


def test_align_dataframe_with_gene_ids_renames():
    X = pd.DataFrame([[1.0, 2.0]], columns=["a", "b"])
    aligned, _ = align_to_genes(X, ["ENSG00000012048", "x"], reference_genes=REFERENCE)
    assert aligned[REFERENCE[1]].tolist() == [1.0]


def test_align_keeps_covariate_columns():
    X = pd.DataFrame({"ENSG00000141510": [1.0], "tissue": ["Lung"], "age": [65.0]})
    aligned, report = align_to_genes(X, reference_genes=["tissue", REFERENCE[0], "age"])
    assert list(aligned.columns) == ["tissue", REFERENCE[0], "age"]
    assert aligned["tissue"].tolist() == ["Lung"]
    assert report.n_matched == 3


def test_align_errors():
    X = pd.DataFrame([[1.0, 2.0]], columns=["TP53", "BRCA1"])
    with pytest.raises(ValueError, match="None of the 3 reference genes.*symbols"):
        align_to_genes(X, reference_genes=REFERENCE)
    with pytest.raises(ValueError, match="gene_ids is required when X is not a"):
        align_to_genes(X.to_numpy(), reference_genes=REFERENCE)
    with pytest.raises(ValueError, match="gene_ids has 1 entries but X has 2 columns"):
        align_to_genes(X.to_numpy(), ["TP53"], reference_genes=REFERENCE)
    with pytest.raises(ValueError, match="gene_ids has 1 entries but X has 2 columns"):
        align_to_genes(X, ["TP53"], reference_genes=REFERENCE)
    dup = pd.DataFrame(
        [[1.0, 2.0]], columns=["ENSG00000141510.16", "ENSG00000141510.17"]
    )
    with pytest.raises(ValueError, match="columns of X contain duplicated gene ids"):
        align_to_genes(dup, reference_genes=REFERENCE)
    with pytest.raises(ValueError, match="reference_genes contain duplicated"):
        align_to_genes(dup.iloc[:, :1], reference_genes=REFERENCE + [REFERENCE[0]])
    with pytest.raises(ValueError, match="must be 2-dimensional"):
        align_to_genes(np.zeros(3), ["a", "b", "c"], reference_genes=["a"])


def test_align_feeds_a_fitted_estimator():
    """A new study with shuffled, re-versioned, partly missing genes transforms."""
    data = make_gtex_like(n_samples=40, n_genes=6, random_state=0)
    genes = [f"ENSG{i:011d}.1" for i in range(6)]
    train = data.expression.set_axis(genes, axis=1)
    imputer = SimpleImputer().fit(train)

    new = make_gtex_like(n_samples=5, n_genes=6, random_state=1).expression
    new = new.set_axis([f"ENSG{i:011d}.2" for i in range(6)], axis=1)
    new = new.iloc[:, [4, 0, 2, 5]]  # genes 1 and 3 absent, order shuffled
    new["ENSG99999999999.1"] = 0.0  # unknown to the imputer
    aligned, report = align_to_genes(new, reference_genes=imputer.feature_names_in_)
    assert report.missing_genes == [genes[1], genes[3]]
    out = imputer.transform(aligned)
    assert out.shape == (5, 6)
    np.testing.assert_allclose(out[:, 1], imputer.statistics_[1])
    np.testing.assert_allclose(out[:, 4], new["ENSG00000000004.2"])


def test_map_categories_maps_and_checks():
    out = map_categories(
        ["Blood", "Lung", "Whole Blood"],
        {"Blood": "Whole Blood"},
        ["Whole Blood", "Lung"],
    )
    assert out.tolist() == ["Whole Blood", "Lung", "Whole Blood"]
    assert out.dtype == object


def test_map_categories_series_and_missing_values():
    values = pd.Series(
        ["Blood", None, np.nan, "Lung"], index=[10, 11, 12, 13], name="t"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN/None are not reported as unknown
        out = map_categories(values, {"Blood": "Whole Blood"}, ["Whole Blood", "Lung"])
    assert isinstance(out, pd.Series)
    assert list(out.index) == [10, 11, 12, 13]
    assert out.name == "t"
    assert out[10] == "Whole Blood" and out[13] == "Lung"
    assert out[[11, 12]].isna().all()


def test_map_categories_unknown_warns_or_raises():
    with pytest.warns(UserWarning, match=r"2 value\(s\) not among .*\['Liver'\]"):
        out = map_categories(["Liver", "Liver", "Lung"], None, ["Lung"])
    assert out.tolist() == ["Liver", "Liver", "Lung"]
    with pytest.raises(ValueError, match=r"not among the known categories.*'Liver'"):
        map_categories(["Liver"], {}, ["Lung"], handle_unknown="error")
    with pytest.raises(ValueError, match="'handle_unknown' parameter"):
        map_categories(["Liver"], {}, ["Lung"], handle_unknown="ignore")
    with pytest.raises(ValueError, match="1-dimensional"):
        map_categories([["a"]], {}, ["a"])

"""Tests for the donor-disjoint splitters: DonorKFold and gtex_donor_split."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score

from skimpute_gtex.datasets import make_gtex_like
from skimpute_gtex.model_selection import DonorKFold, gtex_donor_split


@pytest.fixture(scope="module")
def data():
    return make_gtex_like(n_samples=90, n_genes=4, n_tissues=3, random_state=0)


# ------------------------------------------------------------------ DonorKFold
@pytest.mark.parametrize("shuffle", [False, True])
def test_donor_kfold_is_donor_disjoint(data, shuffle):
    donors = data.frame["donor"].to_numpy()
    cv = DonorKFold(n_splits=4, shuffle=shuffle, random_state=0 if shuffle else None)
    tested = []
    for train, test in cv.split(data.expression, groups=donors):
        assert np.intersect1d(donors[train], donors[test]).size == 0
        assert len(train) + len(test) == len(donors)
        tested.extend(np.unique(donors[test]))
    # every donor is tested exactly once
    assert sorted(tested) == sorted(np.unique(donors))
    assert cv.get_n_splits() == 4


def test_donor_kfold_reads_donor_column(data):
    donors = data.frame["donor"].to_numpy()
    cv = DonorKFold(n_splits=3, shuffle=True, random_state=1)
    from_column = list(cv.split(data.frame))
    from_groups = list(cv.split(data.frame, groups=donors))
    for (a_train, a_test), (b_train, b_test) in zip(from_column, from_groups):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
    renamed = data.frame.rename(columns={"donor": "subject"})
    cv = DonorKFold(n_splits=3, donor_column="subject")
    assert len(list(cv.split(renamed))) == 3


def test_donor_kfold_reproducible_with_random_state(data):
    a = [t for _, t in DonorKFold(3, shuffle=True, random_state=0).split(data.frame)]
    b = [t for _, t in DonorKFold(3, shuffle=True, random_state=0).split(data.frame)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_donor_kfold_in_cross_val_score(data):
    X = data.expression.to_numpy()[:, 1:]
    y = data.expression.to_numpy()[:, 0]
    donors = data.frame["donor"].to_numpy()
    scores = cross_val_score(Ridge(), X, y, groups=donors, cv=DonorKFold(3))
    assert scores.shape == (3,)
    # without groups, the donor column of the frame is used
    scores = cross_val_score(DummyRegressor(), data.frame, y, cv=DonorKFold(3))
    assert scores.shape == (3,)


def test_donor_kfold_errors(data):
    with pytest.raises(ValueError, match="DonorKFold needs the donor of each sample"):
        next(DonorKFold(3).split(data.expression.to_numpy()))
    with pytest.raises(ValueError, match="needs the donor.*'subject' column"):
        next(DonorKFold(3, donor_column="subject").split(data.frame))
    donors = data.frame["donor"].to_numpy().copy()
    donors[5] = None
    with pytest.raises(ValueError, match="groups has 1 missing donor id"):
        next(DonorKFold(3).split(data.frame, groups=donors))
    few = np.repeat(["GTEX-A", "GTEX-B"], 5)
    with pytest.raises(ValueError, match="number of groups"):
        next(DonorKFold(3).split(np.zeros((10, 2)), groups=few))


def test_donor_kfold_repr():
    cv = DonorKFold(4, donor_column="subject", shuffle=True, random_state=3)
    assert repr(cv) == (
        "DonorKFold(donor_column='subject', n_splits=4, random_state=3, shuffle=True)"
    )


# ------------------------------------------------------------ gtex_donor_split
def test_gtex_donor_split_reversed_id_order():
    # reversed ids: "A3-XETG" < "B2-XETG" < "C1-XETG", the opposite of the
    # plain order of the ids
    donors = ["GTEX-1C"] * 2 + ["GTEX-2B"] * 2 + ["GTEX-3A"] * 6
    train, val, test = gtex_donor_split(donors)
    assert train.tolist() == [4, 5, 6, 7, 8, 9]
    assert val.tolist() == [2, 3]
    assert test.tolist() == [0, 1]


def test_gtex_donor_split_no_donor_straddles():
    # in reversed-id order, donor 'GTEX-B' spans sample 6 (60% of 10): the
    # original exact cut at 6 would split it; ours keeps it whole
    donors = ["GTEX-A"] * 5 + ["GTEX-B"] * 3 + ["GTEX-C"] * 1 + ["GTEX-D"] * 1
    train, val, test = gtex_donor_split(donors)
    parts = [set(np.asarray(donors)[p]) for p in (train, val, test)]
    assert parts[0].isdisjoint(parts[1]) and parts[1].isdisjoint(parts[2])
    assert parts[0].isdisjoint(parts[2])
    assert len(train) in (5, 8)


def test_gtex_donor_split_fractions_by_sample_count():
    rng = np.random.RandomState(0)
    donors = np.repeat([f"GTEX-{i:05X}" for i in range(300)], rng.randint(1, 30, 300))
    rng.shuffle(donors)
    train, val, test = gtex_donor_split(donors, fractions=(0.6, 0.2, 0.2))
    n = len(donors)
    # each cut is at the donor boundary closest to its target: off by < 30 samples
    assert abs(len(train) - 0.6 * n) < 30
    assert abs(len(train) + len(val) - 0.8 * n) < 30


def test_gtex_donor_split_independent_of_sample_order():
    donors = np.repeat([f"GTEX-{i:04d}" for i in range(20)], 3)
    perm = np.random.RandomState(0).permutation(len(donors))
    a = gtex_donor_split(donors)
    b = gtex_donor_split(donors[perm])
    for part_a, part_b in zip(a, b):
        assert set(donors[part_a]) == set(donors[perm][part_b])


def test_gtex_donor_split_zero_fraction_and_series(data):
    donors = data.covariates["donor"]
    train, val, test = gtex_donor_split(donors, fractions=(0.8, 0.2, 0))
    assert len(test) == 0
    assert len(train) + len(val) == len(data.covariates)
    train, val, test = gtex_donor_split(["GTEX-A"] * 4, fractions=(1, 0, 0))
    assert train.tolist() == [0, 1, 2, 3] and len(val) == len(test) == 0


@pytest.mark.parametrize(
    "fractions, match",
    [
        ((0.5, 0.5), "3 non-negative numbers"),
        ((0.7, 0.2, 0.2), "summing to 1"),
        ((1.2, -0.1, -0.1), "non-negative"),
        (("a", "b", "c"), "fractions must be 3 numbers"),
    ],
)
def test_gtex_donor_split_bad_fractions(fractions, match):
    with pytest.raises(ValueError, match=match):
        gtex_donor_split(["GTEX-A", "GTEX-B", "GTEX-C"], fractions=fractions)


def test_gtex_donor_split_errors():
    with pytest.raises(ValueError, match="needs at least 3 donors"):
        gtex_donor_split(["GTEX-A", "GTEX-A", "GTEX-B"])
    with pytest.raises(ValueError, match="donors has 1 missing donor id"):
        gtex_donor_split(["GTEX-A", None, "GTEX-B", "GTEX-C"])
    with pytest.raises(ValueError, match="donors is empty"):
        gtex_donor_split([])
    with pytest.raises(ValueError, match="1-dimensional"):
        gtex_donor_split([["GTEX-A", "GTEX-B"]])


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 8), min_size=3, max_size=25),
    fractions=st.sampled_from([(0.6, 0.2, 0.2), (0.5, 0.25, 0.25), (0.8, 0.1, 0.1)]),
)
def test_gtex_donor_split_properties(counts, fractions):
    donors = np.repeat([f"GTEX-{i:03d}" for i in range(len(counts))], counts)
    parts = gtex_donor_split(donors, fractions=fractions)
    # a partition of the samples ...
    everything = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(everything, np.arange(len(donors)))
    # ... into non-empty, donor-disjoint parts
    sets = [set(donors[p]) for p in parts]
    assert all(sets)
    assert not (sets[0] & sets[1] or sets[1] & sets[2] or sets[0] & sets[2])
    # deterministic
    for a, b in zip(parts, gtex_donor_split(donors, fractions=fractions)):
        np.testing.assert_array_equal(a, b)

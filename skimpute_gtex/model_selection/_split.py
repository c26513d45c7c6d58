"""Donor-disjoint cross-validation and the deterministic GTEx train/val/test split."""

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from ..utils._compat import validate_params


def _as_donor_array(donors, name="donors"):
    """1-D object array of donor ids as strings; missing ids are an error."""
    array = np.asarray(donors, dtype=object)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional; got shape {array.shape}.")
    missing = pd.isna(array)
    if missing.any():
        raise ValueError(
            f"{name} has {int(missing.sum())} missing donor id(s) (first at "
            f"position {int(np.flatnonzero(missing)[0])}); every sample needs a donor."
        )
    return array.astype(str).astype(object)


class DonorKFold(GroupKFold):
    """K-fold cross-validator that keeps each donor's samples in one fold.

    A :class:`~sklearn.model_selection.GroupKFold` whose groups are donor ids:
    every donor's samples are in the test set of exactly one fold and never in
    the training and test sets of the same fold. When ``groups`` is not passed
    to :meth:`split`, the donors are read from the ``donor_column`` of ``X``,
    so ``cross_val_score(imputer, data.frame, cv=DonorKFold())`` works on the
    frames of :func:`~skimpute_gtex.datasets.load_gtex` and
    :func:`~skimpute_gtex.datasets.make_gtex_like` without ``groups=``.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds. Must be at least 2 and at most the number of donors.
    donor_column : str, default="donor"
        Column of a DataFrame ``X`` holding the donor ids, used when ``groups``
        is None.
    shuffle : bool, default=False
        Whether to shuffle the donors before assigning them to folds (see
        :class:`~sklearn.model_selection.GroupKFold`).
    random_state : int, RandomState instance or None, default=None
        Controls the shuffling when ``shuffle=True``.

    See Also
    --------
    gtex_donor_split : one deterministic donor-disjoint train/val/test split.
    sklearn.model_selection.GroupKFold : the underlying splitter.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.datasets import make_gtex_like
    >>> from skimpute_gtex.model_selection import DonorKFold
    >>> data = make_gtex_like(n_samples=60, n_genes=5, n_tissues=3, random_state=0)
    >>> cv = DonorKFold(n_splits=3, shuffle=True, random_state=0)
    >>> donors = data.frame["donor"].to_numpy()
    >>> for train, test in cv.split(data.frame):
    ...     print(len(train) + len(test), np.intersect1d(donors[train], donors[test]))
    60 []
    60 []
    60 []
    """

    def __init__(
        self, n_splits=5, *, donor_column="donor", shuffle=False, random_state=None
    ):
        super().__init__(n_splits, shuffle=shuffle, random_state=random_state)
        self.donor_column = donor_column

    def _donors(self, X, groups):
        if groups is not None:
            return _as_donor_array(groups, "groups")
        if isinstance(X, pd.DataFrame) and self.donor_column in X.columns:
            return _as_donor_array(X[self.donor_column], f"X[{self.donor_column!r}]")
        raise ValueError(
            "DonorKFold needs the donor of each sample: pass groups=donor_ids, "
            f"or X as a DataFrame with a {self.donor_column!r} column."
        )

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. When ``groups`` is None it must be a DataFrame with
            a ``donor_column``.
        y : array-like of shape (n_samples,), default=None
            Ignored, present for API consistency.
        groups : array-like of shape (n_samples,), default=None
            Donor id of each sample.

        Yields
        ------
        train : ndarray
            The training set indices for that split.
        test : ndarray
            The testing set indices for that split.
        """
        return super().split(X, y, self._donors(X, groups))


@validate_params(
    {"donors": ["array-like"], "fractions": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def gtex_donor_split(donors, *, fractions=(0.6, 0.2, 0.2)):
    """Deterministic donor-disjoint train/validation/test split (Viñas et al.).

    Reproduces the split of the GTEx imputation paper, without its donor
    leakage: the unique donor ids are ordered by their *reversed* string
    (``"GTEX-1117F"`` -> ``"F7111-XETG"``, a cheap, fixed pseudo-shuffle that
    does not depend on a random seed or on the sample order), then the ordered
    donors are cut into three consecutive parts holding about ``fractions`` of
    the *samples*. Each cut is placed at the donor boundary closest to its
    target sample count, so that no donor straddles two parts (the original
    code cut at an exact sample count, splitting a donor's samples). Every part
    with a positive fraction gets at least one donor.

    Parameters
    ----------
    donors : array-like of str of shape (n_samples,)
        Donor id of each sample, e.g. ``data.covariates["donor"]`` from
        :func:`~skimpute_gtex.datasets.load_gtex`.
    fractions : tuple of 3 floats, default=(0.6, 0.2, 0.2)
        Target fractions of samples for train, validation and test;
        non-negative, summing to 1. A zero fraction gives an empty part.

    Returns
    -------
    train : ndarray of int of shape (n_train,)
        Sorted positions of the training samples.
    val : ndarray of int of shape (n_val,)
        Sorted positions of the validation samples.
    test : ndarray of int of shape (n_test,)
        Sorted positions of the test samples.

    Raises
    ------
    ValueError
        If ``fractions`` is not 3 non-negative numbers summing to 1, if a
        donor id is missing, or if there are fewer donors than parts with a
        positive fraction.

    See Also
    --------
    DonorKFold : donor-disjoint k-fold cross-validation.

    Examples
    --------
    >>> from skimpute_gtex.model_selection import gtex_donor_split
    >>> donors = ["GTEX-1117F"] * 3 + ["GTEX-111CU"] * 2 + ["GTEX-111FC"] * 2 + [
    ...     "GTEX-111VG"] * 2 + ["GTEX-111YS"]
    >>> train, val, test = gtex_donor_split(donors)
    >>> train, val, test
    (array([0, 1, 2, 5, 6]), array([7, 8, 9]), array([3, 4]))
    >>> sorted({donors[i] for i in test})
    ['GTEX-111CU']
    """
    donors = _as_donor_array(donors)
    try:
        fractions = np.asarray(fractions, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"fractions must be 3 numbers (train, val, test); got {fractions!r}."
        ) from None
    if (
        fractions.shape != (3,)
        or not np.all(np.isfinite(fractions))
        or np.any(fractions < 0)
        or not np.isclose(fractions.sum(), 1.0)
    ):
        raise ValueError(
            "fractions must be 3 non-negative numbers (train, val, test) summing "
            f"to 1; got {fractions.tolist()!r}."
        )
    if donors.size == 0:
        raise ValueError("donors is empty.")

    unique, inverse, counts = np.unique(donors, return_inverse=True, return_counts=True)
    order = np.argsort(np.array([d[::-1] for d in unique], dtype=object), kind="stable")
    n_donors = len(unique)
    positive = fractions > 0
    if n_donors < positive.sum():
        raise ValueError(
            f"gtex_donor_split needs at least {int(positive.sum())} donors for "
            f"fractions={fractions.tolist()!r}; got {n_donors}."
        )
    # cum[k]: number of samples of the first k donors in reversed-id order
    cum = np.concatenate([[0], np.cumsum(counts[order])])
    targets = np.cumsum(fractions)[:2] * cum[-1]

    def nearest(target, low, high):
        candidates = np.arange(low, high + 1)
        return int(candidates[np.argmin(np.abs(cum[candidates] - target))])

    # a positive part needs at least one donor, an empty part none
    if not positive[0]:
        cut1 = 0
    else:
        cut1 = nearest(targets[0], 1, n_donors - int(positive[1]) - int(positive[2]))
    if not positive[1]:
        cut2 = cut1
    elif not positive[2]:
        cut2 = n_donors
    else:
        cut2 = nearest(targets[1], cut1 + 1, n_donors - 1)

    rank = np.empty(n_donors, dtype=np.intp)
    rank[order] = np.arange(n_donors)
    sample_rank = rank[inverse]
    train = np.flatnonzero(sample_rank < cut1)
    val = np.flatnonzero((sample_rank >= cut1) & (sample_rank < cut2))
    test = np.flatnonzero(sample_rank >= cut2)
    return train, val, test

"""Simulate missing values: MCAR, MAR and MNAR masks."""

from numbers import Real

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.utils import check_array, check_random_state

from ..utils._compat import Interval, StrOptions, validate_params


def _calibrated_mask(logits, rate, rng):
    """Bernoulli mask with P(missing) = expit(logits + c), c set so the mean is rate."""
    if rate <= 0.0:
        return np.zeros(logits.shape, dtype=bool)
    if rate >= 1.0:
        return np.ones(logits.shape, dtype=bool)
    c = brentq(lambda c: expit(logits + c).mean() - rate, -50.0, 50.0)
    return rng.uniform(size=logits.shape) < expit(logits + c)


def _standardize(X):
    mean = np.nanmean(X, axis=0)
    std = np.nanstd(X, axis=0)
    std[~(std > 0)] = 1.0
    return np.nan_to_num((X - mean) / std)


@validate_params(
    {
        "X": ["array-like"],
        "rate": [Interval(Real, 0, 1, closed="both")],
        "mechanism": [StrOptions({"MCAR", "MAR", "MNAR"})],
        "observed_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def simulate_missing(
    X, rate=0.5, *, mechanism="MCAR", observed_fraction=0.3, random_state=None
):
    """Hide a fraction of the observed entries of X.

    Only entries that are observed in ``X`` can be hidden, and ``rate`` is the
    expected fraction of the *observed* entries that are hidden.

    - ``"MCAR"`` (missing completely at random): each observed entry is hidden
      independently with probability ``rate`` (one uniform draw per observed
      entry, in row-major order).
    - ``"MAR"`` (missing at random): a random ``observed_fraction`` of the
      columns is never hidden. Every other column j is hidden with probability
      ``expit(s_i . w_j + c)``, where ``s_i`` is row i of the always-observed
      columns, standardized, ``w_j`` is a random unit-norm weight vector and
      ``c`` is one intercept solved so that the expected rate over the hideable
      entries is ``rate / (1 - observed_fraction)``, capped at 1.
    - ``"MNAR"`` (missing not at random, self-masking): entry (i, j) is hidden
      with probability ``expit(2 * z_ij + c)``, where ``z_ij`` is the
      standardized value itself (high values are hidden more often) and ``c``
      is solved so that the expected rate is ``rate``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric data; NaN marks entries that are already missing. Not modified.
    rate : float, default=0.5
        Target fraction of the observed entries to hide, in [0, 1].
    mechanism : {"MCAR", "MAR", "MNAR"}, default="MCAR"
        How the entries to hide are chosen.
    observed_fraction : float, default=0.3
        With ``"MAR"``, the fraction of columns that stay fully observed.
    random_state : int, RandomState instance or None, default=None
        Determines the random mask.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features)
        A float copy of ``X`` with the hidden entries set to NaN.
    mask : ndarray of bool of shape (n_samples, n_features)
        True where an observed entry of ``X`` was hidden.

    See Also
    --------
    skimpute_gtex.metrics.masked_r2_score : score an imputation on the mask.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex.datasets import simulate_missing
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> X_missing, mask = simulate_missing(X, 0.5, random_state=0)
    >>> bool(np.isnan(X_missing[mask]).all())
    True
    >>> bool((X_missing[~mask] == X[~mask]).all())
    True
    """
    X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", copy=True)
    rng = check_random_state(random_state)
    observed = ~np.isnan(X)
    if mechanism == "MCAR":
        # draw only for the observed entries, so that masking data which was
        # itself masked with the same seed still hides a fresh set of entries
        mask = np.zeros(X.shape, dtype=bool)
        mask[observed] = rng.uniform(size=int(observed.sum())) < rate
    elif mechanism == "MNAR":
        mask = _calibrated_mask(2.0 * _standardize(X), rate, rng)
    else:
        n_features = X.shape[1]
        n_keep = max(1, int(round(observed_fraction * n_features)))
        if n_keep >= n_features:
            raise ValueError(
                "MAR needs at least 2 columns: one that stays observed and one "
                f"that can be hidden; got n_features={n_features}."
            )
        keep = rng.choice(n_features, n_keep, replace=False)
        hide = np.setdiff1d(np.arange(n_features), keep)
        weights = rng.normal(size=(n_keep, hide.size))
        weights /= np.linalg.norm(weights, axis=0, keepdims=True)
        logits = _standardize(X[:, keep]) @ weights
        mask = np.zeros(X.shape, dtype=bool)
        mask[:, hide] = _calibrated_mask(
            logits, min(1.0, rate * n_features / hide.size), rng
        )
    mask &= observed
    X[mask] = np.nan
    return X, mask

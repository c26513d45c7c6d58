"""The plan of a fit: every ``"auto"`` parameter resolved in one place.

The ``"auto"`` defaults follow one regime, chosen by the number of samples
(docs/user_guide.rst, "Training regimes"). From ``LARGE_FROM`` samples on,
rows are held out for early stopping, and the networks train with light
regularisation in large, even batches. Below it every row trains for a fixed
step budget, with stronger regularisation, small batches, an ensemble when
one network cannot use the budget, and (PMIImputer) the low-rank blend.

Each ``"auto"`` follows the regime alone: a parameter set explicitly changes
only itself (``early_stopping=True`` on 500 samples holds out rows and keeps
the small-data dropout, pseudo-masks, batches, ensemble and blend).
"""

from dataclasses import dataclass, replace

import numpy as np

from ._training import even_batch_size

#: the regime: "large" from this many samples on
LARGE_FROM = 1000
# dropout, and the pseudo-mask range of a complete training set, by regime
_SMALL_DROPOUT, _LARGE_DROPOUT = 0.5, 0.2
_SMALL_MASK_RANGE, _LARGE_MASK_RANGE = (0.5, 0.95), (0.2, 0.8)
# below LARGE_FROM the range follows the observed fraction f of the data:
# _SMALL_MASK_RANGE up to f = 0.5 (a study with half its entries missing,
# imputed in place), _LARGE_MASK_RANGE at f = 1 (a complete reference, whose
# new samples arrive with many entries missing), linear in between
_HALF_OBSERVED = 0.5
#: n_estimators="auto": at most this many networks
MAX_AUTO_MEMBERS = 8


@dataclass(frozen=True)
class Plan:
    """What a fit does, with every ``"auto"`` resolved.

    ``early_stopping`` is what the fit asked for until the validation split
    is made, then whether it holds out rows (too few rows: it does not).
    ``cross_fit`` is then None, or how the ensemble is cross-fitted
    (``_crossfit.py``): by ``"rows"`` (complete data) or ``"entries"``;
    ``cross_fit_all`` whether every network is (calibration) or network 0.
    """

    large: bool
    early_stopping: bool
    dropout: float
    mask_range: tuple
    blend: bool
    batch_rule: tuple  # (divisor, most, evened) of batch_size="auto"
    batch_size: object  # an int, or "auto"
    n_estimators: object  # an int, or "auto"
    max_iter: int
    max_steps: object
    cross_fit: object = None
    cross_fit_all: bool = False

    def batch(self, n_rows):
        """Mini-batch rows for ``n_rows`` training rows."""
        if self.batch_size != "auto":
            return min(int(self.batch_size), n_rows)
        return auto_batch_size(n_rows, self.batch_rule)

    def n_members(self, steps_per_epoch):
        """Networks to train: ``n_estimators``, or the "auto" rule.

        "auto": below ``LARGE_FROM`` samples, as many networks as the step
        budget ``max_steps`` holds when ``max_iter`` epochs of one network use
        less of it (small data), at most ``MAX_AUTO_MEMBERS``; otherwise one.
        """
        if self.n_estimators != "auto":
            return int(self.n_estimators)
        if self.max_steps is None or self.large:
            return 1
        per_member = self.max_iter * steps_per_epoch
        return int(np.clip(self.max_steps // max(per_member, 1), 1,
                           MAX_AUTO_MEMBERS))


def with_split(plan, estimator, early_stopping, complete):
    """``plan`` once the validation split is made: whether it holds out
    rows, and the cross-fit that the blend, the gene panels' weights or the
    calibration need without them (out-of-sample predictions)."""
    cross_fit = None
    if not early_stopping:
        panels = getattr(estimator, "gene_panel", False) and complete
        if plan.blend or estimator.calibration or panels:
            cross_fit = "rows" if complete else "entries"
    return replace(plan, early_stopping=early_stopping, cross_fit=cross_fit,
                   cross_fit_all=bool(estimator.calibration))


def auto_batch_size(n_rows, rule):
    """``batch_size="auto"``: ``n_rows // divisor`` clipped to [64, most] and
    to ``n_rows``, evened out over an epoch when ``rule`` says so."""
    divisor, most, evened = rule
    size = int(min(n_rows, np.clip(n_rows // divisor, 64, most)))
    return even_batch_size(n_rows, size) if evened else size


def make_plan(estimator, n_samples, observed_fraction):
    """The :class:`Plan` of ``estimator``'s fit on ``n_samples`` rows of which
    ``observed_fraction`` of the (valid) entries are observed."""
    est = estimator
    large = n_samples >= LARGE_FROM
    early = large if est.early_stopping == "auto" else bool(est.early_stopping)
    dropout = est.dropout
    if dropout == "auto":
        dropout = _LARGE_DROPOUT if large else _SMALL_DROPOUT
    mask_range = est.pseudo_mask_range
    if isinstance(mask_range, str):  # "auto"
        if large:
            mask_range = _LARGE_MASK_RANGE
        else:
            t = np.clip((observed_fraction - _HALF_OBSERVED)
                        / (1.0 - _HALF_OBSERVED), 0.0, 1.0)
            mask_range = [(1 - t) * b + t * c for b, c in
                          zip(_SMALL_MASK_RANGE, _LARGE_MASK_RANGE)]
    blend = getattr(est, "blend_low_rank", False)
    if blend == "auto":  # small data, not with intervals calibrated for the net
        blend = not large and not est.calibration
    rule = ((*est._LARGE_BATCH, True) if large else (*est._SMALL_BATCH, False))
    return Plan(
        large=large, early_stopping=early, dropout=float(dropout),
        mask_range=(float(mask_range[0]), float(mask_range[1])),
        blend=bool(blend), batch_rule=rule, batch_size=est.batch_size,
        n_estimators=est.n_estimators, max_iter=est.max_iter,
        max_steps=est.max_steps,
    )

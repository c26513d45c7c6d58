"""PMI blended with a low-rank model, weighted on out-of-sample predictions.

How ``blend_low_rank`` works (docs/user_guide.rst, "Blending with a low-rank
model"):

1. The ensemble is cross-fitted (``_torch/_crossfit.py``): network 0 trains
   without fold 0 of the observed entries (of the rows, when the training
   data are complete), so that its predictions of that fold are out of
   sample. A soft-impute model
   (:class:`~skimpute_gtex.baselines.SoftImputeImputer`) is fitted without
   fold 0 too. With early stopping, the validation rows and the whole
   ensemble take their place.
2. The held-out entries are predicted by the network and by that
   soft-impute model:

   - on data with missing entries (a study imputed in place), with the
     other observed entries of their row visible, and with half of those
     hidden as well;
   - on complete data (a reference: the model can only be used on new
     samples), the held-out rows are new samples, predicted with three
     quarters or a quarter of their entries visible.

3. At each of the two observed fractions ``v`` of the rows so obtained, the
   network's weight ``w(v)`` minimises the squared error of ``w * network +
   (1 - w) * low-rank`` on the held-out entries (standardized units; clipped
   to [0, 1]).
4. The soft-impute model is refitted on every observed entry. ``transform``
   returns ``w(r) * network + (1 - w(r)) * low-rank`` for a row with observed
   fraction ``r`` (``w`` interpolated linearly between the two fractions,
   constant beyond them), clipped as before.

A low-rank model is what small studies favour (it is linear, with few
parameters); the network wins as data grows or when genes interact
non-linearly; the held-out weight lets each data set say which, and the two
fractions let the weight follow the missingness of the rows imputed, which in
the inductive scenario need not be that of the training data. One network
spreads more than the ensemble's average: the weight is corrected by the
variance between the networks (:func:`_ensemble_excess`).
"""

import numpy as np

from .._panel import mixture_weight
from ..baselines import SoftImputeImputer
from ..utils._compat import StrOptions
from ..utils._random import draw_seed
from ._panels import fit_panel, panel_imputations

# the observed fractions at which the weight is measured: held-out entries
# are predicted with the other observed entries of their row visible, or half
# of them; held-out rows with a quarter or three quarters of their entries
_ENTRY_LEVELS = (1.0, 0.5)
_ROW_LEVELS = (0.75, 0.25)


def held_out_fold(crossfit, mask):
    """What fold 0 of ``crossfit`` holds out of the training data.

    Returns ``(training rows, training mask, evaluated rows, held)``, or
    None when fold 0 holds nothing: on complete data the rows of fold 0
    (``held`` is None: any of their entries can be hidden), otherwise the
    observed entries of fold 0 (``held``, a mask of the evaluated rows).
    """
    n_rows = mask.shape[0]
    if crossfit.by_rows:
        eval_rows = crossfit.held_out_rows(0)
        if eval_rows.size == 0:
            return None
        fit_rows = np.setdiff1d(np.arange(n_rows), eval_rows)
        return fit_rows, mask, eval_rows, None
    held = crossfit.held_out_entries(0) & mask
    train_mask = mask & ~held
    # a gene left without observed entries cannot be learnt without them
    held &= train_mask.any(axis=0)
    eval_rows = np.flatnonzero(held.any(axis=1))
    if eval_rows.size == 0:
        return None
    return np.arange(n_rows), train_mask, eval_rows, held[eval_rows]


def weighing_levels(found, rng):
    """``[(visible, target)]`` masks of the evaluated rows of ``found`` (as
    :func:`held_out_fold` returns it) at which the weight is measured:
    held-out entries with the other observed entries of their row visible,
    or half of them; held-out rows with three quarters or a quarter of their
    observed entries visible, the others the targets."""
    _, train_mask, eval_rows, held = found
    observed = train_mask[eval_rows]
    if held is None:
        levels = []
        for keep in _ROW_LEVELS:
            visible = observed & (rng.random_sample(observed.shape) < keep)
            levels.append((visible, observed & ~visible))
        return levels
    return [(observed & (rng.random_sample(observed.shape) < keep), held)
            for keep in _ENTRY_LEVELS]


def _ensemble_excess(preds, target, observed):
    """How much more network 0's predictions of ``target`` spread than the
    ensemble's average would: ``(1 - 1/n) * sigma² * n_targets``, with
    ``sigma²`` the variance between the ``n`` networks' predictions ``preds``
    (standardized, network 0 first). Measured at the entries missing from the
    data, which no network saw, where there are enough; otherwise (complete
    data) at the targets, between the networks other than network 0, which
    trained on those rows (a smaller spread than on new samples: the
    correction is then partial). 0 for fewer networks than that needs.
    """
    if len(preds) < 2:
        return 0.0
    unseen = ~observed
    if unseen.sum() >= target.sum():
        where, spread_of = unseen, preds
    else:
        where, spread_of = target, preds[1:]
    if len(spread_of) < 2:
        return 0.0
    spread = np.var(np.stack([p[where] for p in spread_of]), axis=0,
                    ddof=1).mean()
    return float((1.0 - 1.0 / len(preds)) * spread * target.sum())


def _low_rank_model(self, genes, mask, numeric, codes, seed):
    """A :class:`SoftImputeImputer` fitted on validated arrays."""
    model = SoftImputeImputer(random_state=seed)
    model.categories_ = getattr(self, "categories_", [])
    model._valid_mask = mask.any(axis=0)
    model._fit_arrays(np.where(mask, genes, np.nan), mask, numeric, codes)
    return model


class _LowRankBlendMixin:
    """``blend_low_rank`` for :class:`~skimpute_gtex.PMIImputer`."""

    _blend_constraints: dict = {
        "blend_low_rank": [StrOptions({"auto"}), "boolean"],
        "gene_panel": ["boolean"],
    }

    def _check_blend(self):
        if self.blend_low_rank is True and self.calibration:
            raise ValueError(
                "blend_low_rank=True cannot be combined with calibration=True: "
                "the intervals are calibrated for the network's own "
                "imputations. Use blend_low_rank='auto' or False."
            )

    def _fit_blend(self, validated, mask, mean, scale, rows, validation,
                   members, crossfit, rng):
        """``(low-rank blend, gene panel)``, each None when not fitted.

        Both are weighed on predictions of data that the networks never
        trained on: the early-stopping validation rows (predicted by the
        ensemble), or fold 0 of the cross-fit (by network 0).
        """
        genes, numeric, codes = validated
        each = None  # each network's predict, when one measures the ensemble
        if validation is not None:
            found = rows, mask, validation, None
            network = self._predictor(self._ensemble(members), validated, mean,
                                      scale)
        elif crossfit is not None:
            found = held_out_fold(crossfit, mask)
            each = [self._predictor(m, validated, mean, scale) for m in members]
            network = each[0]
        else:
            return None, None
        if found is None:
            return None, None
        fit_rows, _, eval_rows, held = found
        predict, blend = network, None
        if self._plan.blend:
            blend, predict = self._fit_low_rank(validated, mask, mean, scale,
                                                found, network, rng, each)
        panel = None
        if held is None:  # rows held out: new samples
            panel = fit_panel(self, genes, mask, mean, scale, numeric, codes,
                              fit_rows, eval_rows, predict, rng)
        return blend, panel

    def _fit_low_rank(self, validated, mask, mean, scale, found, network, rng,
                      each=None):
        """``(blend, predict)``: what ``_set_blend`` stores of the low-rank
        blend, and ``predict(rows, visible)`` of the blend measured (the
        network's, with a low-rank model fitted without the held-out data).

        ``found`` is the held-out data (:func:`held_out_fold`), ``network``
        the network's predictions of what it never saw; ``each``, when
        ``network`` is one network of an ensemble, every network's (the
        weight is corrected for the ensemble's smaller spread).
        """
        r = np.random.RandomState(draw_seed(rng))
        fit_rows, train_mask, eval_rows, _ = found
        levels = weighing_levels(found, r)
        genes, numeric, codes = validated
        low_rank = _low_rank_model(self, genes[fit_rows], train_mask[fit_rows],
                                   numeric[fit_rows], codes[fit_rows],
                                   draw_seed(r))

        def other(rows_, visible):
            g = genes[rows_]
            return (low_rank._imputed(np.where(visible, g, np.nan), visible,
                                      numeric[rows_], codes[rows_]) - mean) / scale

        x = (genes[eval_rows] - mean) / scale
        visibility, weights = [], []
        for visible, target in levels:
            # network (network 0 of each, when given) predicted once
            preds = [m(eval_rows, visible) for m in (each or [network])]
            net, lr = preds[0], other(eval_rows, visible)
            excess = _ensemble_excess(preds, target, mask[eval_rows])
            weights.append(mixture_weight(net[target], lr[target], x[target],
                                          excess))
            visibility.append(float(visible.mean()))
        order = np.argsort(visibility)
        visibility = np.asarray(visibility)[order]
        weights = np.asarray(weights)[order]
        seed = draw_seed(r)
        final = None  # a weight of 1 everywhere: the low-rank model is unused
        if (weights < 1.0).any():
            final = _low_rank_model(self, genes, mask, numeric, codes, seed)

        def blended(rows_, visible):
            w = np.interp(visible.mean(axis=1), visibility, weights)[:, None]
            return w * network(rows_, visible) + (1.0 - w) * other(rows_, visible)

        return (final, visibility, weights), blended

    def _predictor(self, networks, validated, mean, scale):
        """``predict(rows, visible)``: the networks' standardized predictions
        of every gene of those rows of the validated data, ``visible`` of
        their entries measured."""
        genes, numeric, codes = validated

        def predict(rows, visible):
            return self._standardized_predictions(
                networks, genes[rows], visible, numeric[rows], codes[rows],
                mean, scale)

        return predict

    def _standardized_predictions(self, networks, genes, visible, numeric, codes,
                                  mean, scale):
        """The networks' standardized predictions of every entry, given visible."""
        networks = {k: v for k, v in networks.items() if v is not None}
        out = np.empty(genes.shape, dtype=np.float64)
        for sl, block in self._predicted_blocks(networks, genes, visible, numeric,
                                                codes, mean, scale):
            out[sl] = block
        return out

    def _set_blend(self, blend):
        blend, panel = blend
        self._low_rank = None
        self.blend_visibility_ = self.blend_weight_ = None
        if blend is not None:  # (the low-rank model may be None: weight 1)
            self._low_rank, self.blend_visibility_, self.blend_weight_ = blend
        panel = {} if panel is None else panel
        self._linear = panel.get("linear")
        self.panel_visibility_ = panel.get("levels")
        self.panel_weight_ = panel.get("weights")
        self.panel_r2_ = panel.get("r2")
        self._panel_sigma = panel.get("sigma")
        self._panel_scores = panel.get("scores")

    def _panel_imputations(self, genes, mask, numeric, codes):
        if not self.gene_panel:
            return None
        return panel_imputations(self, genes, mask, numeric, codes)

    def _blended(self, imputed, genes, mask, numeric, codes):
        low_rank = self._low_rank
        if low_rank is None:
            return imputed
        other = low_rank._imputed(genes, mask, numeric, codes)
        r = mask.mean(axis=1) if genes.shape[1] else np.zeros(len(genes))
        w = np.interp(r, self.blend_visibility_, self.blend_weight_)[:, None]
        valid = self._valid_mask
        imputed = imputed.copy()
        imputed[:, valid] = (w * imputed[:, valid]
                             + (1.0 - w) * other[:, valid])
        return imputed

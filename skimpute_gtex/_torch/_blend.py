"""PMI blended with a low-rank model, weighted on held-out observed entries.

How ``blend_low_rank`` works (docs/user_guide.rst, "Blending with a low-rank
model"):

1. The networks are trained on every observed entry, exactly as without the
   blend (the blend draws its random numbers after theirs).
2. A second, identical training runs without part of the data, and a
   soft-impute model (:class:`~skimpute_gtex.baselines.SoftImputeImputer`) is
   fitted on the same part:

   - when the training data have missing entries (a study imputed in place),
     ``validation_fraction`` of the observed entries are held out, and later
     predicted with the other observed entries of their row visible, and
     with half of those hidden as well;
   - when they are complete (a reference: the model can only be used on new
     samples), ``validation_fraction`` of the rows are held out, and their
     entries predicted with three quarters or a quarter of the row visible.

   A held-out entry of a training row and an entry of a new sample are not
   alike: the network has learnt the training rows' other entries, which
   favours it there and not on new samples.
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
the inductive scenario need not be that of the training data.
"""

import numpy as np

from .._panel import mixture_weight
from ..baselines import SoftImputeImputer
from ..utils._compat import StrOptions
from ..utils._progress import log
from ._data import _Data
from ._device import draw_seed
from ._panel_blend import fit_panel, panel_imputations

# the observed fractions at which the weight is measured: held-out entries
# are predicted with the other observed entries of their row visible, or half
# of them; held-out rows with a quarter or three quarters of their entries
_ENTRY_LEVELS = (1.0, 0.5)
_ROW_LEVELS = (0.75, 0.25)


def _held_out(mask, fraction, rng):
    """A random ``fraction`` of the observed entries; None if none.

    No gene loses all its observed entries (the models need one to learn it).
    """
    observed = np.flatnonzero(mask)
    n_held = int(round(fraction * observed.size))
    if n_held == 0:
        return None
    held = np.zeros(mask.shape, dtype=bool)
    held.flat[rng.choice(observed, n_held, replace=False)] = True
    emptied = ~(mask & ~held).any(axis=0) & mask.any(axis=0)
    held[:, emptied] = False
    return held if held.any() else None


def _entries_plan(mask, rows, fraction, rng):
    """Hold out observed entries; evaluate them in the rows that had them.

    Returns ``(training rows, training mask, evaluated rows, levels)``, each
    level a ``(visible, target)`` pair of masks of the evaluated rows: the
    other observed entries of a row visible, or half of them.
    """
    held = _held_out(mask, fraction, rng)
    if held is None:
        return None
    train_mask = mask & ~held
    eval_rows = np.flatnonzero(held.any(axis=1))
    levels = [
        (train_mask[eval_rows] & (rng.random_sample((len(eval_rows), mask.shape[1]))
                                  < keep), held[eval_rows])
        for keep in _ENTRY_LEVELS
    ]
    return rows, train_mask, eval_rows, levels


def _rows_plan(mask, rows, fraction, rng):
    """Hold out rows (new samples); hide part of their entries to evaluate.

    As :func:`_entries_plan`; None if fewer than 2 rows would be held out or
    left to train.
    """
    n_eval = int(round(fraction * len(rows)))
    if n_eval < 2 or len(rows) - n_eval < 2:
        return None
    perm = rng.permutation(len(rows))
    eval_rows = np.sort(rows[perm[:n_eval]])
    fit_rows = np.sort(rows[perm[n_eval:]])
    observed = mask[eval_rows]
    levels = []
    for keep in _ROW_LEVELS:
        visible = observed & (rng.random_sample(observed.shape) < keep)
        levels.append((visible, observed & ~visible))
    return fit_rows, mask, eval_rows, levels


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
                   members, rng, device, threads):
        """``(low-rank blend, gene panel)``, each None when not fitted."""
        genes, numeric, codes = validated
        blend, held_out = self._fit_low_rank(validated, mask, mean, scale, rows,
                                             validation, rng, device, threads)
        if held_out is None and validation is not None:
            # early stopping: the validation rows, never trained on
            held_out = rows, validation, self._predictor(
                self._combined(members), validated, mean, scale)
        panel = None
        if held_out is not None:
            panel = fit_panel(self, genes, mask, mean, scale, numeric, codes,
                              *held_out, rng)
        return blend, panel

    def _fit_low_rank(self, validated, mask, mean, scale, rows, validation, rng,
                      device, threads):
        """``(blend, held_out)``: what ``_set_blend`` stores of the low-rank
        blend, and, when rows were held out, ``(fit rows, held-out rows,
        predict(rows, visible))`` of the second training.

        The second training runs for the blend, and, on complete training
        data without early stopping, for the gene panels' weights (which
        need rows that the networks never saw) even without the blend.
        """
        blend = self._plan.blend
        for_panels = (self.gene_panel and validation is None
                      and bool(mask.all()))
        if not (blend or for_panels):
            return None, None
        genes, numeric, codes = validated
        r = np.random.RandomState(draw_seed(rng))
        if mask.all():
            # a complete reference: only new samples can be imputed with it
            plan = _rows_plan(mask, rows, self.validation_fraction, r)
        else:
            plan = _entries_plan(mask, rows, self.validation_fraction, r)
        if plan is None:
            return None, None
        fit_rows, train_mask, eval_rows, levels = plan
        log(self, self.verbose >= 1,
            ("blend" if blend else "gene panels")
            + f": training again without {len(rows) - len(fit_rows)} rows "
            f"and {int((mask & ~train_mask).sum())} entries, to weigh the "
            + ("low-rank model" if blend else "ridge regression"))
        data = _Data(genes, train_mask, mean, scale, fit_rows, numeric, codes,
                     device)
        val_data = None
        if validation is not None:
            val_data = _Data(genes, train_mask, mean, scale, validation, numeric,
                             codes, device)
        members, _, _ = self._train_networks(
            data, val_data, r, (draw_seed(r), draw_seed(r)), device, threads)
        network = self._predictor(self._combined(members), validated, mean,
                                  scale)
        held_out = None
        if len(fit_rows) < len(rows):  # rows held out: new samples
            held_out = fit_rows, eval_rows, network
        if not blend:
            return None, held_out
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
            net, lr = network(eval_rows, visible), other(eval_rows, visible)
            weights.append(mixture_weight(net[target], lr[target], x[target]))
            visibility.append(float(visible.mean()))
        order = np.argsort(visibility)
        visibility = np.asarray(visibility)[order]
        weights = np.asarray(weights)[order]
        final = _low_rank_model(self, genes, mask, numeric, codes, draw_seed(r))
        if held_out is not None:

            def blended(rows_, visible):
                w = np.interp(visible.mean(axis=1), visibility, weights)[:, None]
                return (w * network(rows_, visible)
                        + (1.0 - w) * other(rows_, visible))

            held_out = fit_rows, eval_rows, blended
        return (final, visibility, weights), held_out

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
        if blend is not None:
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

"""PMI on gene panels: rows that share their missing genes.

How ``gene_panel`` works (docs/user_guide.rst, "Gene panels"):

1. ``fit`` keeps a :class:`~skimpute_gtex._panel.LinearReference` of the
   training rows: the ridge regression of any set of genes on any other (and
   on the covariates), solved when a panel is met.
2. It weighs that regression against the network's imputations (blended with
   the low-rank model where ``blend_low_rank`` applies) on rows that the
   networks never trained on: the early-stopping validation rows, or the
   rows of fold 0 of the cross-fitted ensemble (``_torch/_crossfit.py``), predicted
   by the network that never saw them. At each panel size of
   ``PANEL_LEVELS`` (a fraction of the genes), random panels are drawn, the
   rows' other genes are predicted both ways from the panel, and the network's
   weight minimises the squared error of the mixture (``panel_weight_``).
3. ``transform`` finds the rows of X that share their missing genes with at
   least ``MIN_PANEL_ROWS - 1`` other rows: a study measured on a panel. For
   each such group it solves the ridge regression from the group's measured
   genes and returns ``w * network + (1 - w) * ridge``, with ``w`` interpolated
   at the group's measured fraction (on a log scale). Other rows, each with
   its own missing entries, are imputed as before.
"""

import numpy as np

from .._panel import LinearReference, covariate_features, mixture_weight
from ..utils._random import draw_seed
from ._conformal import panel_scores

#: panel sizes (fractions of the genes) at which the weight is measured
PANEL_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
#: random panels drawn at each size; one where the reference's factor has
#: more entries than _CHEAP (each regression costs more: GTEx width)
_PANEL_DRAWS, _CHEAP = 4, 2**22
#: rows of X that must share their missing genes to be imputed as a panel
MIN_PANEL_ROWS = 2
#: the weights are measured on at most about this many values of held-out
#: rows (a random sample of the rows, at least MIN_WEIGHING_ROWS): at GTEx
#: width all validation rows would hold gigabytes for no better a weight
WEIGHING_ENTRIES, MIN_WEIGHING_ROWS = 2**21, 256


def weighing_rows(n_rows, n_genes):
    """How many held-out rows of ``n_genes`` genes the weights are measured
    on, of ``n_rows``."""
    return min(n_rows, max(MIN_WEIGHING_ROWS, WEIGHING_ENTRIES // max(n_genes, 1)))


def _vocab(self):
    return [len(c) for c in getattr(self, "categories_", [])]


def linear_reference(self, genes, mask, mean, scale, numeric, codes, rows, seed,
                     n_samples=None):
    """A :class:`LinearReference` of ``rows`` (a sample of ``n_samples``)."""
    return LinearReference(
        genes, mask, mean, scale,
        covariate_features(numeric[rows], codes[rows], _vocab(self)),
        self._valid_mask, np.random.RandomState(seed), n_samples=n_samples,
        rows=rows)


def panel_weights(self, predict, linear, genes, mask, mean, scale, numeric,
                  codes, eval_rows, rng):
    """``(levels, weights, r2, residuals)``: the network's weight at each
    panel size, the mixture's per-gene R² there (NaN for a gene hidden in
    fewer than two held-out values, or constant in them), and its residuals
    there, ``(standardized residuals, gene positions)`` per size, after
    clipping as ``transform`` clips (with ``calibration=True`` only; else
    an empty list).

    ``predict(rows, visible)`` returns the standardized predictions of every
    valid gene of ``rows`` with ``visible`` of their genes measured (a mask
    over all genes); ``linear`` was fitted without ``eval_rows``.
    """
    valid = np.flatnonzero(self._valid_mask)
    observed = mask[eval_rows]
    x = np.where(observed, (genes[eval_rows] - mean) / scale, 0.0)[:, valid]
    cov = covariate_features(numeric[eval_rows], codes[eval_rows], _vocab(self))
    levels, weights, r2, residuals = [], [], [], []
    if self.clip:
        low = ((self._clip_low - mean) / scale)[valid]
        high = ((self._clip_high - mean) / scale)[valid]
    for level in PANEL_LEVELS:
        size = int(round(level * valid.size))
        if size < 1 or size >= valid.size:
            continue
        draws = []
        for _ in range(_PANEL_DRAWS if linear.factor_.size <= _CHEAP else 1):
            panel = np.zeros(mask.shape[1], dtype=bool)
            panel[rng.choice(valid, size, replace=False)] = True
            inside = panel[valid]
            net = predict(eval_rows, observed & panel)[:, valid]
            lin = np.zeros_like(net)
            lin[:, ~inside] = linear.predict(inside, x[:, inside], cov)
            draws.append((net, lin, observed[:, valid] & ~inside))
        w = mixture_weight(*(np.concatenate([d[k][d[2]] for d in draws])
                             for k in (0, 1)),
                           np.concatenate([x[t] for _, _, t in draws]))
        # per gene, over the draws: 1 - SSE / SS of its hidden values
        sse, ss, count = (np.zeros(valid.size) for _ in range(3))
        res, where = [], []
        for net, lin, target in draws:
            n = target.sum(axis=0)
            centre = np.where(target, x, 0.0).sum(axis=0) / np.maximum(n, 1)
            mixture = w * net + (1 - w) * lin
            if self.clip:
                mixture = np.clip(mixture, low, high)
            sse += (np.where(target, mixture - x, 0.0) ** 2).sum(axis=0)
            ss += (np.where(target, x - centre, 0.0) ** 2).sum(axis=0)
            count += n
            if self.calibration:  # (held only for it: large at GTEx width)
                res.append((x - mixture)[target])
                where.append(np.nonzero(target)[1])
        if self.calibration:
            residuals.append((np.concatenate(res),
                              valid[np.concatenate(where)]))
        gene_r2 = np.full(mask.shape[1], np.nan)
        enough = (count >= 2) & (ss > 0)
        gene_r2[valid[enough]] = 1.0 - sse[enough] / ss[enough]
        levels.append(level)
        weights.append(w)
        r2.append(gene_r2)
    if not levels:
        return None
    return np.asarray(levels), np.asarray(weights), np.vstack(r2), residuals


def fit_panel(self, genes, mask, mean, scale, numeric, codes, fit_rows,
              eval_rows, predict, rng, sizes=(None, None)):
    """What ``_set_blend`` stores of the panels: a dict with the final
    ``linear`` reference, the ``levels``, ``weights`` and ``r2`` of
    :func:`panel_weights`, and, with ``calibration=True``, per level the
    per-gene ``sigma`` and sorted conformal ``scores`` of the residuals.

    ``fit_rows`` trained the networks that ``predict`` uses; ``eval_rows``
    did not (the weights are measured on a sample of them when they hold
    more than about ``WEIGHING_ENTRIES`` values). ``sizes``: how many rows
    of the reference ``fit_rows`` and all the rows stand for when they are
    samples of it (a fit from disk). None when the panel path is off or
    nothing can be weighed.
    """
    if not self.gene_panel or eval_rows is None or len(eval_rows) < 2:
        return None
    r = np.random.RandomState(draw_seed(rng))
    held_out = linear_reference(self, genes, mask, mean, scale, numeric, codes,
                                fit_rows, draw_seed(r), sizes[0])
    k = weighing_rows(len(eval_rows), int(self._valid_mask.sum()))
    if k < len(eval_rows):  # (drawn only then: smaller fits are unchanged)
        eval_rows = np.sort(r.choice(eval_rows, k, replace=False))
    weighed = panel_weights(self, predict, held_out, genes, mask, mean, scale,
                            numeric, codes, eval_rows, r)
    if weighed is None:
        return None
    levels, weights, r2, residuals = weighed
    every_row = np.arange(genes.shape[0])
    final = linear_reference(self, genes, mask, mean, scale, numeric, codes,
                             every_row, draw_seed(r), sizes[1])
    fitted = dict(linear=final, levels=levels, weights=weights, r2=r2)
    if self.calibration:
        sigmas, scores = zip(*(panel_scores(res, gene, mask.shape[1], r)
                               for res, gene in residuals))
        fitted.update(sigma=np.vstack(sigmas) * scale, scores=list(scores))
    return fitted


def panel_groups(mask, valid):
    """``[(rows, visible)]``: groups of at least ``MIN_PANEL_ROWS`` rows that
    share the same measured valid genes, some missing, some measured."""
    observed = mask[:, valid]
    if observed.shape[0] < MIN_PANEL_ROWS or observed.shape[1] == 0:
        return []
    keys = np.packbits(observed, axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True,
                                   return_counts=True)
    groups = []
    for k in np.flatnonzero(counts >= MIN_PANEL_ROWS):
        rows = np.flatnonzero(inverse.ravel() == k)
        visible = observed[rows[0]]
        if not visible.all():
            groups.append((rows, visible))
    return groups


class PanelRows:
    """The rows of X imputed as a gene panel.

    ``rows`` (positions in X), the network's weight of each (``weights``),
    the ridge regression's values of their valid genes (``values``, data
    units; measured genes as observed) and their measured fraction of the
    valid genes (``fractions``).
    """

    def __init__(self, rows, weights, values, fractions, valid):
        self.rows, self.weights = rows, weights
        self.values, self.fractions = values, fractions
        self.columns = np.flatnonzero(valid)

    def cells(self):
        """``np.ix_`` of the rows and valid genes."""
        return np.ix_(self.rows, self.columns)

    def mix(self, sl, imputed):
        """Mix, in place, the network's ``imputed`` values (data units) of the
        block of rows ``sl`` of X with the regression's, where they are
        panel rows."""
        inside = (self.rows >= sl.start) & (self.rows < sl.stop)
        if not inside.any():
            return
        w = self.weights[inside][:, None]
        cells = np.ix_(self.rows[inside] - sl.start, self.columns)
        imputed[cells] = w * imputed[cells] + (1 - w) * self.values[inside]


def panel_imputations(self, genes, mask, numeric, codes):
    """:class:`PanelRows` of X, or None if no row is imputed as a panel."""
    linear = getattr(self, "_linear", None)
    if linear is None:
        return None
    valid = self._valid_mask
    groups = panel_groups(mask, valid)
    if not groups:
        return None
    mean, scale = self.mean_[valid], self.scale_[valid]
    vocab = _vocab(self)
    all_rows, all_w, all_lin, all_f = [], [], [], []
    for rows, visible in groups:
        g = genes[rows][:, valid]
        z = (g[:, visible] - mean[visible]) / scale[visible]
        out = np.where(visible, g, 0.0)
        out[:, ~visible] = (linear.predict(visible, z, covariate_features(
            numeric[rows], codes[rows], vocab)) * scale[~visible]
            + mean[~visible])
        fraction = max(float(visible.mean()), 1e-6)
        w = np.interp(np.log(fraction), np.log(self.panel_visibility_),
                      self.panel_weight_)
        all_rows.append(rows)
        all_w.append(np.full(len(rows), w))
        all_lin.append(out)
        all_f.append(np.full(len(rows), fraction))
    return PanelRows(np.concatenate(all_rows), np.concatenate(all_w),
                     np.concatenate(all_lin), np.concatenate(all_f), valid)

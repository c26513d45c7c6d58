"""Split-conformal scores and their quantiles (docs/uncertainty.rst).

Residuals of held-out entries are normalised per gene and by the observed
fraction of their row; the scores' quantile scales the intervals of
:meth:`~skimpute_gtex.PMIImputer.transform_interval`.
"""

import numpy as np
from scipy import sparse as sp
from sklearn.isotonic import IsotonicRegression

_SHRINK = 20.0  # prior weight (in entries) of the global scale, per gene
_MAX_SCORES = 50_000  # scores kept for the quantile and the draws
_BIN_SIZE, _MAX_BINS = 1000, 20  # g(r): bins of the observed fraction


def _gene_scales(a, gene, n_genes):
    """``(sigma, sigma_loo)`` of absolute residuals ``a`` of genes ``gene``.

    ``sigma`` is each gene's mean absolute residual shrunk toward the mean
    over every gene (``_SHRINK`` pseudo-entries); ``sigma_loo`` is, for each
    residual, its gene's scale without the residual itself (leave-one-out:
    a score is not normalised by its own residual).
    """
    glob = max(float(a.mean()), 1e-12) if a.size else 1.0
    total = np.bincount(gene, a, minlength=n_genes)
    count = np.bincount(gene, minlength=n_genes)
    sigma = (total + _SHRINK * glob) / (count + _SHRINK)
    sigma_loo = (total[gene] - a + _SHRINK * glob) / (count[gene] - 1 + _SHRINK)
    return sigma, sigma_loo


def _quantile(scores, coverage):
    """Split conformal's quantile of sorted ``scores`` for ``coverage``: the
    ``ceil((n + 1) * coverage)``-th smallest, infinite beyond ``n``."""
    rank = int(np.ceil((scores.size + 1) * coverage))
    return scores[rank - 1] if rank <= scores.size else np.inf


def _fit_normalisation(res, gene, r, n_genes):
    """Per-gene scale, visibility knots and sorted conformal scores."""
    a = np.abs(res)
    sigma, sigma_loo = _gene_scales(a, gene, n_genes)
    # g(r): means over bins of at least _BIN_SIZE residuals (an isotonic fit
    # of single residuals has tiny, noisy blocks at the ends of the range,
    # where the rows of transform often sit), made non-increasing
    order = np.argsort(r, kind="stable")
    n_bins = int(np.clip(a.size // _BIN_SIZE, 1, _MAX_BINS))
    bins = np.array_split(order, n_bins)
    knots_r = np.array([r[b].mean() for b in bins])
    means = np.array([(a[b] / sigma_loo[b]).mean() for b in bins])
    iso = IsotonicRegression(increasing=False)
    knots_g = iso.fit_transform(knots_r, means, sample_weight=[b.size for b in bins])
    knots_g = np.maximum(knots_g, 1e-6)
    scores = a / (sigma_loo * np.interp(r, knots_r, knots_g))
    return sigma, knots_r, knots_g, scores


def panel_scores(res, gene, n_genes, rng):
    """Gene scales (standardized units) and sorted conformal scores of the
    residuals of one panel size (``_panels``): as for random entries,
    without the visibility factor (a panel size fixes the visible fraction);
    at most ``_MAX_SCORES`` scores, a random subset beyond."""
    a = np.abs(res)
    sigma, sigma_loo = _gene_scales(a, gene, n_genes)
    scores = a / sigma_loo
    if scores.size > _MAX_SCORES:
        scores = rng.choice(scores, _MAX_SCORES, replace=False)
    return sigma, np.sort(scores)


def _level_position(self, fraction):
    """Where each measured fraction sits among the panel sizes: a float
    index into ``panel_visibility_`` (on a log scale)."""
    levels = np.log(self.panel_visibility_)
    return np.interp(np.log(np.maximum(fraction, 1e-6)), levels,
                     np.arange(levels.size))


def _panel_half_widths(self, fraction, coverage):
    """Half-widths (data units) of the valid genes of rows measured at
    ``fraction``: the size's conformal quantile times its gene scale,
    interpolated between the two nearest sizes."""
    half = np.vstack([
        _quantile(scores, coverage) * sigma[self._valid_mask]
        for sigma, scores in zip(self._panel_sigma, self._panel_scores)])
    t = _level_position(self, fraction)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, len(half) - 1)
    a = (t - lo)[:, None]
    with np.errstate(invalid="ignore"):
        return (1 - a) * half[lo] + a * half[hi]


def _calibrated(self):
    """``available_if`` check: the method needs ``calibration=True``."""
    if not self.calibration:
        raise AttributeError(
            f"{type(self).__name__} was created with calibration=False; set "
            "calibration=True before fit to use transform_interval"
            + ("" if self._noise_draws else " and sample_imputations") + "."
        )
    return True


def _can_sample(self):
    return self._noise_draws or _calibrated(self)


def _stack(draws):
    """A stacked array of the copies, or the list of data frames as they are."""
    if draws and hasattr(draws[0], "columns"):
        return draws
    return np.stack([d.toarray() if sp.issparse(d) else np.asarray(d) for d in draws])

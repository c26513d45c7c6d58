"""Conformal per-entry intervals and multiple imputation for the deep imputers.

How the intervals are calibrated (``calibration=True``; docs/uncertainty.rst):

1. During ``fit``, observed entries that the network predicting them never
   saw, neither as input nor as training target, get an out-of-sample
   residual (in standardized units, after clipping):

   - without early stopping (every row trains; small studies), the
     ensemble's networks are cross-fitted (``_crossfit.py``): network ``k``
     trains without fold ``k`` of ``max(n_members, 8)`` folds of the observed
     entries (16 for a single network; of the rows, 8 or more, when the
     training data are complete) and its
     residuals on fold ``k`` are out of fold;
   - with early stopping, the held-out validation rows, never trained on,
     are predicted by the whole ensemble with part of their observed entries
     hidden (training is unchanged).

   The residuals are computed with a random part of each row's remaining
   entries hidden too, so that they span many observed fractions ``r``.
2. Scores are normalised: ``s = |residual| / (sigma_j * g(r))``, with
   ``sigma_j`` the gene's mean absolute residual shrunk toward the global one
   (``_SHRINK`` pseudo-entries; leave-one-out for the score itself) and
   ``g`` a non-increasing function of the observed fraction of the row
   (isotonic over bins of at least 1,000 residuals, constant beyond them).
3. ``transform_interval`` returns ``prediction +/- q * sigma_j * g(r_i)``
   (the prediction clipped as in ``transform``, the bounds not), with ``q`` the
   ``ceil((n + 1) * coverage)``-th smallest of the ``n`` scores (split
   conformal's finite-sample correction); ``sample_imputations`` adds
   ``+/- s * sigma_j * g(r_i)`` with ``s`` drawn from the scores, so that the
   central ``coverage`` range of the draws is the interval.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from scipy import sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._compose._conformal import (
    _MAX_SCORES,
    _calibrated,
    _can_sample,
    _fit_normalisation,
    _level_position,
    _panel_half_widths,
    _quantile,
    _stack,
)
from ..utils._compat import Interval, _get_output_config, validate_params
from ..utils._random import draw_seed
from ._data import _PREDICT_CHUNK
from ._device import make_generator
from ._threads import Threads

_MAX_RESIDUALS = 200_000  # residuals used to fit the normalisation
_VALIDATION_REPEATS = 4  # pseudo-masks per validation row
_KEEP_LOW = 0.3  # remaining entries visible with probability U(_KEEP_LOW, 1)


class _Calibrator:
    """Out-of-sample residuals of one fit; see the module docstring."""

    def __init__(self, estimator, seed):
        self.estimator = estimator
        self.generator = make_generator(seed, "cpu")

    def _uniform(self, n, low, high):
        return low + (high - low) * torch.rand((n, 1), generator=self.generator)

    def residuals(self, members, data, val_data, crossfit):
        """``(residuals, gene index, observed fraction)`` of the held-out
        entries: of the validation rows (``val_data``, predicted by the
        ensemble) or of each network's fold of ``crossfit``."""
        for networks in members:
            for m in networks.values():
                m.eval()
        out = []
        if crossfit is None and val_data is None:
            return None
        with torch.no_grad():
            if crossfit is None:
                expected = (float(val_data.mask.sum()) * _VALIDATION_REPEATS
                            * (1 - _KEEP_LOW) / 2)
                rate = min(1.0, _MAX_RESIDUALS / max(expected, 1.0))
                for _ in range(_VALIDATION_REPEATS):
                    out.extend(self._chunks(val_data, members, rate))
            elif crossfit.by_rows:  # each network's rows are new samples to it
                expected = (float(data.mask.sum()) * _VALIDATION_REPEATS
                            * (1 - _KEEP_LOW) / 2 * len(members) / crossfit.n_folds)
                rate = min(1.0, _MAX_RESIDUALS / max(expected, 1.0))
                for k, networks in enumerate(members):
                    fold = data.subset(crossfit.held_out_rows(k))
                    for _ in range(_VALIDATION_REPEATS):
                        out.extend(self._chunks(fold, [networks], rate))
            else:
                expected = (float(data.mask.sum()) * len(members)
                            / crossfit.n_folds)
                rate = min(1.0, _MAX_RESIDUALS / max(expected, 1.0))
                for k, networks in enumerate(members):
                    out.extend(self._chunks(data, [networks], rate,
                                            held=crossfit.fold == k))
        if not out:
            return None
        res, gene, r = (np.concatenate(parts) for parts in zip(*out))
        return res, gene, r

    def _chunks(self, data, members, rate, held=None):
        """Residuals of ``data``'s rows: of part of their observed entries
        (new samples to ``members``), or of the entries ``held`` (a boolean
        tensor of ``data``'s shape) that the one network never saw."""
        est = self.estimator
        n_rows, n_genes = data.shape
        g = self.generator
        for start in range(0, n_rows, _PREDICT_CHUNK):
            idx = torch.arange(start, min(start + _PREDICT_CHUNK, n_rows),
                               device=data.device)
            x, mask, numeric, codes = (t.cpu() for t in data.rows(idx))
            n = x.shape[0]
            if held is None:  # new samples: hide part of the observed entries
                keep = torch.rand(x.shape, generator=g) < self._uniform(
                    n, _KEEP_LOW, 1.0)
                visible = mask * keep
                target = mask - visible
            else:  # the fold this network never saw; half the rows hide more
                target = mask * held[idx].cpu()
                p = torch.where(torch.rand((n, 1), generator=g) < 0.5,
                                torch.ones((n, 1)), self._uniform(n, _KEEP_LOW, 1.0))
                visible = (mask - target) * (torch.rand(x.shape, generator=g) < p)
            if rate < 1.0:
                target = target * (torch.rand(x.shape, generator=g) < rate)
            pred = est._predict(members[0], x, visible, numeric, codes)
            for networks in members[1:]:
                pred = pred + est._predict(networks, x, visible, numeric, codes)
            pred = (pred / len(members)).numpy().astype(np.float64)
            pred = pred * est.scale_ + est.mean_
            if est.clip:
                pred = np.clip(pred, est._clip_low, est._clip_high)
            truth = x.numpy().astype(np.float64) * est.scale_ + est.mean_
            res = (truth - pred) / est.scale_
            sel = target.numpy() > 0
            rows_r = visible.sum(dim=1).numpy() / n_genes
            i, j = np.nonzero(sel)
            yield res[sel], j, rows_r[i]


class _UncertaintyMixin:
    """``calibration``, ``transform_interval`` and ``sample_imputations``.

    Mixed into :class:`PMIImputer` and :class:`GAINImputer` (left of
    ``_BaseTorchImputer``); the base calls ``_calibrator`` and
    ``_set_calibration`` during ``fit``.
    """

    _uncertainty_constraints: dict = {"calibration": ["boolean"]}
    # whether sample_imputations has a fallback without calibration (GAIN)
    _noise_draws = False

    # ------------------------------------------------------------- fitting
    def _set_calibration(self, members, data, val_data, crossfit, seed):
        self.calibration_scores_ = None
        self.interval_scale_ = None
        if not self.calibration:
            return
        # a seed of its own, derived without drawing from the fit's stream
        calibrator = _Calibrator(self, draw_seed(np.random.RandomState(seed + 1)))
        found = calibrator.residuals(members, data, val_data, crossfit)
        if found is None or found[0].size < 2:
            warnings.warn(
                f"{type(self).__name__}: too few held-out observed entries to "
                "calibrate intervals; transform_interval and sample_imputations "
                "are unavailable for this fit.",
                UserWarning,
            )
            return
        res, gene, r = found
        sigma, knots_r, knots_g, scores = _fit_normalisation(
            res, gene, r, self.n_genes_)
        if scores.size > _MAX_SCORES:
            keep = torch.randperm(scores.size, generator=calibrator.generator)
            scores = scores[keep[:_MAX_SCORES].numpy()]
        self.calibration_scores_ = np.sort(scores)
        self.interval_scale_ = sigma * self.scale_
        self._visibility_knots = (knots_r, knots_g)

    # ---------------------------------------------------------- prediction
    def _check_calibrated(self):
        check_is_fitted(self)
        if getattr(self, "calibration_scores_", None) is None:
            raise NotFittedError(
                f"This {type(self).__name__} was fitted without calibration: "
                "refit with calibration=True to use transform_interval and "
                "sample_imputations."
            )

    def _point_and_unit(self, X):
        """X's parts, its mask, predictions and the unit half-width.

        Predictions are in data units and clipped as in ``transform``; the
        unit half-width of entry (i, j) is ``sigma_j * g(r_i)`` in data
        units, ``r_i`` the observed fraction of row i.
        """
        genes, numeric, codes, mask = self._imputable(X)
        pred = np.empty(genes.shape, dtype=np.float64)
        with Threads(self.n_jobs):
            for sl, out in self._predicted_blocks(
                    self._fitted_networks(), genes, mask, numeric, codes,
                    self.mean_, self.scale_):
                pred[sl] = out * self.scale_ + self.mean_
        # rows imputed as a gene panel: transform's mixture, and the panel
        # calibration's scale (the caller sets their half-widths)
        panel = None
        if getattr(self, "_panel_scores", None) is not None:
            found = self._panel_imputations(genes, mask, numeric, codes)
            if found is not None:
                cells = found.cells()
                w = found.weights[:, None]
                pred[cells] = w * pred[cells] + (1 - w) * found.values
                panel = cells, found.fractions
        if self.clip:
            pred = np.clip(pred, self._clip_low, self._clip_high)
        r = mask.mean(axis=1) if genes.shape[1] else np.zeros(len(genes))
        g = np.interp(r, *self._visibility_knots)
        unit = g[:, None] * self.interval_scale_[None, :]
        return genes, mask, pred, unit, panel

    def _output(self, X, genes, mask, values):
        """``values`` in the missing entries, as ``transform`` would return them."""
        out = genes.copy()
        out[~mask] = values[~mask].astype(genes.dtype)
        out = self._finish_output(X, genes, mask, out)
        config = _get_output_config("transform", self)["dense"]
        if config == "default" or sp.issparse(out):
            return out
        names = self.get_feature_names_out()
        index = getattr(X, "index", None)
        if config == "pandas":
            import pandas as pd

            if isinstance(out, pd.DataFrame):
                out.columns = names
                return out
            return pd.DataFrame(out, columns=names, index=index)
        import polars as pl

        return pl.DataFrame(np.asarray(out), schema=list(names), orient="row")

    @available_if(_calibrated)
    @validate_params(
        {
            "X": ["array-like", "sparse matrix"],
            "coverage": [Interval(Real, 0, 1, closed="neither")],
        },
        prefer_skip_nested_validation=True,
    )
    def transform_interval(self, X, coverage=0.9):
        """Calibrated prediction intervals for the missing entries of X.

        For a missing entry (i, j) the interval is ``transform(X)[i, j] +/- q
        * interval_scale_[j] * g(r_i)``: ``g`` grows as the observed fraction
        ``r_i`` of sample i shrinks (both learnt from held-out entries in
        ``fit``) and ``q`` is the split-conformal quantile of the held-out
        scores for ``coverage``. Where the missing entries are exchangeable
        with the observed ones (missing completely at random, new samples
        like the training ones), an interval contains the hidden true value
        with probability about ``coverage``; under self-masking (MNAR) or a
        shift of study it covers less. The bounds are not clipped to the
        gene's observed range (with ``clip=True`` the imputation is): in a
        small study a hidden value often lies outside it. Observed entries
        are returned unchanged in both bounds. Rows that
        :class:`PMIImputer` imputes as a gene panel (``gene_panel``) get
        intervals around that imputation, calibrated on held-out rows with
        random panels of about their size (between two sizes, the
        half-widths are interpolated). See :ref:`uncertainty`.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data with the same columns as in fit; ``missing_values`` marks
            missing genes.
        coverage : float in (0, 1), default=0.9
            Nominal probability that an interval contains the true value.
            When there are too few calibration scores for it (fewer than
            ``1 / (1 - coverage) - 1``), the intervals are unbounded.

        Returns
        -------
        lower : {ndarray, sparse matrix, DataFrame} of shape (n_samples, n_features_out)
            Lower bounds, laid out and labelled like ``transform(X)`` (the
            missing indicator and passed-through covariates included).
        upper : {ndarray, sparse matrix, DataFrame} of shape (n_samples, n_features_out)
            Upper bounds, laid out like ``lower``.
        """
        self._check_calibrated()
        q = _quantile(self.calibration_scores_, coverage)
        genes, mask, pred, unit, panel = self._point_and_unit(X)
        with np.errstate(invalid="ignore"):
            half = q * unit
            if panel is not None:
                cells, fractions = panel
                half[cells] = _panel_half_widths(self, fractions, coverage)
            lower, upper = pred - half, pred + half
        return (self._output(X, genes, mask, lower),
                self._output(X, genes, mask, upper))

    def _panel_pools(self, panel, unit, shape):
        """``(pool, pools)``: for each entry, 0 for the random-entry scores or
        ``1 + k`` for the scores of panel level ``k`` (the nearest to its
        row's measured fraction), whose gene scales go into ``unit``."""
        cells, fractions = panel
        nearest = np.rint(_level_position(self, fractions)).astype(np.intp)
        pool = np.zeros(shape, dtype=np.intp)
        pool[cells] = 1 + nearest[:, None]
        valid = self._valid_mask
        unit[cells] = self._panel_sigma[nearest][:, valid]
        return pool, self._panel_scores

    def _uncalibrated_draws(self, X, n_imputations, random_state):
        self._check_calibrated()  # raises

    @available_if(_can_sample)
    @validate_params(
        {
            "X": ["array-like", "sparse matrix"],
            "n_imputations": [Interval(Integral, 1, None, closed="left")],
            "random_state": ["random_state"],
        },
        prefer_skip_nested_validation=True,
    )
    def sample_imputations(self, X, n_imputations=5, *, random_state=None):
        """Draw several completed copies of X for multiple imputation.

        Each missing entry of each copy is ``transform(X)[i, j] +/- s *
        interval_scale_[j] * g(r_i)``, with ``s`` drawn from the conformal
        scores of ``fit`` and a random sign, independently for every entry
        and copy (not clipped, like the intervals). The central
        ``coverage`` range of the draws of an entry is therefore
        :meth:`transform_interval`'s interval (for the rows of a gene panel,
        the scores and scales of the panel size nearest theirs). Observed
        entries are identical in every copy. Analyse every copy and pool the
        results with Rubin's rules (example
        :ref:`sphx_glr_auto_examples_plot_rubin_rules.py`).
        Available only with ``calibration=True``, except for
        :class:`GAINImputer`, which then draws its generator's noise.

        .. versionadded:: 0.1.0

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data with the same columns as in fit.
        n_imputations : int, default=5
            Number of completed copies.
        random_state : int, RandomState instance or None, default=None
            Decides the draws (through a :class:`torch.Generator`); torch's and
            NumPy's global states are untouched.

        Returns
        -------
        X_imputations : ndarray of shape (n_imputations, n_samples, n_features_out)
            The completed copies, each laid out like ``transform(X)``;
            stacked (dense, also for sparse X), or, under
            ``set_output(transform="pandas")`` (or ``"polars"``), a list of
            ``n_imputations`` data frames instead.
        """
        check_is_fitted(self)
        if getattr(self, "calibration_scores_", None) is None:
            return self._uncalibrated_draws(X, n_imputations, random_state)
        generator = make_generator(draw_seed(check_random_state(random_state)), "cpu")
        scores = torch.from_numpy(self.calibration_scores_)
        genes, mask, pred, unit, panel = self._point_and_unit(X)
        missing = ~mask
        n_missing = int(missing.sum())
        if panel is not None:
            pool, pools = self._panel_pools(panel, unit, genes.shape)
        draws = []
        for _ in range(n_imputations):
            if panel is None:
                pick = torch.randint(scores.numel(), (n_missing,),
                                     generator=generator)
                drawn = scores[pick].numpy()
            else:  # each entry from its pool: random-entry or panel level
                pick = torch.rand(n_missing, generator=generator,
                                  dtype=torch.float64).numpy()
                drawn, which = np.empty(n_missing), pool[missing]
                for k, p in enumerate([self.calibration_scores_, *pools]):
                    here = which == k
                    idx = np.minimum((pick[here] * p.size).astype(np.intp),
                                     p.size - 1)
                    drawn[here] = p[idx]
            sign = torch.randint(2, (n_missing,), generator=generator) * 2 - 1
            values = pred.copy()
            values[missing] += drawn * sign.numpy() * unit[missing]
            draws.append(self._output(X, genes, mask, values))
        return _stack(draws)

"""The base of the deep imputers: parameters, training and transform."""

import warnings
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import _BaseImputer
from ..io._sources import as_source
from ..utils._compat import Interval, StrOptions, _fit_context
from ..utils._constraints import PositiveIntegers, UnitRange
from ..utils._random import draw_seed
from ._data import _Data, gene_statistics, standardized_rows
from ._device import as_tensor, resolve_device, resolve_precision
from ._ensemble import combined, train_ensemble
from ._plan import make_plan, with_split
from ._threads import Threads


class _BaseTorchImputer(_BaseImputer):
    """Shared parameters, training and transform of the deep imputers.

    Subclasses build their networks in ``_build(n_genes, n_numeric,
    vocab_sizes)``, return the modules to train and a step function from
    ``_make_step``, and impute standardized data in ``_predict``.
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "hidden_layer_sizes": [
            Interval(Integral, 1, None, closed="left"),
            PositiveIntegers(),
        ],
        "pseudo_mask_range": [StrOptions({"auto"}), UnitRange(low_below_one=True)],
        "dropout": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 2, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "n_estimators": [StrOptions({"auto"}), Interval(Integral, 1, None,
                                                        closed="left")],
        "ema_decay": [Interval(Real, 0, 1, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "clip": ["boolean"],
        "device": [str, torch.device],
        "n_jobs": [
            Interval(Integral, None, -1, closed="right"),
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -------------------------------------------------------------- training
    # batch_size="auto" is n_rows // divisor clipped to [64, most] (_plan.py):
    # 64 rows for small data; below 1,000 samples these, from 1,000 on the
    # larger, evened batches that keep big data throughput-bound
    _SMALL_BATCH = (16, 256)
    _LARGE_BATCH = _SMALL_BATCH

    def _hidden(self):
        sizes = self.hidden_layer_sizes
        return [int(sizes)] if np.ndim(sizes) == 0 else [int(s) for s in sizes]

    @abstractmethod
    def _build(self, n_genes, n_numeric, vocab_sizes):
        """``{fitted attribute: factory}`` of the networks to train.

        Each factory takes no argument and returns an ``nn.Module``; a
        ``None`` factory sets the attribute to None.
        """

    @abstractmethod
    def _make_step(self, networks, data, generator):
        """Return ``(step, optimizers)`` for the training loop.

        ``networks`` maps attribute names to the modules being trained; every
        random number of a step is drawn from ``generator``.
        """

    @abstractmethod
    def _predict(self, networks, x, mask, numeric, codes):
        """Standardized predictions for every gene of a batch (eval mode)."""

    def _fitted_networks(self):
        return {
            name: getattr(self, name)
            for name in self._network_names
            if getattr(self, name) is not None
        }

    def _fit(self, X):
        """Fit, leaving the estimator exactly as it was if anything raises.

        Every attribute is first computed on ``self`` (validation sets the
        input-checking ones), but if an exception or a ``KeyboardInterrupt``
        escapes, the attributes from before the call are put back: a failed
        refit keeps the previous model and a failed first fit leaves nothing
        that looks fitted. The exception propagates.

        Returns the validated ``(genes, numeric, codes)`` of X, which
        ``fit_transform`` imputes without validating X a second time.
        """
        before = dict(self.__dict__)
        try:
            source = as_source(X)
            if source is not None:  # a matrix on disk (docs/scale.rst)
                from ._stream import fit_stream

                fit_stream(self, source)
                return None
            return self._fit_unsafe(X)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit_unsafe(self, X):
        validated = self._validate_input(X, reset=True)
        genes, numeric, codes = validated
        n_samples, n_genes = genes.shape
        if n_samples < 2:
            raise ValueError(
                f"n_samples={n_samples}: {type(self).__name__} needs at least 2 "
                "samples to train (BatchNorm and the loss need 2 rows)."
            )
        mask = self._fit_gene_statistics(genes)
        if not mask.any():
            raise ValueError("X has no observed gene value: nothing to learn from.")
        mean, scale = self._fit_standardization(genes, mask)

        # the order of the draws from rng is part of what random_state decides
        rng = check_random_state(self.random_state)
        first_seeds = draw_seed(rng), draw_seed(rng)
        device = resolve_device(self.device)
        # every "auto" resolved once (_plan.py); early stopping as it can be
        plan = make_plan(self, n_samples, float(mask[:, self._valid_mask].mean()))
        rows, validation = self._validation_split(rng, n_samples,
                                                  plan.early_stopping)
        self._plan = with_split(plan, self, validation is not None,
                                complete=bool(mask.all()))
        self._check_blend()
        # n_jobs=None: a large fit adapts its thread count to the machine's
        # load (_threads.py); a small one trains each network on one thread
        threads = Threads(self.n_jobs, cpu=device.type == "cpu",
                          adapt=self.n_jobs is None and self._plan.large)
        with threads:
            data = _Data(genes, mask, mean, scale, rows, numeric, codes, device)
            val_data = None
            if validation is not None:
                val_data = _Data(genes, mask, mean, scale, validation, numeric,
                                 codes, device)
            members, histories, crossfit = train_ensemble(
                self, data, val_data, rng, first_seeds, device, threads)
            # after every draw of the networks: they do not depend on it
            blend = self._fit_blend(validated, mask, mean, scale, rows,
                                    validation, members, crossfit, rng)
        # success: only now does the estimator get its fitted state
        self._set_networks(members)
        self._set_blend(blend)
        self.mean_, self.scale_ = mean, scale
        self._set_history(histories)
        self.precision_ = resolve_precision(self.precision, device)
        self._thread_choices = threads.choices
        # needs mean_ and scale_
        self._set_calibration(members, data, val_data, crossfit, first_seeds[0])
        return validated

    def _fit_standardization(self, genes, mask):
        """Per-gene mean and scale of the observed entries; the clip bounds."""
        return self._standardization(*gene_statistics(genes, mask))

    def _standardization(self, mean, std, low, high):
        """Mean and scale from the per-gene statistics; the clip bounds."""
        valid = self._valid_mask
        self._clip_low = np.where(valid, low, -np.inf)
        self._clip_high = np.where(valid, high, np.inf)
        return np.where(valid, mean, 0.0), np.where(valid & (std > 0), std, 1.0)

    def _validation_split(self, rng, n_samples, early_stopping):
        """``(training rows, validation rows or None)`` for early stopping."""
        rows = np.arange(n_samples)
        if not early_stopping:
            return rows, None
        n_val = int(round(self.validation_fraction * n_samples))
        if n_val < 2 or n_samples - n_val < 2:
            warnings.warn(
                f"{type(self).__name__}: early_stopping needs at least 2 "
                f"validation and 2 training rows; validation_fraction="
                f"{self.validation_fraction} of n_samples={n_samples} gives "
                f"{n_val}. Training without early stopping for the whole "
                "budget (max_iter epochs, max_steps steps) instead.",
                UserWarning,
            )
            return rows, None
        perm = rng.permutation(n_samples)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _ensemble(self, members):
        """``{network name: the network, or the average of the members'}``."""
        return combined(self, members)

    def _set_networks(self, members):
        """One fitted attribute per network name: a network or their average."""
        for name, value in combined(self, members).items():
            setattr(self, name, value)
        self.n_estimators_ = len(members)

    # the low-rank blend (PMIImputer, _compose/_low_rank.py); nothing by default
    def _check_blend(self):
        """Raise on a blend that the other parameters rule out."""

    def _fit_blend(self, validated, mask, mean, scale, rows, validation,
                   members, crossfit, rng):
        """What ``_set_blend`` stores, computed without changing ``self``."""
        return None

    def _set_blend(self, blend):
        """Set the blend's fitted attributes."""

    def _blended(self, imputed, genes, mask, numeric, codes):
        """The imputations (data units) of a block of rows, maybe blended."""
        return imputed

    def _panel_imputations(self, genes, mask, numeric, codes):
        """None, or the rows of X imputed as a gene panel
        (:class:`~skimpute_gtex._compose._panels.PanelRows`)."""
        return None

    def _set_history(self, histories):
        history = histories[0]
        self.n_iter_ = history.n_iter
        self.n_steps_ = sum(h.n_steps for h in histories)
        self.loss_curve_ = history.loss_curve
        if self._plan.early_stopping:
            self.validation_scores_ = history.validation_scores
            self.best_validation_score_ = float(
                np.mean([h.best_validation_score for h in histories])
            )
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _set_calibration(self, members, data, val_data, crossfit, seed):
        """Set the calibration's fitted attributes from the trained members."""

    # ------------------------------------------------------------- transform
    def _imputable(self, X, validated=None):
        """``(genes, numeric, codes, mask)`` of X to impute, validated once."""
        if validated is None and as_source(X) is not None:
            raise TypeError(
                f"{type(self).__name__} imputes data in memory: read blocks of "
                "samples from the file (source.read(start, stop)) and transform "
                "each."
            )
        if validated is None:
            validated = self._validate_input(X, reset=False)
        genes, numeric, codes = validated
        mask = ~np.isnan(genes)
        return genes, numeric, codes, mask

    def _fill_empty_rows(self, filled, mask):
        """Without covariates, a sample with no observed gene gets the genes'
        training means (as :class:`~sklearn.impute.KNNImputer` does), with a
        warning: there is nothing else to impute it from."""
        if self.covariates is not None or not filled.shape[0]:
            return
        empty = np.flatnonzero(~mask.any(axis=1))
        if not empty.size:
            return
        warnings.warn(
            f"{type(self).__name__}: {empty.size} sample(s) have no observed "
            f"gene (first rows: {empty[:5].tolist()}); without covariates they "
            "are imputed with each gene's training mean.",
            UserWarning,
        )
        filled[empty] = self.mean_.astype(filled.dtype)

    def _predicted_blocks(self, networks, genes, mask, numeric, codes, mean,
                          scale, predict=None):
        """Yield ``(rows, standardized predictions)`` a block of rows at a time.

        ``networks`` (put in eval mode) see ``genes`` standardized with
        ``mean`` and ``scale`` where ``mask`` is True; ``predict(networks, x,
        mask, numeric, codes)`` defaults to ``self._predict``. Gradients are off
        within each prediction only.
        """
        predict = self._predict if predict is None else predict
        for m in networks.values():
            m.eval()
        for sl, block in standardized_rows(genes, mask, mean, scale):
            with torch.no_grad():
                out = predict(
                    networks, torch.from_numpy(block), as_tensor(mask[sl], "cpu"),
                    as_tensor(numeric[sl], "cpu"),
                    as_tensor(codes[sl], "cpu", dtype=torch.long),
                )
            yield sl, out.numpy()

    def _impute(self, X, draw=None, validated=None):
        """Shared body of transform: returns the imputed output array.

        ``validated``: X's ``(genes, numeric, codes)`` when the caller has
        already validated it (``fit_transform``).
        """
        check_is_fitted(self)
        genes, numeric, codes, mask = self._imputable(X, validated)
        # what _assemble builds, filled a block of rows at a time: observed
        # entries of genes, imputations (float64 arithmetic, then X's dtype).
        # Each draw of sample_imputations needs X as it was: always a copy.
        filled = self._output_array(genes) if draw is None else genes.copy()
        # rows that share their missing genes: a gene panel (PMIImputer)
        panel = (None if draw is not None
                 else self._panel_imputations(genes, mask, numeric, codes))
        with Threads(self.n_jobs):
            blocks = self._predicted_blocks(
                self._fitted_networks(), genes, mask, numeric, codes,
                self.mean_, self.scale_, draw)
            for sl, out in blocks:
                imputed = self._blended(out * self.scale_ + self.mean_,
                                        genes[sl], mask[sl], numeric[sl],
                                        codes[sl])
                if panel is not None:
                    panel.mix(sl, imputed)
                if self.clip:
                    imputed = np.clip(imputed, self._clip_low, self._clip_high)
                missing = ~mask[sl]
                filled[sl][missing] = imputed[missing].astype(genes.dtype)
        self._fill_empty_rows(filled, mask)
        return self._finish_output(X, genes, mask, filled)

    def transform(self, X):
        """Impute the missing gene values of X.

        Observed entries are returned unchanged (bit-identical) and the output
        keeps X's float dtype. The result is deterministic.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data with the same columns as in fit; ``missing_values``
            marks missing genes.

        Returns
        -------
        X_imputed : {ndarray, sparse matrix} of shape (n_samples, n_features_out)
            The genes, in the order of X's gene columns (``gene_indices_``;
            without the all-missing genes of the training data unless
            ``keep_empty_features=True``), followed by the missing
            indicator if ``add_indicator=True`` and the covariate columns if
            ``covariate_output="passthrough"``.
            CSR (an array or matrix, as X) for sparse X.
        """
        return self._impute(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit on X and impute its missing entries (in-place imputation).

        The same result as ``fit(X).transform(X)``, with X validated,
        encoded and standardized once.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Expression with ``missing_values`` for missing entries, plus the
            covariate columns named in ``covariates``.
        y : None
            Ignored.

        Returns
        -------
        X_imputed : {ndarray, sparse matrix} of shape (n_samples, n_features_out)
            As :meth:`transform` returns it.
        """
        if as_source(X) is not None:
            raise TypeError(
                f"{type(self).__name__}.fit_transform needs X in memory; fit on "
                "the file, then transform blocks of it read into memory."
            )
        validated = self._fit(X)
        return self._impute(X, validated=validated)

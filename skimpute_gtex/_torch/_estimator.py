"""The base of the deep imputers: parameters, training and transform."""

import warnings
from abc import abstractmethod
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import _BaseImputer
from ..utils._compat import Interval, StrOptions, _fit_context
from ..utils._constraints import PositiveIntegers, UnitRange
from ..utils._progress import Progress, log
from ._crossfit import CrossFit
from ._data import _PREDICT_CHUNK, _Data, gene_statistics, standardized_rows
from ._device import (
    as_tensor,
    autocast,
    draw_seed,
    make_generator,
    resolve_device,
    resolve_precision,
)
from ._networks import AveragedNetworks, build, set_generator
from ._plan import make_plan
from ._threads import Threads
from ._training import (
    n_batches,
    n_epochs,
    train,
    train_members,
)


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

    def _validation_score(self, networks, data, generator_seed):
        """R² of held-out observed entries hidden once with a fixed pseudo-mask.

        The score is ``1 - SSE / SS``, both summed over the hidden entries in
        standardized units (so 0 is as good as the training mean of each gene).
        The networks predict in the training's precision (under bfloat16
        autocast when training uses it), as training does; ``transform``
        predicts in float32.
        """
        x, numeric, codes = data.x, data.numeric, data.codes
        mask = data.mask.to(x.dtype)
        g = make_generator(generator_seed, "cpu")
        low, high = self._plan.mask_range
        p = low + (high - low) * torch.rand((x.shape[0], 1), generator=g)
        keep = (torch.rand(x.shape, generator=g) < p).to(x.device, x.dtype)
        visible = mask * keep
        hidden = mask - visible
        if float(hidden.sum()) == 0:
            return lambda: 0.0
        # the denominator does not change between epochs
        ss = (((x**2) * hidden).double()).sum().clamp_min(1e-12)

        def score():
            with autocast(self.precision, x.device):
                pred = torch.cat([
                    self._predict(networks, *chunk)
                    for chunk in zip(
                        x.split(_PREDICT_CHUNK),
                        visible.split(_PREDICT_CHUNK),
                        numeric.split(_PREDICT_CHUNK),
                        codes.split(_PREDICT_CHUNK),
                    )
                ])
            sse = (((pred - x) ** 2) * hidden).double().sum()
            return 1.0 - float(sse / ss)

        return score

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
            return self._fit_unsafe(X)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _networks(self, n_genes, n_numeric, vocab_sizes, generator):
        """``{attribute: module}`` of the networks, initialised from generator."""
        return {
            name: build(factory, generator)
            for name, factory in self._build(n_genes, n_numeric, vocab_sizes).items()
            if factory is not None
        }

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
        self._plan = replace(plan, early_stopping=validation is not None)
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
            members, histories, crossfit = self._train_networks(
                data, val_data, rng, first_seeds, device, threads,
                complete=bool(mask.all()))
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
        mean, std, low, high = gene_statistics(genes, mask)
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

    def _cross_fitted(self, complete):
        """Whether the networks are cross-fitted (:mod:`._crossfit`): for
        out-of-sample predictions when no rows are held out for early
        stopping and the blend, the panels' weights or calibration need
        them."""
        if self._plan.early_stopping:
            return False
        panels = getattr(self, "gene_panel", False) and complete
        return self._plan.blend or self.calibration or panels

    def _train_networks(self, data, val_data, rng, first_seeds, device, threads,
                        complete=False):
        """Train the ensemble; returns ``(members, histories, crossfit)``."""
        n_rows, n_genes = data.shape
        vocab_sizes = [len(c) for c in self.categories_] if data.codes.shape[1] else []
        shape = (n_genes, data.numeric.shape[1], vocab_sizes)
        # one network's schedule: the step budget applies without early stopping
        batch_size = self._plan.batch(n_rows)
        steps_per_epoch = n_batches(n_rows, batch_size)
        epochs = n_epochs(
            self.max_iter, None if val_data is not None else self.max_steps,
            steps_per_epoch,
        )
        n_members = self._plan.n_members(steps_per_epoch)
        val_seed = draw_seed(rng) if val_data is not None else None
        crossfit = None
        if (self._cross_fitted(complete)
                and CrossFit.possible(n_rows, n_members, complete)):
            # a seed of its own, derived without drawing from the fit's stream
            # calibration needs every network's residuals, the rest network 0's
            crossfit = CrossFit(data, n_members, complete,
                                draw_seed(np.random.RandomState(first_seeds[0])),
                                n_crossed=n_members if self.calibration else 1)
        log(self, self.verbose >= 2,
            f"training {n_members} network(s) on {n_rows} samples x "
            f"{n_genes} genes, device={device}")
        progress = Progress(self, n_members, epochs)
        # every network's seeds before any trains: the networks may train
        # concurrently (train_members), in any order
        seeds = [first_seeds] + [
            (draw_seed(rng), draw_seed(rng)) for _ in range(n_members - 1)
        ]

        def train_one(k, member_threads):
            return self._train_member(
                shape, data if crossfit is None else crossfit.member_data(data, k),
                val_data, val_seed, *seeds[k], device,
                batch_size, epochs, progress, k, member_threads or threads,
            )

        cpu_threads = (threads.limit or torch.get_num_threads()
                       if device.type == "cpu" else 1)
        one_each = (self.n_jobs is None and not self._plan.large
                    and device.type == "cpu")
        trained = train_members(train_one, n_members, cpu_threads,
                                adapt=self.n_jobs is None and self._plan.large,
                                per_network=1 if one_each else None)
        members = [networks for networks, _ in trained]
        histories = [history for _, history in trained]
        covs = ", ".join(name for name, _, _ in self._covariates_resolved)
        progress.close(
            f"trained {n_members} network(s) on {n_rows} samples x "
            f"{n_genes} genes (covariates: {covs or 'none'}), "
            f"{sum(h.n_iter for h in histories)} epochs"
        )
        return members, histories, crossfit

    def _combined(self, members):
        """``{network name: the network, or the average of the members'}``."""
        out = {}
        for name in self._network_names:
            nets = [m[name] for m in members if m.get(name) is not None]
            out[name] = None
            if nets:
                out[name] = nets[0] if len(nets) == 1 else AveragedNetworks(nets)
        return out

    def _set_networks(self, members):
        """One fitted attribute per network name: a network or their average."""
        for name, value in self._combined(members).items():
            setattr(self, name, value)
        self.n_estimators_ = len(members)

    # the low-rank blend (PMIImputer, _blend.py); nothing by default
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
        (:class:`~._panel_blend.PanelRows`)."""
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

    def _train_member(self, shape, data, val_data, val_seed, init_seed, train_seed,
                      device, batch_size, epochs, progress=None, index=0,
                      threads=None):
        """Train one set of networks; returns ``(networks, history)`` on the CPU."""
        generator = make_generator(train_seed, device)
        # the initial weights do not depend on the device: drawn on the CPU
        networks = self._networks(*shape, make_generator(init_seed, "cpu"))
        try:
            for m in networks.values():
                m.to(device)
                set_generator(m, generator)
            step, optimizers = self._make_step(networks, data, generator)
            score = None
            if val_data is not None:
                score = self._validation_score(networks, val_data, val_seed)
            history = train(
                self, modules=networks, step=step, optimizers=optimizers,
                validation_score=score, n_rows=data.shape[0],
                batch_size=batch_size, epochs=epochs, device=device,
                generator=generator, progress=progress, network=index,
                threads=threads,
            )
        finally:
            # portable pickles, and no generator left inside the modules
            for m in networks.values():
                set_generator(m, None)
                m.to("cpu")
        return networks, history

    # ------------------------------------------------------------- transform
    def _imputable(self, X, validated=None):
        """``(genes, numeric, codes, mask)`` of X to impute, validated once."""
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
        validated = self._fit(X)
        return self._impute(X, validated=validated)

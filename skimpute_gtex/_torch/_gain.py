"""GAINImputer: GAIN-GTEx and GAIN-MSE of Viñas et al. (2021)."""

from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state

from .._compose._conformal import _stack
from ..utils._compat import Interval, _fit_context
from ..utils._constraints import UnitRange
from ..utils._docstrings import fill_doc
from ..utils._random import draw_seed
from ._device import autocast, make_generator
from ._estimator import _BaseTorchImputer
from ._networks import ConditionalMLP
from ._optim import make_optimizer
from ._uncertainty import _UncertaintyMixin


@fill_doc
class GAINImputer(_UncertaintyMixin, _BaseTorchImputer):
    """GAIN-GTEx: a covariate-conditioned generative adversarial imputer.

    The generator ``G(x * m' + z * (1 - m'), m', covariates)`` predicts every
    gene from the visible entries and Gaussian noise ``z`` in the hidden
    ones; ``x_hat = m' * x + (1 - m') * G(...)``. The discriminator
    ``D(x_hat, h, covariates)`` gives, per gene, the logit that the entry was
    visible, with the hint ``h = b * m' + 0.5 * (1 - b)``,
    ``b ~ Bernoulli(p)`` and ``p ~ U(*hint_range)`` per example. Both networks
    have their own covariate embeddings. D minimises the binary cross-entropy
    against ``m'`` over the entries with ``b = 0``; G minimises
    ``adversarial_weight`` times the cross-entropy of fooling D on the hidden
    entries with ``b = 0`` (each normalised by one plus the number of entries
    it counts) plus ``alpha`` times the mean squared error over the observed
    entries. D and G are updated alternately on each mini-batch.

    The training mask ``m'`` is the data's mask ``m`` with each observed entry
    kept visible with probability ``p ~ U(*pseudo_mask_range)`` per example,
    so the same code trains in-place (incomplete data) and inductively
    (complete reference data, where ``m`` is all ones).

    With ``adversarial_weight=0`` this is GAIN-MSE: no discriminator is built
    and the generator is trained on the reconstruction term alone.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    covariates : list of (name, kind, columns) tuples, default=None
        Sample covariates, as in :class:`PMIImputer`.
    covariate_output : {"drop", "passthrough"}, default="drop"
        Whether the covariate columns are appended after the genes.
    hidden_layer_sizes : int or tuple of int, default=(512, 512)
        Hidden blocks of both the generator and the discriminator.
    {dropout}
    {batch_norm}
    pseudo_mask_range : tuple of float (low, high) or "auto", default="auto"
        Per example, the probability that an observed entry stays visible is
        drawn from ``U(low, high)``; both ends are used. ``"auto"``:
        ``(0.2, 0.8)`` from 1,000 samples on; below, ``(0.5, 0.95)`` when at
        most half of the training entries are observed and ``(0.2, 0.8)``
        when all are, linear in the observed fraction in between (as
        :class:`PMIImputer`).
    hint_range : tuple of float (low, high), default=(0.5, 0.5)
        Range of the per-example hint rate ``p`` of ``b ~ Bernoulli(p)``.
        Only used by the adversarial model (``adversarial_weight > 0``): with
        the default ``adversarial_weight=0`` (GAIN-MSE) there is no
        discriminator, so no hint, and this parameter has no effect.
    alpha : float, default=10.0
        Weight ``lambda`` of the reconstruction (MSE) term of the generator.
    adversarial_weight : float, default=0.0
        Weight of the adversarial term; ``0`` gives GAIN-MSE, a positive value
        GAIN-GTEx (the paper used 1). The default is GAIN-MSE: in our
        benchmarks the two are about as accurate while the adversarial one
        is much slower to train, and the paper also recommends GAIN-MSE for
        reproducibility. Set it to 1 to reproduce the paper's GAIN-GTEx
        (:ref:`benchmarks`).
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` means ``n_samples // 16`` (training
        rows) clipped to [64, 256] (and at most ``n_samples``), from 1,000
        samples on evened out so that an epoch's batches have the same size
        (``ceil(n / round(n / size))`` for ``n`` training rows): small data
        gets many steps per epoch, large data batches that keep the matrix
        products efficient. The default suits most data; set an int to
        reproduce a fit made with a fixed size, or lower it when training
        runs out of memory on the device. Accuracy and time per batch size
        are in :ref:`benchmarks`.
    {learning_rate}
    learning_rate_init : float, default=1e-3
        Adam's learning rate (both networks).
    {training}
    keep_empty_features : bool, default=False
        Keep genes with no observed value in fit (filled with 0).
    {missing_values}
    {add_indicator}
    {copy}
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where to train; the fitted networks are kept on the CPU.
    precision : {"float32", "bfloat16", "auto"}, default="float32"
        Arithmetic of the training forward pass. ``"bfloat16"`` runs the
        matrix products under :func:`torch.autocast` in bfloat16 (weights,
        optimizer state and loss stay float32); ``"auto"`` does so where the
        device supports bfloat16 natively (CUDA with bfloat16, CPUs with
        AVX512-BF16 or AMX) and uses float32 elsewhere. The early-stopping
        validation score predicts in the same precision; ``transform`` in
        float32.
    n_jobs : int, default=None
        CPU threads of torch's kernels during ``fit`` and ``transform``, for
        the calling thread only and restored afterwards: an int fixes it
        (``-1`` all CPUs, ``-2`` all but one) and makes the fit reproducible
        bit for bit; ``None`` adapts it while training a large fit on the
        CPU, as for :class:`PMIImputer`. See :ref:`user_guide_threads`.
    {calibration}
    random_state : int, RandomState instance or None, default=None
        Decides the whole training run; torch's global state is untouched.
    {verbose}

    Attributes
    ----------
    generator_ : torch.nn.Module
        The trained generator, on the CPU; with several networks
        (``n_estimators_ > 1``) a module averaging them (``members``).
    discriminator_ : torch.nn.Module or None
        The trained discriminator; None for GAIN-MSE.
    {mean_}
    scale_ : ndarray of shape (n_genes,)
        Per-gene standard deviation of the observed training entries.
    {n_genes_}
    {gene_indices_}
    covariate_indices_ : ndarray of int
        Positions in X of the covariate columns.
    {categories_}
    {n_iter_}
    {n_estimators_}
    {n_steps_}
    {precision_}
    loss_curve_ : list of float
        Generator loss per epoch.
    {validation_scores_}
    best_validation_score_ : float or None
        Best validation R².
    {calibration_scores_}
    {interval_scale_}
    {indicator_}
    {n_features_in_}
    {feature_names_in_}

    See Also
    --------
    PMIImputer : the pseudo-mask imputer, usually more accurate and faster.

    Notes
    -----
    ``transform`` uses ``z = 0`` (the noise mean) and is deterministic.
    Fitted with ``calibration=True``, :meth:`transform_interval` gives
    calibrated per-entry intervals and :meth:`sample_imputations` draws
    completed copies whose spread matches them (:ref:`uncertainty`).
    Without calibration, :meth:`sample_imputations` draws the generator's
    noise ``z ~ N(0, 1)`` instead, as before version 0.1.0; those draws
    understate the uncertainty.

    .. versionchanged:: 0.1.0
       ``sample_imputations`` draws calibrated residuals when the imputer
       was fitted with ``calibration=True``, and returns a list of data
       frames under ``set_output(transform="pandas")``.

    References
    ----------
    .. [1] Viñas R, Azevedo T, Gamazon ER, Liò P. "Deep Learning Enables Fast
       and Accurate Imputation of Gene Expression". Frontiers in Genetics 12,
       624128 (2021).
    .. [2] Yoon J, Jordon J, van der Schaar M. "GAIN: Missing Data Imputation
       using Generative Adversarial Nets". ICML (2018).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex import GAINImputer
    >>> from skimpute_gtex.datasets import make_gtex_like, simulate_missing
    >>> data = make_gtex_like(n_samples=200, n_genes=30, random_state=0)
    >>> X, mask = simulate_missing(data.expression, 0.3, random_state=0)
    >>> imp = GAINImputer(max_iter=5, random_state=0).fit(X)
    >>> imp.transform(X).shape
    (200, 30)
    >>> imp.sample_imputations(X, n_imputations=3, random_state=0).shape
    (3, 200, 30)
    >>> imp = GAINImputer(max_iter=5, calibration=True, random_state=0).fit(X)
    >>> lower, upper = imp.transform_interval(X, coverage=0.9)
    >>> bool((lower <= imp.transform(X)).all() and (imp.transform(X) <= upper).all())
    True
    """

    _parameter_constraints: dict = {
        **_BaseTorchImputer._parameter_constraints,
        **_UncertaintyMixin._uncertainty_constraints,
        "hint_range": [UnitRange()],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "adversarial_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        covariates=None,
        covariate_output="drop",
        hidden_layer_sizes=(512, 512),
        dropout="auto",
        batch_norm=True,
        pseudo_mask_range="auto",
        hint_range=(0.5, 0.5),
        alpha=10.0,
        adversarial_weight=0.0,
        batch_size="auto",
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        weight_decay=0.0,
        max_iter=500,
        max_steps=4000,
        n_estimators="auto",
        ema_decay=0.995,
        tol=1e-4,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        clip=True,
        keep_empty_features=False,
        missing_values=np.nan,
        add_indicator=False,
        copy=True,
        device="auto",
        precision="float32",
        calibration=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.covariates = covariates
        self.covariate_output = covariate_output
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.pseudo_mask_range = pseudo_mask_range
        self.hint_range = hint_range
        self.alpha = alpha
        self.adversarial_weight = adversarial_weight
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.weight_decay = weight_decay
        self.max_iter = max_iter
        self.max_steps = max_steps
        self.n_estimators = n_estimators
        self.ema_decay = ema_decay
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.clip = clip
        self.keep_empty_features = keep_empty_features
        self.missing_values = missing_values
        self.add_indicator = add_indicator
        self.copy = copy
        self.device = device
        self.precision = precision
        self.calibration = calibration
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the generator (and discriminator) on the observed entries of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Expression with ``missing_values`` (NaN) for missing entries, plus
            covariate columns.
            Sparse X (without covariates) is densified.
        y : None
            Ignored.

        Returns
        -------
        self : GAINImputer
            The fitted imputer.
        """
        self._fit(X)
        return self

    _network_names = ("generator_", "discriminator_")

    def _build(self, n_genes, n_numeric, vocab_sizes):
        def net():
            return ConditionalMLP(
                2 * n_genes, n_genes, n_numeric, vocab_sizes,
                self._hidden(), self._plan.dropout, self.batch_norm,
            )

        return {
            "generator_": net,
            "discriminator_": net if self.adversarial_weight > 0 else None,
        }

    @staticmethod
    def _generate(networks, x, visible, numeric, codes, z):
        x_in = x * visible + z * (1 - visible)
        return networks["generator_"]((x_in, visible), numeric, codes)

    def _predict(self, networks, x, mask, numeric, codes):
        return self._generate(networks, x, mask, numeric, codes, torch.zeros_like(x))

    def _make_step(self, networks, data, generator):
        G, D = networks["generator_"], networks.get("discriminator_")
        device = data.device
        opt_g = make_optimizer(self, G.parameters(), device)
        opt_d = None if D is None else make_optimizer(self, D.parameters(), device)
        low, high = self._plan.mask_range
        h_low, h_high = (float(v) for v in self.hint_range)
        alpha, adv_w = float(self.alpha), float(self.adversarial_weight)

        def uniform(n, lo, hi):
            return torch.empty((n, 1), device=device).uniform_(
                lo, hi, generator=generator
            )

        def rand(like):
            return torch.rand(like.shape, generator=generator, device=device)

        def step(idx):
            x, mask, numeric, codes = data.rows(idx)
            n = x.shape[0]
            visible = mask * (rand(mask) < uniform(n, low, high))
            z = torch.randn(x.shape, generator=generator, device=device)
            with autocast(self.precision, device):
                x_gen = self._generate(networks, x, visible, numeric, codes, z)
            x_gen = x_gen.float()
            mse = (((x_gen - x) ** 2) * mask).sum() / mask.sum().clamp_min(1.0)
            loss = alpha * mse
            if D is not None:
                b = (rand(mask) < uniform(n, h_low, h_high)).to(x.dtype)
                hint = b * visible + 0.5 * (1 - b)
                x_hat = visible * x + (1 - visible) * x_gen
                # discriminator: tell visible from generated where no hint is given
                with autocast(self.precision, device):
                    d_logits = D((x_hat.detach(), hint), numeric, codes).float()
                weight = 1 - b
                d_loss = (F.binary_cross_entropy_with_logits(
                    d_logits, visible, reduction="none") * weight
                ).sum() / (1 + weight.sum())
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                # generator: make generated entries look visible
                with autocast(self.precision, device):
                    g_logits = D((x_hat, hint), numeric, codes).float()
                weight = (1 - b) * (1 - visible)
                adv = (F.binary_cross_entropy_with_logits(
                    g_logits, torch.ones_like(g_logits), reduction="none") * weight
                ).sum() / (1 + weight.sum())
                loss = loss + adv_w * adv
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            return loss.detach()

        return step, [o for o in (opt_g, opt_d) if o is not None]

    _noise_draws = True

    def _uncalibrated_draws(self, X, n_imputations, random_state):
        """``sample_imputations`` without calibration: the generator's noise.

        Each draw resamples ``z ~ N(0, 1)`` in the missing entries (the
        behaviour before calibration existed). These draws understate the
        uncertainty: their spread is much narrower than the error of the
        imputations (the gallery example shows by how much).
        """
        generator = make_generator(draw_seed(check_random_state(random_state)), "cpu")

        def draw(networks, x, m, num, c):
            z = torch.randn(x.shape, generator=generator)
            return self._generate(networks, x, m, num, c, z)

        draws = [self._impute(X, draw=draw) for _ in range(n_imputations)]
        return _stack(draws)

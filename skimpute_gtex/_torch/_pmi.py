"""PMIImputer: the pseudo-mask imputer of Viñas et al. (2021)."""

import numpy as np
import torch

from .._compose._low_rank import _LowRankBlendMixin
from ..utils._compat import _fit_context
from ..utils._docstrings import fill_doc
from ._device import autocast, resolve_precision
from ._estimator import _BaseTorchImputer
from ._networks import ConditionalMLP, Workspace
from ._optim import make_optimizer
from ._step import _keep_sampler, _MaskedSquaredError
from ._uncertainty import _UncertaintyMixin


@fill_doc
class PMIImputer(_LowRankBlendMixin, _UncertaintyMixin, _BaseTorchImputer):
    """Pseudo-mask imputer (PMI): a covariate-conditioned MLP for expression.

    The network sees ``x * m'``, the pseudo-mask ``m'``, the standardized
    numerical covariates and learned embeddings of the categorical covariates
    (width ``floor(sqrt(n_categories)) + 1`` each), and predicts every gene.
    For each training example, ``p ~ U(low, high)`` is drawn and each
    *observed* entry stays visible with probability ``p`` (``m' = m * b``); the
    loss is the mean squared error over the entries hidden that way,
    ``m * (1 - m')``, only. At inference ``m' = m``. Expression is standardized
    per gene with the observed training entries and returned in the input's
    units; observed entries are never altered.

    The defaults train in one of two regimes, chosen by the number of samples
    (:ref:`user_guide_regimes`). From 1,000 samples on, a tenth of the rows is
    held out to stop training when their R² stops improving. In a smaller
    study every row trains, for a fixed budget of ``max_steps`` optimisation
    steps, with dropout 0.5, pseudo-masks that hide at most half of a row, an
    exponential moving average of the weights, and, when one network cannot
    use the budget, several networks averaged (``n_estimators="auto"``); the
    imputations are then blended with a low-rank model's, weighted on
    held-out data (``blend_low_rank="auto"``).

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    covariates : list of (name, kind, columns) tuples, default=None
        Sample covariates that condition the imputation, in the style of
        :class:`~sklearn.compose.ColumnTransformer`: ``kind`` is
        ``"categorical"`` or ``"numerical"`` and ``columns`` is a column name
        or list of names (DataFrame input), an int or list of ints, a boolean
        mask, a slice, or a callable such as
        :func:`~sklearn.compose.make_column_selector`. Every other column of X
        is a gene. Categories unseen in fit use a reserved embedding (with a
        warning); a missing value (NaN, None, pd.NA) is a category of its own,
        ``"NA"``, as in the command line; NaN in a numerical covariate is
        an error. ``None`` uses no covariate: a drop-in for
        :class:`~sklearn.impute.KNNImputer`.
    {covariate_output}
    hidden_layer_sizes : int or tuple of int, default=(512, 512)
        Width of each hidden block Linear -> BatchNorm -> ReLU -> Dropout.
    {dropout}
    {batch_norm}
    pseudo_mask_range : tuple of float (low, high) or "auto", default="auto"
        Per example, the probability that an observed entry stays visible is
        drawn from ``U(low, high)``; both ends are used. ``"auto"``:
        ``(0.2, 0.8)`` from 1,000 samples on; below, ``(0.5, 0.95)`` when at
        most half of the training entries are observed and ``(0.2, 0.8)``
        when all are (a complete reference, whose new samples may miss many
        entries), linear in the observed fraction in between.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` means ``n_samples // 16`` (training
        rows) clipped to [64, 256] (and at most ``n_samples``), and from
        1,000 samples on ``n_samples // 4`` clipped to [64, 512], evened out
        so that an epoch's batches have the same size
        (``ceil(n / round(n / size))`` for ``n`` training rows: 2,700 rows
        make five batches of 540, not five of 512 and one of 140): small
        data gets many steps per epoch, large data batches that keep the
        matrix products efficient. The default suits most data; set an int
        to reproduce a fit made with a fixed size, or lower it when training
        runs out of memory on the device. Accuracy and time per batch size
        are in :ref:`benchmarks`.
    {learning_rate}
    learning_rate_init : float, default=1e-3
        Adam's learning rate.
    {training}
    keep_empty_features : bool, default=False
        Keep genes with no observed value in fit in the output (filled with 0,
        as :class:`~sklearn.impute.SimpleImputer` does); otherwise drop them.
    {missing_values}
    {add_indicator}
    {copy}
    device : {"auto", "cpu", "cuda", "cuda:N"} or torch.device, default="auto"
        Where to train: ``"auto"`` uses CUDA when available. The fitted network
        is kept on the CPU, so a pickle loads on any machine; ``transform``
        runs on the CPU.
    precision : {"float32", "bfloat16", "auto"}, default="auto"
        Arithmetic of the training forward pass. ``"bfloat16"`` runs the
        matrix products under :func:`torch.autocast` in bfloat16 (weights,
        optimizer state and loss stay float32); ``"auto"`` does so where the
        device supports bfloat16 natively (CUDA with bfloat16, CPUs with
        AVX512-BF16 or AMX) and uses float32 elsewhere (``precision_`` says
        which), and so does the early-stopping validation score;
        ``transform`` predicts in float32. bfloat16 training is faster where
        the hardware supports it and changes the accuracy very little
        (:ref:`benchmarks`). Pass ``"float32"`` when a fit's numbers must not
        depend on whether the machine has bfloat16, for example to compare
        fits made on different machines.
    n_jobs : int, default=None
        CPU threads of torch's kernels during ``fit`` and ``transform``, for
        the calling thread only and restored afterwards. An int uses that
        many threads (``-1`` all CPUs, ``-2`` all but one) and, with
        ``random_state``, makes the fit reproducible bit for bit. ``None``
        starts from ``torch.get_num_threads()``; a fit of at least 1,000
        samples on the CPU times its own steps and uses fewer threads when
        fewer run faster (beside other busy processes), so that two such
        fits may differ (by much less than two values of ``random_state``);
        a smaller fit trains each network on one thread. See
        :ref:`user_guide_threads`.
    {calibration}
    blend_low_rank : bool or "auto", default="auto"
        Blend the network's imputations with those of a low-rank model
        (:class:`~skimpute_gtex.baselines.SoftImputeImputer` on the same
        genes and covariates), with the network's weight chosen in ``fit`` on
        data the networks never trained on: the early-stopping validation
        rows, or, without early stopping, the fold that the ensemble's
        first network trains without (a sixteenth of the observed entries,
        down to a sixty-fourth in a study with many of them; an eighth of
        the rows when the training data are complete). Their
        predictions at two observed fractions of the rows set the weight at
        each (``blend_weight_``; a row gets the weight of its own observed
        fraction), corrected for the ensemble's smaller spread. ``"auto"``:
        blend below 1,000 samples (where a linear low-rank model is a strong
        competitor) unless ``calibration=True`` (the intervals are calibrated
        for the network's imputations, and ``True`` with calibration is an
        error). Data too small to hold out an entry are not blended
        (``blend_weight_`` is None). See :ref:`blend`.

        .. versionadded:: 0.1.0
    gene_panel : bool, default=True
        Impute the rows of X that share their missing genes with other rows
        of X (a study measured on a gene panel: the same genes missing in
        every sample) with a ridge regression of the missing genes on the
        measured ones and the covariates, solved for that set of genes from
        the training data, mixed with the network's imputations. The
        network's weight in the mixture is measured in ``fit`` on rows the
        networks never trained on, with random panels of several sizes
        (``panel_weight_``); a group of rows gets the weight of its measured
        fraction. Those rows are the early-stopping validation rows or, on a
        complete reference without early stopping, the eighth of the rows
        that the ensemble's first network trains without (as for
        ``blend_low_rank``). A study with missing entries
        below 1,000 samples has no held-out rows: no panel weights, and every
        row is imputed by the network. ``False`` imputes every row with the
        network. See :ref:`gene_panels`.

        .. versionadded:: 0.1.0
    random_state : int, RandomState instance or None, default=None
        Decides the validation split, the weight initialisation, the mini-batch
        order, the pseudo-masks, dropout and the cross-fit's folds.
        Torch's global random state is left as it was.
    {verbose}

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network, on the CPU; with several networks
        (``n_estimators_ > 1``) a module averaging them, whose ``members``
        are the networks.
    {mean_}
    scale_ : ndarray of shape (n_genes,)
        Per-gene standard deviation of the observed training entries (1 for
        constant or all-missing genes).
    {n_genes_}
    {gene_indices_}
    covariate_indices_ : ndarray of int
        Positions in X of the covariate columns, in spec order.
    {categories_}
    {n_iter_}
    {n_estimators_}
    {n_steps_}
    {precision_}
    loss_curve_ : list of float
        Training loss (masked MSE, standardized units) per epoch.
    {validation_scores_}
    best_validation_score_ : float or None
        Best validation R²; its weights are the ones kept.
    {calibration_scores_}
    {interval_scale_}
    blend_weight_ : ndarray of shape (2,) or None
        The network's weight in the blend with the low-rank model at the
        observed fractions ``blend_visibility_`` (1 - weight for the low-rank
        model); None without the blend.

        .. versionadded:: 0.1.0
    blend_visibility_ : ndarray of shape (2,) or None
        The rows' mean observed fractions, ascending, at which
        ``blend_weight_`` was measured; None without the blend.

        .. versionadded:: 0.1.0
    panel_weight_ : ndarray of shape (n_levels,) or None
        The network's weight in the mixture with the ridge regression for
        rows imputed as a gene panel (``gene_panel``), at the panel sizes
        ``panel_visibility_``; None when no panel weights were fitted.

        .. versionadded:: 0.1.0
    panel_visibility_ : ndarray of shape (n_levels,) or None
        The measured fractions of the genes, ascending, at which
        ``panel_weight_`` was measured; None with it.

        .. versionadded:: 0.1.0
    panel_r2_ : ndarray of shape (n_levels, n_genes) or None
        Expected per-gene R² of a panel imputation: at each panel size of
        ``panel_visibility_``, the R² of each gene (column of X) on the
        held-out rows where it was hidden, over random panels of that size
        (NaN where a gene was hidden in fewer than two values, or never
        varied). Read the row of the size nearest your panel's to choose the
        genes to trust; a small reference holds out few rows, so the values
        are rough there. None with ``panel_weight_``.

        .. versionadded:: 0.1.0
    {indicator_}
    {n_features_in_}
    {feature_names_in_}

    See Also
    --------
    GAINImputer : GAIN-GTEx, the adversarial model of the same paper.
    sklearn.impute.KNNImputer : k-nearest-neighbour imputation.
    sklearn.impute.IterativeImputer : MICE-style imputation.

    Notes
    -----
    ``transform`` is deterministic. Fitted with ``calibration=True``,
    :meth:`transform_interval` gives calibrated per-entry intervals and
    :meth:`sample_imputations` completed copies whose spread matches them,
    for multiple imputation (:ref:`uncertainty`).

    References
    ----------
    .. [1] Viñas R, Azevedo T, Gamazon ER, Liò P. "Deep Learning Enables Fast
       and Accurate Imputation of Gene Expression". Frontiers in Genetics 12,
       624128 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute_gtex import PMIImputer
    >>> from skimpute_gtex.datasets import make_gtex_like, simulate_missing
    >>> data = make_gtex_like(n_samples=200, n_genes=30, random_state=0)
    >>> X = data.frame.drop(columns="donor")
    >>> X.iloc[:, :30], mask = simulate_missing(X.iloc[:, :30], 0.3, random_state=0)
    >>> imp = PMIImputer(covariates=data.covariate_spec, max_iter=5, random_state=0)
    >>> X_imputed = imp.fit_transform(X)
    >>> X_imputed.shape, bool(np.isnan(X_imputed).any())
    ((200, 30), False)
    >>> imp.set_params(calibration=True).fit(X)
    PMIImputer(...)
    >>> lower, upper = imp.transform_interval(X, coverage=0.9)
    >>> bool((lower <= upper).all()), lower.shape
    (True, (200, 30))
    >>> imp.sample_imputations(X, n_imputations=3, random_state=0).shape
    (3, 200, 30)
    """

    _parameter_constraints: dict = {
        **_BaseTorchImputer._parameter_constraints,
        **_UncertaintyMixin._uncertainty_constraints,
        **_LowRankBlendMixin._blend_constraints,
    }
    # from 1,000 samples on (large data): a quarter of the training rows, at
    # most 512: larger batches were both more accurate per epoch and cheaper
    # per epoch on large data (docs/benchmarks.rst, "Where we lose")
    _LARGE_BATCH = (4, 512)

    def __init__(
        self,
        *,
        covariates=None,
        covariate_output="drop",
        hidden_layer_sizes=(512, 512),
        dropout="auto",
        batch_norm=True,
        pseudo_mask_range="auto",
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
        precision="auto",
        calibration=False,
        blend_low_rank="auto",
        gene_panel=True,
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
        self.blend_low_rank = blend_low_rank
        self.gene_panel = gene_panel
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the imputer on the observed entries of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Expression with ``missing_values`` (NaN) for missing entries
            (incomplete data for in-place use, complete reference data for
            inductive use), plus the covariate columns named in ``covariates``.
            Sparse X (without covariates) is densified.
        y : None
            Ignored.

        Returns
        -------
        self : PMIImputer
            The fitted imputer.
        """
        self._fit(X)
        return self

    _network_names = ("module_",)

    def _build(self, n_genes, n_numeric, vocab_sizes):
        def factory():
            return ConditionalMLP(
                2 * n_genes, n_genes, n_numeric, vocab_sizes,
                self._hidden(), self._plan.dropout, self.batch_norm,
            )

        return {"module_": factory}

    def _predict(self, networks, x, mask, numeric, codes):
        return networks["module_"]((x * mask, mask), numeric, codes)

    def _make_step(self, networks, data, generator):
        net = networks["module_"]
        device = data.device
        optimizer = make_optimizer(self, net.parameters(), device)
        low, high = self._plan.mask_range
        n_genes = data.shape[1]
        draw_keep = _keep_sampler(generator, device)
        # the network's input matrix and every other per-step tensor of the
        # size of a batch or of a weight matrix are reused by every step
        # (Workspace: page faults at GTEx width); the input is bfloat16 when
        # the first product runs in it (autocast would cast a float32 one)
        dtype = (torch.bfloat16 if resolve_precision(self.precision, device)
                 == "bfloat16" else torch.float32)
        ws = Workspace()

        def step(idx):
            # 0/1 masks as uint8: torch's kernels mixing bool and float
            # tensors are several times slower than uint8 ones
            x, observed, numeric, codes = data.rows(idx, mask_dtype=torch.uint8,
                                                    workspace=ws)
            shape = x.shape
            p = torch.empty((shape[0], 1), device=device).uniform_(
                low, high, generator=generator
            )
            keep = draw_keep(p, shape, ws.get("keep", shape, torch.bool, device))
            visible = ws.get("visible", shape, torch.uint8, device)
            torch.bitwise_and(observed, keep.view(torch.uint8), out=visible)
            hidden = ws.get("hidden", shape, torch.uint8, device)
            torch.sub(observed, visible, out=hidden)
            inputs = ws.get("inputs", (shape[0], net.in_features), dtype, device)
            # x * visible: cast, then multiplied in place by the 0/1 columns
            # already cast beside it (the same values; a product of one dtype
            # is faster than a mixed-dtype one into strided bfloat16, and
            # skips torch's cast of the uint8 mask)
            shown = inputs[:, n_genes:2 * n_genes].copy_(visible)
            inputs[:, :n_genes].copy_(x).mul_(shown)
            with autocast(self.precision, device):
                out = net.forward_prefilled(inputs, numeric, codes, workspace=ws)
            loss = _MaskedSquaredError.apply(out, x, hidden, ws)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach()

        return step, [optimizer]

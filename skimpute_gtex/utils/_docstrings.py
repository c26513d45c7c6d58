"""Parameter and attribute descriptions shared by several estimators.

An estimator's docstring names a shared entry with a line ``{name}`` (at
the indentation of its other entries); :func:`fill_doc` puts the text
below in its place when the class is defined, so that help() and the API
docs show it whole. Change a shared description here, once.
"""

import re

SHARED = {}

SHARED["dropout"] = """\
dropout : float or "auto", default="auto"
    Dropout probability after each hidden block. ``"auto"``: 0.5 below
    1,000 samples, 0.2 from 1,000 on (:ref:`user_guide_regimes`).
"""

SHARED["batch_norm"] = """\
batch_norm : bool, default=True
    Whether hidden blocks use batch normalisation.
"""

SHARED["learning_rate"] = """\
learning_rate : {"constant", "adaptive"}, default="adaptive"
    ``"adaptive"``: when the monitored score has not improved for
    ``n_iter_no_change`` epochs, the best weights are restored and the
    learning rate divided by 10, up to twice; training stops at the third
    plateau. ``"constant"`` stops at the first plateau. Without early
    stopping the learning rate is constant.
"""

SHARED["weight_decay"] = """\
weight_decay : float, default=0.0
    Decoupled weight decay (AdamW) when positive.
"""

SHARED["max_iter"] = """\
max_iter : int, default=500
    Maximum number of epochs (passes over the training rows) per network.
"""

SHARED["max_steps"] = """\
max_steps : int or None, default=4000
    Step budget (mini-batches) when training without early stopping: each
    network trains for ``max_iter`` epochs or until ``max_steps`` steps
    are done (rounded up to a whole epoch), whichever comes first. With
    early stopping, training ends at the stopping criterion or after
    ``max_iter`` epochs. ``None``: ``max_iter`` only.
"""

SHARED["n_estimators"] = """\
n_estimators : int or "auto", default="auto"
    Number of networks trained (each with its own initial weights,
    mini-batches, pseudo-masks and dropout, all decided by
    ``random_state``) whose predictions are averaged. ``"auto"`` spends
    the step budget: below 1,000 samples, when ``max_iter`` epochs of
    one network take fewer than ``max_steps`` steps,
    ``max_steps // steps_per_network`` networks (at most 8) are trained;
    otherwise one. At small n most of a single network's error is
    variance, which averaging removes.
"""

SHARED["ema_decay"] = """\
ema_decay : float in [0, 1) or None, default=0.995
    Keep an exponential moving average of the weights with this decay
    per step (with a warm-up, ``min(ema_decay, (1 + t) / (10 + t))`` at
    step ``t``) and use the averaged weights for validation and
    prediction. ``None`` uses the last (or best) weights.
"""

SHARED["tol"] = """\
tol : float, default=1e-4
    Minimum improvement of the validation score that resets the patience
    counter (early stopping only).
"""

SHARED["early_stopping"] = """\
early_stopping : bool or "auto", default="auto"
    Hold out ``validation_fraction`` of the rows, hide part of their
    observed entries with a fixed pseudo-mask, stop when the R² on those
    entries has not improved for ``n_iter_no_change`` epochs, and restore
    the best weights. ``False`` trains every row for the budget
    (``max_iter``, ``max_steps``). ``"auto"``: early stopping from 1,000
    samples on, where a held-out tenth of the rows is a reliable signal
    and costs the fit little; below that every row is needed for
    training. An explicit value changes only whether rows are held out:
    the other ``"auto"`` parameters follow the number of samples
    (:ref:`user_guide_regimes`). When the data are too small for 2
    validation and 2 training rows, early stopping is skipped with a
    ``UserWarning``.
"""

SHARED["validation_fraction"] = """\
validation_fraction : float, default=0.1
    Fraction of the rows held out for early stopping.
"""

SHARED["n_iter_no_change"] = """\
n_iter_no_change : int, default=10
    Patience, in epochs.
"""

SHARED["clip"] = """\
clip : bool, default=True
    Clip imputed values to each gene's range of observed training values.
    Expression is bounded (counts and TPM are non-negative), and for genes
    that are nearly constant, mostly zero say, clipping stops small
    overshoots from dominating their error.
"""

SHARED["missing_values"] = """\
missing_values : int, float, np.nan or pd.NA, default=np.nan
    The placeholder for missing gene values: all its occurrences in the
    gene columns are imputed. With a number (such as 0 or -1), X may not
    contain NaN. pandas nullable integer columns hold ``pd.NA``, which is
    read as NaN, so either ``np.nan`` or ``pd.NA`` marks it. Covariate
    columns are never missing values.
"""

SHARED["add_indicator"] = """\
add_indicator : bool, default=False
    If True, a :class:`~sklearn.impute.MissingIndicator` block is stacked
    after the imputed genes (and before passed-through covariates): one
    binary column per gene with a missing value in fit, named
    ``missingindicator_<gene>`` by ``get_feature_names_out``. A gene without
    missing values in fit gets no column, even if values are missing in
    transform. Covariates are never part of it.
"""

SHARED["copy"] = """\
copy : bool, default=True
    If True, the imputations are written into a copy of X. If False,
    ``transform`` writes them into X's own memory whenever possible: X
    dense, of floats, writeable (a NumPy array, or a DataFrame whose values
    NumPy can write to), without ``covariates`` and with NaN as
    ``missing_values``; otherwise into a new array. For a NumPy X the
    returned array is then X itself, unless genes are dropped or an
    indicator is added. ``fit`` never modifies X.
"""

SHARED["calibration"] = """\
calibration : bool, default=False
    Calibrate per-entry prediction intervals during ``fit``, for
    :meth:`transform_interval` and :meth:`sample_imputations`. Without
    early stopping (every row trains), the networks are cross-fitted: the
    observed training entries (the rows, when the training data are
    complete) are split at random into ``max(n_estimators_, 8)`` folds (16
    folds of the entries for a single network) and network ``k`` of the
    ensemble never sees fold ``k``, whose entries then give out-of-fold
    residuals: the fit costs the same, but each network learns from 1/8
    fewer entries (or rows). With early stopping, the held-out validation
    rows give the residuals and training is unchanged. The residuals,
    normalised per gene and by the observed fraction of a sample, set
    split-conformal intervals. See :ref:`uncertainty`.

    .. versionadded:: 0.1.0
"""

SHARED["verbose"] = """\
verbose : int, default=0
    ``1``: one progress line, updated in place, with the time left;
    ``2``: a line per epoch (loss, validation score, time).
"""

SHARED["mean_"] = """\
mean_ : ndarray of shape (n_genes,)
    Per-gene mean of the observed training entries.
"""

SHARED["n_genes_"] = """\
n_genes_ : int
    Number of gene columns in X.
"""

SHARED["gene_indices_"] = """\
gene_indices_ : ndarray of int
    Positions in X of the genes in the output, in output order.
"""

SHARED["categories_"] = """\
categories_ : list of ndarray
    Categories of each categorical covariate column, as strings.
"""

SHARED["n_iter_"] = """\
n_iter_ : int
    Number of epochs run (per network).
"""

SHARED["n_estimators_"] = """\
n_estimators_ : int
    Number of networks trained and averaged.
"""

SHARED["n_steps_"] = """\
n_steps_ : int
    Number of optimisation steps (mini-batches) run, all networks together.
"""

SHARED["precision_"] = """\
precision_ : {"float32", "bfloat16"}
    Arithmetic the training used: ``precision``, with ``"auto"`` resolved
    for the device and machine of the fit.
"""

SHARED["validation_scores_"] = """\
validation_scores_ : list of float or None
    Validation R² per epoch when ``early_stopping=True``.
"""

SHARED["calibration_scores_"] = """\
calibration_scores_ : ndarray of shape (n_scores,) or None
    Sorted normalised conformal scores of the held-out entries (at most
    50,000, a random subset beyond), when fitted with
    ``calibration=True``; None otherwise.

    .. versionadded:: 0.1.0
"""

SHARED["interval_scale_"] = """\
interval_scale_ : ndarray of shape (n_genes,) or None
    Per-gene scale of the intervals, in the data's units: the mean
    absolute held-out residual of the gene, shrunk toward the mean over
    all genes; None without calibration.

    .. versionadded:: 0.1.0
"""

SHARED["indicator_"] = """\
indicator_ : :class:`~sklearn.impute.MissingIndicator` or None
    Indicator of the missing genes, fitted on the gene columns only (its
    ``features_`` are positions among the ``n_genes_`` genes). None if
    ``add_indicator=False``.
"""

SHARED["n_features_in_"] = """\
n_features_in_ : int
    Number of columns seen in fit.
"""

SHARED["feature_names_in_"] = """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Column names seen in fit, when X has string column names.
"""

SHARED["covariate_output"] = """\
covariate_output : {"drop", "passthrough"}, default="drop"
    Whether the covariate columns are appended, unchanged, after the genes
    in the output of ``transform``.
"""

SHARED["X_true"] = """\
X_true : array-like of shape (n_samples, n_genes)
    True values. May be NaN outside the mask.
"""

SHARED["X_imputed"] = """\
X_imputed : array-like of shape (n_samples, n_genes)
    Imputed values.
"""

SHARED["mask"] = """\
mask : array-like of bool of shape (n_samples, n_genes)
    True where an entry was hidden from the imputer and is scored.
"""

SHARED["error_multioutput"] = """\
multioutput : {"uniform_average", "raw_values"}, default="uniform_average"
    ``"uniform_average"``: pooled over all masked entries of all genes
    (every masked entry weighs the same, so genes with more masked entries
    weigh more). ``"raw_values"``: one value per gene over its own masked
    entries (NaN for a gene with no masked entry).
"""

SHARED["groups"] = """\
groups : array-like of shape (n_samples,), default=None
    Optional sample labels (for example tissues). If given, the error is
    computed separately on the rows of each group.
"""

SHARED["error_notes"] = """\
Notes
-----
With ``"uniform_average"`` and no masked entry at all, the error is NaN and
an :class:`~sklearn.exceptions.UndefinedMetricWarning` is raised.

Only the entries where ``mask`` is True are scored; the values of
``X_true`` and ``X_imputed`` elsewhere are ignored (they may be NaN).
Masked entries must be finite in both arrays.
"""

# the training parameters of both deep imputers, in their docstrings' order
SHARED["training"] = "".join(SHARED[k] for k in (
    "weight_decay", "max_iter", "max_steps", "n_estimators", "ema_decay", "tol",
    "early_stopping", "validation_fraction", "n_iter_no_change", "clip"))


def fill_doc(obj):
    """Class or function decorator: replace each ``{name}`` line of the
    docstring by ``SHARED[name]``, indented as the line was."""

    def entry(match):
        indent, name = match.group(1), match.group(2)
        text = SHARED[name].rstrip("\n")
        return "\n".join(indent + line if line else line
                         for line in text.split("\n"))

    obj.__doc__ = re.sub(r"^( *)\{(\w+)\}$", entry, obj.__doc__,
                         flags=re.MULTILINE)
    return obj

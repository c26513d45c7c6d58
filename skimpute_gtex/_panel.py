"""Gene panels: ridge regressions from any set of measured genes to the rest.

A study measured on a targeted panel lacks the same genes in every sample.
:class:`LinearReference` keeps a factor ``A`` of the reference's
cross-product matrix (``A @ A.T = Z.T @ Z`` for the centred, standardized
reference ``Z``: genes, then covariate features) and answers, for any set of
visible genes, the ridge regression of the other genes on them and on the
covariates, with the penalty chosen by leave-one-out or generalised
cross-validation (GCV), in closed form. This is the L1000 method (a linear
map from landmark genes), fitted for the panel that a study happens to have.
"""

import numpy as np

from .utils._linalg import singular

#: the ridge penalties searched
ALPHAS = np.logspace(-3, 5, 17)
#: the factor has at most this many columns (rows of the reference)
MAX_RANK = 2048
_BLOCK = 1024  # rows standardized at a time
_FLOAT32_ABOVE = 2**22  # entries of the factor kept in float64 at most
#: leave-one-out errors are computed exactly up to this many products
_EXACT_LOO_COST = 2e10
#: folds of the cross-fit that decides between one penalty and one per target
CROSS_FIT_FOLDS = 5


def covariate_features(numeric, codes, vocab_sizes):
    """Numerical covariates beside one-hot categorical codes (1..K; 0 unseen)."""
    parts = [np.asarray(numeric, dtype=np.float64)]
    for j, size in enumerate(vocab_sizes):
        onehot = np.zeros((len(codes), size))
        known = np.flatnonzero(codes[:, j] > 0)
        onehot[known, codes[known, j] - 1] = 1.0
        parts.append(onehot)
    return np.hstack(parts)


class LinearReference:
    """Ridge regressions from visible genes (and covariates) to the others.

    Parameters
    ----------
    genes, mask, mean, scale : the reference's expression, its observed
        entries and the per-gene standardization (missing entries count as
        the gene's mean).
    covariates : ndarray of shape (n_samples, n_covariate_features)
        :func:`covariate_features` of the reference's rows.
    valid : ndarray of bool of shape (n_genes,)
        Genes to regress (the others are ignored).
    rng : numpy.random.RandomState
        Chooses the rows kept when the reference has more than
        :data:`MAX_RANK` rows and more than :data:`MAX_RANK` features.
    n_samples : int, optional
        The size of the reference when ``genes`` holds a random sample of its
        rows (a reference read from disk): the cross-products are scaled to
        it. Default: ``genes`` is the whole reference.
    rows : ndarray of int, optional
        The reference is these rows of ``genes`` and ``mask`` (``covariates``
        has one row for each). Default: all rows.
    """

    def __init__(self, genes, mask, mean, scale, covariates, valid, rng,
                 n_samples=None, rows=None):
        genes, mask = np.asarray(genes), np.asarray(mask)
        # the reference's rows of genes and mask: read a block at a time
        # (a copy of all of them would be the largest memory of a fit)
        rows_in = np.arange(len(genes)) if rows is None else np.asarray(rows)
        valid = np.asarray(valid, dtype=bool)
        mean, scale = np.asarray(mean)[valid], np.asarray(scale)[valid]
        n_rows, n_genes = len(rows_in), int(valid.sum())
        n = n_rows if n_samples is None else int(n_samples)
        n_features = n_genes + covariates.shape[1]
        rows = np.arange(n_rows)
        if n_rows > MAX_RANK and n_features > MAX_RANK:
            rows = np.sort(rng.choice(n_rows, MAX_RANK, replace=False))
        z = np.empty((len(rows), n_features))
        for start in range(0, len(rows), _BLOCK):
            idx = rows_in[rows[start:start + _BLOCK]]
            z[start:start + len(idx), :n_genes] = np.where(
                mask[idx][:, valid], (genes[idx][:, valid] - mean) / scale, 0.0)
        z[:, n_genes:] = covariates[rows]
        self.units_ = np.concatenate([scale, np.ones(covariates.shape[1])])
        self.center_ = z.mean(axis=0)
        z -= self.center_
        if n_features <= MAX_RANK and len(rows) > n_features:
            w, v = np.linalg.eigh(z.T @ z)
            keep = w > w[-1] * 1e-12
            factor = v[:, keep] * np.sqrt(w[keep])
            if n != len(rows):  # a sample's cross-products, scaled
                factor *= np.sqrt(n / len(rows))
        else:
            factor = z.T * np.sqrt(n / len(rows))
        # a large factor is kept in float32 (half the memory in a pickled
        # model) and its rows used in float64
        self.factor_ = factor.astype(np.float32) if factor.size > _FLOAT32_ABOVE \
            else factor
        # the factor's columns are the reference's rows: exact leave-one-out
        self._rows = factor.shape[1] == len(rows) and len(rows) == n
        self.n_samples_ = n
        self.n_genes_ = n_genes
        self.valid_ = np.asarray(valid, dtype=bool)

    def predict(self, visible, z_visible, covariates):
        """Standardized predictions of the genes that are not ``visible``.

        The measured genes enter the regression either standardized or in
        the data's units (a penalty on standardized genes shrinks the most
        variable genes as much as the least; which is better depends on the
        data), with one penalty for all the target genes; the pair with the
        smallest leave-one-out error of the standardized targets wins: exact
        when the factor holds the reference's rows, else its GCV estimate.
        Where it is exact, a penalty per target gene replaces the shared one
        if it predicts better in a cross-fit (each of ``CROSS_FIT_FOLDS``
        folds of rows predicted by penalties chosen by leave-one-out on the
        others): it helps on some references and overfits its choice on
        others.

        Parameters
        ----------
        visible : ndarray of bool of shape (n_valid_genes,)
            The measured genes (among the valid genes).
        z_visible : ndarray of shape (n_rows, n_visible)
            Their standardized values.
        covariates : ndarray of shape (n_rows, n_covariate_features)

        Returns
        -------
        ndarray of shape (n_rows, n_valid_genes - n_visible)
        """
        n_genes = self.n_genes_
        inputs = np.concatenate([np.flatnonzero(visible),
                                 np.arange(n_genes, self.factor_.shape[0])])
        targets = np.flatnonzero(~visible)
        u = np.hstack([z_visible, covariates]) - self.center_[inputs]
        a_out = self.factor_[targets].astype(np.float64, copy=False)
        a_in = self.factor_[inputs].astype(np.float64, copy=False)
        center = self.center_[targets]
        if inputs.size == 0:
            return np.broadcast_to(center, (len(u), targets.size)).copy()
        exact = (self._rows and a_out.size * min(a_in.shape) * ALPHAS.size
                 < _EXACT_LOO_COST)
        best = None
        for units in (np.ones(inputs.size), self.units_[inputs]):
            fit = _Ridge(a_in * units[:, None], a_out, exact, self.n_samples_)
            if best is None or fit.shared_error < best[0].shared_error:
                best = fit, units
        fit, units = best
        alphas = fit.shared_alphas()
        if exact and _per_target_predicts_better(fit.a_in, a_out):
            alphas = fit.per_target_alphas()
        return (u * units) @ fit.coefficients(alphas) + center


class _Ridge:
    """Ridge regressions of the rows of ``a_out`` on those of ``a_in``
    (features x samples, centred), for every penalty of :data:`ALPHAS`.

    ``errors[k, t]`` is the leave-one-out squared error of target ``t`` with
    penalty ``ALPHAS[k]`` (``exact``: the samples are the factor's columns),
    else its GCV estimate over ``n_samples``.
    """

    def __init__(self, a_in, a_out, exact, n_samples):
        self.a_in = a_in
        d, qt = singular(a_in)
        c = qt @ a_out.T  # the targets' coordinates, (rank, n_targets)
        d2 = d**2
        self._qt, self._c, self._d2 = qt, c, d2
        if exact:
            # the rows' targets and left singular vectors; residuals and
            # 1 - leverage as the parts outside the span of q plus 1 - shrink
            # inside it, without the cancellation of 1 - (q**2) @ shrink
            # (the intercept, fitted by centring, has leverage 1 / n)
            y, q = a_out.T, qt.T
            outside = y - q @ c
            h_outside = np.maximum(1.0 - 1.0 / len(y) - (q**2).sum(axis=1), 0.0)
            errors = np.empty((ALPHAS.size, y.shape[1]))
            for k, alpha in enumerate(ALPHAS):
                kept = alpha / (d2 + alpha)
                hat = h_outside + (q**2) @ kept
                res = outside + (q * kept) @ c
                errors[k] = ((res / np.maximum(hat, 1e-12)[:, None]) ** 2).sum(
                    axis=0)
        else:  # GCV: residual sums of squares and degrees of freedom
            shrink = d2 / (d2 + ALPHAS[:, None])  # (n_alphas, rank)
            rss = ((a_out**2).sum(axis=1)[None, :]
                   - (2.0 * shrink - shrink**2) @ (c**2))
            dof = n_samples - 1.0 - shrink.sum(axis=1)
            errors = (np.maximum(rss, 0.0) / np.maximum(dof, 0.5)[:, None] ** 2
                      * n_samples)
            errors[dof <= 0.5] = np.inf
        self.errors = errors
        self.shared_error = float(errors.sum(axis=1).min())

    def shared_alphas(self):
        """The best single penalty, for every target."""
        k = int(np.argmin(self.errors.sum(axis=1)))
        return np.full(self.errors.shape[1], ALPHAS[k])

    def per_target_alphas(self):
        """Each target's best penalty."""
        return ALPHAS[np.argmin(self.errors, axis=0)]

    def coefficients(self, alphas):
        """``(a_in a_in.T + alpha)^-1 a_in a_out.T``, a penalty per target."""
        return self.a_in @ (self._qt.T @ (self._c / (self._d2[:, None] + alphas)))


def _per_target_predicts_better(a_in, a_out):
    """Whether penalties chosen per target beat one shared penalty in a
    cross-fit over the samples (the columns of ``a_in`` and ``a_out``)."""
    n = a_in.shape[1]
    if n < 2 * CROSS_FIT_FOLDS or a_out.shape[0] < 2:
        return False
    errors = np.zeros(2)
    for fold in range(CROSS_FIT_FOLDS):
        test = np.arange(fold, n, CROSS_FIT_FOLDS)
        train = np.setdiff1d(np.arange(n), test)
        mean_in = a_in[:, train].mean(axis=1, keepdims=True)
        mean_out = a_out[:, train].mean(axis=1, keepdims=True)
        fit = _Ridge(a_in[:, train] - mean_in, a_out[:, train] - mean_out,
                     True, len(train))
        u = (a_in[:, test] - mean_in).T
        truth = (a_out[:, test] - mean_out).T
        for j, alphas in enumerate((fit.shared_alphas(), fit.per_target_alphas())):
            errors[j] += np.sum((u @ fit.coefficients(alphas) - truth) ** 2)
    return bool(errors[1] < errors[0])


def mixture_weight(first, second, truth, excess=0.0):
    """The weight ``w`` in [0, 1] minimising ``|w * first + (1 - w) * second
    - truth|²``.

    ``excess``: the part of ``|first - second|²`` that is noise of ``first``
    which the predictions to be mixed will not have (``first`` is one
    network, the mixture uses the average of several); it is removed from
    the denominator when that leaves it positive.
    """
    d = first - second
    dd = float(np.dot(d, d))
    if dd == 0.0:
        return 1.0
    if 0.0 < excess < dd:
        dd -= excess
    return float(np.clip(np.dot(d, truth - second) / dd, 0.0, 1.0))

"""Gene panels: ridge regressions from any set of measured genes to the rest.

A study measured on a targeted panel lacks the same genes in every sample.
:class:`LinearReference` keeps a factor ``A`` of the reference's
cross-product matrix (``A @ A.T = Z.T @ Z`` for the centred, standardized
reference ``Z``: genes, then covariate features) and answers, for any set of
visible genes, the ridge regression of the other genes on them and on the
covariates, with the penalty chosen by generalised
cross-validation (GCV), in closed form. This is the L1000 method (a linear
map from landmark genes), fitted for the panel that a study happens to have.
"""

import numpy as np

#: the penalties searched by GCV (one for all the target genes)
ALPHAS = np.logspace(-3, 5, 17)
#: the factor has at most this many columns (rows of the reference)
MAX_RANK = 2048
_BLOCK = 1024  # rows standardized at a time
_FLOAT32_ABOVE = 2**22  # entries of the factor kept in float64 at most
#: leave-one-out errors are computed exactly up to this many products
_EXACT_LOO_COST = 2e9


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
    """

    def __init__(self, genes, mask, mean, scale, covariates, valid, rng):
        genes = np.asarray(genes)[:, valid]
        mask = np.asarray(mask)[:, valid]
        mean, scale = np.asarray(mean)[valid], np.asarray(scale)[valid]
        n, n_genes = genes.shape
        n_features = n_genes + covariates.shape[1]
        rows = np.arange(n)
        if n > MAX_RANK and n_features > MAX_RANK:
            rows = np.sort(rng.choice(n, MAX_RANK, replace=False))
        z = np.empty((len(rows), n_features))
        for start in range(0, len(rows), _BLOCK):
            idx = rows[start:start + _BLOCK]
            z[start:start + len(idx), :n_genes] = np.where(
                mask[idx], (genes[idx] - mean) / scale, 0.0)
        z[:, n_genes:] = covariates[rows]
        self.units_ = np.concatenate([scale, np.ones(covariates.shape[1])])
        self.center_ = z.mean(axis=0)
        z -= self.center_
        if n_features <= MAX_RANK and len(rows) > n_features:
            w, v = np.linalg.eigh(z.T @ z)
            keep = w > w[-1] * 1e-12
            factor = v[:, keep] * np.sqrt(w[keep])
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
        data), with one penalty for all the target genes (chosen per target,
        the choice overfits); the pair with the smallest leave-one-out error
        of the standardized targets wins: exact when the factor holds the
        reference's rows, else its GCV estimate.

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
        best = None
        for units in (np.ones(inputs.size), self.units_[inputs]):
            error, solve = self._ridge(a_in * units[:, None], a_out)
            if best is None or error < best[0]:
                best = error, solve, units
        _, solve, units = best
        return (u * units) @ solve() + center

    def _ridge(self, a_in, a_out):
        """``(leave-one-out error, solve)`` of the best penalty: ``solve()``
        returns the coefficients (only the chosen scale's are computed)."""
        d, qt = _singular(a_in)
        c = qt @ a_out.T  # the targets' coordinates, (rank, n_targets)
        d2 = d**2
        if self._rows and a_out.size * c.shape[0] * ALPHAS.size < _EXACT_LOO_COST:
            # the rows' targets and left singular vectors; residuals and
            # 1 - leverage as the parts outside the span of q plus 1 - shrink
            # inside it, without the cancellation of 1 - (q**2) @ shrink
            # (the intercept, fitted by centring, has leverage 1 / n)
            y, q = a_out.T, qt.T
            outside = y - q @ c
            h_outside = np.maximum(1.0 - 1.0 / len(y) - (q**2).sum(axis=1), 0.0)
            loo = np.empty(ALPHAS.size)
            for k, alpha in enumerate(ALPHAS):
                kept = alpha / (d2 + alpha)
                hat = h_outside + (q**2) @ kept
                res = outside + (q * kept) @ c
                loo[k] = np.sum((res / np.maximum(hat, 1e-12)[:, None]) ** 2)
        else:  # GCV: residual sums of squares and degrees of freedom
            shrink = d2 / (d2 + ALPHAS[:, None])  # (n_alphas, rank)
            rss = ((a_out**2).sum(axis=1)[None, :]
                   - (2.0 * shrink - shrink**2) @ (c**2))
            dof = self.n_samples_ - 1.0 - shrink.sum(axis=1)
            loo = np.maximum(rss, 0.0).sum(axis=1) / np.maximum(dof, 0.5) ** 2
            loo = np.where(dof > 0.5, loo * self.n_samples_, np.inf)
        k = int(np.argmin(loo))
        def solve():  # (a_in a_in.T + alpha)^-1 a_in y, a_in qt.T = W diag(d)
            return a_in @ (qt.T @ (c / (d2 + ALPHAS[k])[:, None]))

        return float(loo[k]), solve


def _singular(a):
    """``(d, vt)`` of ``a = u @ diag(d) @ vt``, without the null directions.

    A tall ``a`` (more measured features than the factor's columns) goes
    through the eigenvalues of ``a.T @ a``: one matrix product and a small
    eigenproblem, several times faster than its SVD.
    """
    if a.shape[0] > a.shape[1]:
        w, v = np.linalg.eigh(a.T @ a)
        d, vt = np.sqrt(np.maximum(w[::-1], 0.0)), v[:, ::-1].T
        cut = 1e-7
    else:
        _, d, vt = np.linalg.svd(a, full_matrices=False)
        cut = 1e-8
    keep = d > d[0] * cut if d.size and d[0] > 0 else np.zeros(d.size, bool)
    return d[keep], vt[keep]


def mixture_weight(first, second, truth):
    """The weight ``w`` in [0, 1] minimising ``|w * first + (1 - w) * second
    - truth|²``."""
    d = first - second
    dd = float(np.dot(d, d))
    if dd == 0.0:
        return 1.0
    return float(np.clip(np.dot(d, truth - second) / dd, 0.0, 1.0))

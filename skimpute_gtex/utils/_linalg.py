"""Linear algebra shared by the low-rank models."""

import numpy as np


def singular(a):
    """``(d, vt)`` of ``a = u @ diag(d) @ vt``, without the null directions.

    Through the eigenvalues of the smaller of ``a.T @ a`` and ``a @ a.T``:
    one matrix product and a small eigenproblem, several times faster than
    an SVD when one side is much shorter (directions with ``d`` below
    ``1e-7`` of the largest, which the squared matrix resolves poorly, are
    dropped: the callers shrink them away).
    """
    tall = a.shape[0] > a.shape[1]
    w, v = np.linalg.eigh(a.T @ a if tall else a @ a.T)
    d, v = np.sqrt(np.maximum(w[::-1], 0.0)), v[:, ::-1]
    keep = d > d[0] * 1e-7 if d.size and d[0] > 0 else np.zeros(d.size, bool)
    d, v = d[keep], v[:, keep]
    return d, (v.T if tall else (v.T @ a) / d[:, None])

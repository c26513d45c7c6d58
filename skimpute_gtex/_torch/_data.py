"""The training data as tensors, standardized a block at a time."""

import warnings

import numpy as np
import torch

from ._device import as_tensor

_PREDICT_CHUNK = 4096  # rows per forward pass in transform: bounded memory
_STATS_BLOCK = 2**22  # entries (32 MB in float64) per block of gene_statistics


def gene_statistics(genes, mask):
    """Per-gene ``(mean, std, min, max)`` of the observed entries.

    NaN mean and std for a gene with no observed entry, min inf and max
    -inf. Taken over blocks of columns: nanmean and nanstd copy what they
    reduce, which over the whole matrix would hold more than another
    float64 copy of it. A column's reduction has the same bits in any block.
    """
    n_samples, n_genes = genes.shape
    # no block of one column (unless the matrix is one): numpy sums a lone
    # column pairwise, not row by row as in a wider matrix, other bits
    width = max(2, _STATS_BLOCK // max(n_samples, 1))
    edges = [*range(0, n_genes, width), n_genes]
    if len(edges) > 2 and edges[-1] - edges[-2] == 1:
        del edges[-2]
    stats = np.empty((4, n_genes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        for j, end in zip(edges[:-1], edges[1:]):
            block, observed = genes[:, j:end], mask[:, j:end]
            stats[:, j:end] = (
                np.nanmean(block, axis=0), np.nanstd(block, axis=0),
                np.min(block, axis=0, initial=np.inf, where=observed),
                np.max(block, axis=0, initial=-np.inf, where=observed))
    return tuple(stats)


def standardized_rows(genes, mask, mean, scale, rows=None):
    """Yield ``(positions, float32 block)`` of ``(genes - mean) / scale``.

    Missing entries are 0. The arithmetic is done in float64, a block of rows
    at a time, and only the float32 result is kept: the same values as
    standardizing the whole matrix at once, without its float64 copies (which
    at GTEx scale are gigabytes).
    """
    rows = np.arange(genes.shape[0]) if rows is None else np.asarray(rows)
    # at most _PREDICT_CHUNK rows and about 2**22 entries (32 MB in float64)
    step = int(np.clip(2**22 // max(genes.shape[1], 1), 1, _PREDICT_CHUNK))
    for start in range(0, len(rows), step):
        idx = rows[start:start + step]
        block = np.where(mask[idx], (genes[idx] - mean) / scale, 0.0)
        yield slice(start, start + len(idx)), block.astype(np.float32)


class _Data:
    """Standardized expression, mask and encoded covariates as tensors.

    The mask is kept as booleans (a quarter of float32's memory) and made
    float a mini-batch at a time.
    """

    def __init__(self, genes, mask, mean, scale, rows, numeric, codes, device):
        x = torch.empty((len(rows), genes.shape[1]), dtype=torch.float32)
        for sl, block in standardized_rows(genes, mask, mean, scale, rows):
            x[sl] = torch.from_numpy(block)
        self.x = x.to(device)
        self.mask = as_tensor(mask[rows], device, dtype=torch.bool)
        self.numeric = as_tensor(numeric[rows], device)
        self.codes = as_tensor(codes[rows], device, dtype=torch.long)

    @property
    def shape(self):
        """``(rows, genes)``."""
        return tuple(self.x.shape)

    @property
    def device(self):
        return self.x.device

    def subset(self, positions):
        """The same data restricted to rows ``positions`` (a copy)."""
        out = object.__new__(_Data)
        idx = torch.as_tensor(positions, dtype=torch.long, device=self.device)
        out.x, out.mask = self.x[idx], self.mask[idx]
        out.numeric, out.codes = self.numeric[idx], self.codes[idx]
        return out

    def rows(self, idx, mask_dtype=None, workspace=None):
        """Rows ``idx``: x, the mask (in x's dtype unless ``mask_dtype``;
        uint8 is a view of the bool bytes), numerical covariates, codes.

        With a :class:`~._networks.Workspace`, x and a uint8 mask are
        gathered into its memory (valid until the next call)."""
        if workspace is not None and mask_dtype == torch.uint8:
            n, device = idx.shape[0], self.x.device
            x = workspace.get("rows_x", (n, self.x.shape[1]), self.x.dtype, device)
            mask = workspace.get("rows_mask", (n, self.mask.shape[1]),
                                 torch.uint8, device)
            torch.index_select(self.x, 0, idx, out=x)
            torch.index_select(self.mask.view(torch.uint8), 0, idx, out=mask)
            return x, mask, self.numeric[idx], self.codes[idx]
        mask = self.mask[idx]
        mask = (mask.view(torch.uint8) if mask_dtype == torch.uint8
                else mask.to(mask_dtype or self.x.dtype))
        return self.x[idx], mask, self.numeric[idx], self.codes[idx]

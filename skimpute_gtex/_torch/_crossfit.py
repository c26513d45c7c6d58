"""Cross-fitting: each network of the ensemble trains without one fold.

The low-rank blend, the gene panels' weights and the calibrated intervals
need predictions of data the networks never trained on. Instead of a second
training, the networks of the ensemble are cross-fitted: the data are split
at random into ``max(n_members, N_FOLDS)`` folds and network ``k`` trains
without fold ``k``, so that its predictions of fold ``k`` are out of sample.

- Data with missing entries (a study imputed in place) are split by
  observed entry: a held-out entry is neither input nor target of the
  network that misses it, the other entries of its row are.
- Complete data (a reference, used only on new samples) are split by row:
  a held-out row is a new sample to the network that misses it.

The low-rank blend and the gene panels need one such network: only network
0 is cross-fitted, and the ensemble as a whole misses one fold of one of
its networks (1/``N_FOLDS_ENTRIES_ONE`` of the observed entries, less in a
study with many of them, or 1/``N_FOLDS`` of the rows). Calibration needs
every network's residuals: each learns from 1/``N_FOLDS`` fewer entries (or
rows), and every entry is learnt by the other networks of the ensemble.
"""

import numpy as np
import torch

#: at least this many folds: a network misses at most 1/N_FOLDS of the data
N_FOLDS = 8
#: folds of the observed entries when one network is cross-fitted (network
#: 0 for the blend, or the only network): it misses half as much, and a
#: sixteenth of a study's observed entries is still many (rows are split in
#: N_FOLDS: the panels' weights need held-out rows) ...
N_FOLDS_ENTRIES_ONE = 16
#: ... and more folds for a study with many observed entries, so that the
#: network misses less: about HELD_OUT_ENTRIES entries a fold, at most
#: MAX_FOLDS_ENTRIES_ONE folds
HELD_OUT_ENTRIES = 12_500
MAX_FOLDS_ENTRIES_ONE = 64


class _WithoutEntries:
    """Training data of one network: the entries of fold ``k`` are missing.

    The training loop and the step functions read ``shape``, ``device`` and
    ``rows``; the held-out entries are removed from every mini-batch's mask,
    so they are neither input nor target.
    """

    def __init__(self, data, fold, k):
        self.shape, self.device = data.shape, data.device
        self._data, self._fold, self._k = data, fold, k

    def rows(self, idx, mask_dtype=None, workspace=None):
        x, mask, numeric, codes = self._data.rows(
            idx, mask_dtype=mask_dtype, workspace=workspace)
        return x, mask * (self._fold[idx] != self._k), numeric, codes


class CrossFit:
    """The folds of one fit; see the module docstring.

    ``by_rows``: split the rows (complete data), else the observed entries.
    Only the first ``n_crossed`` networks train without their fold (the
    others see all the data). The folds are drawn from ``seed`` alone.
    """

    def __init__(self, data, n_members, by_rows, seed, n_crossed=None):
        self.n_crossed = n_members if n_crossed is None else n_crossed
        n_observed = 0 if by_rows else int(data.mask.sum())
        self.n_folds = self._n_folds(n_members, by_rows, self.n_crossed,
                                     n_observed)
        self.by_rows = by_rows
        generator = torch.Generator().manual_seed(int(seed))
        n_rows = data.shape[0]
        if by_rows:
            # balanced: fold sizes differ by at most one row
            perm = torch.randperm(n_rows, generator=generator).numpy()
            self.row_fold = np.empty(n_rows, dtype=np.intp)
            self.row_fold[perm] = np.arange(n_rows) % self.n_folds
        else:
            fold = torch.randint(self.n_folds, tuple(data.shape),
                                 generator=generator, dtype=torch.uint8)
            self.fold = fold.to(data.device)

    @staticmethod
    def _n_folds(n_members, by_rows, n_crossed, n_observed=0):
        if n_crossed == 1 and not by_rows:
            n = np.clip(n_observed // HELD_OUT_ENTRIES, N_FOLDS_ENTRIES_ONE,
                        MAX_FOLDS_ENTRIES_ONE)
            return max(n_members, int(n))
        return max(n_members, N_FOLDS)

    @classmethod
    def possible(cls, n_rows, n_members, by_rows):
        """Whether every network keeps at least 2 rows to train on."""
        if not by_rows:
            return True
        n_folds = cls._n_folds(n_members, by_rows, n_members)
        return n_rows - -(-n_rows // n_folds) >= 2

    def member_data(self, data, k):
        """The training data of network ``k``: ``data`` without fold ``k``
        (``data`` itself for a network that is not cross-fitted)."""
        if k >= self.n_crossed:
            return data
        if self.by_rows:
            return data.subset(np.flatnonzero(self.row_fold != k))
        return _WithoutEntries(data, self.fold, k)

    def held_out_rows(self, k):
        """Positions (in the training rows) of the rows of fold ``k``."""
        return np.flatnonzero(self.row_fold == k)

    def held_out_entries(self, k):
        """Boolean NumPy mask of the entries of fold ``k`` (all of them,
        observed or not)."""
        return (self.fold == k).cpu().numpy()


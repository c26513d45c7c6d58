"""Data-parallel fits on ``torch.distributed`` (docs/scale.rst).

:func:`fit_distributed` fits a :class:`~skimpute_gtex.PMIImputer` on a matrix
on disk over the processes that ``torchrun`` started, each streaming its own
shard of the rows; rank 0 writes the model.
"""

from ._torch._distributed import fit_distributed

__all__ = ["fit_distributed"]

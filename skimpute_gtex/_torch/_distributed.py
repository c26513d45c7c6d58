"""Data-parallel training of a streaming fit on ``torch.distributed``.

Each process (rank) streams its own shard of the file's row blocks
(:class:`~._stream.ShuffledBlocks`), trains the same network on batches of
``batch_size / world`` rows, and :class:`~torch.nn.parallel.DistributedDataParallel`
averages the gradients, so that every rank keeps the same weights. The
validation score is averaged over the ranks (each scores its share of the
validation rows), so early stopping stops every rank at the same epoch.
Rank 0 writes the model. Launch with ``torchrun`` (docs/scale.rst).
"""

import os
from datetime import timedelta

import torch
from torch import nn

from ._device import autocast
from ._optim import make_optimizer


class _Body(nn.Module):
    """The network's layers on the input matrix ``[x * visible, visible]``:
    the plain torch path, whose gradients DDP sees (the workspace layers of
    the single-process step write theirs outside autograd)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, inputs):
        return self.net.body(inputs)


class Group:
    """This process's place in the initialised default process group."""

    def __init__(self):
        import torch.distributed as dist

        self.dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def local_batch(self, batch_size):
        """Rows per rank of a global batch of ``batch_size`` (at least 2)."""
        return max(2, int(batch_size) // self.world)

    def step(self, est, networks, view, generator):
        """PMI's training step with DDP: ``(step, optimizers)``."""
        from torch.nn.parallel import DistributedDataParallel

        net = networks["module_"]
        device = view.device
        # one device per process: DDP takes it from the weights when no id
        ids = [device.index] if device.index is not None else None
        model = DistributedDataParallel(_Body(net), device_ids=ids)
        optimizer = make_optimizer(est, net.parameters(), device)
        low, high = est._plan.mask_range

        def step(idx):
            x, mask = view.x, view.mask.to(view.x.dtype)
            p = low + (high - low) * torch.rand((x.shape[0], 1), device=device,
                                                generator=generator)
            keep = torch.rand(x.shape, device=device, generator=generator) < p
            visible = mask * keep
            hidden = mask - visible
            with autocast(est.precision, device):
                out = model(torch.cat([x * visible, visible], dim=1))
            loss = (((out.float() - x) ** 2) * hidden).sum() / hidden.sum().clamp_min(1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach()

        return step, [optimizer]

    def score(self, score, device):
        """``score`` averaged over the ranks: the same value on every rank
        (reduced on ``device``: NCCL reduces CUDA tensors only)."""

        def averaged():
            value = torch.tensor([float(score())], dtype=torch.float64,
                                 device=device)
            self.dist.all_reduce(value)
            return float(value) / self.world

        return averaged


def _write(estimator, output):
    """Dump to a temporary file beside ``output``, then rename it: a reader
    never sees a half-written model."""
    import joblib

    tmp = f"{output}.{os.getpid()}.tmp"
    try:
        joblib.dump(estimator, tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def fit_distributed(estimator, source, output=None, *, backend=None,
                    timeout=600):
    """Fit ``estimator`` (a :class:`~skimpute_gtex.PMIImputer`) on ``source``,
    data-parallel over the processes that ``torchrun`` started.

    Every process calls this with the same estimator parameters and the same
    file. Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) it is
    ``estimator.fit(source)`` in this process.

    Parameters
    ----------
    estimator : PMIImputer
        Unfitted or fitted; fitted in place on every rank.
    source : RowSource or backed AnnData
        The matrix on disk (:mod:`skimpute_gtex.io`); each rank reads only
        its shard of the row blocks, and the validation rows.
    output : str or path-like, optional
        Where rank 0 writes the fitted model (joblib), after every rank
        finished training. Written to a temporary file then renamed: if any
        rank fails, no model file appears.
    backend : str, optional
        ``torch.distributed`` backend when this call starts the process
        group: default ``"nccl"`` with CUDA, ``"gloo"`` on CPUs.
    timeout : float, default=600
        Seconds a collective waits for the other ranks before the run fails
        (a rank that died).

    Returns
    -------
    estimator : PMIImputer
        The fitted estimator (the same on every rank).

    Examples
    --------
    Saved as ``fit.py`` and started with ``torchrun --nproc-per-node 2
    fit.py``, each of the two processes streams half of the file's blocks:

    >>> import anndata  # doctest: +SKIP
    >>> from skimpute_gtex import PMIImputer
    >>> from skimpute_gtex.distributed import fit_distributed
    >>> reference = anndata.read_h5ad("reference.h5ad", backed="r")  # doctest: +SKIP
    >>> fit_distributed(PMIImputer(random_state=0), reference,
    ...                 "model.joblib")  # doctest: +SKIP
    PMIImputer(random_state=0)
    """
    import torch.distributed as dist

    from ..io._sources import as_source
    from ._stream import fit_stream

    source = as_source(source)
    if source is None:
        raise TypeError("fit_distributed reads a matrix on disk: a RowSource "
                        "(skimpute_gtex.io) or a backed AnnData.")
    started = False
    if not dist.is_initialized():
        if "WORLD_SIZE" not in os.environ:  # not launched by torchrun
            estimator.fit(source)
            if output is not None:
                _write(estimator, output)
            return estimator
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
        started = True
    try:
        group = Group()
        estimator._validate_params()
        if group.world == 1:
            estimator.fit(source)
        else:
            before = dict(estimator.__dict__)
            try:
                fit_stream(estimator, source, distributed=group)
            except BaseException:
                estimator.__dict__.clear()
                estimator.__dict__.update(before)
                raise
        dist.barrier()  # every rank trained: only then is the model written
        if group.rank == 0 and output is not None:
            _write(estimator, output)
        dist.barrier()
    finally:
        if started:
            dist.destroy_process_group()
    return estimator

"""Fitting PMIImputer from a matrix on disk, a block of samples at a time.

What differs from an in-memory fit (docs/scale.rst):

* one pass over the file computes the per-gene statistics (count, mean,
  variance merged block by block, min, max) in float64;
* up to ``MAX_VALIDATION_ROWS`` rows are held out for early stopping and
  the gene panels' weights (read into memory once for early stopping);
  every other row trains;
* an epoch visits the row blocks of ``CHUNK_ROWS`` in a random order, a
  few at a time (``BUFFER_CHUNKS``, fewer for wide data: about
  ``BUFFER_ENTRIES`` values), and shuffles the rows of those blocks (a
  shuffle buffer): the rows come in another order than an in-memory fit's
  full shuffle, and an epoch has ``n_train // batch_size`` steps;
* one network, no covariates, no low-rank blend or calibration (each
  needs the whole matrix in memory); the gene-panel mixture's ridge
  regressions come from a random sample of the rows (``PANEL_ENTRIES``
  values, at least ``MAX_RANK`` rows: what an in-memory fit of a reference
  that wide keeps too), weighed on (a sample of) the validation rows.

Memory is bounded by the buffer, the validation rows and the model, not by
the file.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state

from .._compose._panels import fit_panel, weighing_rows
from .._panel import MAX_RANK
from ..utils._progress import Progress, log
from ..utils._random import draw_seed
from ._data import _Data, standardized_rows
from ._device import resolve_device, resolve_precision
from ._ensemble import train_member
from ._plan import make_plan
from ._threads import Threads
from ._training import n_epochs

#: rows per block read from the file
CHUNK_ROWS = 1024
#: blocks whose rows are shuffled together: at most this many, and about
#: BUFFER_ENTRIES values (float32) in all
BUFFER_CHUNKS = 8
BUFFER_ENTRIES = 2**25
#: at most this many rows are held out for early stopping and the gene
#: panels' weights
MAX_VALIDATION_ROWS = 2048
#: values of the random sample of rows that the gene panels' ridge
#: regressions are fitted on (at least MAX_RANK rows); they are weighed on
#: a sample of the validation rows (``weighing_rows``)
PANEL_ENTRIES = 2**23


def _check_streamable(est):
    """Raise on the parameters a streaming fit cannot follow."""
    name = type(est).__name__
    if not hasattr(est, "blend_low_rank"):
        raise TypeError(f"{name} cannot be fitted from a file; PMIImputer can.")
    problems = []
    if est.covariates is not None:
        problems.append("covariates (set covariates=None)")
    if est.add_indicator:
        problems.append("add_indicator=True")
    if not est._nan_marker():
        problems.append(f"missing_values={est.missing_values!r} (files mark "
                        "missing values with NaN)")
    if est.calibration:
        problems.append("calibration=True")
    if est.blend_low_rank is True:
        problems.append("blend_low_rank=True")
    if est.n_estimators not in ("auto", 1):
        problems.append(f"n_estimators={est.n_estimators}")
    if problems:
        raise ValueError(
            f"{name} fitted from a file trains one network on expression alone; "
            f"it cannot use {', '.join(problems)}."
        )


def stream_statistics(source, rows=256):
    """Per-gene ``(count, mean, std, min, max)`` of the observed entries of
    ``source``, in one pass (block means and squared deviations merged as in
    Chan et al.'s parallel variance)."""
    n_genes = source.shape[1]
    count = np.zeros(n_genes)
    mean = np.zeros(n_genes)
    m2 = np.zeros(n_genes)
    low = np.full(n_genes, np.inf)
    high = np.full(n_genes, -np.inf)
    for start in range(0, source.n_samples, rows):
        v = source.read(start, start + rows).astype(np.float64)
        observed = ~np.isnan(v)
        c = observed.sum(axis=0).astype(np.float64)
        safe = np.maximum(c, 1)
        z = np.where(observed, v, 0.0)
        m = z.sum(axis=0) / safe
        d = np.where(observed, v - m, 0.0)
        block_m2 = np.einsum("ij,ij->j", d, d)
        total = count + c
        delta = m - mean
        share = np.divide(c, total, out=np.zeros_like(c), where=total > 0)
        mean = mean + delta * share
        m2 = m2 + block_m2 + delta**2 * count * share
        count = total
        low = np.minimum(low, np.min(v, axis=0, initial=np.inf, where=observed))
        high = np.maximum(high, np.max(v, axis=0, initial=-np.inf,
                                       where=observed))
    std = np.sqrt(np.divide(m2, count, out=np.zeros_like(m2), where=count > 0))
    return count, mean, std, low, high


class _Batch(_Data):
    """The mini-batch a training step reads: its ``rows(idx)`` are rows of
    the block last :meth:`hold`-ed."""

    def __init__(self, n_genes, device):
        self.x = torch.empty((0, n_genes), device=device)
        self.mask = torch.empty((0, n_genes), dtype=torch.bool, device=device)
        self.numeric = torch.empty((0, 0), device=device)
        self.codes = torch.empty((0, 0), dtype=torch.long, device=device)

    def hold(self, x, mask):
        device = self.x.device
        self.x = torch.from_numpy(x).to(device)
        self.mask = torch.from_numpy(mask).to(device)
        n = x.shape[0]
        self.numeric = torch.empty((n, 0), device=device)
        self.codes = torch.empty((n, 0), dtype=torch.long, device=device)
        return torch.arange(n, device=device)


def n_buffer_chunks(n_genes, chunk_rows=CHUNK_ROWS):
    """Blocks in the shuffle buffer: ``BUFFER_CHUNKS``, fewer for wide data
    (about ``BUFFER_ENTRIES`` values), at least 2."""
    return int(np.clip(BUFFER_ENTRIES // (chunk_rows * max(n_genes, 1)), 2,
                       BUFFER_CHUNKS))


class ShuffledBlocks:
    """Mini-batches of training rows read from ``source``, in a shuffle buffer.

    Every epoch permutes the blocks of ``chunk_rows`` rows with a seed that
    all ranks share; rank ``r`` of ``world`` takes every ``world``-th block of
    that order (its shard), reads ``buffer_chunks`` of them at a time into
    one preallocated buffer, drops the validation rows, and yields batches of
    ``batch_size`` rows in an order shuffled with a seed of its own (each a
    copy); the rows left over join the next buffer. The stream never ends:
    the training loop takes ``steps`` batches an epoch, the same number on
    every rank.
    """

    def __init__(self, source, training, mean, scale, batch_size, seed,
                 rank=0, world=1, chunk_rows=CHUNK_ROWS, buffer_chunks=None):
        self.source, self.training = source, training
        self.mean, self.scale = mean, scale
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.rank, self.world = rank, world
        self.chunk_rows = chunk_rows
        self.buffer_chunks = (n_buffer_chunks(source.shape[1], chunk_rows)
                              if buffer_chunks is None else buffer_chunks)
        self.n_chunks = -(-source.n_samples // chunk_rows)
        if self.n_chunks < world:
            raise ValueError(
                f"{source.n_samples} samples make {self.n_chunks} block(s) of "
                f"{chunk_rows} rows, fewer than the {world} processes."
            )

    def __iter__(self):
        n_genes, b = self.source.shape[1], self.batch_size
        size = self.buffer_chunks * self.chunk_rows + b
        x = np.empty((size, n_genes), dtype=np.float32)
        m = np.empty((size, n_genes), dtype=bool)
        n = 0  # rows in the buffer (the first ones carried over)
        epoch = 0
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(
                self.n_chunks)[self.rank::self.world]
            mine = np.random.default_rng([self.seed, epoch, self.rank, 1])
            for g in range(0, len(order), self.buffer_chunks):
                for c in np.sort(order[g:g + self.buffer_chunks]):
                    lo = int(c) * self.chunk_rows
                    block = self.source.read(lo, lo + self.chunk_rows)
                    block = block[self.training[lo:lo + len(block)]]
                    observed = m[n:n + len(block)]
                    np.logical_not(np.isnan(block), out=observed)
                    for sl, z in standardized_rows(block, observed, self.mean,
                                                   self.scale):
                        x[n + sl.start:n + sl.stop] = z
                    n += len(block)
                perm = mine.permutation(n)
                end = n - n % b
                for s in range(0, end, b):
                    yield x[perm[s:s + b]], m[perm[s:s + b]]
                rest = np.sort(perm[end:])
                x[:len(rest)], m[:len(rest)] = x[rest], m[rest]
                n = len(rest)
            epoch += 1


def _fit_statistics(est, source):
    """The input-checking attributes, ``_valid_mask`` and the standardization
    of a fit from ``source``; returns ``(mean, scale, observed fraction)``."""
    n_samples, n_genes = source.shape
    if n_samples < 2:
        raise ValueError(f"n_samples={n_samples}: at least 2 samples are needed.")
    # feature names and counts as an in-memory fit on a frame of the file sets
    head = source.read(0, min(n_samples, 8))
    names = [str(g) for g in source.gene_names]
    est._validate_input(pd.DataFrame(head, columns=names), reset=True)
    count, mean, std, low, high = stream_statistics(source)
    if not count.any():
        raise ValueError("The file has no observed gene value: nothing to learn "
                         "from.")
    valid = est._valid_mask = count > 0
    est.n_genes_ = n_genes
    est.gene_indices_ = est._gene_columns[
        slice(None) if est.keep_empty_features else valid]
    est.indicator_ = None
    mean, scale = est._standardization(mean, std, low, high)
    return mean, scale, float(count[valid].sum() / (n_samples * valid.sum()))


def _validation_rows(est, plan, rng, n_samples):
    """Sorted validation rows (at most ``MAX_VALIDATION_ROWS``), or None:
    for early stopping and for weighing the gene panels."""
    if not (plan.early_stopping or est.gene_panel):
        return None
    n_val = min(int(round(est.validation_fraction * n_samples)),
                MAX_VALIDATION_ROWS)
    if n_val < 2 or n_samples - n_val < 2:
        return None
    return np.sort(rng.choice(n_samples, n_val, replace=False))


def _fit_panels(est, source, training, val_rows, networks, mean, scale, rng):
    """The gene-panel mixture (``fit_panel``, as in memory), from rows read
    from disk: the ridge reference of a random sample of the training rows
    (``PANEL_ENTRIES`` values, at least ``MAX_RANK`` rows), weighed against
    the network on a sample of the validation rows (``weighing_rows``);
    the final reference is that of both samples. Their
    cross-products are scaled to the file's rows."""
    n_samples, n_genes = source.shape
    r = np.random.RandomState(draw_seed(rng))
    train_rows = np.flatnonzero(training)
    size = min(len(train_rows), max(MAX_RANK, PANEL_ENTRIES // n_genes))
    sample = r.choice(train_rows, size, replace=False)
    weighed = r.choice(val_rows, weighing_rows(len(val_rows), n_genes),
                       replace=False)
    rows = np.sort(np.concatenate([sample, weighed]))
    genes = source.take(rows)
    held = np.isin(rows, weighed)
    none = np.zeros((len(rows), 0))
    validated = genes, none, none.astype(np.int64)
    predict = est._predictor(networks, validated, mean, scale)
    return fit_panel(est, genes, ~np.isnan(genes), mean, scale, *validated[1:],
                     np.flatnonzero(~held), np.flatnonzero(held), predict, r,
                     sizes=(len(train_rows), n_samples))


def fit_stream(est, source, *, distributed=None):
    """Fit ``est`` (a PMIImputer) on the rows of ``source``; see the module
    docstring. ``distributed``: a :class:`~._distributed.Group` to train
    data-parallel in (None: this process alone)."""
    _check_streamable(est)
    n_samples, n_genes = source.shape
    mean, scale, observed = _fit_statistics(est, source)
    rng = check_random_state(est.random_state)
    init_seed, train_seed = draw_seed(rng), draw_seed(rng)
    device = resolve_device(est.device)
    plan = replace(make_plan(est, n_samples, observed), blend=False)
    val_rows = _validation_rows(est, plan, rng, n_samples)
    early = plan.early_stopping and val_rows is not None
    est._plan = plan = replace(plan, early_stopping=early)
    training = np.ones(n_samples, dtype=bool)
    if val_rows is not None:
        training[val_rows] = False
    n_train = int(training.sum())
    world = 1 if distributed is None else distributed.world
    rank = 0 if distributed is None else distributed.rank
    batch_size = plan.batch(n_train)
    if distributed is not None:
        batch_size = distributed.local_batch(batch_size)
    steps = max(1, n_train // (batch_size * world))
    epochs = n_epochs(est.max_iter, None if early else est.max_steps, steps)
    stream_seed = draw_seed(rng)
    val_seed = draw_seed(rng) if early else None

    threads = Threads(est.n_jobs, cpu=device.type == "cpu",
                      adapt=est.n_jobs is None and plan.large and world == 1)
    with threads:
        val_data = None
        if early:  # each rank scores its share
            mine = val_rows[rank::world]
            block = source.take(mine)
            none = np.zeros((len(mine), 0))
            val_data = _Data(block, ~np.isnan(block), mean, scale,
                             np.arange(len(mine)), none,
                             none.astype(np.int64), device)
            del block
        view = _Batch(n_genes, device)
        stream = iter(ShuffledBlocks(source, training, mean, scale, batch_size,
                                     stream_seed, rank, world))

        def epoch_batches():
            for _ in range(steps):
                yield view.hold(*next(stream))

        log(est, est.verbose >= 2,
            f"training on {n_train} samples x {n_genes} genes from "
            f"{type(source).__name__}, {world} process(es), device={device}")
        progress = Progress(est, 1, epochs) if rank == 0 else None
        networks, history = train_member(
            est, (n_genes, 0, []), view, val_data, val_seed, init_seed,
            train_seed + rank, device, batch_size, epochs, progress,
            threads=threads, group=distributed, epoch_batches=epoch_batches)
        if progress is not None:
            progress.close(f"trained 1 network on {n_train} samples x {n_genes} "
                           f"genes streamed from disk, {history.n_iter} epochs")
        # training's memory (shuffle buffer, validation copies) goes first
        stream.close()
        val_data = view = None
        panel = None
        if est.gene_panel and val_rows is not None:
            panel = _fit_panels(est, source, training, val_rows, networks,
                                mean, scale, rng)
    est._set_networks([networks])
    est._set_blend((None, panel))  # no low-rank blend
    est.mean_, est.scale_ = mean, scale
    est._set_history([history])
    est.precision_ = resolve_precision(est.precision, device)
    est._thread_choices = threads.choices
    est._set_calibration(None, None, None, None, init_seed)
    return est

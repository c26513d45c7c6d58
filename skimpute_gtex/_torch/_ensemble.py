"""Training the ensemble of a deep imputer's fit.

Functions of the estimator (``est``), called by
:class:`~._estimator._BaseTorchImputer`: the networks of an ensemble, each
trained by :func:`~._training.train` with its own seeds, concurrently where
CPU threads allow, cross-fitted (:mod:`._crossfit`) when the fit needs
out-of-sample predictions, and averaged.
"""

import numpy as np
import torch

from ..utils._progress import Progress, log
from ..utils._random import draw_seed
from ._crossfit import CrossFit
from ._data import _PREDICT_CHUNK
from ._device import autocast, make_generator
from ._networks import AveragedNetworks, build, set_generator
from ._training import n_batches, n_epochs, train, train_members


def build_networks(est, n_genes, n_numeric, vocab_sizes, generator):
    """``{attribute: module}`` of the networks, initialised from generator."""
    return {
        name: build(factory, generator)
        for name, factory in est._build(n_genes, n_numeric, vocab_sizes).items()
        if factory is not None
    }


def validation_score(est, networks, data, generator_seed):
    """R² of held-out observed entries hidden once with a fixed pseudo-mask.

    The score is ``1 - SSE / SS``, both summed over the hidden entries in
    standardized units (so 0 is as good as the training mean of each gene).
    The networks predict in the training's precision (under bfloat16
    autocast when training uses it), as training does; ``transform``
    predicts in float32.
    """
    x, numeric, codes = data.x, data.numeric, data.codes
    mask = data.mask.to(x.dtype)
    g = make_generator(generator_seed, "cpu")
    low, high = est._plan.mask_range
    p = low + (high - low) * torch.rand((x.shape[0], 1), generator=g)
    keep = (torch.rand(x.shape, generator=g) < p).to(x.device, x.dtype)
    visible = mask * keep
    hidden = mask - visible
    if float(hidden.sum()) == 0:
        return lambda: 0.0
    # the denominator does not change between epochs
    ss = (((x**2) * hidden).double()).sum().clamp_min(1e-12)

    def score():
        with autocast(est.precision, x.device):
            pred = torch.cat([
                est._predict(networks, *chunk)
                for chunk in zip(
                    x.split(_PREDICT_CHUNK),
                    visible.split(_PREDICT_CHUNK),
                    numeric.split(_PREDICT_CHUNK),
                    codes.split(_PREDICT_CHUNK),
                )
            ])
        sse = (((pred - x) ** 2) * hidden).double().sum()
        return 1.0 - float(sse / ss)

    return score


def train_ensemble(est, data, val_data, rng, first_seeds, device, threads):
    """Train the ensemble; returns ``(members, histories, crossfit)``."""
    plan = est._plan
    n_rows, n_genes = data.shape
    vocab_sizes = [len(c) for c in est.categories_] if data.codes.shape[1] else []
    shape = (n_genes, data.numeric.shape[1], vocab_sizes)
    # one network's schedule: the step budget applies without early stopping
    batch_size = plan.batch(n_rows)
    steps_per_epoch = n_batches(n_rows, batch_size)
    epochs = n_epochs(
        est.max_iter, None if val_data is not None else est.max_steps,
        steps_per_epoch,
    )
    n_members = plan.n_members(steps_per_epoch)
    val_seed = draw_seed(rng) if val_data is not None else None
    crossfit = None
    by_rows = plan.cross_fit == "rows"
    if plan.cross_fit and CrossFit.possible(n_rows, n_members, by_rows):
        # a seed of its own, derived without drawing from the fit's stream
        crossfit = CrossFit(data, n_members, by_rows,
                            draw_seed(np.random.RandomState(first_seeds[0])),
                            n_crossed=n_members if plan.cross_fit_all else 1)
    log(est, est.verbose >= 2,
        f"training {n_members} network(s) on {n_rows} samples x "
        f"{n_genes} genes, device={device}")
    progress = Progress(est, n_members, epochs)
    # every network's seeds before any trains: the networks may train
    # concurrently (train_members), in any order
    seeds = [first_seeds] + [
        (draw_seed(rng), draw_seed(rng)) for _ in range(n_members - 1)
    ]

    def train_one(k, member_threads):
        return train_member(
            est, shape,
            data if crossfit is None else crossfit.member_data(data, k),
            val_data, val_seed, *seeds[k], device,
            batch_size, epochs, progress, k, member_threads or threads,
        )

    cpu_threads = (threads.limit or torch.get_num_threads()
                   if device.type == "cpu" else 1)
    one_each = (est.n_jobs is None and not plan.large
                and device.type == "cpu")
    trained = train_members(train_one, n_members, cpu_threads,
                            adapt=est.n_jobs is None and plan.large,
                            per_network=1 if one_each else None)
    members = [networks for networks, _ in trained]
    histories = [history for _, history in trained]
    covs = ", ".join(name for name, _, _ in est._covariates_resolved)
    progress.close(
        f"trained {n_members} network(s) on {n_rows} samples x "
        f"{n_genes} genes (covariates: {covs or 'none'}), "
        f"{sum(h.n_iter for h in histories)} epochs"
    )
    return members, histories, crossfit


def train_member(est, shape, data, val_data, val_seed, init_seed, train_seed,
                 device, batch_size, epochs, progress=None, index=0,
                 threads=None, group=None, epoch_batches=None):
    """Train one set of networks; returns ``(networks, history)`` on the CPU.

    A streaming fit (``_stream.py``) passes its ``epoch_batches`` (``data``
    then holds the current batch) and, to train data-parallel, its
    :class:`~._distributed.Group`: the group's training step, and the
    validation score averaged over the processes.
    """
    generator = make_generator(train_seed, device)
    # the initial weights do not depend on the device: drawn on the CPU
    networks = build_networks(est, *shape, make_generator(init_seed, "cpu"))
    try:
        for m in networks.values():
            m.to(device)
            set_generator(m, generator)
        if group is None:
            step, optimizers = est._make_step(networks, data, generator)
        else:
            step, optimizers = group.step(est, networks, data, generator)
        score = None
        if val_data is not None:
            score = validation_score(est, networks, val_data, val_seed)
            if group is not None:
                score = group.score(score, device)
        history = train(
            est, modules=networks, step=step, optimizers=optimizers,
            validation_score=score, n_rows=data.shape[0],
            batch_size=batch_size, epochs=epochs, device=device,
            generator=generator, progress=progress, network=index,
            threads=threads, epoch_batches=epoch_batches,
        )
    finally:
        # portable pickles, and no generator left inside the modules
        for m in networks.values():
            set_generator(m, None)
            m.to("cpu")
    return networks, history


def combined(est, members):
    """``{network name: the network, or the average of the members'}``."""
    out = {}
    for name in est._network_names:
        nets = [m[name] for m in members if m.get(name) is not None]
        out[name] = None
        if nets:
            out[name] = nets[0] if len(nets) == 1 else AveragedNetworks(nets)
    return out

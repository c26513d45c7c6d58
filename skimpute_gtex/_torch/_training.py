"""The training loop shared by the deep imputers.

The loop knows nothing about the models: it draws mini-batches of row indices
from the estimator's generator, calls the model's ``step``, keeps an
exponential moving average (EMA) of the weights, tracks the losses and, under
early stopping, scores the (averaged) weights on validation data and keeps the
best ones on the CPU. Stopping is ordinary control flow; a
``KeyboardInterrupt`` propagates to the caller untouched.
"""

import math
import threading
import time
import warnings
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ..utils._progress import log
from ._threads import Threads

_MAX_DECAYS = 2  # adaptive learning rate: plateaus before stopping


@dataclass
class History:
    """What one training run recorded."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    n_iter: int = 0
    n_steps: int = 0
    best_validation_score: float = None
    converged: bool = False


def n_batches(n_rows, batch_size):
    """Number of mini-batches :func:`batches` makes of ``n_rows`` rows."""
    n = math.ceil(n_rows / batch_size)
    if n > 1 and n_rows % batch_size == 1:
        n -= 1
    return n


def even_batch_size(n_rows, batch_size):
    """The size near ``batch_size`` that splits ``n_rows`` into equal batches.

    ``ceil(n_rows / k)`` rows for ``k = round(n_rows / batch_size)`` (at
    least one): ``k`` batches (at most; exactly when a batch has at least
    ``k`` rows), all of that size but the last, which is smaller by less
    than their number. 2,700 rows and 512 give five batches of 540 instead
    of five of 512 and one of 140. A small last batch costs a whole
    optimisation step (the optimiser's and the weight average's passes over
    every weight, the weight casts) for few rows, and gives a noisy
    gradient and noisy batch statistics.
    """
    k = max(1, math.floor(n_rows / batch_size + 0.5))
    return math.ceil(n_rows / k)


def batches(n_rows, batch_size, generator):
    """Shuffled mini-batches of row indices; a trailing single row is merged.

    BatchNorm cannot normalise a batch of one row, so a last batch of size 1
    joins the batch before it.
    """
    perm = torch.randperm(n_rows, generator=generator, device=generator.device)
    chunks = list(torch.split(perm, batch_size))
    if len(chunks) > 1 and chunks[-1].numel() == 1:
        last = chunks.pop()
        chunks[-1] = torch.cat([chunks[-1], last])
    return chunks


def n_epochs(max_iter, max_steps, steps_per_epoch):
    """Epochs to run: ``max_iter``, or fewer when ``max_steps`` is reached first.

    The step budget is rounded up to whole epochs.
    """
    if max_steps is None:
        return max_iter
    return min(max_iter, math.ceil(max_steps / max(steps_per_epoch, 1)))


class WeightAverage:
    """Exponential moving average of the parameters and float buffers.

    After step ``t`` the average moves towards the live weights with weight
    ``1 - min(decay, (1 + t) / (10 + t))``: the warm-up keeps the first steps
    from being dominated by the initial weights.
    """

    def __init__(self, modules, decay):
        self.decay = float(decay)
        self.live = [
            t
            for m in modules.values()
            for t in [*m.parameters(), *m.buffers()]
            if t.is_floating_point()
        ]
        self.shadow = [t.detach().clone() for t in self.live]
        self.n_updates = 0

    @torch.no_grad()
    def update(self):
        self.n_updates += 1
        t = self.n_updates
        weight = 1.0 - min(self.decay, (1.0 + t) / (10.0 + t))
        for s, v in zip(self.shadow, self.live):
            s.lerp_(v.detach(), weight)

    @torch.no_grad()
    def copy_to_live(self):
        for s, v in zip(self.shadow, self.live):
            v.copy_(s)

    @contextmanager
    def applied(self):
        """Run a block with the averaged weights in the modules.

        The modules' tensors trade memory with the averages for the block
        (nothing is copied) and trade back after it; the block must not
        change them.
        """
        self._trade()
        try:
            yield
        finally:
            self._trade()

    @torch.no_grad()
    def _trade(self):
        for k, v in enumerate(self.live):
            self.shadow[k], v.data = v.data, self.shadow[k]


def _cpu_state(modules, into=None):
    """The modules' state dicts copied to the CPU, into ``into``'s tensors
    when given (a previous result: no new memory, whose pages a fresh copy
    of every weight would fault in again at each improvement)."""
    if into is None:
        return {
            name: {k: v.detach().to("cpu", copy=True)
                   for k, v in m.state_dict().items()}
            for name, m in modules.items()
        }
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            into[name][k].copy_(v.detach())
    return into


def _decay_learning_rate(optimizers):
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["lr"] / 10.0


def train(
    estimator,
    *,
    modules,
    step,
    optimizers,
    validation_score,
    n_rows,
    batch_size,
    epochs,
    device,
    generator,
    progress=None,
    network=0,
    threads=None,
    epoch_batches=None,
):
    """Run the epochs of ``estimator``'s training.

    Parameters
    ----------
    estimator : _BaseTorchImputer
        Supplies ``max_iter`` (for the convergence warning), ``ema_decay``,
        ``tol``, ``n_iter_no_change``, ``learning_rate`` and ``verbose``; used
        for messages.
    modules : dict of str to nn.Module
        Everything that is trained; switched between train and eval mode,
        averaged, and whose best weights are restored under early stopping.
    step : callable
        ``step(idx) -> loss`` does one optimisation step on the rows ``idx``
        and returns the detached batch loss (a 0-d tensor).
    optimizers : list of torch.optim.Optimizer
        Their learning rate is divided by 10 at a plateau of the validation
        score when ``estimator.learning_rate == "adaptive"``.
    validation_score : callable or None
        Early stopping: returns the validation score (greater is better) in
        eval mode. None trains for the whole budget.
    n_rows : int
        Number of training rows.
    batch_size : int
        Rows per mini-batch, at most ``n_rows``.
    epochs : int
        Epochs to run at most (early stopping may end training sooner); the
        estimator computes them from ``max_iter`` and, without early stopping,
        the step budget ``max_steps`` (:func:`n_epochs`).
    device : torch.device
    generator : torch.Generator
        On ``device``; decides the mini-batches.
    progress : Progress or None
        Told about every epoch.
    network : int
        Which of the estimator's networks this is (for ``progress``).
    threads : Threads or None
        Told about every step (it may change the CPU thread count).
    epoch_batches : callable or None
        ``epoch_batches()`` returns the batches of one epoch (what ``step``
        takes, each with a ``numel()``); by default :func:`batches` of
        ``n_rows`` shuffled rows (a streaming fit passes its own).

    Returns
    -------
    history : History
    """
    est = estimator
    history = History()
    average = (
        WeightAverage(modules, est.ema_decay) if est.ema_decay is not None else None
    )
    stopper = None if validation_score is None else _Stopper(est, modules, optimizers)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        epoch_rows = (batches(n_rows, batch_size, generator)
                      if epoch_batches is None else epoch_batches())
        loss = _epoch(est, modules, step, epoch_rows, device, history, average,
                      threads)
        if not np.isfinite(loss):
            raise ValueError(
                f"{type(est).__name__} diverged: the training loss became "
                f"{loss} at epoch {epoch + 1}. Lower learning_rate_init or "
                "check the input for extreme values."
            )
        history.loss_curve.append(loss)
        history.n_iter = epoch + 1
        message = f"epoch {epoch + 1:4d}/{epochs}  loss {loss:.5f}"
        per_epoch = est.verbose >= 2
        if stopper is None:
            log(est, per_epoch, f"{message}  ({time.perf_counter() - t0:.2f}s)")
            if progress is not None:
                progress.update(network, epoch + 1)
            continue

        for m in modules.values():
            m.eval()
        with torch.no_grad(), (average.applied() if average else nullcontext()):
            score = float(validation_score())
            stopper.record(score)
        history.validation_scores.append(score)
        message += f"  validation R2 {score:.4f}"
        log(est, per_epoch, f"{message}  ({time.perf_counter() - t0:.2f}s)")
        if progress is not None:
            progress.update(network, epoch + 1, score)
        action = stopper.after(score)
        if action == "decay":
            if average is not None:
                average = WeightAverage(modules, est.ema_decay)
            log(est, per_epoch, "plateau: learning rate divided by 10")
        elif action == "stop":
            history.converged = True
            if progress is not None:
                progress.stop(epoch + 1)
            log(est, per_epoch,
                f"stopping: no improvement above tol={est.tol} for "
                f"{est.n_iter_no_change} epochs")
            break

    if stopper is not None:
        history.best_validation_score = stopper.best_score
        stopper.restore_best()
        if not history.converged and epochs == est.max_iter and epochs > 0:
            warnings.warn(
                f"{type(est).__name__}: max_iter={est.max_iter} epochs reached "
                "before the early-stopping criterion was met; increase max_iter.",
                ConvergenceWarning,
            )
    elif average is not None:
        average.copy_to_live()
    for m in modules.values():
        m.eval()
    return history


def _epoch(est, modules, step, epoch_rows, device, history, average, threads):
    """One pass over the mini-batches; returns the mean loss per row."""
    for m in modules.values():
        m.train()
    total_loss = torch.zeros((), device=device)
    count = 0
    for idx in epoch_rows:
        total_loss += step(idx) * idx.numel()
        count += idx.numel()
        history.n_steps += 1
        if average is not None:
            average.update()
        if threads is not None:
            threads.step()
    return float(total_loss) / count


class _Stopper:
    """Early stopping on the validation score, with the adaptive learning rate.

    Keeps the best score and (on the CPU) the weights that gave it. After
    ``n_iter_no_change`` epochs without an improvement above ``tol``:
    ``learning_rate="adaptive"`` goes back to the best weights and divides
    the learning rate by 10, at most ``_MAX_DECAYS`` times; then training
    stops.
    """

    def __init__(self, est, modules, optimizers):
        self.est, self.modules, self.optimizers = est, modules, optimizers
        self.best_score = -np.inf
        self.best_state = None
        self.no_improvement = 0
        self.n_decays = 0

    def record(self, score):
        """Keep the weights (in eval mode, maybe averaged) if ``score`` is best."""
        if score > self.best_score:
            self.best_state = _cpu_state(self.modules, into=self.best_state)

    def after(self, score):
        """``"continue"``, ``"decay"`` (weights reset, rate lowered) or ``"stop"``."""
        est = self.est
        improved = score > self.best_score + est.tol
        self.no_improvement = 0 if improved else self.no_improvement + 1
        self.best_score = max(self.best_score, score)
        if self.no_improvement < est.n_iter_no_change:
            return "continue"
        if est.learning_rate == "adaptive" and self.n_decays < _MAX_DECAYS:
            # plateau: go back to the best weights and take smaller steps
            self.n_decays += 1
            self.no_improvement = 0
            self.restore_best()
            _decay_learning_rate(self.optimizers)
            return "decay"
        return "stop"

    def restore_best(self):
        if self.best_state is not None:
            for name, m in self.modules.items():
                m.load_state_dict(self.best_state[name])


def train_members(train_one, n_members, n_threads, adapt=False,
                  per_network=None):
    """``[train_one(k, threads) for k in range(n_members)]``, maybe in threads.

    With ``n_members > 1`` and ``n_threads > 1`` CPU threads to use, the
    networks of an ensemble train concurrently in ``min(n_members,
    n_threads)`` Python threads, which share the CPU threads between them
    (``per_network`` each if given; :class:`~._threads.Threads`, adaptive
    within each if ``adapt``). Independent networks need no synchronisation:
    on two cores two of them train in about the time of one, where two
    threads on one network's small products gain far less, and beside a busy
    process no thread spin-waits for another. torch releases the GIL in its
    kernels. Each network draws from its own generators, seeded before any
    starts, so the networks are the same as trained one after the other
    with as many threads each. If one raises (or the caller is interrupted),
    the others stop at their next step and the first error propagates.

    ``train_one(k, threads)`` trains network ``k``; ``threads`` is the
    :class:`~._threads.Threads` of its thread, to be told about every step,
    or None when called serially without ``per_network`` (the caller's own
    ``Threads`` applies).
    """
    n_workers = min(n_members, n_threads)
    if n_workers <= 1:
        if per_network is None:
            return [train_one(k, None) for k in range(n_members)]
        with Threads(per_network) as threads:
            return [train_one(k, threads) for k in range(n_members)]
    stop = threading.Event()
    per_worker = per_network or n_threads // n_workers

    def job(k):
        with Threads(per_worker, adapt=adapt, stop=stop) as threads:
            return train_one(k, threads)

    pool = ThreadPoolExecutor(max_workers=n_workers,
                              thread_name_prefix="skimpute_gtex-network")
    try:
        futures = [pool.submit(job, k) for k in range(n_members)]
        # the first failure, not the first network's end, is waited for
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception()), None)
        if failed is not None:
            failed.result()  # raises its exception: the others stop below
        return [f.result() for f in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

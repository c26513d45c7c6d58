"""The training loop shared by the deep imputers.

The loop knows nothing about the models: it draws mini-batches of row indices,
calls the model's ``step``, tracks the losses, runs early stopping on a
validation score and keeps the best weights on the CPU. Stopping is ordinary
control flow; a ``KeyboardInterrupt`` propagates to the caller untouched.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

_MAX_DECAYS = 2  # adaptive learning rate: plateaus before stopping


def log(estimator, verbose, message):
    """The one place that prints progress (behind ``verbose``)."""
    if verbose:
        print(f"[{type(estimator).__name__}] {message}", flush=True)


@dataclass
class History:
    """What one training run recorded."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    n_iter: int = 0
    best_validation_score: float = None
    converged: bool = False


def batches(n_rows, batch_size, device):
    """Shuffled mini-batches of row indices; a trailing single row is merged.

    BatchNorm cannot normalise a batch of one row, so a last batch of size 1
    joins the batch before it.
    """
    perm = torch.randperm(n_rows, device=device)
    chunks = list(torch.split(perm, batch_size))
    if len(chunks) > 1 and chunks[-1].numel() == 1:
        last = chunks.pop()
        chunks[-1] = torch.cat([chunks[-1], last])
    return chunks


def _cpu_state(modules):
    return {
        name: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
        for name, m in modules.items()
    }


def train(
    estimator,
    *,
    modules,
    step,
    optimizers,
    validation_score,
    n_rows,
    device,
):
    """Run the epochs of ``estimator``'s training.

    Parameters
    ----------
    estimator : _BaseTorchImputer
        Supplies ``batch_size``, ``max_iter``, ``tol``, ``n_iter_no_change``,
        ``early_stopping`` and ``verbose``; used for messages.
    modules : dict of str to nn.Module
        Everything that is trained; switched between train and eval mode, and
        whose best weights are restored under early stopping.
    step : callable
        ``step(idx) -> loss`` does one optimisation step on the rows ``idx``
        and returns the detached batch loss (a 0-d tensor).
    optimizers : list of torch.optim.Optimizer
        Their learning rate is divided by 10 at a plateau when
        ``estimator.learning_rate == "adaptive"``.
    validation_score : callable or None
        Returns the validation score (greater is better) in eval mode.
    n_rows : int
        Number of training rows.
    device : torch.device

    Returns
    -------
    history : History
    """
    est = estimator
    history = History()
    batch_size = min(est._batch_size(n_rows), n_rows)
    best_score = -np.inf
    best_state = None
    no_improvement = 0
    n_decays = 0
    for epoch in range(est.max_iter):
        t0 = time.perf_counter()
        for m in modules.values():
            m.train()
        total = torch.zeros((), device=device)
        count = 0
        for idx in batches(n_rows, batch_size, device):
            total += step(idx) * idx.numel()
            count += idx.numel()
        loss = float(total) / count
        if not np.isfinite(loss):
            raise ValueError(
                f"{type(est).__name__} diverged: the training loss became "
                f"{loss} at epoch {epoch + 1}. Lower learning_rate_init or "
                "check the input for extreme values."
            )
        history.loss_curve.append(loss)
        history.n_iter = epoch + 1

        if validation_score is not None:
            for m in modules.values():
                m.eval()
            with torch.no_grad():
                score = float(validation_score())
            history.validation_scores.append(score)
        else:
            score = -loss
        message = f"epoch {epoch + 1:4d}  loss {loss:.5f}"
        if validation_score is not None:
            message += f"  validation R2 {score:.4f}"
        log(est, est.verbose, f"{message}  ({time.perf_counter() - t0:.2f}s)")

        if score > best_score + est.tol:
            no_improvement = 0
        else:
            no_improvement += 1
        if score > best_score:
            best_score = score
            if validation_score is not None:
                best_state = _cpu_state(modules)
        if no_improvement >= est.n_iter_no_change:
            if est.learning_rate == "adaptive" and n_decays < _MAX_DECAYS:
                # plateau: go back to the best weights and take smaller steps
                n_decays += 1
                no_improvement = 0
                if best_state is not None:
                    for name, m in modules.items():
                        m.load_state_dict(best_state[name])
                for opt in optimizers:
                    for group in opt.param_groups:
                        group["lr"] = group["lr"] / 10.0
                log(est, est.verbose, "plateau: learning rate divided by 10")
                continue
            history.converged = True
            log(
                est,
                est.verbose,
                f"stopping: no improvement above tol={est.tol} for "
                f"{est.n_iter_no_change} epochs",
            )
            break

    if validation_score is not None:
        history.best_validation_score = best_score
        if best_state is not None:
            for name, m in modules.items():
                m.load_state_dict(best_state[name])
    for m in modules.values():
        m.eval()
    if not history.converged and est.max_iter > 0:
        warnings.warn(
            f"{type(est).__name__}: max_iter={est.max_iter} epochs reached "
            "before the stopping criterion was met; increase max_iter.",
            ConvergenceWarning,
        )
    return history

"""Optimiser construction: Adam, fused where torch supports it."""

import torch


def make_optimizer(estimator, params, device):
    """Adam (or AdamW when ``weight_decay > 0``) with ``learning_rate_init``.

    The fused implementation runs the whole update in one kernel per
    parameter group; it exists for CPU and CUDA tensors in torch >= 2.4. Older
    torch falls back to the multi-tensor (``foreach``) implementation.
    """
    cls = torch.optim.AdamW if estimator.weight_decay > 0 else torch.optim.Adam
    kwargs = {
        "lr": estimator.learning_rate_init,
        "weight_decay": estimator.weight_decay,
    }
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, foreach=True, **kwargs)

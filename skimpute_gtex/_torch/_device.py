"""Device resolution and random-number handling for the torch core."""

import re
from functools import lru_cache

import numpy as np
import torch

_CUDA_RE = re.compile(r"^cuda(:\d+)?$")


def resolve_device(device):
    """Turn the ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` picks the first CUDA device when one is available and the CPU
    otherwise. Asking for CUDA where there is none is an error, not a silent
    fallback.
    """
    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device)
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if _CUDA_RE.match(name):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on "
                "this machine; use device='cpu' or device='auto'."
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
        return dev
    raise ValueError(
        f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
    )


def make_generator(seed, device):
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``.

    The estimators draw every random number of a fit from generators like this
    one; torch's global generators are never read or reseeded, so two fits
    running in threads do not interfere and the caller's random state is left
    as it was.
    """
    device = torch.device(device)
    return torch.Generator(device=device).manual_seed(int(seed))


def as_tensor(array, device, dtype=torch.float32):
    """Copy a NumPy array into a contiguous tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)


def bf16_supported(device):
    """Whether ``device`` runs bfloat16 matrix products natively.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN's check for
    AVX512-BF16 or AMX (without them bfloat16 is emulated and slower). The
    answer is a property of the machine, asked once per device: ``autocast``
    runs in every training step.
    """
    return _bf16_supported(str(torch.device(device)))


@lru_cache(maxsize=None)
def _bf16_supported(device):
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision, device):
    """``"float32"`` or ``"bfloat16"``: what ``precision`` means on ``device``.

    ``"auto"`` is bfloat16 where :func:`bf16_supported` and float32 elsewhere.
    """
    if precision == "auto":
        return "bfloat16" if bf16_supported(device) else "float32"
    return precision


def autocast(precision, device):
    """Autocast context for the forward pass: bfloat16 matmuls or none.

    ``precision`` is ``"float32"`` (no autocast), ``"bfloat16"`` or ``"auto"``
    (:func:`resolve_precision`). Weights stay float32 (the optimizer updates
    float32 master weights) and callers compute the loss in float32.
    """
    device = torch.device(device)
    use = resolve_precision(precision, device) == "bfloat16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use)


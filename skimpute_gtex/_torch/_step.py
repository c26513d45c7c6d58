"""Pieces of PMI's training step: the sampler of visible entries and the
masked loss (a custom autograd function whose workspace pays at GTEx width:
docs/benchmarks.rst, "Custom training code"; a test compares it with the plain
expression)."""

import torch

from ._networks import Workspace, bernoulli_int16, numpy_generator


def _keep_sampler(generator, device):
    """``draw(p, shape, out=None)``: booleans that are True with probability
    ``p`` (one per row), drawn from ``generator``'s stream (into ``out``).

    On CUDA these are ``rand(shape) < p`` on the device; on the CPU they come
    from a NumPy generator seeded from ``generator``
    (:func:`~._networks.bernoulli_int16`: torch's CPU uniforms would take a
    tenth of a training step).
    """
    if device.type != "cpu":
        def draw(p, shape, out=None):
            return torch.lt(torch.rand(shape, generator=generator, device=device),
                            p, **({} if out is None else {"out": out}))

        return draw
    rng = numpy_generator(generator)

    def draw(p, shape, out=None):
        return bernoulli_int16(rng, p, shape, out)

    return draw


class _MaskedSquaredError(torch.autograd.Function):
    """``(((out - x) ** 2) * hidden).sum() / max(hidden.sum(), 1)`` in
    float32, with ``hidden`` 0/1 (uint8), in one pass less than autograd's
    composition and its batch-sized temporaries in a workspace.

    Forward keeps ``d = (out - x) * hidden`` (float32); backward scales it
    into the gradient of ``out`` (in ``out``'s dtype), leaving ``d`` as it
    was, so that a second backward (``retain_graph=True``) is right. With a
    :class:`~._networks.Workspace` its batch-sized temporaries reuse memory
    (at GTEx width, fresh ones are paid for in page faults every step).
    """

    @staticmethod
    def forward(ctx, out, x, hidden, ws=None):
        ws = Workspace() if ws is None else ws
        d = ws.get("loss_d", x.shape, torch.float32, x.device)
        # out's values in float32, exactly, then x subtracted: the same as
        # torch.sub(out, x), which casts out into a temporary first
        d.copy_(out).sub_(x)
        d.mul_(hidden)
        n = torch.count_nonzero(hidden).clamp_min(1).to(d.dtype)  # fastest
        ctx.save_for_backward(d, n)
        ctx.out_dtype, ctx.ws = out.dtype, ws
        squares = ws.get("loss_squares", x.shape, torch.float32, x.device)
        return torch.mul(d, d, out=squares).sum() / n

    @staticmethod
    def backward(ctx, grad):
        d, n = ctx.saved_tensors
        # into the forward's squares, free once the loss was summed
        scaled = torch.mul(d, 2.0 * grad / n, out=ctx.ws.get(
            "loss_squares", d.shape, torch.float32, d.device))
        if ctx.out_dtype == d.dtype:
            return scaled, None, None, None
        g = ctx.ws.get("loss_grad", d.shape, ctx.out_dtype, d.device)
        return g.copy_(scaled), None, None, None

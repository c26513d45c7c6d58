"""The networks of the two models: nn.Module classes only.

Nothing here reads torch's global random number generators. Networks are
built on the ``meta`` device (no memory, no random draws) and initialised by
:func:`init_parameters` from a :class:`torch.Generator` the estimator owns;
:class:`Dropout` draws its masks from the generator set on it for training.
"""

import math

import numpy as np
import torch
from torch import nn


def embedding_dim(vocab_size):
    """Embedding width of Viñas et al.: floor(sqrt(vocab_size)) + 1."""
    return int(math.floor(math.sqrt(vocab_size))) + 1


def bernoulli_int16(rng, p, shape, out=None):
    """Booleans of ``shape`` that are True with probability ``p`` (a float,
    or a tensor that broadcasts to ``shape``), drawn from the NumPy
    generator ``rng`` (into ``out``).

    On the CPU torch's generator draws uniforms on one thread, slowly
    enough to be a noticeable part of a training step. Here each 64-bit word
    of ``rng``'s bit generator (PCG64) is read as four 16-bit integers ``r``
    (faster than both torch's uniforms and ``rng.integers``), and
    ``r < min(floor(65536 p) - 32768, 32767)`` is True with probability
    within 2e-5 of ``p`` (compared in int16, which is faster than int32).
    """
    n = math.prod(shape)
    words = rng.bit_generator.random_raw((n + 3) // 4)
    r = torch.from_numpy(words.view(np.int16)[:n].reshape(shape))
    if isinstance(p, torch.Tensor):
        threshold = (p.double() * 65536.0).floor().sub_(32768.0).clamp_(
            max=32767.0).to(torch.int16)
    else:
        threshold = min(math.floor(65536.0 * p) - 32768, 32767)
    return torch.lt(r, threshold, **({} if out is None else {"out": out}))


def numpy_generator(generator):
    """A NumPy generator seeded with one draw from the torch ``generator``."""
    return np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))


class Dropout(nn.Module):
    """Inverted dropout whose masks come from ``self.generator``.

    :class:`torch.nn.Dropout` draws from torch's global generator, which two
    fits running in threads would share; this one draws from the generator the
    training loop assigns (and removes) around training: on the CPU from a
    NumPy generator seeded by its first draw (:func:`bernoulli_int16`, a
    fifth of the time of torch's uniforms), on other devices from the
    generator itself. In eval mode it is the identity.
    """

    def __init__(self, p):
        super().__init__()
        self.p = float(p)
        self.generator = None
        self._rng = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        return x * self.keep(x.shape, x.device).to(x.dtype) / (1.0 - self.p)

    def keep(self, shape, device):
        """A boolean mask of ``shape``, True with probability ``1 - p``."""
        if self.generator is None:
            raise RuntimeError(
                "Dropout in training mode needs a generator (set by the training "
                "loop); torch's global generator is never used."
            )
        if torch.device(device).type == "cpu":
            if getattr(self, "_rng", None) is None:
                self._rng = numpy_generator(self.generator)
            return bernoulli_int16(self._rng, 1.0 - self.p, shape)
        noise = torch.rand(shape, generator=self.generator, device=device)
        return noise >= self.p

    def extra_repr(self):
        return f"p={self.p}"


class Workspace:
    """Tensors that training steps reuse instead of allocating anew.

    ``get(key, shape, dtype, device)`` returns a contiguous tensor of that
    shape: the same memory every call with the same key, grown when a call
    asks for more rows (the last mini-batch of an epoch may have one more),
    else a view of its first rows. On the CPU torch takes a tensor's memory
    from the C library, which hands blocks of more than 32 MB (and, as its
    heap shrinks, smaller ones) back to the system when they are freed, so
    every fresh one is paid for again in page faults, a large part of a
    step's time at GTEx width. A workspace is owned by one training run;
    nothing in it outlives the step that wrote it, except weight gradients
    (``.grad``).
    """

    def __init__(self):
        self.tensors = {}

    def get(self, key, shape, dtype, device):
        t = self.tensors.get(key)
        if (t is None or t.dtype != dtype or t.device != torch.device(device)
                or t.shape[1:] != tuple(shape[1:]) or t.shape[0] < shape[0]):
            t = self.tensors[key] = torch.empty(shape, dtype=dtype, device=device)
        return t if t.shape[0] == shape[0] else t[:shape[0]]


class Linear(nn.Linear):
    """:class:`torch.nn.Linear` with a training product in a workspace."""

    def forward_train(self, x, workspace, tail=None):
        """``self(x)`` for training, with its temporaries in ``workspace``.

        The weights' gradients are written into ``.grad`` tensors the
        workspace keeps (accumulated when ``.grad`` is set, as autograd
        does), and the product's casts and transposes reuse its memory
        (:class:`Workspace`). When ``tail`` is given, x itself needs no
        gradient and ``tail`` holds the values of x's last columns, which
        do: in PMI the expression inputs (most of x) never need one, but the
        covariate embeddings at x's end do, and one plain product over x
        would make backward compute the input gradient of all of x (one
        more large product per training step). The forward product is
        :class:`torch.nn.Linear`'s (``addmm``).
        """
        return _WorkspaceLinear.apply(x, tail, self.weight, self.bias, workspace)


def _autocast_dtype(device_type):
    """The dtype autocast casts matrix products to on ``device_type``, or
    None outside autocast (torch >= 2.4 API, older fallbacks)."""
    if hasattr(torch, "get_autocast_dtype"):
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
        return None
    if device_type == "cpu":
        on, dtype = torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
    else:
        on, dtype = torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
    return dtype if on else None


def _set_grad(param, value, workspace, key):
    """Add ``value`` to ``param.grad`` as autograd's accumulation would; a
    missing ``.grad`` becomes the workspace's tensor for ``key``."""
    if param.grad is None:
        param.grad = workspace.get(key, param.shape, param.dtype,
                                   param.device).copy_(value)
    else:
        param.grad.add_(value)


class _WorkspaceLinear(torch.autograd.Function):
    """``F.linear(x, weight, bias)`` (as ``addmm``) whose temporaries live in
    a :class:`Workspace` and whose backward writes the weight and bias
    gradients into ``.grad`` itself (returning None for them), so that no
    gradient-sized tensor is allocated per step.

    Under autocast the product runs in autocast's dtype, as ``F.linear``
    would. With ``tail`` given, x gets no gradient and ``tail`` (x's last
    columns) does; otherwise x does when it requires one.
    """

    @staticmethod
    def forward(ctx, x, tail, weight, bias, ws):
        device = x.device
        dtype = _autocast_dtype(device.type)
        key = id(weight)
        ctx.ws, ctx.params = ws, (weight, bias)
        ctx.n_tail = None if tail is None else tail.shape[1]
        ctx.grad_dtype = x.dtype if tail is None else tail.dtype
        if dtype is not None and weight.dtype != dtype:
            w = ws.get((key, "w"), weight.shape, dtype, device)
            w.copy_(weight)
            bias = None if bias is None else bias.to(dtype)
            x = x.to(dtype)
        else:
            w = weight
        with torch.autocast(device.type, enabled=False):
            out = (torch.mm(x, w.t()) if bias is None
                   else torch.addmm(bias, x, w.t()))
        ctx.save_for_backward(x, w)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        ws, (weight, bias) = ctx.ws, ctx.params
        grad = grad.to(x.dtype)
        key = id(weight)
        grad_x = grad_tail = None
        if ctx.n_tail is not None:
            if ctx.needs_input_grad[1] and ctx.n_tail:
                grad_tail = grad.mm(w[:, -ctx.n_tail:]).to(ctx.grad_dtype)
        elif ctx.needs_input_grad[0]:
            grad_x = grad.mm(w).to(ctx.grad_dtype)
        if ctx.needs_input_grad[2]:
            # grad.t() made contiguous first where it is the smaller operand:
            # oneDNN's bfloat16 product with a transposed left operand was
            # slower at PMI's first layer; at the output layer it was as fast
            # as the contiguous one and the transposing copy would only add
            # time. Same bits either way.
            grad_t = grad.t()
            if grad.shape[1] <= x.shape[1]:
                grad_t = ws.get((key, "grad_t"), grad_t.shape, grad.dtype,
                                grad.device).copy_(grad_t)
            grad_w = ws.get((key, "grad_w"), w.shape, w.dtype, w.device)
            torch.mm(grad_t, x, out=grad_w)
            _set_grad(weight, grad_w, ws, (key, "grad"))
        if bias is not None and ctx.needs_input_grad[3]:
            _set_grad(bias, grad.sum(0), ws, (key, "bias_grad"))
        return grad_x, grad_tail, None, None, None


def set_generator(module, generator):
    """Give every :class:`Dropout` of ``module`` ``generator`` (or None)."""
    for m in module.modules():
        if isinstance(m, Dropout):
            m.generator, m._rng = generator, None


def init_parameters(module, generator):
    """Initialise ``module`` like torch's defaults, drawing from ``generator``.

    Linear layers get torch's default (Kaiming-uniform weights with
    ``a=sqrt(5)``, uniform biases in ``±1/sqrt(fan_in)``), embeddings
    ``N(0, 1)``, batch norms weight 1 and bias 0 with reset running
    statistics. ``module`` may have been built on the meta device.
    """
    module.to_empty(device="cpu")
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    bound = 1.0 / math.sqrt(m.in_features) if m.in_features else 0.0
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, generator=generator)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
    return module


def build(factory, generator):
    """``factory()`` built on the meta device, then initialised on the CPU."""
    with torch.device("meta"):
        module = factory()
    return init_parameters(module, generator)


class AveragedNetworks(nn.Module):
    """Several networks of the same shape whose outputs are averaged.

    ``members[k]`` is the k-th trained network; ``forward`` passes its
    arguments to each and returns the mean of their outputs.
    """

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *args):
        out = self.members[0](*args)
        for m in self.members[1:]:
            out = out + m(*args)
        return out / len(self.members)


class CovariateEmbeddings(nn.Module):
    """One learned embedding per categorical covariate column.

    ``vocab_sizes[k]`` counts the categories seen in fit; index 0 of every
    table is reserved for categories unseen in fit.
    """

    def __init__(self, vocab_sizes):
        super().__init__()
        self.tables = nn.ModuleList(
            nn.Embedding(v + 1, embedding_dim(v)) for v in vocab_sizes
        )
        self.out_features = sum(t.embedding_dim for t in self.tables)

    def forward(self, codes):
        if not self.tables:
            return codes.new_zeros((codes.shape[0], 0), dtype=torch.float32)
        return torch.cat([t(codes[:, k]) for k, t in enumerate(self.tables)], dim=1)


def mlp(in_features, hidden_layer_sizes, out_features, dropout, batch_norm):
    """Hidden blocks Linear -> BatchNorm -> ReLU (-> Dropout), linear output."""
    layers = []
    width = in_features
    for size in hidden_layer_sizes:
        layers.append(Linear(width, size, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = size
    layers.append(Linear(width, out_features))
    return nn.Sequential(*layers)


class ConditionalMLP(nn.Module):
    """MLP over ``[*inputs, numeric covariates, categorical embeddings]``.

    Parameters
    ----------
    n_inputs : int
        Total width of the per-gene tensors passed to ``forward`` (e.g. 2 x
        n_genes for PMI's ``x * m`` and ``m``).
    n_outputs : int
        Output width (n_genes).
    n_numeric : int
        Number of standardized numerical covariates.
    vocab_sizes : list of int
        Categories per categorical covariate column.
    """

    def __init__(
        self,
        n_inputs,
        n_outputs,
        n_numeric,
        vocab_sizes,
        hidden_layer_sizes,
        dropout,
        batch_norm,
    ):
        super().__init__()
        self.n_inputs, self.n_numeric = n_inputs, n_numeric
        self.embeddings = CovariateEmbeddings(vocab_sizes)
        self.body = mlp(
            n_inputs + n_numeric + self.embeddings.out_features,
            hidden_layer_sizes,
            n_outputs,
            dropout,
            batch_norm,
        )

    def forward(self, tensors, numeric, codes):
        """The network on ``[*tensors, numeric, embeddings(codes)]``."""
        embedded = self.embeddings(codes)
        if any(t.requires_grad for t in tensors) or not torch.is_grad_enabled():
            return self.body(torch.cat([*tensors, numeric, embedded], dim=1))
        # the expression inputs need no gradient (PMI, GAIN's generator):
        # backward skips their input gradient (Linear.forward_train)
        x = torch.cat([*tensors, numeric, embedded.detach()], dim=1)
        return self._body_tail_grad(x, embedded)

    def forward_prefilled(self, inputs, numeric, codes, workspace=None):
        """``forward`` on an input matrix the caller has filled in part.

        ``inputs`` is a contiguous ``(n, in_features)`` tensor whose first
        ``n_inputs`` columns already hold the per-gene inputs (which need no
        gradient); this writes the numerical covariates and the embeddings
        into its last columns and runs the network. Training steps fill one
        reused buffer (in bfloat16 under bfloat16 autocast) instead of
        allocating, concatenating and casting a new input matrix per step,
        which saves writing a batch-sized matrix twice and reading it once.
        ``inputs`` is saved for backward: it must not change until backward
        has run. ``workspace`` (a :class:`Workspace` the training
        run keeps) holds the layers' temporaries and weight gradients.
        """
        embedded = self.embeddings(codes)
        start = inputs.shape[1] - numeric.shape[1] - embedded.shape[1]
        inputs[:, start:start + numeric.shape[1]].copy_(numeric)
        inputs[:, start + numeric.shape[1]:].copy_(embedded.detach())
        return self._body_tail_grad(inputs, embedded, workspace)

    def _body_tail_grad(self, x, embedded, workspace=None):
        """The body on ``x``, whose last columns hold ``embedded``, in
        training: the first layer gives an input gradient to those columns
        only, and every linear layer runs :meth:`Linear.forward_train` (in
        ``workspace``, or in one of its own that dies with the graph)."""
        ws = Workspace() if workspace is None else workspace
        first, *rest = self.body
        out = first.forward_train(x, ws, tail=embedded)
        for layer in rest:
            out = (layer.forward_train(out, ws) if isinstance(layer, Linear)
                   else layer(out))
        return out

    @property
    def in_features(self):
        """Width of the network's input: per-gene inputs and covariates."""
        return self.body[0].in_features

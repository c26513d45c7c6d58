"""A/B of PMI's custom training code against plain torch, one epoch at a time.

The rule (issue 31): a custom autograd function or workspace stays only where
an A/B of it alone shows that it pays at least 5% of a training epoch, at
3,000 x 5,000 or at GTEx width. This script times one training epoch of
:class:`~skimpute_gtex.PMIImputer`'s own step (default network, batch and
precision of the large-data regime, 50% of the entries missing at random,
no covariates) against variants, in one process, interleaved (A B B A ...),
on the same data and batches:

``package``
    The package's step: the input matrix filled in a reused workspace, the
    linear layers' products and weight gradients in the workspace
    (``_WorkspaceLinear``) and the masked loss as one autograd function
    whose temporaries live there (``_MaskedSquaredError``).
``plain loss``
    The same with the masked loss as the plain expression
    ``((out.float() - x) ** 2 * hidden).sum() / hidden.sum().clamp_min(1)``:
    the loss alone.
``plain``
    Everything in plain torch: ``nn.Linear`` layers (the first one split into
    the expression inputs, which need no input gradient, and the covariates),
    ``nn.BatchNorm1d``, ``nn.ReLU``, the package's dropout, the plain loss, a
    new input matrix per step. The workspace and both custom functions
    together.

It reports the median epoch time of each and its ratio to ``package``.
Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_custom_ops.py --shape 3000 5000 --shape 2000 12557 \\
        --threads 1 --output benchmarks/results/custom_ops.json

Writes only the ``--output`` file (nothing without it).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.machine import machine_info  # noqa: E402
from skimpute_gtex import PMIImputer  # noqa: E402
from skimpute_gtex._torch import _pmi  # noqa: E402
from skimpute_gtex._torch._data import _Data  # noqa: E402
from skimpute_gtex._torch._device import autocast, resolve_precision  # noqa: E402
from skimpute_gtex._torch._networks import Dropout, build, set_generator  # noqa: E402
from skimpute_gtex._torch._optim import make_optimizer  # noqa: E402
from skimpute_gtex._torch._plan import make_plan  # noqa: E402
from skimpute_gtex._torch._step import _keep_sampler  # noqa: E402
from skimpute_gtex._torch._training import batches  # noqa: E402

CPU = torch.device("cpu")


class _PlainLoss:
    """Stands in for ``_MaskedSquaredError`` in the ``plain loss`` variant."""

    @staticmethod
    def apply(out, x, hidden, ws=None):
        return ((out.float() - x) ** 2 * hidden).sum() / hidden.sum().clamp_min(1)


class _PlainMLP(nn.Module):
    """PMI's network in plain torch modules."""

    def __init__(self, n_inputs, hidden, n_outputs, dropout):
        super().__init__()
        self.expression = nn.Linear(n_inputs, hidden[0], bias=False)
        self.covariates = nn.Linear(1, hidden[0], bias=False)
        layers, width = [], hidden[0]
        for k, size in enumerate(hidden):
            if k:
                layers.append(nn.Linear(width, size, bias=False))
            layers += [nn.BatchNorm1d(size), nn.ReLU(), Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.body = nn.Sequential(*layers)

    def forward(self, x, covariates):
        return self.body(self.expression(x) + self.covariates(covariates))


def _problem(n_samples, n_genes, seed=0):
    rng = np.random.RandomState(seed)
    genes = rng.normal(size=(n_samples, n_genes))
    mask = rng.uniform(size=genes.shape) < 0.5
    est = PMIImputer(random_state=0)
    est._plan = make_plan(est, n_samples, 0.5)
    mean, scale = np.zeros(n_genes), np.ones(n_genes)
    data = _Data(genes, mask, mean, scale, np.arange(n_samples),
                 np.zeros((n_samples, 0)), np.zeros((n_samples, 0), int), CPU)
    return est, data


def _package_step(est, data, n_genes):
    generator = torch.Generator().manual_seed(0)
    nets = {name: build(factory, torch.Generator().manual_seed(1))
            for name, factory in est._build(n_genes, 0, []).items()}
    for net in nets.values():
        net.train()
        set_generator(net, generator)
    step, _ = est._make_step(nets, data, generator)
    return step, generator


def _plain_step(est, data, n_genes):
    generator = torch.Generator().manual_seed(0)
    net = _PlainMLP(2 * n_genes, est._hidden(), n_genes, est._plan.dropout)
    set_generator(net, generator)
    optimizer = make_optimizer(est, net.parameters(), CPU)
    low, high = est._plan.mask_range
    draw_keep = _keep_sampler(generator, CPU)
    precision = resolve_precision(est.precision, CPU)

    def step(idx):
        x, observed, _, _ = data.rows(idx)
        observed = observed.bool()
        p = torch.empty((x.shape[0], 1)).uniform_(low, high, generator=generator)
        keep = draw_keep(p, x.shape)
        visible = (observed & keep).to(x.dtype)
        hidden = observed & ~keep
        with autocast(precision, CPU):
            out = net(torch.cat([x * visible, visible], 1),
                      torch.zeros((x.shape[0], 1)))
        loss = _PlainLoss.apply(out, x, hidden)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step, generator


def _variants(n_samples, n_genes):
    est, data = _problem(n_samples, n_genes)
    package = _package_step(est, data, n_genes)
    step, generator = _package_step(est, data, n_genes)

    def plain_loss(idx):  # the step reads the loss from its module's globals
        original = _pmi._MaskedSquaredError
        _pmi._MaskedSquaredError = _PlainLoss
        try:
            return step(idx)
        finally:
            _pmi._MaskedSquaredError = original

    return est, {"package": package, "plain loss": (plain_loss, generator),
                 "plain": _plain_step(est, data, n_genes)}


def run(n_samples, n_genes, rounds, log=print):
    est, variants = _variants(n_samples, n_genes)
    batch = est._plan.batch(n_samples)
    times = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds + 1):  # round 0 warms up, not counted
        for name in (names if r % 2 == 0 else names[::-1]):
            step, generator = variants[name]
            t0 = time.perf_counter()
            for idx in batches(n_samples, batch, generator):
                step(idx)
            if r:
                times[name].append(time.perf_counter() - t0)
    median = {name: float(np.median(t)) for name, t in times.items()}
    ratio = {name: median[name] / median["package"] for name in median}
    log(f"{n_samples} x {n_genes}, batch {batch}, "
        f"{resolve_precision(est.precision, CPU)}: " + ", ".join(
            f"{name} {median[name]:.3f} s ({ratio[name]:.2f}x)" for name in median))
    return dict(n_samples=n_samples, n_genes=n_genes, batch_size=batch,
                hidden_layer_sizes=est._hidden(),
                precision=resolve_precision(est.precision, CPU),
                epoch_s=times, median_epoch_s=median, ratio_to_package=ratio)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", nargs=2, type=int, action="append",
                   metavar=("SAMPLES", "GENES"),
                   help="problem size (repeatable; default 3000 5000)")
    p.add_argument("--rounds", type=int, default=6,
                   help="timed epochs of each variant (default 6)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of this process (default 1)")
    p.add_argument("--output", help="JSON file to write (nothing written without)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)  # a script owns its process
    shapes = args.shape or [(3000, 5000)]
    result = dict(machine=machine_info(args.threads), command=sys.argv,
                  runs=[run(n, g, args.rounds) for n, g in shapes])
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(result, fh, indent=1)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""The machine: what it is, how much memory a run takes, its matmul rate."""

import os
import platform
import resource
import sys
import time
from contextlib import nullcontext

import numpy as np


def machine_info(threads=None):
    """CPU model, cores, library versions: stored with every result file."""
    import sklearn
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "cpu_cores": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def rss_mb():
    """This process's resident set size now, in MB."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def maxrss_mb():
    """This process's peak resident set size so far (``ru_maxrss``), in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def limit_threads(threads):
    """Inside a worker process only: cap torch and BLAS/OpenMP threads."""
    if threads is None:
        return nullcontext()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    return threadpool_limits(threads)


def matmul_gflops(n=2048, repeats=5, dtype=None):
    """Measured ``torch.mm`` rate (GFLOP/s) with the current thread count.

    float32 by default; ``dtype=torch.bfloat16`` for the bfloat16 peak.
    """
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype or torch.float32)
    b = torch.randn(n, n, generator=g).to(dtype or torch.float32)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9

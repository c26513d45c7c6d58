"""CPU threads of one fit or transform: explicit, per calling thread, restored.

The determinism contract (docs/user_guide.rst, "CPU threads", "Reproducible
results"): a fixed ``random_state``, device and explicit ``n_jobs`` give
bit-identical results. With ``n_jobs=None`` a fit on the CPU may change the
thread count as it trains, and the matrix products of MKL and oneDNN may
round differently at different counts; training carries those rounding
differences on, so the model differs from a fixed-``n_jobs`` fit, by much
less than another ``random_state`` makes it differ
(``benchmarks/bench_threads.py`` measures both).

Why adapt. torch's CPU kernels run in OpenMP parallel regions, and between
regions GNU OpenMP's threads spin (busy-wait) for the next one. On a machine
whose cores are shared with another busy process, a spinning thread holds the
core that the thread it waits for needs, and a fit beside another busy
process can run several times slower than alone
(``benchmarks/bench_threads.py`` measures it). ``OMP_WAIT_POLICY=PASSIVE``
cures it, but only if set before torch is imported, which is the user's
decision, not a library's.

What a library may do instead (the threadpoolctl convention scikit-learn
uses): set the OpenMP thread count *of the calling thread* for the duration
of a call and put it back afterwards. OpenMP keeps that count per thread, so
two fits running in two Python threads do not see each other's setting, and
``torch.get_num_threads()`` reads the same after a fit as before.
:class:`Threads` does that, and with ``adapt`` it measures the training
loop's speed and uses fewer threads while fewer run faster.
"""

import os
import time
from contextlib import contextmanager

import torch
from threadpoolctl import ThreadpoolController, threadpool_limits

# A measurement window: at least this long and this many steps.
_WINDOW_S = 0.25
_WINDOW_STEPS = 4
# Fewer threads are chosen only when faster by this fraction (noise margin).
_MARGIN = 0.10
# A window at a count other than the best one ends early once its steps take
# this many times the best count's: a bad count is left after one step.
_ABORT = 1.5
# Once settled, another thread count is re-measured after this many windows
# (the load of a shared machine changes); each re-measurement that does not
# change the choice doubles the wait, up to _REPROBE_MAX windows, since a
# probe of a bad count is expensive exactly when that count is bad.
_REPROBE_FIRST = 16
_REPROBE_MAX = 256


class Stopped(Exception):
    """Raised in a network's training thread when its ensemble was stopped."""


def resolve_n_jobs(n_jobs, current):
    """Threads for ``n_jobs``: None: ``current``; -1: all CPUs; -2: all but one."""
    if n_jobs is None:
        return max(int(current), 1)
    if n_jobs < 0:
        return max((os.cpu_count() or 1) + 1 + int(n_jobs), 1)
    return int(n_jobs)


def _ladder(n):
    """Thread counts to try: n, n/2, n/4, ..., 1."""
    counts = [n]
    while counts[-1] > 1:
        counts.append(counts[-1] // 2)
    return counts


class Threads:
    """OpenMP threads of the calling thread during one fit or transform.

    A context manager. Inside it the calling thread uses ``n_jobs`` threads
    (:func:`resolve_n_jobs`); on exit the previous count is restored. With
    ``adapt=True`` (``n_jobs=None`` in fit, on the CPU), :meth:`step` is
    called after every training step; it times windows of steps at every
    count of the ladder ``1, 2, 4, ..., n`` once (leaving a count after one
    step when it is clearly slower than the best so far), then uses the
    fastest (fewer threads only when clearly faster), re-measuring a
    neighbouring count now and then, less and less often while the choice
    holds. ``n_jobs=None`` without ``adapt`` (transform) leaves the threads as
    they are, and so does a torch built on another thread pool than OpenMP.
    """

    def __init__(self, n_jobs, *, cpu=True, adapt=False, stop=None):
        self.n_jobs = n_jobs
        self.cpu = cpu
        self.adapt = adapt
        self.stop = stop  # a threading.Event: when set, step() raises Stopped
        self.choices = []  # (step, threads) each time the count changed

    def __enter__(self):
        self._limiter = None
        self._controllers = []
        self.limit = None  # the thread count this call may use, if controlled
        if not self.cpu or (self.n_jobs is None and not self.adapt):
            # nothing to set: no library scan on transform's path
            self.adapt = False
            return self
        openmp = ThreadpoolController().select(user_api="openmp")
        self._controllers = list(openmp.lib_controllers)
        if not self._controllers:
            self.adapt = False
            return self
        # torch sets up a thread's OpenMP count at its first parallel call
        # there: make that happen now, or it would undo the limit below
        current = torch.get_num_threads()
        n = resolve_n_jobs(self.n_jobs, current)
        self.limit = n
        # restores every controller's count on exit, whatever step() set
        self._limiter = openmp.limit(limits=n)
        self._limiter.__enter__()
        self._rungs = _ladder(n)
        self.adapt = self.adapt and len(self._rungs) > 1
        self._rung = 0
        self._best = None  # the fastest count measured so far
        self._rate = {}  # rung -> seconds per step, last measured
        self._windows = 0
        self._next_probe = _REPROBE_FIRST
        self._wait = _REPROBE_FIRST
        self._probing = None  # the count being re-measured, if any
        self._probes = 0
        self._steps = 0
        self._window_start = None
        self._window_steps = 0
        self.choices.append((0, n))
        if self.adapt:
            # the first pass climbs from one thread up: on a shared machine
            # the slow counts are the many-thread ones, left after a step
            self._set(len(self._rungs) - 1)
        return self

    def __exit__(self, *exc):
        if self._limiter is not None:
            self._limiter.__exit__(*exc)
            self._limiter = None
        return False

    @property
    def n_threads(self):
        """Threads in use now (None without OpenMP control)."""
        if not self._controllers:
            return None
        return self._rungs[self._rung]

    def step(self):
        """Count one training step; maybe end a window and move on the ladder."""
        if self.stop is not None and self.stop.is_set():
            raise Stopped("another network of the ensemble failed")
        if not self.adapt:
            return
        now = time.perf_counter()
        self._steps += 1
        if self._window_start is None:  # the first step warms up: not timed
            self._window_start, self._window_steps = now, 0
            return
        self._window_steps += 1
        elapsed = now - self._window_start
        rate = elapsed / self._window_steps
        full = elapsed >= _WINDOW_S and self._window_steps >= _WINDOW_STEPS
        if not full and not self._clearly_slower(rate):
            return
        self._rate[self._rung] = rate
        self._windows += 1
        self._set(self._next_rung())
        self._window_start, self._window_steps = time.perf_counter(), 0

    def _clearly_slower(self, rate):
        best = self._rate.get(self._best) if self._best is not None else None
        return self._rung != self._best and best is not None and rate > _ABORT * best

    def _faster(self, a, b):
        """Whether rung ``a`` (more threads than ``b`` if a < b) beats ``b``."""
        ra, rb = self._rate[a], self._rate[b]
        if a < b:  # prefer more threads unless fewer win clearly
            return ra <= rb * (1 + _MARGIN)
        return ra < rb * (1 - _MARGIN)

    def _settle(self):
        measured = sorted(self._rate)
        best = measured[0]
        for r in measured[1:]:
            if not self._faster(best, r):
                best = r
        self._best = best
        return best

    def _next_rung(self):
        previous = self._best
        best = self._settle()
        above = self._rung - 1
        if above >= 0 and above not in self._rate:
            return above  # first pass: measure every count of the ladder
        if self._probing is not None:  # a re-measurement just ended
            self._probing = None
            # the choice held: wait longer before the next one
            self._wait = _REPROBE_FIRST if best != previous else min(
                2 * self._wait, _REPROBE_MAX)
            self._next_probe = self._windows + self._wait
        elif self._windows >= self._next_probe:
            # re-measure a neighbour of the best count, alternating sides
            self._probes += 1
            up, down = best - 1, best + 1
            order = (up, down) if self._probes % 2 else (down, up)
            for rung in order:
                if 0 <= rung < len(self._rungs):
                    self._probing = rung
                    return rung
        return best

    def _apply(self, rung):
        for c in self._controllers:
            c.set_num_threads(self._rungs[rung])

    def _set(self, rung):
        if rung == self._rung:
            return
        self._rung = rung
        self._apply(rung)
        self.choices.append((self._steps, self._rungs[rung]))


@contextmanager
def limit_threads(limit):
    """At most ``limit`` threads in OpenMP (torch) and BLAS for a block.

    For a caller that owns the process, like the command line's ``--threads``:
    threadpoolctl's limits, restored on exit. torch is imported and its
    thread pool of the calling thread set up first, so that the limit reaches
    it (a limit set before would miss a runtime not loaded yet, and torch's
    set-up would undo it).
    """
    torch.get_num_threads()
    with threadpool_limits(limits=limit):
        yield

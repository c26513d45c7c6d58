"""Progress output of the estimators: the package's one home of it.

:func:`log` prints one message behind ``verbose``; :class:`Progress` is the
progress line of a deep imputer's fit. Both print to ``sys.stdout`` as it is
when called (the command line redirects it to stderr).
"""

import sys
import threading
import time


def log(estimator, verbose, message):
    """Print ``[EstimatorName] message`` when ``verbose`` is true."""
    if verbose:
        print(f"[{type(estimator).__name__}] {message}", flush=True)


def _clock(seconds):
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else (
        f"{rest // 60:02d}:{rest % 60:02d}")


class Progress:
    """Progress of a fit: networks x epochs, elapsed time and time left.

    ``verbose=1``: on a terminal one line rewritten in place; elsewhere (a log
    file, a notebook cell captured as text) a plain line about every tenth of
    the work, so logs stay short. ``verbose >= 2``: the per-epoch lines of
    :func:`train` instead. ``verbose=0``: nothing. Output goes to
    ``sys.stdout`` as it is at the time of the fit (the CLI redirects it).
    """

    def __init__(self, estimator, n_networks, n_epochs):
        self.est = estimator
        self.active = estimator.verbose == 1
        self.total = max(n_networks * n_epochs, 1)
        self.n_networks, self.n_epochs = n_networks, n_epochs
        self.done = 0
        self.start = time.perf_counter()
        self.stream = sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.next_plain = 0.0
        self._lock = threading.Lock()  # networks may train in threads

    def update(self, network, epoch, score=None):
        """After ``epoch`` (1-based) of ``network`` (0-based)."""
        if self.active:
            with self._lock:
                self._update(network, epoch, score)

    def _update(self, network, epoch, score):
        self.done += 1  # epochs finished, all networks together
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        line = (f"[{type(self.est).__name__}] network {network + 1}/"
                f"{self.n_networks}  epoch {epoch}/{self.n_epochs}")
        if score is not None:
            line += f"  validation R2 {score:.4f}"
        line += f"  {_clock(elapsed)} elapsed, ~{_clock(left)} left"
        if self.tty:
            self.stream.write("\r" + line.ljust(90))
            self.stream.flush()
        elif self.done / self.total >= self.next_plain or self.done == self.total:
            print(line, file=self.stream, flush=True)
            self.next_plain = self.done / self.total + 0.1

    def stop(self, epoch):
        """A network stopped early, after ``epoch``: its other epochs are not run."""
        if self.active:
            with self._lock:
                self.total -= self.n_epochs - epoch

    def close(self, summary):
        if not self.active:
            return
        elapsed = _clock(time.perf_counter() - self.start)
        if self.tty:
            self.stream.write("\r" + " " * 90 + "\r")
        print(f"[{type(self.est).__name__}] {summary} in {elapsed}",
              file=self.stream, flush=True)

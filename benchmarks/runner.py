"""Run methods x data sets x scenarios x repeats, each fit in a forked worker.

Each run executes in a forked worker process so that a run over
``time_budget`` seconds can be stopped and recorded as ``"timeout"`` (shown as
"> budget") instead of being dropped. ``peak_mem_mb`` (see
:func:`~benchmarks.protocol.execute`) is then the extra memory the method
needed (its copies of the data, the network, the forests...), not counting
the data already loaded by the parent; it is measured by the kernel, so it
includes torch and BLAS buffers that ``tracemalloc`` does not see.

A run over the budget is not repeated: the method's later repeats and
scenarios on the same data set are recorded as over the budget, with a
message saying they were not run.
"""

import traceback
import warnings

from sklearn.utils import Bunch

from .datasets import load
from .machine import limit_threads
from .protocol import SCENARIOS, execute, prepare_run
from .registry import SLOWER_THAN, build, requires_donor, resolve


def _worker(conn, estimator, dataset, run, with_donor, threads):
    try:
        with limit_threads(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = execute(estimator, dataset, run, with_donor)
        conn.send(("ok", result))
    except BaseException as exc:  # report any failure to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}\n"
                   + traceback.format_exc(limit=3)))
    finally:
        conn.close()


def start_method():
    """``"fork"`` where possible (fast: nothing to pickle, nothing re-imported),
    ``"spawn"`` once this process has initialised CUDA, which a forked child
    cannot use (``--device cuda``: the machine report and the parent's first
    CUDA call initialise it).
    """
    import multiprocessing as mp

    import torch

    if torch.cuda.is_initialized() or "fork" not in mp.get_all_start_methods():
        return "spawn"
    return "fork"


def run_isolated(estimator, dataset, run, *, with_donor=False, time_budget=None,
                 threads=None):
    """Run :func:`~benchmarks.protocol.execute` in a forked process.

    The worker is stopped after ``time_budget`` seconds. Returns
    ``(status, result_or_message)`` with status ``"ok"``, ``"timeout"`` or
    ``"error"``.
    """
    import multiprocessing as mp
    import time

    ctx = mp.get_context(start_method())
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker,
                       args=(child, estimator, dataset, run, with_donor, threads))
    t0 = time.perf_counter()
    proc.start()
    child.close()
    try:
        ready = parent.poll(time_budget)
        if not ready:
            return "timeout", f"stopped after {time.perf_counter() - t0:.0f} s"
        try:
            status, payload = parent.recv()
        except EOFError:
            proc.join(5)
            return "error", f"worker died (exit code {proc.exitcode})"
        return status, payload
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()


def _record(dataset, scenario, name, repeat, run, how):
    return dict(
        dataset=dataset.name, scenario=scenario, method=name,
        repeat=repeat, seed=repeat, missing_rate=how.missing_rate,
        n_fit=int(len(run.train if run.train is not None else run.test)),
        n_test=int(len(run.test)),
        n_genes=int(dataset.genes.shape[1]),
        r2_mean=None, r2_std=None, time_s=None,
        peak_mem_mb=None, n_iter=None, status="ok", message="",
        time_budget_s=how.time_budget,
    )


def _not_run(name, factory, dataset, over, methods):
    """``(status, message)`` when the method is not run, else None."""
    slower = SLOWER_THAN.get(name)
    if requires_donor(factory) and dataset.donors is None:
        return "n/a", "no donor ids"
    if name in over:
        return "timeout", over[name]
    if slower in over and slower in methods:
        over[name] = (f"not run: {slower} was over the budget and {name} does "
                      "strictly more work")
        return "timeout", over[name]
    return None


def _run_one(est, dataset, run, with_donor, how):
    """``(status, payload)`` of one fit, isolated or in this process."""
    if how.isolate:
        return run_isolated(est, dataset, run, with_donor=with_donor,
                            time_budget=how.time_budget, threads=how.threads)
    try:
        return "ok", execute(est, dataset, run, with_donor)
    except Exception as exc:  # recorded, not raised
        return "error", f"{type(exc).__name__}: {exc}"


def _runs_of(dataset, methods, scenarios, repeats, first_seed, how):
    """Yield the records of one data set, in order."""
    over = {}  # method -> why it is not run again on this data set
    for scenario in scenarios:
        for repeat in range(first_seed, first_seed + repeats):
            run = prepare_run(dataset, scenario, repeat, how.missing_rate)
            for name, factory in methods.items():
                rec = _record(dataset, scenario, name, repeat, run, how)
                skipped = _not_run(name, factory, dataset, over, methods)
                if skipped is not None:
                    rec.update(status=skipped[0], message=skipped[1])
                    yield rec
                    continue
                est = build(name, factory, dataset.covariate_spec, repeat,
                            how.params, how.device)
                status, payload = _run_one(est, dataset, run,
                                           requires_donor(factory), how)
                if status == "ok":
                    rec.update(payload)
                else:
                    rec.update(status=status, message=payload)
                if status == "timeout":
                    rec["time_s"] = how.time_budget
                    over[name] = (f"not run: over the budget in {scenario} "
                                  f"repeat {repeat}")
                yield rec


def run_benchmark(
    datasets,
    *,
    methods=None,
    scenarios=SCENARIOS,
    repeats=3,
    first_seed=0,
    missing_rate=0.5,
    time_budget=900.0,
    data_dir=None,
    params=None,
    device=None,
    threads=None,
    isolate=True,
    log=None,
    on_record=None,
):
    """Run every method on every data set and scenario; return the records.

    Parameters
    ----------
    datasets : list of str or Bunch
        Names in :data:`~benchmarks.datasets.DATASETS` (read from
        ``data_dir``) or loaded data sets.
    methods : dict of name -> factory or list of str, default=None
        Factories ``(covariate_spec, random_state) -> imputer``; names are
        looked up in :data:`~benchmarks.registry.METHODS`; ``None`` means all.
    repeats : int, default=3
        Number of repeats per data set and scenario.
    first_seed : int, default=0
        Repeats use seeds ``first_seed .. first_seed + repeats - 1`` (and
        record them as their repeat number), so that more repeats can be
        added to a result file later and merged.
    params : dict of name -> dict, default=None
        ``set_params`` overrides per method (e.g. ``registry.FAST_PARAMS``).
    isolate : bool, default=True
        Run each fit in a forked worker with the time budget; ``False`` runs
        in this process (no budget, no thread cap; for debugging).
    log : callable, default=None
        Called with one progress line per run.
    on_record : callable, default=None
        Called with the list of records after each run (to save as it goes).

    Returns
    -------
    records : list of dict
        One per run: dataset, scenario, method, repeat, seed, r2_mean,
        r2_std, time_s, peak_mem_mb, status, message, n_fit, n_test, n_genes.
    """
    methods = resolve(methods)
    how = Bunch(missing_rate=missing_rate, time_budget=time_budget, params=params,
                device=device, threads=threads, isolate=isolate)
    records = []
    for ds in datasets:
        dataset = load(ds, data_dir) if isinstance(ds, str) else ds
        for rec in _runs_of(dataset, methods, scenarios, repeats, first_seed, how):
            records.append(rec)
            if log is not None:
                log(progress_line(rec))
            if on_record is not None:
                on_record(records)
    return records


def progress_line(rec):
    """One line about a finished run."""
    head = (f"{rec['dataset']:<24} {rec['scenario']:<9} {rec['method']:<15} "
            f"r{rec['repeat']}")
    if rec["status"] == "ok":
        return (f"{head} R2={rec['r2_mean']:.3f} (genes sd {rec['r2_std']:.3f}) "
                f"{rec['time_s']:.1f} s {rec['peak_mem_mb']:.0f} MB")
    first = rec["message"].splitlines()[0] if rec["message"] else ""
    return f"{head} {rec['status']}: {first}"

"""``python -m benchmarks COMMAND ...``: the harness and the other benchmarks.

Commands:

``run``
    The harness: every method on every data set and scenario (the options of
    :func:`add_arguments`); writes ``OUTPUT_DIR/NAME.json`` and, with
    ``--tables``, the RST tables; Markdown on stdout, progress on stderr.
``headline``
    The headline table from a result file (:mod:`benchmarks.headline`).
``study-inplace``
    The in-place research study (:mod:`benchmarks.study_inplace`).
``loader``
    Time and memory of the streaming GTEx loader (:mod:`benchmarks.bench_loader`).
``memory``
    Peak memory of PMI's fit and transform (:mod:`benchmarks.bench_memory`).

Nothing is written but where an option says (``--output-dir``, ``--tables``,
``--rst``, ``--out``, ``--output``).
"""

import argparse
import os
import sys
from importlib import import_module

from .datasets import (
    CROSS_STUDY_ONLY,
    DATA_ENV,
    DATASETS,
    DEFAULT_DATASETS,
    HUGE_DATASETS,
    default_data_dir,
    load,
)
from .machine import machine_info
from .protocol import SCENARIOS
from .registry import DEEP_METHODS, FAST_PARAMS, METHODS, SLOW_METHODS
from .reports import (
    markdown_summary,
    merge_results,
    rst_tables,
    summarize,
    write_results,
)
from .runner import run_benchmark
from .studies import EXTRAS, StudyContext, run_extras

#: command -> module whose ``main(argv)`` runs it (``run`` is :func:`main_run`)
COMMANDS = {
    "run": None,
    "headline": "benchmarks.headline",
    "study-inplace": "benchmarks.study_inplace",
    "loader": "benchmarks.bench_loader",
    "memory": "benchmarks.bench_memory",
}


def add_arguments(parser):
    """The options of ``python -m benchmarks run`` (and ``bench_imputers.py``)."""
    parser.add_argument(
        "--datasets", nargs="+", default=list(DEFAULT_DATASETS),
        choices=sorted(set(DATASETS) - CROSS_STUDY_ONLY), metavar="NAME",
        help="data sets (default: %(default)s; choices: %(choices)s)",
    )
    parser.add_argument("--methods", nargs="*", default=list(METHODS),
                        choices=list(METHODS), metavar="NAME",
                        help="methods (default: all: %(choices)s)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        choices=SCENARIOS)
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats, seeds S..S+R-1 with S = --first-seed "
                             "(default: %(default)s)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seed of the first repeat; later results can be "
                             "added with --merge (default: %(default)s)")
    parser.add_argument("--slow-repeats", type=int, default=None,
                        help="repeats for MICE and MissForest (default: --repeats)")
    parser.add_argument("--missing-rate", type=float, default=0.5)
    parser.add_argument("--time-budget", type=float, default=900.0,
                        help="seconds per run before it is stopped and recorded "
                             "as '> budget' (default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help=f"folder of the real data sets (default: ${DATA_ENV}, "
                             "else ../shared/data if it exists)")
    parser.add_argument("--output-dir", required=True,
                        help="folder of the result file (required: the committed "
                             "results are benchmarks/results)")
    parser.add_argument("--name", default="imputers",
                        help="result file name: OUTPUT_DIR/NAME.json")
    parser.add_argument("--tables", default=None,
                        help="write the RST tables here (the committed ones are "
                             "docs/benchmark_tables.rst; default: none)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads per run (default: %(default)s)")
    parser.add_argument("--device", default="cpu",
                        help="device of the deep imputers (default: %(default)s)")
    parser.add_argument("--precision", choices=["float32", "bfloat16", "auto"],
                        default=None,
                        help="precision of the deep imputers (default: theirs)")
    parser.add_argument("--allow-huge", action="store_true",
                        help="allow synthetic_gtex_scale (15,201 x 12,557)")
    parser.add_argument("--fast", action="store_true",
                        help="tiny networks and few iterations (smoke test)")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="run nothing: merge these result files into "
                             "OUTPUT_DIR/NAME.json and regenerate the tables")
    parser.add_argument("--extras", nargs="*", default=[], choices=list(EXTRAS),
                        help="extra studies to run (default: none)")
    return parser


def _usage_error(args):
    """The message of an invalid combination of options, or None."""
    if args.threads is not None and args.threads < 1:
        return "--threads must be >= 1"
    huge = set(args.datasets) & HUGE_DATASETS
    if huge and not args.allow_huge:
        return f"{sorted(huge)} is huge; pass --allow-huge to run it"
    return None


def _config(args, methods, datasets):
    return dict(datasets=args.datasets, methods=list(methods),
                scenarios=args.scenarios, repeats=args.repeats,
                first_seed=args.first_seed,
                slow_repeats=args.slow_repeats, missing_rate=args.missing_rate,
                time_budget_s=args.time_budget, device=args.device,
                precision=getattr(args, "precision", None),
                fast=bool(args.fast), notes={d.name: d.notes for d in datasets})


def _run_all(args, datasets, methods, params, log, save):
    """The records of every run; ``--slow-repeats`` runs the slow methods apart."""
    common = dict(scenarios=args.scenarios, missing_rate=args.missing_rate,
                  first_seed=args.first_seed, time_budget=args.time_budget,
                  params=params, device=args.device, threads=args.threads, log=log)
    if args.slow_repeats is None or args.slow_repeats == args.repeats:
        return run_benchmark(datasets, methods=methods, repeats=args.repeats,
                             on_record=save, **common)
    fast_m = {k: v for k, v in methods.items() if k not in SLOW_METHODS}
    slow_m = {k: v for k, v in methods.items() if k in SLOW_METHODS}
    records = run_benchmark(datasets, methods=fast_m, repeats=args.repeats,
                            on_record=save, **common)
    done = list(records)
    if slow_m:
        records += run_benchmark(datasets, methods=slow_m, repeats=args.slow_repeats,
                                 on_record=lambda recs: save(done + recs), **common)
    order = list(methods)
    records.sort(key=lambda r: (args.datasets.index(r["dataset"]),
                                args.scenarios.index(r["scenario"]),
                                order.index(r["method"]), r["repeat"]))
    return records


def run_from_args(args, *, methods=None, params=None, out=None, err=None):
    """Body of the ``run`` command; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    problem = _usage_error(args)
    if problem:
        print(f"error: {problem}", file=err)
        return 2
    data_dir = args.data_dir or default_data_dir()
    path = os.path.join(args.output_dir, f"{args.name}.json")
    if args.merge:
        return _merge(args, path, out, err)
    if params is None:
        params = FAST_PARAMS if args.fast else None
    if getattr(args, "precision", None):
        params = {name: dict((params or {}).get(name, {}), precision=args.precision)
                  for name in DEEP_METHODS} | {
                      k: v for k, v in (params or {}).items() if k not in DEEP_METHODS}
    if methods is None:
        methods = {m: METHODS[m] for m in args.methods}

    def log(msg):
        print(msg, file=err, flush=True)

    try:
        datasets = [load(d, data_dir) for d in args.datasets]
    except (FileNotFoundError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    machine = machine_info(args.threads)
    config = _config(args, methods, datasets)

    def save(records):  # after every run, so that an interrupted run keeps them
        write_results(path, records, machine=machine, config=config)

    records = _run_all(args, datasets, methods, params, log, save)
    ctx = StudyContext(args, data_dir=data_dir, log=log, records=records)
    extras, extra_text = run_extras(args.extras, ctx)
    write_results(path, records, machine=machine, config=config, extras=extras)
    _report(args, path, records, machine, _config_line(args), extra_text, out)
    return 0


def _config_line(args):
    first, last = args.first_seed, args.first_seed + args.repeats - 1
    return (f"{args.repeats} repeat(s) (seeds {first}..{last})"
            + (f", {args.slow_repeats} for MICE/MissForest"
               if args.slow_repeats is not None else "")
            + f", {args.missing_rate:.0%} MCAR, budget {args.time_budget:.0f} s"
              " per run" + (", fast settings" if args.fast else ""))


def _merge(args, path, out, err):
    try:
        records, machine, extras, notes = merge_results(args.merge, METHODS)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    config = dict(merged=list(args.merge), notes=notes)
    write_results(path, records, machine=machine, config=config, extras=extras)
    _report(args, path, records, machine, None, {}, out)
    return 0


def _report(args, path, records, machine, cfg_line, extra_text, out):
    rows = summarize(records)
    if args.tables:
        os.makedirs(os.path.dirname(os.path.abspath(args.tables)), exist_ok=True)
        with open(args.tables, "w") as fh:
            fh.write(rst_tables(rows, machine, cfg_line, extra_text))
    print(markdown_summary(rows), file=out)
    for title, text in extra_text.items():
        print(f"### {title}\n\n{text}\n", file=out)
    print(f"wrote {path}" + (f" and {args.tables}" if args.tables else ""), file=out)


def main_run(argv=None, prog="python -m benchmarks run"):
    """``python -m benchmarks run``: parse the options, set threads, run."""
    from .bench_imputers import __doc__ as description

    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    args = add_arguments(parser).parse_args(argv)
    # the entry point, not the library, decides the thread count
    import torch

    torch.set_num_threads(args.threads)
    return run_from_args(args)


def main(argv=None):
    """``python -m benchmarks COMMAND [options]``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m benchmarks {" + ",".join(COMMANDS) + "} ...\n\n"
              + __doc__.split("\n\n", 1)[1].split("\n\nNothing")[0].strip())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"python -m benchmarks: unknown command {command!r}; choose from "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if command == "run":
        return main_run(rest)
    return import_module(COMMANDS[command]).main(rest) or 0

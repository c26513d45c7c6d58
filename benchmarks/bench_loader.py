"""Wall time and peak memory of the streaming GTEx loader.

Writes a synthetic GTEx-portal-format data set (a gzip GCT matrix of TPM-like
values, the sample attributes and subject phenotypes tables) to a scratch
directory outside the repository, then loads it with
:func:`skimpute_gtex.datasets.load_gtex` in fresh Python subprocesses, so that
the peak resident memory (``ru_maxrss``) of one load is not mixed with that of
the generator or of an earlier load. Each scenario runs twice: once for wall
time and ``ru_maxrss``, once under ``tracemalloc`` for the peak of Python-level
allocations during the call (NumPy buffers included). Results go to the JSON
file ``--output`` (required; the committed one is
``benchmarks/results/loader.json``).

Usage (or ``python benchmarks/bench_loader.py ...``)::

    python -m benchmarks loader --output /tmp/loader.json  # 20,000 x 2,000, 1,000 genes
    python -m benchmarks loader --n-genes 56200 --n-samples 500 --selected 2000 \\
        --output /tmp/loader.json

Sample output (2-CPU x86-64 Linux, Python 3.11, NumPy 2.4; numbers vary)::

    data: /tmp/skimpute_gtex_bench/gene_tpm_20000x2000.gct.gz (108.2 MB gzip; ...)
          scenario  genes  samples  wall_s  maxrss_MB  d_rss_MB  trace_MB  out_MB
    selected_genes   1000     2000     4.8      368.8      46.9      33.1    16.0
         all_genes  20000     2000    13.6      669.4     347.3     363.2   320.0
    wrote /tmp/loader.json

``maxrss_MB`` is the peak resident memory of the process, interpreter and
imports included (about 320 MB before the call); ``d_rss_MB`` its growth
during the call (``rss_increase_MB`` in the JSON), ``trace_MB`` the
``tracemalloc`` peak of the call (``tracemalloc_peak_MB``) and ``out_MB`` the
size of the returned matrix (``result_MB``).
For reference, only decompressing the same file with :mod:`gzip` takes about
3.2 s here, so a gene-restricted load is bound by decompression.
"""

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

SCENARIOS = ("selected_genes", "all_genes")
TISSUES = (
    ("Blood", "Whole Blood"),
    ("Muscle", "Muscle - Skeletal"),
    ("Lung", "Lung"),
    ("Brain", "Brain - Cortex"),
    ("Skin", "Skin - Sun Exposed (Lower leg)"),
)


def generate(directory, n_genes, n_samples, random_seed):
    """Write the GCT, attributes and phenotypes files; return their paths."""
    os.makedirs(directory, exist_ok=True)
    gct = os.path.join(directory, f"gene_tpm_{n_genes}x{n_samples}.gct.gz")
    attributes = os.path.join(directory, f"attributes_{n_samples}.txt")
    phenotypes = os.path.join(directory, f"phenotypes_{n_samples}.txt")
    rng = np.random.RandomState(random_seed)
    n_donors = max(1, n_samples // 10)
    donors = [f"GTEX-{i:05X}" for i in range(n_donors)]
    sample_ids = [
        f"{donors[i % n_donors]}-{i:04d}-SM-{i:05X}" for i in range(n_samples)
    ]
    if not os.path.exists(gct):
        tmp = gct + ".part"
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
            f.write(f"#1.2\n{n_genes}\t{n_samples}\n")
            f.write("\t".join(["Name", "Description", *sample_ids]) + "\n")
            for g in range(n_genes):
                row = rng.gamma(0.3, 30.0, size=n_samples)
                f.write(f"ENSG{g:011d}.{g % 20 + 1}\tGENE{g}\t")
                f.write("\t".join(np.char.mod("%.4g", row)) + "\n")
        os.replace(tmp, gct)
    with open(attributes, "w") as f:
        f.write("SAMPID\tSMTS\tSMTSD\tSMAFRZE\n")
        for i, sampid in enumerate(sample_ids):
            smts, smtsd = TISSUES[i % len(TISSUES)]
            f.write(f"{sampid}\t{smts}\t{smtsd}\tRNASEQ\n")
    with open(phenotypes, "w") as f:
        f.write("SUBJID\tSEX\tAGE\tDTHHRDY\n")
        for d in donors:
            age = f"{rng.randint(2, 8)}0-{rng.randint(2, 8)}9"
            hardy = rng.choice(["0", "1", "2", "3", "4", ""])
            f.write(f"{d}\t{rng.randint(1, 3)}\t{age}\t{hardy}\n")
    return gct, attributes, phenotypes


def measure(args):
    """Child process: load once and print a JSON line of measurements."""
    import resource
    import tracemalloc

    from skimpute_gtex.datasets import load_gtex

    genes = None
    if args.scenario == "selected_genes":
        step = max(1, args.n_genes // args.selected)
        genes = [f"ENSG{g:011d}" for g in range(0, args.n_genes, step)][: args.selected]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.tracemalloc:
        tracemalloc.start()
    start = time.perf_counter()
    data = load_gtex(args.gct, args.attributes, args.phenotypes, genes=genes)
    wall = time.perf_counter() - start
    result = {"genes": data.expression.shape[1], "samples": data.expression.shape[0]}
    if args.tracemalloc:
        result["tracemalloc_peak_MB"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    else:
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result.update(
            wall_s=wall,
            maxrss_MB=rss_after,
            rss_increase_MB=rss_after - rss_before,
            result_MB=data.expression.to_numpy().nbytes / 1e6,
        )
    print(json.dumps(result))


def run_child(args, paths, scenario, use_tracemalloc):
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--scenario",
        scenario,
        "--n-genes",
        str(args.n_genes),
        "--selected",
        str(args.selected),
        "--gct",
        paths[0],
        "--attributes",
        paths[1],
        "--phenotypes",
        paths[2],
    ] + (["--tracemalloc"] if use_tracemalloc else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _parser(child):
    parser = argparse.ArgumentParser(prog="python -m benchmarks loader",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--n-genes", type=int, default=20_000)
    parser.add_argument("--n-samples", type=int, default=2_000)
    parser.add_argument("--selected", type=int, default=1_000,
                        help="number of genes requested in 'selected_genes'")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS,
                        default=list(SCENARIOS))
    parser.add_argument("--data-dir", default="/tmp/skimpute_gtex_bench",
                        help="scratch directory for the generated files (reused)")
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--output", required=not child,
                        help="the JSON result file to write")
    # child-process options
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gct", help=argparse.SUPPRESS)
    parser.add_argument("--attributes", help=argparse.SUPPRESS)
    parser.add_argument("--phenotypes", help=argparse.SUPPRESS)
    return parser


#: JSON key -> column header of the printed table
COLUMNS = {"scenario": "scenario", "genes": "genes", "samples": "samples",
           "wall_s": "wall_s", "maxrss_MB": "maxrss_MB",
           "rss_increase_MB": "d_rss_MB", "tracemalloc_peak_MB": "trace_MB",
           "result_MB": "out_MB"}


def _print_table(rows):
    widths = [14 if h == "scenario" else len(h) for h in COLUMNS.values()]

    def cell(value, width):
        if isinstance(value, float):
            return f"{value:>{width}.1f}"
        return f"{value:>{width}}"

    print("  ".join(cell(h, w) for h, w in zip(COLUMNS.values(), widths)))
    for row in rows:
        print("  ".join(cell(row[c], w) for c, w in zip(COLUMNS, widths)))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(child="--child" in argv).parse_args(argv)
    if args.child:
        measure(args)
        return 0

    start = time.perf_counter()
    paths = generate(args.data_dir, args.n_genes, args.n_samples, args.random_seed)
    print(
        f"data: {paths[0]} ({os.path.getsize(paths[0]) / 1e6:.1f} MB gzip; "
        f"ready in {time.perf_counter() - start:.0f} s)"
    )
    rows = []
    for scenario in args.scenarios:
        row = {"scenario": scenario, **run_child(args, paths, scenario, False)}
        row.update(run_child(args, paths, scenario, True))
        rows.append(row)
    _print_table(rows)
    report = {
        "benchmark": "load_gtex streaming GCT",
        "n_genes": args.n_genes,
        "n_samples": args.n_samples,
        "selected": args.selected,
        "gct_gzip_MB": os.path.getsize(paths[0]) / 1e6,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "results": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The paper-reproduction benchmarks of skimpute_gtex (not installed with it).

Run from the repository root as ``python -m benchmarks COMMAND ...`` (see
:mod:`benchmarks.cli`). One module per concern:

- :mod:`benchmarks.datasets`: loaders of the data sets (``load_<name>``,
  ``DATASETS``), the data folder (``--data-dir``, ``$SKIMPUTE_GTEX_DATA``);
- :mod:`benchmarks.registry`: the methods (``METHODS``) and their fast
  settings;
- :mod:`benchmarks.protocol`: one run: split, mask, fit, scores;
- :mod:`benchmarks.runner`: all runs, each in a forked worker with a time budget;
- :mod:`benchmarks.machine`: machine description, memory and matmul probes;
- :mod:`benchmarks.reports`: JSON result files, Markdown and RST tables;
- :mod:`benchmarks.studies` and :mod:`benchmarks.speed`: the extra studies;
- :mod:`benchmarks._internals`: the only reads of the estimators' privates;
- :mod:`benchmarks.cli`: the commands; :mod:`benchmarks.headline`,
  :mod:`benchmarks.study_inplace`, :mod:`benchmarks.bench_loader`,
  :mod:`benchmarks.bench_memory`: the other commands, also runnable as
  scripts (``python benchmarks/headline.py ...``), as is
  ``benchmarks/bench_imputers.py`` (``run``).

Importing this package imports nothing else, so ``benchmarks.datasets`` stays
light.
"""

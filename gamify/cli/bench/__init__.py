"""``gamify bench``: regenerate the figures gamify publishes, next to the published ones.

Suites (one module each, each with ``add_parser(suites)`` and ``run(args)``):

- ``ranks``: rank table of matrix-multiplication formats against AlphaTensor's and the
  best-known ranks (:mod:`gamify.cli.bench.ranks`);
- ``ablation``: does the network help? The learned search against the same search with a
  frozen network, no network, or a pretrained one, at equal budgets and seeds
  (:mod:`gamify.cli.bench.ablation`);
- ``throughput``: stepper, search and flip-walker speed against their baselines, measured
  side by side in one process (:mod:`gamify.cli.bench.throughput`);
- ``optimizers``: update rules found by ``gamify discover optimizer`` (or by searches it runs)
  against SGD, momentum, RMSProp, Adam, Lion, ... on held-out tasks (:mod:`gamify.cli.bench.optimizers`);
- ``matmul``: a verified scheme run as a matrix-multiplication routine against the
  library matmul (:mod:`gamify.cli.bench.matmul`);
- ``tcount``: Toffoli and T counts of polytof's benchmark circuits against the best known
  (:mod:`gamify.cli.bench.tcount`).

The bench is a command group of the CLI layer: it uses the engine, the tensor domain and
:mod:`gamify.cli.common`, and nothing below it uses the bench.
"""

from __future__ import annotations

from gamify.cli.bench import ablation, matmul, optimizers, ranks, tcount, throughput

SUITES = {
    "ranks": ranks,
    "ablation": ablation,
    "throughput": throughput,
    "optimizers": optimizers,
    "matmul": matmul,
    "tcount": tcount,
}


def add_parsers(commands) -> None:
    """Adds ``bench`` and its suites to the CLI's subcommands."""
    bench = commands.add_parser(
        "bench",
        help="reproduce the benchmark tables (ranks, ablation, throughput, optimizers, matmul, tcount)",
        description="Regenerate gamify's published figures: each suite prints a table and can write "
        "JSON/markdown next to it. See benchmarks/RESULTS.md for the recorded runs.",
    )
    suites = bench.add_subparsers(dest="suite", metavar="SUITE", required=True)
    for suite in SUITES.values():
        suite.add_parser(suites)


def run(args) -> int:
    """``gamify bench SUITE ...``."""
    return SUITES[args.suite].run(args)


COMMANDS = {"bench": run}

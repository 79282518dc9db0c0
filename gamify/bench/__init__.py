"""``gamify bench``: regenerate the figures gamify publishes, next to the published ones.

Suites (one module each, each with ``add_parser(suites)`` and ``run(args)``):

- ``ranks``: rank table of matrix-multiplication formats against AlphaTensor's and the
  best-known ranks (:mod:`gamify.bench.ranks`);
- ``throughput``: stepper, search and flip-walker speed against their baselines, measured
  side by side in one process (:mod:`gamify.bench.throughput`);
- ``matmul``: a verified scheme run as a matrix-multiplication routine against the
  library matmul (:mod:`gamify.bench.matmul`).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import os
import platform
import re
from pathlib import Path

SUITES = ("ranks", "throughput", "matmul")


def machine_info(*, accelerator: bool = False) -> dict:
    """Where and when the benchmark ran: platform, CPU model, cores, date, versions.

    Args:
      accelerator: also record JAX's backend (cpu, gpu, tpu): the learned search runs there.
    """
    from gamify import __version__

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = models[0] if models else cpu
    info = {
        "platform": platform.platform(),
        "cpu": cpu or "unknown",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "gamify": __version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if accelerator:
        import jax

        info["jax_backend"] = jax.default_backend()
    return info


def _suite(name: str):
    return importlib.import_module(f"gamify.bench.{name}")


def add_parser(commands) -> None:
    """Adds ``bench`` and its suites to the CLI's subcommands."""
    bench = commands.add_parser(
        "bench",
        help="reproduce the benchmark tables (ranks, throughput, matmul)",
        description="Regenerate gamify's published figures: each suite prints a table and can write "
        "JSON/markdown next to it. See benchmarks/RESULTS.md for the recorded runs.",
    )
    suites = bench.add_subparsers(dest="suite", metavar="SUITE", required=True)
    for name in SUITES:
        _suite(name).add_parser(suites)


def run(args) -> int:
    """``gamify bench SUITE ...``."""
    return _suite(args.suite).run(args)

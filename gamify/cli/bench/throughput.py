"""``gamify bench throughput``: stepper, search and flip-walker speed, next to what they are compared with.

Suites, one module each with ``measure(settings, say) -> rows`` and ``tables(rows)``:

- ``stepper``: the C++ kernels against numpy and jit JAX, alone, inside the game's jitted
  move, in whole searches and for the rank bound (:mod:`gamify.cli.bench.stepper`);
- ``search``: gamify's search against a bare ``mctx.gumbel_muzero_policy`` call on the
  same game and network (:mod:`gamify.cli.bench.search_baseline`);
- ``flips``: the flip-graph walker's flip rates, times to known ranks and best ranks, next
  to references measured with public programs (:mod:`gamify.cli.bench.flip_walks`).

Every comparison is measured side by side in this process (:mod:`gamify.cli.bench.timing`).
Prints a machine line, one progress line per row, then the tables; ``--json`` writes every
row with the machine and the command, ``--markdown`` the tables under a header for
benchmarks/RESULTS.md. The default is the full run RESULTS.md records (roughly 20 minutes
on a 2-core CPU, 8 of them flip walks); ``--quick`` is the smoke run CI's tests use (about a
minute, nearly all of it JAX compiling the searches).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import math
import textwrap
import time
from pathlib import Path

import jax

from gamify import native
from gamify.cli.bench import flip_walks, search_baseline, stepper
from gamify.cli.bench.machine import machine_info as host_info
from gamify.cli.bench.timing import Settings
from gamify.cli.common import UsageError

SUITES = {"stepper": stepper, "search": search_baseline, "flips": flip_walks}
# (seconds per sample, repeats) per suite when --seconds/--repeats are not given
DEFAULTS = {
    "stepper": {"full": (0.5, 3), "quick": (0.02, 1)},
    "search": {"full": (0.3, 9), "quick": (0.02, 1)},
    "flips": {"full": (10.0, 3), "quick": (0.1, 1)},  # a flip-rate sample is one walk
}
NEEDS = {  # suite: (gamify.native check, what it checks) for suites that time the compiled core
    "stepper": ("ffi_available", "gamify._core with XLA's FFI kernels"),
    "flips": ("available", "gamify._core"),
}
VERSIONS = ("jax", "jaxlib", "mctx", "numpy", "numba")

EXAMPLES = """\
examples:
  gamify bench throughput --quick
  gamify bench throughput --suites search --json search.json --markdown search.md
  gamify bench throughput --suites stepper --seconds 1 --repeats 5
"""


def _defaults_text(quick: bool) -> str:
    return ", ".join(f"{name} {DEFAULTS[name]['quick' if quick else 'full']}" for name in SUITES)


def add_parser(suites) -> None:
    """Adds ``throughput`` to the ``gamify bench`` suites."""
    parser = suites.add_parser(
        "throughput",
        help="stepper, search and flip-walker speed against their baselines",
        description=textwrap.fill(
            "Time gamify's C++ stepper against numpy and jit JAX and gamify's search against a bare mctx "
            "search, each baseline in this process, interleaved with what it is compared with, and print "
            "the ratios; and the flip-graph walker's rates next to those public programs reached "
            "(references, not run here).",
            88,
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--suites",
        default=",".join(SUITES),
        metavar="LIST",
        help=f"comma-separated, of {', '.join(SUITES)} (all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: the smallest cases and short samples (about a minute)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        metavar="S",
        help="length of one timed sample (for flip rates: one walk); defaults (S, N) per suite: "
        f"{_defaults_text(False)}; with --quick: {_defaults_text(True)}",
    )
    parser.add_argument(
        "--repeats", type=int, metavar="N", help="samples per side, interleaved; figures are medians"
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write every row, the machine and the command"
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables for RESULTS.md")


def _suites(args) -> list[str]:
    """The suites asked for, in order; UsageError for bad settings or a missing compiled core."""
    names = list(dict.fromkeys(name.strip() for name in args.suites.split(",") if name.strip()))
    unknown = [name for name in names if name not in SUITES]
    if unknown or not names:
        what = f"unknown suite {unknown[0]!r}" if unknown else "no suite"
        raise UsageError(f"{what} in --suites: choose from {', '.join(SUITES)}, comma-separated")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise UsageError(f"--seconds must be a positive number, got {args.seconds}")
    if args.repeats is not None and args.repeats < 1:
        raise UsageError(f"--repeats must be positive, got {args.repeats}")
    for name in names:
        check, what = NEEDS.get(name, (None, ""))
        if check and not getattr(native, check)():
            raise UsageError(f"the {name} suite times {what}, which this install lacks (pip install .)")
    return names


def _settings(args, suite: str) -> Settings:
    seconds, repeats = DEFAULTS[suite]["quick" if args.quick else "full"]
    return Settings(args.quick, args.seconds or seconds, args.repeats or repeats)


def machine_info() -> dict:
    """:func:`gamify.cli.bench.ranks.machine_info` plus JAX's device and the versions of what is timed."""
    device = jax.devices()[0]
    versions = {name: importlib.metadata.version(name) for name in VERSIONS}
    return {
        **host_info(accelerator=True),
        "jax_device": f"{device.platform} ({device.device_kind})",
        **versions,
    }


def machine_line(machine: dict) -> str:
    return (
        f"machine: {machine['platform']}, {machine['cpu']}, {machine['cores']} cores; "
        f"jax {machine['jax']} on {machine['jax_device']}; gamify {machine['gamify']}"
    )


def _command(args, suites: list[str]) -> str:
    """The command line of this run."""
    parts = ["gamify bench throughput --suites", ",".join(suites)] + (["--quick"] if args.quick else [])
    parts += [f"--{name} {getattr(args, name)}" for name in ("seconds", "repeats", "json", "markdown")]
    return " ".join(part for part in parts if not part.endswith(" None"))


def markdown_report(report: dict, tables: list) -> str:
    """The tables under a header (machine, date, command, sampling), ready for benchmarks/RESULTS.md."""
    machine = report["machine"]
    sampling = ", ".join(
        f"{name} {s['seconds']:g} s × {s['repeats']}" for name, s in report["settings"].items()
    )
    header = [
        "### gamify bench throughput",
        "",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}; "
        f"jax {machine['jax']} on {machine['jax_device']}, mctx {machine['mctx']}, numpy {machine['numpy']}, "
        f"numba {machine['numba']}",
        f"- date: {machine['date']}, gamify {machine['gamify']}, Python {machine['python']}",
        f"- command: `{report['command']}`",
        f"- samples (length × repeats, medians): {sampling}",
    ]
    return "\n\n".join(["\n".join(header), *(table.markdown() for table in tables)]) + "\n"


def run(args) -> int:
    """``gamify bench throughput``: measures the suites, prints the tables, writes --json/--markdown."""
    suites = _suites(args)
    machine = machine_info()
    say = lambda line: print(line, flush=True)
    say(machine_line(machine))
    report = {"command": _command(args, suites), "machine": machine, "settings": {}, "rows": []}
    tables = []
    for name in suites:
        suite, settings = SUITES[name], _settings(args, name)
        report["settings"][name] = settings._asdict()
        quick = "quick, " if settings.quick else ""
        say(f"{name}: {quick}samples of {settings.seconds:g} s × {settings.repeats}")
        start = time.monotonic()
        rows = suite.measure(settings, say)
        say(f"{name}: {len(rows)} rows in {time.monotonic() - start:.1f} s")
        report["rows"] += rows
        tables += suite.tables(rows)
    print("\n" + "\n\n".join(table.markdown() for table in tables))
    for path, text in (
        (args.json, lambda: json.dumps(report, indent=1, ensure_ascii=False) + "\n"),
        (args.markdown, lambda: markdown_report(report, tables)),
    ):
        if path is not None:  # after a long run, a missing folder is made rather than the run lost
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text())
    return 0

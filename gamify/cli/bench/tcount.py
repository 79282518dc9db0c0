"""``gamify bench tcount``: Toffoli and T counts of polytof's benchmark circuits, ours beside the best known.

For each shipped phase tensor (polytof's IDs; ``--atq`` adds the same circuits in
AlphaTensor-Quantum's basis), over each seed, ``gamify tcount``'s search runs for the
budget; the table gives the best known counts (polytof's ``docs/tensors.md``, which
include AlphaTensor-Quantum's where those are best), ours (best over the seeds, and
the spread), and the median time to our best. Every count in it comes from a
decomposition verified exactly against the tensor.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import textwrap
from pathlib import Path

from gamify.cli.bench.machine import header_lines, machine_info
from gamify.cli.common import UsageError, graceful_stop, integers, parse_duration
from gamify.tensor import tcount, waring

EXAMPLES = """\
examples:
  gamify bench tcount --max-n 8 --time 10s
  gamify bench tcount --max-n 15 --time 10m --seeds 0,1,2 --markdown tcount.md
  gamify bench tcount --ids 0727,0728 --time 2m --atq
"""


def add_parser(suites) -> None:
    """Adds ``tcount`` to the ``gamify bench`` suites."""
    parser = suites.add_parser(
        "tcount",
        help="Toffoli and T counts of polytof's benchmark circuits against the best known",
        description=textwrap.fill(
            "Run gamify tcount's search (flip-graph walks, then TOHPE/FastTODD) on the shipped phase "
            "tensors and print our verified Toffoli and T counts beside the best known (polytof, "
            "Khoruzhii et al. 2026; AlphaTensor-Quantum, Ruiz et al. 2025).",
            88,
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--max-n", type=int, default=15, help="tensors with n up to this (default 15)")
    parser.add_argument("--ids", help="comma-separated IDs or names instead (any n)")
    parser.add_argument(
        "--atq", action="store_true", help="also the same circuits in AlphaTensor-Quantum's basis"
    )
    parser.add_argument(
        "--time", type=parse_duration, default=60.0, help="budget per tensor and seed (default 60s)"
    )
    parser.add_argument("--seeds", type=integers, default=[0], help="comma-separated seeds (default 0)")
    parser.add_argument("--threads", type=int, help="walkers at once (default: the CPUs available)")
    parser.add_argument("--json", type=Path, help="write the rows and the machine as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as markdown (for RESULTS.md)")


def cases(args) -> list[tuple[str, dict]]:
    """(tensor id, its polytof row) for each tensor the arguments select."""
    rows = waring.benchmarks()
    if args.ids:
        chosen = []
        for spec in args.ids.split(","):
            ident = waring.benchmark_tensor(spec.strip()).name.split(" ")[0]  # raises on an unknown id
            chosen.append((ident, waring.benchmark_row(ident)))
        return chosen
    chosen = [(r["id"], r) for r in rows if r["n"] <= args.max_n]
    if args.atq:
        chosen += [(r["alias"], r) for r in rows if r["n"] <= args.max_n and r.get("alias")]
    return chosen


def run(args) -> int:
    """``gamify bench tcount``."""
    if args.time <= 0 or not args.seeds:
        raise UsageError("--time must be positive and --seeds not empty")
    selected = cases(args)
    if not selected:
        raise UsageError(f"no shipped tensor has n <= {args.max_n}")
    machine = machine_info()
    rows = []
    with graceful_stop("the benchmark") as stop:
        for ident, known in selected:
            tensor = waring.benchmark_tensor(ident)
            runs = []
            for seed in args.seeds:
                if stop():
                    break
                result = tcount.search(tensor, args.time, seed=seed, threads=args.threads, should_stop=stop)
                runs.append(result)
            if not runs:
                break
            row = _row(ident, known, tensor, runs)
            rows.append(row)
            print(_line(row), flush=True)
        interrupted = stop()
    command = _command(args)
    summary = _summary(rows)
    print(summary)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(rows, machine, command, args, summary) + "\n", encoding="utf-8")
    return 130 if interrupted else 0


def _command(args) -> str:
    """This run as a command line (output paths left out)."""
    parts = ["--ids", args.ids] if args.ids else ["--max-n", str(args.max_n)]
    parts += ["--atq"] if args.atq else []
    parts += ["--time", f"{args.time:g}s", "--seeds", ",".join(map(str, args.seeds))]
    return shlex.join(["gamify", "bench", "tcount", *parts])


def _row(ident: str, known: dict, tensor: waring.PhaseTensor, runs: list[tcount.TcountResult]) -> dict:
    toffoli = [r.toffoli_count for r in runs]
    tcounts = [r.t_count for r in runs]
    return {
        "id": ident,
        "name": known["name"],
        "n": tensor.n,
        "nnz": tensor.nnz,
        "known_toffoli": known["toffoli"],
        "known_tcount": known["tcount"],
        "toffoli": toffoli,
        "tcount": tcounts,
        "toffoli_seconds": statistics.median(
            r.toffoli_seconds for r in runs if r.toffoli_count == min(toffoli)
        ),
        "tcount_seconds": statistics.median(r.tcount_seconds for r in runs if r.t_count == min(tcounts)),
        "verified": True,  # search() raises rather than return a decomposition that does not check
    }


def _mark(ours: int, known: int) -> str:
    return "=" if ours == known else ("**<**" if ours < known else "+" + str(ours - known))


def _spread(values: list[int]) -> str:
    return str(min(values)) + ("" if len(values) == 1 else f" ({min(values)}–{max(values)})")


def _line(row: dict) -> str:
    return (
        f"{row['id']:>4} {row['name']:<20} n={row['n']:<3} Toffoli {_spread(row['toffoli']):<9} "
        f"best known {row['known_toffoli']:<3} ({_mark(min(row['toffoli']), row['known_toffoli'])})   "
        f"T {_spread(row['tcount']):<11} best known {row['known_tcount']:<4} "
        f"({_mark(min(row['tcount']), row['known_tcount'])})"
    )


def _summary(rows: list[dict]) -> str:
    toffoli = sum(min(r["toffoli"]) <= r["known_toffoli"] for r in rows)
    tcounts = sum(min(r["tcount"]) <= r["known_tcount"] for r in rows)
    return f"best known reached: Toffoli count {toffoli}/{len(rows)}, T-count {tcounts}/{len(rows)}"


def markdown(rows: list[dict], machine: dict, command: str, args, summary: str) -> str:
    """The table for RESULTS.md."""
    seeds = ",".join(map(str, args.seeds))
    lines = header_lines(machine, command) + [
        f"- budget: {args.time:g} s per tensor and seed (half Toffoli stage, half T stage), seeds {seeds}; "
        "counts are the best over the seeds (spread in brackets), times the median time to it",
        "",
        "| id | circuit | n | nnz | Toffoli: best known | ours | s | T-count: best known | ours | s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['id']} | {r['name']} | {r['n']} | {r['nnz']} | {r['known_toffoli']} | "
            f"{_spread(r['toffoli'])} {_mark(min(r['toffoli']), r['known_toffoli'])} | "
            f"{r['toffoli_seconds']:.1f} | "
            f"{r['known_tcount']} | {_spread(r['tcount'])} {_mark(min(r['tcount']), r['known_tcount'])} | "
            f"{r['tcount_seconds']:.1f} |"
        )
    lines += ["", summary + " (`=` equal, `+k` k above, `<` below)"]
    return "\n".join(lines)

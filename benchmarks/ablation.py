"""Does the network help? The learned search against the same search with its network frozen.

For each case and seed, ``gamify search matmul`` runs twice with the same budget, seed and
settings: once as it is (``--network trained``) and once with the network kept at its
initial weights (``--network frozen``: learning rate 0, so the same games, search and update
computations, none applied). The table gives, per variant, the best complete rank of each
seed (or the best bound when none was complete), how many seeds reached the target, and the
median seconds to the target. Every rank counted is of a scheme ``gamify search`` verified.

Usage (repository root, gamify installed)::

    python benchmarks/ablation.py                                  # the recorded table
    python benchmarks/ablation.py --cases 2x2x2:z2 --seeds 0,1 --budget 20s --markdown /tmp/a.md

Results go into benchmarks/RESULTS.md by hand, with the machine, date and command printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {  # case -> (sizes, field, target rank, extra search arguments)
    "2x2x2:z2": ((2, 2, 2), "z2", 7, []),
    "2x2x2:z-1..1": ((2, 2, 2), "z", 7, ["--coefficients=-1,0,1"]),
    "2x2x3:z2": ((2, 2, 3), "z2", 11, []),
}
VARIANTS = ("trained", "frozen")


def run(case: str, seed: int, variant: str, budget: str, out: Path) -> dict:
    """One search; its best rank (complete or bound), whether it reached the target, and when."""
    sizes, field, target, extra = CASES[case]
    argv = ["search", "matmul", *map(str, sizes), "--field", field, "--target-rank", str(target)]
    argv += [*extra, "--budget", budget, "--seed", str(seed), "--network", variant, "--quiet"]
    argv += ["--out", str(out)]
    done = subprocess.run([sys.executable, "-m", "gamify.cli", *argv], capture_output=True, text=True)
    if done.returncode not in (0, 130):
        raise RuntimeError(f"gamify {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    complete = re.search(r"rank (\d+) decomposition, verified exactly", done.stdout)
    bound = re.search(r"search's best game ended at rank ≤ (\d+)", done.stdout)
    rank = int(complete.group(1)) if complete else int(bound.group(1)) if bound else None
    reached_at = None
    for line in (out / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("best_return") is not None and -record["best_return"] <= target:
            reached_at = record["elapsed"]
            break
    return {"rank": rank, "complete": complete is not None, "reached_at": reached_at}


def row(case: str, variant: str, results: list[dict], seeds: list[int]) -> str:
    target = CASES[case][2]
    ranks = ", ".join(f"{r['rank']}" + ("" if r["complete"] else " (bound)") for r in results)
    times = [r["reached_at"] for r in results if r["reached_at"] is not None]
    hit = f"{len(times)}/{len(seeds)}"
    median = f"{statistics.median(times):.0f}" if times else "–"
    return f"| {case} | {variant} | {target} | {ranks} | {hit} | {median} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="2x2x2:z2", help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (0,1,2)")
    parser.add_argument("--budget", default="2m", help="wall time per search (2m)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    cases = args.cases.split(",")
    unknown = [case for case in cases if case not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}: choose from {', '.join(CASES)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    command = (
        f"python benchmarks/ablation.py --cases {args.cases} --seeds {args.seeds} --budget {args.budget}"
    )
    header = [
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"date: {datetime.date.today()}; command: `{command}`",
        "",
        "| case | network | target | best rank per seed | seeds at target | median s to target |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(header), flush=True)
    lines = list(header)
    with tempfile.TemporaryDirectory(prefix="gamify-ablation-") as scratch:
        for case in cases:
            for variant in VARIANTS:
                results = [
                    run(case, seed, variant, args.budget, Path(scratch) / f"{case}-{variant}-{seed}")
                    for seed in seeds
                ]
                lines.append(row(case, variant, results, seeds))
                print(lines[-1], flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

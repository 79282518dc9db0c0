"""Rank table: what ``gamify search matmul`` reaches from scratch, per case, seed and budget.

Runs ``gamify search matmul N M P`` (learning + search only: no given scheme, no
flip graph) once per case and seed, each in its own process and run directory, and
reads back from the run: the best rank found (a complete, verified decomposition,
or only a bound when none was complete), the wall time at which the target rank
was first reached, and the games played. Prints a Markdown table (and JSON with
``--json``) for benchmarks/RESULTS.md.

Cases (issue 3): ⟨2,2,2⟩ over Z2 (target 7), over Z with F = {-1,0,1} (7),
⟨2,2,3⟩ over Z2 (11), ⟨2,3,3⟩ over Z2 (15), ⟨3,3,3⟩ over Z2 (23).

Example::

    python benchmarks/rank_table.py --cases 222z2 --seeds 0 1 2 --budget 10m --out /tmp/ranks
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "222z2": ((2, 2, 2), "z2", None, 7),
    "222z": ((2, 2, 2), "z", "-1,0,1", 7),
    "223z2": ((2, 2, 3), "z2", None, 11),
    "233z2": ((2, 3, 3), "z2", None, 15),
    "333z2": ((3, 3, 3), "z2", None, 23),
}


def run_case(name: str, seed: int, budget: str, out: Path, preset: str, extra: list[str]) -> dict:
    (n, m, p), field, coefficients, target = CASES[name]
    run_dir = out / f"{name}-seed{seed}"
    argv = ["gamify", "search", "matmul", str(n), str(m), str(p), "--field", field]
    argv += ["--target-rank", str(target), "--budget", budget, "--seed", str(seed)]
    argv += ["--out", str(run_dir), "--preset", preset, "--quiet", *extra]
    if coefficients:
        argv.append(f"--coefficients={coefficients}")  # "=": argparse reads "-1,..." as an option
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    reached = [r["elapsed"] for r in records if r["best_return"] is not None and -r["best_return"] <= target]
    best = json.loads((run_dir / "best.json").read_text())
    return {
        "case": name,
        "seed": seed,
        "target": target,
        "best_rank": -best["return"],
        "complete": best["solved"],
        "seconds_to_target": reached[0] if reached else None,
        "games": records[-1]["games"],
        "sims_per_second": statistics.median(r["sims_per_second"] for r in records),
        "wall_seconds": round(wall, 1),
        "verified_scheme": (run_dir / "scheme.json").exists(),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| case | seed | target | best rank | complete | time to target (s) | games | sims/s |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        to_target = "not reached" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.0f}"
        lines.append(
            f"| {r['case']} | {r['seed']} | {r['target']} | {r['best_rank']:g} | "
            f"{'yes' if r['complete'] else 'bound only'} | {to_target} | {r['games']:,} | "
            f"{r['sims_per_second']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["222z2"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", default="10m", help="per run, as gamify search --budget (10m)")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--out", type=Path, required=True, help="folder for the run directories")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--extra", default="", help="more gamify search options per run (ablations), e.g. --change-of-basis=0"
    )
    args = parser.parse_args()
    rows = []
    for name in args.cases:
        for seed in args.seeds:
            rows.append(run_case(name, seed, args.budget, args.out, args.preset, args.extra.split()))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

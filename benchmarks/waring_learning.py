"""Does the network earn its keep in the T-count game? `gamify train waring` three ways, same budgets.

Arms, each a fresh `gamify train waring` process with the same time budget, seed and search:
- ``trained``: self-play trains the policy-value network (the default);
- ``untrained``: the same network at its random initialisation, never updated
  (``--learning-rate 0``): the search with an untrained network;
- ``search alone``: no network (``--torso uniform``: uniform priors, zero values).
Per arm and seed: the best T-count of a finished game (the game verifies nothing itself:
the parities of best.json are checked here against the tensor, after the game's change of
basis is mapped back), the time it was first reached, and the games played. The
classical search of `gamify tcount` on the same tensor and budget is the line to beat.

    python benchmarks/waring_learning.py --tensors 0820,0801 --seeds 0,1,2 --time 120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command
from gamify.tensor import tcount, waring

ARMS = {
    "trained": [],
    "untrained": ["--learning-rate", "0"],
    "search alone": ["--torso", "uniform"],
}


def run_arm(arm: str, tensor: str, seed: int, seconds: float, extra: list[str], folder: Path) -> dict:
    """One `gamify train waring` run; its verified best T-count, when it was reached, games played."""
    out = folder / f"{tensor}-{seed}-{arm.replace(' ', '_')}"
    command = [sys.executable, "-m", "gamify.cli", "train", "waring", "--set", f"tensor={tensor}"]
    command += [
        "--seed",
        str(seed),
        "--time",
        f"{seconds}s",
        "--out",
        str(out),
        "--quiet",
        "--train-past-optimum",
    ]
    command += [*ARMS[arm], *extra]
    subprocess.run(command, check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.DEVNULL)
    best = json.loads((out / "best.json").read_text())
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    games = max((m.get("games", 0) for m in metrics), default=0)
    reached = next((m["elapsed"] for m in metrics if m.get("best_return") == best["return"]), None)
    tcount_found = None
    if best["solved"]:
        parities = waring.masks(best["actions"])
        if waring.check_waring(waring.benchmark_tensor(tensor), parities) is not None:
            raise SystemExit(f"{arm} seed {seed}: best.json's parities do not decompose {tensor}")
        tcount_found = len(parities)
    return {
        "arm": arm,
        "seed": seed,
        "tcount": tcount_found,
        "return": best["return"],
        "seconds": reached,
        "games": games,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tensors", default="0820,0801", help="shipped phase tensors (default 0820,0801)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds (default 0,1,2)")
    parser.add_argument("--time", type=float, default=120.0, help="seconds per run (default 120)")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated arms (default all)")
    parser.add_argument("--train-args", default="", help="more `gamify train` options for every arm")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    arms = args.arms.split(",")
    if set(arms) - set(ARMS):
        raise SystemExit(f"unknown arms {sorted(set(arms) - set(ARMS))}; choose among {list(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    machine = machine_info()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for tensor in args.tensors.split(","):
            phase = waring.benchmark_tensor(tensor)
            known = waring.benchmark_row(tensor)
            classical = [tcount.search(phase, args.time, seed=s).t_count for s in seeds]
            for seed in seeds:  # arms interleaved per seed: drift in the machine hits all alike
                for arm in arms:
                    row = run_arm(arm, tensor, seed, args.time, args.train_args.split(), Path(scratch))
                    row |= {"tensor": phase.name, "known": known["tcount"], "classical": classical}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    lines = header_lines(machine, script_command("waring_learning.py", argv)) + [
        f"- budget: {args.time:g} s per run; `gamify train waring` defaults otherwise"
        + (f" plus `{args.train_args}`" if args.train_args else ""),
        "",
        "| tensor | best known T | gamify tcount (same budget) | arm | T-count per seed | median s to best "
        "| games |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for tensor in dict.fromkeys(r["tensor"] for r in rows):
        for arm in arms:
            mine = [r for r in rows if r["tensor"] == tensor and r["arm"] == arm]
            counts = ", ".join(
                f"— ({r['return']:g})" if r["tcount"] is None else str(r["tcount"]) for r in mine
            )
            times = [r["seconds"] for r in mine if r["seconds"] is not None]
            median = f"{statistics.median(times):.0f}" if times else "—"
            games = statistics.median(r["games"] for r in mine)
            lines.append(
                f"| {tensor} | {mine[0]['known']} | {min(mine[0]['classical'])} | {arm} | {counts} "
                f"| {median} | {games:.0f} |"
            )
    lines += [
        "",
        "— (R): no finished game within the step limit; R is the best return, minus the moves and the "
        "residual's bound (the game's truncation penalty).",
    ]
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training on several devices against one: simulations per second of `gamify train`, the same
global batch and seed, on CPU devices forced by XLA_FLAGS (one per core) and as a job of two
processes (jax.distributed on localhost, gloo between them).

Arms, each a fresh `gamify train` process (XLA_FLAGS=--xla_force_host_platform_device_count=2
for all, so they differ only in what they use):
- ``1 device``: the default run (one shard, one device);
- ``2 shards on 1 device``: the run the 2-device arms make, played on one device;
- ``2 devices``: ``--devices 2`` (its shards default to 2);
- ``2 processes``: ``--coordinator`` with two processes of one device each.
The rate of an arm is the median over its iterations of ``sims_per_second`` (moves played ×
simulations / the iteration's seconds, learner included), leaving out the first iteration
(compilation) and evaluation iterations; ratios are taken per seed, arms interleaved.

    python benchmarks/scale_out.py --games lights_out,xor_rank --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command

ARMS = ("1 device", "2 shards on 1 device", "2 devices", "2 processes")
OPTIONS = {
    "1 device": ["--devices", "1", "--shards", "1"],
    "2 shards on 1 device": ["--devices", "1", "--shards", "2"],
    "2 devices": ["--devices", "2"],
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_arm(arm: str, game: str, seed: int, extra: list[str], folder: Path) -> float:
    """Trains ``game`` in the arm's way (``extra``: the budget and options); returns its median sims/s."""
    out = folder / f"{game}-{seed}-{arm.replace(' ', '_')}"
    base = [sys.executable, "-m", "gamify.cli", "train", game, "--train-past-optimum", "--quiet"]
    base += ["--seed", str(seed), "--out", str(out), *extra]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    if arm == "2 processes":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
        job = ["--coordinator", f"127.0.0.1:{_port()}", "--num-processes", "2"]
        procs = [
            subprocess.Popen(
                [*base, *job, "--process-id", str(i)], env=env, cwd=folder, stdout=subprocess.DEVNULL
            )
            for i in range(2)
        ]
        codes = [p.wait() for p in procs]
    else:
        codes = [
            subprocess.run([*base, *OPTIONS[arm]], env=env, cwd=folder, stdout=subprocess.DEVNULL).returncode
        ]
    if any(codes):
        raise RuntimeError(f"{arm} on {game} (seed {seed}) failed: exit {codes}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["sims_per_second"] for r in records[1:] if "eval_mean_return" not in r]
    return statistics.median(rates)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", default="lights_out,xor_rank", help="games to train (comma-separated)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iterations", type=int, default=8, help="iterations per run (8)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"of {', '.join(ARMS)}")
    parser.add_argument(
        "--train-args", default="", help="more `gamify train` options, e.g. '--simulations 8'"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    if unknown := set(arms) - set(ARMS):
        parser.error(f"unknown arms {sorted(unknown)}")
    games, seeds = args.games.split(","), [int(s) for s in args.seeds.split(",")]
    extra = shlex.split(args.train_args)
    per_iteration = (
        int(extra[extra.index("--games-per-iteration") + 1]) if "--games-per-iteration" in extra else 32
    )
    extra += ["--games", str(per_iteration * args.iterations)]
    clock = time.perf_counter()
    rates: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="gamify-scale-out-") as scratch:
        for game in games:
            for seed in seeds:
                for arm in arms:  # interleaved: a drift of the machine hits every arm alike
                    rate = run_arm(arm, game, seed, extra, Path(scratch))
                    rates.setdefault((game, arm), []).append(rate)
                    print(f"{game} seed {seed} {arm}: {rate:,.0f} sims/s", flush=True)
    command = script_command(__file__, argv)
    base = arms[0]
    lines = [
        "### benchmarks/scale_out.py: training on 2 devices or 2 processes against 1 device",
        "",
        *header_lines(machine_info(), command),
        f"- {args.iterations} iterations of {per_iteration} games per run (`gamify train` defaults"
        f"{', ' + args.train_args if args.train_args else ''}), seeds {args.seeds}; "
        f"{time.perf_counter() - clock:.0f} s in all",
        f"- sims/s: median over a run's iterations (compilation and evaluation left out), mean ± sd "
        f"over seeds; ratio: against `{base}` per seed, mean (min-max)",
        "",
        "| game | "
        + " | ".join(f"{arm} sims/s" for arm in arms)
        + " | "
        + " | ".join(f"{arm} / {base}" for arm in arms[1:])
        + " |",
        "|---|" + "---:|" * (2 * len(arms) - 1),
    ]
    for game in games:
        cells = []
        for arm in arms:
            values = rates[game, arm]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):,.0f} ± {sd:,.0f}")
        for arm in arms[1:]:
            ratios = [a / b for a, b in zip(rates[game, arm], rates[game, base], strict=True)]
            cells.append(f"{statistics.mean(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
        lines.append(f"| {game} | " + " | ".join(cells) + " |")
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

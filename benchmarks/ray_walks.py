"""Flip walks through Ray against the same walks on threads: flips per second, best rank.

Both arms walk from the naive algorithm for the same seconds with the same seed: ``threads``
is :func:`gamify.tensor.flips.walk` with 2 threads in this process; ``ray`` is
:func:`gamify.tensor.ray_walks.ray_walk` on a local Ray instance of 2 CPUs (2 walkers of one
thread, rounds of ``--round`` seconds, the shared pool in an actor). Ray starts once, before
the first measurement; a Ray walk's seconds start once its pool is up, so the worker processes'
start (the first round's) counts against Ray. Arms interleaved per seed.

    python benchmarks/ray_walks.py --formats 4x4x4,3x4x5 --seconds 30 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command
from gamify.tensor.flips import standard_scheme, walk
from gamify.tensor.ray_walks import ray_walk, session


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", default="4x4x4,3x4x5")
    parser.add_argument("--seconds", type=float, default=30.0, help="per walk (30)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--round", type=float, default=10.0, help="Ray: the longest round (10 s)")
    parser.add_argument("--plateau", type=int, default=20_000)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    formats = [tuple(int(x) for x in f.split("x")) for f in args.formats.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    clock = time.perf_counter()
    rows = {}
    with session(num_cpus=2):
        for sizes in formats:
            naive = standard_scheme(*sizes)
            for seed in seeds:
                plain = walk(naive, 0, args.seconds, plateau=args.plateau, seed=seed, threads=2)
                spread = ray_walk(
                    naive, 0, args.seconds, round_seconds=args.round, plateau=args.plateau, seed=seed
                )
                arms = (("threads", plain), ("ray", spread))
                for arm, result in arms:
                    assert result.scheme.verify().ok
                    rows.setdefault((sizes, arm), []).append(
                        (result.flips / result.seconds, result.scheme.rank)
                    )
                said = [f"{arm} {r.flips / r.seconds / 1e6:.2f} M/s rank {r.scheme.rank}" for arm, r in arms]
                print(f"⟨{','.join(map(str, sizes))}⟩ seed {seed}: " + ", ".join(said), flush=True)
    command = script_command(__file__, argv)
    lines = [
        "### benchmarks/ray_walks.py: flip walks through Ray against the same walks on 2 threads",
        "",
        *header_lines(machine_info(), command),
        f"- {args.seconds:g} s per walk from the naive algorithm, seeds {args.seeds}, "
        f"plateau {args.plateau}; "
        f"Ray: a local instance of 2 CPUs, 2 walkers of 1 thread, rounds of {args.round:g} s; "
        f"{time.perf_counter() - clock:.0f} s in all",
        "- flips/s: mean over seeds (M = 10⁶); ratio: Ray ÷ threads per seed, mean (min-max); "
        "ranks: per seed, every scheme verified",
        "",
        "| format | threads flips/s | Ray flips/s | Ray / threads | threads ranks | Ray ranks |",
        "|---|---:|---:|---:|---|---|",
    ]
    for sizes in formats:
        plain, spread = rows[sizes, "threads"], rows[sizes, "ray"]
        ratios = [r[0] / p[0] for p, r in zip(plain, spread, strict=True)]
        lines.append(
            f"| ⟨{','.join(map(str, sizes))}⟩ | {statistics.mean(p[0] for p in plain) / 1e6:.2f} M "
            f"| {statistics.mean(r[0] for r in spread) / 1e6:.2f} M "
            f"| {statistics.mean(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
            f"| {', '.join(str(p[1]) for p in plain)} | {', '.join(str(r[1]) for r in spread)} |"
        )
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

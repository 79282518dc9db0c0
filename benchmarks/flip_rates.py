"""Does the scheme a flip walk stands on decide whether it goes lower? Schemes of one rank, each
walked twice by independent uniform walkers (``flip_graph.descent_rates``), and simple features
of the schemes against their rates.

If the two estimates of each scheme's rate agree far beyond chance, the scheme matters (a value
over schemes has something to learn); a feature that ranks the rates tells what. Schemes come
from plain walks from the naive algorithm (one thread, seeds 10000, 10007, ...), stopped at
``--rank``.

    python benchmarks/flip_rates.py --format 3x4x5 --rank 53 --schemes 32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command
from gamify.games import flip_graph
from gamify.tensor import flips


def features(scheme) -> dict[str, float]:
    masks = flips.to_masks(scheme).astype(np.int64)
    out = {"flip pairs (term pairs sharing a factor)": 0.0}
    for mode in range(3):
        _, counts = np.unique(masks[:, mode], return_counts=True)
        out["flip pairs (term pairs sharing a factor)"] += float((counts * (counts - 1) // 2).sum())
        out[f"distinct factors, mode {'abc'[mode]}"] = float(len(counts))
    out["weight (nonzero entries)"] = float(sum(bin(int(x)).count("1") for x in masks.ravel()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", default="3x4x5")
    parser.add_argument("--rank", type=int, default=53)
    parser.add_argument("--schemes", type=int, default=32)
    parser.add_argument("--walkers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--plateau", type=int, default=1000)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    sizes = tuple(int(x) for x in args.format.split("x"))
    naive = flips.standard_scheme(*sizes)
    clock = time.perf_counter()
    schemes, seed = [], 10_000
    while len(schemes) < args.schemes:
        scheme = flips.walk(naive, args.rank, 60.0, seed=seed, threads=1).scheme
        seed += 7
        if scheme.rank == args.rank:
            schemes.append(scheme)
    print(f"{len(schemes)} schemes of rank {args.rank} in {time.perf_counter() - clock:.0f} s", flush=True)
    walk = dict(walkers=args.walkers, rounds=args.rounds, plateau=args.plateau)
    first = flip_graph.descent_rates(schemes, seed=1, **walk)
    second = flip_graph.descent_rates(schemes, seed=2, **walk)
    rate = (first + second) / 2
    binomial = np.sqrt(rate.mean() * (1 - rate.mean()) / args.walkers)
    agreement = spearmanr(first, second)
    machine = machine_info()
    command = script_command(__file__, argv)
    lines = [
        f"### benchmarks/flip_rates.py: which schemes of ⟨{','.join(map(str, sizes))}⟩ rank {args.rank} "
        "go lower",
        "",
        *header_lines(machine, command),
        f"- {len(schemes)} schemes, each walked twice by {args.walkers} uniform walkers for "
        f"{args.rounds} rounds (plateau {args.plateau}); {time.perf_counter() - clock:.0f} s in all",
        f"- rate of going lower: mean {rate.mean():.3f}, spread between schemes (std of the two runs' mean) "
        f"{rate.std():.3f} against {binomial / np.sqrt(2):.3f} from walker noise alone; highest "
        f"{', '.join(f'{x:.2f}' for x in np.sort(rate)[::-1][:5])}",
        f"- the two independent runs agree: Spearman {agreement.statistic:.2f} (p = {agreement.pvalue:.1g})",
        "",
        "| feature of the scheme | Spearman with the rate | p | range |",
        "|---|---:|---:|---|",
    ]
    table = [features(s) for s in schemes]
    for name in table[0]:
        values = np.array([t[name] for t in table])
        rho = spearmanr(values, rate)
        lines.append(
            f"| {name} | {rho.statistic:.2f} | {rho.pvalue:.1g} | {values.min():g} to {values.max():g} |"
        )
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

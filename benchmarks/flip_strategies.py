"""Flip-walk strategies side by side: equal wall time, equal seeds, every core.

Each strategy walks each format from the naive algorithm (⟨n,n,n⟩ with n ≥ 5: among
cyclic-symmetric schemes, as ``gamify bench ranks`` does, unless the strategy names a
symmetry) once per seed, to the best-known Z2 rank or the budget. Prints a Markdown table:
the rank per seed, the median, the seeds at the best-known rank and the median time to it.

    python benchmarks/flip_strategies.py --formats 3x4x5,4x4x4 --seeds 0,1,2,3 --seconds 60
    python benchmarks/flip_strategies.py --strategies plain,pool --pool-size 200

Strategies (``--strategies``, comma-separated):
  plain        restarts from the walker's best or start, one plateau per format;
  range        each stretch draws its plateau log-uniformly from [plateau, 50 × plateau];
  pool         walkers share a pool of distinct schemes per rank and restart from it;
  pool+range   both;
  pool+climb   the pool, and plus transitions up to 3 levels above the walk's level;
  pool+greed   the pool, half the restarts from its lowest rank even before that is full;
  pool+greed+range  and the plateau range;
  luby         stretch k's plateau is plateau / 8 × the Luby sequence's k-th term (1, 1, 2,
               1, 1, 2, 4, ...), uncapped;
  cyclic       ⟨n,n,n⟩ only: among cyclic-symmetric schemes (plateau 10,000) at every n;
  sixfold      ⟨n,n,n⟩ only: among schemes invariant under the cyclic shift and the
               transposition, from the naive algorithm (plateau 100: better than 30, 300,
               1,000 and 3,000 on ⟨4,4,4⟩).
"""

from __future__ import annotations

import argparse
import statistics
import time

from gamify.cli.bench.ranks import parse_formats
from gamify.tensor import flips
from gamify.tensor.records import reference_ranks

STRATEGIES = {
    "plain": {},
    "range": {"range": 50},
    "pool": {"pool": True},
    "pool+range": {"pool": True, "range": 50},
    "pool+climb": {"pool": True, "plus_levels": 3},
    "pool+greed": {"pool": True, "greed": 0.5},
    "pool+greed+range": {"pool": True, "greed": 0.5, "range": 50},
    "luby": {"luby": True},
    "cyclic": {"symmetry": "cyclic"},
    "sixfold": {"symmetry": "sixfold"},
}


def walk_once(sizes, strategy: dict, seconds: float, seed: int, pool_size: int) -> tuple[int, float | None]:
    """(rank reached, seconds to the best-known rank or None) of one walk."""
    n = sizes[0]
    symmetry = strategy.get("symmetry", "cyclic" if sizes == (n, n, n) and n >= 5 else None)
    if symmetry and sizes != (n, n, n):
        raise SystemExit(f"the {symmetry} strategy walks square formats only, not {sizes}")
    symmetric = symmetry is not None
    # the sixfold walk starts from the naive algorithm (already invariant): from the cubes start
    # of the cyclic walks it ended higher (⟨4,4,4⟩ 56 against 49, RESULTS.md)
    cubes = symmetry == "cyclic"
    start = flips.symmetric_scheme(n) if cubes else flips.standard_scheme(*sizes)
    plateau = {None: flips.PLATEAU, "cyclic": 10_000, "sixfold": 100}[symmetry]
    target = reference_ranks(sizes, "z2")["best_known"] or 0
    result = flips.walk(
        start,
        target,
        seconds,
        seed=seed,
        plateau=plateau // 8 if strategy.get("luby") else plateau,
        plateau_max=plateau * strategy.get("range", 0),
        luby=strategy.get("luby", False),
        plus_levels=strategy.get("plus_levels", 1),
        pool_size=pool_size if strategy.get("pool") else 0,
        pool_greed=strategy.get("greed", 0.0),
        symmetric=symmetric,
        transposed=symmetry == "sixfold",
        report_every=0.1,
    )
    return result.scheme.rank, result.seconds if result.reached else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="3x4x5,4x4x4", help="NxMxP,... (3x4x5,4x4x4)")
    parser.add_argument(
        "--strategies", default="plain,pool", help="comma-separated, of " + ", ".join(STRATEGIES)
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated (0,1,2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="per walk (30)")
    parser.add_argument("--pool-size", type=int, default=100, help="schemes per rank in the pool (100)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.strategies.split(",")
    unknown = set(names) - set(STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies {sorted(unknown)}; choose from {list(STRATEGIES)}")
    day = time.strftime("%Y-%m-%d")
    print(f"{args.seconds:g} s per walk, seeds {args.seeds}, pool size {args.pool_size}, {day}")
    print()
    print(
        "| format | best known | strategy | rank per seed | median | at best known | median time to it (s) |"
    )
    print("|---|---:|---|---|---:|---:|---:|")
    for sizes in parse_formats([args.formats]):
        best = reference_ranks(sizes, "z2")["best_known"]
        for name in names:
            runs = [walk_once(sizes, STRATEGIES[name], args.seconds, seed, args.pool_size) for seed in seeds]
            ranks = [rank for rank, _ in runs]
            times = [t for _, t in runs if t is not None]
            cells = [
                "⟨{},{},{}⟩".format(*sizes),
                str(best),
                name,
                ", ".join(map(str, ranks)),
                f"{statistics.median(ranks):g}",
                f"{len(times)}/{len(runs)}",
                f"{statistics.median(times):.1f}" if times else "–",
            ]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

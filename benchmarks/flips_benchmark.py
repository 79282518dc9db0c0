"""Flip-graph walks over Z2 (``gamify.flips.walk``): flip rates, time to known ranks, best ranks.

Rows (each from the naive algorithm unless stated; every final scheme is verified exactly):

* **rate**: flips per second per thread (1 thread) on ⟨3,3,3⟩ once it sits at rank 23
  (walking towards an unreachable 22) and on ⟨4,4,4⟩ around rank 55 (no plus
  transitions, the plain walk's plateau).
* **reach**: time to reach a target rank over several seeds (success rate, median time;
  a failure counts as the time limit), 1 thread unless ``--threads``.
* **best**: the best rank within a time budget (⟨4,4,4⟩, ⟨5,5,5⟩), all threads, plateau 20,000
  (longer walks between plus transitions pay off for these larger cases).

Usage::

    python benchmarks/flips_benchmark.py              # full run (about 10 minutes on 2 cores)
    python benchmarks/flips_benchmark.py --quick      # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

from gamify.flips import standard_scheme, walk

REACH = [  # (n, m, p, target rank, time limit s, seeds)
    (2, 2, 2, 7, 10, 20),
    (3, 3, 3, 23, 10, 20),
    (2, 2, 3, 11, 10, 10),
    (2, 3, 3, 15, 10, 10),
    (3, 3, 4, 29, 20, 10),
    (3, 4, 4, 38, 60, 3),
]
BEST = [(4, 4, 4, 47, 180, 20_000), (5, 5, 5, 93, 120, 20_000)]  # (n, m, p, goal, budget s, plateau)


def rate(n: int, target: int, seconds: float, plus: bool) -> tuple[float, int]:
    result = walk(standard_scheme(n, n, n), target, seconds, threads=1, plus_transitions=plus, seed=1)
    return result.flips / result.seconds, result.scheme.rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small cases, short limits")
    parser.add_argument("--threads", type=int, default=1, help="threads for the reach rows (1)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    rows = []
    scale = 0.05 if args.quick else 1.0
    for n, target, plus in ((3, 22, True), (4, 0, False)):
        flips_per_s, rank = rate(n, target, 10 * scale, plus)
        rows.append({"row": "rate", "case": f"{n}x{n}x{n}", "rank": rank, "flips_per_s": flips_per_s})
        print(
            f"rate   ⟨{n},{n},{n}⟩ at rank {rank}: {flips_per_s / 1e6:.2f} M flips/s per thread", flush=True
        )
    for n, m, p, target, limit, seeds in REACH[:3] if args.quick else REACH:
        times, ranks = [], []
        for seed in range(3 if args.quick else seeds):
            result = walk(standard_scheme(n, m, p), target, limit * scale, threads=args.threads, seed=seed)
            times.append(result.seconds if result.reached else limit * scale)
            ranks.append(result.scheme.rank)
        hits = sum(rank <= target for rank in ranks)
        median = statistics.median(times)
        rows.append(
            {
                "row": "reach",
                "case": f"{n}x{m}x{p}",
                "target": target,
                "hits": hits,
                "runs": len(times),
                "median_s": median,
                "times": times,
                "ranks": ranks,
            }
        )
        print(
            f"reach  ⟨{n},{m},{p}⟩ → {target}: {hits}/{len(times)} within {limit * scale:g} s, "
            f"median {median:.3f} s, best ranks {sorted(ranks)[:5]}",
            flush=True,
        )
    for n, m, p, goal, budget, plateau in BEST[:1] if args.quick else BEST:
        result = walk(
            standard_scheme(n, m, p), goal, budget * scale, threads=os.cpu_count(), seed=0, plateau=plateau
        )
        rows.append(
            {
                "row": "best",
                "case": f"{n}x{m}x{p}",
                "goal": goal,
                "rank": result.scheme.rank,
                "seconds": result.seconds,
                "flips": result.flips,
            }
        )
        print(
            f"best   ⟨{n},{m},{p}⟩: rank {result.scheme.rank} in {result.seconds:.0f} s "
            f"({os.cpu_count()} threads, plateau {plateau:,}, goal {goal}, "
            f"{result.flips / result.seconds / 1e6:.2f} M flips/s)",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()

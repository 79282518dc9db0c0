"""Flips suite of ``gamify bench throughput``: the C++ flip-graph walker (:func:`gamify.flips.walk`).

Every walk starts from the naive algorithm over Z2, and every final scheme is verified
exactly (``walk`` does). Three tables:

* **flip rate**: flips per second per thread (1 thread) on ⟨3,3,3⟩ once it sits at rank
  23 (walking towards an unreachable 22) and on ⟨4,4,4⟩ around rank 55 (no plus
  transitions: the plain walk's plateau); the median of one walk of ``--seconds`` per repeat.
* **reach**: time to a target rank over several seeds, 1 thread (a failure counts as
  the time limit).
* **best**: the best rank within a budget, every core, plateau 20,000 (longer walks between
  plus transitions pay off for these larger formats).

There is no in-process baseline: no public flip-graph program ships with gamify. The figures
are printed next to *references* that issue 5 measured with public flip-graph programs
on the 2-core development machine, so ratios to them mean something on a like machine only.
"""

from __future__ import annotations

import os
import statistics

from gamify.bench.timing import Say, Settings, Table
from gamify.flips import standard_scheme, walk

Sizes = tuple[int, int, int]

# Flips per second per thread of public flip-graph programs on the 2-core development machine
# (AMD EPYC), measured for issue 5: the bars the C++ walker is held to.
RATES = [  # (n of ⟨n,n,n⟩, target rank, plus transitions, reference flips/s per thread)
    (3, 22, True, 9.2e6),
    (4, 0, False, 5.5e6),
]
REACH = [  # (sizes, target rank, time limit s, seeds, reference time from the same programs)
    ((2, 2, 2), 7, 10.0, 20, None),
    ((3, 3, 3), 23, 10.0, 20, "~0.12 s"),
    ((2, 2, 3), 11, 10.0, 10, None),
    ((2, 3, 3), 15, 10.0, 10, None),
    ((3, 3, 4), 29, 20.0, 10, "3.5 s (with plus transitions)"),
    ((3, 4, 4), 38, 60.0, 3, "113 s"),
]
BEST = [  # (sizes, goal rank, budget s, plateau, reference)
    ((4, 4, 4), 47, 180.0, 20_000, "49 in ~6 min, none lower in 25 min"),
    ((5, 5, 5), 93, 120.0, 20_000, "93 in ~15 CPU-min (symmetric walks)"),
]
QUICK_REACH = [((2, 2, 2), 7, 0.5, 3, None), ((3, 3, 3), 23, 0.5, 3, "~0.12 s")]
QUICK_BEST = [((4, 4, 4), 47, 0.5, 20_000, None)]


def _name(sizes: Sizes) -> str:
    return "⟨{},{},{}⟩".format(*sizes)


def flip_rate(n: int, target: int, plus: bool, reference: float, settings: Settings) -> dict:
    """Flips per second of one thread on ⟨n,n,n⟩: the median over repeats (seeds 1, 2, ...)."""
    results = [
        walk(standard_scheme(n, n, n), target, settings.seconds, threads=1, plus_transitions=plus, seed=seed)
        for seed in range(1, settings.repeats + 1)
    ]
    samples = [result.flips / result.seconds for result in results]
    rate = statistics.median(samples)
    return {
        "suite": "flips",
        "table": "flip rate",
        "case": _name((n, n, n)),
        "rank": results[-1].scheme.rank,
        "threads": 1,
        "flips_per_s": rate,
        "samples": samples,
        "reference_flips_per_s": reference,
        "ratio_to_reference": rate / reference,
    }


def reach(sizes: Sizes, target: int, limit: float, seeds: int, reference: str | None) -> dict:
    """How many of ``seeds`` one-thread walks reach ``target`` within ``limit``, and their median time."""
    results = [walk(standard_scheme(*sizes), target, limit, threads=1, seed=seed) for seed in range(seeds)]
    times = [result.seconds if result.reached else limit for result in results]
    return {
        "suite": "flips",
        "table": "reach",
        "case": f"{_name(sizes)} {sizes[0] * sizes[1] * sizes[2]} → {target}",
        "target": target,
        "limit_s": limit,
        "threads": 1,
        "hits": sum(result.reached for result in results),
        "runs": seeds,
        "median_s": statistics.median(times),
        "times": times,
        "ranks": [result.scheme.rank for result in results],
        "reference": reference,
    }


def best(sizes: Sizes, goal: int, budget: float, plateau: int, reference: str | None) -> dict:
    """The best rank one walk on every core reaches within ``budget``."""
    threads = os.cpu_count() or 1
    result = walk(standard_scheme(*sizes), goal, budget, threads=threads, seed=0, plateau=plateau)
    return {
        "suite": "flips",
        "table": "best",
        "case": _name(sizes),
        "goal": goal,
        "budget_s": budget,
        "threads": threads,
        "plateau": plateau,
        "rank": result.scheme.rank,
        "seconds": result.seconds,
        "flips_per_s": result.flips / result.seconds,
        "reference": reference,
    }


def measure(settings: Settings, say: Say) -> list[dict]:
    """The three tables' rows (``quick``: small formats, short limits), each said as it is done."""
    rows = []
    for n, target, plus, reference in RATES:
        rows.append(flip_rate(n, target, plus, reference, settings))
        say(
            f"  flip rate {rows[-1]['case']} at rank {rows[-1]['rank']}: "
            f"{rows[-1]['flips_per_s'] / 1e6:.2f} M flips/s per thread (reference {reference / 1e6:.1f} M)"
        )
    for case in QUICK_REACH if settings.quick else REACH:
        rows.append(reach(*case))
        row = rows[-1]
        within = f"{row['hits']}/{row['runs']} within {row['limit_s']:g} s"
        say(f"  reach {row['case']}: {within}, median {row['median_s']:.3f} s")
    for case in QUICK_BEST if settings.quick else BEST:
        rows.append(best(*case))
        row = rows[-1]
        say(f"  best {row['case']} in {row['budget_s']:g} s on {row['threads']} threads: rank {row['rank']}")
    return rows


def tables(rows: list[dict]) -> list[Table]:
    """Flip rate, reach and best, each next to its reference."""
    mega = lambda rate: f"{rate / 1e6:.2f} M"
    rates = [
        [row["case"], str(row["rank"]), mega(row["flips_per_s"]), mega(row["reference_flips_per_s"])]
        + [f"{row['ratio_to_reference']:.2f}×"]
        for row in rows
        if row["table"] == "flip rate"
    ]
    reaches = [
        [row["case"], f"{row['hits']}/{row['runs']} within {row['limit_s']:g} s", f"{row['median_s']:.3f}"]
        + [row["reference"] or "–"]
        for row in rows
        if row["table"] == "reach"
    ]
    bests = [
        [row["case"], f"{row['budget_s']:g}", str(row["threads"]), f"{row['plateau']:,}", str(row["rank"])]
        + [str(row["goal"]), mega(row["flips_per_s"]), row["reference"] or "–"]
        for row in rows
        if row["table"] == "best"
    ]
    source = "References: public flip-graph programs on the 2-core development machine (issue 5)."
    return [
        Table(
            "Flip rate of the C++ walker, 1 thread (flips/s)",
            ("case", "rank", "walker", "reference", "walker/reference"),
            rates,
            source,
        ),
        Table(
            "Time to a target rank, 1 thread", ("case", "runs reaching it", "median s", "reference"), reaches
        ),
        Table(
            "Best rank within a budget, every core",
            ("case", "budget s", "threads", "plateau", "rank", "goal", "flips/s", "reference"),
            bests,
        ),
    ]

"""Flips suite of ``gamify bench throughput``: the C++ flip-graph walker (:func:`gamify.tensor.flips.walk`).

Every walk starts from the naive algorithm over Z2, and every final scheme is verified
exactly (``walk`` does). Four tables:

* **flip rate**: flips per second per thread (1 thread) on ⟨3,3,3⟩ once it sits at rank
  23 (walking towards an unreachable 22) and on ⟨4,4,4⟩ around rank 55 (no plus
  transitions: the plain walk's plateau); the median of one walk of ``--seconds`` per repeat.
* **reach**: time to a target rank over several seeds, 1 thread (a failure counts as
  the time limit).
* **lift**: Hensel lifting (:func:`gamify.tensor.lift.hensel_lift`) of the best schemes, a
  ⟨3,3,3⟩ rank-23 walk, and AlphaTensor's mod-2 schemes for ⟨4,4,4⟩, ⟨4,5,5⟩, ⟨5,5,5⟩.
* **best**: the best rank within a budget, every core ("walked s": until the goal or the
  budget): ⟨4,4,4⟩ by plain walks at plateau 20,000 (longer walks between plus transitions
  pay off for these larger formats), ⟨5,5,5⟩ by cyclic-symmetric walks (Moosbauer & Poole)
  at plateau 10,000 for 15 CPU-minutes.

There is no in-process baseline: no public flip-graph program ships with gamify. The figures
are printed next to *references* that issue 5 measured with public flip-graph programs
on the 2-core development machine, so ratios to them mean something on a like machine only.
"""

from __future__ import annotations

import os
import statistics
import time

from gamify.cli.bench.timing import Say, Settings, Table
from gamify.tensor.flips import standard_scheme, symmetric_scheme, walk
from gamify.tensor.formats import alphatensor_schemes
from gamify.tensor.lift import LiftError, hensel_lift
from gamify.tensor.scheme import Scheme

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
BEST = [  # (sizes, goal rank, budget s, plateau, symmetric walks, reference)
    ((4, 4, 4), 47, 180.0, 20_000, False, "49 in ~6 min, none lower in 25 min"),
    ((5, 5, 5), 93, 450.0, 10_000, True, "93 in ~15 CPU-min (symmetric walks)"),
]
QUICK_REACH = [((2, 2, 2), 7, 0.5, 3, None), ((3, 3, 3), 23, 0.5, 3, "~0.12 s")]
QUICK_BEST = [((4, 4, 4), 47, 0.5, 20_000, False, None), ((3, 3, 3), 23, 0.5, 2_000, True, None)]


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


def best(
    sizes: Sizes, goal: int, budget: float, plateau: int, symmetric: bool, reference: str | None
) -> tuple[dict, Scheme]:
    """The best rank one walk on every core reaches within ``budget`` (plain or symmetric), and its scheme."""
    threads = os.cpu_count() or 1
    start = symmetric_scheme(sizes[0]) if symmetric else standard_scheme(*sizes)
    result = walk(start, goal, budget, threads=threads, seed=0, plateau=plateau, symmetric=symmetric)
    row = {
        "suite": "flips",
        "table": "best",
        "case": _name(sizes) + (" symmetric" if symmetric else ""),
        "goal": goal,
        "budget_s": budget,
        "threads": threads,
        "plateau": plateau,
        "rank": result.scheme.rank,
        "seconds": result.seconds,
        "flips_per_s": result.flips / result.seconds,
        "reference": reference,
    }
    return row, result.scheme


def lift(case: str, scheme: Scheme) -> dict:
    """Whether a Z2 scheme Hensel-lifts (to Z, or Q with odd denominators), and how long that takes."""
    start = time.perf_counter()
    try:
        ring = {"z": "Z", "q": "Q"}[hensel_lift(scheme).field]
    except LiftError:
        ring = None
    return {
        "suite": "flips",
        "table": "lift",
        "case": f"{case} rank {scheme.rank}",
        "lifted_to": ring,
        "seconds": time.perf_counter() - start,
    }


def measure(settings: Settings, say: Say) -> list[dict]:
    """The three tables' rows (``quick``: small formats, short limits), each said as it is done."""
    rows, found = [], {}
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
        row, scheme = best(*case)
        rows.append(row)
        found[row["case"]] = scheme
        say(f"  best {row['case']} in {row['budget_s']:g} s on {row['threads']} threads: rank {row['rank']}")
    found["⟨3,3,3⟩ walk"] = walk(standard_scheme(3, 3, 3), 23, 10.0, threads=1, seed=0).scheme
    at = alphatensor_schemes("z2")
    found |= {f"AlphaTensor ⟨{key}⟩ mod 2": at[key] for key in ("4,4,4", "4,5,5", "5,5,5")}
    for case, scheme in found.items():
        rows.append(lift(case, scheme))
        verdict = rows[-1]["lifted_to"] or "does not lift"
        say(f"  lift {rows[-1]['case']}: {verdict} ({rows[-1]['seconds']:.2f} s)")
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
        + [f"{row['seconds']:.0f}", str(row["goal"]), mega(row["flips_per_s"]), row["reference"] or "–"]
        for row in rows
        if row["table"] == "best"
    ]
    lifts = [
        [row["case"], row["lifted_to"] or "does not lift", f"{row['seconds']:.2f}"]
        for row in rows
        if row["table"] == "lift"
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
            ("case", "budget s", "threads", "plateau", "rank", "walked s", "goal", "flips/s", "reference"),
            bests,
        ),
        Table(
            "Hensel lifting of Z2 schemes (gamify lift), verified exactly",
            ("scheme", "lifts to", "seconds"),
            lifts,
            "AlphaTensor's rank-47 ⟨4,4,4⟩ and rank-96 ⟨5,5,5⟩ are known to work only in characteristic 2.",
        ),
    ]

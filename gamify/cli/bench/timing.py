"""What the ``gamify bench throughput`` suites share: their settings, their tables, side-by-side timing.

Machines that run these benchmarks are noisy (shared cores, clock drift), so a speed is
only ever reported next to what it is compared with, measured in the same process on the
same data: :func:`interleaved_rates` times every side once per repeat, reversing the order
every other repeat, so that noise hits all sides alike; compilation and a warm-up call are
never timed. Ratios are medians of the per-repeat ratios (:func:`paired_ratio`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

Say = Callable[[str], None]  # prints one progress line
Side = Callable[[], object]  # one call of a timed side; returns once its work is computed


class Settings(NamedTuple):
    """How one suite samples: its cases (``quick``: the smallest) and how long it times them."""

    quick: bool
    seconds: float  # length of one timed sample
    repeats: int  # samples per side; figures are medians


class Samples(NamedTuple):
    """Per-repeat rates of each side, and how long each side's first (compiling) call took."""

    rates: dict[str, list[float]]  # side -> [repeats] units of work per second
    first_call_s: dict[str, float]  # side -> seconds of the untimed warm-up call


class Table(NamedTuple):
    """One table of the report: rendered as markdown, printed and written by ``--markdown``."""

    title: str
    columns: tuple[str, ...]
    rows: list[list[str]]
    note: str = ""  # a line under the table: what the ratios mean, where references come from

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join(["---"] + ["--:"] * (len(self.columns) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines + ([f"\n{self.note}"] if self.note else []))


def interleaved_rates(sides: dict[str, Side], work: int, settings: Settings) -> Samples:
    """Units of work per second of each side, one sample of ``settings.seconds`` per repeat.

    Args:
      sides: name -> a call doing ``work`` units (and waiting for them: block_until_ready).
      work: units of work per call (moves, simulations, bounds).
      settings: sample length and repeats.
    """
    first_call_s = {}
    for name, side in sides.items():
        start = time.perf_counter()
        side()
        first_call_s[name] = time.perf_counter() - start
    rates: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(settings.repeats):
        for name in names[::-1] if repeat % 2 else names:
            start, calls = time.perf_counter(), 0
            while True:  # at least one call, however short the sample
                sides[name]()
                calls += 1
                if (elapsed := time.perf_counter() - start) >= settings.seconds:
                    break
            rates[name].append(calls * work / elapsed)
    return Samples(rates, first_call_s)


def paired_ratio(samples: Samples, faster: str, slower: str) -> float:
    """Median over repeats of rate[faster] / rate[slower] (above 1: ``faster`` is faster)."""
    pairs = zip(samples.rates[faster], samples.rates[slower], strict=True)
    return statistics.median(a / b for a, b in pairs)


def side_row(suite: str, table: str, case: str, batch: int, unit: str, samples: Samples) -> dict:
    """A row comparing sides: median rates, and the first side's ratio over each other side."""
    first, *others = samples.rates
    return {
        "suite": suite,
        "table": table,
        "case": case,
        "batch": batch,
        "unit": unit,
        "rates": {name: statistics.median(rates) for name, rates in samples.rates.items()},
        "ratios": {f"{first}/{other}": paired_ratio(samples, first, other) for other in others},
        "samples": samples.rates,
        "first_call_s": samples.first_call_s,
    }


def side_summary(row: dict) -> str:
    """A progress line for :func:`side_row`'s row: its rates and ratios."""
    rates = ", ".join(f"{name} {rate:,.0f}" for name, rate in row["rates"].items())
    ratios = ", ".join(f"{name} {ratio:.2f}×" for name, ratio in row["ratios"].items())
    return f"  {row['table']} {row['case']} batch {row['batch']}: {rates} {row['unit']} ({ratios})"


def side_table(title: str, rows: list[dict], note: str = "") -> Table:
    """Rows of :func:`side_row` (same sides) as a table: case, batch, each side's rate, ratios."""
    sides, ratios = list(rows[0]["rates"]), list(rows[0]["ratios"])
    cells = [
        [row["case"], str(row["batch"])]
        + [f"{row['rates'][side]:,.0f}" for side in sides]
        + [f"{row['ratios'][ratio]:.1f}×" for ratio in ratios]
        for row in rows
    ]
    return Table(f"{title} ({rows[0]['unit']})", ("case", "batch", *sides, *ratios), cells, note)

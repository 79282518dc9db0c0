"""Plots of a run's progress (matplotlib, file output only)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

LOG_TIME_SPAN = 100.0  # a run whose last time is over 100x its first (two decades) gets a log axis
TIME_UNITS = ((7200.0, "h", 3600.0), (120.0, "min", 60.0), (0.0, "s", 1.0))  # (from, unit, seconds)
LINE_STYLES = {"target": ("--", "C3"), "best known": (":", "C2")}  # reference lines: (style, colour)


@dataclasses.dataclass(frozen=True)
class AxisSettings:
    """How :func:`plot_best_over_time` draws its axes, chosen from the data."""

    integer_ticks: bool  # every value and reference line is an integer (ranks, move counts)
    log_time: bool  # the run spans more than two decades of seconds
    time_unit: str  # "s", "min" or "h", for the run's length
    seconds_per_unit: float


def axis_settings(
    times: Sequence[float], values: Sequence[float], lines: Sequence[float] = ()
) -> AxisSettings:
    """The axes for best ``values`` at ``times`` (seconds, increasing), with reference ``lines``.

    Raises:
      ValueError: no value to plot.
    """
    if not values:
        raise ValueError("no best value recorded yet")
    first = next((t for t in times if t > 0), None)
    log_time = first is not None and times[-1] / first > LOG_TIME_SPAN
    _, unit, seconds = next(u for u in TIME_UNITS if times[-1] >= u[0])
    integer = all(float(v).is_integer() for v in (*values, *lines))
    return AxisSettings(integer_ticks=integer, log_time=log_time, time_unit=unit, seconds_per_unit=seconds)


def read_records(metrics_path: Path) -> list[dict]:
    """The records of a metrics.jsonl, skipping a line torn by a kill."""
    records = []
    for line in Path(metrics_path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def read_best_over_time(metrics_path: Path, *, negate: bool = False) -> tuple[list[float], list[float]]:
    """``(times, values)``: seconds and best return (negated with ``negate``) from metrics.jsonl."""
    times, values = [], []
    for record in read_records(metrics_path):
        if record.get("best_return") is not None:
            times.append(record["elapsed"])
            values.append(-record["best_return"] if negate else record["best_return"])
    return times, values


def plot_best_over_time(
    metrics_path: Path,
    out_path: Path,
    *,
    ylabel: str = "best return",
    negate: bool = False,
    title: str | None = None,
    target: float | None = None,
    best_known: float | None = None,
    dpi: int = 200,
) -> None:
    """Writes a PNG of the best value so far against wall time from a run's metrics.jsonl.

    Integer values (ranks) get integer ticks, and a run spanning more than two decades of
    seconds a log time axis.

    Args:
      ylabel: the plotted value, with its unit if it has one.
      negate: plot minus the best return (e.g. the rank of a tensor decomposition).
      title: names the case, e.g. "⟨2,2,2⟩ over Z2".
      target, best_known: horizontal reference lines, in plotted units (after ``negate``),
        e.g. the target rank and the best published rank; None draws none.
      dpi: resolution of the PNG.
    Raises:
      ValueError: the metrics hold no best value yet.
    """
    times, values = read_best_over_time(metrics_path, negate=negate)
    lines = {
        label: value for label, value in (("target", target), ("best known", best_known)) if value is not None
    }
    settings = axis_settings(times, values, list(lines.values()))

    import matplotlib  # deferred: ~1.5 s to import, and only plots need it

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt  # deferred, after choosing the backend
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    x = [t / settings.seconds_per_unit for t in times]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.step(x, values, where="post", color="C0", label="best found", zorder=3)
    improved = [i for i in range(len(values)) if i == 0 or values[i] != values[i - 1]]
    ax.plot([x[i] for i in improved], [values[i] for i in improved], "o", color="C0", markersize=4, zorder=3)
    for label, value in lines.items():
        linestyle, color = LINE_STYLES[label]
        ax.axhline(value, linestyle=linestyle, color=color, label=f"{label} ({value:g})")
    if settings.log_time:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.1, 1, 10, not 10^k
    if settings.integer_ticks:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        shown = values + list(lines.values())
        ax.set_ylim(min(shown) - 0.5, max(shown) + 0.5)  # a one-rank range still shows its two ticks
    scale = ", log scale" if settings.log_time else ""
    ax.set_xlabel(f"wall time ({settings.time_unit}{scale})")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if lines:
        ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)


def plot_learning_curve(
    metrics_path: Path, out_path: Path, *, title: str | None = None, dpi: int = 200
) -> None:
    """Writes a PNG of a pretraining run's held-out measures against updates
    (:mod:`gamify.pretrain`): top-1 and any-of-K accuracy, and the value's error in moves.

    Raises:
      ValueError: the metrics hold no measure yet.
    """
    records = read_records(metrics_path)
    if not records:
        raise ValueError("no held-out measure recorded yet")

    import matplotlib  # deferred: ~1.5 s to import, and only plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred, after choosing the backend

    updates = [r["updates"] for r in records]
    fig, (accuracy, value) = plt.subplots(1, 2, figsize=(9, 3.5))
    accuracy.plot(updates, [100 * r["top1"] for r in records], color="C0", label="top-1 sample")
    accuracy.plot(updates, [100 * r["any_k"] for r in records], color="C1", label="any of K samples")
    accuracy.set_ylabel("a term of the generating decomposition (%)")
    accuracy.legend(frameon=False)
    value.plot(updates, [r["value_error"] for r in records], color="C2")
    value.set_ylabel("value error (moves)")
    for ax in (accuracy, value):
        ax.set_xlabel("updates")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(f"{title}: held-out")
    fig.tight_layout()
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)

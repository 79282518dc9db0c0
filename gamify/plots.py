"""Plots of a run's progress (matplotlib, file output only)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_best_over_time(
    metrics_path: Path, out_path: Path, *, ylabel: str = "best return", negate: bool = False
):
    """Writes a PNG of the best value so far against wall time from a run's metrics.jsonl.

    Args:
      negate: plot minus the best return (e.g. the rank of a tensor decomposition).
    """
    import matplotlib  # deferred: ~1.5 s to import, and only plots need it

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt  # deferred, after choosing the backend

    times, values = [], []
    for line in Path(metrics_path).read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line torn by a kill
        if record.get("best_return") is not None:
            times.append(record["elapsed"])
            values.append(-record["best_return"] if negate else record["best_return"])
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.step(times, values, where="post", marker="o", markersize=3)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)

"""Live progress for long runs: one refreshing line on a terminal, periodic lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_record(record: dict, max_seconds: float | None = None, rank: bool = False) -> str:
    """One line summarising a training iteration's metrics record.

    With ``rank``, returns are shown negated as ranks (tensor decomposition).
    """
    best = record.get("best_return")
    elapsed = duration(record["elapsed"]) + (f"/{duration(max_seconds)}" if max_seconds else "")
    parts = [
        f"it {record['iteration']}",
        f"games {record['games']}",
        (f"best rank {-best:g}" if rank else f"best {best:g}") if best is not None else "best -",
        f"mean rank {-record['mean_return']:.2f}" if rank else f"mean {record['mean_return']:.2f}",
        f"solved {100 * record['solved_fraction']:.0f}%",
        f"loss {record['loss']:.3f}",
        f"{record['sims_per_second']:,.0f} sims/s",
        elapsed,
    ]
    if "eval_max_return" in record:
        parts.insert(4, f"eval {record['eval_max_return']:g}")
    return " | ".join(parts)


class ProgressDisplay:
    """Shows training progress; use as a context manager and call ``update(record)``."""

    def __init__(
        self,
        *,
        max_seconds: float | None = None,
        quiet: bool = False,
        every: float = 10.0,
        rank: bool = False,
        format: Callable[[dict, float | None, bool], str] = format_record,
    ):
        self.rank, self.format = rank, format
        self.console = Console(stderr=True)
        self.max_seconds = max_seconds
        self.quiet = quiet
        self.every = every  # seconds between lines when not on a terminal
        self._live: Live | None = None
        self._last_print = 0.0

    def __enter__(self) -> ProgressDisplay:
        if not self.quiet and self.console.is_terminal:
            self._live = Live(
                Text("compiling..."), console=self.console, refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        elif not self.quiet:
            self.console.print("compiling (the first iteration includes JIT compilation)...")
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, record: dict) -> None:
        line = self.format(record, self.max_seconds, self.rank)
        if self._live is not None:
            self._live.update(Text(line))
        elif not self.quiet and time.monotonic() - self._last_print >= self.every:
            self.console.print(line, highlight=False, soft_wrap=True)
            self._last_print = time.monotonic()

    def message(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False, soft_wrap=True)

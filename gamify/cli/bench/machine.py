"""Where and when a benchmark ran, recorded beside its figures."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
from pathlib import Path

import jax

import gamify


def machine_info(*, accelerator: bool = False) -> dict:
    """Where and when the benchmark ran: platform, CPU model, cores, date, versions.

    Args:
      accelerator: also record JAX's backend (cpu, gpu, tpu): the learned search runs there.
    """
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = models[0] if models else cpu
    info = {
        "platform": platform.platform(),
        "cpu": cpu or "unknown",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "gamify": gamify.__version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if accelerator:
        info["jax_backend"] = jax.default_backend()
    return info


def header_lines(machine: dict, command: str) -> list[str]:
    """The machine, date and command lines every benchmark table in RESULTS.md starts with."""
    return [
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}",
        f"- date: {machine['date']}, gamify {machine['gamify']}, Python {machine['python']}",
        f"- command: `{command}`",
    ]

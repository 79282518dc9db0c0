"""Where and when a benchmark ran, recorded beside its figures."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
import shlex
import sys
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


def script_command(script: str, argv: list[str] | None) -> str:
    """The command line of a script of benchmarks/ (``argv`` None: this process's arguments).

    ``--markdown FILE`` is left out: where the table goes is not part of the experiment.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--markdown" in args:
        at = args.index("--markdown")
        del args[at : at + 2]
    return shlex.join(["python", f"benchmarks/{Path(script).name}", *args])


def publish(lines: list[str], markdown: Path | None) -> None:
    """Prints a benchmark's table, and writes it to ``markdown`` too when given (regenerate.py's)."""
    text = "\n".join(lines)
    print(text)
    if markdown:
        markdown.write_text(text + "\n", encoding="utf-8")

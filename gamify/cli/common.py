"""What every command shares: user errors, argument types, run directories and the one
start-or-resume flow of the commands that train (``gamify train``, ``gamify search``)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from gamify import runs, train
from gamify.game import Game
from gamify.progress import ProgressDisplay
from gamify.registry import load_game
from gamify.tensor.formats import write_scheme
from gamify.tensor.scheme import Scheme

EXP_MAX_SIZE = 9  # .exp names entries by one digit per index: matrices up to 9×9


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 90, 90s, 5m, 1.5h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def probability(text: str) -> float:
    """An argparse type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}")
    return value


def integers(text: str) -> list[int]:
    """An argparse type: comma-separated integers."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def write_scheme_files(scheme: Scheme, path: Path) -> list[Path]:
    """Writes a verified scheme as gamify JSON at ``path``, plus ``.exp`` beside it for matmul
    schemes whose matrices .exp can name; returns the paths written."""
    write_scheme(scheme, path)
    written = [path]
    if scheme.matmul is not None and max(scheme.matmul) <= EXP_MAX_SIZE:
        write_scheme(scheme, path.with_suffix(".exp"))
        written.append(path.with_suffix(".exp"))
    return written


def prepare_run_dir(out: Path, resume: bool) -> None:
    """Checks that ``out`` holds a run to resume, or is empty (or new) and writable."""
    if resume:
        if not (out / runs.CONFIG).exists():
            raise UsageError(f"--resume: {out} holds no run (no {runs.CONFIG})")
        return
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} already holds files; use --resume to continue it or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write to {out}: {e.strerror}") from None


def open_run(
    out: Path,
    game_spec: str,
    game_args: dict,
    config: train.TrainConfig,
    *,
    resume: bool,
    same_settings: bool = False,
    check: Callable[[Game], None] | None = None,
) -> tuple[runs.RunDirectory, Game, train.TrainConfig]:
    """Creates a run directory, or reopens one for ``--resume``; loads the game.

    A new run records the game, its arguments and version, and the settings in
    ``config.json``. A resumed run takes them from there (a run's settings are fixed when
    it is created) and refuses to continue when the installed game's rules have changed
    since (its ``version``).

    Args:
      out: the run directory.
      game_spec, game_args, config: what a new run is made of.
      resume: reopen ``out`` instead.
      same_settings: on resume, also require ``game_args`` to equal the recorded ones (a
        command whose options are the game's arguments).
      check: called with the game before anything is written; raises UsageError.

    Returns:
      ``(directory, game, config)``.
    """
    prepare_run_dir(out, resume)
    directory = runs.RunDirectory(out)
    if resume:
        record = directory.read_config()
        if record["game"] != game_spec:
            raise UsageError(f"--resume: {out} is a run of {record['game']!r}, not {game_spec!r}")
        if same_settings and record["game_args"] != game_args:
            raise UsageError(f"--resume: {out} holds a run with other settings ({record['game_args']})")
        game_args, config = record["game_args"], record["train"]
    game = load_game(game_spec, **game_args)
    if resume and record.get("game_version") not in (None, game.version):
        raise UsageError(
            f"--resume: {out} was made with {game_spec} version {record['game_version']}, the installed "
            f"game is version {game.version} (its rules changed): start a new run"
        )
    if check is not None:
        check(game)
    if not resume:
        directory.write_config(game_spec, game_args, config, game_version=game.version)
    return directory, game, config


def train_with_progress(
    trainer: train.Trainer,
    directory: runs.RunDirectory,
    budget: runs.Budget,
    *,
    resume: bool,
    quiet: bool,
    rank: bool = False,
    checkpoint_every: float = 30.0,
) -> tuple[train.TrainState, str]:
    """Trains from the run's checkpoint (on resume) until the budget, with live progress.

    Returns:
      ``(final state, why it stopped)``.
    """
    state, elapsed = None, 0.0
    if resume and directory.has_checkpoint():
        state, elapsed = directory.load(trainer)
    with ProgressDisplay(max_seconds=budget.max_seconds, quiet=quiet, rank=rank) as display:
        if state is not None:
            display.message(
                f"resuming {directory.dir} at iteration {int(state.iteration)}, {int(state.games)} games"
            )
        elif resume:
            display.message(f"{directory.dir} has no checkpoint yet: starting it from the beginning")
        return runs.train_until(
            trainer,
            directory,
            budget,
            state=state,
            elapsed=elapsed,
            checkpoint_every=checkpoint_every,
            on_iteration=display.update,
        )

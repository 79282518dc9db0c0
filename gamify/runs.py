"""A training run on disk and in time: its directory (config, checkpoint, metrics, best
solution), its budget, and the loop that trains until the budget is spent.

A run directory holds ``config.json`` (game and settings), ``checkpoint.npz``
(atomic), ``metrics.jsonl`` (one JSON object per iteration; the last iteration of a
run that spent its budget also says why, under ``stop``) and ``best.json`` (the best
solution found so far, with its return).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import jax

from gamify import checkpoint, parallel
from gamify.game import Game
from gamify.train import TrainConfig, Trainer, TrainState, best_solution

CHECKPOINT = "checkpoint.npz"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
BEST = "best.json"
STOPPED = "stopped on request"  # train_until's reason when should_stop() said so
# train_until's reason, followed by the bound, once the best return reaches Game.best_possible_return
BEST_POSSIBLE = "reached the best possible return"


def _rounded(metrics: dict) -> dict:
    return {k: round(float(v), 6) for k, v in metrics.items()}


@dataclasses.dataclass(frozen=True)
class Budget:
    """When to stop; every limit counts the whole run, across resumes. None = no limit."""

    max_games: int | None = None
    max_updates: int | None = None
    max_seconds: float | None = None
    target_return: float | None = None  # stop once the best return reaches this
    # Stop once the best return reaches the game's proven bound (Game.best_possible_return):
    # no better game exists, so more training cannot improve the solution.
    stop_at_best_possible: bool = True

    def __post_init__(self):
        for name in ("max_games", "max_updates", "max_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    def reached(self, progress: dict, *, best_possible: float | None = None) -> str | None:
        """The reason to stop, or None.

        Args:
          progress: the run so far: ``games``, ``updates``, ``elapsed`` (seconds) and
            ``best_return`` (None before the first game).
          best_possible: the game's ``best_possible_return`` (None: no proven bound).
        """
        best = progress["best_return"]
        if best is not None:
            if self.target_return is not None and best >= self.target_return:
                return f"target return {self.target_return:g} reached"
            if self.stop_at_best_possible and best_possible is not None and best >= best_possible:
                return f"{BEST_POSSIBLE} {best_possible:g}"
        limits = [
            (self.max_games, "games", "games"),
            (self.max_updates, "updates", "updates"),
            (self.max_seconds, "elapsed", "time budget"),
        ]
        for limit, key, label in limits:
            if limit is not None and progress[key] >= limit:
                return f"{label} spent"
        return None


class RunDirectory:
    """A run directory: config, checkpoint, metrics and best solution on disk.

    In a job of several processes (:func:`gamify.parallel.connect`) every process reads it and
    only process 0 writes: the others' writing methods do nothing.
    """

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.saved_iteration: int | None = None  # of the last checkpoint this object wrote
        self.writes = parallel.writes_files()

    def write_config(
        self, game_spec: str, game_args: dict, config: TrainConfig, *, game_version: int
    ) -> None:
        """Records what the run is: the game (name or path, arguments, rules version) and settings."""
        if not self.writes:
            return
        record = {
            "game": game_spec,
            "game_args": game_args,
            "game_version": game_version,
            "train": config.to_json(),
        }
        checkpoint.atomic_write_bytes(self.dir / CONFIG, json.dumps(record, indent=2).encode())

    def read_config(self) -> dict:
        """What :meth:`write_config` recorded, with ``train`` a :class:`TrainConfig`."""
        path = self.dir / CONFIG
        try:
            record = json.loads(path.read_text())
            record["train"] = TrainConfig.from_json(record["train"])
        except FileNotFoundError:
            raise checkpoint.CheckpointError(f"{self.dir} is not a gamify run (no {CONFIG})") from None
        except (ValueError, KeyError, TypeError) as e:
            raise checkpoint.CheckpointError(f"{path} is corrupt: {e}") from None
        return record

    def save(self, trainer: Trainer, state: TrainState, elapsed: float) -> None:
        """Writes the checkpoint (``state`` and ``elapsed`` seconds) and the best solution."""
        if not self.writes:
            return
        progress = {"iteration": int(state.iteration), "elapsed": elapsed}
        checkpoint.save(self.dir / CHECKPOINT, state, progress)
        self.saved_iteration = progress["iteration"]
        solution = best_solution(trainer, state)
        kept = self.kept_best_return()
        if solution is not None and (kept is None or solution["return"] >= kept):
            checkpoint.atomic_write_bytes(self.dir / BEST, json.dumps(solution, indent=2).encode())

    def kept_best_return(self) -> float | None:
        """The return in best.json, or None without a readable one. A run restarted from the
        beginning (its checkpoint lost) never replaces a better best.json with a worse one."""
        try:
            return float(json.loads((self.dir / BEST).read_text())["return"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def has_checkpoint(self) -> bool:
        return (self.dir / CHECKPOINT).exists()

    def load(self, trainer: Trainer, *, resume: bool = True) -> tuple[TrainState, float]:
        """Loads the checkpoint into the structure of ``trainer.init()``.

        Args:
          trainer: the run's trainer (same game and config as the checkpoint).
          resume: also drop metrics logged after the checkpoint and temporary files.
        Returns:
          ``(state, elapsed)``: the saved state and the seconds the run had taken.
        Raises:
          CheckpointError: the checkpoint is missing, corrupt or from another configuration.
        """
        state, progress = checkpoint.load(self.dir / CHECKPOINT, trainer.init())
        state = trainer.place(state)
        if resume and self.writes:
            self.drop_metrics_after(int(state.iteration))
            for torn in self.dir.glob(".*.tmp"):  # left by a kill during an atomic write
                torn.unlink()
        return state, float(progress["elapsed"])

    def drop_metrics_after(self, iteration: int, *, key: str = "iteration") -> None:
        """Drops metrics logged after ``iteration`` (0: all), so a resumed log has no duplicates;
        ``key`` names the records' counter (pretraining counts ``updates``)."""
        path = self.dir / METRICS
        if not self.writes or not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)[key] <= iteration:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                break  # a line torn by a kill: everything after it is newer than the checkpoint
        checkpoint.atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())

    def append_metrics(self, record: dict) -> None:
        """Adds one iteration's record to metrics.jsonl."""
        if not self.writes:
            return
        path = self.dir / METRICS
        try:
            with open(path, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as error:  # a full disk's write() names no file
            raise OSError(error.errno, error.strerror, str(path)) from None


def train_until(
    trainer: Trainer,
    run_dir: RunDirectory,
    budget: Budget,
    *,
    state: TrainState | None = None,
    elapsed: float = 0.0,
    checkpoint_every: float = 30.0,
    on_iteration: Callable[[dict], None] = lambda record: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[TrainState, str]:
    """Trains until the budget is spent, checkpointing as it goes.

    Args:
      trainer: the run's trainer.
      run_dir: where checkpoints, metrics and the best solution go.
      budget: when to stop; its limits count the whole run, ``elapsed`` included.
      state: the state to continue from (e.g. :meth:`RunDirectory.load`'s); default a fresh one.
      elapsed: seconds the run had already taken.
      checkpoint_every: seconds between checkpoints; one is also written at the end and on
        Ctrl-C (which is then re-raised), of the last iteration whose metrics line is written.
      on_iteration: called with each iteration's metrics record.
      should_stop: asked before each iteration; True ends training as a spent budget does
        (reason :data:`STOPPED`), e.g. on a first Ctrl-C, whose exception could otherwise
        land where Python ignores it (a garbage-collector callback during compilation).
        In a job of several processes, process 0's answer and clock decide for all of them.
    Returns:
      ``(state, reason)``: the final state and why training stopped. A resumed run whose
      budget is already spent (e.g. it reached the game's best possible return) stops
      before its first iteration.
    Warns:
      RuntimeWarning: once, when a game reaches a live state where the search finds no
        legal action (such games are never kept as the best solution).
    """
    state = trainer.init() if state is None else state
    run_dir.dir.mkdir(parents=True, exist_ok=True)
    start, last_save = time.monotonic() - elapsed, time.monotonic()
    progress = {"games": int(state.games), "updates": int(state.updates), "elapsed": elapsed}
    progress["best_return"] = _best_return(state)
    best_possible = trainer.game.best_possible_return
    reason, warned = budget.reached(progress, best_possible=best_possible), False
    logged = (state, elapsed)  # the newest state whose metrics line is written
    try:
        while reason is None:
            if parallel.agree([should_stop()])[0]:
                reason = STOPPED
                break
            tick = time.monotonic()
            state, metrics = trainer.iterate(state)
            if trainer.config.eval_every and int(state.iteration) % trainer.config.eval_every == 0:
                state, eval_metrics = trainer.evaluate(state)
                metrics.update(eval_metrics)
            metrics = _rounded(jax.device_get(metrics))
            seconds = time.monotonic() - tick
            now = float(parallel.agree([time.monotonic() - start])[0])
            progress = {
                "iteration": int(state.iteration),
                "games": int(state.games),
                "updates": int(state.updates),
                "elapsed": round(now, 3),
                "best_return": _best_return(state),
                # Searches on moves after a game ended are not counted: they are wasted work.
                "sims_per_second": round(
                    metrics["moves"] * trainer.config.search.num_simulations / seconds, 1
                ),
                **metrics,
            }
            reason = budget.reached(progress, best_possible=best_possible)
            record = progress if reason is None else {**progress, "stop": reason}
            run_dir.append_metrics(record)
            logged = (state, progress["elapsed"])
            on_iteration(record)
            if not warned and (warning := _dead_end_warning(trainer.game, record)):
                warnings.warn(warning, RuntimeWarning, stacklevel=2)
                warned = True
            if time.monotonic() - last_save >= checkpoint_every:
                run_dir.save(trainer, state, progress["elapsed"])
                last_save = time.monotonic()
    except KeyboardInterrupt:  # the checkpoint never runs ahead of metrics.jsonl
        run_dir.save(trainer, *logged)
        raise
    run_dir.save(trainer, state, progress["elapsed"])
    return state, reason


def _dead_end_warning(game: Game, record: dict) -> str | None:
    """What to tell the game's author when a game of this iteration reached a dead end."""
    moves = [record[key] for key in ("dead_end_moves", "eval_dead_end_moves") if record.get(key, -1) >= 0]
    if not moves:
        return None
    return (
        f"game {game.name or type(game).__name__!r} reached a state with no legal action at step "
        f"{int(min(moves))}, though the game was not over: the search had to play an illegal move, "
        "which ends the game, and such games are never kept as the best solution. End the game "
        "there (terminated) or let max_steps end it; gamify.testing.check_game looks for such states"
    )


def _best_return(state: TrainState) -> float | None:
    best = float(state.best_return)
    return best if math.isfinite(best) else None

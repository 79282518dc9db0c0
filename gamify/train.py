"""The training loop: self-play, replay, learner, evaluation, best solution, checkpoints.

One *iteration* is one jitted call: ``games_per_iteration`` games of self-play
(search at every move), their moves added to the replay buffer, then
``updates_per_iteration`` optimizer steps on uniform replay samples. The random
key of iteration ``i`` is ``fold_in(PRNGKey(seed), i)`` and everything else that
evolves lives in :class:`TrainState`, which is checkpointed whole: so the same
seed gives the same run on the same platform, and a resumed run continues
exactly where the checkpoint left it.

A run directory holds ``config.json`` (game and settings), ``checkpoint.npz``
(atomic), ``metrics.jsonl`` (one JSON object per iteration) and ``best.json``
(the best solution found so far, with its return).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gamify import checkpoint, replay
from gamify.demonstrations import Episode, make_demonstrations, replay_episodes
from gamify.env import Env, EnvState
from gamify.game import Game
from gamify.learner import LearnerConfig, make_optimizer, make_update
from gamify.networks import NetworkConfig, make_network
from gamify.search import SearchConfig, make_search
from gamify.selfplay import make_selfplay

Array = jax.Array
CHECKPOINT = "checkpoint.npz"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
BEST = "best.json"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run (fixed for its lifetime; saved in config.json)."""

    seed: int = 0
    games_per_iteration: int = 32
    updates_per_iteration: int = 8
    batch_size: int = 128
    replay_capacity: int = 50_000
    # Synthetic solved episodes (Game.demonstration) mixed into the replay per iteration.
    demonstrations_per_iteration: int = 0
    eval_every: int = 5  # iterations; 0 disables evaluation
    eval_games: int = 8
    network: NetworkConfig = NetworkConfig()
    search: SearchConfig = SearchConfig()
    learner: LearnerConfig = LearnerConfig()

    def __post_init__(self):
        for name in (
            "games_per_iteration",
            "updates_per_iteration",
            "batch_size",
            "replay_capacity",
            "eval_games",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        parts = {"network": NetworkConfig, "search": SearchConfig, "learner": LearnerConfig}
        kwargs = {k: (parts[k](**v) if k in parts else v) for k, v in data.items()}
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class Budget:
    """When to stop; every limit counts the whole run, across resumes. None = no limit."""

    max_games: int | None = None
    max_updates: int | None = None
    max_seconds: float | None = None
    target_return: float | None = None  # stop once the best return reaches this

    def __post_init__(self):
        for name in ("max_games", "max_updates", "max_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    def reached(self, progress: dict) -> str | None:
        """The reason to stop, or None."""
        if self.target_return is not None and progress["best_return"] is not None:
            if progress["best_return"] >= self.target_return:
                return f"target return {self.target_return:g} reached"
        limits = [
            (self.max_games, "games", "games"),
            (self.max_updates, "updates", "updates"),
            (self.max_seconds, "elapsed", "time budget"),
        ]
        for limit, key, label in limits:
            if limit is not None and progress[key] >= limit:
                return f"{label} spent"
        return None


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    replay: replay.Replay
    iteration: Array  # int32
    games: Array  # int32, self-play games played
    updates: Array  # int32, optimizer steps taken
    best_return: Array  # float32, -inf before the first game
    best_actions: Array  # [L] or [L, T], moves of the best game (padded with -1)
    best_length: Array  # int32, moves in the best game
    best_solved: Array  # bool, the best game ended by the game's own rules (not the step limit)
    best_final: Any  # the game state at the end of the best game (for Game.solution)


def _track_best(state: TrainState, final: EnvState, actions: Array, valid: Array) -> TrainState:
    """Keeps the best of the games that ended in ``final`` [B] (actions [L, B, ...], valid [L, B])."""
    returns = final.episode_return
    i = jnp.argmax(returns)
    better = returns[i] > state.best_return
    moves = actions[:, i]
    mask = valid[:, i].reshape(valid.shape[:1] + (1,) * (moves.ndim - 1))
    moves = jnp.where(mask, moves, -1)
    return state._replace(
        best_return=jnp.where(better, returns[i], state.best_return),
        best_actions=jnp.where(better, moves, state.best_actions),
        best_length=jnp.where(better, valid[:, i].sum().astype(jnp.int32), state.best_length),
        best_solved=jnp.where(better, final.terminated[i], state.best_solved),
        best_final=jax.tree.map(lambda x, old: jnp.where(better, x[i], old), final.game, state.best_final),
    )


class Trainer:
    """Builds the jitted pieces for one game and config; :func:`run` drives them.

    Args:
      game: the game to learn.
      config: the run's settings.
      episodes: fixed solved episodes, batched (:func:`gamify.demonstrations.stack_episodes`),
        e.g. verified schemes a local search found: every iteration adds their examples to
        the replay once, after self-play's and the synthetic demonstrations'. They are not
        part of the config: the caller keeps them (``gamify search`` in its run directory).
    """

    def __init__(self, game: Game, config: TrainConfig, *, episodes: Episode | None = None):
        self.game, self.config = game, config
        self._episodes = episodes
        self.env = env = Env(game)
        self.network = make_network(env.action_space, config.network)
        self.optimizer = make_optimizer(config.learner)
        search = make_search(env, self.network, config.search)
        self._selfplay = make_selfplay(env, search, config.games_per_iteration)
        eval_search = make_search(env, self.network, dataclasses.replace(config.search, gumbel_scale=0.0))
        self._eval_play = make_selfplay(env, eval_search, config.eval_games)
        self._update = make_update(self.network, self.optimizer, config.learner)
        self._demonstrations = None
        if config.demonstrations_per_iteration:
            self._demonstrations = make_demonstrations(
                env, config.demonstrations_per_iteration, config.search.num_samples
            )
        self.iterate = jax.jit(self._iterate)
        self.evaluate = jax.jit(self._evaluate)

    def _key(self, purpose: str) -> Array:
        """Independent streams of randomness derived from the seed."""
        index = ("init", "iterate", "evaluate").index(purpose)
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), index)

    def init(self) -> TrainState:
        init_key, env_key, shape_key = jax.random.split(self._key("init"), 3)
        start = self.env.init(env_key)
        obs = self.env.observe(start)[None]
        params = self.network.init(init_key, obs, jnp.ones((1,), jnp.float32))
        trajectory = jax.eval_shape(self._selfplay, params, shape_key).trajectory
        example = replay.Example(
            observation=jnp.zeros(trajectory.observation.shape[2:], trajectory.observation.dtype),
            time_left=jnp.float32(0),
            action_weights=jnp.zeros(trajectory.action_weights.shape[2:], jnp.float32),
            candidates=jnp.zeros(trajectory.candidates.shape[2:], jnp.int32),
            value_target=jnp.float32(0),
        )
        action_shape = trajectory.action.shape[:1] + trajectory.action.shape[2:]
        return TrainState(
            params=params,
            opt_state=self.optimizer.init(params),
            replay=replay.init_replay(example, self.config.replay_capacity),
            iteration=jnp.int32(0),
            games=jnp.int32(0),
            updates=jnp.int32(0),
            best_return=jnp.float32(-jnp.inf),
            best_actions=jnp.full(action_shape, -1, jnp.int32),
            best_length=jnp.int32(0),
            best_solved=jnp.bool_(False),
            best_final=start.game,
        )

    def _iterate(self, state: TrainState) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(self._key("iterate"), state.iteration)
        play_key, learn_key, demo_key = jax.random.split(key, 3)
        result = self._selfplay(state.params, play_key)
        trajectory = result.trajectory
        buffer = replay.add(state.replay, *replay.examples_from(trajectory))
        if self._demonstrations is not None:
            buffer = replay.add(buffer, *self._demonstrations(demo_key))
        if self._episodes is not None:
            num_samples = self.config.search.num_samples
            buffer = replay.add(buffer, *replay_episodes(self.env, self._episodes, num_samples))

        def learn(carry, k):
            params, opt_state = carry
            sample_key, augment_key = jax.random.split(k)
            batch = self._augment(augment_key, replay.sample(buffer, sample_key, self.config.batch_size))
            params, opt_state, info = self._update(params, opt_state, batch)
            return (params, opt_state), info

        keys = jax.random.split(learn_key, self.config.updates_per_iteration)
        (params, opt_state), info = jax.lax.scan(learn, (state.params, state.opt_state), keys)
        returns = result.final_state.episode_return
        state = _track_best(state, result.final_state, trajectory.action, trajectory.valid)
        state = state._replace(
            params=params,
            opt_state=opt_state,
            replay=buffer,
            iteration=state.iteration + 1,
            games=state.games + self.config.games_per_iteration,
            updates=state.updates + self.config.updates_per_iteration,
        )
        metrics = {
            **jax.tree.map(jnp.mean, info._asdict()),
            "mean_return": returns.mean(),
            "max_return": returns.max(),
            "solved_fraction": result.final_state.terminated.mean(),
            "moves": trajectory.valid.sum(),
        }
        return state, metrics

    def _augment(self, key: Array, batch: replay.Example) -> replay.Example:
        """The game's symmetry augmentation (Game.augment) applied to every sampled example."""
        keys = jax.random.split(key, batch.value_target.shape[0])
        observation, weights, candidates = jax.vmap(self.game.augment)(
            keys, batch.observation, batch.action_weights, batch.candidates
        )
        return batch._replace(observation=observation, action_weights=weights, candidates=candidates)

    def _evaluate(self, state: TrainState) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(self._key("evaluate"), state.iteration)
        result = self._eval_play(state.params, key)
        returns = result.final_state.episode_return
        state = _track_best(state, result.final_state, result.trajectory.action, result.trajectory.valid)
        return state, {"eval_mean_return": returns.mean(), "eval_max_return": returns.max()}


def _floats(metrics: dict) -> dict:
    return {k: round(float(v), 6) for k, v in metrics.items()}


def best_solution(trainer: Trainer, state: TrainState) -> dict | None:
    """The best game so far as a JSON-ready dict, or None before the first game."""
    best = float(state.best_return)
    if not math.isfinite(best):
        return None
    actions = np.asarray(state.best_actions)[: int(state.best_length)]
    actions = np.asarray(trainer.game.solution(jax.device_get(state.best_final), actions))
    return {
        "return": best,
        "length": int(state.best_length),
        "solved": bool(state.best_solved),
        "actions": actions.tolist(),
        "text": trainer.game.describe(actions),
    }


class Run:
    """A run directory: config, checkpoint, metrics and best solution on disk."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    def write_config(self, game_spec: str, game_args: dict, config: TrainConfig) -> None:
        record = {"game": game_spec, "game_args": game_args, "train": config.to_json()}
        checkpoint.atomic_write_bytes(self.dir / CONFIG, json.dumps(record, indent=2).encode())

    def read_config(self) -> dict:
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
        progress = {"iteration": int(state.iteration), "elapsed": elapsed}
        checkpoint.save(self.dir / CHECKPOINT, state, progress)
        solution = best_solution(trainer, state)
        if solution is not None:
            checkpoint.atomic_write_bytes(self.dir / BEST, json.dumps(solution, indent=2).encode())

    def has_checkpoint(self) -> bool:
        return (self.dir / CHECKPOINT).exists()

    def load(self, trainer: Trainer, *, resume: bool = True) -> tuple[TrainState, float]:
        """Loads the checkpoint; with ``resume``, also drops metrics logged after it."""
        state, progress = checkpoint.load(self.dir / CHECKPOINT, trainer.init())
        state = jax.tree.map(jnp.asarray, state)
        if resume:
            self._truncate_metrics(int(state.iteration))
            for torn in self.dir.glob(".*.tmp"):  # left by a kill during an atomic write
                torn.unlink()
        return state, float(progress["elapsed"])

    def _truncate_metrics(self, iteration: int) -> None:
        """Drops metrics written after the checkpoint, so a resumed log has no duplicates."""
        path = self.dir / METRICS
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line)["iteration"] <= iteration:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                break  # a line torn by a kill: everything after it is newer than the checkpoint
        checkpoint.atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode())

    def append_metrics(self, record: dict) -> None:
        with open(self.dir / METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")


def run(
    trainer: Trainer,
    run_dir: Run,
    budget: Budget,
    *,
    state: TrainState | None = None,
    elapsed: float = 0.0,
    checkpoint_every: float = 30.0,
    on_iteration: Callable[[dict], None] = lambda record: None,
) -> tuple[TrainState, str]:
    """Trains until the budget is spent; returns the final state and why it stopped.

    Checkpoints every ``checkpoint_every`` seconds, at the end, and on Ctrl-C
    (which is then re-raised).
    """
    state = trainer.init() if state is None else state
    run_dir.dir.mkdir(parents=True, exist_ok=True)
    start, last_save = time.monotonic() - elapsed, time.monotonic()
    progress = {"games": int(state.games), "updates": int(state.updates), "elapsed": elapsed}
    progress["best_return"] = _best(state)
    try:
        while (reason := budget.reached(progress)) is None:
            tick = time.monotonic()
            state, metrics = trainer.iterate(state)
            if trainer.config.eval_every and int(state.iteration) % trainer.config.eval_every == 0:
                state, eval_metrics = trainer.evaluate(state)
                metrics.update(eval_metrics)
            metrics = _floats(jax.device_get(metrics))
            seconds = time.monotonic() - tick
            progress = {
                "iteration": int(state.iteration),
                "games": int(state.games),
                "updates": int(state.updates),
                "elapsed": round(time.monotonic() - start, 3),
                "best_return": _best(state),
                # Searches on moves after a game ended are not counted: they are wasted work.
                "sims_per_second": round(
                    metrics["moves"] * trainer.config.search.num_simulations / seconds, 1
                ),
                **metrics,
            }
            run_dir.append_metrics(progress)
            on_iteration(progress)
            if time.monotonic() - last_save >= checkpoint_every:
                run_dir.save(trainer, state, progress["elapsed"])
                last_save = time.monotonic()
    except KeyboardInterrupt:
        run_dir.save(trainer, state, time.monotonic() - start)
        raise
    run_dir.save(trainer, state, progress["elapsed"])
    return state, reason


def _best(state: TrainState) -> float | None:
    best = float(state.best_return)
    return best if math.isfinite(best) else None

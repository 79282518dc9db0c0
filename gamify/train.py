"""One training iteration: self-play, replay, learner, evaluation, the best solution kept.

One *iteration* is one jitted call: ``games_per_iteration`` games of self-play
(search at every move), their moves added to the replay buffer, then
``updates_per_iteration`` optimizer steps on uniform replay samples. The random
key of iteration ``i`` is ``fold_in(PRNGKey(seed), i)`` and everything else that
evolves lives in :class:`TrainState`, which is checkpointed whole: so the same
seed gives the same run on the same platform, and a resumed run continues
exactly where the checkpoint left it. Runs on disk and their budgets: :mod:`gamify.runs`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gamify import replay
from gamify.demonstrations import make_demonstrations, replay_episodes
from gamify.env import Env
from gamify.game import Game
from gamify.learner import LearnerConfig, make_optimizer, make_update
from gamify.networks import Network, NetworkConfig, make_network
from gamify.parallel import Layout
from gamify.search import SearchConfig, make_search, num_candidates
from gamify.selfplay import make_selfplay
from gamify.types import Array, EnvState, Episode, Example, Params, Trajectory


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
    # Fixed episodes (Trainer's episodes=) replayed each time in a fresh random symmetry
    # (Game.vary_episode); False: as given (the expert-iteration ablation).
    vary_episodes: bool = True
    episode_repeats: int = 1  # copies of each fixed episode per iteration (their weight in the replay)
    eval_every: int = 5  # iterations; 0 disables evaluation
    eval_games: int = 8
    # Self-play's (and evaluation's) games in this many groups, each with its own random stream:
    # the unit a layout of devices splits, so a run is the same on any number of devices that
    # divides it (gamify.selfplay.make_selfplay).
    shards: int = 1
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
            "episode_repeats",
            "shards",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "demonstrations_per_iteration"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("games_per_iteration", "eval_games"):
            if (count := getattr(self, name)) % self.shards:
                raise ValueError(f"{name} ({count}) must be a multiple of shards ({self.shards})")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        parts = {"network": NetworkConfig, "search": SearchConfig, "learner": LearnerConfig}
        kwargs = {k: (parts[k](**v) if k in parts else v) for k, v in data.items()}
        return cls(**kwargs)


class TrainState(NamedTuple):
    """Everything of a run that evolves, checkpointed whole. L is the step limit, T the tokens."""

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
    """Keeps the best of the games that ended in ``final`` [B] (actions [L, B, ...], valid [L, B]).

    A game ended by an illegal move is never kept: its last move is no move of the game.
    """
    returns = jnp.where(final.illegal, -jnp.inf, final.episode_return)
    i = jnp.argmax(returns)
    better = returns[i] > state.best_return
    moves = actions[:, i]
    mask = valid[:, i].reshape(valid.shape[:1] + (1,) * (moves.ndim - 1))
    moves = jnp.where(mask, moves, -1)
    return state._replace(
        best_return=jnp.where(better, returns[i], state.best_return),
        best_actions=jnp.where(better, moves, state.best_actions),
        best_length=jnp.where(better, valid[:, i].sum().astype(jnp.int32), state.best_length),
        best_solved=jnp.where(better, _solved(final)[i], state.best_solved),
        best_final=jax.tree.map(lambda x, old: jnp.where(better, x[i], old), final.game, state.best_final),
    )


def _solved(final: EnvState) -> Array:
    """bool [B]: the game ended by its own rules (not the step limit, not an illegal move)."""
    return final.terminated & ~final.illegal


def _dead_end_moves(final: EnvState) -> Array:
    """int32: the fewest moves before a game reached a live state where the search found no
    legal action (and so played an illegal one, which ended it); -1 when no game did."""
    moves = jnp.where(final.illegal, final.step_count - 1, jnp.iinfo(jnp.int32).max)
    return jnp.where(final.illegal.any(), moves.min(), -1)


class Trainer:
    """Builds the jitted pieces for one game and config; :func:`train_until` drives them.

    ``iterate`` and ``evaluate`` are the jitted :meth:`_iterate` and :meth:`_evaluate`.

    Args:
      game: the game to learn.
      config: the run's settings.
      episodes: fixed solved episodes, batched (:func:`gamify.demonstrations.stack_episodes`),
        e.g. verified schemes a local search found: every iteration adds their examples to
        the replay once, after self-play's and the synthetic demonstrations', each episode
        in a fresh random symmetry (``Game.vary_episode``; the tensor game: a random change
        of basis), or as given when ``config.vary_episodes`` is False. They are not part of
        the config: the caller keeps them (``gamify search`` in its run directory).
      initial_params: the network's parameters to start from instead of :meth:`fresh_params`
        (e.g. :func:`gamify.pretrain.load_params`'s; also settable as ``self.initial_params``
        before :meth:`init`); the optimizer state starts fresh.
      layout: the devices to train on (:func:`gamify.parallel.layout`; their number must divide
        ``config.shards`` and ``config.batch_size``): the state replicated on each, self-play's
        shards of games and each learner batch split over them; states go in through
        :meth:`place`. None: the default device, as plain ``jit`` places it.
    """

    def __init__(
        self,
        game: Game,
        config: TrainConfig,
        *,
        episodes: Episode | None = None,
        initial_params: Params | None = None,
        layout: Layout | None = None,
    ):
        self.game, self.config = game, config
        self.layout = layout
        if layout is not None:
            layout.check_divisible(shards=config.shards, batch_size=config.batch_size)
        play = {"shards": config.shards, "layout": layout}
        self._episodes = episodes
        self.initial_params = initial_params
        self.env = env = Env(game)
        self.network = make_network(env.action_space, config=config.network)
        self.optimizer = make_optimizer(config=config.learner)
        search = make_search(env, self.network, config=config.search)
        self._selfplay = make_selfplay(env, search, num_games=config.games_per_iteration, **play)
        eval_config = dataclasses.replace(config.search, gumbel_scale=0.0)
        eval_search = make_search(env, self.network, config=eval_config)
        self._eval_play = make_selfplay(env, eval_search, num_games=config.eval_games, **play)
        self._update = make_update(self.network, self.optimizer, config=config.learner)
        self._demonstrations = None
        self._trajectory = None  # one iteration's self-play record, as shapes (see _trajectory_shapes)
        if config.demonstrations_per_iteration:
            self._demonstrations = make_demonstrations(
                env,
                num_games=config.demonstrations_per_iteration,
                num_candidates=num_candidates(env, config.search),
            )
        if layout is None:
            self.iterate, self.evaluate = jax.jit(self._iterate), jax.jit(self._evaluate)
        else:  # the state stays replicated; what is split inside is the compiler's to partition
            on = layout.replicated
            self.iterate = jax.jit(self._iterate, in_shardings=on, out_shardings=on)
            self.evaluate = jax.jit(self._evaluate, in_shardings=on, out_shardings=on)

    def memory_needed(self) -> dict[str, int]:
        """Bytes of the run's largest arrays, from their shapes alone (nothing is allocated).

        Returns:
          ``{"training state": ..., "self-play trajectories": ...}``: the state is mostly the
          replay buffer (``replay_capacity`` examples; a checkpoint holds all of it), the
          trajectories are one iteration's ``games_per_iteration`` × the game's ``max_steps``
          moves.
        """
        state = jax.eval_shape(self._first_state)
        trajectory = self._trajectory_shapes(state.params, jax.random.PRNGKey(0))
        return {"training state": _nbytes(state), "self-play trajectories": _nbytes(trajectory)}

    def _trajectory_shapes(self, params: Params, key: Array) -> Trajectory:
        """The shapes of one iteration's self-play record; self-play is traced for them once per
        Trainer (a few seconds), not again for every init or memory check."""
        if self._trajectory is None:
            self._trajectory = jax.eval_shape(self._selfplay, params, key).trajectory
        return self._trajectory

    def check_memory(self, available: int | None = None) -> None:
        """Raises ValueError, before anything is allocated, when :meth:`memory_needed` exceeds
        ``available`` bytes (default: the first device's memory limit, or the host's RAM)."""
        needed = self.memory_needed()
        available = _memory_available() if available is None else available
        if sum(needed.values()) > available:
            parts = ", ".join(f"{name} {_gib(size)}" for name, size in needed.items())
            raise ValueError(
                f"this run needs about {_gib(sum(needed.values()))} ({parts}) but {_gib(available)} "
                f"is available: lower {type(self.game).__name__}'s max_steps ({self.env.max_steps}), "
                f"games_per_iteration ({self.config.games_per_iteration}) or replay_capacity "
                f"({self.config.replay_capacity})"
            )

    def _stream_key(self, purpose: str) -> Array:
        return _stream_key(self.config.seed, purpose)

    def fresh_params(self) -> Params:
        """The network's parameters drawn from the seed (what :meth:`init` uses without
        ``initial_params``)."""
        return initial_params(self.env, self.network, self.config.seed)

    def init(self) -> TrainState:
        """The run's first state: fresh parameters from the seed, an empty replay, no best game."""
        return self.place(self._first_state())

    def place(self, state: TrainState) -> TrainState:
        """``state`` (host or device values) where :meth:`iterate` takes it: replicated on the
        layout's devices, or on the default device without a layout."""
        return jax.tree.map(jnp.asarray, state) if self.layout is None else self.layout.place(state)

    def _first_state(self) -> TrainState:
        _, env_key, shape_key = jax.random.split(self._stream_key("init"), 3)
        start = self.env.init(env_key)
        params = self.fresh_params() if self.initial_params is None else self.initial_params
        trajectory = self._trajectory_shapes(params, shape_key)
        example = Example(
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
            replay=replay.init_replay(example, capacity=self.config.replay_capacity),
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
        """Self-play, its moves (and any demonstrations) added to the replay, then the updates.

        Returns:
          ``(state, metrics)``: the next state, and scalar arrays (mean losses, the games'
          mean and max return, ``solved_fraction``, ``moves`` played, ``dead_end_moves``:
          see :func:`_dead_end_moves`).
        """
        key = jax.random.fold_in(self._stream_key("iterate"), state.iteration)
        play_key, learn_key, demo_key = jax.random.split(key, 3)
        result = self._selfplay(state.params, play_key)
        trajectory = result.trajectory
        buffer = replay.add_examples(state.replay, *replay.examples_from(trajectory))
        if self._demonstrations is not None:
            buffer = replay.add_examples(buffer, *self._demonstrations(demo_key))
        if self._episodes is not None:
            slots = num_candidates(self.env, self.config.search)
            examples = replay_episodes(self.env, self._replayed_episodes(key), num_candidates=slots)
            buffer = replay.add_examples(buffer, *examples)

        def learn(carry, k):
            params, opt_state = carry
            sample_key, augment_key = jax.random.split(k)
            batch = replay.sample_examples(buffer, sample_key, batch_size=self.config.batch_size)
            if self.layout is not None:  # data-parallel: each device a slice, gradients averaged
                batch = self.layout.split(batch)
            batch = augment_examples(self.game, augment_key, batch)
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
            "solved_fraction": _solved(result.final_state).mean(),
            "moves": trajectory.valid.sum(),
            "dead_end_moves": _dead_end_moves(result.final_state),
        }
        return state, metrics

    def _replayed_episodes(self, key: Array) -> Episode:
        """The fixed episodes an iteration replays, ``config.episode_repeats`` copies of each:
        each copy in a fresh random symmetry (``Game.vary_episode``) drawn from the iteration's
        ``key``, so known solutions teach in many forms like demonstrations; or as given when
        ``config.vary_episodes`` is False."""
        repeats = self.config.episode_repeats
        episodes = jax.tree.map(lambda x: jnp.tile(x, (repeats,) + (1,) * (x.ndim - 1)), self._episodes)
        if not self.config.vary_episodes:
            return episodes
        # fold_in, not a fourth split: that would change the iteration's other keys.
        keys = jax.random.split(jax.random.fold_in(key, 3), episodes[2].shape[0])
        return jax.vmap(self.game.vary_episode)(keys, *episodes)

    def _evaluate(self, state: TrainState) -> tuple[TrainState, dict]:
        """``eval_games`` games of deterministic search (no Gumbel noise), tracked for the best game.

        Returns:
          ``(state, metrics)``: ``eval_mean_return``, ``eval_max_return`` and
          ``eval_dead_end_moves`` (see :func:`_dead_end_moves`).
        """
        key = jax.random.fold_in(self._stream_key("evaluate"), state.iteration)
        result = self._eval_play(state.params, key)
        returns = result.final_state.episode_return
        state = _track_best(state, result.final_state, result.trajectory.action, result.trajectory.valid)
        return state, {
            "eval_mean_return": returns.mean(),
            "eval_max_return": returns.max(),
            "eval_dead_end_moves": _dead_end_moves(result.final_state),
        }


def augment_examples(game: Game, key: Array, batch: Example) -> Example:
    """The game's symmetry augmentation (Game.augment) applied to every example of a batch."""
    keys = jax.random.split(key, batch.value_target.shape[0])
    observation, weights, candidates = jax.vmap(game.augment)(
        keys, batch.observation, batch.action_weights, batch.candidates
    )
    return batch._replace(observation=observation, action_weights=weights, candidates=candidates)


def initial_params(env: Env, network: Network, seed: int) -> Params:
    """A run's fresh parameters from its seed (a Trainer's and a Pretrainer's alike)."""
    init_key, env_key, _ = jax.random.split(_stream_key(seed, "init"), 3)
    obs = env.observe(env.init(env_key))[None]
    # jit: run eagerly, every initializer op would compile on its own (~10x slower)
    return jax.jit(network.init)(init_key, obs, jnp.ones((1,), jnp.float32))


def _stream_key(seed: int, purpose: str) -> Array:
    """Independent streams of randomness derived from the seed."""
    index = ("init", "iterate", "evaluate").index(purpose)
    return jax.random.fold_in(jax.random.PRNGKey(seed), index)


def _nbytes(tree) -> int:
    return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"


def _memory_available() -> int:
    """The first device's memory limit where JAX reports one (accelerators), else the host's RAM."""
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def best_solution(trainer: Trainer, state: TrainState) -> dict | None:
    """The best game so far as a JSON-ready dict, or None before the first game.

    Returns:
      ``return``, ``length``, ``solved``, ``actions`` (mapped by ``Game.solution``) and
      ``text`` (``Game.describe``'s).
    """
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


_MOVED = {  # renamed or moved to gamify.runs in 0.2
    "Run": "gamify.runs.RunDirectory",
    "run": "gamify.runs.train_until",
    "Budget": "gamify.runs.Budget (also gamify.Budget)",
    "RunDirectory": "gamify.runs.RunDirectory",
    "train_until": "gamify.runs.train_until",
    "METRICS": "gamify.runs.METRICS",
}


def __getattr__(name: str):
    if name in _MOVED:
        raise AttributeError(f"gamify.train.{name} is now {_MOVED[name]}")
    raise AttributeError(f"module 'gamify.train' has no attribute {name!r}")

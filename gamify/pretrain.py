"""Supervised pretraining on synthetic demonstrations (AlphaTensor's first source of data).

A game that offers ``Game.demonstration`` can draw solved episodes without limit (the
tensor game: a random sum of r random terms, whose terms clear it). Pretraining fits the
search's network to them before any self-play: the policy to the moves still to be played
(the same targets :func:`gamify.demonstrations.replay_episodes` puts in the replay), the
value to the moves left. Every update draws fresh episodes, so the examples never repeat.

Held-out measure, on a fixed set of episodes drawn from a key no update uses, at their
starts (for the tensor game: random tensors of rank at most r, built from r terms):

* ``top1``: how often the policy's most probable of its K samples is a move of the
  episode (a term of the generating decomposition);
* ``any_k``: how often any of its K samples is (K: the search's candidates, the moves a
  search would consider at the root);
* ``value_error``: mean absolute error of the value head, in moves;
* ``heldout_loss``: the training loss on every move of the held-out episodes.

A move of the generating episode is a lower bound on "a move that starts some solution
as short": other decompositions exist, so the accuracies are conservative.

The network and optimizer are the search run's (:class:`gamify.train.TrainConfig`), so
its parameters load into a search as they are (``Trainer(..., initial_params=...)``).
One network per game shape: the observation and the action heads are shaped by the
game, and on a small machine a network sized for one format trains faster than one
padded to serve many (AlphaTensor padded to share one network across sizes up to 5 on
TPUs).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gamify import checkpoint
from gamify.demonstrations import make_demonstrations, replay_episodes
from gamify.env import Env
from gamify.game import Game
from gamify.learner import make_loss, make_optimizer, make_update
from gamify.networks import make_network
from gamify.runs import CHECKPOINT, STOPPED, RunDirectory
from gamify.search import num_candidates
from gamify.train import TrainConfig, augment_examples, initial_params
from gamify.types import Array, Example, Params


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Settings of pretraining itself (the network's and optimizer's are the TrainConfig's)."""

    games_per_update: int = 32  # fresh episodes drawn per update; the batch samples their moves
    updates_per_call: int = 50  # updates per jitted call, between held-out measures
    heldout_games: int = 256

    def __post_init__(self):
        for name in ("games_per_update", "updates_per_call", "heldout_games"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class PretrainState(NamedTuple):
    """Everything of a pretraining run that evolves, checkpointed whole."""

    params: Any
    opt_state: Any
    updates: Array  # int32


class Pretrainer:
    """Builds the jitted update loop and held-out measure for one game and config.

    Args:
      game: a game that offers ``demonstration``.
      config: the search run's settings: network, learner, search (its K), batch size, seed.
      pretrain: pretraining's own settings.
    Raises:
      ValueError: the game offers no demonstrations.
    """

    def __init__(self, game: Game, config: TrainConfig, pretrain: PretrainConfig = PretrainConfig()):
        if type(game).demonstration is Game.demonstration:
            name = type(game).__name__
            raise ValueError(f"{name} offers no demonstrations (Game.demonstration) to learn from")
        self.game, self.config, self.pretrain = game, config, pretrain
        self.env = env = Env(game)
        self.network = make_network(env.action_space, config=config.network)
        self.optimizer = make_optimizer(config=config.learner)
        self.num_candidates = num_candidates(env, config.search)
        self._update = make_update(self.network, self.optimizer, config=config.learner)
        self._loss = make_loss(self.network, config=config.learner)
        self._demonstrations = make_demonstrations(
            env, num_games=pretrain.games_per_update, num_candidates=self.num_candidates
        )
        self._heldout = self._heldout_set(self._key(1))
        self.train = jax.jit(self._train)
        self.evaluate = jax.jit(self._evaluate)

    def _key(self, purpose: int) -> Array:
        # Streams 0-2 are the Trainer's (init, iterate, evaluate); pretraining's (updates,
        # held-out set, held-out samples) are 3-5.
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), 3 + purpose)

    def init(self) -> PretrainState:
        """Fresh parameters, exactly those a search run with the same seed starts from."""
        params = initial_params(self.env, self.network, self.config.seed)
        return PretrainState(params, self.optimizer.init(params), jnp.int32(0))

    def _heldout_set(self, key: Array) -> tuple[Array, Array, Example, Example]:
        """(actions [B, L, ...], lengths [B], the episodes' starts, a row per move played): the
        fixed held-out set, built once; padding rows past an episode's end are dropped here."""

        def draw(key):
            episodes = jax.vmap(self.game.demonstration)(jax.random.split(key, self.pretrain.heldout_games))
            return episodes, *replay_episodes(self.env, episodes, num_candidates=self.num_candidates)

        episodes, examples, valid = jax.jit(draw)(key)
        games = self.pretrain.heldout_games
        starts = jax.tree.map(lambda x: x[:games], examples)  # rows are [L, B]-major: step 0 first
        rows = jax.tree.map(lambda x: x[np.asarray(valid)], examples)
        return episodes[1], episodes[2], starts, rows

    def _train(self, state: PretrainState) -> tuple[PretrainState, dict]:
        """``updates_per_call`` updates, each on fresh episodes; returns mean losses."""

        def learn(carry, _):
            params, opt_state, updates = carry
            key = jax.random.fold_in(self._key(0), updates)
            demo_key, pick_key, augment_key = jax.random.split(key, 3)
            examples, valid = self._demonstrations(demo_key)
            # Rows past an episode's end are padding: sample the batch among the moves played.
            rows = jax.random.choice(
                pick_key, valid.shape[0], (self.config.batch_size,), p=valid / valid.sum()
            )
            batch = jax.tree.map(lambda x: x[rows], examples)
            batch = augment_examples(self.game, augment_key, batch)
            params, opt_state, info = self._update(params, opt_state, batch)
            return (params, opt_state, updates + 1), info

        carry = (state.params, state.opt_state, state.updates)
        (params, opt_state, updates), info = jax.lax.scan(
            learn, carry, None, length=self.pretrain.updates_per_call
        )
        metrics = {name: value.mean() for name, value in info._asdict().items()}
        return PretrainState(params, opt_state, updates), metrics

    def _evaluate(self, params: Params) -> dict:
        """The held-out measure of the module docstring."""
        actions, lengths, starts, rows = self._heldout
        games = lengths.shape[0]
        quantiles, policy = self.network.outputs(params, starts.observation, starts.time_left)
        sample_key = self._key(2)
        if self.network.sample is None:
            samples = jax.random.categorical(sample_key, policy, shape=(self.num_candidates, games)).T
            log_pi = jnp.take_along_axis(jax.nn.log_softmax(policy), samples, axis=-1)
            moves, samples = actions[..., None], samples[..., None]  # one token per action
        else:
            samples, log_pi, _ = self.network.sample(params, sample_key, policy, self.num_candidates, 1.0)
            moves = actions
        played = jnp.arange(moves.shape[1])[None, :] < lengths[:, None]  # [B, L]
        same = jnp.all(samples[:, :, None] == moves[:, None], axis=-1)  # [B, K, L]
        hit = jnp.any(same & played[:, None], axis=-1)  # [B, K]
        top = jnp.take_along_axis(hit, jnp.argmax(log_pi, axis=-1)[:, None], axis=-1)[:, 0]
        return {
            "top1": top.mean(),
            "any_k": hit.any(axis=-1).mean(),
            "value_error": jnp.abs(quantiles.mean(axis=-1) - starts.value_target).mean(),
            "heldout_loss": self._loss(params, rows)[1].loss,
        }


def save(path: Path, state: PretrainState, elapsed: float) -> None:
    """Writes the checkpoint: the state and the seconds pretraining has taken."""
    checkpoint.save(path, state, {"updates": int(state.updates), "elapsed": elapsed})


def load(path: Path, template: PretrainState) -> tuple[PretrainState, float]:
    """Loads a checkpoint into ``template``'s structure; returns ``(state, elapsed)``.

    Raises:
      CheckpointError: missing, corrupt, or made for another network or game shape.
    """
    state, metadata = checkpoint.load(path, template)
    return jax.tree.map(jnp.asarray, state), float(metadata["elapsed"])


def load_params(path: Path, template: Params) -> Params:
    """The network parameters of a pretraining checkpoint, checked against ``template``'s
    shapes (e.g. a search's fresh parameters). The optimizer state is not kept: a search
    fine-tunes with a fresh one.

    Raises:
      CheckpointError: missing, corrupt, or made for another network or game shape.
    """
    # Every LearnerConfig gives the same optimizer state structure; only shapes are checked.
    opt_state = make_optimizer(config=TrainConfig().learner).init(template)
    state, _ = checkpoint.load(path, PretrainState(template, opt_state, jnp.int32(0)))
    return jax.tree.map(jnp.asarray, state.params)


def pretrain_until(
    pretrainer: Pretrainer,
    run_dir: RunDirectory,
    *,
    max_seconds: float | None = None,
    max_updates: int | None = None,
    state: PretrainState | None = None,
    elapsed: float = 0.0,
    checkpoint_every: float = 30.0,
    on_record: Callable[[dict], None] = lambda record: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[PretrainState, str]:
    """Pretrains until a limit, measuring on the held-out set after every call of
    ``updates_per_call`` updates (and once before the first: the untrained network).

    Writes ``metrics.jsonl`` (one record per measure: updates, examples, elapsed, the
    training losses and the held-out measure) and ``checkpoint.npz`` (every
    ``checkpoint_every`` seconds, at the end, and on Ctrl-C: the last measured state).

    Returns:
      ``(state, reason)``: the final state and why pretraining stopped.
    """
    directory = run_dir.dir
    state = pretrainer.init() if state is None else state
    start, last_save = time.monotonic() - elapsed, time.monotonic()

    def record_of(state, losses) -> dict:
        held = jax.device_get(pretrainer.evaluate(state.params))
        updates = int(state.updates)
        record = {
            "updates": updates,
            "examples": updates * pretrainer.config.batch_size,
            "elapsed": round(time.monotonic() - start, 3),
            **{name: round(float(value), 6) for name, value in {**losses, **held}.items()},
        }
        run_dir.append_metrics(record)
        on_record(record)
        return record

    if int(state.updates) == 0:
        record_of(state, {})
    logged = (state, elapsed)
    reason = _reached(int(state.updates), elapsed, max_seconds, max_updates)
    try:
        while reason is None:
            if should_stop():
                reason = STOPPED
                break
            state, losses = pretrainer.train(state)
            record = record_of(state, jax.device_get(losses))
            logged = (state, record["elapsed"])
            reason = _reached(record["updates"], record["elapsed"], max_seconds, max_updates)
            if time.monotonic() - last_save >= checkpoint_every:
                save(directory / CHECKPOINT, *logged)
                last_save = time.monotonic()
    except KeyboardInterrupt:
        save(directory / CHECKPOINT, *logged)
        raise
    save(directory / CHECKPOINT, *logged)
    return state, reason


def _reached(updates: int, elapsed: float, max_seconds: float | None, max_updates: int | None) -> str | None:
    if max_updates is not None and updates >= max_updates:
        return "updates spent"
    if max_seconds is not None and elapsed >= max_seconds:
        return "time budget spent"
    return None

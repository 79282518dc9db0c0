"""Cross-game rules, written once: step limit, life after the end, illegal actions."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gamify.game import FactoredActions, FlatActions, Game

Array = jax.Array


class EnvState(NamedTuple):
    """One game's state plus the bookkeeping every game shares (all scalars)."""

    game: Any  # the game's own state pytree
    reward: Array  # float32, reward of the transition that led here
    terminated: Array  # bool, the game ended by its own rules (or an illegal action)
    truncated: Array  # bool, the step limit ended it first
    step_count: Array  # int32, moves made so far
    episode_return: Array  # float32, sum of rewards so far

    @property
    def done(self) -> Array:
        return self.terminated | self.truncated


class Env:
    """Wraps a :class:`Game` with the rules shared by all games.

    * After the end (terminated or truncated) ``step`` is a no-op with reward 0.
    * When ``step_count`` reaches ``game.max_steps`` without termination the
      state is truncated and ``game.truncation_reward`` is added to the reward.
    * An illegal action leaves the game state unchanged, ends the game
      (``terminated``) and pays ``game.illegal_action_reward``. Search never
      plays one (masks hold at every node); this protects user-driven play.
    * Observations are float32 and wrapped in ``stop_gradient``.

    All methods take one unbatched state; batch them with ``jax.vmap``.
    """

    def __init__(self, game: Game):
        if not isinstance(game.action_space, (FlatActions, FactoredActions)):
            raise TypeError(f"{type(game).__name__}.action_space must be FlatActions or FactoredActions")
        if int(game.max_steps) < 1:
            raise ValueError(f"{type(game).__name__}.max_steps must be >= 1, got {game.max_steps}")
        self.game = game
        self.action_space = game.action_space
        self.max_steps = int(game.max_steps)
        self.factored = isinstance(game.action_space, FactoredActions)

    def init(self, key: Array) -> EnvState:
        return self.start_from(self.game.init(key))

    def start_from(self, game_state: Any) -> EnvState:
        """An episode starting from ``game_state`` (e.g. a demonstration's start)."""
        zero = jnp.float32(0.0)
        return EnvState(
            game=game_state,
            reward=zero,
            terminated=jnp.bool_(False),
            truncated=jnp.bool_(False),
            step_count=jnp.int32(0),
            episode_return=zero,
        )

    def is_legal(self, state: EnvState, action: Array) -> Array:
        """bool scalar: the action is legal in this (not yet ended) state."""
        action = jnp.asarray(action, jnp.int32)
        expected = (self.action_space.num_tokens,) if self.factored else ()
        if action.shape != expected:
            raise ValueError(f"an action of {self.game.name!r} has shape {expected}, got {action.shape}")
        if self.factored:
            sizes = jnp.asarray(self.action_space.token_sizes, jnp.int32)
            in_range = jnp.all((action >= 0) & (action < sizes))
            return in_range & self.game.is_legal(state.game, action)
        in_range = (action >= 0) & (action < self.action_space.num_actions)
        return in_range & self.game.legal_action_mask(state.game)[action]

    def legal_action_mask(self, state: EnvState) -> Array:
        """Flat games only: bool[num_actions]; all True once the game is over."""
        mask = self.game.legal_action_mask(state.game)
        return mask | state.done

    def step(self, state: EnvState, action: Array) -> EnvState:
        action = jnp.asarray(action, jnp.int32)
        legal = self.is_legal(state, action)
        next_game, reward, terminated = self.game.step(state.game, action)
        terminated = jnp.asarray(terminated, jnp.bool_)
        count = state.step_count + 1
        truncated = ~terminated & (count >= self.max_steps)
        reward = jnp.asarray(reward, jnp.float32)
        reward = reward + jnp.where(truncated, self.game.truncation_reward(next_game), 0.0)
        steps_left = jnp.int32(self.max_steps) - state.step_count
        illegal_reward = jnp.asarray(self.game.illegal_action_reward(state.game, steps_left), jnp.float32)
        next_game = _select(legal, next_game, state.game)
        reward = jnp.where(legal, reward, illegal_reward)
        terminated = jnp.where(legal, terminated, True)
        truncated = truncated & legal
        moved = EnvState(
            game=next_game,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            step_count=count,
            episode_return=state.episode_return + reward,
        )
        frozen = state._replace(reward=jnp.float32(0.0))
        return _select(state.done, frozen, moved)

    def observe(self, state: EnvState) -> Array:
        return jax.lax.stop_gradient(jnp.asarray(self.game.observe(state.game), jnp.float32))

    def time_left(self, state: EnvState) -> Array:
        """float32 in [0, 1]: fraction of the step limit still available."""
        return 1.0 - state.step_count.astype(jnp.float32) / self.max_steps


def _select(pred: Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)

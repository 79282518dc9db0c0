"""Cross-game rules, written once: step limit, life after the end, illegal actions."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gamify.game import FactoredActions, FlatActions, Game, GameError
from gamify.types import Array, EnvState


class _Moved(NamedTuple):
    """``Env._advance``'s result: a move before its rewards are settled."""

    legal: Array  # bool
    game: Any  # the game's state after the move (ignored when not legal)
    reward: Array  # float32, the game's own reward
    terminated: Array  # bool, by the game's rules or an illegal action
    truncated: Array  # bool, the step limit ended a legal, unterminated move
    step_count: Array  # int32


class Env:
    """Wraps a :class:`Game` with the rules shared by all games.

    * After the end (terminated or truncated) ``step`` is a no-op with reward 0.
    * When ``step_count`` reaches ``game.max_steps`` without termination the
      state is truncated and ``game.truncation_reward`` is added to the reward.
    * An illegal action leaves the game state unchanged, ends the game
      (``terminated`` and ``illegal``) and pays ``game.illegal_action_reward``.
      Search plays one only where it finds no legal action (a game that breaks
      the contract, or a factored game none of whose sampled actions is legal);
      training never keeps such a game as a solution.
    * Observations are float32 and wrapped in ``stop_gradient``.

    All methods take one unbatched state; batch them with ``jax.vmap``, except
    ``step_batch``, the batched ``step`` that skips unneeded reward work.
    """

    def __init__(self, game: Game):
        if not isinstance(game.action_space, (FlatActions, FactoredActions)):
            raise TypeError(f"{type(game).__name__}.action_space must be FlatActions or FactoredActions")
        if int(game.max_steps) < 1:
            raise ValueError(f"{type(game).__name__}.max_steps must be >= 1, got {game.max_steps}")
        self.game = game
        self._label = f"game {game.name or type(game).__name__!r}"
        self.action_space = game.action_space
        self.max_steps = int(game.max_steps)
        self.factored = isinstance(game.action_space, FactoredActions)

    def _game(self, method: str, *args):
        """``game.<method>(*args)``; what it raises comes back naming the game and the method."""
        try:
            return getattr(self.game, method)(*args)
        except Exception as error:
            raise GameError(f"{self._label}, {method}(): {type(error).__name__}: {error}") from error

    def init(self, key: Array) -> EnvState:
        return self.start_from(self._game("init", key))

    def start_from(self, game_state: Any) -> EnvState:
        """An episode starting from ``game_state`` (e.g. a demonstration's start)."""
        zero = jnp.float32(0.0)
        return EnvState(
            game=game_state,
            reward=zero,
            terminated=jnp.bool_(False),
            truncated=jnp.bool_(False),
            illegal=jnp.bool_(False),
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
            return in_range & self._game("is_legal", state.game, action)
        in_range = (action >= 0) & (action < self.action_space.num_actions)
        return in_range & self._game("legal_action_mask", state.game)[action]

    def legal_action_mask(self, state: EnvState) -> Array:
        """Flat games only: bool[num_actions]; all True once the game is over."""
        mask = self._game("legal_action_mask", state.game)
        return mask | state.done

    def step(self, state: EnvState, action: Array) -> EnvState:
        """One move of one state (the reference; ``step_batch`` is its batched twin)."""
        action = jnp.asarray(action, jnp.int32)
        moved = self._advance(state, action)
        truncation_reward = self._truncation_reward(moved.game)
        illegal_reward = self._illegal_reward(state)
        return self._finish(state, moved, truncation_reward, illegal_reward)

    def step_batch(self, states: EnvState, actions: Array) -> EnvState:
        """``jax.vmap(self.step)(states, actions)``, bit for bit, but cheaper.

        ``truncation_reward`` (which can cost far more than the step itself)
        is evaluated only when this step truncates some live state of the
        batch, and ``illegal_action_reward`` only when some live state gets an
        illegal action: a batch-level ``lax.cond`` branches for real, where a
        ``cond`` under ``vmap`` would evaluate both sides.
        """
        actions = jnp.asarray(actions, jnp.int32)
        moved = jax.vmap(self._advance)(states, actions)
        live = ~states.done
        batch = states.done.shape
        truncation_reward = jax.lax.cond(
            jnp.any(live & moved.truncated),
            jax.vmap(self._truncation_reward),
            lambda g: jnp.zeros(batch, jnp.float32),
            moved.game,
        )
        illegal_reward = jax.lax.cond(
            jnp.any(live & ~moved.legal),
            jax.vmap(self._illegal_reward),
            lambda s: jnp.zeros(batch, jnp.float32),
            states,
        )
        return jax.vmap(self._finish)(states, moved, truncation_reward, illegal_reward)

    # The rules of ``step``, written once and shared by ``step`` and ``step_batch``.

    def _advance(self, state: EnvState, action: Array) -> _Moved:
        """The game's own move, before the shared rules settle reward and flags."""
        legal = self.is_legal(state, action)
        next_game, reward, terminated = self._game("step", state.game, action)
        terminated = jnp.asarray(terminated, jnp.bool_)
        count = state.step_count + 1
        truncated = ~terminated & (count >= self.max_steps)
        # terminated/truncated already account for illegality, so that step_batch
        # can tell from them which states need which reward.
        return _Moved(
            legal=legal,
            game=next_game,
            reward=jnp.asarray(reward, jnp.float32),
            terminated=terminated | ~legal,
            truncated=truncated & legal,
            step_count=count,
        )

    def _truncation_reward(self, next_game: Any) -> Array:
        return jnp.asarray(self._game("truncation_reward", next_game), jnp.float32)

    def _illegal_reward(self, state: EnvState) -> Array:
        steps_left = jnp.int32(self.max_steps) - state.step_count
        return jnp.asarray(self._game("illegal_action_reward", state.game, steps_left), jnp.float32)

    def _finish(
        self, state: EnvState, moved: _Moved, truncation_reward: Array, illegal_reward: Array
    ) -> EnvState:
        legal = moved.legal
        reward = moved.reward + jnp.where(moved.truncated, truncation_reward, 0.0)
        reward = jnp.where(legal, reward, illegal_reward)
        after = EnvState(
            game=_select(legal, moved.game, state.game),
            reward=reward,
            terminated=moved.terminated,
            truncated=moved.truncated,
            illegal=~legal,
            step_count=moved.step_count,
            episode_return=state.episode_return + reward,
        )
        frozen = state._replace(reward=jnp.float32(0.0))
        return _select(state.done, frozen, after)

    def observe(self, state: EnvState) -> Array:
        return jax.lax.stop_gradient(jnp.asarray(self._game("observe", state.game), jnp.float32))

    def time_left(self, state: EnvState) -> Array:
        """float32 in [0, 1]: fraction of the step limit still available."""
        return 1.0 - state.step_count.astype(jnp.float32) / self.max_steps


def _select(pred: Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)

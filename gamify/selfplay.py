"""Batched self-play under jit: a loop over moves that stops when every game is over."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gamify.env import Env
from gamify.types import Array, EnvState, Params, SearchFn, Trajectory


def make_trajectory(observation, time_left, action, action_weights, candidates, reward, valid) -> Trajectory:
    """A :class:`Trajectory` from its recorded fields [L, B, ...], with value targets = returns to go."""
    return Trajectory(
        observation=observation,
        time_left=time_left,
        action=action,
        action_weights=action_weights,
        candidates=candidates,
        reward=reward,
        valid=valid,
        value_target=returns_to_go(reward, valid),
    )


class SelfPlayResult(NamedTuple):
    trajectory: Trajectory
    final_state: EnvState  # [B]


def returns_to_go(rewards: Array, valid: Array) -> Array:
    """Undiscounted return from each move to the end. rewards, valid: [L, B] -> [L, B]."""
    rewards = jnp.where(valid, rewards, 0.0)
    return jnp.flip(jnp.cumsum(jnp.flip(rewards, 0), axis=0), 0)


def make_selfplay(
    env: Env, search: SearchFn, *, num_games: int, split: Callable | None = None
) -> Callable[[Params, Array], SelfPlayResult]:
    """Builds batched self-play: every game plays to its end, searching at every move.

    Args:
      env: the game under the shared rules.
      search: picks each move (:func:`gamify.search.make_search`).
      num_games: B, the games played at once.
      split: ``split(tree, axis)`` constrains arrays to be split over devices along their
        games axis (:meth:`gamify.parallel.Layout.split`); None: no constraint.
    Returns:
      ``selfplay(params, rng_key, states=None) -> SelfPlayResult``, not jitted: a
      :class:`Trajectory` [L = env.max_steps, B] and the final states [B]. The games start
      from ``states`` [B] when given (e.g. ``env.start_from`` positions of the caller's),
      else from ``env.init``. Moves after a game's end (or never played, once all games are
      over) are marked ``valid = False``.
    """

    def selfplay(params: Params, rng_key: Array, states: EnvState | None = None) -> SelfPlayResult:
        init_key, play_key = jax.random.split(rng_key)
        if states is None:
            states = jax.vmap(env.init)(jax.random.split(init_key, num_games))
        if split is not None:  # the rest follows: every game's search and steps on its device
            states = split(states)

        def record(states, out):
            return (
                jax.vmap(env.observe)(states),
                jax.vmap(env.time_left)(states),
                out.action,
                out.action_weights,
                out.candidates,
                ~states.done,
            )

        keys = jax.random.split(play_key, env.max_steps)
        # Buffers shaped like one move's record, for every move; moves never played stay
        # zero with valid = False.
        shapes = jax.eval_shape(lambda s: record(s, search(params, keys[0], s)), states)
        buffers = jax.tree.map(lambda x: jnp.zeros((env.max_steps,) + x.shape, x.dtype), shapes)
        rewards = jnp.zeros((env.max_steps, num_games), jnp.float32)

        def play_move(carry):
            t, states, buffers, rewards = carry
            out = search(params, keys[t], states)
            buffers = jax.tree.map(lambda buf, x: buf.at[t].set(x), buffers, record(states, out))
            states = env.step_batch(states, out.action)
            return t + 1, states, buffers, rewards.at[t].set(states.reward)

        def any_running(carry):
            t, states, _, _ = carry
            return (t < env.max_steps) & ~jnp.all(states.done)

        # A while loop, not a scan: once every game is over, no search is wasted on no-op moves.
        _, final, buffers, reward = jax.lax.while_loop(
            any_running, play_move, (jnp.int32(0), states, buffers, rewards)
        )
        obs, time_left, action, weights, candidates, valid = buffers
        trajectory = make_trajectory(obs, time_left, action, weights, candidates, reward, valid)
        return SelfPlayResult(trajectory=trajectory, final_state=final)

    return selfplay

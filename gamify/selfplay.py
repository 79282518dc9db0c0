"""Batched self-play under jit: ``lax.scan`` over moves, search at every move."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gamify.env import Env, EnvState
from gamify.search import SearchFn

Array = jax.Array


class Trajectory(NamedTuple):
    """Time-major self-play record. L is the step limit, B the number of games."""

    observation: Array  # [L, B, ...]
    time_left: Array  # [L, B]
    action: Array  # [L, B] or [L, B, T]
    action_weights: Array  # [L, B, A] search policy (over actions, or over the K candidates)
    candidates: Array  # [L, B, K, T] (factored) or [L, B, 0, 0]
    reward: Array  # [L, B]
    valid: Array  # [L, B] bool, the game was still running before this move
    value_target: Array  # [L, B] return from this move to the end (undiscounted)


class SelfPlayResult(NamedTuple):
    trajectory: Trajectory
    final_state: EnvState  # [B]


def returns_to_go(rewards: Array, valid: Array) -> Array:
    """Undiscounted return from each move to the end. rewards, valid: [L, B] -> [L, B]."""
    rewards = jnp.where(valid, rewards, 0.0)
    return jnp.flip(jnp.cumsum(jnp.flip(rewards, 0), axis=0), 0)


def make_selfplay(env: Env, search: SearchFn, num_games: int):
    """Returns ``selfplay(params, rng_key) -> SelfPlayResult`` playing ``num_games`` games to the end.

    Every game runs ``env.max_steps`` moves; moves after the end are no-ops and
    are marked ``valid = False``.
    """

    def selfplay(params: Any, rng_key: Array) -> SelfPlayResult:
        init_key, play_key = jax.random.split(rng_key)
        states = jax.vmap(env.init)(jax.random.split(init_key, num_games))

        def move(states, key):
            out = search(params, key, states)
            record = (
                jax.vmap(env.observe)(states),
                jax.vmap(env.time_left)(states),
                out.action,
                out.action_weights,
                out.candidates,
                ~states.done,
            )
            states = jax.vmap(env.step)(states, out.action)
            return states, (*record, states.reward)

        keys = jax.random.split(play_key, env.max_steps)
        final, (obs, time_left, action, weights, candidates, valid, reward) = jax.lax.scan(move, states, keys)
        trajectory = Trajectory(
            observation=obs,
            time_left=time_left,
            action=action,
            action_weights=weights,
            candidates=candidates,
            reward=reward,
            valid=valid,
            value_target=returns_to_go(reward, valid),
        )
        return SelfPlayResult(trajectory=trajectory, final_state=final)

    return selfplay

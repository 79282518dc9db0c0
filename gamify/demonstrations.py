"""Synthetic demonstrations: solved episodes a game generates, replayed into training examples.

AlphaTensor's second source of data besides self-play: sample a random
decomposition, sum it into a target, and teach the network to take it apart
again. A game opts in with ``Game.demonstration(key)``; the demonstrated move is
the policy target (one-hot over actions, or the first of the K candidate slots
for factored games) and the episode's return-to-go is the value target.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gamify.env import Env
from gamify.replay import Example, examples_from
from gamify.selfplay import make_trajectory

Array = jax.Array


def make_demonstrations(env: Env, num_games: int, num_samples: int):
    """Returns ``demonstrations(rng_key) -> (examples [L*num_games], valid)`` in replay layout.

    Args:
      num_samples: K of the sampled search, so factored targets fill [K, T] candidate rows.
    """

    def demonstrations(rng_key: Array) -> tuple[Example, Array]:
        starts, actions, lengths = jax.vmap(env.game.demonstration)(jax.random.split(rng_key, num_games))
        states = jax.vmap(env.start_from)(starts)
        moves = jnp.swapaxes(actions, 0, 1)  # [L, B, ...]

        def move(states, inputs):
            t, action = inputs
            valid = (t < lengths) & ~states.done
            record = (jax.vmap(env.observe)(states), jax.vmap(env.time_left)(states), valid, action)
            states = env.step_batch(states, action)
            return states, (*record, states.reward)

        steps = jnp.arange(env.max_steps, dtype=jnp.int32)
        _, (obs, time_left, valid, action, rewards) = jax.lax.scan(move, states, (steps, moves))
        if env.factored:
            candidates = jnp.zeros(action.shape[:2] + (num_samples,) + action.shape[2:], jnp.int32)
            candidates = candidates.at[:, :, 0].set(action)
            weights = jnp.zeros(action.shape[:2] + (num_samples,), jnp.float32).at[:, :, 0].set(1.0)
        else:
            candidates = jnp.zeros(action.shape + (0, 0), jnp.int32)
            weights = jax.nn.one_hot(action, env.action_space.num_actions)
        return examples_from(make_trajectory(obs, time_left, action, weights, candidates, rewards, valid))

    return demonstrations

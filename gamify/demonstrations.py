"""Demonstrations: solved episodes replayed into training examples.

AlphaTensor's second source of data besides self-play: sample a random
decomposition, sum it into a target, and teach the network to take it apart
again. A game opts in with ``Game.demonstration(key)``. Fixed episodes replay the
same way (:func:`replay_episodes`): known solutions, such as verified schemes a
local search found, which the network should learn too; training varies each one every
iteration (``Game.vary_episode``: for the tensor game a fresh random basis), so that it
teaches in many forms as random demonstrations do. The policy target at a step is
uniform over the episode's moves not yet played, since any order of them solves the
episode: they fill the K candidate slots (the first K if more remain; flat actions as
one-token candidates); the episode's return-to-go is the value target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from gamify.env import Env
from gamify.replay import examples_from
from gamify.selfplay import make_trajectory
from gamify.types import Array, Episode, Example


def make_demonstrations(
    env: Env, *, num_games: int, num_candidates: int
) -> Callable[[Array], tuple[Example, Array]]:
    """Builds a source of synthetic demonstrations (``Game.demonstration``) in replay layout.

    Args:
      env: the game under the shared rules; its game must offer ``demonstration``.
      num_games: B, the episodes drawn per call.
      num_candidates: K of the search (:func:`gamify.search.num_candidates`): targets fill
        [K, T] candidate rows, as the search's do.
    Returns:
      ``demonstrations(rng_key) -> (examples, valid)``, not jitted: an :class:`Example` with
      L*num_games rows, and valid bool[L*num_games].
    """

    def demonstrations(rng_key: Array) -> tuple[Example, Array]:
        episodes = jax.vmap(env.game.demonstration)(jax.random.split(rng_key, num_games))
        return replay_episodes(env, episodes, num_candidates=num_candidates)

    return demonstrations


def stack_episodes(episodes: Sequence[Episode]) -> Episode:
    """Episodes of one game (e.g. ``Game.demonstration`` results) batched on a new leading axis B."""
    return jax.tree.map(lambda *x: jnp.stack(x), *episodes)


def replay_episodes(env: Env, episodes: Episode, *, num_candidates: int) -> tuple[Example, Array]:
    """Plays solved episodes and returns their training examples.

    Args:
      env: the game under the shared rules.
      episodes: (starts [B], actions [B, L, ...], lengths [B]), e.g. :func:`stack_episodes`.
      num_candidates: K of the search: targets fill [K, T] candidate rows.
    Returns:
      ``(examples, valid)``: an :class:`Example` with L*B rows, and valid bool[L*B].
    """
    starts, actions, lengths = episodes
    states = jax.vmap(env.start_from)(starts)
    moves = jnp.swapaxes(actions, 0, 1)  # [L, B, ...]

    def replay_move(states, inputs):
        t, action = inputs
        valid = (t < lengths) & ~states.done
        record = (jax.vmap(env.observe)(states), jax.vmap(env.time_left)(states), valid, action)
        states = env.step_batch(states, action)
        return states, (*record, states.reward)

    steps = jnp.arange(env.max_steps, dtype=jnp.int32)
    _, (obs, time_left, valid, action, rewards) = jax.lax.scan(replay_move, states, (steps, moves))
    # remaining[t, b, j]: move j of game b is still to be played at step t.
    remaining = (steps[None, :] >= steps[:, None])[:, None, :] & (steps < lengths[:, None])[None]
    tokens = actions if env.factored else actions[..., None]  # [B, L, T]
    # Slot k at step t holds move t + k (cyclically; slots past the end get weight 0).
    index = (steps[:, None] + jnp.arange(num_candidates)[None, :]) % env.max_steps  # [L, K]
    candidates = jnp.swapaxes(tokens[:, index], 0, 1)  # [L, B, K, T]
    index = jnp.broadcast_to(index[:, None], remaining.shape[:2] + index.shape[1:])
    weights = jnp.take_along_axis(remaining, index, axis=2)
    once = jnp.arange(num_candidates) < env.max_steps  # K > L: later slots wrap onto moves again
    weights = (weights & once).astype(jnp.float32)
    weights = weights / jnp.maximum(weights.sum(-1, keepdims=True), 1.0)
    return examples_from(make_trajectory(obs, time_left, action, weights, candidates, rewards, valid))

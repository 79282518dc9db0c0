"""Batched self-play under jit: a loop over moves that stops when every game is over."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from gamify.env import Env
from gamify.parallel import AXIS, Layout
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
    env: Env, search: SearchFn, *, num_games: int, shards: int = 1, layout: Layout | None = None
) -> Callable[[Params, Array], SelfPlayResult]:
    """Builds batched self-play: every game plays to its end, searching at every move.

    Args:
      env: the game under the shared rules.
      search: picks each move (:func:`gamify.search.make_search`).
      num_games: B, the games played at once.
      shards: the games split into this many equal groups, each searched with its own random
        stream (the move's key folded with the group's index; one group: the move's key).
      layout: devices to split the groups over (``shards`` a multiple of their number): each
        device plays its groups to their end with no communication (``shard_map``), so the
        games and their random draws are the same on any number of devices.
    Returns:
      ``selfplay(params, rng_key, states=None) -> SelfPlayResult``, not jitted: a
      :class:`Trajectory` [L = env.max_steps, B] and the final states [B]. The games start
      from ``states`` [B] when given (e.g. ``env.start_from`` positions of the caller's),
      else from ``env.init``. Moves after a game's end (or never played, once all games are
      over) are marked ``valid = False``.
    """
    if num_games % shards:
        raise ValueError(f"{num_games} games do not split into {shards} equal shards")
    if layout is not None and shards % layout.size:
        raise ValueError(f"{shards} shards do not split evenly over {layout.size} devices")
    per_shard = num_games // shards

    def play(params, keys, states, first_shard, count) -> tuple[Trajectory, EnvState]:
        """Plays ``count`` shards (``states`` [count * per_shard]) to their end."""

        def search_all(key, states):
            if shards == 1:
                return search(params, key, states)
            outs = [
                search(
                    params,
                    jax.random.fold_in(key, first_shard + j),
                    jax.tree.map(lambda x, j=j: x[j * per_shard : (j + 1) * per_shard], states),
                )
                for j in range(count)
            ]
            return jax.tree.map(lambda *parts: jnp.concatenate(parts), *outs)

        def record(states, out):
            return (
                jax.vmap(env.observe)(states),
                jax.vmap(env.time_left)(states),
                out.action,
                out.action_weights,
                out.candidates,
                ~states.done,
            )

        # Buffers shaped like one move's record, for every move; moves never played stay
        # zero with valid = False.
        shapes = jax.eval_shape(lambda s: record(s, search_all(keys[0], s)), states)
        buffers = jax.tree.map(lambda x: jnp.zeros((env.max_steps,) + x.shape, x.dtype), shapes)
        rewards = jnp.zeros((env.max_steps, count * per_shard), jnp.float32)

        def play_move(carry):
            t, states, buffers, rewards = carry
            out = search_all(keys[t], states)
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
        return make_trajectory(obs, time_left, action, weights, candidates, reward, valid), final

    def selfplay(params: Params, rng_key: Array, states: EnvState | None = None) -> SelfPlayResult:
        init_key, play_key = jax.random.split(rng_key)
        if states is None:
            states = jax.vmap(env.init)(jax.random.split(init_key, num_games))
        keys = jax.random.split(play_key, env.max_steps)
        if layout is None:
            trajectory, final = play(params, keys, states, 0, shards)
        else:
            local = shards // layout.size

            def on_device(params, keys, states):
                return play(params, keys, states, jax.lax.axis_index(AXIS) * local, local)

            trajectory, final = jax.shard_map(
                on_device,
                mesh=layout.mesh,
                in_specs=(P(), P(), P(AXIS)),
                out_specs=(P(None, AXIS), P(AXIS)),
                check_vma=False,  # mctx's loops mix per-device and replicated values
            )(params, keys, states)
        return SelfPlayResult(trajectory=trajectory, final_state=final)

    return selfplay

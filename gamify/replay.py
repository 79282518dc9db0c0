"""A fixed-size ring buffer of training examples that lives in device arrays (jit-friendly)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gamify.selfplay import Trajectory

Array = jax.Array


class Example(NamedTuple):
    """One training example per row. N is the number of rows."""

    observation: Array  # [N, ...]
    time_left: Array  # [N]
    action_weights: Array  # [N, A] search policy target
    candidates: Array  # [N, K, T] (factored) or [N, 0, 0]
    value_target: Array  # [N]


class Replay(NamedTuple):
    data: Example  # [capacity, ...]
    position: Array  # int32, next row to write
    size: Array  # int32, rows filled


def examples_from(trajectory: Trajectory) -> tuple[Example, Array]:
    """Flattens a [L, B] trajectory into rows; returns ``(examples [L*B], valid [L*B])``."""
    flat = lambda x: x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])
    examples = Example(
        observation=flat(trajectory.observation),
        time_left=flat(trajectory.time_left),
        action_weights=flat(trajectory.action_weights),
        candidates=flat(trajectory.candidates),
        value_target=flat(trajectory.value_target),
    )
    return examples, flat(trajectory.valid)


def init_replay(example: Example, capacity: int) -> Replay:
    """An empty buffer whose rows look like ``example`` (a single unbatched row)."""
    data = jax.tree.map(lambda x: jnp.zeros((capacity,) + x.shape, x.dtype), example)
    return Replay(data=data, position=jnp.int32(0), size=jnp.int32(0))


def add(replay: Replay, examples: Example, valid: Array) -> Replay:
    """Writes the valid rows of ``examples`` after the newest ones, overwriting the oldest."""
    capacity = replay.data.value_target.shape[0]
    order = jnp.argsort(~valid, stable=True)  # valid rows first, in order
    examples = jax.tree.map(lambda x: x[order], examples)
    count = valid.sum().astype(jnp.int32)
    rows = jnp.arange(valid.shape[0], dtype=jnp.int32)
    # Invalid rows go to an out-of-range index and are dropped; they never touch stored data.
    index = jnp.where(rows < count, (replay.position + rows) % capacity, capacity)
    data = jax.tree.map(lambda buf, x: buf.at[index].set(x, mode="drop"), replay.data, examples)
    return Replay(
        data=data,
        position=(replay.position + count) % capacity,
        size=jnp.minimum(replay.size + count, capacity),
    )


def sample(replay: Replay, rng_key: Array, batch_size: int) -> Example:
    """Uniform sample of ``batch_size`` filled rows (with replacement). The buffer must not be empty."""
    index = jax.random.randint(rng_key, (batch_size,), 0, jnp.maximum(replay.size, 1))
    return jax.tree.map(lambda x: x[index], replay.data)

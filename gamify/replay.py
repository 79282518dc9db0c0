"""A fixed-size ring buffer of training examples that lives in device arrays (jit-friendly)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gamify.types import Array, Example, Trajectory


class Replay(NamedTuple):
    """A ring buffer of :class:`Example` rows: writes wrap around, overwriting the oldest."""

    data: Example  # [capacity, ...]
    position: Array  # int32, next row to write
    size: Array  # int32, rows filled


def examples_from(trajectory: Trajectory) -> tuple[Example, Array]:
    """Flattens a trajectory into training rows.

    Args:
      trajectory: a :class:`Trajectory` [L, B, ...].
    Returns:
      ``(examples, valid)``: an :class:`Example` with N = L*B rows, and valid bool[L*B].
    """
    flat = lambda x: x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])
    examples = Example(
        observation=flat(trajectory.observation),
        time_left=flat(trajectory.time_left),
        action_weights=flat(trajectory.action_weights),
        candidates=flat(trajectory.candidates),
        value_target=flat(trajectory.value_target),
    )
    return examples, flat(trajectory.valid)


def init_replay(example: Example, *, capacity: int) -> Replay:
    """An empty buffer.

    Args:
      example: one unbatched row, giving the rows' shapes and dtypes.
      capacity: rows the buffer holds.
    Returns:
      Replay: ``data`` [capacity, ...] of zeros, ``position`` and ``size`` 0.
    """
    data = jax.tree.map(lambda x: jnp.zeros((capacity,) + x.shape, x.dtype), example)
    return Replay(data=data, position=jnp.int32(0), size=jnp.int32(0))


def add_examples(replay: Replay, examples: Example, valid: Array) -> Replay:
    """Writes the valid rows of ``examples`` after the newest ones, overwriting the oldest.

    Args:
      replay: the buffer.
      examples: an :class:`Example` [N, ...].
      valid: bool[N], the rows to keep; the others are dropped.
    Returns:
      Replay: the buffer with the valid rows added, in order.
    """
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


def sample_examples(replay: Replay, rng_key: Array, *, batch_size: int) -> Example:
    """A uniform sample of filled rows, with replacement.

    Args:
      replay: the buffer; it must not be empty.
      rng_key: a PRNG key.
      batch_size: rows to draw.
    Returns:
      Example: ``batch_size`` rows [batch_size, ...].
    """
    index = jax.random.randint(rng_key, (batch_size,), 0, jnp.maximum(replay.size, 1))
    return jax.tree.map(lambda x: x[index], replay.data)

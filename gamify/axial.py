"""AlphaTensor's torso: attention across the three modes of a 3-way tensor.

An observation ``[B, I, J, K, C]`` is seen as three grids, one per cyclic
transposition: ``(i, j)`` with features ``k·C``, ``(j, k)`` with ``i·C``, and
``(k, i)`` with ``j·C`` (Fawzi et al. 2022, Fig. 3 and Supplement). An
*attentive-modes* block mixes every pair of grids that share an axis: grid
``(i, j)`` and the transpose of grid ``(j, k)`` are stacked along their other
axis into ``[I + K, J]`` cells, and each of the J columns runs self-attention over
its ``I + K`` cells; likewise for ``((j, k), (k, i))`` over K and ``((k, i), (i, j))``
over I. For AlphaTensor's cubes this is their "concatenate X1 and X2ᵀ, attend
along rows"; stacking along the non-shared axis makes it work for any ⟨n,m,p⟩.

The torso returns a pooled vector (for the value and the flat policy) and the
``IJ + JK + KI`` cell embeddings, which the token decoder cross-attends to.
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from gamify.types import Array

_PAIRS = ((0, 1), (1, 2), (2, 0))  # grid a's second axis is grid b's first axis


def _layer_norm(x: Array) -> Array:
    return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)(x)


class AttentiveModes(hk.Module):
    """One block: for each pair of grids, self-attention along the shared axis's columns."""

    def __init__(self, num_heads: int, name: str | None = None):
        super().__init__(name=name)
        self.num_heads = num_heads

    def _attend(self, x: Array) -> Array:
        # x: [N, L, c]; pre-norm attention + MLP, both residual.
        width = x.shape[-1]
        attention = hk.MultiHeadAttention(
            num_heads=self.num_heads,
            key_size=max(width // self.num_heads, 1),
            model_size=width,
            w_init=hk.initializers.VarianceScaling(1.0),
        )
        y = _layer_norm(x)
        x = x + attention(y, y, y)
        y = hk.Linear(4 * width)(_layer_norm(x))
        return x + hk.Linear(width)(jax.nn.gelu(y))

    def __call__(self, grids: list[Array]) -> list[Array]:
        grids = list(grids)
        for a, b in _PAIRS:
            first, second = grids[a], grids[b]  # [B, A, S, c] and [B, S, C, c]
            rows = first.shape[1]
            stacked = jnp.concatenate([first, second.transpose(0, 2, 1, 3)], axis=1)  # [B, A + C, S, c]
            columns = stacked.transpose(0, 2, 1, 3)  # [B, S, A + C, c]
            batch, shared, length, width = columns.shape
            mixed = self._attend(columns.reshape(batch * shared, length, width))
            mixed = mixed.reshape(batch, shared, length, width).transpose(0, 2, 1, 3)
            grids[a] = mixed[:, :rows]
            grids[b] = mixed[:, rows:].transpose(0, 2, 1, 3)
        return grids


def axial_torso(obs: Array, time_left: Array, *, width: int, num_blocks: int, num_heads: int):
    """AlphaTensor-style torso.

    Args:
      obs: [B, I, J, K, C] (a 3-way tensor with C channels, e.g. residual and history).
      time_left: [B].
    Returns:
      ``(pooled [B, width], cells [B, IJ + JK + KI, width])``.
    """
    if obs.ndim != 5:
        raise ValueError(f"the axial torso needs observations [I, J, K, C], got {obs.shape[1:]}")
    batch, size_i, size_j, size_k, channels = obs.shape
    views = [
        obs.reshape(batch, size_i, size_j, size_k * channels),
        obs.transpose(0, 2, 3, 1, 4).reshape(batch, size_j, size_k, size_i * channels),
        obs.transpose(0, 3, 1, 2, 4).reshape(batch, size_k, size_i, size_j * channels),
    ]
    time_embedding = hk.Linear(width, name="time")(time_left[:, None])[:, None, None, :]
    grids = [hk.Linear(width, name=f"grid_{g}")(view) + time_embedding for g, view in enumerate(views)]
    for _ in range(num_blocks):
        grids = AttentiveModes(num_heads)(grids)
    cells = jnp.concatenate([g.reshape(batch, -1, width) for g in grids], axis=1)
    cells = _layer_norm(cells)
    pooled = jax.nn.relu(hk.Linear(width, name="pool")(cells.mean(axis=1)))
    return pooled, cells

"""Changes of basis of a 3-way tensor: (A⊗B⊗C)·T keeps every decomposition's rank.

A decomposition Σ u⊗v⊗w of (A⊗B⊗C)·T maps back to Σ A⁻¹u ⊗ B⁻¹v ⊗ C⁻¹w of T, so a
search may start from a tensor in a random basis (AlphaTensor's augmentation): every
game is a different puzzle with the same answer. Over GF(2) any invertible matrices
serve; over Z signed permutations keep factor entries in a symmetric coefficient set
(plain permutations for an asymmetric one) and are their own transposes' inverses.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gamify.types import Array


def random_basis(key: Array, size: int, field: str, signs: bool = True) -> Array:
    """int32[size, size]: invertible over GF(2) (P·L·U, unit triangular L, U) for "z2", else a
    permutation, with random signs when ``signs`` (an asymmetric coefficient set needs none)."""
    perm_key, low_key, up_key = jax.random.split(key, 3)
    perm = jax.random.permutation(perm_key, jnp.eye(size, dtype=jnp.int32))
    if field == "z":
        if not signs:
            return perm
        flips = 2 * jax.random.bernoulli(low_key, shape=(size, 1)).astype(jnp.int32) - 1
        return perm * flips
    eye = jnp.eye(size, dtype=jnp.int32)
    low = jnp.tril(jax.random.bernoulli(low_key, shape=(size, size)).astype(jnp.int32), -1) + eye
    up = jnp.triu(jax.random.bernoulli(up_key, shape=(size, size)).astype(jnp.int32), 1) + eye
    return perm @ low @ up % 2


def basis_inverse(matrix: np.ndarray, field: str) -> np.ndarray:
    """The inverse of a :func:`random_basis` matrix: Gauss-Jordan over GF(2), the transpose over Z."""
    if field == "z":
        return matrix.T
    size = len(matrix)
    work = np.concatenate([matrix % 2, np.eye(size, dtype=np.int64)], axis=1)
    for col in range(size):
        pivot = col + int(np.flatnonzero(work[col:, col])[0])
        work[[col, pivot]] = work[[pivot, col]]
        for row in np.flatnonzero(work[:, col]):
            if row != col:
                work[row] ^= work[col]
    return work[:, size:]

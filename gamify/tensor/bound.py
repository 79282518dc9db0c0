"""An upper bound on the rank of a 3-way tensor from the ranks of its matrix slices.

The bound is the smallest, over the three modes, of the sum of the ranks of the tensor's
matrix slices: GF(2) ranks (by XOR elimination) over Z2, ranks over Q over Z. The tensor
game pays it as the penalty of a game that ends at its step limit, and shaped rewards pay
it as it changes (:mod:`gamify.games.tensor_decomposition`).

Over Z each slice's rank is the largest of its ranks modulo three primes p < 46341
(int32 elimination: a product of two residues and the difference of two such products
stay below 2^31). A rank modulo a prime never exceeds the rank over Q, and is equal
unless the prime divides every nonzero maximal minor. A minor is at most the Hadamard
bound Π |column| (or the same over rows), at most 2^(s/2) where s sums the bit widths of
the squared column norms; when every |entry| < 4096 and s < 92 (checked in integers, so
the C++ kernel agrees bit for bit) the bound is below the primes' product (> 2^46), no
nonzero minor can be divisible by all three primes, the largest modular rank is the
exact rank, and the bound is exact. Certified are, for example, any 4×4 slice with
entries of absolute value ≤ 1023, 6×6 ≤ 73, 9×9 ≤ 10, and sparse slices with larger
entries. A slice that is not certified counts as min(its nonzero rows, its nonzero
columns), still an upper bound on its rank, so the result is always an upper bound on
the rank over Q. For ⟨2,2,2⟩ with the tensor game's default step limit and coefficients
every residual is certified (entries ≤ 1 + 8·2³).

:func:`slice_rank_bound_exact` computes the same bound on the host with Python integers,
always exact; the C++ kernels (:mod:`gamify.tensor.kernels`) agree bit for bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gamify.types import Array

PRIMES = (46337, 46327, 46309)  # the largest primes below sqrt(2^31)
_CERTIFIED_BITS = 92  # Σ bit widths of squared norms below this: minors < 2^46 < Π PRIMES
_MAX_CERTIFIED_ENTRY = 4096  # keeps squared norms of up to 64 entries within int32


def slice_rank_bound(residual: Array, field: str) -> Array:
    """int32 scalar: min over the three modes of the sum of the ranks of the matrix slices.

    Ranks are over GF(2) for ``"z2"`` and over Q for ``"z"`` (exact when certified, see
    the module docstring; an upper bound always). Jit- and vmap-friendly.

    Args:
      residual: [I, J, K] integer tensor.
    """
    num_i, num_j, num_k = residual.shape
    size = max(residual.shape)
    pad = lambda x: jnp.pad(x, ((0, 0), (0, size - x.shape[1]), (0, size - x.shape[2])))
    modes = (residual, residual.transpose(1, 0, 2), residual.transpose(2, 0, 1))
    slices = jnp.concatenate([pad(mode) for mode in modes]).astype(jnp.int32)  # [I+J+K, size, size]
    if field == "z2":
        ranks = jax.vmap(_gf2_rank)(slices)
    else:
        by_prime = jax.vmap(jax.vmap(_rank_mod_prime, (0, None)), (None, 0))(slices, jnp.asarray(PRIMES))
        small = jnp.all(jnp.abs(slices) < _MAX_CERTIFIED_ENTRY, axis=(1, 2))
        squares = jnp.square(jnp.where(small[:, None, None], slices, 0))
        bits = lambda sums: jnp.sum(32 - jax.lax.clz(sums), axis=-1)  # Σ bit widths
        certified = small & (jnp.minimum(bits(squares.sum(1)), bits(squares.sum(2))) < _CERTIFIED_BITS)
        nonzero = slices != 0
        fallback = jnp.minimum(jnp.any(nonzero, 2).sum(1), jnp.any(nonzero, 1).sum(1))
        ranks = jnp.where(certified, by_prime.max(axis=0), fallback)
    sums = (ranks[:num_i].sum(), ranks[num_i : num_i + num_j].sum(), ranks[num_i + num_j :].sum())
    return jnp.minimum(jnp.minimum(sums[0], sums[1]), sums[2]).astype(jnp.int32)


def _gf2_rank(matrix: Array) -> Array:
    """int32 rank over GF(2) of a 0/1 matrix: elimination with XOR on booleans.

    Pivot rows are marked, not swapped (no scatters in the loop); the same in
    :func:`_rank_mod_prime`.
    """
    num_rows, num_cols = matrix.shape
    rows = jnp.arange(num_rows)

    def eliminate(col, carry):
        m, used = carry
        candidates = m[:, col] & ~used
        is_pivot = (rows == jnp.argmax(candidates)) & jnp.any(candidates)
        pivot_row = jnp.any(is_pivot[:, None] & m, axis=0)
        clear = candidates & ~is_pivot
        return m ^ (clear[:, None] & pivot_row[None, :]), used | is_pivot

    _, used = jax.lax.fori_loop(0, num_cols, eliminate, (matrix != 0, jnp.zeros(num_rows, jnp.bool_)))
    return used.sum(dtype=jnp.int32)


def _rank_mod_prime(matrix: Array, prime: Array) -> Array:
    """int32 rank of an integer matrix over GF(prime), prime < 46341.

    Fraction-free elimination, row <- pivot·row - entry·pivot_row, needs no inverses;
    both products are below prime² < 2^31, so the difference x fits in int32.
    """
    num_rows, num_cols = matrix.shape
    rows = jnp.arange(num_rows)
    inverse = 1.0 / prime.astype(jnp.float32)

    def reduce(x):
        # x mod prime without integer division (slow on CPUs): |x/prime| < 46341 makes the
        # float32 quotient off by at most one, which the two corrections fix.
        r = x - jnp.floor(x.astype(jnp.float32) * inverse).astype(jnp.int32) * prime
        r = jnp.where(r < 0, r + prime, r)
        return jnp.where(r >= prime, r - prime, r)

    def eliminate(col, carry):
        m, used = carry
        candidates = (m[:, col] != 0) & ~used
        is_pivot = (rows == jnp.argmax(candidates)) & jnp.any(candidates)
        pivot_row = jnp.sum(jnp.where(is_pivot[:, None], m, 0), axis=0)
        reduced = reduce(pivot_row[col] * m - m[:, col, None] * pivot_row[None, :])
        m = jnp.where((candidates & ~is_pivot)[:, None], reduced, m)
        return m, used | is_pivot

    _, used = jax.lax.fori_loop(0, num_cols, eliminate, (matrix % prime, jnp.zeros(num_rows, jnp.bool_)))
    return used.sum(dtype=jnp.int32)


def slice_rank_bound_exact(tensor: np.ndarray, field: str) -> int:
    """The same bound as :func:`slice_rank_bound`, always exact, with Python integers (host side)."""
    modes = (tensor, tensor.transpose(1, 0, 2), tensor.transpose(2, 0, 1))
    return min(sum(_exact_rank(matrix, field) for matrix in mode) for mode in modes)


def _exact_rank(matrix: np.ndarray, field: str) -> int:
    """Rank over GF(2) (z2) or Q (z): fraction-free (Bareiss) elimination, divisions exact."""
    modulus = 2 if field == "z2" else None
    rows = [[int(x) % 2 if modulus else int(x) for x in row] for row in matrix]
    rank, divisor = 0, 1
    for col in range(matrix.shape[1]):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][col]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        top = rows[rank]
        for r in range(rank + 1, len(rows)):
            entry = rows[r][col]
            rows[r] = [(top[col] * x - entry * y) // divisor for x, y in zip(rows[r], top, strict=True)]
            if modulus:
                rows[r] = [x % modulus for x in rows[r]]
        divisor = 1 if modulus else top[col]
        rank += 1
    return rank

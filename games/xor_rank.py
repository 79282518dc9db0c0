"""XOR rank: write a 0/1 matrix as an XOR of the fewest rank-one terms (a factored-action toy game).

A 2-way miniature of AlphaTensor's TensorGame. The state is the residual matrix R
(initially the target M); an action picks nonzero vectors u, v in GF(2)^n and sets
R <- R xor u v^T. Reward is -1 per term and the game terminates when R = 0, so the
return of a solved game is minus the number of terms. Over GF(2) the fewest terms is
exactly rank(M), which makes the optimum known for every target; the game declares it
(``best_possible_return = -rank(M)``), so training stops once it finds an optimal game.

Actions are two tokens ``(u_index, v_index)``, each in ``[0, 2^n - 1)``: the vector is
the binary expansion of ``index + 1`` (bit i is entry i), so the zero vector cannot be
expressed and every in-range action is legal. The step limit defaults to n (any
matrix has rank <= n); when it ends the game first, ``truncation_reward`` is
-rank(R) (exact: the fewest terms still needed), as in AlphaTensor.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify

Array = jax.Array

MIN_N, MAX_N = 1, 10


class XorRankState(NamedTuple):
    residual: Array  # bool[n, n], the part of the target still to be written


class XorRank(gamify.Game[XorRankState]):
    """Decompose an n x n GF(2) matrix into rank-one terms u v^T.

    Args:
      n: matrix side, in [1, 10] (each token then takes 2^n - 1 values).
      target: n x n 0/1 matrix (nested lists or an array), not all zero. By default a
        pseudo-random nonzero matrix drawn from ``seed`` (Python's ``random.Random``,
        whose stream is stable across Python versions). For n=4, seed=0 it is
        rows 0011 0101 1000 1001, of full rank 4 (pinned in tests/test_games.py).
      seed: seed of the default target (ignored when ``target`` is given).
      max_steps: step limit, >= 1 (default n).
    """

    name = "xor_rank"
    description = "XOR rank: write a GF(2) matrix as the fewest rank-one terms u v^T (factored actions)"

    def __init__(self, n: int = 4, target=None, seed: int = 0, max_steps: int | None = None):
        if not isinstance(n, (int, np.integer)) or not MIN_N <= n <= MAX_N:
            raise ValueError(f"xor_rank: n must be an integer in [{MIN_N}, {MAX_N}], got {n!r}")
        self.n = int(n)
        if max_steps is None:
            max_steps = self.n
        if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"xor_rank: max_steps must be an integer >= 1, got {max_steps!r}")
        if not isinstance(seed, (int, np.integer)):
            raise ValueError(f"xor_rank: seed must be an integer, got {seed!r}")
        self.max_steps = int(max_steps)
        self.action_space = gamify.FactoredActions((2**self.n - 1, 2**self.n - 1))
        self.target = _random_target(self.n, int(seed)) if target is None else _check_target(target, self.n)
        self.optimum = gf2_rank_numpy(self.target)  # fewest terms, exact
        # Proven bound: a term changes the residual's rank by at most 1, so k moves leave rank
        # >= optimum - k, and both a finished game and a truncated one (-k - rank) return at
        # most -optimum.
        self.best_possible_return = -float(self.optimum)

    def init(self, key: Array) -> XorRankState:
        del key  # a fixed target
        return XorRankState(residual=jnp.asarray(self.target, jnp.bool_))

    def step(self, state: XorRankState, action: Array) -> tuple[XorRankState, Array, Array]:
        u, v = self.factors(action)
        residual = state.residual ^ (u[:, None] & v[None, :])
        return XorRankState(residual), jnp.float32(-1.0), ~jnp.any(residual)

    def observe(self, state: XorRankState) -> Array:
        """float32[n, n]: the residual matrix."""
        return state.residual.astype(jnp.float32)

    def is_legal(self, state: XorRankState, action: Array) -> Array:
        del state, action  # every in-range action is a nonzero u v^T (the Env checks the range)
        return jnp.bool_(True)

    def truncation_reward(self, state: XorRankState) -> Array:
        return -gf2_rank(state.residual).astype(jnp.float32)

    def demonstration(self, key: Array) -> tuple[XorRankState, Array, Array]:
        """A random sum of 1..max_steps random terms, and those terms as the moves that clear it."""
        count_key, token_key = jax.random.split(key)
        length = jax.random.randint(count_key, (), 1, self.max_steps + 1)
        actions = jax.random.randint(token_key, (self.max_steps, 2), 0, 2**self.n - 1)
        terms = jax.vmap(lambda a: jnp.outer(*self.factors(a)))(actions)  # [L, n, n]
        used = jnp.arange(self.max_steps) < length
        residual = jnp.sum(terms & used[:, None, None], axis=0) % 2
        return XorRankState(residual.astype(jnp.bool_)), actions, length

    def factors(self, action: Array) -> tuple[Array, Array]:
        """Decodes int32[2] tokens into the vectors (u, v), each bool[n]."""
        bits = jnp.arange(self.n)
        u = ((action[0] + 1) >> bits) & 1
        v = ((action[1] + 1) >> bits) & 1
        return u.astype(jnp.bool_), v.astype(jnp.bool_)

    def describe(self, actions) -> str:
        """One line per term u v^T, then whether their XOR equals the target."""
        actions = np.asarray(actions, np.int64).reshape(-1, 2)
        total = np.zeros((self.n, self.n), np.uint8)
        lines = ["target rows: " + " ".join(_bits(row) for row in self.target)]
        for i, (a, b) in enumerate(actions):
            u, v = _vector(a, self.n), _vector(b, self.n)
            total ^= np.outer(u, v).astype(np.uint8)
            lines.append(f"term {i + 1}: u = {_bits(u)}, v = {_bits(v)}")
        verdict = "equals the target" if np.array_equal(total, self.target) else "does NOT equal the target"
        lines.append(f"XOR of {len(actions)} terms {verdict} (rank of target: {self.optimum})")
        return "\n".join(lines)


def gf2_rank(matrix: Array) -> Array:
    """int32 scalar: rank over GF(2) of a 0/1 matrix (bool or integer [rows, cols]).

    Gauss-Jordan elimination with a ``fori_loop`` over columns; jit- and vmap-friendly.
    """
    matrix = jnp.asarray(matrix).astype(jnp.bool_)
    num_rows, num_cols = matrix.shape
    rows = jnp.arange(num_rows)

    def eliminate(col, carry):
        m, rank = carry
        candidates = m[:, col] & (rows >= rank)
        found = jnp.any(candidates)
        pivot = jnp.argmax(candidates)
        top = jnp.minimum(rank, num_rows - 1)
        swapped = m.at[top].set(m[pivot]).at[pivot].set(m[top])
        clear = swapped[:, col] & (rows != top)
        reduced = swapped ^ (clear[:, None] & swapped[top][None, :])
        return jnp.where(found, reduced, m), rank + found.astype(jnp.int32)

    _, rank = jax.lax.fori_loop(0, num_cols, eliminate, (matrix, jnp.int32(0)))
    return rank


def gf2_rank_numpy(matrix) -> int:
    """Rank over GF(2) of a 0/1 matrix (numpy reference for :func:`gf2_rank`)."""
    m = np.array(matrix, dtype=np.uint8) % 2
    rank = 0
    for col in range(m.shape[1]):
        rows = np.nonzero(m[rank:, col])[0]
        if rows.size == 0:
            continue
        pivot = rank + rows[0]
        m[[rank, pivot]] = m[[pivot, rank]]
        below = np.nonzero(m[:, col])[0]
        m[below[below != rank]] ^= m[rank]
        rank += 1
        if rank == m.shape[0]:
            break
    return rank


def _vector(index: int, n: int) -> np.ndarray:
    return ((int(index) + 1) >> np.arange(n)) & 1


def _bits(vector) -> str:
    return "".join(str(int(x)) for x in vector)


def _check_target(target, n: int) -> np.ndarray:
    array = np.asarray(target)
    if array.shape != (n, n):
        raise ValueError(f"xor_rank: target must have shape ({n}, {n}), got {array.shape}")
    if array.dtype == object or not np.isin(array, (0, 1)).all():
        raise ValueError("xor_rank: target entries must be 0 or 1")
    array = array.astype(np.uint8)
    if not array.any():
        raise ValueError("xor_rank: target is the zero matrix (nothing to decompose)")
    return array


def _random_target(n: int, seed: int) -> np.ndarray:
    rng = random.Random(seed)  # random() is guaranteed reproducible across Python versions
    while True:
        target = np.array([[int(rng.random() < 0.5) for _ in range(n)] for _ in range(n)], np.uint8)
        if target.any():
            return target

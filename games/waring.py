"""The T-count game: write a circuit's phase tensor as the fewest cubes u⊗u⊗u over GF(2).

The second real game after tensor decomposition, cast the way AlphaTensor-Quantum
(Ruiz et al. 2025) casts T-count optimization. A circuit's non-Clifford part is a
phase polynomial whose cubic part is a symmetric binary tensor T (n×n×n, zero on
repeated indices; see :mod:`gamify.tensor.waring`). Each T gate is a parity
``u ∈ GF(2)^n`` and contributes ``u⊗u⊗u``; the T-count is the fewest parities whose cubes
sum to T (its Waring rank).

- **State**: the residual tensor R (starts at T), plus the change of basis it was dealt in.
- **Move**: a nonzero parity u; ``R <- R + u⊗u⊗u (mod 2)``; reward -1. The game ends
  when R = 0, so a finished game's return is minus its T-count.
- **Step limit**: ``max_steps`` (default: the bound of the start, capped at 64 and at
  ``2^n - 1``); when it
  ends the game first, ``truncation_reward`` is minus an upper bound of the residual's
  Waring rank: its cubic monomials grouped by their two lowest indices, 7 parities per
  group (a Toffoli), plus 3 per quadratic pair ``R[i,i,j]`` and 1 per linear ``R[i,i,i]``
  (moves can leave such lower-degree entries; they always come as ``R[i,i,j] =
  R[i,j,j]``). Running out of moves is never better than finishing.
- **Actions**: flat for n ≤ 10 (action a is the parity with the bits of a + 1); factored
  for larger n, one token per 8 bits of u (the zero parity is illegal). A parity already
  played is illegal: playing it again cancels it, which no shortest decomposition does.
- **Change of basis**: with ``basis_changes > 0`` each game is dealt in a random basis
  (a product of that many random transvections M, T' = T ×₁ M ×₂ M ×₃ M, the same
  Waring rank); :meth:`solution` maps parities back by ``M⁻¹`` before anything verifies them.
- **Demonstrations**: sums of random parities, with those parities as the moves.

The flip-graph and FastTODD searches of ``gamify tcount`` are the strong classical
baseline for the same question; this game is where a learned policy can be measured
against them (``gamify train waring``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify
from gamify.tensor.waring import PhaseTensor, PhaseTensorError, check_waring, load_tensor

Array = jax.Array

FLAT_MAX_N = 10  # 2^10 - 1 flat actions at most
TOKEN_BITS = 8
MAX_N = 24  # the dense residual is n³ entries per state
DEFAULT_STEP_CAP = 64


class WaringState(NamedTuple):
    residual: Array  # bool[n, n, n]
    inverse: Array  # bool[n, n]: M⁻¹, mapping this game's parities back to the tensor's basis
    played: Array  # bool[max_steps, n]: the parities played so far (rows past `moves` are zero)
    moves: Array  # int32: how many


class Waring(gamify.Game[WaringState]):
    """Waring decomposition of a phase tensor over GF(2) (the T-count of a circuit).

    Args:
      tensor: a shipped benchmark (polytof's ID such as ``0820``, or its name such as
        ``tof_3``; ``gamify tcount --list`` lists them) or a phase tensor file (polytof
        ``.npy``, dense ``.npy`` or JSON). Default: Tof_3 (n = 7, T-count 13).
      max_steps: step limit (default: the start's upper bound, at most 64).
      basis_changes: random transvections per game (0: the tensor as given).
    """

    name = "waring"
    description = "T-count: a circuit's phase tensor as the fewest cubes u⊗u⊗u over GF(2)"

    def __init__(self, tensor: str = "0820", max_steps: int | None = None, basis_changes: int = 0):
        try:
            self.tensor = tensor if isinstance(tensor, PhaseTensor) else load_tensor(tensor)
        except PhaseTensorError as e:
            raise ValueError(f"waring: {e}") from None
        self.n = n = self.tensor.n
        if n > MAX_N:
            raise ValueError(
                f"waring: the game holds n³ residual entries, so n <= {MAX_N}; {tensor} has n = {n}"
            )
        if not isinstance(basis_changes, (int, np.integer)) or basis_changes < 0:
            raise ValueError(f"waring: basis_changes must be an integer >= 0, got {basis_changes!r}")
        self.basis_changes = int(basis_changes)
        self.target = self.tensor.dense().astype(bool)
        start_bound = int(residual_bound(jnp.asarray(self.target)))
        distinct = 2**n - 1  # moves are distinct nonzero parities
        if max_steps is None:
            max_steps = max(1, min(start_bound, DEFAULT_STEP_CAP, distinct))
        if not isinstance(max_steps, (int, np.integer)) or not 1 <= max_steps <= distinct:
            raise ValueError(
                f"waring: max_steps must be an integer in [1, 2^n - 1 = {distinct}], got {max_steps!r}"
            )
        self.max_steps = int(max_steps)
        if n <= FLAT_MAX_N:
            self.action_space = gamify.FlatActions(2**n - 1)
        else:
            widths = [min(TOKEN_BITS, n - s) for s in range(0, n, TOKEN_BITS)]
            self.action_space = gamify.FactoredActions(tuple(2**w for w in widths))

    def init(self, key: Array) -> WaringState:
        target = jnp.asarray(self.target)
        eye = jnp.eye(self.n, dtype=jnp.bool_)
        if not self.basis_changes:
            return self._start(target, eye)
        pairs = jax.random.randint(key, (self.basis_changes, 2), 0, self.n - 1)

        def transvect(carry, pair):  # x_i += x_j for i != j: M <- E M, M⁻¹ <- M⁻¹ E (E = E⁻¹)
            m, inverse = carry
            i, j = pair[0], pair[1] + (pair[1] >= pair[0])
            m = m.at[i].set(m[i] ^ m[j])
            inverse = inverse.at[:, j].set(inverse[:, j] ^ inverse[:, i])
            return (m, inverse), None

        (m, inverse), _ = jax.lax.scan(transvect, (eye, eye), pairs)
        mi = m.astype(jnp.int32)
        t = jnp.einsum("ai,bj,ck,ijk->abc", mi, mi, mi, target.astype(jnp.int32)) % 2
        return self._start(t.astype(jnp.bool_), inverse)

    def _start(self, residual: Array, inverse: Array) -> WaringState:
        return WaringState(residual, inverse, jnp.zeros((self.max_steps, self.n), jnp.bool_), jnp.int32(0))

    def step(self, state: WaringState, action: Array) -> tuple[WaringState, Array, Array]:
        u = self.parity(action)
        cube = u[:, None, None] & u[None, :, None] & u[None, None, :]
        residual = state.residual ^ cube
        played = state.played.at[jnp.minimum(state.moves, self.max_steps - 1)].set(u)
        next_state = WaringState(residual, state.inverse, played, state.moves + 1)
        return next_state, jnp.float32(-1.0), ~jnp.any(residual)

    def observe(self, state: WaringState) -> Array:
        """float32[n, n, n]: the residual tensor."""
        return state.residual.astype(jnp.float32)

    def legal_action_mask(self, state: WaringState) -> Array:
        size = self.action_space.num_actions
        index = jnp.sum(state.played * 2 ** jnp.arange(self.n), axis=1) - 1
        index = jnp.where(index < 0, size, index)  # empty rows: out of range, dropped
        used = jnp.zeros(size, jnp.bool_).at[index].set(True, mode="drop")
        return ~used

    def is_legal(self, state: WaringState, action: Array) -> Array:
        u = self.parity(action)
        return jnp.any(u) & ~jnp.any(jnp.all(state.played == u[None, :], axis=1))

    def truncation_reward(self, state: WaringState) -> Array:
        return -residual_bound(state.residual).astype(jnp.float32)

    def parity(self, action: Array) -> Array:
        """bool[n]: the parity an action stands for."""
        action = jnp.asarray(action, jnp.int32)
        bits = jnp.arange(self.n)
        if isinstance(self.action_space, gamify.FlatActions):
            return (((action + 1) >> bits) & 1).astype(jnp.bool_)
        token = action[bits // TOKEN_BITS]
        return ((token >> (bits % TOKEN_BITS)) & 1).astype(jnp.bool_)

    def demonstration(self, key: Array) -> tuple[WaringState, Array, Array]:
        """A random sum of 1..max_steps distinct random parities, and those parities as the moves."""
        count_key, move_key = jax.random.split(key)
        length = jax.random.randint(count_key, (), 1, self.max_steps + 1)

        def draw(played, step):
            index, step_key = step

            def redraw(carry):
                _, k = carry
                k, sub = jax.random.split(k)
                return self._random_parity(sub), k

            def repeated(carry):
                return jnp.any(jnp.all(played == carry[0][None, :], axis=1))

            u, _ = jax.lax.while_loop(repeated, redraw, (self._random_parity(step_key), step_key))
            return played.at[index].set(u), u

        keys = jax.random.split(move_key, self.max_steps)
        empty = jnp.zeros((self.max_steps, self.n), jnp.bool_)
        _, parities = jax.lax.scan(draw, empty, (jnp.arange(self.max_steps), keys))
        used = (jnp.arange(self.max_steps) < length)[:, None] & parities
        cubes = used[:, :, None, None] & used[:, None, :, None] & used[:, None, None, :]
        residual = (jnp.sum(cubes, axis=0) % 2).astype(jnp.bool_)
        actions = jax.vmap(self.action)(parities)
        return self._start(residual, jnp.eye(self.n, dtype=jnp.bool_)), actions, length

    def _random_parity(self, key: Array) -> Array:
        u = jax.random.bernoulli(key, 0.5, (self.n,))
        return u.at[0].set(u[0] | ~jnp.any(u))  # never the zero parity

    def action(self, u: Array) -> Array:
        """The action that plays parity ``u`` (bool[n]): the inverse of :meth:`parity`."""
        bits = jnp.arange(self.n)
        if isinstance(self.action_space, gamify.FlatActions):
            return (jnp.sum(u * 2**bits) - 1).astype(jnp.int32)
        weights = 2 ** (bits % TOKEN_BITS)
        tokens = [
            jnp.sum(u[s : s + TOKEN_BITS] * weights[s : s + TOKEN_BITS]) for s in range(0, self.n, TOKEN_BITS)
        ]
        return jnp.stack(tokens).astype(jnp.int32)

    def solution(self, final: WaringState, actions) -> np.ndarray:
        """The game's parities in the tensor's own basis: uint8 [moves, n] rows ``M⁻¹ u``."""
        played = self._played(actions).astype(np.int64)
        inverse = np.asarray(final.inverse).astype(np.int64)
        return ((played @ inverse.T) % 2).astype(np.uint8)

    def _played(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.size == 0:
            return np.zeros((0, self.n), np.uint8)
        return np.asarray(jax.vmap(self.parity)(jnp.asarray(actions))).astype(np.uint8)

    def describe(self, actions) -> str:
        """The parities and whether their cubes sum to the tensor.

        Takes :meth:`solution`'s rows (uint8 [moves, n], the tensor's basis) or raw actions
        (read in the basis they were played in).
        """
        rows = np.asarray(actions)
        if not (rows.dtype == np.uint8 and rows.ndim == 2 and rows.shape[1] == self.n):
            rows = self._played(rows)
        weights = np.uint64(1) << np.arange(self.n, dtype=np.uint64)
        parities = (rows.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
        lines = [f"tensor {self.tensor.name or '?'}: n = {self.n}, {self.tensor.nnz} cubic monomials"]
        lines += [f"T{i + 1}: parity {''.join(str(int(b)) for b in row)}" for i, row in enumerate(rows)]
        wrong = check_waring(self.tensor, parities)
        verdict = "equal the tensor" if wrong is None else f"do NOT equal the tensor (entry {wrong})"
        lines.append(f"the cubes of {len(rows)} parities (T-count {len(rows)}) {verdict}")
        return "\n".join(lines)


def residual_bound(residual: Array) -> Array:
    """int32: an upper bound of a residual's Waring rank (see the module doc), pure JAX."""
    r = jnp.asarray(residual).astype(jnp.bool_)
    n = r.shape[0]
    i, j, k = jnp.meshgrid(jnp.arange(n), jnp.arange(n), jnp.arange(n), indexing="ij")
    cubic = r & (i < j) & (j < k)
    groups = jnp.sum(jnp.any(cubic, axis=2))
    diagonal = jnp.diagonal(jnp.diagonal(r, axis1=1, axis2=2))  # r[i, i, i]
    pairs = jnp.diagonal(r, axis1=0, axis2=1).T  # [i, j] -> r[i, i, j]
    upper = jnp.arange(n)[:, None] < jnp.arange(n)[None, :]
    return (7 * groups + 3 * jnp.sum(pairs & upper) + jnp.sum(diagonal)).astype(jnp.int32)

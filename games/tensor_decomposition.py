"""AlphaTensor's TensorGame: write a 3-way tensor as the fewest rank-one terms u⊗v⊗w.

The state is the residual tensor R (initially the target T, by default the matrix
multiplication tensor ⟨n,m,p⟩ of :func:`gamify.tensor.matmul_tensor`). A move picks a
rank-one term u⊗v⊗w with coefficients in a small set F and sets R <- R - u⊗v⊗w (mod 2
over Z2). Reward is -1 per move and the game terminates when R = 0, so a solved game's
return is minus the rank of the decomposition found (Fawzi et al., Nature 2022).

When the step limit ends the game first, ``truncation_reward`` is minus an upper bound
on the rank of R: the smallest, over the three modes, of the sum of the ranks of R's
matrix slices (GF(2) ranks over Z2, by XOR elimination; ranks over Q over Z), computed
in JAX. Over Z each slice's rank is the largest of its ranks modulo three primes
p < 46341 (int32 elimination: a product of two residues and the difference of two such
products stay below 2^31). A rank modulo a prime never exceeds the rank over Q, and is
equal unless the prime divides every nonzero maximal minor. A minor is at most the
Hadamard bound Π |column| (or the same over rows), at most 2^(s/2) where s sums the bit
widths of the squared column norms; when every |entry| < 4096 and s < 92 (checked in
integers, so the C++ kernel agrees bit for bit) the bound is below the primes' product
(> 2^46), no nonzero minor can be divisible by all three primes, the largest modular
rank is the exact rank, and the penalty is exact. Certified are, for example, any 4×4
slice with entries of absolute value ≤ 1023, 6×6 ≤ 73, 9×9 ≤ 10, and sparse slices with
larger entries. A slice
that is not certified counts as min(its nonzero rows, its nonzero columns), still an
upper bound on its rank, so the penalty is always minus an upper bound on the rank of R
over Q. For ⟨2,2,2⟩ with the default step limit and coefficients every residual is
certified (entries ≤ 1 + 8·2³).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify
from gamify import native
from gamify.tensor import matmul_tensor

Array = jax.Array

FIELDS = ("z2", "z")
CYCLIC_AXES = ((0, 1, 2, 3), (1, 2, 0, 3), (2, 0, 1, 3))  # observation [I, J, K, C] under σ^0, σ, σ²
ACTION_KINDS = ("factored", "flat", "auto")
REWARD_KINDS = ("shaped", "terminal")
BACKENDS = ("auto", "native", "jax")
DEFAULT_COEFFICIENTS = {"z2": (0, 1), "z": (-2, -1, 0, 1, 2)}
MAX_FLAT_ACTIONS = 2**17  # a flat policy head larger than this is better factored
# actions="auto" is flat up to this many terms: ⟨2,2,2⟩ z2 has 3,375; ⟨2,2,3⟩ z2 (59,535) and
# ⟨2,2,2⟩ over {-1,0,1} (128,000) are factored (a flat replay keeps a dense policy per example).
AUTO_FLAT_LIMIT = 20_000
MAX_TOKEN_VALUES = 2**16  # |F|^chunk, the vocabulary of one token
DEFAULT_TOKEN_VALUES = 30  # default chunk: the largest with |F|^chunk <= 30 (z2: 16, {-2..2}: 25)
MAX_CELLS = 2**22  # I*J*K*(2 + history), the observation's size (at most)
PRIMES = (46337, 46327, 46309)  # the largest primes below sqrt(2^31)
_CERTIFIED_BITS = 92  # Σ bit widths of squared norms below this: minors < 2^46 < Π PRIMES
_MAX_CERTIFIED_ENTRY = 4096  # keeps squared norms of up to 64 entries within int32
_INT32_MAX = 2**31 - 1
_DRAW_RANGE = 2**30  # random integers for demonstrations, reduced modulo small sizes
_ERROR_PREFIX = "tensor_decomposition: "  # starts every message of the game's ValueErrors
_SIGNS = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # sign twins (a·u, b·v, ab·w) in order of preference


class TensorState(NamedTuple):
    residual: Array  # [I, J, K] int8 (z2) or int32 (z): what is still to be written
    recent_terms: Array  # [history, I, J, K] same dtype: the last moves' u⊗v⊗w, most recent first
    charged: Array  # int32, the residual's rank bound already paid in rewards (shaped rewards)
    basis: tuple  # (A, B, C): the game plays (A⊗B⊗C)·target; identities when not changed


class TensorDecomposition(gamify.Game[TensorState]):
    """Decompose a 3-way tensor into rank-one terms u⊗v⊗w over Z2 or Z.

    Args:
      n, m, p: sizes of the matrix multiplication ⟨n,m,p⟩ (an n×m times an m×p matrix)
        whose tensor, of shape (n*m, m*p, p*n), is the target; ignored when ``target``
        is given.
      field: ``"z2"`` (entries and coefficients 0/1, arithmetic mod 2) or ``"z"``
        (integer arithmetic).
      target: any nonzero 3-way tensor of shape (I, J, K) instead of matmul: an integer
        array (nested lists), a path to a ``.npy`` file, or a path to a text file whose
        first line is ``I J K`` followed by the I*J*K integer entries in C order (the last
        index fastest), separated by spaces or newlines; ``#`` starts a comment. Over
        z2 its entries must be 0 or 1.
      coefficients: the set F of factor entries (z2: only (0, 1)); over z any distinct
        integers in [-128, 127] including 0 and a nonzero one (default -2..2). Sets that
        are not symmetric are fine (see sign forms below).
      max_steps: the step limit (default n*m*p for matmul, the naive algorithm; otherwise
        the target's slice-rank bound, reachable over z2, but over z a rank over Q that a
        small F may not reach: give max_steps then).
      history: how many recent moves the observation shows (>= 0).
      chunk: factor entries per token (factored actions; default the largest with
        |F|^chunk <= 30: 4 for z2, 2 for -2..2, 3 for -1..1).
      actions: ``"factored"`` (default) or ``"flat"``: every legal term is one action,
        allowed up to 2^17 of them (⟨2,2,2⟩ over z2 has 15³ = 3375); ``"auto"``: flat
        for at most AUTO_FLAT_LIMIT terms, else factored (``self.actions`` tells which).
      change_of_basis: the probability that a game starts from the target in a random
        basis, (A⊗B⊗C)·T with A, B, C random invertible matrices over GF(2) (z2) or
        random signed permutations over Z (they keep every factor's entries in a
        symmetric F; plain permutations for an asymmetric F). A decomposition of that
        tensor maps back to one of T of the same rank (:meth:`solution`). AlphaTensor's
        augmentation: every game is a different puzzle with the same answer, which lets
        search escape the standard basis's pull towards the naive algorithm. Default 0 (the target as given).
      backend: where the rank bound (and, with shaped rewards, the whole move) is computed
        inside jit: ``"native"``, gamify's C++ kernels through XLA's FFI (on CPU; the JAX
        code runs on other platforms), ``"jax"``, the JAX reference, or ``"auto"``
        (default): native when the compiled kernels are available, else JAX with a
        warning. Both give identical results (parity-tested).
      augment: train on the cyclic transpositions of each example, as AlphaTensor did
        (:meth:`augment`; cubic shapes I = J = K only, e.g. ⟨n,n,n⟩; otherwise no effect).
      rewards: ``"shaped"`` (default) or ``"terminal"``. Both give every finished game the
        same return: minus (moves + the rank bound of the last residual). ``"terminal"``
        pays the bound only when the step limit ends the game (AlphaTensor's rule);
        ``"shaped"`` pays it as it changes: a move's reward is -1 - (bound after - bound
        before), and the first move also pays the start's bound. Search then sees a
        move's effect on the bound at once instead of at the step limit (potential-based
        shaping, Ng et al. 1999: the best moves are the same). It costs one bound per
        move; the bound is still only a bound: greedy on it stalls at rank 8 for ⟨2,2,2⟩.

    Sign forms: over Z, u⊗v⊗w = (-u)⊗(-v)⊗w = (-u)⊗v⊗(-w) = u⊗(-v)⊗(-w). Exactly one
    of these forms is legal: the first, in that order, of the forms of (u0, v0, w0)
    whose entries all lie in F, where u0, v0 have a positive first nonzero entry. For a
    symmetric F that is: the first nonzero entries of u and v are positive, w carries
    the sign. Zero factors are illegal. Over Z2 every term with nonzero factors is legal.

    Factored actions: each of u, v, w is cut into chunks of ``chunk`` entries (the last
    may be shorter); a token is a chunk's entries as a base-|F| number whose digit j
    (least significant first) is the index in sorted F of the chunk's entry j. Tokens
    are ordered u's chunks, v's chunks, w's chunks; a chunk of length L has |F|^L values.

    Flat actions: the legal terms, ordered by u, then v, then w, each vector by its
    base-|F| number (entry 0 least significant); the legal mask is all True.

    Observation: float32 [I, J, K, 1 + history (+ 1 with shaped rewards)]: channel 0 is
    the residual, unscaled (its integer entries as they are, also over z), channels 1..
    the last ``history`` moves' rank-one terms, most recent first, zeros before the first
    moves; with shaped rewards a last channel holds the bound already paid divided by
    max_steps (a value is that minus the rank to come, so the network need not
    compute the bound itself).
    """

    name = "tensor_decomposition"
    description = (
        "AlphaTensor's TensorGame: the fewest rank-one terms summing to a tensor (matmul ⟨n,m,p⟩ or any)"
    )

    def __init__(
        self,
        n: int = 2,
        m: int = 2,
        p: int = 2,
        *,
        field: str = "z2",
        target=None,
        coefficients=None,
        max_steps: int | None = None,
        history: int = 2,
        chunk: int | None = None,
        actions: str = "factored",
        rewards: str = "shaped",
        change_of_basis: float = 0.0,
        augment: bool = True,
        backend: str = "auto",
    ):
        if field not in FIELDS:
            raise _error(f"field must be one of {', '.join(FIELDS)}, got {field!r}")
        if actions not in ACTION_KINDS:
            raise _error(f"actions must be 'factored', 'flat' or 'auto', got {actions!r}")
        if rewards not in REWARD_KINDS:
            raise _error(f"rewards must be 'shaped' or 'terminal', got {rewards!r}")
        if backend not in BACKENDS:
            raise _error(f"backend must be 'auto', 'native' or 'jax', got {backend!r}")
        if backend == "native" and not native.ffi_available():
            raise _error("backend='native' needs gamify._core built with XLA's FFI headers (pip install .)")
        if backend == "auto" and not native.ffi_available():
            native.warn_no_ffi()
        self.backend = "native" if backend != "jax" and native.ffi_available() else "jax"
        if not 0.0 <= change_of_basis <= 1.0:
            raise _error(f"change_of_basis is a probability in [0, 1], got {change_of_basis}")
        self.field, self.rewards = field, rewards
        self.change_of_basis = float(change_of_basis)
        self.coefficients = _check_coefficients(coefficients, field)
        if target is None:
            self.matmul = tuple(
                _check_int(name, size, 1) for name, size in zip("nmp", (n, m, p), strict=True)
            )
            self.target = matmul_tensor(*self.matmul).astype(np.int64)
        else:
            self.matmul = None
            self.target = _check_target(_load_target(target), field)
        self.shape = self.target.shape
        self.history = _check_int("history", history, 0)
        cells = math.prod(self.shape) * (2 + self.history)
        if cells > MAX_CELLS:
            raise _error(f"the observation would have {cells} cells (limit {MAX_CELLS})")
        if max_steps is None:
            self.max_steps = (
                math.prod(self.matmul) if self.matmul else slice_rank_bound_exact(self.target, field)
            )
        else:
            self.max_steps = _check_int("max_steps", max_steps, 1)
        largest_term = max(abs(c) for c in self.coefficients) ** 3
        if field == "z" and int(np.abs(self.target).max()) + self.max_steps * largest_term > _INT32_MAX:
            raise _error(f"max_steps={self.max_steps} could overflow int32 residuals")
        self._dtype = jnp.int8 if field == "z2" else jnp.int32
        if actions == "auto":
            few = _flat_count_at_least(self.shape, len(self.coefficients), field) <= AUTO_FLAT_LIMIT
            actions = "flat" if few else "factored"
        self.actions = actions
        if actions == "flat":
            if chunk is not None:
                raise _error("chunk applies to factored actions only")
            self.chunk = None
            self._flat_terms, self._flat_keys = _flat_terms(self.shape, self.coefficients, field)
            self.action_space = gamify.FlatActions(len(self._flat_terms))
        else:
            self.chunk = _check_chunk(chunk, len(self.coefficients))
            self._token_of, self._power, sizes = _token_layout(self.shape, len(self.coefficients), self.chunk)
            self.action_space = gamify.FactoredActions(sizes)
        self.cyclic = bool(augment) and len(set(self.shape)) == 1
        if self.cyclic and actions == "flat":
            self._cyclic_gather = self._flat_rotations()

    # ---- the game (pure JAX) ----------------------------------------------------------------------

    def init(self, key: Array) -> TensorState:
        target = jnp.asarray(self.target, jnp.int32)
        if not self.change_of_basis:
            return self._start(target.astype(self._dtype))
        use_key, *keys = jax.random.split(key, 4)
        use = jax.random.uniform(use_key) < self.change_of_basis
        basis = tuple(
            jnp.where(use, self._random_basis(k, size), jnp.eye(size, dtype=jnp.int32))
            for k, size in zip(keys, self.shape, strict=True)
        )
        residual = jnp.einsum("ia,jb,kc,abc->ijk", *basis, target)
        if self.field == "z2":
            residual = residual % 2
        return self._start(residual.astype(self._dtype), basis)

    def step(self, state: TensorState, action: Array) -> tuple[TensorState, Array, Array]:
        u, v, w = self._split(self._values(action))
        term = _outer(u, v, w).astype(self._dtype)
        recent = jnp.concatenate([term[None], state.recent_terms[:-1]])[: self.history]
        if self.rewards == "terminal":
            residual = self._subtract(state.residual, term)
            return (
                state._replace(residual=residual, recent_terms=recent),
                jnp.float32(-1.0),
                ~jnp.any(residual),
            )

        def jax_step(*_):  # the move and the new bound in JAX: what the native kernel computes
            residual = self._subtract(state.residual, term)
            return residual, slice_rank_bound(residual, self.field)

        if self.backend == "native":
            residual, bound = native.tensor_step(state.residual, u, v, w, self.field, jax_step)
        else:
            residual, bound = jax_step()
        reward = (-1 - (bound - state.charged)).astype(jnp.float32)
        state = state._replace(residual=residual, recent_terms=recent, charged=bound)
        return state, reward, bound == 0

    def _subtract(self, residual: Array, term: Array) -> Array:
        residual = residual - term
        return residual % 2 if self.field == "z2" else residual

    def bound(self, residual: Array) -> Array:
        """int32: :func:`slice_rank_bound` of a residual [I, J, K], on this game's backend."""
        if self.backend == "native":
            return native.tensor_bound(residual, self.field, lambda r: slice_rank_bound(r, self.field))
        return slice_rank_bound(residual, self.field)

    def observe(self, state: TensorState) -> Array:
        """float32[I, J, K, C]: the residual, the recent terms, the bound paid (see the class)."""
        channels = jnp.concatenate([state.residual[None], state.recent_terms]).astype(jnp.float32)
        if self.rewards == "shaped":
            paid = jnp.full((1, *self.shape), state.charged / self.max_steps, jnp.float32)
            channels = jnp.concatenate([channels, paid])
        return jnp.moveaxis(channels, 0, -1)

    def is_legal(self, state: TensorState, action: Array) -> Array:
        del state  # legality depends on the term only
        u, v, w = self._split(self._values(action))
        if self.field == "z2":  # all sign forms are the same 0/1 vectors: only zero factors are illegal
            return jnp.any(u != 0) & jnp.any(v != 0) & jnp.any(w != 0)
        return _legal_terms(u, v, w, self.coefficients, jnp)

    def legal_action_mask(self, state: TensorState) -> Array:
        del state  # flat actions enumerate legal terms only
        return jnp.ones(self.action_space.num_actions, jnp.bool_)

    def truncation_reward(self, state: TensorState) -> Array:
        if self.rewards == "shaped":  # already paid
            return jnp.float32(0.0)
        return -self.bound(state.residual).astype(jnp.float32)

    def illegal_action_reward(self, state: TensorState, steps_left: Array) -> Array:
        """Every remaining move wasted, then the largest slice-rank bound any residual can have.

        At least as bad as the default (which pays the bound of this residual) and free:
        the Env evaluates this on every step, and the search never plays an illegal move.
        """
        num_i, num_j, num_k = self.shape
        worst = min(num_i * min(num_j, num_k), num_j * min(num_i, num_k), num_k * min(num_i, num_j))
        return (state.charged - steps_left - worst).astype(jnp.float32)  # charged: refunded

    def demonstration(self, key: Array) -> tuple[TensorState, Array, Array]:
        """A random sum of 1..max_steps random legal terms, and those terms as the moves that clear it."""
        # One draw of random integers for everything: each PRNG call costs compile time.
        draws = jax.random.randint(key, (self.max_steps + 1, sum(self.shape) + 6), 0, _DRAW_RANGE)
        length = 1 + draws[0, 0] % self.max_steps
        actions = self._random_actions(draws[1:])
        terms = jax.vmap(self._term)(actions)  # [max_steps, I, J, K]
        used = jnp.arange(self.max_steps) < length
        residual = jnp.sum(jnp.where(used[:, None, None, None], terms, 0), axis=0)
        if self.field == "z2":
            residual = residual % 2
        return self._start(residual.astype(self._dtype)), actions, length

    def _start(self, residual: Array, basis: tuple | None = None) -> TensorState:
        if basis is None:
            basis = tuple(jnp.eye(size, dtype=jnp.int32) for size in self.shape)
        recent = jnp.zeros((self.history, *self.shape), self._dtype)
        return TensorState(residual, recent, jnp.int32(0), tuple(b.astype(self._dtype) for b in basis))

    def _random_basis(self, key: Array, size: int) -> Array:
        """int32[size, size]: invertible over GF(2) (P·L·U, unit triangular L, U) or a signed permutation."""
        perm_key, low_key, up_key = jax.random.split(key, 3)
        perm = jax.random.permutation(perm_key, jnp.eye(size, dtype=jnp.int32))
        if self.field == "z":
            if set(self.coefficients) != {-c for c in self.coefficients}:
                return perm  # signs could take factors out of an asymmetric F
            signs = 2 * jax.random.bernoulli(low_key, shape=(size, 1)).astype(jnp.int32) - 1
            return perm * signs
        eye = jnp.eye(size, dtype=jnp.int32)
        low = jnp.tril(jax.random.bernoulli(low_key, shape=(size, size)).astype(jnp.int32), -1) + eye
        up = jnp.triu(jax.random.bernoulli(up_key, shape=(size, size)).astype(jnp.int32), 1) + eye
        return perm @ low @ up % 2

    def _values(self, action: Array) -> Array:
        """int32[I+J+K]: the entries of u, v, w of an action, concatenated."""
        if self.actions == "flat":
            return jnp.asarray(self._flat_terms)[action].astype(jnp.int32)
        digits = (action[jnp.asarray(self._token_of)] // jnp.asarray(self._power)) % len(self.coefficients)
        return jnp.asarray(self.coefficients, jnp.int32)[digits]

    def _split(self, values):
        sizes = np.cumsum(self.shape)[:-1]
        return values[: sizes[0]], values[sizes[0] : sizes[1]], values[sizes[1] :]

    def _term(self, action: Array) -> Array:
        return _outer(*self._split(self._values(action)))

    def _random_actions(self, draws: Array) -> Array:
        """Random legal actions from random integers ``draws`` [L, I+J+K+6] in [0, 2^30).

        Entries are uniform in F, a zero factor gets one random nonzero entry, then the
        term's legal sign form is taken (modulo bias of ``draws % size`` is below 2^-13).
        """
        if self.actions == "flat":
            return draws[:, 0] % self.action_space.num_actions
        q, total = len(self.coefficients), sum(self.shape)
        coefficients = jnp.asarray(self.coefficients, jnp.int32)
        nonzero = jnp.asarray([c for c in self.coefficients if c], jnp.int32)
        factors = []
        for f, factor in enumerate(self._split(coefficients[draws[:, :total] % q].T)):
            size = factor.shape[0]
            position, choice = draws[:, total + f] % size, draws[:, total + 3 + f] % (q - 1)
            single = jnp.where(jnp.arange(size)[:, None] == position, nonzero[choice], 0)
            factors.append(jnp.where(jnp.any(factor != 0, axis=0), factor, single).T)
        values = jnp.concatenate(_legal_form(*factors, self.coefficients, jnp)[:3], axis=-1)
        return self._tokens(values)

    def _tokens(self, values: Array) -> Array:
        """int32[..., T]: the tokens of terms given by their entries [..., I+J+K] (in F)."""
        digits = jnp.argmax(values[..., None] == jnp.asarray(self.coefficients, jnp.int32), axis=-1)
        place = np.arange(self.action_space.num_tokens) == self._token_of[:, None]  # [I+J+K, T]
        return (digits * jnp.asarray(self._power)) @ jnp.asarray(place, jnp.int32)

    def augment(self, key: Array, observation: Array, policy: Array, candidates: Array):
        """A random cyclic transposition of a training example (cubic shapes; else unchanged).

        σ maps a residual R to R' with R'[j,k,i] = R[i,j,k] and a move u⊗v⊗w to v⊗w⊗u (in
        its legal sign form): the game commutes with σ, which keeps the rank and the slice
        bound (a minimum over the three modes), so values and move targets carry over.
        σ, σ² or the identity is drawn uniformly. Observation channels (residual, recent
        terms, bound paid) are transposed alike.
        """
        if not self.cyclic:
            return observation, policy, candidates
        shift = jax.random.randint(key, (), 0, 3)
        observation = jax.lax.switch(
            shift, [lambda x, axes=axes: x.transpose(axes) for axes in CYCLIC_AXES], observation
        )
        if self.actions == "flat":
            return observation, policy[jnp.asarray(self._cyclic_gather)[shift]], candidates
        u, v, w = self._split(jax.vmap(self._values)(candidates).T)
        rotations = [(u, v, w), (v, w, u), (w, u, v)]
        rotated = jax.lax.switch(
            shift, [lambda f=f: _legal_form(*(x.T for x in f), self.coefficients, jnp)[:3] for f in rotations]
        )
        return observation, policy, self._tokens(jnp.concatenate(rotated, axis=-1))

    def _flat_rotations(self) -> np.ndarray:
        """int32[3, A]: row r gathers a flat policy target into its image under σ^r."""
        u, v, w = self._split(self._flat_terms.astype(np.int64).T)
        *rotated, _ = _legal_form(v.T, w.T, u.T, self.coefficients, np)
        image = np.searchsorted(self._flat_keys, self._keys(*rotated))  # σ(action a) = image[a]
        assert np.array_equal(self._flat_keys[image], self._keys(*rotated)), "flat actions not closed under σ"
        twice = image[image]
        return np.stack([np.arange(len(image)), np.argsort(image), np.argsort(twice)]).astype(np.int32)

    def _keys(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """int64[N]: the flat-action keys (base-|F| codes of u, v, w) of terms [N, size] each."""
        q, key = len(self.coefficients), np.zeros(len(u), np.int64)
        for factor in (u, v, w):
            digits = np.searchsorted(self.coefficients, factor)
            key = key * q ** factor.shape[1] + digits @ q ** np.arange(factor.shape[1], dtype=np.int64)
        return key

    # ---- host helpers (numpy) ---------------------------------------------------------------------

    def decode(self, action) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The factors (u, v, w), int64 vectors of lengths I, J, K, of an action (tokens or flat index)."""
        action = np.asarray(action)
        if not np.issubdtype(action.dtype, np.integer):
            raise _error(f"an action must be integers, got {action.dtype}")
        if self.actions == "flat":
            if action.shape != () or not 0 <= action < len(self._flat_terms):
                raise _error(f"a flat action is an index below {len(self._flat_terms)}")
            return self._split(self._flat_terms[action].astype(np.int64))
        sizes = np.asarray(self.action_space.token_sizes)
        if action.shape != sizes.shape or np.any(action < 0) or np.any(action >= sizes):
            raise _error(f"an action is {len(sizes)} tokens below {sizes.tolist()}")
        digits = (action[self._token_of] // self._power) % len(self.coefficients)
        return self._split(np.asarray(self.coefficients, np.int64)[digits])

    def encode(self, u, v, w):
        """The action that plays the term u⊗v⊗w, in its legal sign form (the same tensor).

        Over z2 entries are taken mod 2. Raises ValueError for wrong lengths, a zero factor,
        or a term none of whose sign forms has all its entries in the coefficient set.

        Returns:
          int32[num_tokens] tokens (factored) or an int32 scalar index (flat).
        """
        factors = [
            _check_factor(name, x, size) for name, x, size in zip("uvw", (u, v, w), self.shape, strict=True)
        ]
        if self.field == "z2":
            factors = [x % 2 for x in factors]
        if not all(x.any() for x in factors):
            raise _error("a factor of the term is zero")
        *factors, fits = _legal_form(*factors, self.coefficients, np)
        if not fits:
            raise _error(f"the term's entries are not in the coefficients {self.coefficients}")
        digits = [np.searchsorted(self.coefficients, x) for x in factors]
        if self.actions == "flat":
            key = self._keys(*(x[None] for x in factors))[0]
            return np.int32(np.searchsorted(self._flat_keys, key))
        tokens = np.zeros(self.action_space.num_tokens, np.int64)
        np.add.at(tokens, self._token_of, np.concatenate(digits) * self._power)
        return tokens.astype(np.int32)

    def scheme_demonstration(self, scheme: gamify.Scheme) -> tuple[TensorState, Array, Array]:
        """The episode that plays a known scheme's terms, to replay like :meth:`demonstration`.

        How verified schemes (a flip walk's, a published one) teach the network. The episode
        starts from the target itself, in the standard basis: the scheme's terms sum to
        exactly that tensor, so they are the moves that clear it, and the state's identity
        basis keeps :meth:`solution` right. (Moving the terms into a random basis would be
        correct too, but a fixed episode would fix one basis: no more varied than this one.)

        Args:
          scheme: a scheme over this game's field for its target, of rank <= max_steps,
            every term playable as a move (nonzero factors with entries in the coefficients,
            up to the sign forms of the class docstring).

        Returns:
          ``(start, actions, length)`` as :meth:`demonstration` returns them: actions
          int32[max_steps, ...] are the terms in order, padded by repeating them (padding
          is never played), and length is the rank.

        Raises:
          ValueError: one line saying why the scheme cannot be played.
        """
        if scheme.field != self.field:
            raise _error(f"a scheme over {scheme.field} cannot be played over {self.field}")
        if scheme.shape != self.shape:
            raise _error(f"a scheme of shape {scheme.shape} cannot decompose a target of shape {self.shape}")
        if scheme.rank > self.max_steps:
            raise _error(f"a scheme of rank {scheme.rank} is longer than max_steps={self.max_steps}")
        check = scheme.verify(self.target)
        if not check.ok:
            raise _error(f"the scheme does not decompose the target: {check}")
        moves = []
        for r, term in enumerate(zip(scheme.u, scheme.v, scheme.w, strict=True)):
            try:
                moves.append(self.encode(*term))
            except ValueError as error:
                reason = str(error).removeprefix(_ERROR_PREFIX)
                raise _error(f"term {r + 1} of the scheme is not a move: {reason}") from None
        actions = np.resize(np.asarray(moves), (self.max_steps, *np.shape(moves[0])))
        start = self._start(jnp.asarray(self.target, self._dtype))
        return start, jnp.asarray(actions, jnp.int32), jnp.int32(scheme.rank)

    def solution(self, final: TensorState, actions) -> np.ndarray:
        """The moves as terms of the target itself: each factor mapped back through the
        game's basis (A⁻¹u, B⁻¹v, C⁻¹w), in legal sign form. Unchanged without a basis change."""
        shape = () if self.actions == "flat" else (self.action_space.num_tokens,)
        actions = np.asarray(actions).reshape(-1, *shape)
        inverses = [_basis_inverse(np.asarray(b, np.int64), self.field) for b in final.basis]
        moved = [
            self.encode(*(inverse @ x for inverse, x in zip(inverses, self.decode(a), strict=True)))
            for a in actions
        ]
        return np.asarray(moved, np.int32).reshape(actions.shape)

    def describe(self, actions) -> str:
        """The terms as products m_r = (…) * (…), the target's entries as sums of them, and the verdict."""
        shape = () if self.actions == "flat" else (self.action_space.num_tokens,)
        terms = [self.decode(action) for action in np.asarray(actions).reshape(-1, *shape)]
        a_names, b_names, c_names = _entry_names(self.shape, self.matmul)
        lines = [
            f"m{r} = ({_linear(u, a_names)}) * ({_linear(v, b_names)})"
            for r, (u, v, _) in enumerate(terms, 1)
        ]
        products = [f"m{r}" for r in range(1, len(terms) + 1)]
        for k in _output_order(self.shape, self.matmul):
            column = np.array([w[k] for _, _, w in terms], np.int64)
            lines.append(f"{c_names[k]} = {_linear(column, products)}")
        total = sum((np.einsum("i,j,k->ijk", *term) for term in terms), np.zeros(self.shape, np.int64))
        residual = self.target - total
        if self.field == "z2":
            residual %= 2
        field = "Z2" if self.field == "z2" else "Z"
        if residual.any():
            lines.append(
                f"{len(terms)} terms; residual is NOT zero ({np.count_nonzero(residual)} entries left)"
            )
        else:
            lines.append(f"{len(terms)} terms; residual is zero: they sum to the target exactly over {field}")
        return "\n".join(lines)


# ---- the rank bound ---------------------------------------------------------------------------------


def _outer(u: Array, v: Array, w: Array) -> Array:
    """u⊗v⊗w, [I, J, K]."""
    return u[:, None, None] * v[None, :, None] * w[None, None, :]


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


# ---- sign forms --------------------------------------------------------------------------------------


def _sign_forms(u, v, w, coefficients, xp):
    """The normalised factors (u0, v0, w0), the index of (u, v, w)'s own form, and which forms fit F.

    Works on numpy (``xp=np``) and jax.numpy arrays with any leading batch axes; elementwise
    and reductions only (no gathers), which keeps it cheap to compile and to run.
    """
    first = lambda x: (x != 0) & (xp.cumsum(x != 0, axis=-1) == 1)
    sign = lambda x: xp.where(xp.any(first(x) & (x < 0), axis=-1), -1, 1)
    sign_u, sign_v = sign(u), sign(v)
    u0, v0, w0 = u * sign_u[..., None], v * sign_v[..., None], w * (sign_u * sign_v)[..., None]
    own = 2 * (sign_u < 0) + (sign_v < 0)
    allowed = xp.asarray(coefficients)
    member = lambda x: xp.all(xp.any(x[..., None] == allowed, axis=-1), axis=-1)
    if set(coefficients) == {-c for c in coefficients}:  # all forms fit, or none
        fit = member(u0) & member(v0) & member(w0)
        return (u0, v0, w0), own, xp.stack([fit] * len(_SIGNS), axis=-1)
    fits = {(name, a): member(a * x) for name, x in zip("uvw", (u0, v0, w0), strict=True) for a in (1, -1)}
    fits = [fits["u", a] & fits["v", b] & fits["w", a * b] for a, b in _SIGNS]
    return (u0, v0, w0), own, xp.stack(fits, axis=-1)


def _legal_terms(u, v, w, coefficients, xp):
    """bool[...]: all factors nonzero and (u, v, w) is the legal sign form of its term (entries in F)."""
    _, own, fits = _sign_forms(u, v, w, coefficients, xp)
    nonzero = xp.any(u != 0, axis=-1) & xp.any(v != 0, axis=-1) & xp.any(w != 0, axis=-1)
    return nonzero & (xp.argmax(fits, axis=-1) == own)


def _legal_form(u, v, w, coefficients, xp):
    """(u', v', w', fits): the legal sign form of a term, and whether any form fits F (batched too)."""
    (u0, v0, w0), _, fits = _sign_forms(u, v, w, coefficients, xp)
    first = xp.argmax(fits, axis=-1)[..., None]
    a, b = 1 - 2 * (first // 2), 1 - 2 * (first % 2)
    return a * u0, b * v0, a * b * w0, xp.any(fits, axis=-1)


# ---- actions -------------------------------------------------------------------------------------------


def _token_layout(shape, q: int, chunk: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """For each entry of u, v, w (concatenated): its token and its digit's weight; and the token sizes."""
    token_of, power, sizes = [], [], []
    for size in shape:
        for start in range(0, size, chunk):
            length = min(chunk, size - start)
            token_of += [len(sizes)] * length
            power += [q**j for j in range(length)]
            sizes.append(q**length)
    return np.asarray(token_of, np.int32), np.asarray(power, np.int32), tuple(sizes)


def _flat_count_at_least(shape, q: int, field: str) -> int:
    """A lower bound on the legal terms (exact over z2): over z one legal per set of sign twins."""
    nonzero_terms = math.prod(q**size - 1 for size in shape)
    return nonzero_terms if field == "z2" else -(-nonzero_terms // len(_SIGNS))


def _flat_terms(shape, coefficients, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Every legal term as int8[N, I+J+K] entries, and their sorted int64 keys (u, v, w base-|F| codes)."""
    q = len(coefficients)
    at_least = _flat_count_at_least(shape, q, field)
    if at_least > MAX_FLAT_ACTIONS:
        raise _error(
            f"flat actions would be at least {at_least} terms "
            f"(limit {MAX_FLAT_ACTIONS}); use actions='factored'"
        )
    vectors, codes = [], []
    for size in shape:
        code = np.arange(q**size, dtype=np.int64)
        values = np.asarray(coefficients, np.int64)[code[:, None] // q ** np.arange(size) % q]
        keep = values.any(axis=1)
        vectors.append(values[keep])
        codes.append(code[keep])
    index = [grid.reshape(-1) for grid in np.meshgrid(*(np.arange(len(v)) for v in vectors), indexing="ij")]
    u, v, w = (vectors[f][index[f]] for f in range(3))
    legal = _legal_terms(u, v, w, coefficients, np)
    if legal.sum() > MAX_FLAT_ACTIONS:
        raise _error(
            f"flat actions would be {legal.sum()} terms (limit {MAX_FLAT_ACTIONS}); use actions='factored'"
        )
    keys = (codes[0][index[0]] * q ** shape[1] + codes[1][index[1]]) * q ** shape[2] + codes[2][index[2]]
    return np.concatenate([u, v, w], axis=1)[legal].astype(np.int8), keys[legal]


# ---- describe --------------------------------------------------------------------------------------


def _entry_names(shape, matmul) -> tuple[list[str], list[str], list[str]]:
    """Names of the entries u, v, w act on: a_ij, b_jk, c_ik for matmul, else x_i, y_j, z_k."""
    if matmul is None:
        return tuple(
            [f"{letter}{i + 1}" for i in range(size)] for letter, size in zip("xyz", shape, strict=True)
        )
    n, m, p = matmul
    name = lambda letter, row, col: (
        f"{letter}{row + 1}{col + 1}" if max(row, col) < 9 else f"{letter}[{row + 1},{col + 1}]"
    )
    a = [name("a", i, j) for i in range(n) for j in range(m)]
    b = [name("b", j, k) for j in range(m) for k in range(p)]
    c = [name("c", index % n, index // n) for index in range(p * n)]  # w indexes Cᵀ row-major
    return a, b, c


def _output_order(shape, matmul) -> list[int]:
    """Indices of w in the order the output lines are listed (C row-major for matmul)."""
    if matmul is None:
        return list(range(shape[2]))
    n, _, p = matmul
    return [k * n + i for i in range(n) for k in range(p)]


def _linear(coefficients: np.ndarray, names: list[str]) -> str:
    """'a11 - 2*a22', or '0' for a zero combination."""
    text = ""
    for c, name in zip(coefficients.tolist(), names, strict=True):
        if c:
            sign = "-" if c < 0 else "+"
            term = name if abs(c) == 1 else f"{abs(c)}*{name}"
            text += f" {sign} {term}" if text else ("-" if c < 0 else "") + term
    return text or "0"


# ---- argument checks ------------------------------------------------------------------------------


def _basis_inverse(matrix: np.ndarray, field: str) -> np.ndarray:
    """The inverse of a basis matrix: over GF(2) by Gauss-Jordan, over Z a signed permutation's transpose."""
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


def _error(message: str) -> ValueError:
    return ValueError(_ERROR_PREFIX + message)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _error(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_coefficients(coefficients, field: str) -> tuple[int, ...]:
    if coefficients is None:
        return DEFAULT_COEFFICIENTS[field]
    try:
        values = list(coefficients)
    except TypeError:
        values = [None]  # not a sequence: rejected just below
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in values):
        raise _error(f"coefficients must be integers, got {coefficients!r}")
    values = sorted(int(c) for c in values)
    if field == "z2" and values != [0, 1]:
        raise _error(f"over z2 the coefficients are (0, 1), got {coefficients!r}")
    if len(set(values)) != len(values) or 0 not in values or len(values) < 2:
        raise _error(f"coefficients must be distinct, include 0 and a nonzero value, got {coefficients!r}")
    if values[0] < -128 or values[-1] > 127:
        raise _error(f"coefficients must lie in [-128, 127] (int8), got {coefficients!r}")
    return tuple(values)


def _check_chunk(chunk, q: int) -> int:
    if chunk is None:
        chunk = 1
        while q ** (chunk + 1) <= DEFAULT_TOKEN_VALUES:
            chunk += 1
        return chunk
    chunk = _check_int("chunk", chunk, 1)
    if q**chunk > MAX_TOKEN_VALUES:
        raise _error(f"chunk={chunk} gives tokens of {q}^{chunk} values (limit {MAX_TOKEN_VALUES})")
    return chunk


def _check_factor(name: str, factor, size: int) -> np.ndarray:
    array = np.asarray(factor)
    if array.shape != (size,) or not np.issubdtype(array.dtype, np.integer):
        raise _error(f"{name} must be {size} integers, got {array.dtype}{list(array.shape)}")
    return array.astype(np.int64)


def _load_target(target) -> np.ndarray:
    if isinstance(target, (str, os.PathLike)):
        path = Path(target).expanduser()
        if not path.is_file():
            raise _error(f"target file not found: {path}")
        if path.suffix == ".npy":
            try:
                return np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as error:
                raise _error(f"cannot read {path} as .npy: {error}") from None
        return _read_text_target(path)
    try:
        return np.asarray(target)
    except ValueError:
        raise _error("target must be a rectangular 3-way array of integers") from None


def _read_text_target(path: Path) -> np.ndarray:
    """The text format: a line 'I J K', then I*J*K integers in C order; '#' starts a comment."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise _error(f"cannot read {path}: {error}") from None
    words = [line.split("#")[0].split() for line in lines]
    numbered = [(number, line) for number, line in enumerate(words, 1) if line]
    if not numbered:
        raise _error(f"{path} is empty (expected a line 'I J K', then the entries)")
    number, header = numbered[0]
    if len(header) != 3 or not all(word.isdigit() and int(word) > 0 for word in header):
        raise _error(f"{path} line {number}: expected 'I J K', got {' '.join(header)!r}")
    shape = tuple(int(word) for word in header)
    entries = [word for _, line in numbered[1:] for word in line]
    if len(entries) != math.prod(shape):
        raise _error(f"{path}: shape {shape} needs {math.prod(shape)} entries, found {len(entries)}")
    try:
        return np.asarray([int(word) for word in entries], np.int64).reshape(shape)
    except (ValueError, OverflowError) as error:
        raise _error(f"{path}: an entry is not an integer ({error})") from None


def _check_target(array: np.ndarray, field: str) -> np.ndarray:
    if array.ndim != 3 or 0 in array.shape:
        raise _error(f"target must be a nonempty 3-way array, got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.int64)
    if (
        np.issubdtype(array.dtype, np.floating)
        and np.all(np.isfinite(array))
        and np.all(array == np.round(array))
    ):
        array = array.astype(np.int64)  # e.g. a .npy saved as float with whole numbers
    if not np.issubdtype(array.dtype, np.integer):
        raise _error(f"target entries must be integers, got {array.dtype}")
    if np.abs(array).max() > _INT32_MAX:
        raise _error("target entries must fit in int32")
    if field == "z2" and not np.isin(array, (0, 1)).all():
        raise _error("over z2 the target entries must be 0 or 1")
    if not array.any():
        raise _error("target is zero (nothing to decompose)")
    return array.astype(np.int64)

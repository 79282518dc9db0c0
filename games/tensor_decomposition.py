"""AlphaTensor's TensorGame: write a 3-way tensor as the fewest rank-one terms u⊗v⊗w.

The state is the residual tensor R (initially the target T, by default the matrix
multiplication tensor ⟨n,m,p⟩ of :func:`gamify.tensor.matmul_tensor`). A move picks a
rank-one term u⊗v⊗w with coefficients in a small set F and sets R <- R - u⊗v⊗w (mod 2
over Z2). Reward is -1 per move and the game terminates when R = 0, so a solved game's
return is minus the rank of the decomposition found (Fawzi et al., Nature 2022).

When the step limit ends the game first, ``truncation_reward`` is minus an upper bound
on the rank of R: the smallest, over the three modes, of the sum of the ranks of R's
matrix slices (:mod:`gamify.tensor.bound`, which says when it is exact).

The game is the rules only; the tensor mathematics it plays with (the bound, sign forms
of terms, the action encoding, changes of basis, target files, the native kernels) is
:mod:`gamify.tensor`'s. (The module is over 500 lines because the class docstring
documents every argument and rule a user can set.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify
from gamify import native
from gamify.tensor import kernels
from gamify.tensor.basis import basis_inverse, random_basis
from gamify.tensor.bound import slice_rank_bound, slice_rank_bound_exact
from gamify.tensor.encoding import TermEncoding
from gamify.tensor.matmul import matmul_tensor
from gamify.tensor.scheme import Scheme
from gamify.tensor.targets import load_target
from gamify.tensor.terms import (
    describe_terms,
    flat_count_at_least,
    legal_form,
    legal_terms,
    outer,
)

Array = jax.Array

FIELDS = ("z2", "z")
CYCLIC_AXES = ((0, 1, 2, 3), (1, 2, 0, 3), (2, 0, 1, 3))  # observation [I, J, K, C] under σ^0, σ, σ²
ACTION_KINDS = ("factored", "flat", "auto")
REWARD_KINDS = ("shaped", "terminal")
BACKENDS = ("auto", "native", "jax")
DEFAULT_COEFFICIENTS = {"z2": (0, 1), "z": (-2, -1, 0, 1, 2)}
# actions="auto" is flat up to this many terms: ⟨2,2,2⟩ z2 has 3,375; ⟨2,2,3⟩ z2 (59,535) and
# ⟨2,2,2⟩ over {-1,0,1} (128,000) are factored (a flat replay keeps a dense policy per example).
AUTO_FLAT_LIMIT = 20_000
MAX_CELLS = 2**22  # I*J*K*(2 + history), the observation's size (at most)
_INT32_MAX = 2**31 - 1
_DRAW_RANGE = 2**30  # random integers for demonstrations, reduced modulo small sizes
_ERROR_PREFIX = "tensor_decomposition: "  # starts every message of the game's ValueErrors


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

    Sign forms: over Z a term has four sign forms (u⊗v⊗w = (-u)⊗(-v)⊗w = ...); exactly one
    is legal (:mod:`gamify.tensor.terms`: for a symmetric F, the first nonzero entries of
    u and v are positive). Zero factors are illegal. Over Z2 every term with nonzero
    factors is legal.

    Actions (:mod:`gamify.tensor.encoding`): factored, tokens that are chunks of the
    factors' entries as base-|F| numbers (u's chunks, then v's, then w's); or flat, one
    index per legal term (the legal mask is all True).

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
        self._symmetric = set(self.coefficients) == {-c for c in self.coefficients}
        self.history = _check_int("history", history, 0)
        if target is None:
            self.matmul = tuple(
                _check_int(name, size, 1) for name, size in zip("nmp", (n, m, p), strict=True)
            )
            n, m, p = self.matmul
            _check_cells((n * m, m * p, p * n), self.history)  # before the tensor is built
            self.target = matmul_tensor(*self.matmul).astype(np.int64)
        else:
            self.matmul = None
            self.target = _load_target(target, field)
        self.shape = self.target.shape
        _check_cells(self.shape, self.history)
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
            few = flat_count_at_least(self.shape, len(self.coefficients), field) <= AUTO_FLAT_LIMIT
            actions = "flat" if few else "factored"
        self.actions = actions
        try:
            self.encoding = TermEncoding(self.shape, self.coefficients, field, actions, chunk)
        except ValueError as error:
            raise _error(str(error)) from None
        self.chunk = self.encoding.chunk
        if actions == "flat":
            self.action_space = gamify.FlatActions(self.encoding.num_flat)
        else:
            self.action_space = gamify.FactoredActions(self.encoding.token_sizes)
        self.cyclic = bool(augment) and len(set(self.shape)) == 1
        if self.cyclic and actions == "flat":
            self._cyclic_images = self.encoding.flat_rotations()

    # ---- the game (pure JAX) ----------------------------------------------------------------------

    def init(self, key: Array) -> TensorState:
        target = jnp.asarray(self.target, jnp.int32)
        if not self.change_of_basis:
            return self._start(target.astype(self._dtype))
        use_key, *keys = jax.random.split(key, 4)
        use = jax.random.uniform(use_key) < self.change_of_basis
        basis = tuple(
            jnp.where(
                use, random_basis(k, size, self.field, signs=self._symmetric), jnp.eye(size, dtype=jnp.int32)
            )
            for k, size in zip(keys, self.shape, strict=True)
        )
        residual = jnp.einsum("ia,jb,kc,abc->ijk", *basis, target)
        if self.field == "z2":
            residual = residual % 2
        return self._start(residual.astype(self._dtype), basis)

    def step(self, state: TensorState, action: Array) -> tuple[TensorState, Array, Array]:
        u, v, w = self._factors(action)
        term = outer(u, v, w).astype(self._dtype)
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
            residual, bound = kernels.tensor_step(state.residual, u, v, w, self.field, jax_step)
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
            return kernels.tensor_bound(residual, self.field, lambda r: slice_rank_bound(r, self.field))
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
        u, v, w = self._factors(action)
        if self.field == "z2":  # all sign forms are the same 0/1 vectors: only zero factors are illegal
            return jnp.any(u != 0) & jnp.any(v != 0) & jnp.any(w != 0)
        return legal_terms(u, v, w, self.coefficients, jnp)

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
        """A random sum of 1..max_steps random legal terms (of a random density: see
        :meth:`_random_actions`), and those terms as the moves that clear it."""
        # One draw of random integers for everything: each PRNG call costs compile time.
        draws = jax.random.randint(key, (self.max_steps + 1, sum(self.shape) + 6), 0, _DRAW_RANGE)
        length = 1 + draws[0, 0] % self.max_steps
        density = (1 + draws[0, 1] % 1024) / 1024  # uniform in (0, 1]
        actions = self._random_actions(draws[1:], density)
        terms = jax.vmap(lambda a: outer(*self._factors(a)))(actions)  # [max_steps, I, J, K]
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

    def _factors(self, action: Array) -> tuple[Array, Array, Array]:
        return self.encoding.split(self.encoding.values(action))

    def _random_actions(self, draws: Array, density: Array | float | None = None) -> Array:
        """Random legal actions from random integers ``draws`` [L, I+J+K+6] in [0, 2^30).

        Each entry is nonzero with probability ``density`` (demonstrations draw one per
        episode, so that sparse terms, like the naive algorithm's, come as well as dense ones;
        default (|F|-1)/|F|: entries uniform in F), its value uniform among F's nonzero ones;
        a zero factor gets one random nonzero entry; then the term's legal sign form is taken
        (modulo bias of ``draws % size`` is below 2^-13).
        """
        q, total = len(self.coefficients), sum(self.shape)
        density = 1 - 1 / q if density is None else density
        nonzero = jnp.asarray([c for c in self.coefficients if c], jnp.int32)
        entries = draws[:, :total]
        values = jnp.where(entries % 1024 < density * 1024, nonzero[(entries >> 10) % (q - 1)], 0)
        factors = []
        for f, factor in enumerate(self.encoding.split(values.T)):
            size = factor.shape[0]
            position, choice = draws[:, total + f] % size, draws[:, total + 3 + f] % (q - 1)
            single = jnp.where(jnp.arange(size)[:, None] == position, nonzero[choice], 0)
            factors.append(jnp.where(jnp.any(factor != 0, axis=0), factor, single).T)
        values = jnp.concatenate(legal_form(*factors, self.coefficients, jnp)[:3], axis=-1)
        if self.actions == "flat":
            return self.encoding.flat_indices(values)
        return self.encoding.tokens(values)

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
            return observation, policy, jnp.asarray(self._cyclic_images)[shift][candidates]
        u, v, w = self.encoding.split(jax.vmap(self.encoding.values)(candidates).T)
        rotations = [(u, v, w), (v, w, u), (w, u, v)]
        rotated = jax.lax.switch(
            shift, [lambda f=f: legal_form(*(x.T for x in f), self.coefficients, jnp)[:3] for f in rotations]
        )
        return observation, policy, self.encoding.tokens(jnp.concatenate(rotated, axis=-1))

    def vary_episode(self, key: Array, start: TensorState, actions: Array, length: Array):
        """A solved episode in a random change of basis: its scheme, moved to an equivalent tensor.

        A, B, C are drawn as for ``change_of_basis`` (whatever its probability: fixed episodes
        always vary). The residual and recent terms become (A⊗B⊗C)·R, the basis A·A₀ (and so
        on; :meth:`solution` still maps moves back to terms of the target) and each move
        u⊗v⊗w becomes Au⊗Bv⊗Cw in its legal sign form, so the moves clear the new residual
        as they cleared the old one. Over z2 invertible A, B, C keep nonzero factors nonzero;
        over z (signed) permutations keep entries in F. Moves past ``length`` are kept as given.
        """
        basis = tuple(
            random_basis(k, size, self.field, signs=self._symmetric)
            for k, size in zip(jax.random.split(key, 3), self.shape, strict=True)
        )
        reduce = (lambda x: x % 2) if self.field == "z2" else (lambda x: x)
        change = lambda x: reduce(jnp.einsum("ia,jb,kc,...abc->...ijk", *basis, x.astype(jnp.int32)))
        composed = [reduce(new @ old.astype(jnp.int32)) for new, old in zip(basis, start.basis, strict=True)]
        start = start._replace(
            residual=change(start.residual).astype(self._dtype),
            recent_terms=change(start.recent_terms).astype(self._dtype),
            basis=tuple(b.astype(self._dtype) for b in composed),
        )
        factors = self.encoding.split(jax.vmap(self.encoding.values)(actions).T)  # [size, L] each
        u, v, w = (reduce(matrix @ x).T for matrix, x in zip(basis, factors, strict=True))
        if self.field == "z":  # over z2 every form is the same 0/1 vectors
            u, v, w, _ = legal_form(u, v, w, self.coefficients, jnp)
        values = jnp.concatenate([u, v, w], axis=-1)
        moved = self.encoding.flat_indices(values) if self.actions == "flat" else self.encoding.tokens(values)
        played = jnp.arange(self.max_steps) < length
        moved = jnp.where(played.reshape(played.shape + (1,) * (actions.ndim - 1)), moved, actions)
        return start, moved.astype(jnp.int32), length

    # ---- host helpers (numpy) ---------------------------------------------------------------------

    def decode(self, action) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The factors (u, v, w), int64 vectors of lengths I, J, K, of an action (tokens or flat index)."""
        try:
            return self.encoding.decode(action)
        except ValueError as error:
            raise _error(str(error)) from None

    def encode(self, u, v, w):
        """The action that plays the term u⊗v⊗w, in its legal sign form (the same tensor).

        Over z2 entries are taken mod 2. Raises ValueError for wrong lengths, a zero factor,
        or a term none of whose sign forms has all its entries in the coefficient set.

        Returns:
          int32[num_tokens] tokens (factored) or an int32 scalar index (flat).
        """
        try:
            return self.encoding.encode(u, v, w)
        except ValueError as error:
            raise _error(str(error)) from None

    def scheme_demonstration(self, scheme: Scheme) -> tuple[TensorState, Array, Array]:
        """The episode that plays a known scheme's terms, to replay like :meth:`demonstration`.

        How verified schemes (a flip walk's, a published one) teach the network. The episode
        starts from the target itself, in the standard basis: the scheme's terms sum to
        exactly that tensor, so they are the moves that clear it, and the state's identity
        basis keeps :meth:`solution` right. Training replays it in a fresh random basis every
        iteration (:meth:`vary_episode`), so that one scheme teaches in many forms.

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
        inverses = [basis_inverse(np.asarray(b, np.int64), self.field) for b in final.basis]
        moved = [
            self.encode(*(inverse @ x for inverse, x in zip(inverses, self.decode(a), strict=True)))
            for a in actions
        ]
        return np.asarray(moved, np.int32).reshape(actions.shape)

    def describe(self, actions) -> str:
        """The terms as products m_r = (…) * (…), the target's entries as sums of them, and the verdict."""
        shape = () if self.actions == "flat" else (self.action_space.num_tokens,)
        terms = [self.decode(action) for action in np.asarray(actions).reshape(-1, *shape)]
        return describe_terms(terms, self.target, self.field, self.matmul)


# ---- argument checks ------------------------------------------------------------------------------


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


def _check_cells(shape, history: int) -> None:
    cells = math.prod(shape) * (2 + history)
    if cells > MAX_CELLS:
        raise _error(f"the observation would have {cells} cells (limit {MAX_CELLS})")


def _load_target(target, field: str) -> np.ndarray:
    try:
        return load_target(target, field)
    except ValueError as error:
        raise _error(str(error)) from None

"""Rank-one terms u⊗v⊗w as a policy's actions: one flat index per legal term, or tokens.

Factored (tokens): each of u, v, w is cut into chunks of ``chunk`` entries (the last may be
shorter); a token is a chunk's entries as a base-|F| number whose digit j (least
significant first) is the index in sorted F of the chunk's entry j. Tokens are ordered
u's chunks, v's chunks, w's chunks; a chunk of length L has |F|^L values.

Flat: the legal terms (:func:`gamify.tensor.terms.flat_terms`: nonzero factors, the one
legal sign form), ordered by u, then v, then w, each vector by its base-|F| number
(entry 0 least significant).

Methods named for JAX run inside jit; ``decode``/``encode`` are the host (numpy) side.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gamify.tensor.terms import flat_terms, legal_form
from gamify.types import Array

KINDS = ("factored", "flat")
MAX_FLAT_ACTIONS = 2**17  # a flat policy head larger than this is better factored
MAX_TOKEN_VALUES = 2**16  # |F|^chunk, the vocabulary of one token
DEFAULT_TOKEN_VALUES = 30  # default chunk: the largest with |F|^chunk <= 30 (z2: 16, {-2..2}: 25)


def default_chunk(q: int) -> int:
    """The largest chunk with q^chunk <= DEFAULT_TOKEN_VALUES (at least 1)."""
    chunk = 1
    while q ** (chunk + 1) <= DEFAULT_TOKEN_VALUES:
        chunk += 1
    return chunk


class TermEncoding:
    """The actions of terms over a coefficient set F for a tensor shape (I, J, K).

    Args:
      shape: (I, J, K).
      coefficients: sorted F, including 0.
      field: "z2" or "z" (over z2 :meth:`encode` takes entries mod 2).
      kind: "factored" or "flat".
      chunk: entries per token (factored; default :func:`default_chunk`).

    Raises:
      ValueError: a chunk whose tokens would exceed MAX_TOKEN_VALUES values, a chunk for
        flat actions, or more than MAX_FLAT_ACTIONS flat terms.
    """

    def __init__(self, shape, coefficients, field: str, kind: str, chunk: int | None = None):
        if kind not in KINDS:
            raise ValueError(f"actions must be one of {', '.join(KINDS)}, got {kind!r}")
        self.shape, self.coefficients, self.field, self.kind = tuple(shape), tuple(coefficients), field, kind
        q = len(self.coefficients)
        if kind == "flat":
            if chunk is not None:
                raise ValueError("chunk applies to factored actions only")
            self.chunk = None
            self.flat_terms, self.flat_keys = flat_terms(
                self.shape, self.coefficients, field, MAX_FLAT_ACTIONS
            )
            return
        if chunk is None:
            chunk = default_chunk(q)
        elif isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
            raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
        elif q**chunk > MAX_TOKEN_VALUES:
            raise ValueError(f"chunk={chunk} gives tokens of {q}^{chunk} values (limit {MAX_TOKEN_VALUES})")
        self.chunk = int(chunk)
        token_of, power, sizes = [], [], []
        for size in self.shape:
            for start in range(0, size, self.chunk):
                length = min(self.chunk, size - start)
                token_of += [len(sizes)] * length
                power += [q**j for j in range(length)]
                sizes.append(q**length)
        # For each entry of u, v, w (concatenated): its token and its digit's weight.
        self.token_of, self.power = np.asarray(token_of, np.int32), np.asarray(power, np.int32)
        self.token_sizes = tuple(sizes)

    @property
    def num_flat(self) -> int:
        return len(self.flat_terms)

    def split(self, values):
        """(u, v, w) of the concatenated entries [I+J+K, ...] (numpy or JAX)."""
        ends = np.cumsum(self.shape)[:-1]
        return values[: ends[0]], values[ends[0] : ends[1]], values[ends[1] :]

    def values(self, action: Array) -> Array:
        """int32[I+J+K]: the entries of u, v, w of one action, concatenated (JAX)."""
        if self.kind == "flat":
            return jnp.asarray(self.flat_terms)[action].astype(jnp.int32)
        digits = (action[jnp.asarray(self.token_of)] // jnp.asarray(self.power)) % len(self.coefficients)
        return jnp.asarray(self.coefficients, jnp.int32)[digits]

    def tokens(self, values: Array) -> Array:
        """int32[..., T]: the tokens of terms given by their entries [..., I+J+K] in F (JAX)."""
        digits = jnp.argmax(values[..., None] == jnp.asarray(self.coefficients, jnp.int32), axis=-1)
        place = np.arange(len(self.token_sizes)) == self.token_of[:, None]  # [I+J+K, T]
        return (digits * jnp.asarray(self.power)) @ jnp.asarray(place, jnp.int32)

    def flat_indices(self, values: Array) -> Array:
        """int32[...]: the flat actions of legal terms given by their entries [..., I+J+K] in F (JAX).

        Flat actions only. A term that is not one (not legal) gets an arbitrary index below num_flat.
        """
        q, (_, size_j, size_k) = len(self.coefficients), self.shape
        if q ** sum(self.shape) > 2**31:  # keys in int32 (x64 is off); flat games are far below
            raise ValueError(f"flat keys of shape {self.shape} over {q} coefficients overflow int32")
        # A term's key (see keys): u's base-|F| code, then v's, then w's, as one number.
        power = np.concatenate([q ** np.arange(size) for size in self.shape])
        power = power * np.repeat([q ** (size_j + size_k), q**size_k, 1], self.shape)
        digits = jnp.argmax(values[..., None] == jnp.asarray(self.coefficients, jnp.int32), axis=-1)
        keys = digits @ jnp.asarray(power, jnp.int32)
        index = jnp.searchsorted(jnp.asarray(self.flat_keys, jnp.int32), keys)
        return jnp.minimum(index, self.num_flat - 1).astype(jnp.int32)

    def keys(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """int64[N]: the flat-action keys (base-|F| codes of u, v, w) of terms [N, size] each."""
        q, key = len(self.coefficients), np.zeros(len(u), np.int64)
        for factor in (u, v, w):
            digits = np.searchsorted(self.coefficients, factor)
            key = key * q ** factor.shape[1] + digits @ q ** np.arange(factor.shape[1], dtype=np.int64)
        return key

    def flat_rotations(self) -> np.ndarray:
        """int32[3, A]: row r maps each flat action (term) to its image under σ^r, where σ
        maps u⊗v⊗w to v⊗w⊗u (in its legal sign form). Flat actions of a cubic shape only."""
        u, v, w = self.split(self.flat_terms.astype(np.int64).T)
        *rotated, _ = legal_form(v.T, w.T, u.T, self.coefficients, np)
        image = np.searchsorted(self.flat_keys, self.keys(*rotated))  # σ(action a) = image[a]
        if not np.array_equal(self.flat_keys[image], self.keys(*rotated)):
            raise ValueError("the flat actions are not closed under the cyclic transposition")
        return np.stack([np.arange(len(image)), image, image[image]]).astype(np.int32)

    def decode(self, action) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The factors (u, v, w), int64 vectors of lengths I, J, K, of an action (tokens or flat index).

        Raises:
          ValueError: not an action of this encoding.
        """
        action = np.asarray(action)
        if not np.issubdtype(action.dtype, np.integer):
            raise ValueError(f"an action must be integers, got {action.dtype}")
        if self.kind == "flat":
            if action.shape != () or not 0 <= action < self.num_flat:
                raise ValueError(f"a flat action is an index below {self.num_flat}")
            return self.split(self.flat_terms[action].astype(np.int64))
        sizes = np.asarray(self.token_sizes)
        if action.shape != sizes.shape or np.any(action < 0) or np.any(action >= sizes):
            raise ValueError(f"an action is {len(sizes)} tokens below {sizes.tolist()}")
        digits = (action[self.token_of] // self.power) % len(self.coefficients)
        return self.split(np.asarray(self.coefficients, np.int64)[digits])

    def encode(self, u, v, w):
        """The action that plays the term u⊗v⊗w, in its legal sign form (the same tensor).

        Returns:
          int32[num_tokens] tokens (factored) or an int32 scalar index (flat).

        Raises:
          ValueError: wrong lengths, a zero factor, or a term none of whose sign forms has
            all its entries in the coefficients (over z2 entries are taken mod 2 first).
        """
        factors = []
        for name, factor, size in zip("uvw", (u, v, w), self.shape, strict=True):
            array = np.asarray(factor)
            if array.shape != (size,) or not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"{name} must be {size} integers, got {array.dtype}{list(array.shape)}")
            factors.append(array.astype(np.int64) % 2 if self.field == "z2" else array.astype(np.int64))
        if not all(x.any() for x in factors):
            raise ValueError("a factor of the term is zero")
        *factors, fits = legal_form(*factors, self.coefficients, np)
        if not fits:
            raise ValueError(f"the term's entries are not in the coefficients {self.coefficients}")
        if self.kind == "flat":
            key = self.keys(*(x[None] for x in factors))[0]
            return np.int32(np.searchsorted(self.flat_keys, key))
        digits = [np.searchsorted(self.coefficients, x) for x in factors]
        tokens = np.zeros(len(self.token_sizes), np.int64)
        np.add.at(tokens, self.token_of, np.concatenate(digits) * self.power)
        return tokens.astype(np.int32)

"""The tensor domain's native kernels (``gamify._core``) behind checked Python wrappers.

Two ways in:

* host functions on numpy arrays (:func:`gf2_rank`, :func:`slice_rank_bound_host`,
  :func:`subtract_terms`, :func:`subtract_terms_packed`, :func:`verify_scheme`), each with
  a reference implementation giving identical results, and the C++ engines of the flip
  walks (:func:`flip_search`) and of Hensel lifting (:func:`brent_system`);
* XLA FFI handlers called from inside jitted JAX code on CPU, with no Python and no GIL
  (:func:`tensor_bound`, :func:`tensor_step`): the tensor game's rank bound and move. They
  run only when lowering for CPU (``jax.lax.platform_dependent``); on GPU the JAX
  reference runs instead.

Without the compiled module (or without its FFI headers) gamify warns once and uses the
reference (:mod:`gamify.native`).

Bit-packed GF(2) matrices: a matrix with at most 64 columns is a row of uint64
words, bit ``c`` of word ``r`` being entry ``(r, c)``. A batch of B matrices with R
rows each is a ``uint64[B, R]`` array.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gamify import native
from gamify.tensor.bound import slice_rank_bound

__all__ = [
    "brent_system",
    "flip_search",
    "gf2_rank",
    "numpy_gf2_rank",
    "numpy_subtract_terms",
    "numpy_subtract_terms_packed",
    "slice_rank_bound_host",
    "subtract_terms",
    "subtract_terms_packed",
    "tensor_bound",
    "tensor_step",
    "verify_scheme",
]


def _require_core(what: str):
    if native.core is None:
        raise RuntimeError(f"{what} need the compiled gamify._core (pip install .)")
    return native.core


def _check_rows(rows: np.ndarray) -> np.ndarray:
    """Returns ``rows`` as a C-contiguous uint64[B, R] array, or raises a clear error."""
    if not isinstance(rows, np.ndarray):
        raise TypeError(f"rows must be a numpy array of dtype uint64, got {type(rows).__name__}")
    if rows.dtype != np.uint64:
        raise TypeError(
            f"rows must have dtype uint64 (bit-packed rows), got {rows.dtype}; "
            "convert with rows.astype(np.uint64) if the values are non-negative"
        )
    if rows.ndim != 2:
        raise ValueError(f"rows must be 2-D [B, R] (B matrices of R rows), got shape {rows.shape}")
    return np.ascontiguousarray(rows)


def numpy_gf2_rank(rows: np.ndarray) -> np.ndarray:
    """Ranks over GF(2) of B bit-packed matrices (numpy reference implementation).

    Gaussian elimination column by column (bit 63 down to 0), vectorised over the batch.

    Args:
      rows: uint64[B, R]; bit c of rows[b, r] is entry (r, c) of matrix b.

    Returns:
      int32[B], the rank of each matrix.
    """
    matrix = _check_rows(rows).copy()
    batch, num_rows = matrix.shape
    rank = np.zeros(batch, dtype=np.int32)
    if batch == 0 or num_rows == 0:
        return rank
    used = np.zeros((batch, num_rows), dtype=bool)  # rows already chosen as pivots
    index = np.arange(batch)
    one = np.uint64(1)
    for bit in range(63, -1, -1):
        has_bit = ((matrix >> np.uint64(bit)) & one).astype(bool)  # [B, R]
        candidates = has_bit & ~used
        found = candidates.any(axis=1)  # [B]
        pivot = candidates.argmax(axis=1)  # [B]
        pivot_row = matrix[index, pivot]  # [B]
        eliminate = has_bit & found[:, None]
        eliminate[index, pivot] = False
        matrix ^= np.where(eliminate, pivot_row[:, None], np.uint64(0))
        used[index[found], pivot[found]] = True
        rank += found
    return rank


def gf2_rank(rows: np.ndarray) -> np.ndarray:
    """Ranks over GF(2) of B bit-packed matrices.

    Args:
      rows: uint64[B, R]; bit c of rows[b, r] is entry (r, c) of matrix b. A non
        C-contiguous array is copied.

    Returns:
      int32[B], the rank of each matrix (at most min(R, 64)).

    Raises:
      TypeError: ``rows`` is not a numpy array of dtype uint64.
      ValueError: ``rows`` is not 2-D.
    """
    rows = _check_rows(rows)
    if native.core is None:
        native.warn_fallback()
        return numpy_gf2_rank(rows)
    return native.core.gf2_rank(rows)


# --------------------------------------------------------------------------- the game's kernels inside jit


def _jax_dtype(field: str):
    return jnp.int8 if _check_field(field) else jnp.int32


def tensor_bound(residual, field: str, reference):
    """The slice-rank bound of a residual [..., I, J, K], natively on CPU inside jit.

    Args:
      residual: int8 (z2, entries 0/1) or int32 (z) tensor; leading axes are a batch.
      field: "z2" or "z".
      reference: the JAX implementation ``residual -> int32[...]``, used on other platforms.

    Returns:
      int32[...], identical to ``reference``.
    """
    if not native.ffi_available():
        return reference(residual)
    residual = residual.astype(_jax_dtype(field))
    out = jax.ShapeDtypeStruct(residual.shape[:-3], np.int32)
    call = jax.ffi.ffi_call(f"gamify_bound_{field}", out, vmap_method="broadcast_all")
    return jax.lax.platform_dependent(residual, cpu=call, default=reference)


def tensor_step(residual, u, v, w, field: str, reference):
    """One move ``residual - u⊗v⊗w`` (mod 2 over z2) and the new residual's bound, natively on CPU.

    Args:
      residual: [..., I, J, K] int8 (z2) or int32 (z).
      u, v, w: [..., I], [..., J], [..., K] factors (cast to the residual's dtype).
      field: "z2" or "z".
      reference: the JAX implementation ``(residual, u, v, w) -> (residual, bound)``.

    Returns:
      ``(next residual, int32 bound)``, identical to ``reference``.
    """
    if not native.ffi_available():
        return reference(residual, u, v, w)
    dtype = _jax_dtype(field)
    args = [x.astype(dtype) for x in (residual, u, v, w)]
    out = (jax.ShapeDtypeStruct(residual.shape, dtype), jax.ShapeDtypeStruct(residual.shape[:-3], np.int32))
    call = jax.ffi.ffi_call(f"gamify_step_{field}", out, vmap_method="broadcast_all")
    return jax.lax.platform_dependent(*args, cpu=lambda *a: tuple(call(*a)), default=reference)


# --------------------------------------------------------------------------- host kernels (numpy)


def _check_array(name: str, array, dtypes: tuple, ndim: int) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype not in dtypes:
        raise TypeError(
            f"{name} must have dtype {' or '.join(str(np.dtype(d)) for d in dtypes)}, got {array.dtype}"
        )
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    return np.ascontiguousarray(array)


def _check_field(field: str) -> bool:
    if field not in ("z2", "z"):
        raise ValueError(f"field must be 'z2' or 'z', got {field!r}")
    return field == "z2"


def _check_tensors(residual: np.ndarray, dtypes: tuple) -> np.ndarray:
    residual = _check_array("residual", residual, dtypes, 4)
    if not all(1 <= size <= 64 for size in residual.shape[1:]):
        raise ValueError(f"tensor dimensions must be in [1, 64], got {residual.shape[1:]}")
    return residual


def slice_rank_bound_host(residual: np.ndarray, field: str) -> np.ndarray:
    """Slice-rank bounds of B tensors on the host (the tensor game's bound, same values).

    Args:
      residual: int8 (z2) or int32 [B, I, J, K], each dimension at most 64.
      field: "z2" (ranks over GF(2)) or "z" (over Q; int32 only).

    Returns:
      int32[B]. Without the compiled module, the JAX reference on the host.
    """
    z2 = _check_field(field)
    residual = _check_tensors(residual, (np.int8,) if z2 else (np.int32,))
    if native.core is not None:
        return native.core.slice_rank_bound(residual, z2)
    native.warn_fallback()
    return np.asarray(jax.jit(jax.vmap(lambda r: slice_rank_bound(r, field)))(residual))


def subtract_terms(residual: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray, field: str):
    """``residual - u⊗v⊗w`` for B tensors (mod 2 over z2), with overflow detection over z.

    Args:
      residual: int8, int16 or int32 [B, I, J, K].
      u, v, w: [B, I], [B, J], [B, K] of the residual's dtype.
      field: "z2" (entries 0/1, arithmetic mod 2) or "z".

    Returns:
      ``(next, in_range)``: next [B, I, J, K] of the same dtype, and bool[B], False where an
      entry left the dtype's range (the entry then holds the wrapped value).
    """
    z2 = _check_field(field)
    residual = _check_tensors(residual, (np.int8, np.int16, np.int32))
    batch, *shape = residual.shape
    factors = [_check_array(name, x, (residual.dtype,), 2) for name, x in zip("uvw", (u, v, w), strict=True)]
    for name, x, size in zip("uvw", factors, shape, strict=True):
        if x.shape != (batch, size):
            raise ValueError(f"{name} must have shape {(batch, size)}, got {x.shape}")
    if native.core is not None:
        return native.core.subtract_terms(residual, *factors, z2)
    native.warn_fallback()
    return numpy_subtract_terms(residual, *factors, field)


def numpy_subtract_terms(residual, u, v, w, field: str):
    """The numpy reference of :func:`subtract_terms`."""
    wide = [x.astype(np.int64) for x in (residual, u, v, w)]
    exact = wide[0] - np.einsum("bi,bj,bk->bijk", *wide[1:])
    if field == "z2":
        return (exact & 1).astype(residual.dtype), np.ones(len(residual), bool)
    info = np.iinfo(residual.dtype)
    in_range = ((exact >= info.min) & (exact <= info.max)).all(axis=(1, 2, 3))
    return exact.astype(residual.dtype), in_range


def subtract_terms_packed(words: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """In place on bit-packed Z2 residuals: flips words[b, i, j] by w[b] where bits i of u[b], j of v[b].

    Args:
      words: uint64[B, I, J], bit k of words[b, i, j] is entry (i, j, k) (K <= 64), C-contiguous.
      u, v, w: uint64[B] bit masks of the factors.

    Returns:
      bool[B]: the residual became zero.
    """
    words = _check_array("words", words, (np.uint64,), 3)
    factors = [_check_array(name, x, (np.uint64,), 1) for name, x in zip("uvw", (u, v, w), strict=True)]
    if any(len(x) != len(words) for x in factors):
        raise ValueError("u, v, w need one mask per residual")
    if native.core is not None:
        return native.core.subtract_terms_packed(words, *factors)
    native.warn_fallback()
    return numpy_subtract_terms_packed(words, *factors)


def numpy_subtract_terms_packed(words, u, v, w) -> np.ndarray:
    """The numpy reference of :func:`subtract_terms_packed` (also in place)."""
    _, dim_i, dim_j = words.shape
    one = np.uint64(1)
    bit_i = (u[:, None] >> np.arange(dim_i, dtype=np.uint64)) & one
    bit_j = (v[:, None] >> np.arange(dim_j, dtype=np.uint64)) & one
    words ^= (bit_i[:, :, None] & bit_j[:, None, :]) * w[:, None, None]
    return ~words.any(axis=(1, 2))


def verify_scheme(u, v, w, target, field: str) -> tuple[int, int] | None:
    """Checks Σ_r u_r⊗v_r⊗w_r = target exactly (mod 2 over z2), natively.

    Args:
      u, v, w: int64 [R, I], [R, J], [R, K].
      target: int64 [I, J, K].
      field: "z2" or "z".

    Returns:
      ``(first violated flat index or -1, number violated)``, or None when the native
      module is missing or a partial sum could overflow int64 (check another way).
    """
    z2 = _check_field(field)
    if native.core is None:
        return None
    first, count = native.core.verify(*(np.ascontiguousarray(x, np.int64) for x in (u, v, w, target)), z2)
    return None if first == -2 else (first, count)


# --------------------------------------------------------------------------- the C++ engines


def flip_search(
    masks: np.ndarray,
    *,
    target_rank: int,
    max_flips: int,
    plateau: int,
    plus_transitions: bool,
    seed: int,
    threads: int,
    plateau_max: int = 0,
    plus_levels: int = 1,
    pool_size: int = 0,
    pool_greed: float = 0.0,
    cubes: np.ndarray | None = None,
    sixfold: int = 0,
    luby: bool = False,
    given: list | None = None,
):
    """The C++ flip-graph walkers (``cpp_ext/include/gamify/flips.hpp``), one per thread.

    Args:
      masks: uint64[R, 3], each term's factors as bit masks; with ``cubes``, the
        representatives of the cyclic orbits {(a,b,c), (b,c,a), (c,a,b)} instead.
      target_rank, max_flips, plateau, plus_transitions, seed, threads, plateau_max,
        plus_levels, pool_size, pool_greed, luby: see :func:`gamify.tensor.flips.walk`.
      cubes: uint64[S], the fixed cubes x⊗x⊗x of a cyclic-symmetric walk; None for plain walks.
      sixfold: n > 0 walks among ⟨n,n,n⟩ schemes invariant under the cyclic shift and the
        transposition (a, b, c) → (bᵀ, aᵀ, cᵀ); ``masks`` holds every term.
      given: more schemes for the pool: masks uint64[R, 3] each (symmetric walks: (orbits, cubes)).

    Returns:
      The search object: ``run(seconds) -> reached``, ``stats()``, ``best()`` (uint64[R, 3]),
      ``levels()`` (the scheme pool's [(rank, schemes, open)]).
    """
    core = _require_core("flip walks")
    settings = (target_rank, max_flips, plateau, plus_transitions, seed, threads)
    settings += (plateau_max, plus_levels, pool_size, pool_greed)
    masks = np.ascontiguousarray(masks, np.uint64)
    words = lambda x: np.ascontiguousarray(x, np.uint64)  # noqa: E731
    if cubes is None:
        search = core.SixfoldFlipSearch if sixfold else core.FlipSearch
        return search(masks, *settings, [words(x) for x in given or []], sixfold, luby)
    given = [(words(orbits), words(more_cubes)) for orbits, more_cubes in given or []]
    return core.SymmetricFlipSearch(masks, words(cubes), *settings, given, luby)


def brent_system(factors: list[np.ndarray], column: np.ndarray):
    """The linearised Brent equations mod 2 at a Z2 scheme, factored once for many solves.

    Args:
      factors: [U, V, W], 0/1 arrays [R, I], [R, J], [R, K].
      column: int64[R·(I+J+K)], the system's column of each unknown (U, V, W flattened).

    Returns:
      ``gf2::LinearSystem``: ``solve(packed right-hand side) -> packed solution or None``.
    """
    core = _require_core("Hensel lifting")
    rows = core.brent_jacobian(*(f.astype(np.uint8) for f in factors), np.ascontiguousarray(column, np.int64))
    return core.Gf2System(rows, len(column))

"""Native kernels (the compiled ``gamify._core``) behind checked Python wrappers.

Two ways in:

* host functions on numpy arrays (:func:`gf2_rank`, :func:`slice_rank_bound_host`,
  :func:`subtract_terms`, :func:`subtract_terms_packed`, :func:`verify_scheme`), each with
  a reference implementation giving identical results;
* XLA FFI handlers called from inside jitted JAX code on CPU, with no Python and no GIL
  (:func:`tensor_bound`, :func:`tensor_step`): the tensor game's rank bound and move. They
  run only when lowering for CPU (``jax.lax.platform_dependent``); on GPU the JAX
  reference runs instead.

If the compiled module cannot be imported (e.g. running from a source tree that was never
built), or was built without XLA's FFI headers, gamify warns once and uses the reference.

Bit-packed GF(2) matrices: a matrix with at most 64 columns is a row of uint64
words, bit ``c`` of word ``r`` being entry ``(r, c)``. A batch of B matrices with R
rows each is a ``uint64[B, R]`` array.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

try:
    from gamify import _core
except ImportError as err:  # pragma: no cover - depends on how gamify was installed
    _core = None
    _import_error: ImportError | None = err
else:
    _import_error = None

_warned = False

__all__ = [
    "available",
    "ffi_available",
    "gf2_rank",
    "host_kernel",
    "numpy_gf2_rank",
    "slice_rank_bound_host",
    "subtract_terms",
    "subtract_terms_packed",
    "tensor_bound",
    "tensor_step",
    "verify_scheme",
]


def available() -> bool:
    """Whether the compiled extension ``gamify._core`` was imported."""
    return _core is not None


def warn_no_ffi() -> None:
    """Warns once that the FFI kernels are missing and the JAX reference runs inside jit."""
    global _warned
    if not _warned:
        _warned = True
        why = _import_error or "built without XLA's FFI headers"
        warnings.warn(
            f"gamify's native kernels cannot run inside jit ({why}); using the slower JAX "
            "implementation. Reinstall gamify with `pip install .` to build them.",
            RuntimeWarning,
            stacklevel=3,
        )


@functools.cache
def ffi_available() -> bool:
    """Whether the native kernels can be called inside jit (registers the XLA FFI handlers for CPU).

    jax is imported here, not with this module, so host-only users (``gamify verify``) skip it.
    """
    import jax

    targets = _core.ffi_targets() if _core is not None else {}
    for name, capsule in targets.items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")
    return bool(targets)


def _warn_fallback() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"gamify._core is not available ({_import_error}); using the slower numpy "
            "implementation. Reinstall gamify with `pip install .` to build it.",
            RuntimeWarning,
            stacklevel=3,
        )


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
    if _core is None:
        _warn_fallback()
        return numpy_gf2_rank(rows)
    return _core.gf2_rank(rows)


# --------------------------------------------------------------------------- tensor game kernels


def _jax_dtype(field: str):
    import jax.numpy as jnp

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
    import jax

    if not ffi_available():
        return reference(residual)
    residual = residual.astype(_jax_dtype(field))
    out = jax.ShapeDtypeStruct(residual.shape[:-3], np.int32)
    native = jax.ffi.ffi_call(f"gamify_bound_{field}", out, vmap_method="broadcast_all")
    return jax.lax.platform_dependent(residual, cpu=native, default=reference)


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
    import jax

    if not ffi_available():
        return reference(residual, u, v, w)
    dtype = _jax_dtype(field)
    args = [x.astype(dtype) for x in (residual, u, v, w)]
    out = (jax.ShapeDtypeStruct(residual.shape, dtype), jax.ShapeDtypeStruct(residual.shape[:-3], np.int32))
    native = jax.ffi.ffi_call(f"gamify_step_{field}", out, vmap_method="broadcast_all")
    return jax.lax.platform_dependent(*args, cpu=lambda *a: tuple(native(*a)), default=reference)


def host_kernel(address: int, item_shape, in_dtype, out_shape, out_dtype, *, keep_alive=None, reference=None):
    """A JAX function that calls a C function inside jit on CPU (gamify's FFI trampoline).

    The C function has the signature ``void fn(const in_t* in, out_t* out, int64_t batch)``
    and maps ``batch`` items of ``item_shape`` to ``batch`` items of ``out_shape``, C order;
    a ``numba.cfunc`` is the intended source (see :mod:`gamify.numba_kernels`). XLA calls it
    with no Python and no GIL. gamify cannot check the function: a wrong signature crashes.

    Args:
      address: the function's address (``cfunc.address``).
      item_shape, in_dtype: one input item; inputs are [..., *item_shape].
      out_shape, out_dtype: one output item; outputs are [..., *out_shape].
      keep_alive: an object owning the code (the cfunc), kept as long as the function.
      reference: a JAX function with the same meaning, used on other platforms.

    Returns:
      ``f(x)``, jit- and vmap-friendly.
    """
    import jax

    if not ffi_available():
        raise RuntimeError("host_kernel needs gamify._core built with XLA's FFI headers (pip install .)")
    item_shape, out_shape = tuple(item_shape), tuple(out_shape)

    def call(x):
        if x.dtype != np.dtype(in_dtype) or x.shape[x.ndim - len(item_shape) :] != item_shape:
            raise ValueError(
                f"expected {np.dtype(in_dtype)}[..., {item_shape}], got {x.dtype}{list(x.shape)}"
            )
        batch = x.shape[: x.ndim - len(item_shape)]
        out = jax.ShapeDtypeStruct(batch + out_shape, out_dtype)
        native_call = jax.ffi.ffi_call("gamify_host_kernel", out, vmap_method="broadcast_all")
        run = lambda y: native_call(y, fn=np.int64(address), item_rank=np.int64(len(item_shape)))  # noqa: E731
        if reference is None:
            return run(x)
        return jax.lax.platform_dependent(x, cpu=run, default=reference)

    call.keep_alive = keep_alive
    return call


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
    if _core is not None:
        return _core.slice_rank_bound(residual, z2)
    _warn_fallback()
    import jax

    from gamify.games.tensor_decomposition import slice_rank_bound

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
    if _core is not None:
        return _core.subtract_terms(residual, *factors, z2)
    _warn_fallback()
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
    if _core is not None:
        return _core.subtract_terms_packed(words, *factors)
    _warn_fallback()
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
    if _core is None:
        return None
    first, count = _core.verify(*(np.ascontiguousarray(x, np.int64) for x in (u, v, w, target)), z2)
    return None if first == -2 else (first, count)

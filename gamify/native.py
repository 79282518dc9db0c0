"""Native kernels (the compiled ``gamify._core``) behind checked Python wrappers.

Every kernel has a numpy reference implementation with identical results. If the
compiled module cannot be imported (e.g. running from a source tree that was never
built), the wrappers warn once and fall back to the reference.

Bit-packed GF(2) matrices: a matrix with at most 64 columns is a row of uint64
words, bit ``c`` of word ``r`` being entry ``(r, c)``. A batch of B matrices with R
rows each is a ``uint64[B, R]`` array.
"""

from __future__ import annotations

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

__all__ = ["available", "gf2_rank", "numpy_gf2_rank"]


def available() -> bool:
    """Whether the compiled extension ``gamify._core`` was imported."""
    return _core is not None


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

"""numba for game authors: host kernels in Python, callable inside jit without Python.

A game written in Python can put its heavy host-side work (rank bounds, demonstration
generation, verification, local search) in ``numba.njit`` functions and call them
from numpy code as usual. To call one *inside* a jitted search, compile it as a
``numba.cfunc`` with the C signature ``void(in*, out*, int64 batch)`` and wrap its
address with :func:`gamify.native.host_kernel`: XLA then calls the machine code
directly through gamify's FFI trampoline, with no Python and no GIL (unlike
``jax.pure_callback``, which re-enters Python on every call). This module does that for
the tensor game's GF(2) slice-rank bound, as the worked example (and the numba side of
the parity tests and the stepper suite of ``gamify bench throughput``)::

    bound = numba_bound.slice_rank_bound_z2_jax((4, 4, 4))  # int8[..., 4, 4, 4] -> int32[...]
    jax.jit(jax.vmap(bound))(residuals)
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import types

from gamify import native

__all__ = ["slice_rank_bound_z2", "slice_rank_bound_z2_cfunc", "slice_rank_bound_z2_jax"]


@numba.njit(nogil=True, cache=False)
def _gf2_rank(rows: np.ndarray) -> int:
    """Rank over GF(2) of bit-packed rows (uint64, bit c = column c): an XOR basis by leading bit."""
    basis = np.zeros(64, np.uint64)
    rank = 0
    for x in rows:
        while x != 0:
            lead = 63
            while (x >> np.uint64(lead)) & np.uint64(1) == 0:
                lead -= 1
            if basis[lead] == 0:
                basis[lead] = x
                rank += 1
                break
            x ^= basis[lead]
    return rank


@numba.njit(nogil=True, cache=False)
def slice_rank_bound_z2(t: np.ndarray) -> int:
    """The tensor game's slice-rank bound of one int8 tensor [I, J, K] over GF(2) (dimensions <= 64)."""
    dim_i, dim_j, dim_k = t.shape
    by_i = np.zeros((dim_i, dim_j), np.uint64)
    by_j = np.zeros((dim_j, dim_i), np.uint64)
    by_k = np.zeros((dim_k, dim_i), np.uint64)
    for i in range(dim_i):
        for j in range(dim_j):
            bits = np.uint64(0)
            for k in range(dim_k):
                if t[i, j, k] != 0:
                    bits |= np.uint64(1) << np.uint64(k)
                    by_k[k, i] |= np.uint64(1) << np.uint64(j)
            by_i[i, j] = bits
            by_j[j, i] = bits
    sums = [0, 0, 0]
    for i in range(dim_i):
        sums[0] += _gf2_rank(by_i[i])
    for j in range(dim_j):
        sums[1] += _gf2_rank(by_j[j])
    for k in range(dim_k):
        sums[2] += _gf2_rank(by_k[k])
    return min(sums[0], min(sums[1], sums[2]))


@functools.cache
def slice_rank_bound_z2_cfunc(shape: tuple[int, int, int]):
    """A ``numba.cfunc`` ``void(int8* residuals, int32* bounds, int64 batch)`` for tensors of ``shape``."""
    dim_i, dim_j, dim_k = shape
    signature = types.void(types.CPointer(types.int8), types.CPointer(types.int32), types.int64)

    @numba.cfunc(signature, nopython=True)
    def kernel(residuals, bounds, batch):
        tensors = numba.carray(residuals, (batch, dim_i, dim_j, dim_k))
        out = numba.carray(bounds, (batch,))
        for b in range(batch):
            out[b] = slice_rank_bound_z2(tensors[b])

    return kernel


def slice_rank_bound_z2_jax(shape: tuple[int, int, int]):
    """A JAX function ``int8[..., I, J, K] -> int32[...]`` running the numba kernel inside jit (CPU)."""
    shape = tuple(int(size) for size in shape)
    kernel = slice_rank_bound_z2_cfunc(shape)
    return native.host_kernel(kernel.address, shape, np.int8, (), np.int32, keep_alive=kernel)

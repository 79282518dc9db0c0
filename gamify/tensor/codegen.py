"""Schemes as code: a verified scheme for ⟨n,m,p⟩ run as a matrix-multiplication routine.

One level splits A (N×M) into n×m blocks and B (M×P) into m×p blocks, forms the R linear
combinations of blocks the terms ask for, multiplies them pairwise (R block products where
the definition takes n·m·p) and assembles the blocks of C from the w factors. With
``levels=L`` the R block products are themselves done by the scheme, L times over (the
Strassen recursion); at the bottom the library matmul does them.

The factor conventions are :mod:`gamify.tensor.scheme`'s: u indexes A row-major, v indexes B
row-major and w indexes Cᵀ row-major, so term r computes
``M_r = (Σ u[r, i*m+j] A_ij) (Σ v[r, j*p+k] B_jk)`` and ``C_ik = Σ_r w[r, k*n+i] M_r``.
Each linear combination is one small matrix product of a factor matrix with the stack of
blocks, so no Python loop runs over terms or entries.

The Brent equations hold in any ring, commutative or not, so a scheme checked exactly
over Z (or Q) gives A @ B exactly for integer matrices (even where int64 wraps around: the
result then wraps exactly as the library's does) and up to rounding for floats. A Z2
scheme is only known to be right mod 2; it is used only when it also verifies over Z.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from gamify.tensor.matmul import matmul_sizes
from gamify.tensor.scheme import Scheme

Combine = Callable  # (coefficients [R, K], stack [..., K, X]) -> [..., R, X]: a matrix product


def strassen() -> Scheme:
    """Strassen's 1969 scheme for ⟨2,2,2⟩: 7 products over Z.

    M1 = (A11+A22)(B11+B22), M2 = (A21+A22)B11, M3 = A11(B12−B22), M4 = A22(B21−B11),
    M5 = (A11+A12)B22, M6 = (A21−A11)(B11+B12), M7 = (A12−A22)(B21+B22);
    C11 = M1+M4−M5+M7, C12 = M3+M5, C21 = M2+M4, C22 = M1−M2+M3+M6.
    """
    u = [[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [-1, 0, 1, 0], [0, 1, 0, -1]]
    v = [[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]
    # w: entries of Cᵀ row-major, i.e. the order C11, C21, C12, C22
    w = [[1, 0, 0, 1], [0, 1, 0, -1], [0, 0, 1, 1], [1, 1, 0, 0], [-1, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]
    return Scheme(np.array(u), np.array(v), np.array(w), field="z", matmul=(2, 2, 2))


def _checked(scheme: Scheme) -> Scheme:
    """The scheme with ``matmul`` set, verified for real arithmetic (a Z2 one lifted as is to Z)."""
    sizes = scheme.matmul or matmul_sizes(scheme.shape)
    if sizes is None:
        raise ValueError(f"shape {scheme.shape} is not the shape of a matrix-multiplication tensor")
    scheme = dataclasses.replace(scheme, matmul=sizes)
    what = "the rank-{} scheme for ⟨{},{},{}⟩".format(scheme.rank, *sizes)
    result = scheme.verify()
    if not result.ok:
        raise ValueError(f"{what} does not verify over {scheme.field.upper()}: {result}")
    if scheme.field == "z2":
        scheme = Scheme(scheme.u, scheme.v, scheme.w, field="z", matmul=sizes)
        result = scheme.verify()
        if not result.ok:
            raise ValueError(
                f"{what} is only correct mod 2 (over Z: {result}); lift it to Z before using it "
                "for real arithmetic"
            )
    return scheme


@dataclasses.dataclass(frozen=True)
class SchemeMatmul:
    """A verified ⟨n,m,p⟩ scheme as a routine for C = A @ B, with numpy or JAX.

    ``SchemeMatmul(strassen(), levels=2).numpy(a, b)`` equals ``a @ b``;
    ``jax.jit(SchemeMatmul(scheme).jax)`` is the compiled JAX version.

    Attributes:
      scheme: the scheme; the constructor checks it exactly and fills in ``matmul``
        (raising a one-line ValueError naming the rank and the failed equation otherwise).
      levels: recursion depth L >= 1: the sizes must be multiples of n^L, m^L, p^L.
      pad: pad other sizes with zeros up to those multiples (and strip the padding from
        C); when False, such sizes raise ValueError.
    """

    scheme: Scheme
    levels: int = 1
    pad: bool = True

    def __post_init__(self):
        if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)) or self.levels < 1:
            raise ValueError(f"levels must be a positive integer, got {self.levels!r}")
        object.__setattr__(self, "scheme", _checked(self.scheme))

    def padded_shape(self, rows: int, inner: int, cols: int) -> tuple[int, int, int]:
        """The sizes (N, M, P) of an N×M by M×P product after padding to whole blocks.

        Raises:
          ValueError: ``pad`` is False and some size is not a multiple of n^L, m^L, p^L.
        """
        multiples = tuple(size**self.levels for size in self.scheme.matmul)
        shape = (rows, inner, cols)
        padded = tuple(-(-size // k) * k for size, k in zip(shape, multiples, strict=True))
        if padded != shape and not self.pad:
            n, m, p = self.scheme.matmul
            levels = f"{self.levels} level{'s' if self.levels > 1 else ''}"
            raise ValueError(
                f"a {rows}×{inner} by {inner}×{cols} product does not split into ⟨{n},{m},{p}⟩ blocks "
                f"over {levels}: the sizes must be multiples of {multiples} (or pad with zeros)"
            )
        return padded

    def numpy(self, a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
        """A @ B by the scheme with numpy: [..., N, M] @ [..., M, P] -> [..., N, P]."""
        a, b = np.asarray(a), np.asarray(b)
        dtype = np.result_type(a, b)
        return self._multiply(np, np.matmul, a.astype(dtype, copy=False), b.astype(dtype, copy=False))

    def jax(self, a: jax.typing.ArrayLike, b: jax.typing.ArrayLike) -> jax.Array:
        """A @ B by the scheme in pure jax.numpy (jit-able): [..., N, M] @ [..., M, P] -> [..., N, P].

        The block products run at the default matmul precision, as the library matmul does;
        the linear combinations at the highest, so that none of their error is added on
        devices whose default float32 matmul rounds its inputs (TF32).
        """
        a, b = jnp.asarray(a), jnp.asarray(b)
        dtype = jnp.result_type(a, b)
        combine = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
        return self._multiply(jnp, combine, a.astype(dtype), b.astype(dtype))

    def _multiply(self, xp: ModuleType, combine: Combine, a, b):
        """The shared numpy / jax.numpy body: checks, pads, recurses, strips the padding."""
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul needs shapes [..., N, M] and [..., M, P], got {a.shape} and {b.shape}")
        rows, inner, cols = a.shape[-2], a.shape[-1], b.shape[-1]
        padded = self.padded_shape(rows, inner, cols)
        if padded != (rows, inner, cols):
            a = _pad(xp, a, padded[0], padded[1])
            b = _pad(xp, b, padded[1], padded[2])
        factors = self._factors(xp, a.dtype)
        return _level(xp, combine, factors, self.scheme.matmul, a, b, self.levels)[..., :rows, :cols]

    def _factors(self, xp: ModuleType, dtype) -> tuple:
        """(u [R, n*m], v [R, m*p], wᵀ [p*n, R]) as arrays of ``dtype``, the coefficients' values."""
        scheme = self.scheme
        numerators = (scheme.u, scheme.v, scheme.w)
        if xp.issubdtype(dtype, xp.integer):
            if scheme.denominators != (1, 1, 1):
                raise ValueError(
                    f"the rank-{scheme.rank} scheme has fractional coefficients (denominators "
                    f"{scheme.denominators}): integer matrices need an integer scheme; use floats"
                )
            factors = numerators
        elif xp.issubdtype(dtype, xp.inexact):
            factors = [f / d for f, d in zip(numerators, scheme.denominators, strict=True)]
        else:
            raise ValueError(f"matrices of dtype {dtype} are not supported: use integers or floats")
        u, v, w = (np.asarray(f).astype(dtype) for f in factors)  # wraps, for unsigned dtypes
        return xp.asarray(u), xp.asarray(v), xp.asarray(w.T)


def _pad(xp: ModuleType, x, rows: int, cols: int):
    """x [..., r, c] with zeros appended up to [..., rows, cols]."""
    widths = [(0, 0)] * (x.ndim - 2) + [(0, rows - x.shape[-2]), (0, cols - x.shape[-1])]
    return xp.pad(x, widths)


def _blocks(x, rows: int, cols: int):
    """x [..., H, W] as its rows×cols grid of blocks, row-major: [..., rows*cols, (H/rows)*(W/cols)]."""
    *batch, height, width = x.shape
    grid = x.reshape(*batch, rows, height // rows, cols, width // cols).swapaxes(-3, -2)
    return grid.reshape(*batch, rows * cols, (height // rows) * (width // cols))


def _level(xp: ModuleType, combine: Combine, factors: tuple, sizes: tuple[int, int, int], a, b, levels: int):
    """A @ B with the scheme ``levels`` deep: [..., N, M] @ [..., M, P] -> [..., N, P].

    The R block products carry a batch axis [..., R, ...] into the next level, so level L
    multiplies R^L pairs of blocks of size (N/n^L)×(M/m^L) by (M/m^L)×(P/p^L).
    """
    if levels == 0:
        return xp.matmul(a, b)
    u, v, w_t = factors
    n, m, p = sizes
    *batch_a, rows, inner = a.shape
    *batch_b, _, cols = b.shape
    height, depth, width = rows // n, inner // m, cols // p
    left = combine(u, _blocks(a, n, m)).reshape(*batch_a, -1, height, depth)  # [..., R, N/n, M/m]
    right = combine(v, _blocks(b, m, p)).reshape(*batch_b, -1, depth, width)  # [..., R, M/m, P/p]
    products = _level(xp, combine, factors, sizes, left, right, levels - 1)  # [..., R, N/n, P/p]
    *batch, terms, _, _ = products.shape
    c_t = combine(w_t, products.reshape(*batch, terms, height * width))  # [..., p*n, ...]: blocks of Cᵀ
    c = xp.moveaxis(c_t.reshape(*batch, p, n, height, width), -4, -2)  # [..., n, N/n, p, P/p]
    return c.reshape(*batch, rows, cols)

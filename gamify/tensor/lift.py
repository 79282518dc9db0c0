"""Hensel lifting: from a scheme valid mod 2 to one valid over Z (or Q), verified exactly.

A scheme (U, V, W) with Σ_r u_r ⊗ v_r ⊗ w_r ≡ T (mod 2) is lifted 2-adically, one bit
at a time (Kauers & Moosbauer 2022, "Flip graphs for matrix multiplication"): with
Σ u⊗v⊗w ≡ T (mod 2^k), writing U + 2^k·ΔU (and so on) turns the Brent equations mod 2^(k+1)
into the linear system

    Σ_r Δu_r ⊗ v_r ⊗ w_r + u_r ⊗ Δv_r ⊗ w_r + u_r ⊗ v_r ⊗ Δw_r ≡ (T − Σ u⊗v⊗w) / 2^k  (mod 2),

whose matrix depends only on the scheme mod 2, so it is factored once (C++,
``gf2::LinearSystem``) and each step is a cheap solve; free unknowns are set to 0, which
keeps corrections small. After ``bits`` steps every coefficient is known mod 2^bits and
rational reconstruction turns it into the fraction a/b (b odd) with the smallest |a|, b;
the result is verified exactly over Q. A scheme that relies on 1 + 1 = 0 (such as
AlphaTensor's rank-47 ⟨4,4,4⟩) stops with :class:`LiftError` at the step whose system has
no solution.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from gamify.tensor import kernels
from gamify.tensor.matmul import matmul_tensor
from gamify.tensor.scheme import Scheme

__all__ = ["LiftError", "hensel_lift"]

DEFAULT_BITS = 32  # reconstructs numerators and denominators up to about 2^15.5
MAX_SYSTEM_BYTES = 2 << 30  # ⟨5,5,5⟩ at rank 93 needs ~27 MB; ⟨8,8,8⟩ at rank 343 ~3.7 GB


class LiftError(ValueError):
    """The scheme does not lift to Z or Q along the 2-adic path (the reason says where)."""


def _packed(bits: np.ndarray) -> np.ndarray:
    """Bool [..., n] → uint64 [..., ceil(n / 64)], bit c in word c // 64 (little-endian)."""
    pad = (-bits.shape[-1]) % 64
    if pad:
        bits = np.concatenate([bits, np.zeros((*bits.shape[:-1], pad), bool)], axis=-1)
    packed = np.packbits(np.ascontiguousarray(bits), axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8")


def _unpacked(words: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(words.view(np.uint8), bitorder="little")[:n].astype(np.uint64)


def _system(factors: list[np.ndarray], order: np.ndarray):
    """The linearised Brent equations mod 2 at the scheme (unknowns permuted by ``order``), factored."""
    equations = factors[0].shape[1] * factors[1].shape[1] * factors[2].shape[1]
    unknowns = len(order)
    size = 2 * equations * unknowns / 8  # the packed matrix and the recorded row operations
    if size > MAX_SYSTEM_BYTES:
        raise ValueError(
            f"lifting this scheme needs a {equations} × {unknowns} system over GF(2) "
            f"(~{size / 2**30:.1f} GiB); the limit is {MAX_SYSTEM_BYTES / 2**30:.0f} GiB"
        )
    column = np.empty(unknowns, np.int64)
    column[order] = np.arange(unknowns)
    return kernels.brent_system(factors, column)


def _reconstruct(value: int, modulus: int) -> Fraction | None:
    """The fraction a/b ≡ value (mod modulus), b odd, with |a|, b ≤ √(modulus / 2), or None.

    Wang's rational reconstruction: the extended Euclidean algorithm on (modulus, value),
    stopped at the first remainder below the bound.
    """
    bound = math.isqrt(modulus // 2)
    r0, r1, t0, t1 = modulus, value % modulus, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, t0, t1 = r1, r0 - q * r1, t1, t0 - q * t1
    if t1 == 0 or abs(t1) > bound or t1 % 2 == 0:
        return None
    return Fraction(r1, t1)


def _rational(values: np.ndarray, bits: int) -> np.ndarray | None:
    """Object array of ints/Fractions reconstructed from uint64 residues mod 2^bits, or None."""
    modulus = 1 << bits
    out = np.empty(values.shape, object)
    for index, value in np.ndenumerate(values):
        fraction = _reconstruct(int(value), modulus)
        if fraction is None:
            return None
        out[index] = fraction.numerator if fraction.denominator == 1 else fraction
    return out


def hensel_lift(scheme: Scheme, target: np.ndarray | None = None, *, bits: int = DEFAULT_BITS) -> Scheme:
    """Lifts a scheme valid mod 2 to one valid over Z (field "z") or Q (field "q").

    Args:
      scheme: any scheme (a Z scheme is taken mod 2); it must decompose the target mod 2.
      target: the integer tensor to decompose (default: ``scheme.matmul``'s).
      bits: 2-adic precision, 2 ≤ bits ≤ 62; coefficients are reconstructed as fractions
        with numerator and denominator up to about 2^(bits/2 − 1).

    Returns:
      The lifted scheme, verified exactly against ``target``; its coefficients reduce
      mod 2 to the given scheme's (denominators are odd).

    Raises:
      LiftError: the linearised equations have no solution at some step (the scheme may
        only exist in characteristic 2), or no small fractions fit the 2-adic solution.
      ValueError: bad arguments, or the scheme is wrong mod 2.
    """
    if not 2 <= bits <= 62:
        raise ValueError(f"bits must be in [2, 62], got {bits}")
    base = scheme.to_z2()
    if target is None:
        if scheme.matmul is None:
            raise ValueError("pass target= or a scheme with matmul=(n, m, p)")
        target = matmul_tensor(*scheme.matmul)
    target = np.asarray(target)
    check = base.verify(target)
    if not check.ok:
        raise ValueError(f"the scheme is wrong mod 2, nothing to lift: {check}")
    factors = [f.astype(np.uint64) for f in (base.u, base.v, base.w)]
    sizes = [f.size for f in factors]
    # Gauss-Jordan takes pivots in column order and leaves later unknowns free (0): listing
    # the scheme's nonzero coefficients first puts the corrections there (1 → −1 = 1 − 2, ...)
    # rather than on new entries, which keeps the lifted coefficients small.
    order = np.argsort(~np.concatenate([f.reshape(-1) for f in factors]).astype(bool), kind="stable")
    system = _system(factors, order)
    wanted = target.astype(np.int64).astype(np.uint64)  # uint64 arithmetic is exact mod 2^64
    for step in range(1, bits):
        residual = wanted - np.einsum("ri,rj,rk->ijk", *factors)  # ≡ 0 mod 2^step
        rhs = ((residual >> np.uint64(step)) & np.uint64(1)).astype(bool).reshape(-1)
        solution = system.solve(_packed(rhs))
        if solution is None:
            raise LiftError(
                f"the rank-{scheme.rank} scheme does not lift: the linearised Brent equations have "
                f"no solution mod 2^{step + 1} (it may only work in characteristic 2)"
            )
        delta = np.empty(sum(sizes), np.uint64)
        delta[order] = _unpacked(solution, sum(sizes))
        delta = np.split(delta, np.cumsum(sizes)[:-1])
        for factor, d in zip(factors, delta, strict=True):
            factor += d.reshape(factor.shape) << np.uint64(step)
    mask = np.uint64((1 << bits) - 1)
    fractions = [_rational(f & mask, bits) for f in factors]
    if any(f is None for f in fractions):
        raise LiftError(
            f"the rank-{scheme.rank} scheme lifts mod 2^{bits}, but some coefficient is no fraction "
            f"with numerator and denominator below 2^{bits // 2 - 1} (try more bits)"
        )
    lifted = Scheme.from_fractions(*fractions, matmul=scheme.matmul)
    if lifted.denominators == (1, 1, 1):
        lifted = Scheme(lifted.u, lifted.v, lifted.w, "z", scheme.matmul)
    check = lifted.verify(target)
    if not check.ok:
        raise LiftError(
            f"the rank-{scheme.rank} scheme lifts mod 2^{bits}, but the small fractions found do not "
            f"decompose the tensor exactly ({check}; try more bits)"
        )
    return lifted

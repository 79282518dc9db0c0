"""Schemes (low-rank decompositions of a tensor), checked exactly.

A scheme of rank R for a 3-way tensor T of shape (I, J, K) is R rank-one terms with
``T = Σ_r u_r ⊗ v_r ⊗ w_r``, exactly over the integers (field ``"z"``), modulo 2 (field
``"z2"``) or exactly over the rationals (field ``"q"``). For matrix multiplication ⟨n,m,p⟩ the tensor is
:func:`gamify.tensor.matmul_tensor`: u indexes A row-major, v indexes B row-major and w
indexes Cᵀ row-major (the convention DeepMind and AlphaEvolve publish), so term r computes
``m_r = (Σ u[r, i*m+j] A[i,j]) · (Σ v[r, j*p+k] B[j,k])`` and ``C[i,k] = Σ_r w[r, k*n+i] m_r``.

Coefficients are int64. A rational scheme (such as the 27 recombined AlphaTensor schemes
with coefficients like ±1/2 or ±1/8) stores integer numerators and one positive common
denominator per factor matrix, ``u / du``, ``v / dv``, ``w / dw``, so it is checked in exact
integers too: ``Σ_r U_r ⊗ V_r ⊗ W_r = du·dv·dw · T``. Nothing is ever rounded.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from gamify.tensor import kernels
from gamify.tensor.matmul import brent_reading, matmul_tensor

FIELDS = ("z2", "z", "q")

_FLOAT_EXACT = 2**53  # integers below this, and sums of them below it, are exact in float64
_INT64_EXACT = 2**63
_CHUNK = 256  # terms per block in tensor(): bounds the [terms, I*J] intermediate


@dataclasses.dataclass(frozen=True)
class Verification:
    """The outcome of checking a scheme against a target tensor, equation by equation.

    Every entry (i, j, k) of the target is one Brent equation
    ``Σ_r u[r,i] v[r,j] w[r,k] = T[i,j,k]`` (mod 2 over Z2).

    Attributes:
      ok: every equation holds.
      num_violated: how many equations fail.
      index: the first failing equation (i, j, k) in C order, or None when ok.
      got: the scheme's value there (reduced mod 2 over Z2; a Fraction over Q when not whole).
      expected: the target's value there (reduced mod 2 over Z2).
      reading: for a matmul scheme, the equation in words ("coefficient of a12*b21 in c11").
    """

    ok: bool
    num_violated: int = 0
    index: tuple[int, int, int] | None = None
    got: int | Fraction | None = None
    expected: int | None = None
    reading: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return "OK"
        where = "T[{},{},{}]".format(*self.index) + (f" ({self.reading})" if self.reading else "")
        count = f"{self.num_violated} equation{'s' if self.num_violated > 1 else ''} violated"
        return f"{where}: got {self.got}, expected {self.expected}; {count}"


def _factor(name: str, values) -> np.ndarray:
    """Validates one factor matrix and returns it as a read-only int64 copy."""
    array = np.asarray(values)
    if array.dtype.kind not in "biu":
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array [terms, entries] with entries >= 1, got {array.shape}")
    if array.dtype.kind == "u" and array.size and array.max() >= _INT64_EXACT:
        raise ValueError(f"{name} holds a coefficient too large for int64")
    array = array.astype(np.int64)
    array.setflags(write=False)
    return array


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Scheme:
    """R rank-one terms u_r ⊗ v_r ⊗ w_r with exact integer, mod-2 or rational coefficients.

    Attributes:
      u: [R, I] int64, one row per term (for ⟨n,m,p⟩: I = n*m, entries of A row-major).
      v: [R, J] int64 (J = m*p, entries of B row-major).
      w: [R, K] int64 (K = p*n, entries of Cᵀ row-major).
      field: "z" (exact integers), "z2" (every coefficient 0 or 1, arithmetic mod 2) or
        "q" (exact rationals: u, v, w are numerators over ``denominators``).
      matmul: (n, m, p) when the scheme is meant for matrix multiplication ⟨n,m,p⟩.
      denominators: (du, dv, dw), positive; the coefficients are u/du, v/dv, w/dw. Only a
        Q scheme has denominators other than 1. Build one from fractions with
        :meth:`from_fractions`.

    The constructor copies the factors into read-only int64 arrays and checks shapes,
    dtypes, the field (a Z2 scheme holds only 0 and 1: reduce a Z scheme with
    :meth:`to_z2`) and that ``matmul`` fits the shape. A Q scheme is stored in lowest terms
    (each factor's numerators and denominator share no common divisor), so equality, which
    compares all six fields, compares values.
    """

    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    field: str = "z"
    matmul: tuple[int, int, int] | None = None
    denominators: tuple[int, int, int] = (1, 1, 1)

    def __post_init__(self):
        if self.field not in FIELDS:
            raise ValueError(f"field must be one of {', '.join(FIELDS)}, got {self.field!r}")
        factors = {name: _factor(name, getattr(self, name)) for name in ("u", "v", "w")}
        self._set_denominators(factors)
        rows = [factor.shape[0] for factor in factors.values()]
        if len(set(rows)) != 1:
            raise ValueError(f"u, v, w must have one row per term, got {rows[0]}, {rows[1]}, {rows[2]} rows")
        if self.field == "z2":
            for name, factor in factors.items():
                outside = factor[(factor != 0) & (factor != 1)]
                if outside.size:
                    raise ValueError(
                        f"a Z2 scheme holds only 0 and 1, but {name} holds {outside[0]}; "
                        "reduce a Z scheme with Scheme.to_z2()"
                    )
        for name, factor in factors.items():
            object.__setattr__(self, name, factor)
        if self.matmul is not None:
            sizes = tuple(self.matmul) if isinstance(self.matmul, (tuple, list)) else ()
            if len(sizes) != 3 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
                raise ValueError(f"matmul must be three positive integers (n, m, p), got {self.matmul!r}")
            n, m, p = (int(s) for s in sizes)
            if (n * m, m * p, p * n) != self.shape:
                raise ValueError(
                    f"shape {self.shape} is not the shape {(n * m, m * p, p * n)} of ⟨{n},{m},{p}⟩"
                )
            object.__setattr__(self, "matmul", (n, m, p))

    def _set_denominators(self, factors: dict[str, np.ndarray]) -> None:
        """Checks ``denominators`` and, over Q, puts each factor in lowest terms (in place)."""
        given = self.denominators
        if not (
            isinstance(given, (tuple, list))
            and len(given) == 3
            and all(isinstance(d, (int, np.integer)) and 1 <= d < _INT64_EXACT for d in given)
        ):
            raise ValueError(f"denominators must be three positive integers, got {given!r}")
        denominators = [int(d) for d in given]
        if self.field != "q" and denominators != [1, 1, 1]:
            raise ValueError(f"only a Q scheme has denominators, got {tuple(denominators)} over {self.field}")
        for i, name in enumerate("uvw"):
            common = math.gcd(denominators[i], *np.unique(np.abs(factors[name])).tolist())
            if common > 1:
                factors[name] = factors[name] // common
                factors[name].setflags(write=False)
                denominators[i] //= common
        object.__setattr__(self, "denominators", tuple(denominators))

    @classmethod
    def from_fractions(cls, u, v, w, matmul: tuple[int, int, int] | None = None) -> Scheme:
        """A Q scheme from factors holding ints and :class:`fractions.Fraction` values.

        Args:
          u, v, w: [R, I], [R, J], [R, K] array-likes of ints, Fractions or floats (a float
            is taken at its exact binary value, so 0.5 is 1/2 but 0.1 is not 1/10).
          matmul: (n, m, p), as for the constructor.

        Returns:
          The scheme over Q with each factor over its least common denominator.
        """
        pairs = [_over_common_denominator(name, f) for name, f in zip("uvw", (u, v, w), strict=True)]
        numerators, denominators = zip(*pairs, strict=True)
        return cls(*numerators, field="q", matmul=matmul, denominators=tuple(denominators))

    def fractions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v, w) as object arrays of ints and Fractions: the coefficients as values."""
        return tuple(
            _as_fractions(factor, d)
            for factor, d in zip((self.u, self.v, self.w), self.denominators, strict=True)
        )

    @property
    def rank(self) -> int:
        """The number of terms R."""
        return self.u.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(I, J, K), the shape of the tensor the scheme decomposes."""
        return (self.u.shape[1], self.v.shape[1], self.w.shape[1])

    def __eq__(self, other) -> bool:
        if not isinstance(other, Scheme):
            return NotImplemented
        header = (self.field, self.matmul, self.shape, self.denominators)
        return header == (other.field, other.matmul, other.shape, other.denominators) and all(
            np.array_equal(a, b) for a, b in ((self.u, other.u), (self.v, other.v), (self.w, other.w))
        )

    def __hash__(self) -> int:
        factors = (self.u.tobytes(), self.v.tobytes(), self.w.tobytes())
        return hash((self.field, self.matmul, self.denominators, *factors))

    def __repr__(self) -> str:
        return f"Scheme(field={self.field!r}, matmul={self.matmul}, shape={self.shape}, rank={self.rank})"

    def _bound(self) -> int:
        """An upper bound on every partial sum of Σ_r u[r,i] v[r,j] w[r,k], in Python ints."""
        peaks = [
            np.maximum(-f.min(axis=1).astype(object), f.max(axis=1).astype(object))
            for f in (self.u, self.v, self.w)
        ]
        return int(sum(peaks[0] * peaks[1] * peaks[2]))

    def tensor(self) -> np.ndarray:
        """The tensor the scheme computes, exactly (reduced mod 2 over Z2).

        Returns:
          [I, J, K] int64; over Q an object array of ints and Fractions.
        """
        numerators = self._numerator_tensor()
        if self.field == "z2":
            return numerators & 1
        if self.field == "q":
            scale = math.prod(self.denominators)
            values = [Fraction(int(x), scale) for x in numerators.ravel()]
            return np.array([x.numerator if x.denominator == 1 else x for x in values], object).reshape(
                numerators.shape
            )
        return numerators

    def _numerator_tensor(self) -> np.ndarray:
        """Σ_r u_r ⊗ v_r ⊗ w_r of the stored (numerator) factors, not reduced.

        Exact by construction: when every partial sum is below 2**53 in absolute value the
        contraction runs as a float64 matrix product (integers in that range, and their
        sums, are represented exactly); otherwise in int64 when below 2**63.

        Returns:
          [I, J, K] int64.

        Raises:
          ValueError: coefficients so large that int64 could overflow.
        """
        rows_a, rows_b, rows_c = self.shape
        bound = self._bound()
        if bound < _FLOAT_EXACT:
            total = np.zeros((rows_a * rows_b, rows_c))
            for start in range(0, self.rank, _CHUNK):
                u, v, w = (f[start : start + _CHUNK] for f in (self.u, self.v, self.w))
                pairs = (u[:, :, None] * v[:, None, :]).reshape(len(u), -1)
                total += pairs.T.astype(np.float64) @ w.astype(np.float64)
            result = total.astype(np.int64).reshape(rows_a, rows_b, rows_c)
        elif bound < _INT64_EXACT:
            result = np.einsum("ri,rj,rk->ijk", self.u, self.v, self.w)
        else:
            raise ValueError(
                f"coefficients too large for exact int64 arithmetic (partial sums up to {bound})"
            )
        return result

    def verify(self, target: np.ndarray | None = None) -> Verification:
        """Checks the scheme exactly against a target tensor.

        Args:
          target: [I, J, K] integer array; default: the ⟨n,m,p⟩ tensor of ``self.matmul``.
            Over Z2 it is compared mod 2.

        Returns:
          A :class:`Verification`: ok, or the first violated equation with the values.
        """
        if target is None:
            if self.matmul is None:
                raise ValueError(
                    "nothing to verify against: pass target= or give the scheme matmul=(n, m, p)"
                )
            target = matmul_tensor(*self.matmul)
        target = np.asarray(target)
        if target.shape != self.shape:
            raise ValueError(f"target shape {target.shape} differs from the scheme's shape {self.shape}")
        if target.dtype.kind not in "biu":
            raise ValueError(f"target must hold integers, got dtype {target.dtype}")
        target = target.astype(np.int64)
        if self.field == "z2":
            target = target & 1
        scale = math.prod(self.denominators)  # over Q: compare Σ U⊗V⊗W with du·dv·dw·T
        checked = kernels.verify_scheme(self.u, self.v, self.w, target, self.field) if scale == 1 else None
        if checked is None:  # no compiled module, Q, or beyond int64 there: numpy (the reference)
            checked = self._numpy_check(target, scale)
        first, count = checked
        if first < 0:
            return Verification(ok=True)
        index = tuple(int(x) for x in np.unravel_index(first, target.shape))
        columns = [factor[:, x].tolist() for factor, x in zip((self.u, self.v, self.w), index, strict=True)]
        got = sum(a * b * c for a, b, c in zip(*columns, strict=True))  # Python ints: exact
        value = Fraction(got & 1 if self.field == "z2" else got, scale)
        return Verification(
            ok=False,
            num_violated=count,
            index=index,
            got=value.numerator if value.denominator == 1 else value,
            expected=int(target[index]),
            reading=brent_reading(self.matmul, index) if self.matmul else None,
        )

    def _numpy_check(self, target: np.ndarray, scale: int) -> tuple[int, int]:
        """(first violated flat index or -1, number violated), with numpy."""
        got = self._numerator_tensor()
        if self.field == "z2":
            got = got & 1
        elif scale > 1 and int(np.abs(target).max(initial=0)) * scale >= _INT64_EXACT:
            raise ValueError("denominators too large for exact int64 arithmetic")
        wrong = got != target * scale
        return (int(np.argmax(wrong)) if wrong.any() else -1), int(wrong.sum())

    def canonical(self) -> Scheme:
        """A canonical form: the same tensor, rank never higher, one representative per class.

        Two schemes have the same canonical form exactly when one becomes the other by:
        1. adding or removing terms with a zero factor (they contribute nothing);
        2. over Z and Q, changing the signs of two factors of a term, (u, v, w) ≅ (−u, −v, w) ≅
           (−u, v, −w) ≅ (u, −v, −w): each term is normalised so that the first nonzero
           entry of u and of v is positive (w takes the signs);
        3. splitting or merging terms with equal u and v (after step 2):
           (u, v, w₁) + (u, v, w₂) ≅ (u, v, w₁ + w₂), dropped when the sum is zero
           (over Z2, w₁ + w₂ is the XOR, so two equal terms cancel);
        4. reordering terms: they are sorted lexicographically by (u, v, w).
        It removes nothing else: basis changes (the GL symmetries of matmul schemes),
        permutations of u, v, w, the cyclic and transpose symmetries and, over Q, rescaling
        factors (λu, v/λ, w) stay distinct. ``canonical()`` is idempotent.

        Returns:
          A new Scheme with the same field and matmul.
        """
        nonzero = self.u.any(axis=1) & self.v.any(axis=1) & self.w.any(axis=1)
        u, v, w = self.u[nonzero], self.v[nonzero], self.w[nonzero]
        if self.field != "z2":
            sign_u, sign_v = _leading_signs(u), _leading_signs(v)
            u, v, w = u * sign_u[:, None], v * sign_v[:, None], w * (sign_u * sign_v)[:, None]
        pairs, group = np.unique(np.concatenate([u, v], axis=1), axis=0, return_inverse=True)
        merged = np.zeros((len(pairs), w.shape[1]), np.int64)
        np.add.at(merged, group.reshape(-1), w)
        if self.field == "z2":
            merged &= 1
        keep = merged.any(axis=1)
        rows_a = self.shape[0]
        factors = (pairs[keep, :rows_a], pairs[keep, rows_a:], merged[keep])
        return Scheme(*factors, self.field, self.matmul, self.denominators)

    def to_z2(self) -> Scheme:
        """The scheme with every coefficient reduced mod 2 (itself if already over Z2).

        A scheme valid over Z stays valid mod 2; the converse does not hold. A Q scheme
        reduces only when its coefficients are integers.
        """
        if self.field == "z2":
            return self
        if self.denominators != (1, 1, 1):
            raise ValueError(f"a scheme with denominators {self.denominators} has no reduction mod 2")
        return Scheme(self.u & 1, self.v & 1, self.w & 1, "z2", self.matmul)


def _over_common_denominator(name: str, values) -> tuple[np.ndarray, int]:
    """(int64 numerators, least common denominator) of one factor of ints, Fractions or floats."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [terms, entries], got shape {array.shape}")
    if array.dtype.kind in "biu":
        return array.astype(np.int64), 1
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds a coefficient that is not a number")
        for bits in range(53):  # dyadic coefficients (all of AlphaTensor's): vectorised and exact
            scaled = array * 2.0**bits
            if np.abs(scaled).max(initial=0) >= _FLOAT_EXACT:
                break
            if (scaled == np.round(scaled)).all():
                return scaled.astype(np.int64), 2**bits
        array = array.astype(object)
    try:
        fractions = [x if isinstance(x, (int, Fraction)) else Fraction(x) for x in array.ravel().tolist()]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold integers or fractions") from None
    denominator = math.lcm(1, *(f.denominator for f in fractions))
    scaled = [f.numerator * (denominator // f.denominator) for f in fractions]
    if any(not -_INT64_EXACT <= x < _INT64_EXACT for x in scaled) or denominator >= _INT64_EXACT:
        raise ValueError(f"{name} holds a coefficient too large for int64 over its denominator")
    return np.array(scaled, np.int64).reshape(array.shape), denominator


def _as_fractions(numerators: np.ndarray, denominator: int) -> np.ndarray:
    """An object array of ints (where whole) and Fractions: numerators / denominator."""
    values = numerators.tolist() if numerators.ndim == 1 else numerators.ravel().tolist()
    if denominator > 1:
        values = [x // denominator if x % denominator == 0 else Fraction(x, denominator) for x in values]
    result = np.empty(len(values), object)
    result[:] = values
    return result.reshape(numerators.shape)


def _leading_signs(factor: np.ndarray) -> np.ndarray:
    """[R] the sign (±1) of the first nonzero entry of each row (rows must be nonzero)."""
    first = np.argmax(factor != 0, axis=1)
    return np.sign(factor[np.arange(len(factor)), first])

"""Schemes (low-rank decompositions of a tensor), checked exactly.

A scheme of rank R for a 3-way tensor T of shape (I, J, K) is R rank-one terms with
``T = Σ_r u_r ⊗ v_r ⊗ w_r``, exactly over the integers (field ``"z"``), modulo 2 (field
``"z2"``) or exactly over the rationals (field ``"q"``). For matrix multiplication ⟨n,m,p⟩ the tensor is
:func:`gamify.tensor.matmul_tensor`: u indexes A row-major, v indexes B row-major and w
indexes Cᵀ row-major (the convention DeepMind and AlphaEvolve publish), so term r computes
``m_r = (Σ u[r, i*m+j] A[i,j]) · (Σ v[r, j*p+k] B[j,k])`` and ``C[i,k] = Σ_r w[r, k*n+i] m_r``.

Coefficients are int64, or Python ints in object arrays when one is beyond int64 (checked
just as exactly, in Python arithmetic, more slowly). A rational scheme (such as the 27
recombined AlphaTensor schemes with coefficients like ±1/2 or ±1/8) stores integer
numerators and one positive common denominator per factor matrix, ``u / du``, ``v / dv``,
``w / dw``, so it is checked in exact integers too: ``Σ_r U_r ⊗ V_r ⊗ W_r = du·dv·dw · T``.
Nothing is ever rounded.
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
# A matmul tensor with more entries than this is checked one slice at a time, never built
# whole: a small file claiming ⟨25,25,25⟩ must not cost 16·n⁶ bytes.
_DENSE_ENTRIES = 1 << 22
_MAX_ENTRIES = 1 << 36  # beyond this, checking every Brent equation would take hours


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


def _exact_ints(array: np.ndarray) -> np.ndarray:
    """Integers as int64 when every one fits, else as an object array of Python ints."""
    try:
        return array.astype(np.int64)
    except OverflowError:
        exact = np.empty(array.size, object)
        exact[:] = [int(x) for x in array.flat]
        return exact.reshape(array.shape)


def _factor(name: str, values) -> np.ndarray:
    """Validates one factor matrix and returns it as a read-only copy: int64, or an object
    array of Python ints when a coefficient is beyond int64."""
    array = np.asarray(values)
    if array.dtype == object and all(isinstance(x, (int, np.integer)) for x in array.flat):
        array = _exact_ints(array)
    elif array.dtype.kind not in "biu":
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array [terms, entries] with entries >= 1, got {array.shape}")
    if array.dtype.kind == "u" and array.size and array.max() >= _INT64_EXACT:
        raise ValueError(f"{name} holds a coefficient too large for int64")
    array = array if array.dtype == object else array.astype(np.int64)
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
      target: [I, J, K] integers, the tensor decomposed when it is not a matmul tensor (what
        ``gamify search tensor`` finds); :meth:`verify` checks against it by default.

    The constructor copies the factors into read-only int64 arrays (object arrays of Python
    ints when a coefficient is beyond int64) and checks shapes,
    dtypes, the field (a Z2 scheme holds only 0 and 1: reduce a Z scheme with
    :meth:`to_z2`) and that ``matmul`` fits the shape. A Q scheme is stored in lowest terms
    (each factor's numerators and denominator share no common divisor), so equality, which
    compares all seven fields, compares values.
    """

    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    field: str = "z"
    matmul: tuple[int, int, int] | None = None
    denominators: tuple[int, int, int] = (1, 1, 1)
    target: np.ndarray | None = None

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
        if self.target is not None:
            target = np.asarray(self.target)
            if target.dtype.kind not in "biu" or target.shape != self.shape:
                raise ValueError(
                    f"target must be an integer array of the scheme's shape {self.shape}, "
                    f"got {target.dtype} {target.shape}"
                )
            target = target.astype(np.int64)
            target.setflags(write=False)
            object.__setattr__(self, "target", target)

    def _set_denominators(self, factors: dict[str, np.ndarray]) -> None:
        """Checks ``denominators`` and, over Q, puts each factor in lowest terms (in place)."""
        given = self.denominators
        if not (
            isinstance(given, (tuple, list))
            and len(given) == 3
            and all(isinstance(d, (int, np.integer)) and d >= 1 for d in given)
        ):
            raise ValueError(f"denominators must be three positive integers, got {given!r}")
        denominators = [int(d) for d in given]
        if self.field != "q" and denominators != [1, 1, 1]:
            raise ValueError(f"only a Q scheme has denominators, got {tuple(denominators)} over {self.field}")
        for i, name in enumerate("uvw"):
            common = math.gcd(denominators[i], *np.unique(np.abs(factors[name])).tolist())
            if common > 1:
                factors[name] = _exact_ints(factors[name] // common)
                factors[name].setflags(write=False)
                denominators[i] //= common
        object.__setattr__(self, "denominators", tuple(denominators))

    @classmethod
    def from_fractions(cls, u, v, w, matmul: tuple[int, int, int] | None = None, target=None) -> Scheme:
        """A Q scheme from factors holding ints and :class:`fractions.Fraction` values.

        Args:
          u, v, w: [R, I], [R, J], [R, K] array-likes of ints, Fractions or floats (a float
            is taken at its exact binary value, so 0.5 is 1/2 but 0.1 is not 1/10).
          matmul, target: as for the constructor.

        Returns:
          The scheme over Q with each factor over its least common denominator.
        """
        pairs = [_over_common_denominator(name, f) for name, f in zip("uvw", (u, v, w), strict=True)]
        numerators, denominators = zip(*pairs, strict=True)
        return cls(*numerators, field="q", matmul=matmul, denominators=tuple(denominators), target=target)

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
        pairs = ((self.u, other.u), (self.v, other.v), (self.w, other.w), (self.target, other.target))
        return header == (other.field, other.matmul, other.shape, other.denominators) and all(
            np.array_equal(a, b)
            for a, b in pairs  # (None, None) is equal, (None, array) is not
        )

    def __hash__(self) -> int:
        factors = (tuple(f.flat) if f.dtype == object else f.tobytes() for f in (self.u, self.v, self.w))
        target = None if self.target is None else self.target.tobytes()
        return hash((self.field, self.matmul, self.denominators, target, *factors))

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

    @property
    def _wide(self) -> bool:
        """Whether a coefficient is beyond int64 (its factor is then an object array)."""
        return any(f.dtype == object for f in (self.u, self.v, self.w))

    def _numerator_tensor(self, beyond_int64: bool = False) -> np.ndarray:
        """Σ_r u_r ⊗ v_r ⊗ w_r of the stored (numerator) factors, not reduced.

        Exact by construction: when every partial sum is below 2**53 in absolute value the
        contraction runs as a float64 matrix product (integers in that range, and their
        sums, are represented exactly); otherwise in int64 when below 2**63; beyond that,
        with ``beyond_int64``, in Python ints.

        Returns:
          [I, J, K] int64; an object array of Python ints beyond int64.

        Raises:
          ValueError: coefficients so large that int64 could overflow, unless ``beyond_int64``.
        """
        rows_a, rows_b, rows_c = self.shape
        bound = self._bound()
        if bound < _FLOAT_EXACT and not self._wide:
            total = np.zeros((rows_a * rows_b, rows_c))
            for start in range(0, self.rank, _CHUNK):
                u, v, w = (f[start : start + _CHUNK] for f in (self.u, self.v, self.w))
                pairs = (u[:, :, None] * v[:, None, :]).reshape(len(u), -1)
                total += pairs.T.astype(np.float64) @ w.astype(np.float64)
            result = total.astype(np.int64).reshape(rows_a, rows_b, rows_c)
        elif bound < _INT64_EXACT and not self._wide:
            result = np.einsum("ri,rj,rk->ijk", self.u, self.v, self.w)
        elif beyond_int64:  # slow, but exact at any size
            total = np.zeros((rows_a * rows_b, rows_c), object)
            for start in range(0, self.rank, _CHUNK):
                u, v, w = (f[start : start + _CHUNK].astype(object) for f in (self.u, self.v, self.w))
                total += (u[:, :, None] * v[:, None, :]).reshape(len(u), -1).T @ w
            result = total.reshape(rows_a, rows_b, rows_c)
        else:
            raise ValueError(
                f"coefficients too large for exact int64 arithmetic (partial sums up to {bound})"
            )
        return result

    def verify(self, target: np.ndarray | None = None) -> Verification:
        """Checks the scheme exactly against a target tensor.

        Args:
          target: [I, J, K] integer array; default: ``self.target``, else the ⟨n,m,p⟩ tensor
            of ``self.matmul``
            (checked slice by slice when large, so memory stays ~J·K entries).
            Over Z2 it is compared mod 2.

        Returns:
          A :class:`Verification`: ok, or the first violated equation with the values.

        Raises:
          ValueError: no target, a target of the wrong shape or dtype, coefficients beyond
            exact int64 arithmetic, or more than 2**36 equations to check.
        """
        scale = math.prod(self.denominators)  # over Q: compare Σ U⊗V⊗W with du·dv·dw·T
        if target is None:
            target = self.target
        if target is None:
            if self.matmul is None:
                raise ValueError(
                    "nothing to verify against: pass target= or give the scheme matmul=(n, m, p) or target="
                )
            if math.prod(self.shape) > _DENSE_ENTRIES:
                return self._result(self._matmul_slices_check(scale), scale, self._matmul_entry)
            target = matmul_tensor(*self.matmul)
        target = np.asarray(target)
        if target.shape != self.shape:
            raise ValueError(f"target shape {target.shape} differs from the scheme's shape {self.shape}")
        if target.dtype.kind not in "biu":
            raise ValueError(f"target must hold integers, got dtype {target.dtype}")
        target = target.astype(np.int64)
        if self.field == "z2":
            target = target & 1
        native = scale == 1 and not self._wide
        checked = kernels.verify_scheme(self.u, self.v, self.w, target, self.field) if native else None
        if checked is None:  # no compiled module, Q, or beyond int64 there: numpy (the reference)
            checked = self._numpy_check(target, scale)
        return self._result(checked, scale, lambda index: int(target[index]))

    def _result(self, checked: tuple[int, int], scale: int, expected) -> Verification:
        """The Verification of ``(first violated flat index or -1, number violated)``."""
        first, count = checked
        if first < 0:
            return Verification(ok=True)
        index = tuple(int(x) for x in np.unravel_index(first, self.shape))
        columns = [factor[:, x].tolist() for factor, x in zip((self.u, self.v, self.w), index, strict=True)]
        got = sum(a * b * c for a, b, c in zip(*columns, strict=True))  # Python ints: exact
        value = Fraction(got & 1 if self.field == "z2" else got, scale)
        return Verification(
            ok=False,
            num_violated=count,
            index=index,
            got=value.numerator if value.denominator == 1 else value,
            expected=expected(index),
            reading=brent_reading(self.matmul, index) if self.matmul else None,
        )

    def _matmul_entry(self, index: tuple[int, int, int]) -> int:
        """T[index] of the ⟨n,m,p⟩ tensor, without building it."""
        n, m, p = self.matmul
        (i, j), (j2, k), (k2, i2) = divmod(index[0], m), divmod(index[1], p), divmod(index[2], n)
        return int(i == i2 and j == j2 and k == k2)

    def _matmul_slices_check(self, scale: int) -> tuple[int, int]:
        """(first violated flat index or -1, number violated) against the ⟨n,m,p⟩ tensor, one
        slice T[a] (an entry a of A) at a time: memory ~J·K, time ~Σ_a (terms using a)·J·K."""
        entries = math.prod(self.shape)
        if entries > _MAX_ENTRIES:
            raise ValueError(
                f"⟨{','.join(map(str, self.matmul))}⟩ has {entries:,} Brent equations: "
                f"too many to check (at most 2^36)"
            )
        n, m, p = self.matmul
        rows_b, rows_c = self.shape[1:]
        bound = self._bound()
        if max(bound, scale) >= _INT64_EXACT:
            raise ValueError(
                f"coefficients too large for exact int64 arithmetic (partial sums up to {bound})"
            )
        dtype = np.float64 if bound < _FLOAT_EXACT else np.int64  # exact either way (see above)
        ks = np.arange(p)
        first, count = -1, 0
        for a in range(n * m):
            i, j = divmod(a, m)
            terms = np.flatnonzero(self.u[:, a])
            scaled = (self.v[terms] * self.u[terms, a][:, None]).astype(dtype)
            got = (scaled.T @ self.w[terms].astype(dtype)).astype(np.int64)
            expected = np.zeros((rows_b, rows_c), np.int64)
            expected[j * p + ks, ks * n + i] = 1 if self.field == "z2" else scale
            wrong = (got & 1 if self.field == "z2" else got) != expected
            violated = int(np.count_nonzero(wrong))
            if violated and first < 0:
                first = a * rows_b * rows_c + int(np.argmax(wrong))
            count += violated
        return first, count

    def _numpy_check(self, target: np.ndarray, scale: int) -> tuple[int, int]:
        """(first violated flat index or -1, number violated), with numpy."""
        got = self._numerator_tensor(beyond_int64=True)
        if self.field == "z2":
            got = got & 1
        elif int(np.abs(target).max(initial=0)) * scale >= _INT64_EXACT:
            target = target.astype(object)  # scale·T in Python ints
        wrong = np.asarray(got != target * scale, bool)
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

        Raises:
          ValueError: a coefficient beyond int64.
        """
        if self._wide:
            raise ValueError("canonical() needs coefficients within int64")
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
        return Scheme(*factors, self.field, self.matmul, self.denominators, self.target)

    def to_z2(self) -> Scheme:
        """The scheme with every coefficient reduced mod 2 (itself if already over Z2).

        A scheme valid over Z stays valid mod 2; the converse does not hold. A Q scheme
        reduces only when its coefficients are integers.
        """
        if self.field == "z2":
            return self
        if self.denominators != (1, 1, 1):
            raise ValueError(f"a scheme with denominators {self.denominators} has no reduction mod 2")
        return Scheme(self.u & 1, self.v & 1, self.w & 1, "z2", self.matmul, target=self.target)


def _over_common_denominator(name: str, values) -> tuple[np.ndarray, int]:
    """(numerators, least common denominator) of one factor of ints, Fractions or floats; the
    numerators are int64, or Python ints (an object array) beyond int64."""
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
    return _exact_ints(np.array(scaled, object).reshape(array.shape)), denominator


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

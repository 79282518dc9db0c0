"""Schemes (low-rank decompositions of a tensor), checked exactly.

A scheme of rank R for a 3-way tensor T of shape (I, J, K) is R rank-one terms with
``T = Σ_r u_r ⊗ v_r ⊗ w_r``, either exactly over the integers (field ``"z"``) or modulo 2
(field ``"z2"``). For matrix multiplication ⟨n,m,p⟩ the tensor is
:func:`gamify.tensor.matmul_tensor`: u indexes A row-major, v indexes B row-major and w
indexes Cᵀ row-major (the convention DeepMind and AlphaEvolve publish), so term r computes
``m_r = (Σ u[r, i*m+j] A[i,j]) · (Σ v[r, j*p+k] B[j,k])`` and ``C[i,k] = Σ_r w[r, k*n+i] m_r``.

gamify handles integer schemes only: coefficients are int64, and the readers in
:mod:`gamify.formats` reject files with fractional coefficients (such as the ±1/2 of some
recombined AlphaTensor schemes) with a clear error instead of rounding them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gamify.tensor import matmul_tensor

FIELDS = ("z2", "z")

_FLOAT_EXACT = 2**53  # integers below this, and sums of them below it, are exact in float64
_INT64_EXACT = 2**63
_CHUNK = 256  # terms per block in tensor(): bounds the [terms, I*J] intermediate


def matmul_sizes(shape: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """The ⟨n,m,p⟩ whose tensor has this shape ``(n*m, m*p, p*n)``, or None if there is none.

    The sizes are unique when they exist: n² = I·K/J, m = I/n, p = K/n.

    Args:
      shape: (I, J, K), a tensor shape.

    Returns:
      (n, m, p) or None.
    """
    rows_a, rows_b, rows_c = (int(size) for size in shape)
    n_squared, remainder = divmod(rows_a * rows_c, rows_b)
    n = math.isqrt(n_squared)
    if remainder or n < 1 or n * n != n_squared or rows_a % n or rows_c % n:
        return None
    m, p = rows_a // n, rows_c // n
    return (n, m, p) if m * p == rows_b else None


def _entry_name(letter: str, row: int, col: int) -> str:
    """'a12' (1-based), or 'a[10,2]' when an index has two digits."""
    return f"{letter}{row + 1}{col + 1}" if max(row, col) < 9 else f"{letter}[{row + 1},{col + 1}]"


def brent_reading(matmul: tuple[int, int, int], index: tuple[int, int, int]) -> str:
    """The Brent equation at ``index`` of the ⟨n,m,p⟩ tensor, in words.

    Args:
      matmul: (n, m, p).
      index: (i, j, k), an entry of the tensor.

    Returns:
      e.g. "coefficient of a12*b21 in c11": entry (i, j, k) is the coefficient of the
      product A[i // m, i % m] · B[j // p, j % p] in C[k % n, k // n].
    """
    n, m, p = matmul
    i, j, k = index
    a = _entry_name("a", *divmod(i, m))
    b = _entry_name("b", *divmod(j, p))
    c_col, c_row = divmod(k, n)  # k indexes Cᵀ row-major
    return f"coefficient of {a}*{b} in {_entry_name('c', c_row, c_col)}"


@dataclasses.dataclass(frozen=True)
class Verification:
    """The outcome of checking a scheme against a target tensor, equation by equation.

    Every entry (i, j, k) of the target is one Brent equation
    ``Σ_r u[r,i] v[r,j] w[r,k] = T[i,j,k]`` (mod 2 over Z2).

    Attributes:
      ok: every equation holds.
      num_violated: how many equations fail.
      index: the first failing equation (i, j, k) in C order, or None when ok.
      got: the scheme's value there (reduced mod 2 over Z2).
      expected: the target's value there (reduced mod 2 over Z2).
      reading: for a matmul scheme, the equation in words ("coefficient of a12*b21 in c11").
    """

    ok: bool
    num_violated: int = 0
    index: tuple[int, int, int] | None = None
    got: int | None = None
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
    """R rank-one terms u_r ⊗ v_r ⊗ w_r with exact integer (or mod-2) coefficients.

    Attributes:
      u: [R, I] int64, one row per term (for ⟨n,m,p⟩: I = n*m, entries of A row-major).
      v: [R, J] int64 (J = m*p, entries of B row-major).
      w: [R, K] int64 (K = p*n, entries of Cᵀ row-major).
      field: "z" (exact integers) or "z2" (every coefficient 0 or 1, arithmetic mod 2).
      matmul: (n, m, p) when the scheme is meant for matrix multiplication ⟨n,m,p⟩.

    The constructor copies the factors into read-only int64 arrays and checks shapes,
    dtypes, the field (a Z2 scheme holds only 0 and 1: reduce a Z scheme with
    :meth:`to_z2`) and that ``matmul`` fits the shape. Equality compares all five fields.
    """

    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    field: str = "z"
    matmul: tuple[int, int, int] | None = None

    def __post_init__(self):
        if self.field not in FIELDS:
            raise ValueError(f"field must be one of {', '.join(FIELDS)}, got {self.field!r}")
        factors = {name: _factor(name, getattr(self, name)) for name in ("u", "v", "w")}
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
        return (self.field, self.matmul, self.shape) == (other.field, other.matmul, other.shape) and all(
            np.array_equal(a, b) for a, b in ((self.u, other.u), (self.v, other.v), (self.w, other.w))
        )

    def __hash__(self) -> int:
        return hash((self.field, self.matmul, self.u.tobytes(), self.v.tobytes(), self.w.tobytes()))

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
        return result & 1 if self.field == "z2" else result

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
        got = self.tensor()
        wrong = got != target
        if not wrong.any():
            return Verification(ok=True)
        index = tuple(int(x) for x in np.unravel_index(np.argmax(wrong), wrong.shape))
        return Verification(
            ok=False,
            num_violated=int(wrong.sum()),
            index=index,
            got=int(got[index]),
            expected=int(target[index]),
            reading=brent_reading(self.matmul, index) if self.matmul else None,
        )

    def canonical(self) -> Scheme:
        """A canonical form: the same tensor, rank never higher, one representative per class.

        Two schemes have the same canonical form exactly when one becomes the other by:
        1. adding or removing terms with a zero factor (they contribute nothing);
        2. over Z, changing the signs of two factors of a term, (u, v, w) ≅ (−u, −v, w) ≅
           (−u, v, −w) ≅ (u, −v, −w): each term is normalised so that the first nonzero
           entry of u and of v is positive (w takes the signs);
        3. splitting or merging terms with equal u and v (after step 2):
           (u, v, w₁) + (u, v, w₂) ≅ (u, v, w₁ + w₂), dropped when the sum is zero
           (over Z2, w₁ + w₂ is the XOR, so two equal terms cancel);
        4. reordering terms: they are sorted lexicographically by (u, v, w).
        It removes nothing else: basis changes (the GL symmetries of matmul schemes),
        permutations of u, v, w and the cyclic and transpose symmetries stay distinct.
        ``canonical()`` is idempotent.

        Returns:
          A new Scheme with the same field and matmul.
        """
        nonzero = self.u.any(axis=1) & self.v.any(axis=1) & self.w.any(axis=1)
        u, v, w = self.u[nonzero], self.v[nonzero], self.w[nonzero]
        if self.field == "z":
            sign_u, sign_v = _leading_signs(u), _leading_signs(v)
            u, v, w = u * sign_u[:, None], v * sign_v[:, None], w * (sign_u * sign_v)[:, None]
        pairs, group = np.unique(np.concatenate([u, v], axis=1), axis=0, return_inverse=True)
        merged = np.zeros((len(pairs), w.shape[1]), np.int64)
        np.add.at(merged, group.reshape(-1), w)
        if self.field == "z2":
            merged &= 1
        keep = merged.any(axis=1)
        rows_a = self.shape[0]
        return Scheme(pairs[keep, :rows_a], pairs[keep, rows_a:], merged[keep], self.field, self.matmul)

    def to_z2(self) -> Scheme:
        """The scheme with every coefficient reduced mod 2 (itself if already over Z2).

        A scheme valid over Z stays valid mod 2; the converse does not hold.
        """
        if self.field == "z2":
            return self
        return Scheme(self.u & 1, self.v & 1, self.w & 1, "z2", self.matmul)


def _leading_signs(factor: np.ndarray) -> np.ndarray:
    """[R] the sign (±1) of the first nonzero entry of each row (rows must be nonzero)."""
    first = np.argmax(factor != 0, axis=1)
    return np.sign(factor[np.arange(len(factor)), first])

"""The matrix-multiplication tensor ⟨n,m,p⟩ in the convention DeepMind and AlphaEvolve publish,
and the names of its entries (a_ij, b_jk, c_ik) used to print schemes and their equations."""

from __future__ import annotations

import math

import numpy as np


def matmul_tensor(n: int, m: int, p: int) -> np.ndarray:
    """The tensor of ⟨n,m,p⟩: multiplying an n×m matrix A by an m×p matrix B.

    Shape ``(n*m, m*p, p*n)`` with ``T[i*m + j, j*p + k, k*n + i] = 1``: the first
    factor indexes A row-major, the second B row-major, the third Cᵀ row-major.

    Returns:
      int8 array of zeros and ones.
    """
    for name, size in (("n", n), ("m", m), ("p", p)):
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name} must be a positive integer, got {size!r}")
    tensor = np.zeros((n * m, m * p, p * n), np.int8)
    i, j, k = np.meshgrid(np.arange(n), np.arange(m), np.arange(p), indexing="ij")
    tensor[i * m + j, j * p + k, k * n + i] = 1
    return tensor


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


def entry_name(letter: str, row: int, col: int) -> str:
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
    a = entry_name("a", *divmod(i, m))
    b = entry_name("b", *divmod(j, p))
    c_col, c_row = divmod(k, n)  # k indexes Cᵀ row-major
    return f"coefficient of {a}*{b} in {entry_name('c', c_row, c_col)}"


def entry_names(shape, matmul) -> tuple[list[str], list[str], list[str]]:
    """Names of the entries that the factors u, v, w act on: a_ij, b_jk, c_ik for ⟨n,m,p⟩
    (``matmul``), else x_i, y_j, z_k for a tensor of ``shape`` (I, J, K)."""
    if matmul is None:
        return tuple(
            [f"{letter}{i + 1}" for i in range(size)] for letter, size in zip("xyz", shape, strict=True)
        )
    n, m, p = matmul
    a = [entry_name("a", i, j) for i in range(n) for j in range(m)]
    b = [entry_name("b", j, k) for j in range(m) for k in range(p)]
    c = [entry_name("c", index % n, index // n) for index in range(p * n)]  # w indexes Cᵀ row-major
    return a, b, c

"""Matrix-multiplication tensors in the convention DeepMind and AlphaEvolve publish."""

from __future__ import annotations

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

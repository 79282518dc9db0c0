"""Rank-one terms u⊗v⊗w: their canonical sign forms, every legal term of a coefficient set,
and a readable listing of terms as products and sums.

Sign forms: over Z, u⊗v⊗w = (-u)⊗(-v)⊗w = (-u)⊗v⊗(-w) = u⊗(-v)⊗(-w). Exactly one of
these forms is legal: the first, in the order of :data:`SIGNS`, of the forms of
(u0, v0, w0) whose entries all lie in F, where u0, v0 have a positive first nonzero
entry. For a symmetric F that is: the first nonzero entries of u and v are positive, w
carries the sign. Zero factors are illegal. Over Z2 every term with nonzero factors is legal.
"""

from __future__ import annotations

import math

import numpy as np

from gamify.tensor.matmul import entry_names
from gamify.types import Array

SIGNS = ((1, 1), (1, -1), (-1, 1), (-1, -1))  # sign twins (a·u, b·v, ab·w) in order of preference


def outer(u: Array, v: Array, w: Array) -> Array:
    """u⊗v⊗w, [I, J, K] (JAX or numpy vectors)."""
    return u[:, None, None] * v[None, :, None] * w[None, None, :]


def sign_forms(u, v, w, coefficients, xp):
    """The normalised factors (u0, v0, w0), the index of (u, v, w)'s own form, and which forms fit F.

    Works on numpy (``xp=np``) and jax.numpy arrays with any leading batch axes; elementwise
    and reductions only (no gathers), which keeps it cheap to compile and to run.
    """
    first = lambda x: (x != 0) & (xp.cumsum(x != 0, axis=-1) == 1)
    sign = lambda x: xp.where(xp.any(first(x) & (x < 0), axis=-1), -1, 1)
    sign_u, sign_v = sign(u), sign(v)
    u0, v0, w0 = u * sign_u[..., None], v * sign_v[..., None], w * (sign_u * sign_v)[..., None]
    own = 2 * (sign_u < 0) + (sign_v < 0)
    allowed = xp.asarray(coefficients)
    member = lambda x: xp.all(xp.any(x[..., None] == allowed, axis=-1), axis=-1)
    if set(coefficients) == {-c for c in coefficients}:  # all forms fit, or none
        fit = member(u0) & member(v0) & member(w0)
        return (u0, v0, w0), own, xp.stack([fit] * len(SIGNS), axis=-1)
    fits = {(name, a): member(a * x) for name, x in zip("uvw", (u0, v0, w0), strict=True) for a in (1, -1)}
    fits = [fits["u", a] & fits["v", b] & fits["w", a * b] for a, b in SIGNS]
    return (u0, v0, w0), own, xp.stack(fits, axis=-1)


def legal_terms(u, v, w, coefficients, xp):
    """bool[...]: all factors nonzero and (u, v, w) is the legal sign form of its term (entries in F)."""
    _, own, fits = sign_forms(u, v, w, coefficients, xp)
    nonzero = xp.any(u != 0, axis=-1) & xp.any(v != 0, axis=-1) & xp.any(w != 0, axis=-1)
    return nonzero & (xp.argmax(fits, axis=-1) == own)


def legal_form(u, v, w, coefficients, xp):
    """(u', v', w', fits): the legal sign form of a term, and whether any form fits F (batched too)."""
    (u0, v0, w0), _, fits = sign_forms(u, v, w, coefficients, xp)
    first = xp.argmax(fits, axis=-1)[..., None]
    a, b = 1 - 2 * (first // 2), 1 - 2 * (first % 2)
    return a * u0, b * v0, a * b * w0, xp.any(fits, axis=-1)


def flat_count_at_least(shape, q: int, field: str) -> int:
    """A lower bound on the legal terms (exact over z2): over z one legal per set of sign twins."""
    nonzero_terms = math.prod(q**size - 1 for size in shape)
    return nonzero_terms if field == "z2" else -(-nonzero_terms // len(SIGNS))


def flat_terms(shape, coefficients, field: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Every legal term as int8[N, I+J+K] entries, and their sorted int64 keys (u, v, w base-|F| codes).

    Raises:
      ValueError: there would be more than ``limit`` terms.
    """
    q = len(coefficients)
    at_least = flat_count_at_least(shape, q, field)
    if at_least > limit:
        raise ValueError(
            f"flat actions would be at least {at_least} terms (limit {limit}); use actions='factored'"
        )
    vectors, codes = [], []
    for size in shape:
        code = np.arange(q**size, dtype=np.int64)
        values = np.asarray(coefficients, np.int64)[code[:, None] // q ** np.arange(size) % q]
        keep = values.any(axis=1)
        vectors.append(values[keep])
        codes.append(code[keep])
    index = [grid.reshape(-1) for grid in np.meshgrid(*(np.arange(len(v)) for v in vectors), indexing="ij")]
    u, v, w = (vectors[f][index[f]] for f in range(3))
    legal = legal_terms(u, v, w, coefficients, np)
    if legal.sum() > limit:
        raise ValueError(f"flat actions would be {legal.sum()} terms (limit {limit}); use actions='factored'")
    keys = (codes[0][index[0]] * q ** shape[1] + codes[1][index[1]]) * q ** shape[2] + codes[2][index[2]]
    return np.concatenate([u, v, w], axis=1)[legal].astype(np.int8), keys[legal]


def _output_order(shape, matmul) -> list[int]:
    """Indices of w in the order the output lines are listed (C row-major for matmul)."""
    if matmul is None:
        return list(range(shape[2]))
    n, _, p = matmul
    return [k * n + i for i in range(n) for k in range(p)]


def _linear(coefficients: np.ndarray, names: list[str]) -> str:
    """'a11 - 2*a22', or '0' for a zero combination."""
    text = ""
    for c, name in zip(coefficients.tolist(), names, strict=True):
        if c:
            sign = "-" if c < 0 else "+"
            term = name if abs(c) == 1 else f"{abs(c)}*{name}"
            text += f" {sign} {term}" if text else ("-" if c < 0 else "") + term
    return text or "0"


def describe_terms(terms, target: np.ndarray, field: str, matmul=None) -> str:
    """The terms as products m_r = (…) * (…), the target's entries as sums of them, and whether
    they sum to ``target`` (mod 2 over z2).

    Args:
      terms: a sequence of (u, v, w) integer vectors of lengths I, J, K.
      target: the tensor [I, J, K] they are meant to decompose.
      field: "z2" or "z".
      matmul: (n, m, p) to name the entries a_ij, b_jk, c_ik; None for x_i, y_j, z_k.
    """
    shape = target.shape
    a_names, b_names, c_names = entry_names(shape, matmul)
    lines = [
        f"m{r} = ({_linear(u, a_names)}) * ({_linear(v, b_names)})" for r, (u, v, _) in enumerate(terms, 1)
    ]
    products = [f"m{r}" for r in range(1, len(terms) + 1)]
    for k in _output_order(shape, matmul):
        column = np.array([w[k] for _, _, w in terms], np.int64)
        lines.append(f"{c_names[k]} = {_linear(column, products)}")
    total = sum((np.einsum("i,j,k->ijk", *term) for term in terms), np.zeros(shape, np.int64))
    residual = target - total
    if field == "z2":
        residual %= 2
    if residual.any():
        lines.append(f"{len(terms)} terms; residual is NOT zero ({np.count_nonzero(residual)} entries left)")
    else:
        ring = "Z2" if field == "z2" else "Z"
        lines.append(f"{len(terms)} terms; residual is zero: they sum to the target exactly over {ring}")
    return "\n".join(lines)

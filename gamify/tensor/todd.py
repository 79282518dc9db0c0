"""T-count reduction of a Waring decomposition: TOHPE and FastTODD moves (numba kernels).

A Waring decomposition is a list of parities ``a_l`` with ``Σ a_l⊗a_l⊗a_l = T``. A move
picks a vector ``z`` and a set ``y`` of parities, adds ``z`` to each of them and, when
``|y|`` is odd, appends ``z`` itself; equal pairs and zeros then cancel. Writing
``L = Σ_{l∈y} a_l`` and ``M = Σ_{l∈y} a_l a_lᵀ``, the tensor is unchanged exactly when

* ``L = t·z`` for some ``t ∈ GF(2)``, and
* ``M_ab z_c + M_ac z_b + M_bc z_a = t·z_a z_b z_c`` for distinct ``a, b, c``

(the repeated-index entries then cancel by themselves). So ``y`` must map the
*extended parities* ``(a_l, a_l ∘ a_l)`` (linear part, then the products of pairs of
bits) into the ``n + 1``-dimensional space spanned by ``(0, e_k zᵀ + z e_kᵀ)`` and
``(z, z zᵀ)``. ``y`` with ``(L, M) = 0`` works for every ``z`` (TOHPE, Vandaele 2024);
FastTODD (Vandaele 2024, "Lower T-count with faster algorithms") tries ``z = a_i + a_j``
for pairs of parities and looks for ``y`` with ``y_i ≠ y_j``, which makes ``a_i`` land
on ``a_j`` (both cancel). Both reduce the extended parities once by Gaussian
elimination and then only the ``n + 1`` vectors of each ``z``. The derivation above is
gamify's; the algorithms are Heyfron & Campbell's TODD (2018) as sped up by Vandaele.

Parities are ``uint64`` bit masks (``n <= 64``). Every move keeps the tensor; the
callers verify the result all the same.
"""

from __future__ import annotations

import numba
import numpy as np

from gamify.tensor.waring import cancel_pairs

_ONE = np.uint64(1)
TOHPE_TOP = 8  # most frequent candidates of a TOHPE move applied exactly
TOHPE_PAIRS = 1 << 20  # candidate pairs looked at per TOHPE move (bounded memory)
TOHPE_TRIES = 16  # kernel vectors tried per round before FastTODD
MAX_KICK_PAIRS = 1 << 16  # pairs a kick draws from (bounded memory on long tables)


@numba.njit(nogil=True, cache=True)
def _set(row, bit):
    row[bit >> 6] ^= _ONE << np.uint64(bit & 63)


@numba.njit(nogil=True, cache=True)
def _test(row, bit) -> bool:
    return (row[bit >> 6] >> np.uint64(bit & 63)) & _ONE == _ONE


@numba.njit(nogil=True, cache=True)
def _lowest(row) -> int:
    for w in range(row.shape[0]):
        x = row[w]
        if x != 0:
            b = 0
            while (x >> np.uint64(b)) & _ONE == 0:
                b += 1
            return w * 64 + b
    return -1


@numba.njit(nogil=True, cache=True)
def _pair(a, b, n) -> int:
    """Column of the product x_a x_b (a < b) in an extended parity."""
    return n + a * (2 * n - a - 1) // 2 + (b - a - 1)


@numba.njit(nogil=True, cache=True)
def _extended(p, n, words):
    row = np.zeros(words, np.uint64)
    for a in range(n):
        if (p >> np.uint64(a)) & _ONE:
            _set(row, a)
            for b in range(a + 1, n):
                if (p >> np.uint64(b)) & _ONE:
                    _set(row, _pair(a, b, n))
    return row


@numba.njit(nogil=True, cache=True)
def _eliminate(table, n):
    """Echelon form of the extended parities; returns (rows, aug, pivot_col, is_pivot).

    ``aug[l]`` records which parities were summed into row l; rows that vanish
    (``is_pivot[l]`` false) are TOHPE kernel vectors.
    """
    m = table.shape[0]
    ext = n + n * (n - 1) // 2
    words = (ext + 63) // 64
    aug_words = (m + 63) // 64
    rows = np.zeros((m, words), np.uint64)
    aug = np.zeros((m, aug_words), np.uint64)
    pivot_col = np.full(m, -1, np.int64)
    is_pivot = np.zeros(m, np.bool_)
    order = np.zeros(m, np.int64)  # pivot rows in the order they were made
    count = 0
    for i in range(m):
        rows[i] = _extended(table[i], n, words)
        _set(aug[i], i)
        for k in range(count):
            r = order[k]
            if _test(rows[i], pivot_col[r]):
                rows[i] ^= rows[r]
                aug[i] ^= aug[r]
        c = _lowest(rows[i])
        if c >= 0:
            pivot_col[i] = c
            is_pivot[i] = True
            order[count] = i
            count += 1
    return rows, aug, pivot_col, order[:count]


@numba.njit(nogil=True, cache=True)
def _after(table, z, y) -> np.ndarray:
    """The table after the move (z, y), pairs and zeros cancelled (sorted)."""
    m = table.shape[0]
    size = 0
    for q in range(m):
        size += _test(y, q)
    out = np.empty(m + (size & 1), np.uint64)
    for q in range(m):
        out[q] = table[q] ^ z if _test(y, q) else table[q]
    if size & 1:
        out[m] = z
    out.sort()
    keep = np.empty(out.shape[0], np.uint64)
    k = 0
    i = 0
    while i < out.shape[0]:
        j = i
        while j < out.shape[0] and out[j] == out[i]:
            j += 1
        if (j - i) & 1 and out[i] != 0:
            keep[k] = out[i]
            k += 1
        i = j
    return keep[:k]


@numba.njit(nogil=True, cache=True)
def _tohpe(table, kernel_aug, order, top, limit):
    """The best TOHPE move for one kernel vector y (any z keeps the tensor).

    Candidates z are scored by what they cancel: ``a_i + a_j`` (i in y, j not: a_i lands
    on a_j, 2 parities go) and ``a_i`` (i in y: it becomes zero); the ``top`` most frequent
    are applied exactly and the shortest result returned. At most ``limit`` pairs are
    looked at, rows of y taken in ``order``.
    """
    m = table.shape[0]
    inside = np.zeros(m, np.bool_)
    for q in range(m):
        inside[q] = _test(kernel_aug, q)
    values = np.empty(min(limit, m * m) + m, np.uint64)
    count = 0
    for i in order:
        if not inside[i]:
            continue
        values[count] = table[i]
        count += 1
        for j in range(m):
            if not inside[j] and count < values.shape[0]:
                values[count] = table[i] ^ table[j]
                count += 1
        if count >= values.shape[0] - m:
            break
    values = np.sort(values[:count])
    runs = np.zeros(count, np.int64)  # run length at each run's start
    i = 0
    while i < count:
        j = i
        while j < count and values[j] == values[i]:
            j += 1
        runs[i] = j - i
        i = j
    best = table
    for pick in np.argsort(-runs)[:top]:
        if runs[pick] == 0 or values[pick] == 0:
            break
        after = _after(table, values[pick], kernel_aug)
        if after.shape[0] < best.shape[0]:
            best = after
    return best


@numba.njit(nogil=True, cache=True)
def _fast_todd(table, n, pairs, seed_order, kick):
    """The best FastTODD move over the given pairs (i, j) of parities; the table if none helps.

    With ``kick >= 0``, instead the first move found (in ``seed_order``) that changes the
    table and leaves at most ``len(table) + kick`` parities: a random step to leave a
    local minimum.
    """
    m = table.shape[0]
    ext = n + n * (n - 1) // 2
    words = (ext + 63) // 64
    rows, aug, pivot_col, order = _eliminate(table, n)
    col_row = np.full(ext, -1, np.int64)
    for r in order:
        col_row[pivot_col[r]] = r
    best = table
    aug_words = aug.shape[1]
    s_rows = np.zeros((n + 1, words), np.uint64)
    s_aug = np.zeros((n + 1, aug_words), np.uint64)
    for t in range(pairs.shape[0]):
        i, j = pairs[seed_order[t], 0], pairs[seed_order[t], 1]
        z = table[i] ^ table[j]
        if z == 0:
            continue
        s_rows[:] = 0
        s_aug[:] = 0
        for k in range(n):  # (0, e_k zᵀ + z e_kᵀ) off the diagonal
            for b in range(n):
                if b != k and (z >> np.uint64(b)) & _ONE:
                    _set(s_rows[k], _pair(min(k, b), max(k, b), n))
        for a in range(n):  # (z, z zᵀ)
            if (z >> np.uint64(a)) & _ONE:
                _set(s_rows[n], a)
                for b in range(a + 1, n):
                    if (z >> np.uint64(b)) & _ONE:
                        _set(s_rows[n], _pair(a, b, n))
        for k in range(n + 1):
            for r in order:  # reduce against the parities' echelon form, in the order it was made
                if _test(s_rows[k], pivot_col[r]):
                    s_rows[k] ^= rows[r]
                    s_aug[k] ^= aug[r]
        for k in range(n + 1):
            c = _lowest(s_rows[k])
            if c >= 0:
                for q in range(k + 1, n + 1):
                    if _test(s_rows[q], c):
                        s_rows[q] ^= s_rows[k]
                        s_aug[q] ^= s_aug[k]
            elif _test(s_aug[k], i) != _test(s_aug[k], j):
                after = _after(table, z, s_aug[k])
                if kick >= 0:
                    if after.shape[0] <= m + kick and not _same(after, table):
                        return after
                elif after.shape[0] < best.shape[0]:
                    best = after
    return best


@numba.njit(nogil=True, cache=True)
def _same(a, b) -> bool:
    if a.shape[0] != b.shape[0]:
        return False
    c = np.sort(b)
    for i in range(a.shape[0]):
        if a[i] != c[i]:
            return False
    return True


def reduce_parities(
    parities, n: int, *, seed: int = 0, max_pairs: int = 0, should_stop=lambda: False
) -> np.ndarray:
    """Greedy TOHPE + FastTODD descent from a Waring decomposition; returns a no-longer one.

    Each round applies TOHPE moves while a kernel vector helps, then the FastTODD move
    that cancels the most, over every pair of parities (or ``max_pairs`` random ones), in
    an order drawn from ``seed`` (ties go to the first found, so seeds differ). Stops when
    no move shortens the table or ``should_stop()``.
    """
    if not 1 <= n <= 64:
        raise ValueError(f"n must be in [1, 64], got {n}")
    rng = np.random.default_rng(seed)
    table = cancel_pairs(parities)
    while len(table) > 1 and not should_stop():
        rows, aug, pivot_col, order = _eliminate(table, n)
        pivots = set(order.tolist())
        kernel = [aug[q] for q in range(len(table)) if q not in pivots]
        improved = False
        for k in rng.permutation(len(kernel))[:TOHPE_TRIES]:
            after = _tohpe(table, kernel[k], rng.permutation(len(table)), TOHPE_TOP, TOHPE_PAIRS)
            if len(after) < len(table):
                table, improved = after, True
                break
        if improved:
            continue
        pairs = _pairs(len(table), max_pairs, rng)
        after = _fast_todd(table, n, pairs, np.arange(len(pairs)), -1)
        if len(after) >= len(table):
            break
        table = after
    return table


def kick(parities, n: int, *, seed: int = 0, slack: int = 2) -> np.ndarray:
    """A random valid FastTODD move that changes the decomposition (at most ``slack`` longer).

    Returns the parities unchanged when no such move exists.
    """
    rng = np.random.default_rng(seed)
    table = cancel_pairs(parities)
    if len(table) < 2:
        return table
    pairs = _pairs(len(table), MAX_KICK_PAIRS, rng)
    return _fast_todd(table, n, pairs, np.arange(len(pairs)), int(slack))


def _pairs(m: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """int64 [k, 2]: every pair i < j of m parities in random order, or ``limit`` random ones."""
    if limit and m * (m - 1) // 2 > limit:
        i = rng.integers(0, m, limit)
        j = rng.integers(0, m - 1, limit)
        j += j >= i
        return np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1).astype(np.int64)
    i, j = np.triu_indices(m, k=1)
    return np.stack([i, j], axis=1).astype(np.int64)[rng.permutation(len(i))]

"""Toffoli-count search: flip-graph walks over 3-dimensional subspaces (numba kernels).

A Toffoli term ``(a, b, c)`` contributes ``Sym(a⊗b⊗c)``, the sum over the six orderings
of its factors. Over GF(2) that form is trilinear and *alternating* (it vanishes when
two factors are equal), so it depends only on the subspace ``span(a, b, c)``: it is zero
when the factors are dependent, and any basis of the same 3-dimensional space gives
the same term. A Toffoli decomposition is therefore a list of 3-dimensional subspaces,
and the flip graph of Kauers & Moosbauer becomes, on it (gamify's derivation):

* **reduction**: two subspaces meeting in a plane ``span(x, y)`` merge:
  ``(x, y, c) + (x, y, c') = (x, y, c + c')`` (both vanish if they are equal, the merged
  one if ``c + c'`` falls in the plane);
* **flip**: two subspaces sharing a line ``x``, with bases ``(x, b, c)`` and
  ``(x, b', c')`` drawn at random, become ``(x, b + b', c)`` and ``(x, b', c + c')``;
* **plus**: ``(a, b, c)`` splits into ``(a, b, c + d)`` and ``(a, b, d)`` (rank + 1), to
  leave a plateau.

The search keeps the exact tensor ``Σ Sym(a⊗b⊗c)`` (callers verify). polytof walks a
flip graph for the same problem (Khoruzhii et al. 2026); this is gamify's own walker.
"""

from __future__ import annotations

import numba
import numpy as np

from gamify.tensor.waring import PhaseTensor


@numba.njit(nogil=True, cache=True)
def _span(a, b, c):
    out = np.empty(7, np.uint64)
    out[0], out[1], out[2] = a, b, c
    out[3], out[4], out[5], out[6] = a ^ b, a ^ c, b ^ c, a ^ b ^ c
    return out


@numba.njit(nogil=True, cache=True)
def _independent(a, b, c) -> bool:
    return a != 0 and b != 0 and a != b and c != 0 and c != a and c != b and c != (a ^ b)


@numba.njit(nogil=True, cache=True)
def _shared(p, q):
    """How many of p's 7 nonzero vectors lie in q's span (1: a line, 3: a plane, 7: equal)."""
    sp = _span(p[0], p[1], p[2])
    sq = _span(q[0], q[1], q[2])
    count = 0
    for i in range(7):
        for j in range(7):
            if sp[i] == sq[j]:
                count += 1
                break
    return count


@numba.njit(nogil=True, cache=True)
def _basis_with(p, x, rng_state):
    """A random basis (x, b, c) of span(p), given x in it; rng_state is a 1-element uint64 array."""
    sp = _span(p[0], p[1], p[2])
    while True:
        b = sp[_rand(rng_state, 7)]
        if b != x:
            break
    while True:
        c = sp[_rand(rng_state, 7)]
        if c != x and c != b and c != (x ^ b):
            return b, c


@numba.njit(nogil=True, cache=True)
def _rand(state, bound) -> int:
    x = state[0]  # xorshift64*
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return int((x * np.uint64(2685821657736338717)) >> np.uint64(33)) % bound


@numba.njit(nogil=True, cache=True)
def _merge(terms, rank, p, q, rng_state):
    """Reduces the pair (p, q) meeting in at least a plane; returns the new rank."""
    shared = _shared(terms[p], terms[q])
    if shared == 7:
        terms[max(p, q)] = terms[rank - 1]
        rank -= 1
        terms[min(p, q)] = terms[rank - 1]
        return rank - 1
    sp = _span(terms[p, 0], terms[p, 1], terms[p, 2])
    sq = _span(terms[q, 0], terms[q, 1], terms[q, 2])
    plane = np.zeros(3, np.uint64)
    k = 0
    c = np.uint64(0)
    for i in range(7):
        inside = False
        for j in range(7):
            if sp[i] == sq[j]:
                inside = True
        if inside:
            plane[k] = sp[i]
            k += 1
        else:
            c = sp[i]
    x, y = plane[0], plane[1]
    c2 = np.uint64(0)
    for j in range(7):
        if sq[j] != x and sq[j] != y and sq[j] != (x ^ y):
            c2 = sq[j]
    terms[p, 0], terms[p, 1], terms[p, 2] = x, y, c ^ c2
    terms[q] = terms[rank - 1]
    rank -= 1
    if p == rank:
        p = q
    if not _independent(terms[p, 0], terms[p, 1], terms[p, 2]):
        terms[p] = terms[rank - 1]
        rank -= 1
    return rank


@numba.njit(nogil=True, cache=True)
def _reduce_around(terms, rank, p, rng_state):
    """Merges term p with any term it meets in a plane, repeatedly; returns the new rank."""
    changed = True
    while changed and p < rank:
        changed = False
        for q in range(rank):
            if q != p and _shared(terms[p], terms[q]) >= 3:
                rank = _merge(terms, rank, p, q, rng_state)
                changed = True
                break
    return rank


@numba.njit(nogil=True, cache=True)
def _walk(start, n, target_rank, max_flips, plateau, plus_levels, seed):
    """One walker from ``start`` (r, 3); returns (best terms, flips made)."""
    capacity = start.shape[0] + 64
    terms = np.zeros((capacity, 3), np.uint64)
    rank = start.shape[0]
    terms[:rank] = start
    rng_state = np.array([np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)], np.uint64)
    for p in range(rank):  # start reduced: merge what already meets in planes
        if p < rank:
            rank = _reduce_around(terms, rank, p, rng_state)
    best = terms[:rank].copy()
    since = 0
    flips = 0
    candidates = np.empty(capacity, np.int64)
    while flips < max_flips and best.shape[0] > target_rank:
        if rank < 2:
            break
        flips += 1
        since += 1
        if since >= plateau:  # a plateau: climb by a plus move, or restart from the best when high
            since = 0
            if rank >= best.shape[0] + plus_levels or rank + 1 >= capacity or n < 4:
                rank = best.shape[0]
                terms[:rank] = best
            else:
                _plus(terms, rank, _rand(rng_state, rank), n, rng_state)
                rank += 1
            continue
        p = _rand(rng_state, rank)
        sp = _span(terms[p, 0], terms[p, 1], terms[p, 2])
        x = sp[_rand(rng_state, 7)]
        found = 0
        for q in range(rank):
            if q == p:
                continue
            sq = _span(terms[q, 0], terms[q, 1], terms[q, 2])
            for j in range(7):
                if sq[j] == x:
                    candidates[found] = q
                    found += 1
                    break
        if found == 0:
            continue
        q = candidates[_rand(rng_state, found)]
        if _shared(terms[p], terms[q]) >= 3:
            rank = _merge(terms, rank, p, q, rng_state)
        else:
            b, c = _basis_with(terms[p], x, rng_state)
            b2, c2 = _basis_with(terms[q], x, rng_state)
            terms[p, 0], terms[p, 1], terms[p, 2] = x, b ^ b2, c
            terms[q, 0], terms[q, 1], terms[q, 2] = x, b2, c ^ c2
            hi, lo = max(p, q), min(p, q)
            for t in (hi, lo):  # a flip can make a term's factors dependent: it vanishes
                if not _independent(terms[t, 0], terms[t, 1], terms[t, 2]):
                    terms[t] = terms[rank - 1]
                    rank -= 1
            if p < rank:
                rank = _reduce_around(terms, rank, p, rng_state)
            if q < rank:
                rank = _reduce_around(terms, rank, q, rng_state)
        if rank < best.shape[0]:
            best = terms[:rank].copy()
            since = 0
    return best, flips


@numba.njit(nogil=True, cache=True)
def _plus(terms, rank, p, n, rng_state):
    """Splits term p into (a, b, c + d) and (a, b, d), d outside span(a, b, c), as row ``rank``."""
    a, b, c = terms[p, 0], terms[p, 1], terms[p, 2]
    span = _span(a, b, c)
    while True:  # n >= 4: a random vector lies outside the 3-dim span with probability >= 1/2
        d = np.uint64(0)
        for bit in range(n):
            if _rand(rng_state, 2):
                d |= np.uint64(1) << np.uint64(bit)
        outside = d != 0
        for v in span:
            outside &= d != v
        if outside:
            break
    terms[rank, 0], terms[rank, 1], terms[rank, 2] = a, b, d
    terms[p, 2] = c ^ d


def pair_cover(tensor: PhaseTensor) -> np.ndarray:
    """A Toffoli decomposition from grouping monomials: ``x_i x_j (x_k + x_l + ...)``, greedy by pair.

    uint64 [r, 3]. Each step takes the pair of variables in the most remaining monomials.
    """
    left = {tuple(int(v) for v in m) for m in tensor.monomials}
    terms = []
    while left:
        counts: dict = {}
        for i, j, k in left:
            for pair in ((i, j), (i, k), (j, k)):
                counts[pair] = counts.get(pair, 0) + 1
        i, j = max(sorted(counts), key=counts.get)
        covered = [m for m in left if i in m and j in m]
        third = 0
        for m in covered:
            (k,) = set(m) - {i, j}
            third |= 1 << k
        left -= set(covered)
        terms.append((1 << i, 1 << j, third))
    return np.array(terms, np.uint64).reshape(-1, 3)


def walk_toffoli(
    terms,
    n: int,
    *,
    target_rank: int = 0,
    max_flips: int = 100_000,
    plateau: int = 2_000,
    plus_levels: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """One flip-graph walk from a Toffoli decomposition; returns (the best one met, flips made).

    After ``plateau`` flips without a new best, the walker makes a plus move, unless it is
    already ``plus_levels`` above its best: then it restarts from the best.
    """
    terms = np.ascontiguousarray(np.asarray(terms, np.uint64).reshape(-1, 3))
    if len(terms) == 0:
        return terms, 0
    best, flips = _walk(
        terms, int(n), int(target_rank), int(max_flips), int(plateau), int(plus_levels), int(seed)
    )
    return best, int(flips)

"""Flip-graph local search over GF(2) (Kauers & Moosbauer 2022), the library behind ``gamify flips``.

The walker is C++ (``cpp_ext/include/gamify/flips.hpp``, one walker per thread): random
flips between terms that share a factor, reductions (rank − 1) taken as soon as they
appear, plus transitions (rank + 1) or restarts after a plateau. Schemes go in and
out as :class:`gamify.tensor.Scheme`; every scheme this module returns is verified exactly
first.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from gamify.tensor import kernels
from gamify.tensor.scheme import Scheme

__all__ = [
    "PLATEAU",
    "PLATEAU_RANGE",
    "FlipResult",
    "from_masks",
    "standard_scheme",
    "symmetric_orbits",
    "symmetric_scheme",
    "to_masks",
    "transposed_terms",
    "walk",
]

MAX_DIM = 64  # a factor is one uint64 bit mask
MAX_SEED = 2**63  # seeds are uint64 in C++; kept below 2^63 so Python and C++ read them alike
# Flips without a reduction before a plus transition: best for ⟨3,3,4⟩-sized cases; ⟨4,4,4⟩ and
# up (and symmetric walks) do better with 10,000-20,000.
PLATEAU = 2000
# gamify bench ranks draws each stretch's plateau log-uniformly from [plateau, PLATEAU_RANGE ×
# plateau] for formats whose sides are all ≥ 4: at 30 s on 2 cores that beat the fixed plateau
# there (⟨4,4,4⟩ 49 vs 52, ⟨5,5,5⟩ symmetric 96 vs 99, 3 seeds) but lost on smaller ones
# (⟨2,5,5⟩, ⟨3,3,5⟩, ⟨3,4,4⟩), which need the short plateau's many plus moves (RESULTS.md).
PLATEAU_RANGE = 50

# Diagonal blocks whose cubes x⊗x⊗x start the symmetric walks (one string per cube, "1" marks
# the diagonal entries of x): the partitions Moosbauer & Poole's searches used for their best
# ranks (⟨5,5,5⟩: 93 = 3 cubes + 30 orbits). Other sizes: one cube, the identity.
DEFAULT_CUBES = {
    2: ("11",),
    3: ("010", "101"),
    4: ("1111",),
    5: ("10001", "01010", "00100"),
    6: ("110011", "001100"),
}


def standard_scheme(n: int, m: int, p: int) -> Scheme:
    """The naive algorithm for ⟨n,m,p⟩ over Z2: the n·m·p terms a_ij ⊗ b_jk ⊗ c_ki."""
    i, j, k = (x.ravel() for x in np.meshgrid(np.arange(n), np.arange(m), np.arange(p), indexing="ij"))
    factors = []
    for size, hot in ((n * m, i * m + j), (m * p, j * p + k), (p * n, k * n + i)):
        factor = np.zeros((n * m * p, size), np.int64)
        factor[np.arange(n * m * p), hot] = 1
        factors.append(factor)
    return Scheme(*factors, field="z2", matmul=(n, m, p))


def symmetric_scheme(n: int, cubes: tuple[str, ...] | None = None) -> Scheme:
    """The naive algorithm for ⟨n,n,n⟩ rewritten to be invariant under (a, b, c) → (b, c, a).

    Each cube x⊗x⊗x (x the diagonal matrix with 1s where its string has them; the strings
    must partition the diagonal) replaces the naive terms of its block's diagonal,
    e_ii⊗e_ii⊗e_ii for i in the block, together with e_ii⊗e_jj⊗e_kk over the block's other
    (i, j, k): x⊗x⊗x is their sum. Every other naive term e_ij⊗e_jk⊗e_ki is kept; those come
    in orbits of three. Valid over Z2 only (the block terms cancel mod 2).

    Raises:
      ValueError: the cube strings are not 0/1 strings of length n partitioning the diagonal.
    """
    cubes = DEFAULT_CUBES.get(n, ("1" * n,)) if cubes is None else tuple(cubes)
    blocks = [[i for i, bit in enumerate(c) if bit == "1"] for c in cubes]
    if any(len(c) != n or set(c) - {"0", "1"} for c in cubes) or sorted(sum(blocks, [])) != list(range(n)):
        raise ValueError(
            f"cubes must be 0/1 strings of length {n} whose 1s partition the diagonal, got {cubes}"
        )
    entry = lambda i, j: 1 << (i * n + j)  # noqa: E731  (the same index for A, B and Cᵀ)
    terms = [
        (entry(i, j), entry(j, k), entry(k, i))
        for i in range(n)
        for j in range(n)
        for k in range(n)
        if not i == j == k
    ]
    for block in blocks:
        diagonal = sum(entry(i, i) for i in block)
        terms.append((diagonal, diagonal, diagonal))
        terms += [
            (entry(i, i), entry(j, j), entry(k, k))
            for i in block
            for j in block
            for k in block
            if not i == j == k
        ]
    return from_masks(np.array(terms, np.uint64), (n * n,) * 3, (n, n, n))


def _odd_terms(scheme: Scheme) -> set[tuple[int, int, int]]:
    """The scheme's terms as bit masks, each kept when it occurs an odd number of times (mod 2)."""
    odd: set[tuple[int, int, int]] = set()
    for term in map(tuple, to_masks(scheme).tolist()):
        odd ^= {term}
    return odd


def symmetric_orbits(scheme: Scheme) -> tuple[np.ndarray, np.ndarray]:
    """A cyclic-symmetric Z2 scheme as (orbit representatives uint64[t, 3], cubes uint64[s]).

    Raises:
      ValueError: the scheme is not invariant under (a, b, c) → (b, c, a) (terms counted mod 2).
    """
    if len(set(scheme.shape)) != 1:
        raise ValueError(f"a cyclic-symmetric scheme needs equal factor sizes, got shape {scheme.shape}")
    terms = _odd_terms(scheme)
    cubes = sorted(a for a, b, c in terms if a == b == c)
    orbits = []
    for a, b, c in sorted(terms):
        if a == b == c or (a, b, c) != min((a, b, c), (b, c, a), (c, a, b)):
            continue
        if (b, c, a) not in terms or (c, a, b) not in terms:
            raise ValueError("the scheme is not cyclic-symmetric: some term's shifts are missing")
        orbits.append((a, b, c))
    if 3 * len(orbits) + len(cubes) != len(terms):
        raise ValueError("the scheme is not cyclic-symmetric")
    return np.array(orbits, np.uint64).reshape(-1, 3), np.array(cubes, np.uint64)


def transposed_terms(scheme: Scheme) -> np.ndarray:
    """The terms (uint64[R, 3], mod 2) of an ⟨n,n,n⟩ Z2 scheme invariant under the 6-element group.

    The group is generated by the cyclic shift (a, b, c) → (b, c, a) and the transposition
    (a, b, c) → (bᵀ, aᵀ, cᵀ), both symmetries of gamify's ⟨n,n,n⟩ (whose C is transposed);
    factors are n×n matrices, so the scheme's shape is (n², n², n²).

    Raises:
      ValueError: not that shape, or the scheme is not invariant (terms counted mod 2).
    """
    n = math.isqrt(scheme.shape[0])
    if len(set(scheme.shape)) != 1 or n * n != scheme.shape[0]:
        raise ValueError(
            f"the transposition symmetry needs factors of n×n matrices, got shape {scheme.shape}"
        )
    terms = _odd_terms(scheme)

    def transposed(x: int) -> int:
        return sum(1 << (e % n * n + e // n) for e in range(n * n) if x >> e & 1)

    for a, b, c in terms:
        if (b, c, a) not in terms or (transposed(b), transposed(a), transposed(c)) not in terms:
            raise ValueError("the scheme is not invariant under the cyclic shift and the transposition")
    return np.array(sorted(terms), np.uint64).reshape(-1, 3)


def to_masks(scheme: Scheme) -> np.ndarray:
    """uint64[R, 3]: each term's factors a, b, c as bit masks (entry e is bit e), mod 2."""
    if max(scheme.shape) > MAX_DIM:
        raise ValueError(f"flips handle factors of at most {MAX_DIM} entries, got shape {scheme.shape}")
    if scheme.denominators != (1, 1, 1):
        raise ValueError("flips work over Z2: a scheme with fractions has no reduction mod 2")
    masks = [
        (f & 1).astype(np.uint64) << np.arange(f.shape[1], dtype=np.uint64)
        for f in (scheme.u, scheme.v, scheme.w)
    ]
    return np.stack([x.sum(axis=1, dtype=np.uint64) for x in masks], axis=1)


def from_masks(masks: np.ndarray, shape: tuple[int, int, int], matmul=None, target=None) -> Scheme:
    """The Z2 scheme of terms given as bit masks uint64[R, 3]."""
    factors = [
        ((masks[:, f, None] >> np.arange(size, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)
        for f, size in enumerate(shape)
    ]
    return Scheme(*factors, field="z2", matmul=matmul, target=target)


@dataclasses.dataclass(frozen=True)
class FlipResult:
    """A walk's outcome: the best scheme (verified), whether it reached the target, and counts."""

    scheme: Scheme
    reached: bool
    flips: int
    reductions: int
    restarts: int
    plus_transitions: int
    seconds: float
    interrupted: bool = False  # Ctrl-C ended the walk early; the scheme is still its best, verified
    pool: tuple[tuple[int, int, bool], ...] = ()  # the scheme pool's (rank, schemes, open), lowest first
    distinct: tuple[Scheme, ...] = ()  # the pool's distinct schemes of the best rank, verified


def max_threads() -> int:
    """The most walkers one walk runs: 4 per core (more only time-slice the same cores), at most 256."""
    return min(256, 4 * (os.cpu_count() or 1))


def walk(
    scheme: Scheme,
    target_rank: int,
    seconds: float,
    *,
    target: np.ndarray | None = None,
    max_flips: int = 0,
    plateau: int = PLATEAU,
    plus_transitions: bool = True,
    plateau_max: int = 0,
    luby: bool = False,
    plus_levels: int = 1,
    pool_size: int = 0,
    pool_greed: float = 0.0,
    pool_schemes: Sequence[Scheme] = (),
    symmetric: bool = False,
    transposed: bool = False,
    seed: int = 0,
    threads: int | None = None,
    report_every: float = 1.0,
    progress: Callable[[FlipResult], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> FlipResult:
    """Flip-graph random walks from ``scheme`` until ``target_rank``, ``seconds`` or ``max_flips``.

    The walkers (one per thread, seeds ``seed``, ``seed + 1``, ...) keep walking across
    rounds of at most ``report_every`` seconds; after each round ``progress`` gets the
    best scheme so far and the totals.

    Args:
      scheme: a valid scheme over Z2 (a Z scheme is reduced mod 2), factors ≤ 64 entries.
      target_rank: stop at this rank or below.
      seconds: wall-time budget.
      target: the tensor it must decompose (default: ``scheme.matmul``'s); checked before
        and after.
      max_flips: flips per walker, then the walk stops; 0 for no limit.
      plateau: flips without a reduction before a walker makes a plus move (or restarts).
      plus_transitions: escape plateaus by rank + 1 moves (when the walker is at most
        ``plus_levels`` above its level; otherwise, and without them, it restarts).
      plateau_max: above ``plateau``, each stretch between reductions draws its plateau
        log-uniformly from [plateau, plateau_max] instead of one fixed plateau.
      luby: stretch k's plateau is ``plateau`` × the Luby sequence's k-th term (1, 1, 2, 1, 1,
        2, 4, ...), capped at ``plateau_max`` when that is set: a schedule within a log factor
        of the best fixed plateau, whatever it is (Luby, Sinclair & Zuckerman 1993).
      plus_levels: how far above its level (its best rank; with a pool, the rank its walk
        started from) a walker still climbs by plus transitions, in plus steps.
      pool_size: above 0, the walkers share a pool of up to this many distinct schemes per
        rank: every scheme a walk brings below the rank it started from goes into the pool,
        and walks restart from the lowest rank that holds ``pool_size`` schemes (or whose
        arrivals repeat ``pool_size`` times in a row): a breadth-first descent (Kauers &
        Moosbauer's levels, run asynchronously). 0: walkers restart from their best or start.
      pool_greed: with a pool, the chance that a restart draws from the pool's lowest rank
        even before it is full (depth before breadth).
      pool_schemes: more starting schemes for the pool (e.g. an earlier run's distinct
        schemes, or another machine's), each verified like ``scheme``; needs ``pool_size``.
        Walks restart from the lowest rank among them and ``scheme``.
      symmetric: walk only among schemes invariant under the cyclic shift (a, b, c) → (b, c, a)
        (Moosbauer & Poole): every move acts on whole orbits of three terms, so the walk
        searches a far smaller space; the scheme must be symmetric (:func:`symmetric_scheme`)
        and the target tensor too (⟨n,n,n⟩ is). Ranks move in steps of 3 (2 when an orbit
        becomes a cube).
      transposed: with ``symmetric``, also invariant under the transposition (a, b, c) →
        (bᵀ, aᵀ, cᵀ): the 6-element group these two generate. Its orbits have 6, 3, 2 or 1
        terms (Strassen's ⟨2,2,2⟩ is 1 + 3 + 3), so every term is kept and each move adds a
        local identity's orbit mod 2 (``cpp_ext/include/gamify/sixfold.hpp``). The naive
        ⟨n,n,n⟩ and :func:`symmetric_scheme`'s schemes are invariant (:func:`transposed_terms`
        checks); from the naive one, at plateau 100, the walks go furthest (RESULTS.md).
      seed: seeds the walkers, in [0, 2^63).
      threads: walkers in parallel (default: every core; at most :func:`max_threads`).
      should_stop: asked after each round; True ends the walk (marked ``interrupted``).

    Returns:
      A :class:`FlipResult` whose scheme is verified exactly. Ctrl-C (KeyboardInterrupt)
      during the walk ends it within ``report_every`` seconds and returns the best scheme
      found, marked ``interrupted``.

    Raises:
      ValueError: the scheme does not decompose the target over Z2, or bad arguments.
    """
    if target_rank < 0 or seconds <= 0 or plateau < 1 or max_flips < 0:
        raise ValueError("target_rank >= 0, seconds > 0, plateau >= 1 and max_flips >= 0 are required")
    if plateau_max and plateau_max < plateau:
        raise ValueError(f"plateau_max must be 0 or at least plateau ({plateau}), got {plateau_max}")
    if plus_levels < 0 or pool_size < 0 or not 0 <= pool_greed <= 1:
        raise ValueError("plus_levels >= 0, pool_size >= 0 and 0 <= pool_greed <= 1 are required")
    if transposed and not symmetric:
        raise ValueError("transposed walks are symmetric walks: set symmetric=True too")
    if pool_schemes and not pool_size:
        raise ValueError("pool_schemes need a pool: set pool_size")
    threads = threads or os.cpu_count() or 1
    if not 1 <= threads <= max_threads():
        raise ValueError(f"threads must be in [1, {max_threads()}] on this machine, got {threads}")
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed must be in [0, 2^63), got {seed}")
    scheme = scheme.to_z2()
    if target is not None and scheme.matmul is None:  # the result keeps what it decomposes
        scheme = dataclasses.replace(scheme, target=target)
    check = scheme.verify(target)  # with target None: scheme.matmul's tensor, or a ValueError
    if not check.ok:
        raise ValueError(f"the starting scheme is wrong over Z2: {check}")
    settings = dict(
        target_rank=target_rank,
        max_flips=max_flips,
        plateau=plateau,
        plus_transitions=plus_transitions,
        seed=seed,
        threads=threads,
        plateau_max=plateau_max,
        luby=luby,
        plus_levels=plus_levels,
        pool_size=pool_size,
        pool_greed=pool_greed,
    )
    given = []
    for k, extra in enumerate(pool_schemes):
        extra = extra.to_z2()
        if extra.shape != scheme.shape or not (check := extra.verify(scheme.tensor())).ok:
            problem = f"shape {extra.shape}" if extra.shape != scheme.shape else str(check)
            raise ValueError(f"pool scheme {k} does not decompose the same tensor over Z2: {problem}")
        kind = transposed_terms if transposed else symmetric_orbits if symmetric else to_masks
        given.append(kind(extra))
    if transposed:
        side = math.isqrt(scheme.shape[0])
        search = kernels.flip_search(transposed_terms(scheme), sixfold=side, given=given, **settings)
    elif symmetric:
        orbits, cubes = symmetric_orbits(scheme)
        search = kernels.flip_search(orbits, cubes=cubes, given=given, **settings)
    else:
        search = kernels.flip_search(to_masks(scheme), given=given, **settings)
    start = time.perf_counter()
    reached = scheme.rank <= target_rank

    def result() -> FlipResult:
        names = ("flips", "reductions", "restarts", "plus_transitions")
        counts = dict(zip(names, (int(x) for x in search.stats()), strict=True))
        best = from_masks(search.best(), scheme.shape, scheme.matmul, scheme.target)
        pool = tuple((int(r), int(n), bool(o)) for r, n, o in search.levels())
        return FlipResult(best, bool(reached), **counts, seconds=time.perf_counter() - start, pool=pool)

    interrupted = False
    try:
        while not reached and (left := seconds - (time.perf_counter() - start)) > 0:
            reached = search.run(min(left, report_every))
            if progress is not None:
                progress(result())
            if max_flips and search.stats()[0] >= max_flips * threads:
                break  # every walker used its flips
            if should_stop():
                interrupted = True
                break
    except KeyboardInterrupt:  # arrives when a round returns: the walkers' best is intact
        interrupted = True
    final = dataclasses.replace(result(), interrupted=interrupted)
    pooled = search.pooled(final.scheme.rank)
    distinct = tuple(from_masks(masks, scheme.shape, scheme.matmul, scheme.target) for masks in pooled)
    final = dataclasses.replace(final, distinct=distinct)
    for best in (final.scheme, *distinct):
        check = best.verify(target)
        if not check.ok:  # the moves keep the tensor; never hand out an unverified scheme
            raise RuntimeError(f"internal error: the flip walk produced a wrong scheme: {check}")
    return final

"""Search for low Toffoli and T counts of a phase tensor, within a time budget.

Two stages, as polytof's pipeline has (its basis-change stage aside):

1. **Toffoli count**: flip-graph walks over 3-dimensional subspaces
   (:mod:`gamify.tensor.toffoli`) from the greedy pair cover of the monomials, on
   ``threads`` walkers, each round restarting from the best decomposition or (every other
   round) from the cover, for a share of the budget.
2. **T-count**: each Toffoli is 7 T gates; TOHPE/FastTODD descents
   (:mod:`gamify.tensor.todd`) from the pair cover's 7 gates each (at once, before stage 1)
   and from the best Toffoli decompositions, then iterated local search (a random valid move that may
   lengthen by a little, then descend again) from the best, until the budget ends.

Every decomposition returned is verified exactly against the tensor.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gamify.tensor.todd import kick, reduce_parities
from gamify.tensor.toffoli import pair_cover, walk_toffoli
from gamify.tensor.waring import PhaseTensor, PhaseTensorError, check_toffoli, check_waring, toffoli_to_waring

ROUND_FLIPS = 50_000  # flips per walker between restarts
PLATEAU = 1_000  # flips without a reduction before a plus move
KEEP = 8  # distinct best Toffoli decompositions handed to the T-count stage
MAX_PAIRS = 50_000  # FastTODD pairs tried per move on long tables (all of them up to ~316 parities)


@dataclasses.dataclass
class TcountResult:
    """The best decompositions found, verified, and when each was found (seconds from the start)."""

    tensor: PhaseTensor
    toffoli: np.ndarray  # uint64 [r, 3]
    parities: np.ndarray  # uint64 [t]
    toffoli_seconds: float
    tcount_seconds: float
    walks: int = 0
    descents: int = 0
    stopped: bool = False  # should_stop() ended it early

    @property
    def toffoli_count(self) -> int:
        return len(self.toffoli)

    @property
    def t_count(self) -> int:
        return len(self.parities)


def search(
    tensor: PhaseTensor,
    seconds: float,
    *,
    seed: int = 0,
    threads: int | None = None,
    toffoli_share: float = 0.5,
    progress: Callable[[str, TcountResult], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TcountResult:
    """Finds a low Toffoli count, then a low T-count, in about ``seconds``.

    Args:
      tensor: the phase tensor.
      seconds: the whole budget; ``toffoli_share`` of it goes to the Toffoli stage.
      seed: walkers and descents draw from ``seed`` (same seed, same platform, same
        result when the budget is not what ends a stage).
      threads: walkers at once (default: the CPUs this process may use).
      progress: called as ``progress(stage, result)`` with stage ``"start"`` (the pair cover and
        its 7 T gates each), then ``"toffoli"`` or ``"tcount"`` at each improvement.
      should_stop: polled between rounds (Ctrl-C): the best so far is returned.
    """
    if seconds <= 0 or not 0 < toffoli_share < 1:
        raise ValueError("seconds must be positive and toffoli_share in (0, 1)")
    threads = threads or len(os.sched_getaffinity(0))
    _compile()
    start = time.perf_counter()
    cover = pair_cover(tensor)
    result = TcountResult(tensor, cover, toffoli_to_waring(cover), 0.0, 0.0)
    report = progress or (lambda stage, r: None)
    report("start", result)
    if tensor.nnz == 0:
        return result

    def late() -> bool:
        return should_stop() or time.perf_counter() - start > seconds

    first = reduce_parities(result.parities, tensor.n, seed=seed, max_pairs=MAX_PAIRS, should_stop=late)
    _better(tensor, result, first, start, report)
    keep = _toffoli_stage(tensor, result, start, seconds * toffoli_share, seed, threads, report, should_stop)
    _tcount_stage(tensor, result, keep, start, seconds, seed, report, should_stop)
    result.stopped = should_stop()
    if check_toffoli(tensor, result.toffoli) is not None or check_waring(tensor, result.parities) is not None:
        raise PhaseTensorError(
            "internal error: a search result does not decompose the tensor"
        )  # never expected
    return result


@functools.cache
def _compile() -> None:
    """Compiles (or loads from numba's cache) the kernels before the clock starts."""
    terms = np.array([[1, 2, 4], [1, 2, 8]], np.uint64)
    walk_toffoli(terms, 4, max_flips=10)
    parities = toffoli_to_waring(terms)
    reduce_parities(parities, 4)
    kick(parities, 4)


def _toffoli_stage(tensor, result, start, budget, seed, threads, report, should_stop) -> list[np.ndarray]:
    best: list[np.ndarray] = [result.toffoli]
    cover = result.toffoli
    round_index = 0
    with ThreadPoolExecutor(threads) as pool:
        while time.perf_counter() - start < budget and not should_stop() and result.toffoli_count > 1:
            starts = [cover if (round_index + w) % 2 else best[w % len(best)] for w in range(threads)]
            seeds = [seed * 1_000_003 + round_index * threads + w for w in range(threads)]
            walks = list(
                pool.map(
                    lambda a: walk_toffoli(a[0], tensor.n, max_flips=ROUND_FLIPS, plateau=PLATEAU, seed=a[1]),
                    zip(starts, seeds, strict=True),
                )
            )
            round_index += 1
            result.walks += len(walks)
            for terms, _ in walks:
                if check_toffoli(tensor, terms) is not None:
                    raise PhaseTensorError("internal error: a walk left the tensor")  # never expected
                if len(terms) < result.toffoli_count:
                    result.toffoli, result.toffoli_seconds = terms, time.perf_counter() - start
                    best = [terms]
                    report("toffoli", result)
                elif len(terms) == result.toffoli_count and len(best) < KEEP:
                    if not any(_same_terms(terms, b) for b in best):
                        best.append(terms)
    return best


def _tcount_stage(tensor, result, keep, start, seconds, seed, report, should_stop) -> None:
    n = tensor.n
    rng = np.random.default_rng(seed)

    def late() -> bool:
        return should_stop() or time.perf_counter() - start > seconds

    starts = [toffoli_to_waring(terms) for terms in keep]
    current = result.parities
    for i, parities in enumerate(starts):  # every start once, then local search from the best
        if should_stop() or (i and time.perf_counter() - start > seconds):
            break
        current = _better(
            tensor,
            result,
            reduce_parities(parities, n, seed=seed + i, max_pairs=MAX_PAIRS, should_stop=late),
            start,
            report,
        )
    while time.perf_counter() - start < seconds and not should_stop():
        step = int(rng.integers(1 << 62))
        kicked = kick(
            result.parities if rng.random() < 0.5 else current, n, seed=step, slack=int(rng.integers(0, 3))
        )
        current = _better(
            tensor,
            result,
            reduce_parities(kicked, n, seed=step, max_pairs=MAX_PAIRS, should_stop=late),
            start,
            report,
        )


def _better(tensor, result, parities, start, report) -> np.ndarray:
    if check_waring(tensor, parities) is not None:
        raise PhaseTensorError("internal error: a T-count move left the tensor")  # never expected
    result.descents += 1
    if len(parities) < result.t_count:
        result.parities, result.tcount_seconds = parities, time.perf_counter() - start
        report("tcount", result)
    return parities


def _same_terms(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two Toffoli decompositions have the same subspaces (in any order, any bases)."""
    if len(a) != len(b):
        return False
    return sorted(_subspace_key(t) for t in a) == sorted(_subspace_key(t) for t in b)


def _subspace_key(term) -> tuple:
    a, b, c = (int(x) for x in term)
    return tuple(sorted({a, b, c, a ^ b, a ^ c, b ^ c, a ^ b ^ c}))

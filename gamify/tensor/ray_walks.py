"""Flip-graph walks on a Ray cluster: walkers as Ray tasks on every CPU of the cluster, one
pool of the best schemes per rank (a Ray actor) that outlives any walker.

Each task is a *round*: :func:`gamify.tensor.flips.walk` (the C++ walker, ``threads``
threads) for up to ``round_seconds``, started from a scheme of the pool's lowest rank with
the pool's other schemes of that rank as its own pool. The driver verifies every scheme a
round brings back before the pool takes it, and starts the next round from the pool; a
round whose worker dies is counted as lost and replaced, and the pool keeps everything the
others found. Ray is an optional extra: ``pip install "gamify[ray]"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence

import ray

from gamify.tensor.flips import FlipResult, to_masks, walk
from gamify.tensor.scheme import Scheme


class JoinError(ValueError):
    """Ray could not be started, or its cluster joined."""


@contextlib.contextmanager
def session(address: str | None = None, **options) -> Iterator[None]:
    """Ray for the block: the instance already running in this process, else one started here
    (``address``: ``"auto"``, ``"HOST:PORT"`` of a cluster, None for a local instance; ``options``
    go to ``ray.init``) and shut down after it.

    Ray starts from a neutral working directory: it puts the driver's working directory on its
    workers' ``sys.path``, where a gamify source checkout would shadow the installed package
    and its compiled walker.

    Raises:
      JoinError: Ray could not start or join the cluster.
    """
    if ray.is_initialized():
        yield
        return
    try:
        with contextlib.chdir(tempfile.gettempdir()):
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                **options,
            )
    except (ConnectionError, ValueError, RuntimeError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise JoinError(
            f"cannot join the Ray cluster at {address or 'a new local instance'}: {detail}"
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


@ray.remote(num_cpus=0)
class SchemePool:
    """The distinct schemes found, up to ``keep`` per rank (the first ones to arrive)."""

    def __init__(self, keep: int):
        self.keep = keep
        self.by_rank: dict[int, dict[bytes, Scheme]] = {}

    def offer(self, schemes: list[Scheme]) -> int:
        """Takes the schemes (verified by the caller); returns the lowest rank held."""
        for scheme in schemes:
            held = self.by_rank.setdefault(scheme.rank, {})
            if len(held) < self.keep:
                held.setdefault(to_masks(scheme).tobytes(), scheme)
        return min(self.by_rank)

    def lowest(self) -> list[Scheme]:
        """The schemes of the lowest rank held."""
        return list(self.by_rank[min(self.by_rank)].values())

    def summary(self) -> list[tuple[int, int]]:
        """(rank, schemes held), lowest rank first."""
        return [(rank, len(self.by_rank[rank])) for rank in sorted(self.by_rank)]


@ray.remote(max_retries=0)  # a lost round is the driver's to replace, from the pool as it is then
def _round(start: Scheme, others: list[Scheme], target_rank: int, seconds: float, **settings) -> FlipResult:
    return walk(start, target_rank, seconds, pool_schemes=others, report_every=seconds, **settings)


def ray_walk(
    scheme: Scheme,
    target_rank: int,
    seconds: float,
    *,
    address: str | None = None,
    walkers: int | None = None,
    threads: int = 1,
    round_seconds: float = 10.0,
    pool_size: int = 16,
    pool_schemes: Sequence[Scheme] = (),
    keep: int = 64,
    seed: int = 0,
    progress: Callable[[FlipResult], None] | None = None,
    on_lost: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    **settings,
) -> FlipResult:
    """Flip-graph walks from ``scheme`` on a Ray cluster until ``target_rank`` or ``seconds``.

    Args:
      scheme: a valid scheme over Z2, as for :func:`gamify.tensor.flips.walk`.
      target_rank, seconds: when to stop.
      address: the cluster to join (``"auto"``, ``"HOST:PORT"``); None: the Ray instance
        already started in this process (best with :func:`init`), else a new local one.
      walkers: rounds in flight at once (default: the cluster's CPUs // ``threads``).
      threads: C++ walker threads per round (the CPUs each task asks Ray for).
      round_seconds: the longest round; the driver hears from each walker this often.
      pool_size: each round's own pool of distinct schemes per rank (``walk``'s), which its
        distinct schemes come back from.
      pool_schemes: more starting schemes for the shared pool (verified first).
      keep: schemes the shared pool keeps per rank.
      seed: round k walks with seeds ``seed + k * threads``, ...
      progress: called with the totals and best scheme after each round.
      on_lost: called with a line saying a round was lost (its worker died).
      should_stop: asked while waiting; True ends the job (rounds in flight are cancelled).
      settings: more :func:`gamify.tensor.flips.walk` options (plateau, plus_transitions, ...).

    Returns:
      A :class:`FlipResult` over the whole job, its scheme and ``distinct`` verified here, its
      ``pool`` the shared pool's (rank, schemes held, False).
    """
    if seconds <= 0 or round_seconds <= 0 or threads < 1 or pool_size < 1 or keep < 1:
        raise ValueError("seconds, round_seconds, threads, pool_size and keep must be positive")
    target = scheme.tensor()
    for k, extra in enumerate(pool_schemes):
        if not extra.to_z2().verify(target).ok:
            raise ValueError(f"pool scheme {k} does not decompose the starting scheme's tensor over Z2")
    with session(address):
        if walkers is None:
            walkers = max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        pool = SchemePool.remote(keep)
        ray.get(pool.offer.remote([s.to_z2() for s in (scheme, *pool_schemes)]))
        clock = time.monotonic()  # the budget is walking time: from here, once the pool is up
        deadline = clock + seconds
        best = min([s.to_z2() for s in (scheme, *pool_schemes)], key=lambda s: s.rank)
        totals, rounds = dict(flips=0, reductions=0, restarts=0, plus=0), 0
        pending: dict[ray.ObjectRef, int] = {}
        chooser = random.Random(seed)

        def submit() -> None:
            nonlocal rounds
            left = deadline - time.monotonic()
            if left <= 0.05 or best.rank <= target_rank:
                return
            lowest = ray.get(pool.lowest.remote())
            chooser.shuffle(lowest)
            ref = _round.options(num_cpus=threads).remote(
                lowest[0], lowest[1:pool_size], target_rank, min(round_seconds, left),
                pool_size=pool_size, seed=seed + rounds * threads, threads=threads, **settings,
            )  # fmt: skip
            pending[ref] = rounds
            rounds += 1

        for _ in range(walkers):
            submit()
        interrupted = False
        while pending:
            if should_stop():
                interrupted = True
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            if not ready:
                continue
            number = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayTaskError:  # the walk itself failed: no use starting another
                raise
            except ray.exceptions.RayError as error:  # its worker died: the pool is untouched
                if on_lost is not None:
                    reason = (
                        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    )
                    on_lost(f"walker round {number} lost ({reason}); another starts from the pool")
                submit()
                continue
            found = [s for s in (result.scheme, *result.distinct) if s.verify(target).ok]
            if found:
                ray.get(pool.offer.remote(found))
                best = min([best, *found], key=lambda s: s.rank)
            totals["flips"] += result.flips
            totals["reductions"] += result.reductions
            totals["restarts"] += result.restarts
            totals["plus"] += result.plus_transitions
            if progress is not None:
                progress(_result(best, target_rank, totals, clock, pool, interrupted=False))
            submit()
        for ref in pending:  # a stop, or the target reached elsewhere: their work is not needed
            ray.cancel(ref, force=True)
        final = _result(best, target_rank, totals, clock, pool, interrupted=interrupted)
        distinct = tuple(s for s in ray.get(pool.lowest.remote()) if s.verify(target).ok)
        return dataclasses.replace(final, distinct=distinct)


def _result(best, target_rank, totals, clock, pool, *, interrupted) -> FlipResult:
    return FlipResult(
        scheme=best,
        reached=best.rank <= target_rank,
        flips=totals["flips"],
        reductions=totals["reductions"],
        restarts=totals["restarts"],
        plus_transitions=totals["plus"],
        seconds=time.monotonic() - clock,
        interrupted=interrupted,
        pool=tuple((rank, held, False) for rank, held in ray.get(pool.summary.remote())),
    )

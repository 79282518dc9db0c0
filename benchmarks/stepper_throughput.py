"""Stepper throughput: gamify's C++ kernels against numpy and jit JAX, and what they buy the search.

Three tables, every row's sides measured in the same process, alternating, on the same data:

1. **move** (``residual - u⊗v⊗w`` and the zero test, one move per game, B games): C++
   (``gamify.native.subtract_terms_packed`` on bit-packed Z2 residuals, one uint64 per
   fibre; ``gamify.native.subtract_terms`` on int32 Z residuals), numpy (the same on int8 /
   int32 arrays, vectorised over the batch) and jit JAX (``jax.jit`` of the same array code).
2. **game move** (the tensor game's whole move inside jit with shaped rewards: decode the
   action, the move, the slice-rank bound, the reward, the Env bookkeeping; vmapped over
   B games, 8 moves per call): ``backend="native"`` (the C++ kernel through XLA's FFI)
   against ``backend="jax"``.
3. **search** (``gamify.search.make_search``: simulations per second of a whole Gumbel
   MCTS search, small network, 16 simulations) with each backend.
4. **bound** (the GF(2) slice-rank bound of B residuals inside jit): the C++ FFI handler,
   the numba kernel through gamify's FFI trampoline (``gamify.numba_kernels``), the same
   numba kernel through ``jax.pure_callback``, and the JAX reference.

Usage::

    python benchmarks/stepper_throughput.py                  # full run (a few minutes)
    python benchmarks/stepper_throughput.py --quick          # smoke run
    python benchmarks/stepper_throughput.py --tables bound --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np

import gamify
from gamify import native
from gamify.games.tensor_decomposition import TensorDecomposition
from gamify.search import SearchConfig, make_search


def rate(fn: Callable[[], object], work: int, seconds: float, repeats: int) -> float:
    """Median over repeats of ``work`` units per second, each repeat looping ``fn`` for ``seconds``."""
    fn()
    rates = []
    for _ in range(repeats):
        start, calls = time.perf_counter(), 0
        while (elapsed := time.perf_counter() - start) < seconds:
            fn()
            calls += 1
        rates.append(calls * work / elapsed)
    return statistics.median(rates)


def moves(n: int, field: str, batch: int, seconds: float, repeats: int) -> dict:
    """Table 1: one move per game for B games, each side on its own representation."""
    dim = n * n
    rng = np.random.default_rng(0)
    low, high = (0, 2) if field == "z2" else (-1, 2)
    residual = rng.integers(low, high, (batch, dim, dim, dim)).astype(np.int8 if field == "z2" else np.int32)
    u, v, w = (rng.integers(low, high, (batch, dim)).astype(residual.dtype) for _ in range(3))
    sides = {}
    if field == "z2":  # every side returns the new residuals and which became zero
        weights = np.uint64(1) << np.arange(dim, dtype=np.uint64)
        words = np.ascontiguousarray((residual.astype(np.uint64) * weights).sum(-1, dtype=np.uint64))
        masks = [(x.astype(np.uint64) * weights).sum(-1, dtype=np.uint64) for x in (u, v, w)]
        sides["C++"] = lambda: native.subtract_terms_packed(words, *masks)  # in place

        def step(r, a, b, c, xp):
            nxt = r ^ (a[:, :, None, None] & b[:, None, :, None] & c[:, None, None, :])
            return nxt, ~xp.any(nxt, axis=(1, 2, 3))
    else:  # every side returns the new residuals (C++ also checks int32 overflow)
        sides["C++"] = lambda: native.subtract_terms(residual, u, v, w, "z")

        def step(r, a, b, c, xp):
            return r - a[:, :, None, None] * b[:, None, :, None] * c[:, None, None, :]

    sides["numpy"] = lambda: step(residual, u, v, w, np)
    jax_step = jax.jit(lambda *args: step(*args, jnp))
    device = [jnp.asarray(x) for x in (residual, u, v, w)]
    sides["jit JAX"] = lambda: jax.block_until_ready(jax_step(*device))
    return {name: rate(fn, batch, seconds, repeats) for name, fn in sides.items()}


def game_moves(n: int, field: str, batch: int, seconds: float, repeats: int, steps: int = 8) -> dict:
    """Table 2: the tensor game's move inside jit (vmapped, 8 moves a call), per backend."""

    def build(backend: str) -> Callable[[], object]:
        game = TensorDecomposition(n, n, n, field=field, backend=backend)
        env = gamify.Env(game)
        state = jax.vmap(env.init)(jax.random.split(jax.random.key(0), batch))
        draws = jax.random.randint(jax.random.key(1), (steps, batch, sum(game.shape) + 6), 0, 2**30)
        actions = jax.vmap(game._random_actions)(draws)
        play = jax.jit(lambda s, a: jax.lax.scan(lambda s, x: (jax.vmap(env.step)(s, x), None), s, a)[0])
        return lambda: jax.block_until_ready(play(state, actions))

    return {backend: rate(build(backend), steps * batch, seconds, repeats) for backend in ("native", "jax")}


def searches(n: int, field: str, batch: int, seconds: float, repeats: int, simulations: int = 16) -> dict:
    """Table 3: simulations per second of a whole search, per backend (same network and parameters)."""

    def build(backend: str) -> Callable[[], object]:
        game = TensorDecomposition(n, n, n, field=field, backend=backend)
        env = gamify.Env(game)
        config = gamify.NetworkConfig(hidden_size=64, head_hidden_size=64)
        network = gamify.make_network(env.action_space, config)
        states = jax.vmap(env.init)(jax.random.split(jax.random.key(0), batch))
        obs = jax.vmap(env.observe)(states)
        params = network.init(jax.random.key(1), obs[:1], jnp.ones((1,), jnp.float32))
        search = jax.jit(make_search(env, network, SearchConfig(num_simulations=simulations)))
        return lambda: jax.block_until_ready(search(params, jax.random.key(2), states))

    return {
        backend: rate(build(backend), batch * simulations, seconds, repeats) for backend in ("native", "jax")
    }


def bounds(n: int, batch: int, seconds: float, repeats: int) -> dict:
    """Table 4: slice-rank bounds of B residuals inside jit, four ways (same data)."""
    from gamify import numba_kernels
    from gamify.games.tensor_decomposition import slice_rank_bound

    shape = (n * n,) * 3
    residual = jnp.asarray(np.random.default_rng(0).integers(0, 2, (batch, *shape)).astype(np.int8))
    kernel = numba_kernels.slice_rank_bound_z2

    def host(r):  # pure_callback: back into Python, then the numba kernel per tensor
        return np.array([kernel(x) for x in np.asarray(r)], np.int32)

    out = jax.ShapeDtypeStruct((batch,), jnp.int32)
    reference = jax.vmap(lambda r: slice_rank_bound(r, "z2"))
    sides = {
        "C++ FFI": lambda r: native.tensor_bound(r, "z2", reference),
        "numba FFI": numba_kernels.slice_rank_bound_z2_jax(shape),
        "numba pure_callback": lambda r: jax.pure_callback(host, out, r, vmap_method="broadcast_all"),
        "JAX": reference,
    }
    results = {}
    for name, fn in sides.items():
        compiled = jax.jit(fn)
        results[name] = rate(lambda c=compiled: jax.block_until_ready(c(residual)), batch, seconds, repeats)
    return results


def report(results: dict, table: str, n: int, field: str, batch: int, values: dict, unit: str = "") -> None:
    """Prints one row (the first side's ratio over each other side) and keeps it."""
    results["rows"].append({"table": table, "n": n, "field": field, "batch": batch, **values})
    (first, best), *others = values.items()
    ratios = ", ".join(f"{first}/{name} {best / value:.1f}x" for name, value in others)
    sides = ", ".join(f"{name} {value:,.0f}" for name, value in values.items())
    print(f"{table:<10} ⟨{n},{n},{n}⟩ {field:<2} {batch:>5}  {sides}{unit}  ({ratios})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: ⟨2,2,2⟩ and ⟨4,4,4⟩, short samples")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one timed sample")
    parser.add_argument("--repeats", type=int, default=3, help="samples per side (median)")
    parser.add_argument("--tables", default="move,game,search,bound", help="which tables (all four)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    tables = set(args.tables.split(","))
    if not native.ffi_available():
        raise SystemExit("gamify._core with FFI kernels is not available: pip install . first")
    sizes, batches = ((2, 4), (1, 256)) if args.quick else ((2, 3, 4, 5), (1, 256, 4096))
    seconds, repeats = (0.1, 1) if args.quick else (args.seconds, args.repeats)
    results = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "rows": []}
    print(f"{'table':<10} {'case':<9} {'batch':>5}  moves (or simulations) per second")
    for n in sizes:
        for field in ("z2", "z"):
            for batch in batches if "move" in tables else ():
                report(results, "move", n, field, batch, moves(n, field, batch, seconds, repeats))
            for batch in (1, 256) if "game" in tables else ():
                report(results, "game move", n, field, batch, game_moves(n, field, batch, seconds, repeats))
    for n in ((2,) if args.quick else (2, 3)) if "search" in tables else ():
        for batch in (16,) if args.quick else (1, 16, 256):
            report(results, "search", n, "z2", batch, searches(n, "z2", batch, seconds, repeats), " sims/s")
    for n in ((2,) if args.quick else (2, 3, 4)) if "bound" in tables else ():
        for batch in (1, 256):
            report(results, "bound", n, "z2", batch, bounds(n, batch, seconds, repeats))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

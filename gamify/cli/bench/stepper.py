"""Stepper suite of ``gamify bench throughput``: the C++ kernels against numpy and jit JAX.

Four tables; in every row the sides run on the same data (see :mod:`gamify.cli.bench.timing`):

1. **move** (``residual - u⊗v⊗w`` and the zero test, one move per game, B games): C++
   (:func:`gamify.tensor.kernels.subtract_terms_packed` on bit-packed Z2 residuals, one uint64 per
   fibre; :func:`gamify.tensor.kernels.subtract_terms` on int32 Z residuals), numpy (the same on
   int8 / int32 arrays, vectorised over the batch) and ``jax.jit`` of the same array code.
2. **game move** (the tensor game's whole move inside jit with shaped rewards: decode the
   action, the move, the slice-rank bound, the reward, the Env bookkeeping; vmapped over
   B games, 8 moves per call): ``backend="native"`` (the C++ kernel through XLA's FFI)
   against ``backend="jax"``.
3. **search** (:func:`gamify.make_search`: simulations per second of a whole Gumbel MCTS
   search of the tensor game, a 64-wide network, 16 simulations) with each backend.
4. **bound** (the GF(2) slice-rank bound of B residuals inside jit): the C++ FFI handler,
   the numba kernel through gamify's FFI trampoline (:mod:`gamify.tensor.numba_bound`), the
   same numba kernel through ``jax.pure_callback``, and the JAX reference.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify
from gamify.cli.bench.timing import (
    Say,
    Settings,
    Side,
    Table,
    interleaved_rates,
    side_row,
    side_summary,
    side_table,
)
from gamify.registry import load_game
from gamify.tensor import kernels
from gamify.tensor.bound import slice_rank_bound

FIELDS = ("z2", "z")
STEPS = 8  # game moves per timed call
SIMULATIONS = 16
Case = tuple[str, int, str, int]  # (table, n, field, batch): one row, on ⟨n,n,n⟩
Sides = tuple[dict[str, Side], int]  # the sides of one row, and the units of work per call


def plan(quick: bool) -> list[Case]:
    """Every row, in order: the full grid, or one small row per table (``quick``)."""
    if quick:
        return [
            ("move", 2, "z2", 64),
            ("move", 2, "z", 64),
            ("game move", 2, "z2", 4),
            ("search", 2, "z2", 2),
            ("bound", 2, "z2", 4),
        ]
    return [
        *(("move", n, field, b) for n, field, b in product((2, 3, 4, 5), FIELDS, (1, 256, 4096))),
        *(("game move", n, field, b) for n, field, b in product((2, 3, 4, 5), FIELDS, (1, 256))),
        *(("search", n, "z2", b) for n, b in product((2, 3), (1, 16, 256))),
        *(("bound", n, "z2", b) for n, b in product((2, 3, 4), (1, 256))),
    ]


def move_sides(n: int, field: str, batch: int) -> Sides:
    """Table 1: one move per game for B games, each side on its own representation."""
    dim = n * n
    rng = np.random.default_rng(0)
    low, high = (0, 2) if field == "z2" else (-1, 2)
    residual = rng.integers(low, high, (batch, dim, dim, dim)).astype(np.int8 if field == "z2" else np.int32)
    u, v, w = (rng.integers(low, high, (batch, dim)).astype(residual.dtype) for _ in range(3))
    sides: dict[str, Side] = {}
    if field == "z2":  # every side returns the new residuals and which became zero
        weights = np.uint64(1) << np.arange(dim, dtype=np.uint64)
        words = np.ascontiguousarray((residual.astype(np.uint64) * weights).sum(-1, dtype=np.uint64))
        masks = [(x.astype(np.uint64) * weights).sum(-1, dtype=np.uint64) for x in (u, v, w)]
        sides["C++"] = lambda: kernels.subtract_terms_packed(words, *masks)  # in place

        def step(r, a, b, c, xp):
            after = r ^ (a[:, :, None, None] & b[:, None, :, None] & c[:, None, None, :])
            return after, ~xp.any(after, axis=(1, 2, 3))
    else:  # every side returns the new residuals (C++ also checks int32 overflow)
        sides["C++"] = lambda: kernels.subtract_terms(residual, u, v, w, "z")

        def step(r, a, b, c, xp):
            return r - a[:, :, None, None] * b[:, None, :, None] * c[:, None, None, :]

    sides["numpy"] = lambda: step(residual, u, v, w, np)
    jax_step = jax.jit(lambda *arrays: step(*arrays, jnp))
    on_device = [jnp.asarray(x) for x in (residual, u, v, w)]
    sides["jit JAX"] = lambda: jax.block_until_ready(jax_step(*on_device))
    return sides, batch


def game_move_sides(n: int, field: str, batch: int) -> Sides:
    """Table 2: the tensor game's move inside jit (vmapped, STEPS moves a call), per backend."""

    def side(backend: str) -> Side:
        game = load_game("tensor_decomposition", n=n, m=n, p=n, field=field, backend=backend)
        env = gamify.Env(game)
        state = jax.vmap(env.init)(jax.random.split(jax.random.key(0), batch))
        draws = jax.random.randint(jax.random.key(1), (STEPS, batch, sum(game.shape) + 6), 0, 2**30)
        actions = jax.vmap(game._random_actions)(draws)  # legal random terms, entries uniform in F
        play = jax.jit(lambda s, a: jax.lax.scan(lambda s, x: (jax.vmap(env.step)(s, x), None), s, a)[0])
        return lambda: jax.block_until_ready(play(state, actions))

    return {"native": side("native"), "jax": side("jax")}, STEPS * batch


def search_sides(n: int, field: str, batch: int) -> Sides:
    """Table 3: whole searches per backend, the same network and parameters."""

    def side(backend: str) -> Side:
        game = load_game("tensor_decomposition", n=n, m=n, p=n, field=field, backend=backend)
        env = gamify.Env(game)
        network = gamify.make_network(
            env.action_space, config=gamify.NetworkConfig(hidden_size=64, head_hidden_size=64)
        )
        states = jax.vmap(env.init)(jax.random.split(jax.random.key(0), batch))
        obs = jax.vmap(env.observe)(states)
        params = network.init(jax.random.key(1), obs[:1], jnp.ones((1,), jnp.float32))
        search = jax.jit(
            gamify.make_search(env, network, config=gamify.SearchConfig(num_simulations=SIMULATIONS))
        )
        return lambda: jax.block_until_ready(search(params, jax.random.key(2), states))

    return {"native": side("native"), "jax": side("jax")}, batch * SIMULATIONS


def bound_sides(n: int, field: str, batch: int) -> Sides:
    """Table 4: GF(2) slice-rank bounds of B residuals inside jit, four ways (``field`` is z2)."""
    from gamify.tensor import numba_bound  # deferred: importing numba costs ~1 s on every gamify command

    shape = (n * n,) * 3
    residual = jnp.asarray(np.random.default_rng(0).integers(0, 2, (batch, *shape)).astype(np.int8))
    kernel = numba_bound.slice_rank_bound_z2

    def on_host(r):  # pure_callback: back into Python, then the numba kernel per tensor
        return np.array([kernel(x) for x in np.asarray(r)], np.int32)

    out = jax.ShapeDtypeStruct((batch,), jnp.int32)
    reference = jax.vmap(lambda r: slice_rank_bound(r, "z2"))
    bounds = {
        "C++ FFI": lambda r: kernels.tensor_bound(r, "z2", reference),
        "numba FFI": numba_bound.slice_rank_bound_z2_jax(shape),
        "numba pure_callback": lambda r: jax.pure_callback(on_host, out, r, vmap_method="broadcast_all"),
        "JAX": reference,
    }
    compiled = {name: jax.jit(bound) for name, bound in bounds.items()}
    sides = {name: (lambda c=c: jax.block_until_ready(c(residual))) for name, c in compiled.items()}
    return sides, batch


class Kind(NamedTuple):
    """One stepper table: how a row's sides are built, and how the table is labelled."""

    sides: Callable[[int, str, int], Sides]  # (n, field, batch) -> the row's sides
    unit: str  # what the rates count, per second
    title: str
    note: str  # under the table: what each side computes


TABLES: dict[str, Kind] = {
    "move": Kind(
        move_sides,
        "moves/s",
        "Moves: residual − u⊗v⊗w for B games, one move each",
        "C++ over Z2 works on bit-packed residuals (one uint64 per fibre) and returns which became "
        "zero; numpy and jit JAX use int8 arrays and return the new residuals and the zero flags. "
        "Over Z every side returns new int32 residuals (C++ also checks int32 overflow).",
    ),
    "game move": Kind(
        game_move_sides,
        "moves/s",
        f"Game moves inside jit: the tensor game's move with shaped rewards, vmapped, {STEPS} a call",
        'backend="native" (the C++ kernel through XLA\'s FFI) against backend="jax".',
    ),
    "search": Kind(
        search_sides,
        "simulations/s",
        f"Whole searches: make_search, {SIMULATIONS} simulations, a 64-wide network",
        "The same network and parameters on both sides; only the game's backend differs.",
    ),
    "bound": Kind(
        bound_sides,
        "bounds/s",
        "GF(2) slice-rank bounds of B residuals inside jit",
        "numba FFI: gamify.tensor.numba_bound through gamify's FFI trampoline (XLA calls the numba.cfunc); "
        "numba pure_callback: the same kernel through jax.pure_callback.",
    ),
}


def measure(settings: Settings, say: Say) -> list[dict]:
    """Every row of :func:`plan`, each said as it is done."""
    rows = []
    for table, n, field, batch in plan(settings.quick):
        kind = TABLES[table]
        samples = interleaved_rates(*kind.sides(n, field, batch), settings)
        rows.append(side_row("stepper", table, f"⟨{n},{n},{n}⟩ {field.upper()}", batch, kind.unit, samples))
        say(side_summary(rows[-1]))
    return rows


def tables(rows: list[dict]) -> list[Table]:
    """One table per kind of row, in :data:`TABLES` order."""
    return [
        side_table(kind.title, kept, kind.note)
        for table, kind in TABLES.items()
        if (kept := [row for row in rows if row["table"] == table])
    ]

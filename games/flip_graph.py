"""The flip-graph macro game: take the decisions a flip-graph walk takes blindly.

Flip-graph walks (Kauers & Moosbauer 2022; ``gamify flips``) find matrix multiplication
schemes by random flips and reductions, and escape a plateau (a stretch without reduction)
by a *plus transition* at two random terms (rank + 1). Here the plus transitions are the
player's: a move splits two chosen terms x = a⊗b⊗c, y = a'⊗b'⊗c' on a chosen mode into
(a + a')⊗b⊗c + a'⊗(b + b')⊗c + a'⊗b'⊗(c + c') (the roles of a, b, c rotated for the other
modes), walks on without one, or goes back to the game's best scheme; after each move the
C++ walker walks one stretch: random flips with the reductions they allow, until ``plateau``
flips in a row reduce nothing (no plus transition, so the rank only falls). The walk's seed
comes from the state, so a step is deterministic.

Every state is a valid scheme over Z2: moves and flips keep the tensor. The reward is the
rank the game's best scheme loses, so a game's return is its start rank minus the best rank
it reached. A uniform policy over the plus transitions plays what a walker with the same plateau
does (``gamify flips --plateau``: a random plus transition at every plateau), so
any search or network is measured against that baseline (``benchmarks/flip_guide.py``).

Terms are a set: observations are one row per term slot (all-zero rows are empty slots)
and the actions are ordered pairs of slots per mode, which the ``set`` torso of
:mod:`gamify.networks` scores pairwise, so nothing learned depends on the terms' order.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify
from gamify import native, runs, train
from gamify.env import Env
from gamify.networks import NetworkConfig, make_network
from gamify.search import SearchConfig, make_search
from gamify.selfplay import make_selfplay
from gamify.tensor import flips as flip_walks
from gamify.tensor.formats import read_scheme
from gamify.tensor.records import reference_ranks
from gamify.tensor.scheme import Scheme

Array = jax.Array

MAX_FACTOR = 32  # factor entries: one uint32 bit mask each
_ERROR_PREFIX = "flip_graph: "
WALK_ON, BACK_TO_BEST = 0, 1  # the moves after the plus transitions (offsets from 3·R²)


class FlipState(NamedTuple):
    terms: Array  # uint32[R, 3] the scheme's factors as bit masks; terms first, then empty (zero) rows
    rank: Array  # int32, terms in use
    best_terms: Array  # uint32[R, 3] the lowest-rank scheme of this game so far
    best_rank: Array  # int32
    key: Array  # uint32[2] raw PRNG key: seeds the next walk
    flips: Array  # int32, flips walked in this game


def _unpack(masks: Array, bits: int) -> Array:
    """uint32[...] -> float32[..., bits], bit i of each mask."""
    return ((masks[..., None] >> jnp.arange(bits, dtype=jnp.uint32)) & 1).astype(jnp.float32)


def _starting_schemes(sizes, start, starts: int, start_flips: int) -> list[Scheme]:
    if isinstance(start, Scheme):
        return [_checked(start, sizes, "the start")]
    if start is None:
        naive = flip_walks.standard_scheme(*sizes)
        return [
            flip_walks.walk(naive, 0, 3600.0, max_flips=start_flips, seed=seed, threads=1).scheme
            for seed in range(starts)
        ]
    path = Path(start)
    if not path.exists():
        raise ValueError(f"{_ERROR_PREFIX}no scheme file or folder {path}")
    paths = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not paths:
        raise ValueError(f"{_ERROR_PREFIX}no *.json scheme in {path}")
    return [_checked(read_scheme(file), sizes, str(file)) for file in paths]


def _checked(scheme: Scheme, sizes, name: str) -> Scheme:
    """``scheme`` over Z2, once it is a valid scheme for exactly ⟨n,m,p⟩ = ``sizes``."""
    wanted = f"<{','.join(map(str, sizes))}>"
    if tuple(scheme.matmul or ()) != tuple(sizes):
        found = f"<{','.join(map(str, scheme.matmul))}>" if scheme.matmul else "not a matmul scheme"
        raise ValueError(f"{_ERROR_PREFIX}{name} is {found}, not {wanted} (give n, m, p in its order)")
    scheme = scheme.to_z2()
    if not (check := scheme.verify()).ok:
        raise ValueError(f"{_ERROR_PREFIX}{name} is not a valid {wanted} scheme over Z2: {check}")
    return scheme


class FlipGraph(gamify.Game[FlipState]):
    """Choose the plus transitions of a flip-graph walk for ⟨n,m,p⟩ over Z2.

    Args:
      n, m, p: the matrix multiplication ⟨n,m,p⟩; every factor (n·m, m·p, p·n entries)
        must fit 32 bits.
      start: a :class:`~gamify.tensor.Scheme`, a scheme file (any format ``gamify verify``
        reads) or a folder of ``*.json`` schemes (e.g. ``gamify flips --pool``'s
        ``distinct/``): each game starts from one of
        them, drawn at random. None: ``starts`` schemes made by plain walks of
        ``start_flips`` flips each from the naive algorithm (seeds 0, 1, ...; one thread, so
        the same every time).
      plateau: the walker's stretch after each move ends after this many flips in a row
        without a reduction.
      moves: moves per game (the step limit).
      target_rank: a game ends once its best scheme reaches this rank (default: the best
        known rank over Z2, from gamify's records; the naive rank's minus the moves where
        unknown).
      threads: threads walking a batch of games' stretches at once (default: every core).
        The result does not depend on it.
    """

    name = "flip_graph"
    description = "guide flip-graph walks for <n,m,p> over Z2: choose their plus transitions"
    network_defaults = {"torso": "set", "pair_kinds": 3}  # terms are a set; plus moves are pairs per mode

    def __init__(
        self,
        n: int = 3,
        m: int = 3,
        p: int = 3,
        start: str | Scheme | None = None,
        starts: int = 4,
        start_flips: int = 200_000,
        plateau: int = 1000,
        moves: int = 8,
        target_rank: int | None = None,
        threads: int | None = None,
    ):
        sizes = (n, m, p)
        if any(not isinstance(x, int) or x < 1 for x in sizes):
            raise ValueError(f"{_ERROR_PREFIX}n, m and p must be positive integers, got {sizes}")
        self.bits = (n * m, m * p, p * n)
        if max(self.bits) > MAX_FACTOR:
            raise ValueError(
                f"{_ERROR_PREFIX}factors of <{n},{m},{p}> have {max(self.bits)} entries; at most "
                f"{MAX_FACTOR} are supported"
            )
        for label, value in (
            ("starts", starts),
            ("start_flips", start_flips),
            ("plateau", plateau),
            ("moves", moves),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{_ERROR_PREFIX}{label} must be a positive integer, got {value!r}")
        self.threads = threads or os.cpu_count() or 1
        if not 1 <= self.threads <= flip_walks.max_threads():
            raise ValueError(
                f"{_ERROR_PREFIX}threads must be in [1, {flip_walks.max_threads()}], got {threads}"
            )
        self.sizes = sizes
        self.schemes = _starting_schemes(sizes, start, starts, start_flips)
        self.start_ranks = np.array([s.rank for s in self.schemes], np.int32)
        if target_rank is None:
            known = reference_ranks(sizes, "z2")["best_known"]
            target_rank = known if known is not None else n * m * p - moves
        self.target_rank = int(target_rank)
        self.plateau = plateau
        self.walked = 0  # flips the C++ walker made for this game object, in games and search alike
        self.max_steps = moves
        self.max_terms = int(self.start_ranks.max()) + moves  # each move adds at most one term
        self.action_space = gamify.FlatActions(3 * self.max_terms**2 + 2)
        starts_array = np.zeros((len(self.schemes), self.max_terms, 3), np.uint32)
        for k, scheme in enumerate(self.schemes):
            starts_array[k, : scheme.rank] = flip_walks.to_masks(scheme)
        self._starts = starts_array

    # ------------------------------------------------------------------ the rules

    def start_state(self, terms: Array, key: Array) -> FlipState:
        """A game from any valid scheme of the format: terms uint32[max_terms, 3], rows compacted."""
        rank = jnp.sum(jnp.any(terms != 0, axis=-1)).astype(jnp.int32)
        return FlipState(terms, rank, terms, rank, jax.random.key_data(key), jnp.int32(0))

    def init(self, key: Array) -> FlipState:
        pick, walk = jax.random.split(key)
        index = jax.random.randint(pick, (), 0, len(self.schemes))
        return self.start_state(jnp.asarray(self._starts)[index], walk)

    def _plus(self, terms: Array, rank: Array, index: Array) -> Array:
        r = self.max_terms
        mode, i, j = index // (r * r), (index // r) % r, index % r
        x, y = terms[i], terms[j]
        modes = jnp.arange(3)
        m, p, q = mode, (mode + 1) % 3, (mode + 2) % 3
        first = jnp.where(modes == m, x ^ y, x)
        second = jnp.where(modes == p, x ^ y, jnp.where(modes == q, x, y))
        third = jnp.where(modes == q, x ^ y, y)
        return terms.at[i].set(first).at[j].set(second).at[rank].set(third)

    def step(self, state: FlipState, action: Array):
        plus = action < 3 * self.max_terms**2
        back = action == 3 * self.max_terms**2 + BACK_TO_BEST
        terms = jnp.where(back, state.best_terms, state.terms)
        rank = jnp.where(back, state.best_rank, state.rank)
        terms = jnp.where(
            plus, self._plus(terms, rank, jnp.minimum(action, 3 * self.max_terms**2 - 1)), terms
        )
        key, walk = jax.random.split(jax.random.wrap_key_data(state.key))
        walk = jax.random.fold_in(walk, action)
        terms, made = jax.pure_callback(
            self._walk,
            (jax.ShapeDtypeStruct(terms.shape, jnp.uint32), jax.ShapeDtypeStruct((), jnp.int32)),
            terms,
            jax.random.key_data(walk),
            vmap_method="broadcast_all",
        )
        rank = jnp.sum(jnp.any(terms != 0, axis=-1)).astype(jnp.int32)
        better = rank < state.best_rank
        best_rank = jnp.minimum(rank, state.best_rank)
        next_state = FlipState(
            terms=terms,
            rank=rank,
            best_terms=jnp.where(better, terms, state.best_terms),
            best_rank=best_rank,
            key=jax.random.key_data(key),
            flips=state.flips + made,
        )
        reward = (state.best_rank - best_rank).astype(jnp.float32)
        return next_state, reward, best_rank <= self.target_rank

    def _walk(self, terms: np.ndarray, seeds: np.ndarray):
        """Host side of a step: one stretch of the C++ walker per scheme (any leading batch shape)."""
        terms, seeds = np.asarray(terms), np.asarray(seeds)
        batch = terms.shape[:-2]
        terms = np.ascontiguousarray(terms.reshape(-1, self.max_terms, 3), np.uint32)
        words = seeds.reshape(-1, 2).astype(np.uint64)
        seeds = np.ascontiguousarray((words[:, 0] << np.uint64(32)) | words[:, 1])
        out, made = native.core.flip_stretches(terms, seeds, self.plateau, self.threads)
        self.walked += int(made.sum())  # accounting only (search simulations included); no rule reads it
        return out.reshape(*batch, self.max_terms, 3), made.astype(np.int32).reshape(batch)

    def legal_action_mask(self, state: FlipState) -> Array:
        r = self.max_terms
        slots = jnp.arange(r)
        active = slots < state.rank
        x = state.terms[None, :, None, :]  # [1, R, 1, 3]
        y = state.terms[None, None, :, :]
        differ = jnp.all(x != y, axis=-1)  # all three factors differ: the three new terms are nonzero
        pairs = active[:, None] & active[None, :] & (slots[:, None] != slots[None, :]) & differ[0]
        room = state.rank < r
        plus = jnp.broadcast_to(pairs & room, (3, r, r)).reshape(-1)
        return jnp.concatenate([plus, jnp.array([True, True])])

    def observe(self, state: FlipState) -> Array:
        active = jnp.any(state.terms != 0, axis=-1)
        factors = [_unpack(state.terms[:, k], bits) for k, bits in enumerate(self.bits)]
        above = jnp.broadcast_to((state.rank - state.best_rank).astype(jnp.float32), active.shape)
        features = jnp.concatenate([active[:, None].astype(jnp.float32), above[:, None], *factors], axis=-1)
        return jnp.where(active[:, None], features, 0.0)  # empty slots: all-zero rows

    # ------------------------------------------------------------------ solutions

    def best_scheme(self, state: FlipState) -> Scheme:
        """The game's best scheme (numpy state), verified."""
        masks = np.asarray(state.best_terms)[: int(state.best_rank)].astype(np.uint64)
        scheme = flip_walks.from_masks(masks, tuple(self.bits), self.sizes)
        if not (check := scheme.verify()).ok:  # the moves keep the tensor: never hand out a wrong one
            raise RuntimeError(f"internal error: the flip game produced a wrong scheme: {check}")
        return scheme

    def describe(self, actions) -> str:
        r = self.max_terms
        lines = []
        for k, action in enumerate(np.asarray(actions).reshape(-1).tolist()):
            if action < 3 * r * r:
                mode, i, j = action // (r * r), (action // r) % r, action % r
                lines.append(f"{k + 1:3d}: plus transition of terms {i} and {j} on mode {'abc'[mode]}")
            else:
                lines.append(
                    f"{k + 1:3d}: "
                    + ("walk on" if action - 3 * r * r == WALK_ON else "back to the best scheme")
                )
        return "\n".join(lines)


# ---------------------------------------------------------------------- guided walks


@dataclasses.dataclass(frozen=True)
class Guide:
    """What steers a guided walk: the network, its parameters (None: drawn fresh from the seed,
    the untrained ablation) and the search; the game's ``plateau`` and ``moves``."""

    network: NetworkConfig = NetworkConfig(torso="set", pair_kinds=3)
    params: object = None
    search: SearchConfig = SearchConfig(num_simulations=16)
    plateau: int = 1000
    moves: int = 8
    sizes: tuple[int, int, int] | None = None  # the ⟨n,m,p⟩ it was trained for (None: untrained)


def load_guide(run_dir: str | os.PathLike) -> Guide:
    """The guide a ``gamify train flip_graph`` run learned: its latest checkpoint's parameters,
    with the run's network, search and game settings.

    Raises:
      ValueError: the folder holds no run of flip_graph with a checkpoint.
    """
    directory = runs.RunDirectory(Path(run_dir))
    if not directory.has_checkpoint():
        raise ValueError(f"{run_dir}: no checkpoint of a training run (gamify train flip_graph --out DIR)")
    record = directory.read_config()
    if record["game"] != FlipGraph.name:
        raise ValueError(f"{run_dir} is a run of {record['game']!r}, not of {FlipGraph.name}")
    trainer = train.Trainer(FlipGraph(**record["game_args"]), record["train"])
    state, _ = directory.load(trainer, resume=False)
    game = trainer.game
    return Guide(
        record["train"].network,
        state.params,
        record["train"].search,
        game.plateau,
        game.max_steps,
        game.sizes,
    )


@dataclasses.dataclass(frozen=True)
class GuidedResult:
    scheme: Scheme  # the best scheme, verified
    reached: bool  # its rank is at most the target
    flips: int  # flips walked, the search's simulations included
    rounds: int  # rounds of games played
    seconds: float  # wall time, compilation excluded
    compile_seconds: float
    interrupted: bool = False


def guided_walk(
    scheme: Scheme,
    target_rank: int,
    seconds: float,
    guide: Guide = Guide(),
    *,
    games: int = 16,
    seed: int = 0,
    threads: int | None = None,
    progress: Callable[[GuidedResult], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> GuidedResult:
    """Walks the flip graph from ``scheme`` with the search choosing the plus transitions.

    Each round plays ``games`` games of :class:`FlipGraph` at once from the current scheme
    (Gumbel MCTS at every move, ``guide.search.num_simulations`` simulations, each a walk
    stretch); the game that reached the lowest rank gives the next round's
    scheme (its last one where that is as low, so the walk drifts on a plateau the way a
    random walk does). Stops at ``target_rank``, after ``seconds`` (the first round's
    compilation not counted) or when ``should_stop()`` says so (asked after each round);
    Ctrl-C ends it with the best scheme so far.
    """
    if scheme.matmul is None:
        raise ValueError(f"{_ERROR_PREFIX}guided walks need a scheme with its matmul sizes")
    game = FlipGraph(
        *scheme.matmul,
        start=scheme,
        plateau=guide.plateau,
        moves=guide.moves,
        target_rank=target_rank,
        threads=threads,
    )
    env = Env(game)
    network = make_network(env.action_space, config=guide.network)
    params = guide.params if guide.params is not None else train.initial_params(env, network, seed)
    selfplay = make_selfplay(env, make_search(env, network, config=guide.search), num_games=games)

    @jax.jit
    def play(params, key, terms):
        start_key, play_key = jax.random.split(key)
        starts = jax.vmap(lambda k: env.start_from(game.start_state(terms, k)))(
            jax.random.split(start_key, games)
        )
        final = selfplay(params, play_key, starts).final_state.game
        best = jnp.argmin(final.best_rank)  # the first of the lowest
        drifted = final.rank[best] == final.best_rank[best]
        return jnp.where(drifted, final.terms[best], final.best_terms[best]), final.best_rank[best]

    key = jax.random.PRNGKey(seed)
    terms, best = jnp.asarray(game._starts[0]), scheme.to_z2()
    clock = time.perf_counter()
    play.lower(params, key, terms).compile()
    compiled = time.perf_counter() - clock
    game.walked, rounds, interrupted = 0, 0, False

    def result() -> GuidedResult:
        return GuidedResult(
            best,
            best.rank <= target_rank,
            game.walked,
            rounds,
            time.perf_counter() - clock - compiled,
            compiled,
            interrupted,
        )

    try:
        while best.rank > target_rank and time.perf_counter() - clock - compiled < seconds:
            terms, rank = play(params, jax.random.fold_in(key, rounds), terms)
            rounds += 1
            if int(rank) < best.rank:
                best = game.best_scheme(jax.device_get(game.start_state(terms, key)))
            if progress is not None:
                progress(result())
            if should_stop():
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    return result()

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

Two ways to play it: :func:`guided_walk` (Gumbel MCTS, each simulation a stretch) and
:func:`prior_walk` (walkers in lockstep drawing plus moves from the network's prior, optionally
selected by a value); :func:`collect_successes`/:func:`fit_prior` and
:func:`collect_outcomes`/:func:`fit_value` learn the two from the walkers' own hindsight.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

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


# ---------------------------------------------------------------------- prior walks (no search)


class PriorRound(NamedTuple):
    """One round of a prior walk, per walker (numpy): the state each move was chosen in, the
    move, and the walker's best rank after the stretch that followed."""

    terms: np.ndarray  # uint32[B, R, 3], before the move
    rank: np.ndarray  # int32[B]
    best_rank: np.ndarray  # int32[B], before the move
    action: np.ndarray  # int32[B]
    plus: np.ndarray  # bool[B]: the move was a plus transition (else back to the best)
    next_best: np.ndarray  # int32[B]


def _prior_round(game: FlipGraph, network, levels: int, temperature: float):
    """A jitted round of B walkers: walkers marked ``fresh`` restart from a new game start;
    each then makes a plus transition drawn from the network's prior (over its legal plus
    moves) while its rank is at most its best + ``levels``, or goes back to its best; then the
    game's step walks one stretch for all of them (one C++ call)."""
    plus_actions = 3 * game.max_terms**2
    back = plus_actions + BACK_TO_BEST

    @jax.jit
    def play(params, key, states: FlipState, fresh: Array):
        start_key, draw_key = jax.random.split(key)

        def restart(states):
            starts = jax.vmap(game.init)(jax.random.split(start_key, fresh.shape[0]))

            def put(new, old):
                return jnp.where(fresh.reshape((-1,) + (1,) * (old.ndim - 1)), new, old)

            return jax.tree.map(put, starts, states)

        states = jax.lax.cond(fresh.any(), restart, lambda states: states, states)  # most rounds: none
        obs = jax.vmap(game.observe)(states)
        _, logits = network.evaluate(params, obs, jnp.ones(obs.shape[0]))
        legal = jax.vmap(game.legal_action_mask)(states)[:, :plus_actions]
        logits = jnp.where(legal, logits[:, :plus_actions] / temperature, -jnp.inf)
        drawn = jax.random.categorical(draw_key, logits).astype(jnp.int32)
        plus = jnp.any(legal, axis=-1) & (states.rank <= states.best_rank + levels)
        action = jnp.where(plus, drawn, back)
        following, _, _ = jax.vmap(game.step)(states, action)
        return states, following, action, plus

    return play


def flip_pairs(states: FlipState) -> Array:
    """The size of each scheme's flip neighbourhood (batched states): the pairs of its terms that
    share a factor, counted per mode. A hand-made value for selection: among 32 rank-53 schemes
    of ⟨3,4,5⟩ it ranked their chances of going lower (uniform walkers, 300 rounds) with Spearman
    0.57, where two independent estimates of those chances agreed with 0.80
    (``benchmarks/flip_rates.py``); as a selection value it did not beat rank alone (RESULTS.md)."""
    slots = jnp.arange(states.terms.shape[-2])
    active = slots < states.rank[:, None]
    pairs = active[:, :, None] & active[:, None, :] & (slots[:, None] < slots[None, :])
    same = states.terms[:, :, None, :] == states.terms[:, None, :, :]
    return jnp.sum(pairs[..., None] & same, axis=(1, 2, 3)).astype(jnp.float32)


def _selection(value: Callable[[object, FlipState], Array], fraction: float):
    """A jitted selection among B walkers (go with the winners): the ``fraction`` of walkers
    ranked last become copies of as many first-ranked walkers (their schemes, bests and
    flips), keeping their own walk seeds. Ranked by best rank, then walkers standing at their
    best before those on a plus excursion, then by ``value(params, states)`` (higher first),
    then at random."""

    @jax.jit
    def select(params, key, states: FlipState) -> FlipState:
        noise = jax.random.uniform(key, states.rank.shape)  # ties (a uniform value) broken at random
        away = states.rank > states.best_rank
        order = jnp.lexsort((noise, -value(params, states), away, states.best_rank))
        moved = max(1, int(states.rank.shape[0] * fraction))
        source, target = order[:moved], order[-moved:]
        cloned = jax.tree.map(lambda x: x.at[target].set(x[source]), states)
        return cloned._replace(key=states.key)

    return select


def _network_value(game: FlipGraph, network) -> Callable[[object, FlipState], Array]:
    def value(params, states: FlipState) -> Array:
        return network.evaluate(params, jax.vmap(game.observe)(states), jnp.ones(states.rank.shape[0]))[0]

    return value


def _prior_rounds(
    game: FlipGraph,
    guide: Guide,
    states: FlipState,
    seconds: float,
    *,
    levels: int,
    temperature: float,
    seed: int,
    progress=None,
    should_stop=lambda: False,
    on_round: Callable[[PriorRound], np.ndarray | None] | None = None,
    selector: Guide | Callable[[FlipState], Array] | None = None,
    select_every: int = 10,
    select_fraction: float = 0.25,
) -> GuidedResult:
    """Rounds of :func:`_prior_round` from ``states`` until the game's target, ``seconds``
    (compilation not counted), ``should_stop()`` or Ctrl-C. ``on_round`` sees each round and
    may return the walkers to restart from a new game start. With a ``selector``, every
    ``select_every`` rounds :func:`_selection` by its network's value (or a hand-made value
    such as :func:`flip_pairs`)."""
    env = Env(game)
    network = make_network(env.action_space, config=guide.network)
    params = guide.params if guide.params is not None else train.initial_params(env, network, seed)
    play = _prior_round(game, network, levels, temperature)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    fresh = np.zeros(len(states.rank), bool)
    clock = time.perf_counter()
    play.lower(params, key, states, fresh).compile()
    if isinstance(selector, Guide):
        judge = make_network(env.action_space, config=selector.network)
        judged = selector.params if selector.params is not None else train.initial_params(env, judge, seed)
        value = _network_value(game, judge)
    elif selector is not None:
        judged, value = {}, lambda params, states: selector(states)
    if selector is not None:
        select, select_key = _selection(value, select_fraction), jax.random.fold_in(key, 2)
        select.lower(judged, key, states).compile()
    compiled = time.perf_counter() - clock
    game.walked, rounds, interrupted = 0, 0, False

    def lowest(states) -> Scheme:
        ranks = np.asarray(states.best_rank)
        return game.best_scheme(jax.device_get(jax.tree.map(lambda x: x[int(np.argmin(ranks))], states)))

    best = lowest(states)

    def result() -> GuidedResult:
        elapsed = time.perf_counter() - clock - compiled
        return GuidedResult(
            best, best.rank <= game.target_rank, game.walked, rounds, elapsed, compiled, interrupted
        )

    try:
        while best.rank > game.target_rank and time.perf_counter() - clock - compiled < seconds:
            if selector is not None and rounds and rounds % select_every == 0:
                states = select(judged, jax.random.fold_in(select_key, rounds), states)
            before, states, action, plus = play(params, jax.random.fold_in(key, rounds), states, fresh)
            rounds += 1
            if int(np.min(states.best_rank)) < best.rank:
                best = lowest(states)
            if on_round is not None:
                restart = on_round(
                    PriorRound(
                        *(np.asarray(x) for x in (before.terms, before.rank, before.best_rank, action, plus)),
                        np.asarray(states.best_rank),
                    )
                )
                fresh = np.zeros_like(fresh) if restart is None else restart
            if progress is not None:
                progress(result())
            if should_stop():
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    return result()


def prior_walk(
    scheme: Scheme,
    target_rank: int,
    seconds: float,
    guide: Guide = Guide(),
    *,
    walkers: int = 64,
    levels: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    threads: int | None = None,
    progress: Callable[[GuidedResult], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    selector: Guide | Callable[[FlipState], Array] | None = None,
    select_every: int = 10,
    select_fraction: float = 0.25,
) -> GuidedResult:
    """Flip-graph walks from ``scheme`` whose plus transitions are drawn from the guide's
    network (its prior; no search), ``walkers`` of them in lockstep.

    Each walker does what the C++ walker does at a plateau (``gamify flips``): a plus
    transition while its rank is at most its best + ``levels``, back to its best otherwise,
    then one stretch until ``guide.plateau`` flips in a row reduce nothing. The network scores
    all walkers' moves in one call per round: its price is one evaluation per walker and
    stretch. With ``NetworkConfig(torso="uniform")`` this is the plain walk, in lockstep.
    With a ``selector`` (a network fitted by :func:`fit_value`, or None parameters: the
    untrained ablation; ``NetworkConfig(torso="uniform")``: by rank alone; or a hand-made
    value of batched states, such as :func:`flip_pairs`), every
    ``select_every`` rounds the ``select_fraction`` of walkers ranked last become copies of
    the first-ranked ones (lowest best rank first, then walkers at their best, then the
    highest value of their scheme; see :func:`_selection`). Stops at ``target_rank``, after
    ``seconds`` (compilation not counted), or when ``should_stop()`` says so; Ctrl-C ends it
    with the best scheme so far.
    """
    if scheme.matmul is None:
        raise ValueError(f"{_ERROR_PREFIX}prior walks need a scheme with its matmul sizes")
    if walkers < 1 or levels < 0 or not temperature > 0:
        raise ValueError(f"{_ERROR_PREFIX}walkers >= 1, levels >= 0 and temperature > 0 are required")
    if select_every < 1 or not 0 < select_fraction <= 0.5:
        raise ValueError(f"{_ERROR_PREFIX}select_every >= 1 and 0 < select_fraction <= 0.5 are required")
    game = FlipGraph(
        *scheme.matmul,
        start=scheme,
        plateau=guide.plateau,
        moves=levels + 1,
        target_rank=target_rank,
        threads=threads,
    )
    states = jax.vmap(game.init)(jax.random.split(jax.random.PRNGKey(seed), walkers))
    return _prior_rounds(
        game,
        guide,
        states,
        seconds,
        levels=levels,
        temperature=temperature,
        seed=seed,
        progress=progress,
        should_stop=should_stop,
        selector=selector,
        select_every=select_every,
        select_fraction=select_fraction,
    )


class Successes(NamedTuple):
    """Plus transitions that led a walker to a new best (numpy): the state each was chosen in
    and the move."""

    terms: np.ndarray  # uint32[K, R, 3]
    rank: np.ndarray  # int32[K]
    best_rank: np.ndarray  # int32[K]
    action: np.ndarray  # int32[K]


class _SuccessLabels:
    """Streams prior-walk rounds into successes: the plus transitions since a walker's
    previous new best (or its last return to its best) when it reaches a new best. Returns the
    walkers to restart: those ``patience`` rounds without a new best."""

    def __init__(self, walkers: int, patience: int):
        self.found: list[tuple[np.ndarray, int, int, int]] = []
        self.chains: list[list[tuple[np.ndarray, int, int, int]]] = [[] for _ in range(walkers)]
        self.idle = np.zeros(walkers, np.int64)
        self.patience = patience

    def __call__(self, round_: PriorRound) -> np.ndarray:
        for w, chain in enumerate(self.chains):
            if round_.plus[w]:
                chain.append(
                    (round_.terms[w], int(round_.rank[w]), int(round_.best_rank[w]), int(round_.action[w]))
                )
            else:
                chain.clear()
            if round_.next_best[w] < round_.best_rank[w]:
                self.found.extend(chain)
                chain.clear()
                self.idle[w] = 0
            else:
                self.idle[w] += 1
        restart = self.idle >= self.patience
        self.idle[restart] = 0
        for w in np.flatnonzero(restart):
            self.chains[w].clear()
        return restart


class _OutcomeLabels:
    """Streams prior-walk rounds into outcomes: each round's schemes of walkers at their best
    rank, True once the walker goes lower within ``horizon`` rounds (that round included),
    False once the horizon passes without; a restart (after ``patience`` rounds without a new
    best) drops the open windows and starts a new episode. Returns the walkers to restart."""

    def __init__(self, walkers: int, horizon: int, patience: int):
        self.out: list[tuple[np.ndarray, int, bool, int]] = []
        self.pending: list[list[tuple[int, np.ndarray, int]]] = [[] for _ in range(walkers)]
        self.episodes = np.arange(walkers)
        self.idle = np.zeros(walkers, np.int64)
        self.horizon, self.patience = horizon, patience
        self.rounds, self.started = 0, walkers

    def __call__(self, round_: PriorRound) -> np.ndarray:
        now = self.rounds
        self.rounds += 1
        for w, pending in enumerate(self.pending):
            if round_.rank[w] == round_.best_rank[w]:
                pending.append((now, round_.terms[w], int(round_.rank[w])))
            if round_.next_best[w] < round_.best_rank[w]:
                self.out.extend((terms, rank, True, self.episodes[w]) for _, terms, rank in pending)
                pending.clear()
                self.idle[w] = 0
                continue
            self.idle[w] += 1
            while pending and pending[0][0] <= now - self.horizon + 1:
                _, terms, rank = pending.pop(0)
                self.out.append((terms, rank, False, self.episodes[w]))
        restart = self.idle >= self.patience
        for w in np.flatnonzero(restart):
            self.pending[w].clear()
            self.idle[w] = 0
            self.episodes[w] = self.started
            self.started += 1
        return restart


def collect_successes(
    game: FlipGraph,
    seconds: float,
    guide: Guide = Guide(network=NetworkConfig(torso="uniform")),
    *,
    walkers: int = 64,
    levels: int = 1,
    patience: int = 100,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> Successes:
    """Prior walks from the game's starting schemes; a walker restarts from a random one after
    ``patience`` rounds without a new best. The plus transitions that preceded a walker's new
    best (those since its previous new best or its last return to it) are the successes:
    hindsight's labels for :func:`fit_prior`. The guide's plateau is the game's; its network
    draws the moves (uniform by default: the plain walk's own successes)."""
    labels = _SuccessLabels(walkers, patience)
    clock = time.perf_counter()

    def on_round(round_: PriorRound) -> np.ndarray:
        restart = labels(round_)
        if progress is not None:
            progress(len(labels.found), time.perf_counter() - clock)
        return restart

    states = jax.vmap(game.init)(jax.random.split(jax.random.PRNGKey(seed), walkers))
    _prior_rounds(game, guide, states, seconds, levels=levels, temperature=1.0, seed=seed, on_round=on_round)
    if not labels.found:
        shape = (0, game.max_terms, 3)
        return Successes(np.zeros(shape, np.uint32), *(np.zeros(0, np.int32) for _ in range(3)))
    terms, rank, best_rank, action = zip(*labels.found, strict=True)
    return Successes(np.stack(terms), *(np.array(x, np.int32) for x in (rank, best_rank, action)))


def _stored_states(terms: Array, rank: Array, best_rank: Array) -> FlipState:
    """Recorded positions as game states (the key and flips never reach an observation)."""
    count = rank.shape[0]
    return FlipState(
        terms, rank, terms, best_rank, jnp.zeros((count, 2), jnp.uint32), jnp.zeros(count, jnp.int32)
    )


def _fit(
    game: FlipGraph,
    network_config: NetworkConfig,
    loss: Callable,
    rows: np.ndarray,
    held_out: Callable[[object, object], dict],
    *,
    updates: int,
    batch: int,
    learning_rate: float,
    seed: int,
    progress: Callable[[int, dict], None] | None,
    every: int,
) -> tuple[object, dict]:
    """Adam on ``loss(network, params, index)`` (a mean over the recorded rows ``index``),
    batches drawn from ``rows``; ``held_out(network, params)`` measures, for ``progress``
    every ``every`` updates and at the end."""
    env = Env(game)
    network = make_network(env.action_space, config=network_config)
    params = train.initial_params(env, network, seed)
    optimizer = optax.adam(learning_rate)

    @jax.jit
    def update(params, opt_state, index):
        grads = jax.grad(lambda p: loss(network, p, index))(params)
        changes, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, changes), opt_state

    opt_state = optimizer.init(params)
    draws = np.random.default_rng(seed + 1)
    for step in range(1, updates + 1):
        params, opt_state = update(params, opt_state, jnp.asarray(draws.choice(rows, batch)))
        if progress is not None and (step % every == 0 or step == updates):
            progress(step, held_out(network, params))
    return params, held_out(network, params)


def fit_prior(
    game: FlipGraph,
    network_config: NetworkConfig,
    successes: Successes,
    *,
    updates: int = 2000,
    batch: int = 64,
    learning_rate: float = 1e-3,
    heldout: float = 0.1,
    seed: int = 0,
    progress: Callable[[int, dict], None] | None = None,
) -> tuple[object, dict]:
    """Fits the network's prior to ``successes`` (collected with ``game``'s term slots) by
    cross-entropy over the legal plus transitions: by Bayes, the fitted prior is the uniform
    one reweighted by each move's chance of leading to a new best. Returns the parameters and
    the held-out measure: ``nll`` (nats per move) against ``uniform_nll`` (the uniform
    prior's, log of the legal moves), and ``top1``, ``uniform_top1``."""
    count = len(successes.action)
    if count < 10:
        raise ValueError(f"{_ERROR_PREFIX}{count} successes are too few to fit a prior")
    plus_actions = 3 * game.max_terms**2
    order = np.random.default_rng(seed).permutation(count)
    cut = max(1, int(round(count * heldout)))
    test, fit = order[:cut], order[cut:]
    data = jax.tree.map(jnp.asarray, successes)

    def losses(network, params, index):
        states = _stored_states(data.terms[index], data.rank[index], data.best_rank[index])
        _, logits = network.evaluate(params, jax.vmap(game.observe)(states), jnp.ones(len(index)))
        legal = jax.vmap(game.legal_action_mask)(states)[:, :plus_actions]
        log_probs = jax.nn.log_softmax(jnp.where(legal, logits[:, :plus_actions], -jnp.inf))
        chosen = data.action[index]
        nll = -jnp.take_along_axis(log_probs, chosen[:, None], axis=1)[:, 0]
        legal_moves = legal.sum(axis=1)
        hit = jnp.argmax(log_probs, axis=1) == chosen
        return nll, jnp.log(legal_moves), hit, 1.0 / legal_moves

    @functools.partial(jax.jit, static_argnums=0)
    def measure(network, params, index):
        return tuple(x.mean() for x in losses(network, params, index))

    def held_out(network, params) -> dict:
        parts = [measure(network, params, jnp.asarray(test[k : k + 256])) for k in range(0, len(test), 256)]
        weights = np.array([min(256, len(test) - k) for k in range(0, len(test), 256)], float)
        names = ("nll", "uniform_nll", "top1", "uniform_top1")
        return {
            name: float(np.dot(weights, [p[i] for p in parts]) / weights.sum())
            for i, name in enumerate(names)
        }

    return _fit(
        game,
        network_config,
        lambda network, params, index: losses(network, params, index)[0].mean(),
        fit,
        held_out,
        updates=updates,
        batch=batch,
        learning_rate=learning_rate,
        seed=seed,
        progress=progress,
        every=50,
    )


class Outcomes(NamedTuple):
    """Schemes walkers stood on at their best rank (numpy), and whether the walker went below
    that rank within the horizon; ``episode`` tells walks apart (held-out splits keep them whole)."""

    terms: np.ndarray  # uint32[K, R, 3]
    rank: np.ndarray  # int32[K]
    success: np.ndarray  # bool[K]
    episode: np.ndarray  # int32[K]


def collect_outcomes(
    game: FlipGraph,
    seconds: float,
    guide: Guide = Guide(network=NetworkConfig(torso="uniform")),
    *,
    horizon: int = 30,
    walkers: int = 64,
    levels: int = 1,
    patience: int = 100,
    seed: int = 0,
) -> Outcomes:
    """Prior walks from the game's starting schemes (a walker restarts from a random one after
    ``patience`` rounds without a new best). Each round, every walker at its best rank gives
    its scheme, labelled by whether the walker found a lower rank within ``horizon`` rounds
    (the round's own stretch included): hindsight's labels for :func:`fit_value`. Windows a
    restart cuts short are dropped."""
    labels = _OutcomeLabels(walkers, horizon, patience)
    states = jax.vmap(game.init)(jax.random.split(jax.random.PRNGKey(seed), walkers))
    _prior_rounds(game, guide, states, seconds, levels=levels, temperature=1.0, seed=seed, on_round=labels)
    if not labels.out:
        return Outcomes(
            np.zeros((0, game.max_terms, 3), np.uint32), *(np.zeros(0, t) for t in (np.int32, bool, np.int32))
        )
    terms, rank, success, episode = zip(*labels.out, strict=True)
    return Outcomes(np.stack(terms), np.array(rank, np.int32), np.array(success), np.array(episode, np.int32))


def descent_rates(
    schemes: list[Scheme],
    *,
    walkers: int = 32,
    rounds: int = 300,
    plateau: int = 1000,
    chunk: int = 16,
    seed: int = 0,
    threads: int | None = None,
) -> np.ndarray:
    """Each scheme's chance of going lower: the fraction of ``walkers`` uniform prior walkers
    (plus moves up to best + 1, stretches of ``plateau``) started from it that reach a lower
    rank within ``rounds`` rounds. Schemes of one format and rank, ``chunk`` of them walked at
    once; labels for a value over schemes, sharper than one walk's outcome (whose noise is
    binomial with one trial)."""
    if not schemes or len({(s.matmul, s.rank) for s in schemes}) != 1 or schemes[0].matmul is None:
        raise ValueError(f"{_ERROR_PREFIX}descent rates need matmul schemes of one format and one rank")
    rank = schemes[0].rank
    game = FlipGraph(
        *schemes[0].matmul, start=schemes[0], plateau=plateau, moves=2, target_rank=0, threads=threads
    )
    guide = Guide(NetworkConfig(torso="uniform"), plateau=plateau)
    rates = np.zeros(len(schemes))
    for first in range(0, len(schemes), chunk):
        index = np.arange(first, min(first + chunk, len(schemes)))
        terms = np.zeros((len(index) * walkers, game.max_terms, 3), np.uint32)
        for k, i in enumerate(index):
            terms[k * walkers : (k + 1) * walkers, :rank] = flip_walks.to_masks(schemes[i])
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), first), len(terms))
        states = jax.vmap(game.start_state)(jnp.asarray(terms), keys)
        seen: list[np.ndarray] = []
        _prior_rounds(
            game,
            guide,
            states,
            float("inf"),
            levels=1,
            temperature=1.0,
            seed=seed + first,
            on_round=lambda round_, seen=seen: seen.append(round_.next_best),
            should_stop=lambda seen=seen: len(seen) >= rounds,
        )
        rates[index] = (seen[-1] < rank).reshape(len(index), walkers).mean(axis=1)
    return rates


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The chance a random success scores above a random failure (ties count half)."""
    positive, negative = scores[labels], scores[~labels]
    if not len(positive) or not len(negative):
        return float("nan")
    above = (positive[:, None] > negative[None, :]).mean()
    return float(above + 0.5 * (positive[:, None] == negative[None, :]).mean())


def fit_value(
    game: FlipGraph,
    network_config: NetworkConfig,
    outcomes: Outcomes,
    *,
    updates: int = 1000,
    batch: int = 64,
    learning_rate: float = 1e-3,
    heldout: float = 0.2,
    seed: int = 0,
    progress: Callable[[int, dict], None] | None = None,
) -> tuple[object, dict]:
    """Fits the network's value (a logit) to the outcomes by cross-entropy. Held out: whole
    episodes. Returns the parameters and the held-out measure: ``auc`` within each rank
    (averaged over ranks, weighted by their pairs; 0.5 is chance, so the rank itself earns
    nothing), ``log_loss`` against ``base_log_loss`` (each rank's success rate as the guess)."""
    ids = np.unique(outcomes.episode)
    held = np.random.default_rng(seed).permutation(ids)[: max(1, int(round(len(ids) * heldout)))]
    test = np.flatnonzero(np.isin(outcomes.episode, held))
    fit = np.flatnonzero(~np.isin(outcomes.episode, held))
    if len(fit) < 10 or not outcomes.success[fit].any() or outcomes.success[fit].all():
        raise ValueError(f"{_ERROR_PREFIX}the outcomes need successes and failures to fit a value")
    data = jax.tree.map(jnp.asarray, outcomes)

    @functools.partial(jax.jit, static_argnums=0)
    def logits(network, params, index):
        states = _stored_states(data.terms[index], data.rank[index], data.rank[index])
        value, _ = network.evaluate(params, jax.vmap(game.observe)(states), jnp.ones(len(index)))
        return value

    def loss(network, params, index):
        return optax.sigmoid_binary_cross_entropy(logits(network, params, index), data.success[index]).mean()

    def held_out(network, params) -> dict:
        scores = np.concatenate(
            [
                np.asarray(logits(network, params, jnp.asarray(test[k : k + 512])))
                for k in range(0, len(test), 512)
            ]
        )
        labels, ranks = outcomes.success[test], outcomes.rank[test]
        aucs, weights, base = [], [], np.zeros(len(test))
        for rank in np.unique(ranks):
            here = ranks == rank
            rate = (
                outcomes.success[fit][outcomes.rank[fit] == rank].mean()
                if (outcomes.rank[fit] == rank).any()
                else 0.5
            )
            base[here] = np.clip(rate, 1e-3, 1 - 1e-3)
            pairs = labels[here].sum() * (~labels[here]).sum()
            if pairs:
                aucs.append(_auc(scores[here], labels[here]))
                weights.append(pairs)
        probabilities = np.clip(1 / (1 + np.exp(-scores)), 1e-6, 1 - 1e-6)
        log_loss = -np.mean(np.where(labels, np.log(probabilities), np.log(1 - probabilities)))
        base_loss = -np.mean(np.where(labels, np.log(base), np.log(1 - base)))
        auc = float(np.average(aucs, weights=weights)) if aucs else float("nan")
        return {
            "auc": auc,
            "log_loss": float(log_loss),
            "base_log_loss": float(base_loss),
            "heldout": len(test),
        }

    return _fit(
        game,
        network_config,
        loss,
        fit,
        held_out,
        updates=updates,
        batch=batch,
        learning_rate=learning_rate,
        seed=seed,
        progress=progress,
        every=100,
    )

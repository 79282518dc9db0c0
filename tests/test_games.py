"""Built-in toy games: conformance, optima proven by brute force, and the checker catching broken games."""

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gamify
from gamify import registry
from gamify.games import lights_out, xor_rank
from gamify.testing import check_game

KEY = jax.random.key(0)


# update_rule and automl_zero conform in their own test files, with cheaper scorers
@pytest.mark.parametrize(
    "name", [name for name, _ in registry.list_games() if name not in ("update_rule", "automl_zero")]
)
def test_builtin_game_conforms(name):
    check_game(registry.load_game(name))


@pytest.mark.parametrize(
    "game",
    [lights_out.LightsOut(size=3, max_steps=4), xor_rank.XorRank(n=2, max_steps=3)],
    ids=["lights_out-3x3-limit4", "xor_rank-n2-limit3"],
)
def test_other_configurations_conform(game):
    check_game(game, seed=1)


def play(game, actions):
    env = gamify.Env(game)
    step = jax.jit(env.step)
    state = env.init(KEY)
    for action in actions:
        state = step(state, jnp.asarray(action, jnp.int32))
    return state


# ---- Lights Out ----------------------------------------------------------------------------


def fewest_presses_by_brute_force(n: int) -> tuple[np.ndarray, np.ndarray]:
    """For every board (as a bit code), the fewest presses that clear it (or a huge number)."""
    cells = n * n
    subsets = (np.arange(2**cells)[:, None] >> np.arange(cells)) & 1  # [2^cells, cells]
    boards = subsets @ lights_out.toggle_matrix(n).astype(np.int64) % 2
    codes = boards @ (1 << np.arange(cells))
    fewest = np.full(2**cells, 10**6)
    np.minimum.at(fewest, codes, subsets.sum(axis=1))
    return fewest, subsets[np.lexsort((subsets.sum(axis=1), codes))]  # best subset first per code


def code(board) -> int:
    return int(np.asarray(board).reshape(-1) @ (1 << np.arange(np.size(board))))


@pytest.fixture(scope="module")
def brute_force_4x4():
    return fewest_presses_by_brute_force(4)


def test_lights_out_default_optimum_is_proven_by_brute_force(brute_force_4x4):
    fewest, _ = brute_force_4x4
    game = lights_out.LightsOut()
    assert fewest[code(game.pattern)] == game.optimum == 6
    assert fewest[fewest < 10**6].max() == 7  # no solvable 4x4 board needs more than 7


def test_lights_out_optimal_presses_solve_the_game(brute_force_4x4):
    game = lights_out.LightsOut()
    cells = 16
    subsets = (np.arange(2**cells)[:, None] >> np.arange(cells)) & 1
    boards = subsets @ lights_out.toggle_matrix(4).astype(np.int64) % 2
    solutions = subsets[(boards == game.pattern.reshape(-1)).all(axis=1)]
    assert len(solutions) == 16  # the toggle matrix has a 4-dimensional null space
    best = solutions[solutions.sum(axis=1) == 6]
    presses = np.random.default_rng(0).permutation(np.flatnonzero(best[0]))  # order does not matter
    state = play(game, presses)
    assert bool(state.terminated) and not bool(state.truncated)
    assert float(state.episode_return) == -6.0
    assert "6 presses (solved" in game.describe(presses)


@pytest.mark.parametrize("n", [3, 4])
def test_lights_out_truncation_reward_is_minus_fewest_presses(n, brute_force_4x4):
    fewest, _ = brute_force_4x4 if n == 4 else fewest_presses_by_brute_force(n)
    solvable = np.flatnonzero(fewest < 10**6)
    boards = ((solvable[:, None] >> np.arange(n * n)) & 1).reshape(-1, n, n).astype(bool)
    game = lights_out.LightsOut(size=n)
    states = lights_out.LightsOutState(jnp.asarray(boards), jnp.zeros_like(jnp.asarray(boards)))
    penalty = jax.jit(jax.vmap(game.truncation_reward))(states)
    np.testing.assert_array_equal(penalty, -fewest[solvable])


def test_lights_out_pressed_cells_become_illegal():
    game = lights_out.LightsOut()
    state = play(game, [5])
    mask = np.asarray(game.legal_action_mask(state.game))
    assert not mask[5] and mask.sum() == 15
    state = play(game, [5, 5])
    assert bool(state.terminated) and float(state.reward) < -1  # illegal: the game ends with a penalty
    obs = gamify.Env(game).observe(play(game, [5]))
    assert obs.shape == (4, 4, 2) and obs[1, 1, 1] == 1.0 and obs[:, :, 1].sum() == 1.0


@pytest.mark.parametrize("size", range(1, 13))
def test_lights_out_default_boards_are_solvable(size):
    game = lights_out.LightsOut(size=size)
    assert game.pattern.shape == (size, size) and game.pattern.any()
    assert 1 <= game.optimum <= size * size


LIGHTS_OUT_ERRORS = [
    ({"size": 0}, "size must be an integer in"),
    ({"size": 13}, "size must be an integer in"),
    ({"size": "4"}, "size must be an integer in"),
    ({"max_steps": 0}, "max_steps must be an integer in"),
    ({"max_steps": 17}, "max_steps must be an integer in"),
    ({"pattern": [[1, 0], [0, 1]]}, "shape"),
    ({"pattern": np.full((4, 4), 2)}, "0 or 1"),
    ({"pattern": np.zeros((4, 4))}, "no light on"),
    ({"pattern": np.pad([[1]], ((0, 3), (0, 3)))}, "not solvable"),  # a lone corner light on 4x4
]


@pytest.mark.parametrize("kwargs, message", LIGHTS_OUT_ERRORS)
def test_lights_out_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lights_out.LightsOut(**kwargs)


# ---- XOR rank ------------------------------------------------------------------------------


def test_xor_rank_default_target_is_pinned():
    game = xor_rank.XorRank()
    np.testing.assert_array_equal(game.target, [[0, 0, 1, 1], [0, 1, 0, 1], [1, 0, 0, 0], [1, 0, 0, 1]])
    assert game.optimum == xor_rank.gf2_rank_numpy(game.target) == 4
    assert game.action_space.token_sizes == (15, 15) and game.max_steps == 4


def test_xor_rank_fewest_terms_equals_gf2_rank_by_brute_force():
    n = 3
    vectors = [((k >> np.arange(n)) & 1) for k in range(1, 2**n)]
    rank_one = {code(np.outer(u, v)) for u, v in itertools.product(vectors, vectors)}
    assert len(rank_one) == (2**n - 1) ** 2
    fewest, frontier, level = {0: 0}, {0}, 0
    while frontier:  # breadth-first search: one more rank-one term per level
        level += 1
        frontier = {m ^ r for m in frontier for r in rank_one} - fewest.keys()
        fewest.update(dict.fromkeys(frontier, level))
    assert len(fewest) == 2 ** (n * n)
    for m, terms in fewest.items():
        matrix = (m >> np.arange(n * n)) & 1
        assert terms == xor_rank.gf2_rank_numpy(matrix.reshape(n, n)), matrix


def greedy_decomposition(target: np.ndarray) -> list[tuple[int, int]]:
    """A minimal decomposition: each term lowers the rank of the residual by one."""
    n = len(target)
    residual, actions = target.copy(), []
    while residual.any():
        rank = xor_rank.gf2_rank_numpy(residual)
        for a, b in itertools.product(range(2**n - 1), repeat=2):
            term = np.outer(((a + 1) >> np.arange(n)) & 1, ((b + 1) >> np.arange(n)) & 1).astype(np.uint8)
            if xor_rank.gf2_rank_numpy(residual ^ term) == rank - 1:
                residual ^= term
                actions.append((a, b))
                break
    return actions


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_rank_minimal_decomposition_terminates_with_minus_rank(seed):
    game = xor_rank.XorRank(seed=seed)
    actions = greedy_decomposition(game.target)
    assert len(actions) == game.optimum
    state = play(game, actions)
    assert bool(state.terminated) and not bool(state.truncated)
    assert float(state.episode_return) == -game.optimum
    assert "equals the target" in game.describe(np.array(actions))


def test_xor_rank_truncation_penalty_is_minus_rank_of_residual():
    game = xor_rank.XorRank(max_steps=1)
    for action in [(0, 0), (4, 9), (14, 14)]:
        state = play(game, [action])
        residual = np.asarray(state.game.residual, np.uint8)
        assert bool(state.truncated)
        assert float(state.reward) == -1.0 - xor_rank.gf2_rank_numpy(residual)


def test_xor_rank_factors_decode_index_plus_one():
    game = xor_rank.XorRank()
    u, v = game.factors(jnp.array([0, 14], jnp.int32))
    np.testing.assert_array_equal(u, [1, 0, 0, 0])
    np.testing.assert_array_equal(v, [1, 1, 1, 1])


GF2_RANK = jax.jit(xor_rank.gf2_rank)
SHAPES = [(1, 1), (4, 4), (3, 6), (6, 3)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SHAPES).flatmap(lambda shape: hnp.arrays(np.uint8, shape, elements=st.integers(0, 1))))
def test_gf2_rank_in_jax_matches_numpy(matrix):
    assert int(GF2_RANK(matrix)) == xor_rank.gf2_rank_numpy(matrix)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.data())
def test_gf2_rank_of_a_product_of_full_rank_factors(rank, data):
    # B [4, r] C [r, 4] with B and C of full rank r has rank exactly r.
    def full_rank(rows, cols):
        m = data.draw(hnp.arrays(np.uint8, (rows, cols), elements=st.integers(0, 1)))
        return m if xor_rank.gf2_rank_numpy(m) == min(rows, cols) else np.eye(rows, cols, dtype=np.uint8)

    product = full_rank(4, rank).astype(np.int64) @ full_rank(rank, 4) % 2
    assert xor_rank.gf2_rank_numpy(product) == rank
    assert int(GF2_RANK(product.astype(np.uint8))) == rank


XOR_RANK_ERRORS = [
    ({"n": 0}, "n must be an integer in"),
    ({"n": 11}, "n must be an integer in"),
    ({"max_steps": 0}, "max_steps must be an integer"),
    ({"seed": "a"}, "seed must be an integer"),
    ({"target": [[1, 0], [0, 1]]}, "shape"),
    ({"target": np.full((4, 4), 3)}, "0 or 1"),
    ({"target": np.zeros((4, 4), int)}, "zero matrix"),
]


@pytest.mark.parametrize("kwargs, message", XOR_RANK_ERRORS)
def test_xor_rank_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        xor_rank.XorRank(**kwargs)


# ---- the checker catches broken games ------------------------------------------------------


class CounterState(NamedTuple):
    remaining: jax.Array


class Counter(gamify.Game[CounterState]):
    """Count 3 down to 0; a correct game that the broken variants below spoil one rule each."""

    name = "counter"
    description = "count down"
    max_steps = 5

    def __init__(self):
        self.action_space = gamify.FlatActions(2)

    def init(self, key):
        return CounterState(jnp.int32(3))

    def step(self, state, action):
        remaining = jnp.maximum(state.remaining - 1 - action, 0)
        return CounterState(remaining), jnp.float32(-1.0), remaining == 0

    def observe(self, state):
        return jnp.stack([state.remaining, state.remaining])

    def legal_action_mask(self, state):
        return jnp.ones(2, jnp.bool_)


def test_checker_accepts_the_correct_counter():
    check_game(Counter())


class IllegalDemonstration(Counter):
    """Its demonstration 'ends' only because action 5 is out of range (illegal)."""

    def demonstration(self, key):
        return CounterState(jnp.int32(3)), jnp.full((5,), 5, jnp.int32), jnp.int32(1)


class UnfinishedDemonstration(Counter):
    def demonstration(self, key):
        return CounterState(jnp.int32(3)), jnp.zeros((5,), jnp.int32), jnp.int32(2)


class GoodDemonstration(Counter):
    def demonstration(self, key):
        return CounterState(jnp.int32(3)), jnp.array([1, 0, 0, 0, 0], jnp.int32), jnp.int32(2)


def test_checker_accepts_good_demonstrations():
    check_game(GoodDemonstration())


class WeakInit(Counter):
    def init(self, key):
        return CounterState(jnp.asarray(3))  # weakly typed: retraces when a stepped state comes back


class GrowingState(Counter):
    def step(self, state, action):
        next_state, reward, terminated = super().step(state, action)
        return CounterState(next_state.remaining[None]), reward, terminated


class NoLegalAction(Counter):
    def legal_action_mask(self, state):
        return jnp.zeros(2, jnp.bool_)


class DeadEndOnSomePaths(Counter):
    """Reaching 1 (3→2→1, or 3→1) leaves no legal action, though the game is not over."""

    def legal_action_mask(self, state):
        return jnp.full(2, state.remaining != 1)


class OverclaimedBound(Counter):
    best_possible_return = -3.0  # but 3→1→0 and 3→2→0 return -2


class TextBound(Counter):
    best_possible_return = "-2"


class WrongMask(Counter):
    def legal_action_mask(self, state):
        return jnp.ones(3, jnp.bool_)


class NanReward(Counter):
    def step(self, state, action):
        next_state, _, terminated = super().step(state, action)
        return next_state, jnp.float32(jnp.nan), terminated


class NeverEnds(Counter):
    def step(self, state, action):
        next_state, reward, _ = super().step(state, action)
        return next_state, reward, jnp.bool_(False)

    def truncation_reward(self, state):
        return jnp.float32(jnp.inf)


class Nameless(Counter):
    name = ""


class LossyAugment(Counter):
    def augment(self, key, observation, policy, candidates):
        return observation[:1], policy, candidates


class UnnormalisedAugment(Counter):
    def augment(self, key, observation, policy, candidates):
        return observation, policy * 2, candidates


@pytest.mark.parametrize(
    "game, message",
    [
        (WeakInit(), "changed type"),
        (GrowingState(), "changed type"),
        (NoLegalAction(), r"no legal action at step 0 \(after init\), but the game is not over"),
        (DeadEndOnSomePaths(), r"no legal action at step [12] \(after the moves \[[01](, 0)?\]\)"),
        (OverclaimedBound(), "random play returned -2, more than best_possible_return -3.0"),
        (TextBound(), "best_possible_return must be None or a finite number"),
        (WrongMask(), r"must be bool\[2\]"),
        (NanReward(), r"reward after move 1 \(action 0\) is not finite"),
        (NeverEnds(), "not finite"),
        (Nameless(), "name must be a non-empty string"),
        (IllegalDemonstration(), "demonstration plays an illegal move"),
        (UnfinishedDemonstration(), "do not solve its start"),
        (LossyAugment(), r"augment changed the observation from float32\[2\] to float32\[1\]"),
        (UnnormalisedAugment(), "policy targets do not sum to 1"),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, gamify.Game) else "error",
)
def test_checker_catches_broken_games(game, message):
    with pytest.raises(AssertionError, match=message):
        check_game(game)

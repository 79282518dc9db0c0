"""TensorGame: conformance, known schemes played to zero, the rank bound, canonical actions, bad input."""

import importlib.resources
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gamify
from gamify.games.tensor_decomposition import CYCLIC_AXES, TensorDecomposition
from gamify.tensor import matmul_tensor
from gamify.tensor.bound import PRIMES, slice_rank_bound_exact
from gamify.testing import check_game

ALPHATENSOR = importlib.resources.files("gamify.tensor") / "data" / "alphatensor"

# Strassen (1969) in the published convention: u over (a11, a12, a21, a22), v over
# (b11, b12, b21, b22), w over Cᵀ row-major, i.e. (c11, c21, c12, c22).
STRASSEN = [
    ([1, 0, 0, 1], [1, 0, 0, 1], [1, 0, 0, 1]),  # m1 = (a11 + a22)(b11 + b22) -> c11, c22
    ([0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, -1]),  # m2 = (a21 + a22) b11 -> c21, -c22
    ([1, 0, 0, 0], [0, 1, 0, -1], [0, 0, 1, 1]),  # m3 = a11 (b12 - b22) -> c12, c22
    ([0, 0, 0, 1], [-1, 0, 1, 0], [1, 1, 0, 0]),  # m4 = a22 (b21 - b11) -> c11, c21
    ([1, 1, 0, 0], [0, 0, 0, 1], [-1, 0, 1, 0]),  # m5 = (a11 + a12) b22 -> -c11, c12
    ([-1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]),  # m6 = (a21 - a11)(b11 + b12) -> c22
    ([0, 1, 0, -1], [0, 0, 1, 1], [1, 0, 0, 0]),  # m7 = (a12 - a22)(b21 + b22) -> c11
]


class Played(NamedTuple):
    """A game with its Env and jitted functions, built once per module (each jits once)."""

    game: TensorDecomposition
    env: gamify.Env
    step: Callable  # jitted Env.step
    is_legal: Callable  # jitted (game state, actions [N, ...]) -> bool[N]
    truncation_reward: Callable  # jitted game.truncation_reward


def played(**kwargs) -> Played:
    game = TensorDecomposition(**kwargs)
    env = gamify.Env(game)
    return Played(
        game,
        env,
        jax.jit(env.step),
        jax.jit(jax.vmap(game.is_legal, (None, 0))),
        jax.jit(game.truncation_reward),
    )


@pytest.fixture(scope="module")
def z2():
    return played()


@pytest.fixture(scope="module")
def z():
    return played(field="z")


@pytest.fixture(scope="module")
def z2_flat():
    return played(actions="flat")


@pytest.fixture(scope="module")
def terminal():
    """AlphaTensor's rule: the bound is paid only at the step limit."""
    return {"z2": played(rewards="terminal"), "z": played(field="z", rewards="terminal")}


def play(p: Played, terms):
    """Plays the terms (u, v, w) through the env; returns the final EnvState."""
    state = p.env.init(jax.random.key(0))
    for u, v, w in terms:
        state = p.step(state, p.game.encode(u, v, w))
    return state


def naive_terms(n, m, p):
    one = lambda size, i: np.eye(size, dtype=np.int64)[i]
    return [
        (one(n * m, i * m + j), one(m * p, j * p + k), one(p * n, k * n + i))
        for i in range(n)
        for j in range(m)
        for k in range(p)
    ]


def rank_exact(matrix, modulus=None) -> int:
    """Rank over Q (Fractions) or over GF(modulus): plain Gauss–Jordan, the test's own reference."""
    rows = [[Fraction(int(x)) for x in row] for row in np.asarray(matrix)]
    reduce = (lambda x: x % modulus) if modulus else (lambda x: x)
    rows = [[reduce(x) for x in row] for row in rows]
    rank = 0
    for col in range(len(rows[0]) if rows else 0):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        inverse = pow(int(rows[rank][col]), -1, modulus) if modulus else 1 / rows[rank][col]
        rows[rank] = [reduce(x * inverse) for x in rows[rank]]
        for r in range(len(rows)):
            if r != rank and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [reduce(x - factor * y) for x, y in zip(rows[r], rows[rank], strict=True)]
        rank += 1
    return rank


def slice_bound_exact(tensor, modulus=None) -> int:
    modes = (tensor, tensor.transpose(1, 0, 2), tensor.transpose(2, 0, 1))
    return min(sum(rank_exact(matrix, modulus) for matrix in mode) for mode in modes)


def with_residual(p: Played, residual):
    state = p.game.init(jax.random.key(0))
    return state._replace(residual=jnp.asarray(residual, state.residual.dtype))


# ---- conformance -------------------------------------------------------------------------------


def test_conforms_matmul(z2, z, z2_flat):
    for p in (z2, z2_flat, z):
        check_game(p.game)
    check_game(TensorDecomposition(2, 2, 3, rewards="terminal", change_of_basis=0.5))  # one compile


def test_conforms_with_targets_from_files(tmp_path):
    rng = np.random.default_rng(0)
    binary = rng.integers(0, 2, (3, 2, 4))
    np.save(tmp_path / "t.npy", binary)
    from_npy = TensorDecomposition(target=str(tmp_path / "t.npy"), history=1)
    np.testing.assert_array_equal(from_npy.target, binary)
    assert from_npy.matmul is None and from_npy.max_steps == slice_bound_exact(binary, 2)
    check_game(from_npy)

    signed = rng.integers(-2, 3, (2, 3, 3))
    lines = ["# a signed tensor", "2 3 3"] + [" ".join(map(str, row)) for row in signed.reshape(-1, 3)]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "  # trailing comment\n")
    from_text = TensorDecomposition(target=tmp_path / "t.txt", field="z", coefficients=(-1, 0, 1))
    np.testing.assert_array_equal(from_text.target, signed)
    assert from_text.max_steps == slice_bound_exact(signed)
    check_game(from_text)


def test_layouts():
    game = TensorDecomposition(2, 2, 3, history=3)
    assert game.shape == (4, 6, 6) and game.matmul == (2, 2, 3) and game.max_steps == 12
    assert game.action_space.token_sizes == (16, 16, 4, 16, 4)  # chunks of 4 entries, last of 2
    obs = gamify.Env(game).observe(gamify.Env(game).init(jax.random.key(0)))
    assert obs.shape == (4, 6, 6, 5) and obs.dtype == jnp.float32  # + the bound paid (shaped rewards)
    np.testing.assert_array_equal(obs[..., 0], matmul_tensor(2, 2, 3))
    assert not np.asarray(obs[..., 1:]).any()
    assert TensorDecomposition(field="z").action_space.token_sizes == (25,) * 6
    assert TensorDecomposition(field="z", coefficients=(-1, 0, 1)).action_space.token_sizes == (27, 3) * 3
    assert TensorDecomposition(field="z", chunk=4).action_space.token_sizes == (625,) * 3
    # auto: flat for few terms only
    assert TensorDecomposition(actions="auto").action_space == gamify.FlatActions(3375)
    assert TensorDecomposition(2, 2, 3, actions="auto").actions == "factored"  # 59,535 terms
    assert TensorDecomposition(field="z", coefficients=(-1, 0, 1), actions="auto").actions == "factored"


# ---- known schemes played through the env -------------------------------------------------------


def test_strassen_is_a_rank_7_scheme():
    terms = np.einsum("ir,jr,kr->ijk", *(np.array([t[f] for t in STRASSEN]).T for f in range(3)))
    np.testing.assert_array_equal(terms, matmul_tensor(2, 2, 2))


@pytest.mark.parametrize("fixture", ["z", "z2", "z2_flat"])
def test_strassen_solves_the_game(fixture, request):
    p = request.getfixturevalue(fixture)
    final = play(p, STRASSEN)
    assert bool(final.terminated) and not bool(final.truncated)
    assert float(final.episode_return) == -7
    assert not np.asarray(final.game.residual).any()


def test_strassen_description(z):
    actions = np.stack([z.game.encode(*term) for term in STRASSEN])
    text = z.game.describe(actions)
    assert "m1 = (a11 + a22) * (b11 + b22)" in text
    assert "m4 = (a22) * (b11 - b21)" in text  # the legal sign form: v starts positive, w negated
    assert "c11 = m1 - m4 - m5 + m7" in text
    assert "7 terms; residual is zero" in text
    assert "residual is NOT zero" in z.game.describe(actions[:6])


def alphatensor_terms(file: str, key: str):
    with importlib.resources.as_file(ALPHATENSOR / file) as path:
        factors = np.load(path, allow_pickle=True)[key]
    return [tuple(np.asarray(f[:, r], np.int64) for f in factors) for r in range(factors[0].shape[1])]


@pytest.mark.parametrize("file, field", [("factorizations_r.npz", "z"), ("factorizations_f2.npz", "z2")])
def test_alphatensor_2x2x3_solves_the_game(file, field):
    terms = alphatensor_terms(file, "2,2,3")
    coefficients = sorted({0, *np.concatenate([np.concatenate(t) for t in terms]).tolist()})
    p = played(n=2, m=2, p=3, field=field, coefficients=coefficients if field == "z" else None)
    final = play(p, terms)
    assert len(terms) == 11 and bool(final.terminated) and not bool(final.truncated)
    assert float(final.episode_return) == -11


@pytest.mark.parametrize("fixture", ["z", "z2"])
def test_naive_algorithm_terminates_at_the_step_limit(fixture, request):
    p = request.getfixturevalue(fixture)
    final = play(p, naive_terms(2, 2, 2))
    assert p.game.max_steps == 8 and bool(final.terminated) and not bool(final.truncated)
    assert float(final.episode_return) == -8


def test_running_out_of_moves_pays_the_rank_bound(z2):
    final = play(z2, STRASSEN[:3] + STRASSEN[:5])  # 8 moves, the limit, not solved
    assert bool(final.truncated) and not bool(final.terminated)
    left = slice_bound_exact(np.asarray(final.game.residual), 2)
    assert float(final.episode_return) == -8 - left


def random_terms(rng, count, coefficients):
    terms = []
    while len(terms) < count:
        u, v, w = (rng.choice(coefficients, 4) for _ in range(3))
        if u.any() and v.any() and w.any():
            terms.append((u, v, w))
    return terms


@settings(derandomize=True, max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), count=st.integers(1, 8), field=st.sampled_from(["z2", "z"]))
def test_shaped_rewards_give_the_same_returns(z2, z, terminal, seed, count, field):
    """Potential-based shaping: every game ends with the same return under both rules."""
    shaped = {"z2": z2, "z": z}[field]
    terms = random_terms(np.random.default_rng(seed), count, shaped.game.coefficients)
    state, plain = shaped.env.init(jax.random.key(0)), terminal[field].env.init(jax.random.key(0))
    paid = 0
    for u, v, w in terms:
        state = shaped.step(state, shaped.game.encode(u, v, w))
        plain = terminal[field].step(plain, terminal[field].game.encode(u, v, w))
        bound = slice_rank_bound_exact(np.asarray(state.game.residual), field)
        assert float(state.reward) == -1 - (bound - paid)  # a move pays its change of the bound
        assert float(state.episode_return) == -state.step_count - bound
        paid = bound
    assert bool(state.done) == bool(plain.done) and int(state.game.charged) == paid
    if state.done:
        assert float(state.episode_return) == float(plain.episode_return)
    obs = shaped.env.observe(state)
    np.testing.assert_allclose(obs[..., -1], paid / shaped.game.max_steps)


@pytest.fixture(scope="module")
def in_random_basis():
    return {field: played(field=field, change_of_basis=1.0) for field in ("z2", "z")}


@pytest.mark.parametrize("field", ["z2", "z"])
def test_change_of_basis_disguises_the_target_and_maps_back(in_random_basis, field):
    p, plain = in_random_basis[field], played(field=field)
    starts = set()
    for seed in range(4):
        state = p.env.init(jax.random.key(seed))
        basis = [np.asarray(b, np.int64) for b in state.game.basis]
        expected = np.einsum("ia,jb,kc,abc->ijk", *basis, matmul_tensor(2, 2, 2))
        np.testing.assert_array_equal(state.game.residual, expected % 2 if field == "z2" else expected)
        starts.add(np.asarray(state.game.residual).tobytes())
        # Strassen carried into the basis solves the disguised game...
        moves = [p.game.encode(*(b @ np.asarray(x) for b, x in zip(basis, t, strict=True))) for t in STRASSEN]
        for move in moves:
            state = p.step(state, move)
        assert bool(state.terminated) and float(state.episode_return) == -7
        # ...and its solution, mapped back, solves the target itself.
        final = play(plain, [plain.game.decode(a) for a in p.game.solution(state.game, np.stack(moves))])
        assert bool(final.terminated) and float(final.episode_return) == -7
    assert len(starts) > 1  # different games, different bases


def test_no_change_of_basis_keeps_the_target_and_the_moves(z2):
    state = z2.env.init(jax.random.key(5))
    np.testing.assert_array_equal(state.game.residual, matmul_tensor(2, 2, 2))
    moves = np.stack([z2.game.encode(*term) for term in STRASSEN])
    np.testing.assert_array_equal(z2.game.solution(state.game, moves), moves)
    with pytest.raises(ValueError, match="probability"):
        TensorDecomposition(change_of_basis=1.5)


def test_shaped_illegal_move_pays_the_worst_return(z2, terminal):
    for p in (z2, terminal["z2"]):
        state = p.env.init(jax.random.key(0))
        state = p.step(state, p.game.encode(*STRASSEN[0]))
        state = p.step(state, jnp.zeros(p.env.action_space.num_tokens, jnp.int32))  # zero factors
        assert bool(state.terminated)
        assert float(state.episode_return) == -8 - 16  # every move wasted, then the largest bound (4·4)


# ---- the truncation penalty ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd_shapes():
    """Non-cubic targets (3, 4, 2): the rank bound pads slices of three different shapes."""
    target = np.zeros((3, 4, 2), np.int64)
    target[0, 0, 0] = 1
    return {
        "z2": played(target=target, rewards="terminal"),
        "z": played(target=target, field="z", rewards="terminal"),
    }


def sparse_tensors(low, high):
    values = hnp.arrays(np.int64, (3, 4, 2), elements=st.integers(low, high))
    keep = hnp.arrays(np.bool_, (3, 4, 2))
    return st.builds(lambda v, k: v * k, values, keep)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(residual=sparse_tensors(0, 1))
def test_rank_bound_z2_is_exact(odd_shapes, residual):
    bound = -float(odd_shapes["z2"].truncation_reward(with_residual(odd_shapes["z2"], residual)))
    assert bound == slice_bound_exact(residual, 2) == slice_rank_bound_exact(residual, "z2")


@settings(derandomize=True, max_examples=60, deadline=None)
@given(residual=sparse_tensors(-3, 3))
def test_rank_bound_z_is_exact(odd_shapes, residual):
    bound = -float(odd_shapes["z"].truncation_reward(with_residual(odd_shapes["z"], residual)))
    assert bound == slice_bound_exact(residual) == slice_rank_bound_exact(residual, "z")


def test_rank_bound_is_a_rank_bound(terminal):
    for p in terminal.values():
        assert -float(p.truncation_reward(p.game.init(jax.random.key(0)))) == 8  # ⟨2,2,2⟩ has rank 7
        rank_one = np.einsum("i,j,k->ijk", [1, 0, 0, 0], [1, 1, 0, 1], [0, 1, 1, 1])
        assert -float(p.truncation_reward(with_residual(p, rank_one))) == 1


def test_rank_bound_survives_a_determinant_all_primes_divide(odd_shapes):
    # det [[a, 1], [c, d]] = p1·p2·p3: the rank is 2 over Q but 1 modulo each prime. The
    # Hadamard certificate fails (entries above 4096), so that slice counts 2, not 1.
    product = int(np.prod(PRIMES, dtype=object))
    a = 2**30
    d = -(-product // a)
    c = a * d - product
    assert a * d - c == product and max(abs(c), d) < 2**31
    residual = np.zeros((3, 4, 2), np.int64)
    residual[0, :2, :2] = [[a, 1], [c, d]]
    assert all(rank_exact(residual[0, :2, :2], prime) == 1 for prime in PRIMES)
    p = odd_shapes["z"]
    bound = -float(p.truncation_reward(with_residual(p, residual)))
    assert bound == slice_bound_exact(residual) == slice_rank_bound_exact(residual, "z") == 2


# ---- canonical actions ------------------------------------------------------------------------------


def raw_tokens(game, u, v, w):
    """Tokens of exactly (u, v, w), legal or not: chunks as base-|F| numbers, entry 0 least significant."""
    q, tokens = len(game.coefficients), []
    for factor in (u, v, w):
        digits = np.searchsorted(game.coefficients, factor)
        for start in range(0, len(factor), game.chunk):
            chunk = digits[start : start + game.chunk]
            tokens.append(int(chunk @ q ** np.arange(len(chunk))))
    return np.asarray(tokens, np.int32)


def test_zero_factors_are_illegal(z2, z):
    for p in (z2, z):
        e = np.eye(4, dtype=np.int64)[0]
        zero = np.zeros(4, np.int64)
        actions = np.stack(
            [raw_tokens(p.game, *t) for t in [(e, e, e), (zero, e, e), (e, zero, e), (e, e, zero)]]
        )
        np.testing.assert_array_equal(p.is_legal(p.game.init(jax.random.key(0)), actions), [1, 0, 0, 0])


@pytest.mark.parametrize("coefficients", [(-2, -1, 0, 1, 2), (-1, 0, 1, 2)])
def test_exactly_one_sign_form_is_legal(coefficients):
    p = played(field="z", coefficients=coefficients)
    rng = np.random.default_rng(1)
    forms, expected = [], []
    for _ in range(200):
        u, v, w = (rng.choice(coefficients, 4) for _ in range(3))
        if not (u.any() and v.any() and w.any()):
            continue
        twins = [(u, v, w), (-u, -v, w), (-u, v, -w), (u, -v, -w)]
        fits = [all(np.isin(x, coefficients).all() for x in twin) for twin in twins]
        forms += [raw_tokens(p.game, *twin) for twin, fit in zip(twins, fits, strict=True) if fit]
        expected.append(sum(fits))
        legal = p.game.encode(u, v, w)  # the legal form of the same tensor
        decoded = tuple(tuple(x.tolist()) for x in p.game.decode(legal))
        assert decoded in [
            tuple(tuple(x.tolist()) for x in t) for t, fit in zip(twins, fits, strict=True) if fit
        ]
    legal = np.asarray(p.is_legal(p.game.init(jax.random.key(0)), np.stack(forms)))
    groups = np.split(legal, np.cumsum(expected)[:-1])
    assert all(group.sum() == 1 for group in groups)


def test_flat_actions_round_trip(z2_flat):
    game = z2_flat.game
    assert game.action_space.num_actions == 15**3
    for index in range(game.action_space.num_actions):
        assert game.encode(*game.decode(index)) == index
    tensors = {np.einsum("i,j,k->ijk", *game.decode(i)).tobytes() for i in range(0, 3375, 7)}
    assert len(tensors) == len(range(0, 3375, 7))  # distinct terms


@pytest.mark.parametrize("fixture", ["z", "z2"])
def test_factored_actions_round_trip(fixture, request):
    p = request.getfixturevalue(fixture)
    sizes = np.asarray(p.game.action_space.token_sizes)
    actions = np.random.default_rng(2).integers(0, sizes, (300, len(sizes))).astype(np.int32)
    legal = np.asarray(p.is_legal(p.game.init(jax.random.key(0)), actions))
    assert legal.any() and (fixture == "z2" or not legal.all())
    for action, is_legal in zip(actions, legal, strict=True):
        u, v, w = p.game.decode(action)
        if not (u.any() and v.any() and w.any()):
            continue
        again = p.game.encode(u, v, w)
        if is_legal:
            np.testing.assert_array_equal(again, action)
        else:  # an illegal sign form encodes as the legal one of the same tensor
            same = np.einsum("i,j,k->ijk", *p.game.decode(again)) == np.einsum("i,j,k->ijk", u, v, w)
            assert same.all()


def test_encode_rejects_what_it_cannot_play(z, z2_flat):
    with pytest.raises(ValueError, match="factor of the term is zero"):
        z.game.encode([0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0])
    with pytest.raises(ValueError, match="not in the coefficients"):
        z.game.encode([3, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0])
    with pytest.raises(ValueError, match="must be 4 integers"):
        z2_flat.game.encode([1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0])
    assert z2_flat.game.encode([-1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]) == 0  # -1 = 1 mod 2


def terms_of(game, actions):
    return {tuple(np.concatenate(game.decode(action)).tolist()) for action in actions}


def test_flat_actions_are_the_legal_factored_ones():
    target = np.zeros((2, 2, 2), np.int64)
    target[0, 1, 1] = 1
    flat = TensorDecomposition(target=target, field="z", coefficients=(-1, 0, 1, 2), actions="flat")
    factored = played(target=target, field="z", coefficients=(-1, 0, 1, 2))
    every = (
        np.stack(np.meshgrid(*(np.arange(16),) * 3, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.int32)
    )
    legal = np.asarray(factored.is_legal(factored.game.init(jax.random.key(0)), every))
    flat_terms = terms_of(flat, range(flat.action_space.num_actions))
    assert flat_terms == terms_of(factored.game, every[legal])
    # F is not symmetric: this term's usual form (w = (-2, 0)) does not fit, so (-u)⊗v⊗(-w) is legal.
    assert (-1, 1, 2, 0, 2, 0) in flat_terms


@pytest.mark.parametrize("fixture", ["z", "z2"])
def test_demonstrations_are_legal_sums(fixture, request):
    p = request.getfixturevalue(fixture)
    starts, actions, lengths = jax.jit(jax.vmap(p.game.demonstration))(
        jax.random.split(jax.random.key(3), 16)
    )
    for start, moves, length in zip(*map(np.asarray, (starts.residual, actions, lengths)), strict=True):
        moves = moves[:length]
        assert np.asarray(p.is_legal(p.game.init(jax.random.key(0)), moves)).all()
        total = sum(np.einsum("i,j,k->ijk", *p.game.decode(move)) for move in moves)
        np.testing.assert_array_equal(start, total % 2 if fixture == "z2" else total)


# ---- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0), "n must be an integer >= 1"),
        (dict(m=2.5), "m must be an integer >= 1"),
        (dict(field="q"), "field must be one of z2, z"),
        (dict(field="z2", coefficients=(-1, 0, 1)), r"over z2 the coefficients are \(0, 1\)"),
        (dict(field="z", coefficients=(1, 2)), "include 0"),
        (dict(field="z", coefficients=(0, 0, 1)), "distinct"),
        (dict(field="z", coefficients=(0, 1, 200)), r"\[-128, 127\]"),
        (dict(field="z", coefficients=(0, 0.5)), "must be integers"),
        (dict(field="z", coefficients=5), "must be integers"),
        (dict(target=np.ones((2, 2))), "3-way"),
        (dict(target=np.full((2, 2, 2), 0.5)), "must be integers"),
        (dict(target=np.full((2, 2, 2), 2)), "target is zero mod 2"),
        (dict(target=np.zeros((2, 2, 2), int)), "target is zero"),
        (dict(target=[[[1], [1, 0]]]), "rectangular"),
        (dict(target="/nonexistent/t.npy"), "target file not found"),
        (dict(max_steps=0), "max_steps must be an integer >= 1"),
        (dict(field="z", max_steps=2**30), "overflow int32"),
        (dict(history=-1), "history must be an integer >= 0"),
        (dict(chunk=0), "chunk must be an integer >= 1"),
        (dict(field="z", chunk=8), "limit 65536"),
        (dict(actions="flat", chunk=2), "factored actions only"),
        (dict(actions="tree"), "actions must be 'factored', 'flat' or 'auto'"),
        (dict(n=2, m=2, p=3, field="z", actions="flat"), "use actions='factored'"),
        (dict(n=3, m=3, p=3, actions="flat"), "use actions='factored'"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        TensorDecomposition(**kwargs)
    assert str(error.value).startswith("tensor_decomposition: ") and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("2 2\n1 1 1 1", "expected 'I J K'"),
        ("2 2 0\n", "expected 'I J K'"),
        ("1 1 2\n1", "needs 2 entries, found 1"),
        ("1 1 2\n1 x", "not an integer"),
    ],
)
def test_bad_text_targets_are_rejected(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        TensorDecomposition(target=path)


def test_bad_npy_is_rejected(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="cannot read .* as .npy"):
        TensorDecomposition(target=tmp_path / "bad.npy")


def term_tensor(u, v, w) -> np.ndarray:
    return np.einsum("i,j,k->ijk", *(np.asarray(x, np.int64) for x in (u, v, w)))


@pytest.mark.parametrize("fixture", ["z2_flat", "z"])
def test_cyclic_augmentation_transposes_states_and_moves_alike(fixture, request):
    p = request.getfixturevalue(fixture)
    game, flat = p.game, p.game.actions == "flat"
    rng = np.random.default_rng(1)
    *history, move, other = random_terms(rng, 4, game.coefficients)
    state = play(p, history)
    observation = p.env.observe(state)
    policy = jnp.array([0.75, 0.25])
    candidates = jnp.stack([jnp.atleast_1d(game.encode(*move)), jnp.atleast_1d(game.encode(*other))])
    augment = jax.jit(game.augment)
    shifts = set()
    for seed in range(12):
        got, weights, tokens = augment(jax.random.key(seed), observation, policy, candidates)
        matches = [
            r for r, axes in enumerate(CYCLIC_AXES) if np.array_equal(got, observation.transpose(axes))
        ]
        assert len(matches) == 1
        axes = CYCLIC_AXES[matches[0]][:3]
        shifts.add(matches[0])
        residual = np.asarray(state.game.residual).transpose(axes)
        assert slice_rank_bound_exact(residual, game.field) == int(state.game.charged)
        assert np.array_equal(weights, policy)
        moved = [game.decode(np.asarray(t[0] if flat else t)) for t in tokens]
        for original, image in zip([move, other], moved, strict=True):
            expected = term_tensor(*original).transpose(axes)
            if game.field == "z2":
                expected %= 2
            assert np.array_equal(term_tensor(*image), expected)
            assert bool(game.is_legal(state.game, game.encode(*image)))
    assert shifts == {0, 1, 2}


def test_cyclic_augmentation_needs_a_cubic_shape():
    game = TensorDecomposition(2, 2, 3)
    assert not game.cyclic and TensorDecomposition(augment=False).cyclic is False
    observation, policy, candidates = jnp.ones((4, 6, 6, 4)), jnp.ones(3), jnp.ones((3, 9), jnp.int32)
    outputs = game.augment(jax.random.key(0), observation, policy, candidates)
    assert all(a is b for a, b in zip(outputs, (observation, policy, candidates), strict=True))


def test_a_z2_target_is_taken_mod_2_as_verify_takes_schemes():
    from gamify.tensor.targets import load_target, outside_z2

    target = np.array([[[3, 2], [0, 1]], [[1, 0], [5, -1]]])
    assert load_target(target, "z2").tolist() == (target % 2).tolist()
    assert load_target(target, "z").tolist() == target.tolist()
    assert outside_z2(target) and not outside_z2(target % 2)

"""The T-count game (gamify.games.waring): contract, bound, changes of basis mapped back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamify.games.waring import Waring, residual_bound
from gamify.registry import load_game
from gamify.tensor import waring
from gamify.tensor.toffoli import pair_cover
from gamify.testing import check_game


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"basis_changes": 6}, {"tensor": "0822", "max_steps": 6}],
    ids=["tof_3-flat", "tof_3-basis", "tof_5-factored"],
)
def test_game_passes_check_game(kwargs):
    game = load_game("waring", **kwargs)
    check_game(game, num_random_steps=16, num_random_games=2)


def test_flat_and_factored_action_spaces():
    assert Waring().action_space.num_actions == 2**7 - 1
    assert Waring(tensor="0822").action_space.token_sizes == (256, 128)  # n = 15: 8 + 7 bits
    assert Waring().max_steps == 14  # Tof_3: two groups x_0 x_1 (...), x_2 x_3 (...), 7 each


def _explicit(residual: np.ndarray) -> list[int]:
    """The decomposition residual_bound counts, built in numpy: 7 per group, 3 per pair, 1 per linear."""
    n = residual.shape[0]
    out = []
    for i in range(n):
        if residual[i, i, i]:
            out.append(1 << i)
        for j in range(i + 1, n):
            if residual[i, i, j]:
                out += [1 << i, 1 << j, (1 << i) | (1 << j)]
            c = sum(1 << k for k in range(j + 1, n) if residual[i, j, k])
            if c:
                a, b = 1 << i, 1 << j
                out += [a, b, c, a ^ b, a ^ c, b ^ c, a ^ b ^ c]  # the Toffoli x_i x_j (Σ x_k)
    return out


def test_residual_bound_is_an_actual_decomposition():
    rng = np.random.default_rng(0)
    game = Waring(tensor="0821")  # n = 11
    target = np.asarray(game.target)
    for _ in range(10):
        residual = target.copy()
        for u in rng.integers(
            1, 2**game.n, size=rng.integers(1, 6)
        ):  # a few moves: lower-degree entries appear
            residual ^= waring.waring_tensor([u], game.n).astype(bool)
        parities = _explicit(residual)
        assert np.array_equal(waring.waring_tensor(parities, game.n), residual.astype(np.uint8))
        assert int(residual_bound(jnp.asarray(residual))) == len(parities)


def test_a_game_in_a_changed_basis_maps_back_to_the_tensor():
    game = Waring(tensor="0801", basis_changes=8)  # Barenco Tof_3, n = 8
    state = game.init(jax.random.PRNGKey(3))
    dealt = waring.from_dense(np.asarray(state.residual).astype(np.uint8))
    assert dealt != game.tensor  # the basis did change
    parities = waring.toffoli_to_waring(pair_cover(dealt))
    actions = np.array([int(p) - 1 for p in parities], np.int32)  # flat: action a is the parity a + 1
    step = jax.jit(game.step)
    for a in actions:
        state, reward, done = step(state, jnp.int32(a))
    assert bool(done)
    rows = game.solution(state, actions)
    back = waring.masks(rows)
    assert waring.check_waring(game.tensor, back) is None
    assert (
        waring.check_waring(game.tensor, waring.masks(np.asarray(jax.vmap(game.parity)(actions)))) is not None
    )
    assert "equal the tensor" in game.describe(rows)


def test_bad_parameters_are_clear():
    with pytest.raises(ValueError, match="no shipped phase tensor"):
        Waring(tensor="nope")
    with pytest.raises(ValueError, match="n <= 24"):
        Waring(tensor="0804")  # n = 50
    with pytest.raises(ValueError, match="basis_changes"):
        Waring(basis_changes=-1)


def test_a_parity_played_twice_is_illegal():
    flat = Waring()
    state, _, _ = flat.step(flat.init(jax.random.PRNGKey(0)), jnp.int32(5))
    mask = np.asarray(flat.legal_action_mask(state))
    assert not mask[5] and mask.sum() == flat.action_space.num_actions - 1
    factored = Waring(tensor="0822")
    action = jnp.array([3, 1], jnp.int32)
    state, _, _ = factored.step(factored.init(jax.random.PRNGKey(0)), action)
    assert not bool(factored.is_legal(state, action))
    assert bool(factored.is_legal(state, jnp.array([3, 2], jnp.int32)))
    assert not bool(factored.is_legal(state, jnp.array([0, 0], jnp.int32)))  # the zero parity
    assert int(factored.action(factored.parity(action))[1]) == 1

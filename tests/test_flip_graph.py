"""The flip-graph macro game: exact moves, deterministic steps, the uniform game against the
walker's statistics, the set network's symmetry, and guided walks from a trained run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gamify
from gamify import native, runs, train
from gamify.cli.main import main
from gamify.games.flip_graph import FlipGraph, load_guide
from gamify.networks import NetworkConfig, make_network
from gamify.registry import GameNotFoundError, load_game
from gamify.search import SearchConfig
from gamify.tensor import flips
from gamify.tensor.formats import read_scheme, write_scheme

pytestmark = pytest.mark.skipif(not native.available(), reason="needs the compiled core")

SIZES = (2, 3, 3)  # naive rank 18, best known 15


@pytest.fixture(scope="module")
def game():
    return FlipGraph(*SIZES, start=flips.standard_scheme(*SIZES), plateau=50, moves=12, target_rank=0)


@pytest.fixture(scope="module")
def env(game):
    return gamify.Env(game)


def _uniform_plus_play(env, num_games: int, seed: int):
    """Games of uniformly random plus transitions, every state kept: states [M + 1, B]."""

    @jax.jit
    def play(key):
        states = jax.vmap(env.init)(jax.random.split(key, num_games))

        def move(states, k):
            legal = jax.vmap(env.legal_action_mask)(states).at[:, -2:].set(False)  # plus moves only
            actions = jax.random.categorical(k, jnp.where(legal, 0.0, -jnp.inf))
            after = jax.vmap(env.step)(states, actions)
            return after, after

        _, states_after = jax.lax.scan(move, states, jax.random.split(key, env.max_steps))
        return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), states, states_after)

    return jax.device_get(play(jax.random.PRNGKey(seed)).game)


def test_every_move_keeps_the_scheme_exact(game, env):
    # Random plus transitions, walk-ons and returns to the best, each followed by a stretch:
    # every state of 8 games x 12 moves decomposes <2,3,3> exactly, its best scheme too.
    key = jax.random.PRNGKey(3)
    states = jax.vmap(env.init)(jax.random.split(key, 8))
    step, mask = jax.jit(jax.vmap(env.step)), jax.jit(jax.vmap(env.legal_action_mask))
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(game.max_steps):
        legal = np.asarray(mask(states))
        # a third of the moves walk on or go back to the best, the rest are plus transitions
        actions = np.array(
            [
                rng.choice(np.flatnonzero(row[:-2]))
                if rng.random() < 2 / 3
                else len(row) - rng.integers(1, 3)
                for row in legal
            ],
            np.int32,
        )
        seen.update(actions >= legal.shape[1] - 2)
        states = step(states, jnp.asarray(actions))
        for b in range(8):
            one = jax.tree.map(lambda x, b=b: np.asarray(x[b]), states.game)
            terms = one.terms[: int(one.rank)].astype(np.uint64)
            assert np.all(one.terms[int(one.rank) :] == 0), "terms first, then empty rows"
            scheme = flips.from_masks(terms, game.bits, SIZES)
            assert scheme.verify().ok
            assert game.best_scheme(one).rank == int(one.best_rank) <= scheme.rank
    assert seen == {False, True}  # both kinds of move were played


def test_a_plus_transition_adds_one_term_before_the_walk(game):
    naive = jnp.asarray(game._starts[0])
    state = game.start_state(naive, jax.random.PRNGKey(0))
    mask = np.asarray(game.legal_action_mask(state))
    action = int(np.flatnonzero(mask[:-2])[0])
    plussed = game._plus(state.terms, state.rank, jnp.int32(action))
    scheme = flips.from_masks(np.asarray(plussed)[: int(state.rank) + 1].astype(np.uint64), game.bits, SIZES)
    assert scheme.rank == int(state.rank) + 1 and scheme.verify().ok


def test_the_step_is_deterministic_given_the_state(game):
    state = game.init(jax.random.PRNGKey(5))
    action = jnp.int32(int(np.flatnonzero(np.asarray(game.legal_action_mask(state)))[7]))
    first, second = game.step(state, action), game.step(state, action)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), first, second)
    one_thread = FlipGraph(
        *SIZES, start=flips.standard_scheme(*SIZES), plateau=50, moves=12, target_rank=0, threads=1
    )
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), first, one_thread.step(state, action))
    other = game.step(state._replace(key=jax.random.key_data(jax.random.PRNGKey(9))), action)
    assert not np.array_equal(other[0].terms, first[0].terms)  # the seed is the state's


def test_uniform_plus_moves_reproduce_the_walkers_flips_per_reduction(env, game):
    # The uniform game at plateau 50 against the C++ walker making a random plus transition at
    # every plateau of 50 flips: the same process, so the same flips per reduction (measured:
    # 62.3 vs 65.3 over these seeds). Reductions = start rank + plus moves - final rank.
    states = _uniform_plus_play(env, 32, seed=0)
    reductions = 18 * 32 + game.max_steps * 32 - int(states.rank[-1].sum())
    game_ratio = int(states.flips[-1].sum()) / reductions
    walked = reduced = 0
    for seed in range(32):
        result = flips.walk(
            flips.standard_scheme(*SIZES),
            0,
            60.0,
            max_flips=int(states.flips[-1, seed]),
            plateau=50,
            plus_levels=game.max_steps,
            threads=1,
            seed=seed,
        )
        walked, reduced = walked + result.flips, reduced + result.reductions
    assert game_ratio == pytest.approx(walked / reduced, rel=0.1)


def test_observations_mark_slots_and_permuting_terms_permutes_the_set_network(game, env):
    state = game.init(jax.random.PRNGKey(1))
    obs = np.asarray(game.observe(state))
    rank = int(state.rank)
    assert obs.shape == (game.max_terms, 2 + sum(game.bits))
    assert np.all(obs[:rank, 0] == 1) and np.all(obs[rank:] == 0)
    network = make_network(
        game.action_space,
        config=NetworkConfig(
            torso="set", pair_kinds=3, hidden_size=16, head_hidden_size=16, num_heads=2, num_layers=1
        ),
    )
    params = network.init(jax.random.PRNGKey(0), obs[None], jnp.ones(1))
    value, logits = network.evaluate(params, obs[None], jnp.ones(1))
    order = np.random.default_rng(0).permutation(game.max_terms)
    value_p, logits_p = network.evaluate(params, obs[order][None], jnp.ones(1))
    np.testing.assert_allclose(value_p, value, rtol=1e-4, atol=1e-5)
    r = game.max_terms
    pairs = np.asarray(logits[0, : 3 * r * r]).reshape(3, r, r)
    pairs_p = np.asarray(logits_p[0, : 3 * r * r]).reshape(3, r, r)
    np.testing.assert_allclose(pairs_p, pairs[:, order][:, :, order], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits_p[0, -2:], logits[0, -2:], rtol=1e-4, atol=1e-4)


GUIDE_ARGS = dict(n=2, m=2, p=3, start_flips=2000, starts=2, plateau=50, moves=3)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A flip_graph run directory with a checkpoint (untrained: what is tested is the plumbing)."""
    game = load_game("flip_graph", **GUIDE_ARGS)
    config = train.TrainConfig(
        games_per_iteration=2,
        updates_per_iteration=1,
        batch_size=4,
        replay_capacity=64,
        eval_every=0,
        network=NetworkConfig(
            torso="set", pair_kinds=3, hidden_size=16, head_hidden_size=16, num_heads=2, num_layers=1
        ),
        search=SearchConfig(num_simulations=2, max_num_considered_actions=2),
    )
    trainer = train.Trainer(game, config)
    folder = tmp_path_factory.mktemp("guide")
    directory = runs.RunDirectory(folder)
    directory.write_config("flip_graph", GUIDE_ARGS, config, game_version=game.version)
    state = trainer.init()
    directory.save(trainer, state, 1.0)
    return folder, state.params


def test_gamify_improve_with_a_guide_writes_a_verified_scheme(saved_run, tmp_path, capsys):
    folder, params = saved_run
    guide = load_guide(folder)
    assert (guide.plateau, guide.moves, guide.sizes) == (50, 3, (2, 2, 3))
    jax.tree.map(np.testing.assert_array_equal, guide.params, params)
    start = tmp_path / "naive.json"
    write_scheme(flips.standard_scheme(2, 2, 3), start)
    out = tmp_path / "out"
    argv = [
        "improve",
        str(start),
        "--guide",
        str(folder),
        "--target-rank",
        "11",
        "--time",
        "30s",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "compiling the guided search" in capsys.readouterr().out
    scheme = read_scheme(out / "scheme.json")
    assert scheme.rank <= 11 and scheme.verify().ok


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--pool", "4"], "drop --pool"), (["--luby"], "drop --luby"), ([], "trained for ⟨2,2,3⟩, not ⟨2,3,3⟩")],
)
def test_gamify_improve_refuses_what_a_guide_cannot_do(saved_run, tmp_path, capsys, extra, message):
    start = tmp_path / "naive.json"
    write_scheme(flips.standard_scheme(2, 3, 3) if not extra else flips.standard_scheme(2, 2, 3), start)
    assert (
        main(["improve", str(start), "--guide", str(saved_run[0]), "--out", str(tmp_path / "o"), *extra]) == 2
    )
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n=6, m=6, p=1), "at most 32"),
        (dict(n=0), "positive integers"),
        (dict(plateau=0), "plateau must be a positive integer"),
        (dict(start="/nonexistent/scheme.json"), "no scheme file or folder"),
    ],
)
def test_bad_parameters_are_one_clear_error(kwargs, message):
    with pytest.raises(GameNotFoundError, match=message):
        load_game("flip_graph", **kwargs)

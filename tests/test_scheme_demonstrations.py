"""Known schemes as demonstrations: played as episodes, replayed into examples, used by search."""

import dataclasses
import re
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np
import pytest

import gamify
from gamify import runs, train
from gamify.cli.main import main
from gamify.cli.search import DEMONSTRATIONS, GAME, load_demonstrations, record_demonstration
from gamify.demonstrations import replay_episodes, stack_episodes
from gamify.games.tensor_decomposition import TensorDecomposition
from gamify.registry import load_game
from gamify.search import num_candidates
from gamify.tensor import Scheme
from gamify.tensor.codegen import strassen
from gamify.tensor.flips import standard_scheme
from gamify.tensor.formats import read_scheme, write_scheme

NUM_SAMPLES = 4  # K: fewer than a scheme's moves, so factored targets hold the first K left


class Replayed(NamedTuple):
    """A game, its Env and its jitted replay of a batch of episodes (built once per module)."""

    game: TensorDecomposition
    env: gamify.Env
    step: Callable  # jitted Env.step
    replay: Callable  # jitted episodes -> (examples [L*B], valid [L*B])
    vary: Callable  # jitted Game.vary_episode (compiled only where used)


def replayed(**kwargs) -> Replayed:
    game = TensorDecomposition(**kwargs)
    env = gamify.Env(game)
    replay = jax.jit(lambda e: replay_episodes(env, e, num_candidates=NUM_SAMPLES))
    return Replayed(game, env, jax.jit(env.step), replay, jax.jit(game.vary_episode))


def naive(field: str) -> Scheme:
    scheme = standard_scheme(2, 2, 2)
    return Scheme(scheme.u, scheme.v, scheme.w, field=field, matmul=(2, 2, 2))


@pytest.fixture(scope="module")
def z2_flat():
    # Games start in a random basis; a scheme's episode starts from the target itself.
    return replayed(field="z2", actions="flat", change_of_basis=1.0)


@pytest.fixture(scope="module")
def z_factored():
    return replayed(field="z", coefficients=(-1, 0, 1), actions="factored")


@pytest.fixture(scope="module")
def z2_factored():
    return replayed(field="z2", actions="factored")


@pytest.fixture(scope="module", params=["z2_flat", "z_factored"])
def case(request):
    """(game, the schemes [Strassen, naive] over its field, their episodes and replayed examples)."""
    played = request.getfixturevalue(request.param)
    field = played.game.field
    schemes = [strassen().to_z2() if field == "z2" else strassen(), naive(field)]
    episodes = [played.game.scheme_demonstration(scheme) for scheme in schemes]
    examples, valid = played.replay(stack_episodes(episodes))
    return played, schemes, episodes, jax.device_get(examples), np.asarray(valid)


def test_episode_plays_the_scheme_to_zero(case):
    played, schemes, episodes, examples, valid = case
    game, length = played.game, played.game.max_steps
    values = examples.value_target.reshape(length, len(schemes))
    for b, (scheme, (start, actions, rank)) in enumerate(zip(schemes, episodes, strict=True)):
        assert int(rank) == scheme.rank and actions.shape[0] == length
        np.testing.assert_array_equal(start.residual, game.target)
        state = played.env.start_from(start)
        for action in actions[: scheme.rank]:
            assert not state.done
            state = played.step(state, action)
        assert state.terminated and not np.asarray(state.game.residual).any()
        assert float(state.episode_return) == -scheme.rank
        # The replayed examples: one per move, the first valued at the scheme's return.
        assert valid.reshape(length, -1)[:, b].sum() == scheme.rank
        assert values[0, b] == -scheme.rank
        moves = np.asarray(game.solution(state.game, actions[: scheme.rank]))
        np.testing.assert_array_equal(moves, actions[: scheme.rank])  # identity basis: unchanged


def test_policy_targets_cover_the_moves_left(case):
    played, schemes, episodes, examples, _ = case
    length, batch = played.game.max_steps, len(schemes)
    weights = examples.action_weights.reshape(length, batch, -1)
    for b, (scheme, (_, actions, _)) in enumerate(zip(schemes, episodes, strict=True)):
        actions = np.asarray(actions)
        for t in range(scheme.rank):
            # Slot k holds move t + k, the first K of those left (flat: one-token candidates).
            left = min(scheme.rank - t, NUM_SAMPLES)
            candidates = examples.candidates.reshape(length, batch, NUM_SAMPLES, -1)[t, b]
            moves = actions[t : t + left] if played.env.factored else actions[t : t + left, None]
            np.testing.assert_array_equal(candidates[:left], moves)
            expected = np.where(np.arange(NUM_SAMPLES) < left, 1.0 / left, 0.0)
            np.testing.assert_allclose(weights[t, b], expected, atol=1e-6)


@pytest.mark.parametrize("name", ["z2_flat", "z2_factored", "z_factored"])
def test_varied_episode_is_the_scheme_in_another_basis(name, request):
    """A fixed episode in a random basis (as training replays it) still clears its start in
    ``length`` moves, and ``solution`` maps those moves back to a scheme of the target;
    varying twice composes the bases."""
    played = request.getfixturevalue(name)
    game, field = played.game, played.game.field
    moved = 0
    for scheme in (strassen().to_z2() if field == "z2" else strassen(), naive(field)):
        episode = game.scheme_demonstration(scheme)
        for key in range(2):
            start, actions, length = played.vary(jax.random.key(key), *episode)
            if key:  # the second time, vary the varied episode again
                start, actions, length = played.vary(jax.random.key(7), start, actions, length)
            moved += not np.array_equal(start.residual, game.target)
            assert int(length) == scheme.rank
            np.testing.assert_array_equal(actions[scheme.rank :], episode[1][scheme.rank :])  # padding kept
            state = played.env.start_from(start)
            for action in actions[: scheme.rank]:
                assert not state.done
                state = played.step(state, action)
            assert state.terminated and not state.illegal and not np.asarray(state.game.residual).any()
            moves = game.solution(jax.device_get(state.game), np.asarray(actions[: scheme.rank]))
            u, v, w = (np.stack(factor) for factor in zip(*map(game.decode, moves), strict=True))
            found = Scheme(u, v, w, field=field, matmul=(2, 2, 2))
            assert found.rank == scheme.rank and found.verify(game.target).ok
    assert moved  # the episodes did move to other bases


def extra_term(scheme: Scheme, u, v, w) -> Scheme:
    stack = lambda factor, row: np.vstack([factor, row])  # noqa: E731
    return Scheme(stack(scheme.u, u), stack(scheme.v, v), stack(scheme.w, w), scheme.field, (2, 2, 2))


def drop_last(scheme: Scheme) -> Scheme:
    return Scheme(scheme.u[:-1], scheme.v[:-1], scheme.w[:-1], scheme.field, scheme.matmul)


@pytest.mark.parametrize(
    "game_args, scheme, message",
    [
        ({}, strassen(), "a scheme over z cannot be played over z2"),
        ({}, standard_scheme(2, 2, 3), r"shape \(4, 6, 6\) cannot decompose a target of shape \(4, 4, 4\)"),
        ({"max_steps": 7}, standard_scheme(2, 2, 2), "rank 8 is longer than max_steps=7"),
        ({}, drop_last(strassen().to_z2()), "does not decompose the target: T"),
        (
            {"field": "z", "coefficients": (0, 1)},
            strassen(),
            "term 2 of the scheme is not a move: the term's",
        ),
        (
            {},
            extra_term(strassen().to_z2(), [0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]),
            "term 8 of the scheme is not a move: a factor of the term is zero",
        ),
    ],
)
def test_unplayable_schemes_are_refused(game_args, scheme, message):
    game = TensorDecomposition(**game_args)
    with pytest.raises(ValueError, match=message) as error:
        game.scheme_demonstration(scheme)
    assert str(error.value).startswith("tensor_decomposition: ") and "\n" not in str(error.value)


def test_run_directory_keeps_demonstrations_once(tmp_path):
    game = TensorDecomposition()
    assert load_demonstrations(game, tmp_path) is None
    for scheme in (strassen().to_z2(), standard_scheme(2, 2, 2), strassen().to_z2()):
        record_demonstration(scheme, tmp_path)
    names = sorted(path.name for path in (tmp_path / DEMONSTRATIONS).iterdir())
    assert len(names) == 2 and names[0].startswith("rank7-") and names[1].startswith("rank8-")
    _, _, lengths = load_demonstrations(game, tmp_path)  # what a resumed search replays
    np.testing.assert_array_equal(lengths, [7, 8])


def test_search_learns_from_demonstrations_and_records_improvements(tmp_path, capsys, monkeypatch):
    """One iteration of the tiny preset: the replay ends with Strassen's examples, and the
    scheme the flip walk makes of the search's (faked: the naive one) is kept for --resume."""

    def naive_solution(trainer, state):  # as if the search had found the naive algorithm
        _, actions, _ = trainer.game.scheme_demonstration(standard_scheme(2, 2, 2))
        actions = np.asarray(actions)
        return {"return": -8.0, "length": 8, "solved": True, "actions": actions.tolist(), "text": ""}

    monkeypatch.setattr(train, "best_solution", naive_solution)
    write_scheme(strassen(), tmp_path / "strassen.exp")  # over Z; read over Z2 for a z2 search
    out = tmp_path / "run"
    argv = ["search", "matmul", "2", "2", "2", "--preset", "tiny", "--budget", "1s", "--quiet"]
    argv += ["--target-rank", "7", "--improve", "flips", "--improve-time", "20s"]
    code = main([*argv, "--out", str(out), "--demonstrations", str(tmp_path / "strassen.exp")])
    printed = capsys.readouterr().out
    assert code == 0 and "flips: rank 8 → 7" in printed, printed
    walked = read_scheme(re.search(r"recorded (\S+) as a demonstration for --resume", printed).group(1))
    assert walked.rank == 7 and walked.verify().ok
    files = sorted((out / DEMONSTRATIONS).iterdir())
    assert {read_scheme(f) for f in files} == {strassen().to_z2(), walked}  # each kept once
    record = runs.RunDirectory(out).read_config()
    game = load_game(GAME, **record["game_args"])
    _, _, lengths = load_demonstrations(game, out)  # what a resumed search replays
    np.testing.assert_array_equal(lengths, [7] * len(files))
    # The iteration replayed the demonstration given (the walk's came after it), in the
    # random basis drawn from its key.
    episodes = stack_episodes([game.scheme_demonstration(strassen().to_z2())])
    trainer = train.Trainer(game, record["train"], episodes=episodes)
    state, _ = runs.RunDirectory(out).load(trainer, resume=False)
    key = jax.random.fold_in(trainer._stream_key("iterate"), 0)
    varied = jax.jit(trainer._replayed_episodes)(key)  # jitted: one compile, not one per op
    assert record["train"].vary_episodes and not np.array_equal(varied[0].residual, episodes[0].residual)
    config = dataclasses.replace(record["train"], vary_episodes=False, episode_repeats=3)
    replayed = jax.tree.leaves(
        jax.jit(train.Trainer(game, config, episodes=episodes)._replayed_episodes)(key)
    )
    for given, again in zip(jax.tree.leaves(episodes), replayed, strict=True):  # as written, 3 times
        np.testing.assert_array_equal(np.concatenate([given] * 3), again)
    slots = num_candidates(gamify.Env(game), record["train"].search)
    examples, valid = jax.jit(lambda e: replay_episodes(gamify.Env(game), e, num_candidates=slots))(varied)
    assert int(state.iteration) == 1 and int(valid.sum()) == 7
    size = int(state.replay.size)
    stored = jax.tree.map(lambda x: np.asarray(x)[size - 7 : size], state.replay.data)
    for field, expected in zip(stored, examples, strict=True):
        np.testing.assert_array_equal(field, np.asarray(expected)[np.asarray(valid)])


def test_search_refuses_a_bad_demonstration(tmp_path, capsys):
    write_scheme(standard_scheme(2, 2, 3), tmp_path / "naive223.json")
    out = tmp_path / "run"
    argv = ["search", "matmul", "2", "2", "2", "--preset", "tiny", "--quiet", "--out", str(out)]
    code = main([*argv, "--demonstrations", str(tmp_path / "naive223.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gamify: error: --demonstrations: ") and "naive223.json" in err, err
    assert "cannot decompose" in err and len(err.strip().splitlines()) == 1
    assert not (out / "config.json").exists() and not (out / DEMONSTRATIONS).exists()

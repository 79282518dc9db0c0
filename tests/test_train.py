"""Training: reaches brute-forced optima and stops there, determinism, exact resume, checkpoints,
budgets, games with dead ends."""

import dataclasses
import itertools
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gamify
from gamify import checkpoint
from gamify.networks import NetworkConfig
from gamify.registry import load_game
from gamify.runs import BEST_POSSIBLE, Budget, RunDirectory, train_until
from gamify.search import SearchConfig
from gamify.train import TrainConfig, Trainer, best_solution

TINY = TrainConfig(
    games_per_iteration=8,
    updates_per_iteration=2,
    batch_size=32,
    replay_capacity=512,
    eval_every=2,
    eval_games=2,
    network=NetworkConfig(hidden_size=32, head_hidden_size=32, token_embed_size=16, num_layers=1),
    search=SearchConfig(num_simulations=16, num_samples=8),
)


def lights_out_brute_force(game) -> int:
    from gamify.games.lights_out import toggle_matrix

    n = game.size
    start = np.asarray(game.init(jax.random.PRNGKey(0)).lights).reshape(-1).astype(np.int64)
    presses = np.array(list(itertools.product([0, 1], repeat=n * n)), np.int64)
    solves = ~np.any((presses @ toggle_matrix(n).astype(np.int64) + start) % 2, axis=1)
    return int(presses[solves].sum(axis=1).min())


def xor_rank_brute_force(game) -> int:
    """Fewest rank-one GF(2) terms summing to the target, by breadth-first search."""
    n = game.n
    vectors = [np.array([(i >> b) & 1 for b in range(n)], np.uint8) for i in range(1, 2**n)]
    terms = {np.outer(u, v).tobytes() for u in vectors for v in vectors}
    terms = [np.frombuffer(t, np.uint8) for t in terms]
    target = np.asarray(game.target, np.uint8).reshape(-1)
    frontier, seen, depth = {bytes(len(target))}, set(), 0
    while target.tobytes() not in frontier:
        seen |= frontier
        frontier = {(np.frombuffer(f, np.uint8) ^ t).tobytes() for f in frontier for t in terms} - seen
        depth += 1
    return depth


@pytest.fixture(scope="module")
def lights_out_trainer():
    return Trainer(load_game("lights_out", size=3), TINY)


@pytest.fixture(scope="module", params=["lights_out", "xor_rank"])
def solved_run(request, tmp_path_factory, lights_out_trainer):
    """A run of a small built-in game, trained until it stops: ``(trainer, directory, state, reason)``."""
    if request.param == "lights_out":
        trainer = lights_out_trainer
    else:
        trainer = Trainer(load_game("xor_rank", n=3), TINY)
    directory = RunDirectory(tmp_path_factory.mktemp(request.param))
    state, reason = train_until(trainer, directory, Budget(max_games=8 * 30))
    return trainer, directory, state, reason


def test_training_reaches_the_brute_force_optimum_and_stops_there(solved_run):
    trainer, directory, state, reason = solved_run
    game = trainer.game
    optimum = lights_out_brute_force(game) if game.name == "lights_out" else xor_rank_brute_force(game)
    assert optimum >= 2  # not a trivial instance
    # The game's declared bound is the proven optimum, and reaching it ends the run.
    assert game.best_possible_return == -optimum
    assert reason == f"{BEST_POSSIBLE} {-optimum}", (reason, float(state.best_return))
    last = json.loads((directory.dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["stop"] == reason and last["iteration"] == int(state.iteration)
    best = json.loads((directory.dir / "best.json").read_text())
    assert best["return"] == -optimum and best["length"] == optimum
    # Replaying the recorded moves reproduces the return: the solution is real.
    env = trainer.env
    replay_state = env.init(jax.random.PRNGKey(0))
    for action in best["actions"]:
        replay_state = env.step(replay_state, np.asarray(action, np.int32))
    assert bool(replay_state.terminated) and float(replay_state.episode_return) == -optimum


def test_resuming_a_solved_run_stops_at_once_unless_told_to_train_on(solved_run):
    trainer, directory, state, reason = solved_run
    resumed, elapsed = directory.load(trainer)
    again, said = train_until(trainer, directory, Budget(max_games=8 * 30), state=resumed, elapsed=elapsed)
    assert said == reason and int(again.iteration) == int(state.iteration)
    onward = Budget(max_games=int(state.games) + 8, stop_at_best_possible=False)
    further, said = train_until(trainer, directory, onward, state=resumed, elapsed=elapsed)
    assert said == "games spent" and int(further.iteration) == int(state.iteration) + 1


def _assert_same(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_same_seed_same_result(lights_out_trainer):
    trainer = lights_out_trainer
    runs = []
    for _ in range(2):
        state = trainer.init()
        for _ in range(2):
            state, _ = trainer.iterate(state)
        runs.append(state)
    _assert_same(runs[0], runs[1])
    other = Trainer(load_game("lights_out", size=3), dataclasses.replace(TINY, seed=1))
    differs = other.iterate(other.init())[0].params
    assert any(
        not np.array_equal(x, y)
        for x, y in zip(jax.tree.leaves(differs), jax.tree.leaves(runs[0].params), strict=True)
    )


def test_resume_continues_exactly(tmp_path, lights_out_trainer):
    trainer = lights_out_trainer
    straight, _ = train_until(
        trainer, RunDirectory(tmp_path / "a"), Budget(max_games=8 * 3), checkpoint_every=1e9
    )
    first = RunDirectory(tmp_path / "b")
    train_until(trainer, first, Budget(max_games=8 * 2), checkpoint_every=1e9)
    resumed_state, elapsed = first.load(trainer)
    assert int(resumed_state.iteration) == 2 and elapsed > 0
    resumed, _ = train_until(trainer, first, Budget(max_games=8 * 3), state=resumed_state, elapsed=elapsed)
    _assert_same(straight, resumed)
    iterations = [
        json.loads(line)["iteration"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    ]
    assert iterations == [1, 2, 3]


def test_resume_drops_metrics_logged_after_the_checkpoint(tmp_path, lights_out_trainer):
    run_dir = RunDirectory(tmp_path)
    train_until(lights_out_trainer, run_dir, Budget(max_games=8 * 2), checkpoint_every=1e9)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"iteration": 3}) + "\n" + '{"iterat')  # logged after the checkpoint, then torn
    run_dir.load(lights_out_trainer)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [1, 2]


def test_corrupt_checkpoints_are_rejected(tmp_path, lights_out_trainer):
    run_dir = RunDirectory(tmp_path)
    train_until(lights_out_trainer, run_dir, Budget(max_games=8), checkpoint_every=1e9)
    path = tmp_path / "checkpoint.npz"
    blob = path.read_bytes()
    path.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(checkpoint.CheckpointError, match="checksum"):
        run_dir.load(lights_out_trainer)
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="corrupt"):
        run_dir.load(lights_out_trainer)
    path.write_bytes(b"hello")
    with pytest.raises(checkpoint.CheckpointError, match="not a gamify checkpoint"):
        run_dir.load(lights_out_trainer)
    path.unlink()
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        run_dir.load(lights_out_trainer)


def test_checkpoint_of_another_configuration_is_rejected(tmp_path):
    tree = {"w": np.zeros((2, 3), np.float32)}
    checkpoint.save(tmp_path / "c.npz", tree, {"iteration": 1})
    loaded, metadata = checkpoint.load(tmp_path / "c.npz", tree)
    assert metadata == {"iteration": 1}
    _assert_same(loaded, tree)
    with pytest.raises(checkpoint.CheckpointError, match="does not match"):
        checkpoint.load(tmp_path / "c.npz", {"w": np.zeros((2, 4), np.float32)})
    with pytest.raises(checkpoint.CheckpointError, match="does not match"):
        checkpoint.load(tmp_path / "c.npz", {"w": np.zeros((2, 3), np.float32), "b": np.zeros(1)})


def test_budget_reasons():
    progress = {"games": 10, "updates": 5, "elapsed": 3.0, "best_return": -4.0}
    assert Budget(max_games=10).reached(progress) == "games spent"
    assert Budget(max_updates=6).reached(progress) is None
    assert Budget(max_seconds=2).reached(progress) == "time budget spent"
    assert Budget(target_return=-4).reached(progress).startswith("target return")
    assert Budget(target_return=-3).reached(progress) is None
    assert Budget().reached(progress, best_possible=-4) == f"{BEST_POSSIBLE} -4"
    assert Budget().reached(progress, best_possible=-3) is None
    assert Budget(stop_at_best_possible=False).reached(progress, best_possible=-4) is None
    with pytest.raises(ValueError, match="max_games"):
        Budget(max_games=0)


def test_train_config_round_trips_through_json():
    config = dataclasses.replace(TINY, seed=7)
    assert TrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    with pytest.raises(ValueError, match="batch_size"):
        dataclasses.replace(TINY, batch_size=0)


class TrapState(NamedTuple):
    trap: jax.Array  # bool: after the first move nothing is legal, though the game goes on
    moved: jax.Array  # bool


class DeadEnd(gamify.Game[TrapState]):
    """Half the starts are solved by one move; the others are traps whose dead end pays a bonus
    (for the illegal move the search must play there) that no real game earns."""

    name = "dead_end"
    max_steps = 3

    def __init__(self):
        self.action_space = gamify.FlatActions(2)

    def init(self, key):
        return TrapState(jax.random.bernoulli(key), jnp.bool_(False))

    def step(self, state, action):
        return TrapState(state.trap, jnp.bool_(True)), jnp.float32(-1.0), ~state.trap

    def observe(self, state):
        return jnp.stack([state.trap, state.moved]).astype(jnp.float32)

    def legal_action_mask(self, state):
        return jnp.full(2, ~(state.trap & state.moved))

    def illegal_action_reward(self, state, steps_left):
        return jnp.float32(10.0)


def test_a_game_that_ends_on_a_dead_end_is_never_the_best_solution(tmp_path):
    trainer = Trainer(DeadEnd(), TINY)
    with pytest.warns(RuntimeWarning, match="game 'dead_end' reached a state with no legal action at step 1"):
        state, _ = train_until(trainer, RunDirectory(tmp_path), Budget(max_games=8))
    record = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert record["dead_end_moves"] == 1 and record["max_return"] == 9  # a trap, ended by its bonus
    assert 0 < record["solved_fraction"] < 1  # dead ends are not solved
    best = best_solution(trainer, state)
    assert best["return"] == -1 and best["solved"] and best["length"] == 1


def test_an_interrupt_between_iteration_and_metrics_keeps_them_in_step(
    tmp_path, lights_out_trainer, monkeypatch
):
    directory = RunDirectory(tmp_path)
    append = directory.append_metrics
    calls = []

    def interrupted_on_the_second_line(record):
        calls.append(record)
        if len(calls) == 2:
            raise KeyboardInterrupt  # after iteration 2 ran, before its line was written
        append(record)

    monkeypatch.setattr(directory, "append_metrics", interrupted_on_the_second_line)
    with pytest.raises(KeyboardInterrupt):
        train_until(lights_out_trainer, directory, Budget(max_games=8 * 5, stop_at_best_possible=False))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    state, elapsed = directory.load(lights_out_trainer)
    assert len(lines) == 1 and int(state.iteration) == 1 == json.loads(lines[0])["iteration"]
    assert elapsed == json.loads(lines[0])["elapsed"]

"""Demonstrations: replayed into correct training examples, and usable in training."""

import json

import jax
import numpy as np

from gamify.demonstrations import make_demonstrations
from gamify.env import Env
from gamify.networks import NetworkConfig
from gamify.registry import load_game
from gamify.runs import Budget, RunDirectory, train_until
from gamify.search import SearchConfig
from gamify.train import TrainConfig, Trainer


def test_demonstrations_become_examples():
    game = load_game("xor_rank", n=3)
    env = Env(game)
    demos = jax.jit(make_demonstrations(env, num_games=16, num_candidates=4))
    examples, valid = demos(jax.random.PRNGKey(0))
    length = game.max_steps
    valid = np.asarray(valid).reshape(length, 16)
    values = np.asarray(examples.value_target).reshape(length, 16)
    weights = np.asarray(examples.action_weights).reshape(length, 16, 4)
    assert valid[0].all() and valid.sum() > 16
    # Every demonstrated episode ends at zero: the value target counts the moves left.
    moves = valid.sum(axis=0)
    for game_index in range(16):
        played = moves[game_index]
        np.testing.assert_array_equal(values[:played, game_index], -np.arange(played, 0, -1))
    # Step t's target is uniform over the moves still to play: slot k holds move t + k.
    _, actions, _ = jax.vmap(game.demonstration)(jax.random.split(jax.random.PRNGKey(0), 16))
    actions = np.asarray(actions)  # [16, L, T]
    candidates = np.asarray(examples.candidates).reshape(length, 16, 4, 2)
    for game_index in range(16):
        played = moves[game_index]
        for t in range(played):
            left = min(played - t, 4)
            np.testing.assert_allclose(weights[t, game_index, :left], 1.0 / left)
            np.testing.assert_array_equal(weights[t, game_index, left:], 0.0)
            np.testing.assert_array_equal(candidates[t, game_index, :left], actions[game_index, t : t + left])


def test_flat_demonstrations_target_every_move_left():
    game = load_game("tensor_decomposition", actions="flat", change_of_basis=0.0)
    env = Env(game)
    slots = game.max_steps  # room for every move left
    demos = make_demonstrations(env, num_games=4, num_candidates=slots)
    examples, valid = jax.jit(demos)(jax.random.PRNGKey(1))
    _, actions, lengths = jax.vmap(game.demonstration)(jax.random.split(jax.random.PRNGKey(1), 4))
    weights = np.asarray(examples.action_weights).reshape(game.max_steps, 4, slots)
    candidates = np.asarray(examples.candidates).reshape(game.max_steps, 4, slots)
    for g in range(4):
        for t in range(int(lengths[g])):
            left = np.asarray(actions)[g, t : int(lengths[g])]
            expected, got = np.zeros(game.action_space.num_actions), np.zeros(game.action_space.num_actions)
            np.add.at(expected, left, 1.0 / len(left))
            np.add.at(got, candidates[t, g], weights[t, g])
            np.testing.assert_allclose(got, expected, atol=1e-6)


def test_training_with_demonstrations(tmp_path):
    config = TrainConfig(
        games_per_iteration=4,
        updates_per_iteration=2,
        batch_size=16,
        replay_capacity=256,
        demonstrations_per_iteration=8,
        eval_every=0,
        network=NetworkConfig(hidden_size=16, head_hidden_size=16, token_embed_size=8, num_layers=1),
        search=SearchConfig(num_simulations=4, num_samples=4),
    )
    game = load_game("xor_rank", n=3)
    state, _ = train_until(Trainer(game, config), RunDirectory(tmp_path), Budget(max_games=4))
    played = json.loads((tmp_path / "metrics.jsonl").read_text())["moves"]  # one iteration's self-play
    assert int(state.replay.size) > played > 0  # the demonstrations' moves came in too

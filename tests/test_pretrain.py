"""Pretraining on synthetic demonstrations: it learns, it resumes, and a search starts from it."""

import io
import json
import shutil
import sys

import jax
import numpy as np
import pytest

from gamify import pretrain
from gamify.cli.main import main
from gamify.learner import LearnerConfig
from gamify.networks import NetworkConfig
from gamify.plots import read_records
from gamify.registry import load_game
from gamify.runs import RunDirectory
from gamify.search import SearchConfig
from gamify.train import TrainConfig, Trainer

# ⟨1,2,2⟩ over Z2, flat: 135 terms, ranks 1..4; a small MLP learns it in a few hundred updates.
CONFIG = TrainConfig(
    batch_size=64,
    network=NetworkConfig(torso="mlp", hidden_size=64, num_layers=2, head_hidden_size=64, num_quantiles=1),
    search=SearchConfig(num_simulations=4, max_num_considered_actions=4),
    learner=LearnerConfig(learning_rate=3e-3),
)
SETTINGS = pretrain.PretrainConfig(games_per_update=16, updates_per_call=100, heldout_games=128)


@pytest.fixture(scope="module")
def pretrainer():
    game = load_game("tensor_decomposition", n=1, m=2, p=2, actions="flat", history=0)
    return pretrain.Pretrainer(game, CONFIG, SETTINGS)


def test_pretraining_lifts_heldout_accuracy_above_untrained(pretrainer):
    state = pretrainer.init()
    before = jax.device_get(pretrainer.evaluate(state.params))
    for _ in range(4):
        state, losses = pretrainer.train(state)
    after = jax.device_get(pretrainer.evaluate(state.params))
    assert int(state.updates) == 400 and np.isfinite(float(losses["loss"]))
    # Untrained: about 1 hit in 135 per sample. Measured after 400 updates: top-1 ~0.28.
    assert before["top1"] < 0.05 and after["top1"] >= before["top1"] + 0.12, (before, after)
    assert after["any_k"] >= before["any_k"] + 0.15, (before, after)
    assert after["heldout_loss"] < before["heldout_loss"] - 1.0
    assert after["value_error"] < before["value_error"]


def test_pretrained_params_load_into_a_trainer(pretrainer, tmp_path):
    state = pretrainer.init()
    state, _ = pretrainer.train(state)
    pretrain.save(tmp_path / "checkpoint.npz", state, elapsed=1.5)
    loaded, elapsed = pretrain.load(tmp_path / "checkpoint.npz", pretrainer.init())
    assert elapsed == 1.5 and int(loaded.updates) == 100
    trainer = Trainer(pretrainer.game, CONFIG)
    # The fresh parameters are the pretrainer's starting ones (same seed, same streams).
    same = jax.tree.map(np.array_equal, trainer.fresh_params(), pretrainer.init().params)
    assert all(jax.tree.leaves(same))
    trainer.initial_params = pretrain.load_params(tmp_path / "checkpoint.npz", trainer.fresh_params())
    started = jax.tree.map(np.array_equal, trainer.init().params, state.params)
    assert all(jax.tree.leaves(started))
    bigger = Trainer(pretrainer.game, TrainConfig(network=NetworkConfig(torso="mlp", hidden_size=32)))
    with pytest.raises(pretrain.checkpoint.CheckpointError, match="does not match"):
        pretrain.load_params(tmp_path / "checkpoint.npz", bigger.fresh_params())


def test_pretrain_until_resumes_where_it_stopped(pretrainer, tmp_path):
    run = RunDirectory(tmp_path)
    state, reason = pretrain.pretrain_until(pretrainer, run, max_updates=100)
    assert reason == "updates spent" and int(state.updates) == 100
    state, elapsed = pretrain.load(tmp_path / "checkpoint.npz", pretrainer.init())
    state, _ = pretrain.pretrain_until(pretrainer, run, max_updates=200, state=state, elapsed=elapsed)
    records = read_records(tmp_path / "metrics.jsonl")
    assert [r["updates"] for r in records] == [0, 100, 200]  # the untrained measure first
    assert "loss" not in records[0] and records[2]["elapsed"] >= records[1]["elapsed"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A pretrain run's folder (⟨1,1,2⟩ over Z2, tiny preset, 50 updates) and its printout."""
    out = tmp_path_factory.mktemp("pretrained") / "pre"
    argv = ["pretrain", "matmul", "1", "1", "2", "--preset", "tiny", "--quiet", "--out", str(out)]
    with pytest.MonkeyPatch.context() as patch:
        printed = io.StringIO()
        patch.setattr(sys, "stdout", printed)
        assert main([*argv, "--updates", "50"]) == 0
    return out, printed.getvalue()


def test_pretrain_cli_resumes_and_a_search_starts_from_it(pretrained, tmp_path, capsys):
    folder, printed = pretrained
    assert "held-out, untrained → now: top-1" in printed
    assert f"use it: gamify search matmul 1 1 2 --field z2 --preset tiny --init {folder}" in printed
    assert (folder / "learning_curve.png").stat().st_size > 1000
    out = tmp_path / "pre"
    shutil.copytree(folder, out)
    argv = ["pretrain", "matmul", "1", "1", "2", "--preset", "tiny", "--quiet", "--out", str(out)]
    assert main([*argv, "--resume", "--updates", "100"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["updates"] for r in records] == [0, 50, 100]
    search = ["search", "matmul", "1", "1", "2", "--preset", "tiny", "--quiet", "--budget", "60"]
    run = tmp_path / "search"
    assert main([*search, "--target-rank", "2", "--init", str(out), "--out", str(run)]) == 0
    assert "rank 2 decomposition, verified exactly" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--field", "z"], "was pretrained for another game"),
        (["--preset", "cpu"], "does not fit this search's"),
        (["--network", "uniform"], "--network uniform has none"),
        (["--init", "{tmp}"], "is not a gamify run"),
    ],
)
def test_search_init_bad_input_is_one_line(pretrained, tmp_path, capsys, extra, message):
    extra = [x.replace("{tmp}", str(tmp_path)) for x in extra]
    init = [] if "--init" in extra else ["--init", str(pretrained[0])]
    preset = [] if "--preset" in extra else ["--preset", "tiny"]
    argv = ["search", "matmul", "1", "1", "2", "--quiet", "--budget", "30", "--out", str(tmp_path / "s")]
    assert main([*argv, *preset, *extra, *init]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gamify: error: --") and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_resumed_pretraining_keeps_its_settings(pretrained, tmp_path, capsys):
    folder, _ = pretrained
    assert json.loads((folder / "pretrain.json").read_text())["games_per_update"] == 32
    out = tmp_path / "pre"
    shutil.copytree(folder, out)
    argv = ["pretrain", "matmul", "1", "1", "2", "--preset", "tiny", "--quiet", "--out", str(out), "--resume"]
    assert main([*argv, "--games-per-update", "8"]) == 2
    err = capsys.readouterr().err
    assert "--games-per-update: " in err and "was started with 32" in err and len(err.splitlines()) == 1


def test_pretrain_needs_demonstrations():
    with pytest.raises(ValueError, match="offers no demonstrations"):
        pretrain.Pretrainer(load_game("lights_out"), CONFIG)

"""The command line: listing, training and evaluating, bad input, kill -9 and --resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gamify.cli.common import parse_duration
from gamify.cli.main import main

SMALL = [
    "--games-per-iteration",
    "4",
    "--simulations",
    "8",
    "--hidden",
    "16",
    "--batch-size",
    "16",
    "--quiet",
]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_games_lists_both_toy_games(capsys):
    code, out, _ = run_cli(capsys, "games")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert {"lights_out", "xor_rank"} <= set(names)


def test_train_then_eval(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, _ = run_cli(
        capsys, "train", "lights_out", "--set", "size=3", "--games", "8", "--out", str(out_dir), *SMALL
    )
    assert code == 0, out
    assert "stopped: games spent" in out
    for name in ("config.json", "checkpoint.npz", "metrics.jsonl", "best.json"):
        assert (out_dir / name).exists(), name
    code, out, _ = run_cli(capsys, "eval", str(out_dir), "--games", "2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["game"] == "lights_out" and result["games_trained"] == 8
    best = result["best"]
    assert best["length"] == len(best["actions"]) and best["found_by"] in ("training", "this search")
    assert best["return"] >= result["eval_best_return"]
    # The run records the rules it was made under; a resume under other rules is refused.
    config = json.loads((out_dir / "config.json").read_text())
    assert config["game_version"] == 1
    (out_dir / "config.json").write_text(json.dumps({**config, "game_version": 0}))
    code, out, err = run_cli(
        capsys, "train", "lights_out", "--out", str(out_dir), "--resume", "--games", "16"
    )
    assert code == 2 and "lights_out version 0, the installed game is version 1" in err
    assert json.loads((out_dir / "metrics.jsonl").read_text().splitlines()[-1])["games"] == 8  # untouched


def test_train_past_the_proven_optimum_then_a_resume_stops_at_once_and_says_why(tmp_path, capsys):
    out_dir = tmp_path / "run"
    argv = ["train", "xor_rank", "--out", str(out_dir), *SMALL]  # n=2: a rank-1 target, found at once
    code, out, _ = run_cli(capsys, *argv, "--set", "n=2", "--games", "8", "--train-past-optimum")
    assert code == 0 and "stopped: games spent" in out and "best return -1 in 1 moves" in out
    metrics = (out_dir / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 2
    code, out, _ = run_cli(capsys, *argv, "--resume", "--games", "400")
    said = "stopped: reached the best possible return -1 (the game's proven optimum; --train-past-optimum"
    assert code == 0 and said in out, out
    assert (out_dir / "metrics.jsonl").read_text().splitlines() == metrics  # not one more iteration


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "no_such_game"], "unknown game 'no_such_game'"),
        (["train", "lights_out", "--set", "size=0"], "size"),
        (["train", "lights_out", "--set", "colour=red"], "colour"),
        (["train", "missing/file.py:Game"], "missing/file.py"),
        (["eval", "{tmp}/nothing"], "not a gamify run"),
        (["train", "lights_out", "--resume", "--out", "{tmp}/nothing"], "holds no run"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv and argv[0] == "train":
        argv += ["--out", str(tmp_path / "out")]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("gamify: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "option", [["--time", "5x"], ["--games", "0"], ["--games", "-3"], ["--simulations", "x"]]
)
def test_bad_option_values_exit_2(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "lights_out", "--out", str(tmp_path), *option])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    code, _, err = run_cli(capsys, "train", "lights_out", "--out", str(tmp_path), "--games", "4")
    assert code == 2 and "--resume" in err
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_unwritable_output_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "train", "lights_out", "--out", str(blocker / "run"), "--games", "4")
    assert code == 2 and "cannot write" in err


def test_corrupt_checkpoint_on_eval(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert (
        main(["train", "lights_out", "--set", "size=3", "--games", "4", "--out", str(out_dir), *SMALL]) == 0
    )
    capsys.readouterr()
    ckpt = out_dir / "checkpoint.npz"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    code, _, err = run_cli(capsys, "eval", str(out_dir))
    assert code == 2 and "corrupt" in err


def test_durations():
    assert parse_duration("90") == 90 and parse_duration("2m") == 120 and parse_duration("1.5h") == 5400


def test_kill_9_then_resume_continues(tmp_path):
    """A hard kill loses at most the work since the last checkpoint; --resume continues from it."""
    out_dir = tmp_path / "run"
    command = [sys.executable, "-m", "gamify.cli", "train", "lights_out", "--out", str(out_dir), *SMALL]
    command.append("--train-past-optimum")  # this run reaches its proven optimum before the kill
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    # cwd=tmp_path: ``python -m`` puts the working directory first on sys.path, and the
    # repository root would shadow the installed package.
    proc = subprocess.Popen([*command, "--time", "10m", "--checkpoint-every", "0.5"], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            metrics = out_dir / "metrics.jsonl"
            if (
                (out_dir / "checkpoint.npz").exists()
                and metrics.exists()
                and len(metrics.read_text().splitlines()) > 5
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail("training made no checkpoint in time")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = len((out_dir / "metrics.jsonl").read_text().splitlines())
    result = subprocess.run(
        [*command, "--resume", "--games", str(4 * (before + 3))],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "stopped: games spent" in result.stdout
    iterations = [
        json.loads(line)["iteration"] for line in (out_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert iterations == list(range(1, len(iterations) + 1))  # no gap, no duplicate
    assert iterations[-1] == before + 3
    assert not list(out_dir.glob(".*.tmp"))  # temp files torn by the kill are cleaned up

"""Hostile but realistic use: Ctrl-C, runaway settings, sizes that would exhaust memory,
unwritable or shared output folders, resumes without a checkpoint. Nothing verified is lost,
nothing runs away, each error is one line that says what is wrong."""

import importlib.resources
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest

from gamify.cli import common
from gamify.cli import search as search_command
from gamify.cli.main import main
from gamify.plots import plot_best_over_time
from gamify.tensor import matmul_tensor, read_scheme
from gamify.tensor.flips import max_threads, standard_scheme

ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}
SMALL = ["--games-per-iteration", "4", "--simulations", "8", "--hidden", "16", "--batch-size", "16"]


def cli(tmp_path, *argv, **kwargs):
    """``python -m gamify.cli ARGV`` from tmp_path (the repository root would shadow the install)."""
    command = [sys.executable, "-m", "gamify.cli", *argv]
    return subprocess.Popen(command, env=ENV, cwd=tmp_path, text=True, **kwargs)


def test_ctrl_c_on_flips_writes_the_best_scheme_and_says_so(tmp_path):
    out = tmp_path / "out"
    argv = ["flips", "4", "4", "4", "--time", "60s", "--threads", "1", "--out", str(out)]
    proc = cli(tmp_path, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline()  # "start: rank 64 ..."
        assert first.startswith("start:"), first
        progress = proc.stdout.readline()  # the first report: the walkers are walking
        assert " rank " in progress, progress
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "(interrupted), verified exactly" in stdout and "written:" in stdout
    assert "gamify: stopping the walk" in stderr and "checkpoint" not in stderr
    scheme = read_scheme(out / "scheme.json")
    assert scheme.rank < 64 and scheme.verify().ok
    assert read_scheme(out / "scheme.exp", field="z2").rank == scheme.rank


@pytest.mark.parametrize(
    "argv, message",
    [
        (["flips", "2", "2", "2", "--threads", "100000"], f"--threads must be in [1, {max_threads()}]"),
        (["flips", "2", "2", "2", "--threads", "0"], "--threads must be in"),
        (["flips", "2", "2", "2", "--seed", "-5"], "--seed must be in [0, 2^63)"),
        (["flips", "2", "2", "2", "--seed", str(2**70)], "--seed must be in [0, 2^63)"),
        (["flips", "12", "12", "12"], "at most 64 entries; ⟨12,12,12⟩ has 144"),
        (["flips", "100", "100", "100"], "at most 64 entries"),
    ],
)
def test_settings_that_would_run_away_are_refused_up_front(tmp_path, capsys, argv, message):
    tracemalloc.start()
    start = time.monotonic()
    code = main([*argv, "--time", "30s", "--out", str(tmp_path / "out")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - start < 5 and peak < 20 * 2**20  # refused before work or memory


def test_an_unwritable_out_is_refused_before_the_walk(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    start = time.monotonic()
    code = main(["flips", "2", "2", "2", "--time", "30s", "--out", str(blocker / "out")])
    assert code == 2 and "cannot write to" in capsys.readouterr().err
    assert time.monotonic() - start < 5


def test_a_scheme_that_cannot_be_written_is_rescued(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    scheme = standard_scheme(2, 2, 2)
    with pytest.raises(common.UsageError, match="the rank-8 scheme was written to") as caught:
        common.write_or_rescue(scheme, blocker / "scheme.json")
    rescued = caught.value.args[0].split("written to ")[1].split(",")[0]
    assert read_scheme(rescued).verify().ok


def test_folder_lock_makes_writers_take_turns(tmp_path):
    acquired = []

    def second():
        with common.folder_lock(tmp_path):
            acquired.append(time.monotonic())

    with common.folder_lock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        released = time.monotonic()
    thread.join(10)
    assert acquired and acquired[0] >= released


def test_resume_without_checkpoint_starts_over_cleanly_and_keeps_the_better_best(tmp_path):
    out = tmp_path / "run"
    first = cli(tmp_path, "train", "lights_out", "--set", "size=3", "--games", "8", "--out", str(out), *SMALL)
    assert first.wait(timeout=600) == 0
    (out / "checkpoint.npz").unlink()
    best = json.loads((out / "best.json").read_text())
    planted = {**best, "return": 1.0}  # better than any real game's (each move costs 1)
    (out / "best.json").write_text(json.dumps(planted))
    argv = ["train", "lights_out", "--out", str(out), "--resume", "--games", "8", "--quiet"]
    second = cli(tmp_path, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr
    assert "has no checkpoint: starting it from the beginning" in stderr  # said even with --quiet
    iterations = [json.loads(line)["iteration"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert iterations == list(range(1, len(iterations) + 1))  # one log, not two interleaved
    assert json.loads((out / "best.json").read_text())["return"] == 1.0


def test_ctrl_c_during_compilation_stops_after_the_iteration_with_a_checkpoint(tmp_path):
    """A first Ctrl-C is a request: honoured at the next iteration, never lost (an exception
    raised inside XLA's garbage-collector callback during compilation would be ignored)."""
    out = tmp_path / "run"
    argv = ["train", "lights_out", "--out", str(out), *SMALL]
    proc = cli(tmp_path, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # inside the first compilation
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "gamify: stopping after this iteration" in stderr and "(checkpoint saved)" not in stderr
    said = re.search(r"interrupted: checkpoint of iteration (\d+) saved in (.+)", stdout)
    assert said and said[2] == str(out), stdout
    metrics = out / "metrics.jsonl"
    logged = len(metrics.read_text().splitlines()) if metrics.exists() else 0
    assert logged == int(said[1])  # the log and the checkpoint agree
    assert (out / "checkpoint.npz").exists() and "stopped: stopped on request" in stdout


def test_flips_never_replaces_a_better_scheme_and_json_and_exp_agree(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["flips", "2", "2", "2", "--target-rank", "7", "--time", "10s", "--out", str(out)]) == 0
    assert main(["flips", "2", "2", "2", "--target-rank", "8", "--time", "1s", "--out", str(out)]) == 0
    assert "already holds a rank-7 scheme" in capsys.readouterr().out
    json_scheme, exp_scheme = read_scheme(out / "scheme.json"), read_scheme(out / "scheme.exp", field="z2")
    assert json_scheme.rank == exp_scheme.rank == 7
    np.testing.assert_array_equal(json_scheme.tensor() % 2, matmul_tensor(2, 2, 2))


def test_an_internal_error_is_exit_3_never_the_wrong_scheme_status(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(main.__globals__["COMMANDS"], "games", broken)
    assert main(["games"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("gamify: internal error: RuntimeError: a bug") and "--debug" in err


def test_deeply_nested_json_is_bad_input_not_a_wrong_scheme(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["verify", str(path)]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_improve_starts_from_a_scheme_inside_an_npz(tmp_path, capsys):
    archive = importlib.resources.files("gamify.tensor") / "data" / "alphatensor" / "factorizations_f2.npz"
    out = tmp_path / "out"
    argv = ["improve", str(archive), "--key", "3,3,3", "--target-rank", "23", "--time", "5s"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    scheme = read_scheme(out / "scheme.json")
    assert scheme.rank == 23 and scheme.matmul == (3, 3, 3) and scheme.verify().ok


def test_a_torn_metrics_line_costs_neither_the_plot_nor_the_elapsed_time(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"iteration": i, "elapsed": 2.0 * i, "best_return": -9.0 + i}) for i in (1, 2)]
    metrics.write_text("\n".join(lines) + '\n{"iteration": 3, "elap')  # killed mid-line
    assert search_command.state_elapsed(tmp_path) == 4.0
    plot_best_over_time(metrics, tmp_path / "best.png", negate=True)
    assert (tmp_path / "best.png").stat().st_size > 1000


def test_search_refuses_a_huge_format_before_allocating(tmp_path, capsys):
    tracemalloc.start()
    code = main(["search", "matmul", "100", "100", "100", "--budget", "5s", "--out", str(tmp_path / "o")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and "the observation would have" in err and peak < 50 * 2**20, err


def test_verify_of_a_tiny_file_claiming_a_huge_format_stays_small(tmp_path, capsys):
    claim = {"format": "gamify-scheme", "version": 1, "field": "z2", "shape": [625] * 3, "matmul": [25] * 3}
    path = tmp_path / "claim.json"
    path.write_text(json.dumps({**claim, "rank": 0, "u": [], "v": [], "w": []}))
    tracemalloc.start()
    code = main(["verify", str(path)])  # the dense ⟨25,25,25⟩ tensor alone is 244 M entries
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out = capsys.readouterr().out
    assert code == 1 and "WRONG" in out and "15625 equations violated" in out and peak < 64 * 2**20


def test_a_run_too_big_for_memory_is_refused_before_allocating_and_leaves_out_empty(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["search", "matmul", "2", "2", "2", "--max-rank", "100000000", "--preset", "tiny"]
    code = main([*argv, "--budget", "5s", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "this run needs about" in err and "max_steps (100000000)" in err, err
    assert list(out.iterdir()) == []  # no config.json left to refuse the same --out next time


def test_a_new_run_that_fails_before_its_first_iteration_leaves_nothing(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(KeyboardInterrupt), common.discarded_if_unstarted(out, resume=False):
        raise KeyboardInterrupt
    assert list(out.iterdir()) == []
    (out / "config.json").write_text("{}")
    (out / "metrics.jsonl").write_text('{"iteration": 1}\n')
    with pytest.raises(RuntimeError), common.discarded_if_unstarted(out, resume=False):
        raise RuntimeError
    assert len(list(out.iterdir())) == 2  # a started run keeps everything


def test_a_game_file_that_exits_while_loading_is_reported(tmp_path, capsys):
    game = tmp_path / "quitter.py"
    game.write_text("import sys\nsys.exit(3)\n")
    assert main(["train", f"{game}:Quitter", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "called sys.exit(3) while loading" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "config.json").exists()


BROKEN_GAME = """
import jax.numpy as jnp
import gamify


class Broken(gamify.Game):
    name = "broken"

    def __init__(self):
        self.action_space = gamify.FlatActions(2)
        self.max_steps = 3

    def init(self, key):
        return jnp.int32(0)

    def step(self, state, action):
        raise TypeError("boom")

    def observe(self, state):
        return jnp.zeros(2)

    def legal_action_mask(self, state):
        return jnp.ones(2, bool)
"""


def test_an_error_in_a_user_game_names_the_game_and_the_method(tmp_path, capsys):
    (tmp_path / "broken.py").write_text(BROKEN_GAME)
    argv = ["train", f"{tmp_path / 'broken.py'}:Broken", "--games", "4", *SMALL, "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "game 'broken', step(): TypeError: boom" in err and len(err.strip().splitlines()) == 1, err


def test_written_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        common.write_scheme_files(standard_scheme(2, 2, 2), tmp_path / "scheme.json")
    finally:
        os.umask(previous)
    assert {oct(path.stat().st_mode & 0o777) for path in tmp_path.iterdir()} == {"0o644"}


def test_a_full_disk_error_names_the_file(tmp_path, monkeypatch):
    from gamify import checkpoint, runs

    (tmp_path / "metrics.jsonl").symlink_to("/dev/full")  # every write: ENOSPC
    with pytest.raises(OSError, match="No space left on device: .*metrics.jsonl"):
        runs.RunDirectory(tmp_path).append_metrics({"iteration": 1})

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device: .*best.json"):
        checkpoint.atomic_write_bytes(tmp_path / "best.json", b"{}")
    assert list(tmp_path.iterdir()) == [tmp_path / "metrics.jsonl"]  # no temporary file left

"""Training on several devices (forced CPU devices) and in several processes (jax.distributed on
localhost): the same run as on one device, one writer, clear errors, a lost process stops the job."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from gamify.cli.main import main

# lights_out 3×3 past its optimum: 5 iterations of 4 games, the 5th with an evaluation.
TRAIN = ["train", "lights_out", "--set", "size=3", "--train-past-optimum", "--games-per-iteration", "4"]
TRAIN += ["--simulations", "8", "--hidden", "16", "--batch-size", "16", "--quiet"]
GAMES = ["--games", "20"]


def _env(devices: int = 1) -> dict:
    flags = f"--xla_force_host_platform_device_count={devices}"
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}


def _command(*args) -> list[str]:
    return [sys.executable, "-m", "gamify.cli", *TRAIN, *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes(out, *args, count: int = 2) -> list[subprocess.Popen]:
    """The same command in ``count`` processes of one job on localhost (cwd: ``python -m`` puts
    it first on sys.path, and the repository root would shadow the installed package)."""
    job = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", str(count)]
    return [
        subprocess.Popen(
            _command("--out", str(out), *job, "--process-id", str(i), *args),
            env=_env(),
            cwd=out.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]


def _read(out) -> tuple[list[dict], dict]:
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return metrics, json.loads((out / "best.json").read_text())


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    """The run on one device, in this process, its games in two shards (as two devices play
    them): metrics and best solution."""
    out = tmp_path_factory.mktemp("one") / "run"
    assert main([*TRAIN, *GAMES, "--shards", "2", "--out", str(out)]) == 0
    return _read(out)


def _same_run(one: list[dict], other: list[dict]) -> None:
    """The same iterations, counts, returns and losses (within float rounding), clocks aside."""
    assert len(other) == len(one) == 5 and "eval_mean_return" in other[-1]
    for a, b in zip(one, other, strict=True):
        for key in a.keys() - {"elapsed", "sims_per_second", "stop"}:  # clocks, and why a run ended
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (key, a[key], b[key])


def test_two_devices_make_the_one_device_run(one, tmp_path):
    run = subprocess.run(
        _command(*GAMES, "--devices", "2", "--out", str(tmp_path / "two")),
        env=_env(2),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics, best = _read(tmp_path / "two")
    _same_run(one[0], metrics)
    assert best == one[1]  # the same best game, found at the same time


def test_two_processes_make_the_one_device_run_and_a_lost_one_stops_the_job(one, tmp_path):
    out = tmp_path / "job"
    procs = _processes(out, "--time", "10m", "--checkpoint-every", "0.5", "--heartbeat", "5")
    metrics = out / "metrics.jsonl"
    try:
        deadline = time.monotonic() + 240
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 5):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                pytest.fail("the job made no 5 iterations: " + procs[0].communicate()[1][-3000:])
            time.sleep(0.2)
        os.kill(procs[1].pid, signal.SIGKILL)
        start = time.monotonic()
        out0, err = procs[0].communicate(timeout=120)
        assert procs[0].returncode != 0 and time.monotonic() - start < 30  # 5 s without a heartbeat
        # Said by gamify when a collective fails, or by JAX's coordination service (which ends
        # the process) when the heartbeat is missed first.
        assert "gamify: error: the job lost a process" in err or "Task 1 heartbeat timeout" in err, err
    finally:
        for p in procs:
            p.kill()
        out1 = procs[1].communicate()[0]
    # One writer: each iteration logged once, the first five as on one device; progress from none
    # (--quiet), and nothing but gloo's own log lines from process 1.
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["iteration"] for r in records] == list(range(1, len(records) + 1))
    _same_run(one[0], records[:5])
    assert "stopped" not in out1 + out0
    # The job's checkpoint resumes anywhere: here, in one process on one device.
    before = len(records)
    assert main([*TRAIN, "--out", str(out), "--resume", "--games", str(4 * (before + 2))]) == 0
    iterations = [json.loads(line)["iteration"] for line in metrics.read_text().splitlines()]
    assert iterations == list(range(1, len(iterations) + 1)) and iterations[-1] == before + 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--devices", "3"], "--devices: 3 devices asked for, this process has 1"),
        (["--process-id", "0"], "--num-processes and --process-id need --coordinator"),
        (["--coordinator", "localhost"], "--coordinator: expected HOST:PORT, got 'localhost'"),
        (["--coordinator", "localhost:1", "--num-processes", "2"], "needs --num-processes and --process-id"),
        (
            ["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "2"],
            "--coordinator: process id 2 is not in 0..1",
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main([*TRAIN, *GAMES, "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gamify: error: ") and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_search_takes_the_same_options(tmp_path, capsys):
    argv = ["search", "matmul", "2", "2", "2", "--quiet", "--out", str(tmp_path / "s"), "--devices", "3"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "gamify: error: --devices: 3 devices asked for, this process has 1 (cpu); on CPU, "
        "XLA_FLAGS=--xla_force_host_platform_device_count=N makes N"
    )


def test_an_odd_batch_on_two_devices_is_refused(tmp_path):
    run = subprocess.run(
        _command(*GAMES, "--devices", "2", "--batch-size", "15", "--out", str(tmp_path / "run")),
        env=_env(2),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "gamify: error: --batch-size (15) must be a multiple of the number of devices (2)"
    )


def test_an_unreachable_coordinator_is_one_line(tmp_path):
    job = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2", "--process-id", "1"]
    run = subprocess.run(
        _command(*GAMES, *job, "--join-timeout", "2", "--out", str(tmp_path / "run")),
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("gamify: error: --coordinator: could not join the job at 127.0.0.1:"), run.stderr

"""Flip walks on a local Ray instance: verified results, a pool that outlives a killed walker,
one clear line without Ray."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import ray

from gamify.cli.main import main
from gamify.tensor import ray_walks
from gamify.tensor.flips import standard_scheme
from gamify.tensor.formats import read_scheme
from gamify.tensor.ray_walks import ray_walk


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance of 2 CPUs for the file (starting one takes ~10 s)."""
    with ray_walks.session(num_cpus=2):  # not ray.init: pytest's working directory is the source tree
        yield


def test_gamify_flips_on_ray_writes_a_verified_scheme(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["flips", "3", "3", "3", "--target-rank", "23", "--time", "60", "--round", "2", "--ray"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ray: 2 CPUs, 2 walkers of 1 thread\n" in printed, printed
    assert "(reached the target)" in printed, printed
    scheme = read_scheme(out / "scheme.json")
    assert scheme.rank <= 23 and scheme.verify().ok
    assert ray.is_initialized()  # the command used this process's instance, and left it running


def _round_workers() -> list[int]:
    """The pids of Ray workers running a walker round now (Ray titles them ray::_round)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"ray::_round" in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # the process ended meanwhile
            continue
    return found


def test_a_killed_walker_loses_nothing_of_the_pool():
    lost, seen = [], []
    result = {}

    def run():
        result["walk"] = ray_walk(
            standard_scheme(4, 4, 4),
            0,  # never reached: the walk runs its time
            10.0,
            round_seconds=3.0,  # a kill lands mid-round: the title is read just before it
            plateau=20_000,
            progress=seen.append,
            on_lost=lost.append,
        )

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not (seen and (workers := _round_workers())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seen and workers, "no round came back"
    before = min(r.scheme.rank for r in seen)
    os.kill(workers[0], signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    walk = result["walk"]
    assert lost and "lost" in lost[0], lost  # said, and replaced: the run went on
    assert walk.scheme.rank <= before < 64 and walk.scheme.verify().ok  # the pool kept its best
    assert walk.pool[0][0] == walk.scheme.rank and all(s.verify().ok for s in walk.distinct)
    assert len(seen) > 2  # rounds came back after the kill too


def test_without_ray_the_option_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main(["flips", "2", "2", "2", "--ray", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == 'gamify: error: --ray needs Ray: pip install "gamify[ray]"'

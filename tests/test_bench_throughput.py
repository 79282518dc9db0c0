"""``gamify bench throughput``: each suite's smoke run end to end, side-by-side timing, bad input.

Each suite runs once, with ``--quick`` and the shortest samples (JAX compiles dominate the
time); the tests read its printed tables and its --json and --markdown files.
"""

import json
import math

import pytest

from gamify import native
from gamify.cli.bench import timing
from gamify.cli.main import main

FAST = ["--seconds", "0.01", "--repeats", "1"]


def _quick(suite: str, tmp_path, capsys) -> tuple[int, str, dict, str]:
    """One suite's ``--quick`` run with the shortest samples: exit status, stdout, JSON, markdown."""
    report, markdown = tmp_path / "new" / "t.json", tmp_path / "t.md"  # "new": --json makes the folder
    argv = ["bench", "throughput", "--quick", "--suites", suite, *FAST]
    status = main(argv + ["--json", str(report), "--markdown", str(markdown)])
    printed = capsys.readouterr().out
    return status, printed, json.loads(report.read_text()), markdown.read_text()


def _check_report(suite: str, status: int, printed: str, report: dict, markdown: str) -> list[dict]:
    """What every suite's run shares: exit 0, machine line first, command, markdown header; its rows."""
    assert status == 0
    assert printed.startswith("machine: ") and "jax " in printed.splitlines()[0]
    assert report["command"].startswith(f"gamify bench throughput --suites {suite} --quick --seconds 0.01")
    assert {"cpu", "cores", "platform", "jax", "jax_device", "gamify", "date"} <= set(report["machine"])
    assert report["settings"] == {suite: {"quick": True, "seconds": 0.01, "repeats": 1}}
    assert markdown.startswith("### gamify bench throughput") and f"`{report['command']}`" in markdown
    assert {row["suite"] for row in report["rows"]} == {suite}
    return report["rows"]


def _positive_rates(row: dict) -> None:
    assert row["rates"] and all(rate > 0 and math.isfinite(rate) for rate in row["rates"].values())
    assert all(ratio > 0 for ratio in row["ratios"].values())


@pytest.mark.skipif(not native.ffi_available(), reason="needs gamify._core with the FFI kernels")
def test_stepper_quick(tmp_path, capsys):
    status, printed, report, markdown = _quick("stepper", tmp_path, capsys)
    rows = _check_report("stepper", status, printed, report, markdown)
    assert [(row["table"], row["case"]) for row in rows] == [
        ("move", "⟨2,2,2⟩ Z2"),
        ("move", "⟨2,2,2⟩ Z"),
        ("game move", "⟨2,2,2⟩ Z2"),
        ("search", "⟨2,2,2⟩ Z2"),
        ("bound", "⟨2,2,2⟩ Z2"),
    ]
    for row in rows:
        _positive_rates(row)
    assert list(rows[0]["ratios"]) == ["C++/numpy", "C++/jit JAX"]
    assert list(rows[2]["rates"]) == list(rows[3]["rates"]) == ["native", "jax"]
    assert list(rows[4]["rates"]) == ["C++ FFI", "numba FFI", "numba pure_callback", "JAX"]
    for header in ("| case | batch | C++ | numpy | jit JAX | C++/numpy | C++/jit JAX |", "| native/jax |"):
        assert header in printed and header in markdown


def test_search_quick(tmp_path, capsys):
    status, printed, report, markdown = _quick("search", tmp_path, capsys)
    rows = _check_report("search", status, printed, report, markdown)
    assert [(row["game"], row["search"]) for row in rows] == [
        ("lights_out", "flat"),
        ("xor_rank", "sampled (K=16)"),
    ]
    for row in rows:
        _positive_rates(row)
        assert row["overhead"] == row["ratios"]["bare mctx/gamify"] and row["simulations"] == 4
    header = (
        "| game | search | batch | sims | gamify sims/s | bare mctx sims/s | overhead (t_gamify / t_bare) |"
    )
    assert header in printed and header in markdown
    assert "| lights_out | flat | 2 | 4 |" in printed


@pytest.mark.skipif(not native.available(), reason="needs gamify._core")
def test_flips_quick(tmp_path, capsys):
    status, printed, report, markdown = _quick("flips", tmp_path, capsys)
    rows = _check_report("flips", status, printed, report, markdown)
    rates = [row for row in rows if row["table"] == "flip rate"]
    assert [(row["case"], row["reference_flips_per_s"]) for row in rates] == [
        ("⟨3,3,3⟩", 9.2e6),
        ("⟨4,4,4⟩", 5.5e6),
    ]
    assert all(row["flips_per_s"] > 0 and row["threads"] == 1 for row in rates)
    reach = [row for row in rows if row["table"] == "reach"]
    assert [row["case"] for row in reach] == ["⟨2,2,2⟩ 8 → 7", "⟨3,3,3⟩ 27 → 23"]
    assert all(row["runs"] == len(row["times"]) == 3 and row["median_s"] > 0 for row in reach)
    assert all(rank >= 7 for rank in reach[0]["ranks"])  # walks never go below the true rank
    plain, symmetric = [row for row in rows if row["table"] == "best"]
    assert plain["case"] == "⟨4,4,4⟩" and 47 <= plain["rank"] <= 64 and plain["flips_per_s"] > 0
    assert symmetric["case"] == "⟨3,3,3⟩ symmetric" and 23 <= symmetric["rank"] <= 27
    lifts = {row["case"]: row["lifted_to"] for row in rows if row["table"] == "lift"}
    assert lifts["AlphaTensor ⟨4,4,4⟩ mod 2 rank 47"] is None  # known to hold only mod 2
    assert "| case | rank | walker | reference | walker/reference |" in markdown
    assert "reference" in printed and "baseline" not in printed.lower()


def test_interleaved_rates_alternate_the_order_and_pair_the_ratios():
    calls = []
    sides = {name: (lambda name=name: calls.append(name)) for name in ("a", "b")}
    samples = timing.interleaved_rates(sides, work=10, settings=timing.Settings(True, 0.0, 3))
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up calls, then one sample each
    assert samples.rates.keys() == {"a", "b"} and all(len(r) == 3 for r in samples.rates.values())
    fixed = timing.Samples({"a": [4.0, 9.0, 1.0], "b": [2.0, 3.0, 1.0]}, {"a": 0.0, "b": 0.0})
    assert timing.paired_ratio(fixed, "a", "b") == 2.0  # median of 2, 3, 1
    row = timing.side_row("s", "t", "c", 1, "x/s", fixed)
    assert row["rates"] == {"a": 4.0, "b": 2.0} and row["ratios"] == {"a/b": 2.0}
    table = timing.side_table("T", [row]).markdown()
    assert "| c | 1 | 4 | 2 | 2.0× |" in table


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--suites", "stepper,nope"], "unknown suite 'nope' in --suites"),
        (["--suites", " , "], "no suite in --suites"),
        (["--seconds", "0"], "--seconds must be a positive number"),
        (["--seconds", "-1"], "--seconds must be a positive number"),
        (["--seconds", "nan"], "--seconds must be a positive number"),
        (["--repeats", "0"], "--repeats must be positive"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(options, message, capsys):
    assert main(["bench", "throughput", "--quick", *options]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before anything is measured
    assert captured.err.startswith("gamify: error: ") and message in captured.err
    assert captured.err.count("\n") == 1


def test_missing_core_is_named(monkeypatch, capsys):
    monkeypatch.setattr(native, "available", lambda: False)
    assert main(["bench", "throughput", "--suites", "search,flips"]) == 2
    assert "the flips suite times gamify._core" in capsys.readouterr().err

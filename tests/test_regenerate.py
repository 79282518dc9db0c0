"""benchmarks/regenerate.py --smoke: every generated block of RESULTS.md is rewritten, the rest kept."""

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "regenerate.py"
RESULTS = SCRIPT.with_name("RESULTS.md")


# Blocks whose smoke the test only parses: what they run is tested elsewhere, and CI's time is short.
PARSED_ONLY = {
    "ranks-learned-z": "the learned search: tests/test_cli_search.py, tests/test_bench_ranks.py",
    "scale-out": "several devices and processes: tests/test_parallel.py",
    "ray-walks": "walks on Ray: tests/test_ray_walks.py",
    "update-rule": "its searches: tests/test_update_rule.py (run_search), the optimizers block's smoke",
    "waring-learning": "the waring game: tests/test_waring_game.py (check_game, a game in a changed basis)",
}


@pytest.mark.skipif(not SCRIPT.exists(), reason="needs the repository's benchmarks/ folder")
def test_smoke_run_rewrites_every_block_and_nothing_else(tmp_path):
    from gamify.cli.main import build_parser

    spec = importlib.util.spec_from_file_location("regenerate", SCRIPT)
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    for name in PARSED_ONLY:
        args = shlex.split(regenerate.BLOCKS[name][1])
        if args[0].endswith(".py"):  # a script of benchmarks/: its own parser
            spec = importlib.util.spec_from_file_location(args[0][:-3], SCRIPT.with_name(args[0]))
            script = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(script)
            script.build_parser().parse_args(args[1:])
        else:
            build_parser().parse_args(["bench", *args])
    names = [name for name in regenerate.BLOCKS if name not in PARSED_ONLY]
    copy = tmp_path / "RESULTS.md"
    copy.write_text(RESULTS.read_text(encoding="utf-8"), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--results", str(copy), "--only", *names],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    before, after = RESULTS.read_text(encoding="utf-8"), copy.read_text(encoding="utf-8")
    block = re.compile(r"<!-- bench:([\w-]+) -->\n(.*?)<!-- /bench:\1 -->", re.S)
    names = [m.group(1) for m in block.finditer(before)]
    assert names and names == [m.group(1) for m in block.finditer(after)]
    for match in block.finditer(after):
        name, text = match.groups()
        if name in PARSED_ONLY:
            assert text == dict(m.groups() for m in block.finditer(before))[name], name
            continue
        assert "- machine: " in text, name
        assert "- command: `gamify bench" in text or "- command: `python benchmarks/" in text, name
        assert re.search(r"^\|[-:|]+\|$", text, re.M), name  # a table
    assert "✗" not in after  # every scheme in the rank tables verified
    assert block.sub("", before) == block.sub("", after)  # the hand-written text is untouched


def test_a_missing_block_is_refused_before_anything_runs(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# nothing generated here\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0 and "no <!-- bench:ranks-z2 -->" in run.stderr
    assert results.read_text(encoding="utf-8") == "# nothing generated here\n"

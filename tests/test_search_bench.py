"""Smoke test: the search throughput benchmark runs (``--quick``) for a flat and a factored game."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "search_throughput.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("gamify_bench_search_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not BENCH.is_file(), reason="benchmarks/ not shipped in this tree")
def test_quick_run_writes_rows(tmp_path):
    bench = _load_benchmark()
    out = tmp_path / "search.json"
    # --quick with a single batch keeps the test to a handful of compilations.
    rows = bench.run(["--quick", "--batches", "2", "--json", str(out)], quiet=True)
    kinds = {row.search.split()[0] for row in rows}
    assert kinds == {"flat", "sampled"}
    assert {row.game for row in rows} == set(bench.DEFAULT_GAMES)
    for row in rows:
        assert row.batch == 2 and row.simulations == 4
        assert row.gamify_sims_per_s > 0 and row.bare_sims_per_s > 0 and row.overhead > 0
    saved = json.loads(out.read_text())
    assert len(saved["rows"]) == len(rows)
    assert "| game | search | batch |" in bench.markdown_table(rows)

"""Shared test setup: CPU-only JAX compiling for speed, one compilation cache for the session,
and built-in games importable from a source checkout."""

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before anything imports jax
# Tiny shapes: compiling dominates, so XLA's optimisation passes cost more than they save
# (a Trainer's iteration: 18 s -> 12 s to compile on 2 cores). Same programs, same results
# up to float rounding; speed is measured in benchmarks/, never here.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

# One JAX compilation cache for the session, set before anything imports jax: tests that
# build the same programs (and the CLI subprocesses they start, and pytest-xdist's workers,
# which inherit the environment and so skip this) compile each once. A Trainer's iteration
# takes ~20 s to compile on 2 cores and ~1 s to load. Removed when the session ends.
_JAX_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="gamify-tests-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


_REPO = Path(__file__).resolve().parent.parent


def _map_source_games() -> None:
    """Exposes ``games/`` as ``gamify.games`` when gamify is imported from the source tree.

    An installed gamify ships its games as ``gamify.games`` (the build maps them); a
    source checkout on PYTHONPATH has them at the top level only. An installed gamify
    without ``gamify.games`` is left alone, so that packaging bug still fails the tests.
    """
    try:
        import gamify
    except ImportError:
        return
    if Path(gamify.__file__).resolve().parent != _REPO / "gamify" or "gamify.games" in sys.modules:
        return
    if importlib.util.find_spec("gamify.games") is not None:
        return
    games = _REPO / "games"
    spec = importlib.util.spec_from_file_location(
        "gamify.games", games / "__init__.py", submodule_search_locations=[str(games)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["gamify.games"] = module
    spec.loader.exec_module(module)
    gamify.games = module


_map_source_games()


def pytest_unconfigure(config):
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)


# The slowest files (seconds on a 2-core CPU, 2026-12-01), handed out first: pytest-xdist gives
# whole files to the two workers in collection order (pyproject: --no-loadscope-reorder; its
# default order, by number of tests, left one worker alone on a slow file for the last minute).
# A file missing here only runs later; keep the list to the ones over ~45 s.
_SLOW_FILES = (
    "test_tensor_game",  # 132
    "test_cli_search",  # 122
    "test_parallel",  # 115, two processes of its own at times
    "test_cli",  # 112
    "test_train",  # 111
    "test_search",  # 102
    "test_pretrain",  # 97
    "test_update_rule",  # 94
    "test_native",  # 94
    "test_bench_throughput",  # 90
    "test_scheme_demonstrations",  # 77
    "test_ray_walks",  # 40 (walks on both cores)
    "test_flip_prior",  # 75
    "test_networks",  # 63
    "test_flip_graph",  # 61
    "test_failures",  # 61
    "test_regenerate",  # 58
    "test_games",  # 56
    "test_demonstrations",  # 49
)


def pytest_collection_modifyitems(items):
    first = {name: rank for rank, name in enumerate(_SLOW_FILES)}
    items.sort(key=lambda item: first.get(item.path.stem, len(first)))  # stable within a file

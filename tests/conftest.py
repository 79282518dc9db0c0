"""Shared test setup: CPU-only JAX, and built-in games importable from a source checkout."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before anything imports jax

import importlib.util
import sys
from pathlib import Path

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

"""The curated public surfaces, engine and tensor domain: changing them is a deliberate act."""

import importlib

import pytest

import gamify
import gamify.tensor


def test_engine_api_is_pinned():
    assert gamify.__all__ == [
        "ActionSpace",
        "Budget",
        "Env",
        "EnvState",
        "FactoredActions",
        "FlatActions",
        "Game",
        "Network",
        "NetworkConfig",
        "SearchConfig",
        "SearchOutput",
        "TrainConfig",
        "Trainer",
        "__version__",
        "list_games",
        "load_game",
        "make_network",
        "make_search",
    ]
    assert all(hasattr(gamify, name) for name in gamify.__all__)


def test_tensor_api_is_pinned():
    assert gamify.tensor.__all__ == [
        "FlipResult",
        "LiftError",
        "Scheme",
        "SchemeFormatError",
        "SchemeMatmul",
        "Verification",
        "alphatensor_schemes",
        "hensel_lift",
        "matmul_sizes",
        "matmul_tensor",
        "read_scheme",
        "walk",
        "write_scheme",
    ]
    assert all(hasattr(gamify.tensor, name) for name in gamify.tensor.__all__)


@pytest.mark.parametrize(
    "name, where",
    [
        ("Scheme", "gamify.tensor.Scheme"),
        ("read_scheme", "gamify.tensor.read_scheme"),
        ("write_scheme", "gamify.tensor.write_scheme"),
        ("matmul_tensor", "gamify.tensor.matmul_tensor"),
    ],
)
def test_moved_names_say_where_they_went(name, where):
    with pytest.raises(AttributeError, match=f"gamify.{name} has moved to {where}"):
        getattr(gamify, name)
    module, _, attribute = where.rpartition(".")
    assert hasattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize(
    "old, new",
    [
        ("gamify.scheme", "gamify.tensor.scheme"),
        ("gamify.formats", "gamify.tensor.formats"),
        ("gamify.flips", "gamify.tensor.flips"),
        ("gamify.lift", "gamify.tensor.lift"),
        ("gamify.matmul", "gamify.tensor.codegen"),
        ("gamify.numba_kernels", "gamify.tensor.numba_bound"),
        ("gamify.tensor_search", "gamify.cli.search"),
        ("gamify.bench", "gamify.cli.bench"),
    ],
)
def test_moved_modules_say_where_they_went(old, new):
    with pytest.raises(ModuleNotFoundError, match=f"{old} has moved to {new}"):
        importlib.import_module(old)
    importlib.import_module(new)


def test_unknown_names_still_fail_plainly():
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        gamify.nonsense  # noqa: B018
    with pytest.raises(ModuleNotFoundError, match="No module named 'gamify.nonsense'"):
        importlib.import_module("gamify.nonsense")


@pytest.mark.parametrize("old, new", [("Run", "RunDirectory"), ("run", "train_until"), ("Budget", "Budget")])
def test_moved_train_names_say_where_they_went(old, new):
    with pytest.raises(AttributeError, match=f"gamify.train.{old} is now gamify.runs.{new}"):
        getattr(gamify.train, old)

"""Game registry: built-in names, file:Class specs, entry-point plugins, key=value arguments, errors."""

import contextlib
import importlib.metadata

import pytest

import gamify
from gamify.games import lights_out, xor_rank
from gamify.registry import GameNotFoundError, list_games, load_game, parse_game_args

GAME_FILE = """
import jax.numpy as jnp
import gamify


class Tiny(gamify.Game):
    name = "tiny"
    description = "a tiny game from a file"

    def __init__(self, size=2, max_steps=3):
        if size < 1:
            raise ValueError(f"tiny: size must be >= 1, got {size}")
        self.size = size
        self.max_steps = max_steps
        self.action_space = gamify.FlatActions(size)

    def init(self, key):
        return jnp.int32(0)

    def step(self, state, action):
        return state + 1, jnp.float32(-1.0), state + 1 >= self.size

    def observe(self, state):
        return state[None]

    def legal_action_mask(self, state):
        return jnp.ones(self.size, jnp.bool_)


def make_tiny(**kwargs):
    return Tiny(**kwargs)


def make_nothing():
    return 42


class NotAGame:
    pass
"""


@pytest.fixture
def game_file(tmp_path):
    path = tmp_path / "tiny_game.py"
    path.write_text(GAME_FILE)
    return path


@contextlib.contextmanager
def raises_one_line(match: str):
    """Expects a GameNotFoundError matching ``match`` whose message is one line (for the CLI)."""
    with pytest.raises(GameNotFoundError, match=match) as info:
        yield info
    assert "\n" not in str(info.value), "error messages must be one line"


def test_builtins_load_with_parameters():
    assert isinstance(load_game("lights_out"), lights_out.LightsOut)
    game = load_game("xor_rank", n=3, seed=5)
    assert isinstance(game, xor_rank.XorRank) and game.n == 3


def test_list_games_gives_builtins_with_their_descriptions():
    games = dict(list_games())
    assert games["lights_out"] == lights_out.LightsOut.description
    assert games["xor_rank"] == xor_rank.XorRank.description
    assert all(description for description in games.values())


def test_module_colon_class_spec():
    assert isinstance(load_game("gamify.games.xor_rank:XorRank", n=2), xor_rank.XorRank)


def test_file_colon_class_spec(game_file):
    game = load_game(f"{game_file}:Tiny", size=3)
    assert isinstance(game, gamify.Game) and game.name == "tiny" and game.size == 3
    again = load_game(f"{game_file}:make_tiny", size=4)  # a factory in the file works too
    assert type(again) is type(game) and again.size == 4


@pytest.mark.parametrize(
    "spec, kwargs, message",
    [
        (
            "nope",
            {},
            r"unknown game 'nope'; available: automl_zero, flip_graph, lights_out, tensor_decomposition, "
            r"update_rule, waring, xor_rank",
        ),
        (
            "lights_out",
            {"colour": 3},
            r"game 'lights_out': no parameter 'colour' \(parameters: size, pattern",
        ),
        ("lights_out", {"size": 0}, r"game 'lights_out': lights_out: size must be an integer"),
        ("xor_rank", {"target": [[0]]}, r"game 'xor_rank': xor_rank: target must have shape \(4, 4\)"),
        ("gamify.games.nothing:Game", {}, r"cannot import module 'gamify.games.nothing'"),
        ("gamify.games.xor_rank:Nope", {}, r"module 'gamify.games.xor_rank' has no attribute 'Nope'"),
        ("gamify.games.xor_rank:gf2_rank_numpy", {"matrix": [[1]]}, r"returned int, not a gamify.Game"),
        ("", {}, "non-empty string"),
    ],
)
def test_bad_specs_and_parameters(spec, kwargs, message):
    with raises_one_line(message):
        load_game(spec, **kwargs)


def test_file_spec_errors(game_file, tmp_path):
    with raises_one_line("game file not found: .*missing.py"):
        load_game(f"{tmp_path / 'missing.py'}:Tiny")
    with raises_one_line(r"has no 'Huge' \(games defined there: Tiny\)"):
        load_game(f"{game_file}:Huge")
    with raises_one_line("NotAGame is not a subclass of gamify.Game"):
        load_game(f"{game_file}:NotAGame")
    with raises_one_line("returned int, not a gamify.Game"):
        load_game(f"{game_file}:make_nothing")
    with raises_one_line(r"game '.*:Tiny': no parameter 'depth' \(parameters: size, max_steps\)"):
        load_game(f"{game_file}:Tiny", depth=2)
    with raises_one_line("tiny: size must be >= 1, got 0"):
        load_game(f"{game_file}:Tiny", size=0)
    with raises_one_line("names a file but no class: use"):
        load_game(str(game_file))
    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n")
    with raises_one_line("game file .*broken.py failed to load: SyntaxError"):
        load_game(f"{broken}:Tiny")


@pytest.fixture
def plugins(monkeypatch, tmp_path):
    """Installs a fake plugin package and entry points in the group gamify.games."""
    (tmp_path / "tiny_plugin.py").write_text(GAME_FILE + "\nmake_tiny.description = 'tiny, from a factory'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        importlib.metadata.EntryPoint("tiny", "tiny_plugin:Tiny", "gamify.games"),
        importlib.metadata.EntryPoint("tiny_factory", "tiny_plugin:make_tiny", "gamify.games"),
        importlib.metadata.EntryPoint("not_a_game", "tiny_plugin:NotAGame", "gamify.games"),
        importlib.metadata.EntryPoint("missing", "no_such_plugin_module:Game", "gamify.games"),
        importlib.metadata.EntryPoint("lights_out", "tiny_plugin:Tiny", "gamify.games"),  # built-ins win
        importlib.metadata.EntryPoint("other", "tiny_plugin:Tiny", "other.group"),
    ]

    def entry_points(*, group=None, **kwargs):
        assert not kwargs
        return [ep for ep in points if group is None or ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


@pytest.mark.usefixtures("plugins")
def test_plugins_load_by_name():
    game = load_game("tiny", size=5)
    assert game.name == "tiny" and game.size == 5
    assert load_game("tiny_factory", size=2).size == 2
    assert isinstance(load_game("lights_out"), lights_out.LightsOut)


@pytest.mark.usefixtures("plugins")
def test_plugin_errors():
    with raises_one_line("NotAGame is not a subclass of gamify.Game"):
        load_game("not_a_game")
    with raises_one_line("game plugin 'missing' failed to load: ModuleNotFoundError"):
        load_game("missing")
    with raises_one_line(
        "available: automl_zero, flip_graph, lights_out, missing, not_a_game, tensor_decomposition, tiny, "
        "tiny_factory, update_rule, waring, xor_rank"
    ):
        load_game("other")


@pytest.mark.usefixtures("plugins")
def test_list_games_includes_plugins():
    games = list_games()
    names = [name for name, _ in games]
    assert names == [
        "lights_out",
        "xor_rank",
        "tensor_decomposition",
        "flip_graph",
        "update_rule",
        "automl_zero",
        "waring",
        "missing",
        "not_a_game",
        "tiny",
        "tiny_factory",
    ]
    described = dict(games)
    assert described["lights_out"] == lights_out.LightsOut.description
    assert described["tiny"] == "a tiny game from a file"
    assert described["tiny_factory"] == "tiny, from a factory"
    assert described["missing"].startswith("(failed to load: ModuleNotFoundError")


def test_parse_game_args():
    args = parse_game_args(
        ["size=4", "seed = 3", "name=foo", "pattern=[[1, 0], [0, 1]]", "flag=True", "eq=a=b"]
    )
    assert args == {
        "size": 4,
        "seed": 3,
        "name": "foo",
        "pattern": [[1, 0], [0, 1]],
        "flag": True,
        "eq": "a=b",
    }
    assert parse_game_args([]) == {}
    assert parse_game_args(["x=", "y=None", "z=0.5"]) == {"x": "", "y": None, "z": 0.5}


@pytest.mark.parametrize(
    "items, message",
    [
        (["size"], "'size' must look like key=value"),
        (["=3"], "'' is not a valid parameter name"),
        (["1x=2"], "'1x' is not a valid parameter name"),
        (["size=2", "size=3"], "'size' given twice"),
    ],
)
def test_parse_game_args_rejects_malformed_items(items, message):
    with raises_one_line(message):
        parse_game_args(items)


def test_parsed_args_reach_the_game():
    game = load_game("lights_out", **parse_game_args(["size=3", "max_steps=5"]))
    assert game.size == 3 and game.max_steps == 5

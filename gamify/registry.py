"""Finding games by name: built-ins, ``path/to/file.py:ClassName`` and installed plugins.

A game spec is one of:

* a built-in name (``lights_out``, ``xor_rank``, ...; see :data:`BUILTIN_GAMES`);
* ``path/to/file.py:ClassName`` -- the class is loaded from that file;
* ``package.module:ClassName`` -- the class is imported from an importable module;
* the name of a plugin: another package declares, in its ``pyproject.toml``::

      [project.entry-points."gamify.games"]
      my_game = "my_package.my_module:MyGame"

  where the object is a :class:`gamify.Game` subclass or a factory returning a Game.

Built-in names take precedence over plugins of the same name. Every failure raises
:class:`GameNotFoundError` (a ``ValueError``) with a one-line message for the CLI.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from gamify.game import Game

ENTRY_POINT_GROUP = "gamify.games"

# name -> "module:attribute", imported only when used (importing a game imports its deps)
BUILTIN_GAMES: dict[str, str] = {
    "lights_out": "gamify.games.lights_out:LightsOut",
    "xor_rank": "gamify.games.xor_rank:XorRank",
    "tensor_decomposition": "gamify.games.tensor_decomposition:TensorDecomposition",
    "flip_graph": "gamify.games.flip_graph:FlipGraph",
    "update_rule": "gamify.games.update_rule:UpdateRule",
    "automl_zero": "gamify.games.automl_zero:AutoMLZero",
    "waring": "gamify.games.waring:Waring",
}


class GameNotFoundError(ValueError):
    """A game spec, its parameters or its ``key=value`` arguments could not be resolved."""


def load_game(spec: str, **kwargs: Any) -> Game:
    """Builds the game named by ``spec`` with keyword parameters ``kwargs``.

    Args:
      spec: a built-in name, ``path/to/file.py:ClassName``, ``module:ClassName`` or
        the name of an installed plugin (entry-point group ``gamify.games``).
      **kwargs: passed to the game's constructor (or factory).

    Returns:
      The game instance.

    Raises:
      GameNotFoundError: unknown name, missing file or class, an object that is not a
        game, or parameters the game rejects.
    """
    factory = resolve_game(spec)
    return _instantiate(factory, spec, kwargs)


def resolve_game(spec: str) -> Callable[..., Game]:
    """The Game subclass or factory named by ``spec`` (see :func:`load_game`), not yet called."""
    if not isinstance(spec, str) or not spec.strip():
        raise GameNotFoundError(f"game spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec in BUILTIN_GAMES:
        return _check_factory(_import_object(BUILTIN_GAMES[spec], spec), spec)
    location, sep, attribute = spec.rpartition(":")
    if sep and location and attribute and not _is_drive_letter(location):
        if location.endswith(".py") or "/" in location or "\\" in location:
            return _check_factory(_load_from_file(Path(location), attribute), spec)
        return _check_factory(_import_object(spec, spec), spec)
    plugins = _plugin_entry_points()
    if spec in plugins:
        try:
            obj = plugins[spec].load()
        except Exception as error:  # a broken plugin must not crash with a traceback
            raise GameNotFoundError(f"game plugin '{spec}' failed to load: {_one_line(error)}") from error
        return _check_factory(obj, spec)
    if spec.endswith(".py"):
        raise GameNotFoundError(f"game spec '{spec}' names a file but no class: use '{spec}:ClassName'")
    available = ", ".join(sorted(set(BUILTIN_GAMES) | set(plugins)))
    raise GameNotFoundError(
        f"unknown game '{spec}'; available: {available} (or path/to/file.py:ClassName, module:ClassName)"
    )


def list_games() -> list[tuple[str, str]]:
    """``(name, description)`` of the built-in games, then of the installed plugins (sorted)."""
    games = [
        (name, _description(functools.partial(_import_object, target, name)))
        for name, target in BUILTIN_GAMES.items()
    ]
    plugins = _plugin_entry_points()
    for name in sorted(set(plugins) - set(BUILTIN_GAMES)):
        games.append((name, _description(plugins[name].load)))
    return games


def parse_game_args(items: Iterable[str]) -> dict[str, Any]:
    """Parses CLI ``key=value`` items into keyword arguments.

    Values are Python literals when :func:`ast.literal_eval` accepts them
    (``4``, ``0.5``, ``True``, ``None``, ``[[1, 0], [0, 1]]``) and strings otherwise.

    Raises:
      GameNotFoundError: an item without ``=``, a key that is not an identifier, or a
        repeated key.
    """
    kwargs: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise GameNotFoundError(f"game argument '{item}' must look like key=value")
        if not key.isidentifier():
            raise GameNotFoundError(f"game argument '{item}': '{key}' is not a valid parameter name")
        if key in kwargs:
            raise GameNotFoundError(f"game argument '{key}' given twice")
        try:
            kwargs[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            kwargs[key] = text.strip()
    return kwargs


def _plugin_entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _import_object(target: str, spec: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise GameNotFoundError(
            f"game '{spec}': cannot import module '{module_name}': {_one_line(error)}"
        ) from error
    if not hasattr(module, attribute):
        raise GameNotFoundError(f"game '{spec}': module '{module_name}' has no attribute '{attribute}'")
    return getattr(module, attribute)


def _load_from_file(path: Path, attribute: str) -> Any:
    path = path.expanduser()
    if not path.is_file():
        raise GameNotFoundError(f"game file not found: {path}")
    resolved = path.resolve()
    # a unique, stable module name, so two files with the same stem do not collide
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"gamify_user_game_{digest}_{resolved.stem}"
    module = sys.modules.get(module_name)
    if module is None:
        module_spec = importlib.util.spec_from_file_location(module_name, resolved)
        if module_spec is None or module_spec.loader is None:
            raise GameNotFoundError(f"game file {path} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up here
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[module_name]
            raise GameNotFoundError(f"game file {path} failed to load: {_one_line(error)}") from error
        except SystemExit as error:  # sys.exit() at import time: say so rather than exit silently
            del sys.modules[module_name]
            exited = f"sys.exit({error.code!r})"
            raise GameNotFoundError(f"game file {path} called {exited} while loading") from None
    if not hasattr(module, attribute):
        games = sorted(
            name
            for name, obj in vars(module).items()
            if inspect.isclass(obj)
            and issubclass(obj, Game)
            and obj is not Game
            and not inspect.isabstract(obj)
        )
        found = f"games defined there: {', '.join(games)}" if games else "it defines no Game subclass"
        raise GameNotFoundError(f"game file {path} has no '{attribute}' ({found})")
    return getattr(module, attribute)


def _check_factory(obj: Any, spec: str) -> Callable[..., Game]:
    if inspect.isclass(obj):
        if not issubclass(obj, Game):
            raise GameNotFoundError(f"game '{spec}': {obj.__name__} is not a subclass of gamify.Game")
        if inspect.isabstract(obj):
            missing = ", ".join(sorted(obj.__abstractmethods__))
            raise GameNotFoundError(f"game '{spec}': {obj.__name__} does not implement {missing}")
        return obj
    if callable(obj):
        return obj  # a factory; its result is checked in _instantiate
    raise GameNotFoundError(f"game '{spec}': {obj!r} is neither a gamify.Game subclass nor a factory")


def _instantiate(factory: Callable[..., Game], spec: str, kwargs: dict[str, Any]) -> Game:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(**kwargs)
        except TypeError as error:
            names = [
                p.name
                for p in signature.parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            unknown = [key for key in kwargs if key not in signature.parameters]
            problem = f"no parameter '{unknown[0]}'" if unknown else _one_line(error)
            raise GameNotFoundError(
                f"game '{spec}': {problem} (parameters: {', '.join(names) or 'none'})"
            ) from error
    try:
        game = factory(**kwargs)
    except (ValueError, TypeError) as error:  # the game's own checks name the bad parameter
        raise GameNotFoundError(f"game '{spec}': {_one_line(error, with_type=False)}") from error
    if not isinstance(game, Game):
        raise GameNotFoundError(
            f"game '{spec}': the factory returned {type(game).__name__}, not a gamify.Game"
        )
    return game


def _description(load: Callable[[], Any]) -> str:
    try:
        obj = load()
    except Exception as error:  # listing must survive one broken plugin
        return f"(failed to load: {_one_line(error)})"
    description = getattr(obj, "description", "")
    return description if isinstance(description, str) else ""


def _is_drive_letter(location: str) -> bool:
    return len(location) == 1 and location.isalpha()  # "C:\\games\\x.py" has no class part


def _one_line(error: BaseException, *, with_type: bool = True) -> str:
    text = " ".join(str(error).split())
    if not text:
        return type(error).__name__
    return f"{type(error).__name__}: {text}" if with_type else text

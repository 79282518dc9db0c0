"""The layers, read from the source's imports (ast): engine < tensor domain < games < command line.

- the engine (``gamify/*.py``) never imports the tensor domain, the command line (with
  its bench) or a game;
- the tensor domain (``gamify/tensor/``) never imports the command line or a game;
- built-in games (``games/``) use public names only, never the command line;
- no module imports itself back through others (no import cycles);
- imports sit at the top of a module, except where a heavy dependency is deferred on
  purpose, and such a place says so (a comment with "deferred").
"""

import ast
import functools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UPPER = ("gamify.cli", "gamify.games", "games")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[0] == "games":  # installed as gamify.games
        parts = ["gamify", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@functools.cache
def _sources() -> dict[str, Path]:
    files = sorted((REPO / "gamify").rglob("*.py")) + sorted((REPO / "games").glob("*.py"))
    return {_module_name(path): path for path in files}


@functools.cache
def _imports(module: str) -> tuple[tuple[str, tuple[str, ...], int, bool], ...]:
    """(imported module, names taken from it, line, at module level) for each import statement."""
    tree = ast.parse(_sources()[module].read_text())
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under `try:` / `if` at module level count as top level
        if isinstance(node, ast.Try | ast.If):
            top_level |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = tuple(alias.name for alias in node.names)
            found.append((node.module, names, node.lineno, id(node) in top_level))
    return tuple(found)


def _targets(module: str) -> set[str]:
    """The project modules a module imports (``from gamify import train`` imports gamify.train)."""
    known = _sources()
    targets = set()
    for imported, names, _, _ in _imports(module):
        if imported == "games" or imported.startswith("games."):
            imported = "gamify." + imported
        submodules = {
            f"{imported}.{name}" for name in names if f"{imported}.{name}" in {*known, "gamify._core"}
        }
        if imported in known and (len(submodules) < len(names) or not names):
            targets.add(imported)  # `from package import module` alone needs the module only
        targets |= submodules
    return targets - {"gamify._core"}  # compiled, imports nothing


def _layer(module: str) -> str:
    for prefix, layer in (
        ("gamify.tensor", "tensor"),
        ("gamify.cli", "cli"),
        ("gamify.games", "games"),
    ):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "engine"


def _under(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_tree_is_read():
    layers = {_layer(module) for module in _sources()}
    assert layers == {"engine", "tensor", "cli", "games"}
    assert "gamify.train" in _targets("gamify.cli.train")


@pytest.mark.parametrize(
    "layer, forbidden",
    [("engine", ("gamify.tensor", *UPPER)), ("tensor", UPPER)],
)
def test_lower_layers_never_import_upper_ones(layer, forbidden):
    wrong = [
        f"{module} imports {imported} (line {line})"
        for module in _sources()
        if _layer(module) == layer
        for imported, _, line, _ in _imports(module)
        if _under(imported, forbidden)
    ]
    assert not wrong, wrong


def test_games_use_public_names_only():
    wrong = []
    for module in _sources():
        if _layer(module) != "games":
            continue
        for imported, names, line, _ in _imports(module):
            if not imported.startswith("gamify"):
                continue
            private = [part for part in imported.split(".") + list(names) if part.startswith("_")]
            if private or _under(imported, ("gamify.cli",)):
                wrong.append(f"{module} line {line}: {imported} {names}")
    assert not wrong, wrong


def test_no_import_cycles():
    graph = {module: sorted(_targets(module) - {module}) for module in _sources()}
    done: set[str] = set()
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in graph[module]:
            if target in path:
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    for module in graph:
        if module not in done:
            visit(module, [module])
    assert not cycles, cycles


def test_imports_inside_functions_say_why():
    unexplained = []
    for module, path in _sources().items():
        lines = path.read_text().splitlines()
        for imported, _, line, top in _imports(module):
            if not top and "deferred" not in lines[line - 1] + lines[line - 2]:
                unexplained.append(f"{module} line {line}: import {imported}")
    assert not unexplained, unexplained

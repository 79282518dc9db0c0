"""Names and modules that moved when the tensor domain left the engine (gamify 0.2).

Old import paths fail with a message that names the new one, rather than with a bare
"no module named": ``import gamify.formats`` says it is ``gamify.tensor.formats`` now.
"""

from __future__ import annotations

import importlib.abc
import sys

MODULES = {
    "gamify.scheme": "gamify.tensor.scheme",
    "gamify.formats": "gamify.tensor.formats",
    "gamify.flips": "gamify.tensor.flips",
    "gamify.lift": "gamify.tensor.lift",
    "gamify.matmul": "gamify.tensor.codegen (SchemeMatmul, strassen) and gamify.tensor.matmul",
    "gamify.numba_kernels": "gamify.tensor.numba_bound",
    "gamify.tensor_search": "gamify.cli.search",
    "gamify.bench": "gamify.cli.bench",
}
NAMES = {  # gamify.<name> -> where it is now
    "Scheme": "gamify.tensor.Scheme",
    "read_scheme": "gamify.tensor.read_scheme",
    "write_scheme": "gamify.tensor.write_scheme",
    "matmul_tensor": "gamify.tensor.matmul_tensor",
}


class _MovedModules(importlib.abc.MetaPathFinder):
    """Consulted last: only a name that no other finder knows and that moved is answered."""

    def find_spec(self, fullname, path, target=None):
        if fullname in MODULES:
            raise ModuleNotFoundError(f"{fullname} has moved to {MODULES[fullname]}", name=fullname)
        return None


def install() -> None:
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())


def attribute_error(name: str) -> AttributeError:
    if name in NAMES:
        return AttributeError(f"gamify.{name} has moved to {NAMES[name]}")
    return AttributeError(f"module 'gamify' has no attribute {name!r}")

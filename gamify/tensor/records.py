"""Best-known ranks of matrix multiplication ⟨n,m,p⟩, from the shipped table
``gamify/tensor/data/best_known_ranks.json`` (its sources and compilation date inside)."""

from __future__ import annotations

import functools
import importlib.resources
import json

Sizes = tuple[int, int, int]


@functools.cache
def best_known_table() -> dict:
    """The shipped table: {"source", "compiled", "notes", "formats": {"n,m,p" (sorted): row}}."""
    resource = importlib.resources.files("gamify.tensor") / "data" / "best_known_ranks.json"
    return json.loads(resource.read_text(encoding="utf-8"))


def best_known(sizes: Sizes) -> dict | None:
    """The table's row for ⟨n,m,p⟩ in any order (rank is invariant under permuting n, m, p)."""
    return best_known_table()["formats"].get(",".join(map(str, sorted(sizes))))


def reference_ranks(sizes: Sizes, field: str) -> dict:
    """{"naive", "alphatensor", "best_known", "best_known_by"} for the field; None where unknown.

    Over "z" (integer coefficients) the best known is the integer one, not a char-0 scheme
    that needs 1/2 or i.
    """
    row = best_known(sizes) or {}
    z2 = field == "z2"
    best = row.get("best_z2" if z2 else "best_char0") or {}
    return {
        "naive": sizes[0] * sizes[1] * sizes[2],
        "alphatensor": row.get("alphatensor_z2" if z2 else "alphatensor_standard"),
        "best_known": best.get("rank") if z2 else row.get("best_z"),
        "best_known_by": best.get("who"),
    }

"""Reading and writing schemes in the formats people publish them in.

=================  =========  ==========  ==================================================
format             extension  read/write  what it is
=================  =========  ==========  ==================================================
``gamify``         .json      both        ``{"format": "gamify-scheme", "version": 1, "field",
                                          "matmul": [n,m,p] or null, "shape": [I,J,K], "rank",
                                          "u", "v", "w"}``, factors as lists of rows (terms);
                                          a scheme of a tensor other than matmul's also holds
                                          ``"target"``, the tensor as nested lists
``perminov-json``  .json      both        Perminov's FastMatrixMultiplication repository:
                                          ``{"n": [n,m,p], "m": R, "z2": bool, "u", "v", "w"}``,
                                          one row per term (his other keys are not written)
``perminov-txt``   .txt       both        the same repository's plain text: a line
                                          ``n m p R``, then U, V, W flattened term by term
``exp``            .exp       both        Kauers–Moosbauer: one product per line,
                                          ``(a11+a23)*(b12)*(-c21+2*c33)``; a whole
                                          product may be negated or divided,
                                          ``-(a11)*(b12)*(c21)/3``
``npz``            .npz       read        DeepMind's AlphaTensor ``factorizations_{r,f2}.npz``:
                                          key ``"n,m,p"`` → (U [n*m, R], V [m*p, R], W [p*n, R])
=================  =========  ==========  ==================================================

Conventions, checked against published files: every format indexes the third factor by
Cᵀ, as :mod:`gamify.tensor.scheme` does. In ``.exp``, ``c_xy`` is entry (x, y) of Cᵀ (x ≤ p,
y ≤ n), that is w index (x-1)*n + (y-1); indices are single digits, so sizes up to 9. The
sizes of an ``.exp`` file are its largest indices. A correct ⟨n,m,p⟩ scheme uses every a_ij,
b_jk and c_ki, so a largest index beyond one that is unused (``a99`` in a ⟨2,2,2⟩ file, with
no a in row 3) is an error naming the variable; ``matmul=`` gives the sizes instead.

The field: gamify and Perminov JSON files declare it. For the other formats it is, in this
order: a hint in the file name (the words ``mod2``, ``z2``, ``f2`` → Z2; ``mod0``, ``z``,
``zt``, ``q``, ``r`` → Z, as in ``445-60-mod2.exp``, ``k0e35.mod2.exp``,
``2x5x13_m102_Z.txt``, ``factorizations_f2.npz``), then the content (a coefficient outside
{0, 1} → Z; a 0/1 scheme is read as Z2, the weaker claim). The ``field=`` argument
overrides all of these, and ``field="z2"`` reduces integer coefficients mod 2, so any
integer scheme can be checked mod 2; without it, a Z2 file holding a coefficient outside
{0, 1} is an error.

A fractional coefficient (e.g. ±1/2 in 27 of DeepMind's recombined standard-arithmetic
schemes) makes a scheme over Q (field ``"q"``), read exactly: ``1/2`` in text formats and
JSON strings, a float in JSON or .npz only when it is a fraction with a denominator up to
2**20 exactly (0.5, 0.125; 0.1 as the float nearest 1/10 reads as 1/10). Integers and
fractions in text and JSON may have up to 4300 digits (Python's limit for reading an int):
beyond int64 they are kept as Python ints and checked just as exactly. Writers write
fractions the same way (``"1/2"`` in JSON, ``1/2*a11`` in .exp). Asking for ``field="z"``
or ``"z2"`` (or a file declaring it) with a fractional coefficient raises
:class:`FractionalCoefficientError`.
The readers are :mod:`gamify.tensor.readers` (object arrays in ``.npz`` files are unpickled
by a restricted unpickler that builds numpy arrays and nothing else, so reading a file
cannot run code). Writers replace the target file atomically. Writers do not verify:
verify a scheme before publishing it.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gamify.checkpoint import atomic_write_bytes
from gamify.tensor.readers import (
    FractionalCoefficientError,
    Raw,
    Request,
    SchemeFormatError,
    field_hint,
    first_fraction,
    is_fractional,
    json_kind,
    json_reader,
    load_json,
    npz_keys,
    read_exp,
    read_gamify,
    read_npz,
    read_perminov_json,
    read_perminov_txt,
)
from gamify.tensor.scheme import FIELDS, Scheme

__all__ = [
    "FORMATS",
    "FractionalCoefficientError",
    "SchemeFormatError",
    "alphatensor_schemes",
    "detect_format",
    "format_scheme",
    "npz_keys",
    "read_scheme",
    "write_scheme",
]


# --------------------------------------------------------------------------- writers


def _require_matmul(scheme: Scheme, format: str) -> tuple[int, int, int]:
    if scheme.matmul is None:
        raise ValueError(
            f"{format} stores matrix-multiplication schemes: build the Scheme with matmul=(n, m, p)"
        )
    return scheme.matmul


def _rows(matrix: np.ndarray, indent: str) -> str:
    """JSON rows; a fraction is written as a string, "1/2"."""
    rows = [[x if isinstance(x, int) else str(x) for x in row] for row in matrix.tolist()]
    return ",\n".join(f"{indent}{json.dumps(row)}" for row in rows)


def _format_gamify(scheme: Scheme) -> str:
    header = {
        "format": "gamify-scheme",
        "version": 1,
        "field": scheme.field,
        "matmul": list(scheme.matmul) if scheme.matmul else None,
        "shape": list(scheme.shape),
        "rank": scheme.rank,
    }
    lines = [f"  {json.dumps(name)}: {json.dumps(value)}," for name, value in header.items()]
    factors = [
        f'  "{name}": [\n{_rows(f, "    ")}\n  ]' for name, f in zip("uvw", scheme.fractions(), strict=True)
    ]
    if scheme.target is not None:  # a tensor that is not matmul's: verify needs it
        factors.append(f'  "target": {json.dumps(scheme.target.tolist())}')
    return "{\n" + "\n".join(lines) + "\n" + ",\n".join(factors) + "\n}\n"


def _format_perminov_json(scheme: Scheme) -> str:
    n, m, p = _require_matmul(scheme, "perminov-json")
    lines = [
        f'    "n": [{n}, {m}, {p}],',
        f'    "m": {scheme.rank},',
        f'    "z2": {json.dumps(scheme.field == "z2")},',
    ]
    factors = [
        f'    "{name}": [\n{_rows(f, "        ")}\n    ]'
        for name, f in zip("uvw", scheme.fractions(), strict=True)
    ]
    return "{\n" + "\n".join(lines) + "\n" + ",\n".join(factors) + "\n}\n"


def _format_perminov_txt(scheme: Scheme) -> str:
    n, m, p = _require_matmul(scheme, "perminov-txt")
    factors = [" ".join(map(str, factor.ravel().tolist())) for factor in scheme.fractions()]
    return f"{n} {m} {p} {scheme.rank}\n" + "\n".join(factors) + "\n"


def _exp_sum(letter: str, row: np.ndarray, cols: int) -> str:
    """'a11-2*a23+1/2*a31' for one factor row; entry e is (row e // cols, column e % cols)."""
    parts = []
    for entry in np.flatnonzero(row):
        coefficient = row[entry]
        sign = "-" if coefficient < 0 else "+" if parts else ""
        magnitude = f"{abs(coefficient)}*" if abs(coefficient) != 1 else ""
        parts.append(f"{sign}{magnitude}{letter}{entry // cols + 1}{entry % cols + 1}")
    return "".join(parts)


def _format_exp(scheme: Scheme) -> str:
    n, m, p = _require_matmul(scheme, "exp")
    if max(n, m, p) > 9:
        raise ValueError(f"exp writes single-digit indices: ⟨{n},{m},{p}⟩ has a size above 9")
    zero = ~(scheme.u.any(axis=1) & scheme.v.any(axis=1) & scheme.w.any(axis=1))
    if zero.any():
        raise ValueError(
            f"term {int(np.argmax(zero))} has a zero factor, which exp cannot write: use canonical()"
        )
    # Columns per row of A, B and Cᵀ: m, p and n.
    lines = [
        f"({_exp_sum('a', u, m)})*({_exp_sum('b', v, p)})*({_exp_sum('c', w, n)})"
        for u, v, w in zip(*scheme.fractions(), strict=True)
    ]
    return "\n".join(lines) + "\n"


class Format(NamedTuple):
    """How to read and (optionally) write one file format."""

    extension: str
    read: Callable[[Path, Request], Raw]
    write: Callable[[Scheme], str] | None  # scheme -> file text; None: read-only


FORMATS: dict[str, Format] = {
    "gamify": Format(".json", json_reader("gamify", read_gamify), _format_gamify),
    "perminov-json": Format(".json", json_reader("perminov-json", read_perminov_json), _format_perminov_json),
    "perminov-txt": Format(".txt", read_perminov_txt, _format_perminov_txt),
    "exp": Format(".exp", read_exp, _format_exp),
    "npz": Format(".npz", read_npz, None),
}


def detect_format(path: str | os.PathLike) -> str:
    """The format of a scheme file, from its extension (and, for .json, its keys).

    Args:
      path: an existing file.

    Returns:
      A key of :data:`FORMATS`.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return json_kind(path, load_json(Path(path)))
    for name, spec in FORMATS.items():
        if spec.extension == suffix and name not in ("gamify", "perminov-json"):
            return name
    raise SchemeFormatError(path, f"unknown extension {suffix!r}: pass the format ({', '.join(FORMATS)})")


def _check_format(format: str) -> Format:
    if format not in FORMATS:
        raise ValueError(f"unknown scheme format {format!r}: use one of {', '.join(FORMATS)}")
    return FORMATS[format]


def read_scheme(
    path: str | os.PathLike,
    format: str | None = None,
    field: str | None = None,
    key: str | None = None,
    *,
    matmul: tuple[int, int, int] | None = None,
) -> Scheme:
    """Reads a scheme file exactly.

    Args:
      path: the file.
      format: a key of :data:`FORMATS`; default: detected by :func:`detect_format`.
      field: "z", "z2" or "q", overriding the file's own (see the module docstring); "z2"
        reduces integer coefficients mod 2.
      key: the entry of an .npz archive ("n,m,p"); needed when it holds several.
      matmul: (n, m, p) the scheme must be for. For ``.exp`` it also gives the sizes, which
        are otherwise the largest indices found (and a variable out of line with the others,
        such as a99 in a ⟨2,2,2⟩ file, is an error naming it).

    Returns:
      The Scheme, with ``matmul`` set when the file gives the sizes.

    Raises:
      SchemeFormatError: unreadable, malformed or truncated file, wrong shapes, a coefficient
        outside the field, a ⟨n,m,p⟩ mismatch; FractionalCoefficientError for a fraction
        where the field (asked for or declared) is "z" or "z2".
    """
    path = Path(path)
    spec = _check_format(format or detect_format(path))
    if key is not None and spec.read is not read_npz:
        raise ValueError("key only selects an entry of an .npz archive")
    if field is not None and field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}, got {field!r}")
    if matmul is not None:
        matmul = tuple(int(size) for size in matmul)
        if len(matmul) != 3 or min(matmul) < 1:
            raise ValueError(f"matmul must be three positive sizes (n, m, p), got {matmul}")
    raw = spec.read(path, Request(key, matmul))
    if matmul is not None and raw.matmul != matmul:
        found = (
            "a scheme with no ⟨n,m,p⟩" if raw.matmul is None else "a ⟨{},{},{}⟩ scheme".format(*raw.matmul)
        )
        raise SchemeFormatError(path, "holds {}, not ⟨{},{},{}⟩".format(found, *matmul))
    factors = (raw.u, raw.v, raw.w)
    fractional = [f for f in factors if is_fractional(f)]
    if fractional:
        declared = field or raw.field or "q"
        if declared != "q":
            first = first_fraction(fractional[0])
            reason = f"fractional coefficient {first} in a {declared.upper()} scheme"
            advice = "" if field else " (read it with field='q')"
            raise FractionalCoefficientError(path, reason + advice, key=key)
        try:
            return Scheme.from_fractions(*factors, matmul=raw.matmul, target=raw.target)
        except ValueError as e:
            raise SchemeFormatError(path, str(e)) from None
    outside = [int(x) for f in factors for x in f[(f != 0) & (f != 1)][:1]]
    chosen = field or raw.field or field_hint(path) or ("z" if outside else "z2")
    if chosen == "z2" and field is None and outside:
        raise SchemeFormatError(path, f"coefficient {outside[0]} outside Z2 (0 or 1) in a mod-2 scheme")
    if chosen == "z2":
        factors = tuple(f & 1 for f in factors)
    try:
        return Scheme(*factors, field=chosen, matmul=raw.matmul, target=raw.target)
    except ValueError as e:
        raise SchemeFormatError(path, str(e)) from None


def write_scheme(scheme: Scheme, path: str | os.PathLike, format: str | None = None) -> None:
    """Writes a scheme file, replacing any file at path atomically.

    Args:
      scheme: the scheme (exp and Perminov's formats need ``scheme.matmul``).
      path: where to write.
      format: a writable key of :data:`FORMATS`; default: from the extension (.json writes
        the gamify format).
    """
    path = Path(path)
    if format is None:
        by_extension = {}
        for name, spec in FORMATS.items():
            by_extension.setdefault(spec.extension, name)  # .json: gamify, listed first
        if path.suffix.lower() not in by_extension:
            raise ValueError(f"cannot tell the format from {path.name!r}: pass format ({', '.join(FORMATS)})")
        format = by_extension[path.suffix.lower()]
    atomic_write_bytes(path, format_scheme(scheme, format).encode("utf-8"))


def format_scheme(scheme: Scheme, format: str = "gamify") -> str:
    """The text of ``scheme`` in a writable format of :data:`FORMATS`: what :func:`write_scheme` writes."""
    spec = _check_format(format)
    if spec.write is None:
        raise ValueError(f"gamify reads {format} files but does not write them")
    return spec.write(scheme)


def alphatensor_schemes(field: str = "z") -> dict[str, Scheme]:
    """DeepMind's published AlphaTensor schemes, shipped with gamify (CC-BY 4.0, Fawzi et al. 2022).

    Args:
      field: "z" for ``factorizations_r.npz`` (standard arithmetic), "z2" for
        ``factorizations_f2.npz`` (mod 2).

    Returns:
      {"n,m,p": Scheme} in file order. For "z" all 93: 66 over Z and 27 over Q (recombined
      large formats with coefficients such as ±1/2 and ±1/8).
    """
    if field not in ("z", "z2"):
        raise ValueError(f"field must be 'z' (standard arithmetic) or 'z2', got {field!r}")
    name = {"z": "factorizations_r.npz", "z2": "factorizations_f2.npz"}[field]
    resource = importlib.resources.files("gamify.tensor") / "data" / "alphatensor" / name
    schemes = {}
    with importlib.resources.as_file(resource) as path:
        for key in npz_keys(path):
            schemes[key] = read_scheme(path, key=key)
    return schemes

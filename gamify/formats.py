"""Reading and writing schemes in the formats people publish them in.

=================  =========  ==========  ==================================================
format             extension  read/write  what it is
=================  =========  ==========  ==================================================
``gamify``         .json      both        ``{"format": "gamify-scheme", "version": 1, "field",
                                          "matmul": [n,m,p] or null, "shape": [I,J,K], "rank",
                                          "u", "v", "w"}``, factors as lists of rows (terms)
``perminov-json``  .json      both        Perminov's FastMatrixMultiplication repository:
                                          ``{"n": [n,m,p], "m": R, "z2": bool, "u", "v", "w"}``,
                                          one row per term (his other keys are not written)
``perminov-txt``   .txt       both        the same repository's plain text: a line
                                          ``n m p R``, then U, V, W flattened term by term
``exp``            .exp       both        Kauers–Moosbauer: one product per line,
                                          ``(a11+a23)*(b12)*(-c21+2*c33)``
``npz``            .npz       read        DeepMind's AlphaTensor ``factorizations_{r,f2}.npz``:
                                          key ``"n,m,p"`` → (U [n*m, R], V [m*p, R], W [p*n, R])
=================  =========  ==========  ==================================================

Conventions, checked against published files: every format indexes the third factor by
Cᵀ, as :mod:`gamify.scheme` does. In ``.exp``, ``c_xy`` is entry (x, y) of Cᵀ (x ≤ p,
y ≤ n), that is w index (x-1)*n + (y-1); indices are single digits, so sizes up to 9.

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
2**20 exactly (0.5, 0.125; 0.1 as the float nearest 1/10 reads as 1/10). Writers write
fractions the same way (``"1/2"`` in JSON, ``1/2*a11`` in .exp). Asking for ``field="z"``
or ``"z2"`` (or a file declaring it) with a fractional coefficient raises
:class:`FractionalCoefficientError`.
Object arrays in ``.npz`` files are unpickled by a restricted unpickler that builds numpy
arrays and nothing else, so reading a file cannot run code. Writers replace the target
file atomically. Writers do not verify: verify a scheme before publishing it.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gamify.scheme import FIELDS, Scheme

_Z2_HINTS = {"mod2", "z2", "f2"}
_Z_HINTS = {"mod0", "z", "zt", "q", "r"}


class SchemeFormatError(ValueError):
    """A scheme file that cannot be read; the message names the file and, where known, the line.

    Attributes:
      path: the file.
      reason: what is wrong, without the location.
      line: 1-based line number, or None.
      key: the .npz entry, or None.
    """

    def __init__(self, path, reason: str, line: int | None = None, key: str | None = None):
        self.path, self.reason, self.line, self.key = str(path), reason, line, key
        where = f"{path}" + (f", key {key}" if key else "") + (f", line {line}" if line else "")
        super().__init__(f"{where}: {reason}")


class FractionalCoefficientError(SchemeFormatError):
    """A non-integer coefficient where integers were asked for (field "z" or "z2")."""


class _Raw(NamedTuple):
    """What a reader found, before the field is settled and the Scheme is built."""

    u: np.ndarray  # [R, I] int64, or object (ints and Fractions) when a coefficient is fractional
    v: np.ndarray  # [R, J] likewise
    w: np.ndarray  # [R, K] likewise
    field: str | None  # the field the file declares, if it does
    matmul: tuple[int, int, int] | None


class _Request(NamedTuple):
    """What the caller of read_scheme asked for, beyond the path."""

    key: str | None  # npz entry
    matmul: tuple[int, int, int] | None  # sizes the caller expects


# --------------------------------------------------------------------------- shared parsing


_MAX_FLOAT_DENOMINATOR = 1 << 20


def _float_fraction(value: float) -> Fraction | None:
    """The fraction with denominator ≤ 2**20 whose nearest float is ``value``, or None."""
    if not np.isfinite(value):
        return None
    fraction = Fraction(value).limit_denominator(_MAX_FLOAT_DENOMINATOR)
    return fraction if float(fraction) == value else None


def _number(path, value, where: str = "", line: int | None = None) -> int | Fraction:
    """One coefficient (int, float, or a string like "-2" or "1/2"): an int, or a Fraction if not whole."""
    prefix = f"{where}: " if where else ""
    fraction = None
    if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(/[1-9]\d*)?", value.strip()):
        fraction = Fraction(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        fraction = Fraction(value)
    elif isinstance(value, float):
        fraction = _float_fraction(value)
    if fraction is None:
        raise SchemeFormatError(path, f"{prefix}{value!r} is not an integer or fractional coefficient", line)
    _int64(path, fraction.numerator, where, line)
    _int64(path, fraction.denominator, where, line)
    return fraction.numerator if fraction.denominator == 1 else fraction


def _int64(path, value: int, where: str = "", line: int | None = None) -> int:
    if not -(2**63) <= value < 2**63:
        raise SchemeFormatError(path, f"{where + ': ' if where else ''}{value} does not fit in int64", line)
    return value


def _first_fraction(factor: np.ndarray) -> Fraction:
    """The first non-integer coefficient of a factor of Fractions or floats."""
    values = factor.ravel().tolist()
    return next(Fraction(x).limit_denominator(_MAX_FLOAT_DENOMINATOR) for x in values if x != int(x))


def _factor_array(values: list, shape: tuple[int, int]) -> np.ndarray:
    """int64 when every value is an int, else an object array of ints and Fractions."""
    exact = all(isinstance(x, int) for x in values)
    return np.array(values, np.int64 if exact else object).reshape(shape)


def _positive_ints(path, value, count: int, what: str) -> tuple[int, ...]:
    if not (
        isinstance(value, list)
        and len(value) == count
        and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in value)
    ):
        raise SchemeFormatError(path, f"{what} must be {count} positive integers, got {value!r}")
    return tuple(value)


def _matrix(path, rows, num_rows: int, num_cols: int, name: str) -> np.ndarray:
    """A JSON list of num_rows lists of num_cols coefficients, as a [num_rows, num_cols] factor."""
    if not isinstance(rows, list) or len(rows) != num_rows:
        got = f"{len(rows)} rows" if isinstance(rows, list) else repr(type(rows).__name__)
        raise SchemeFormatError(path, f"{name} must be a list of {num_rows} rows (one per term), got {got}")
    for r, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != num_cols:
            size = len(row) if isinstance(row, list) else type(row).__name__
            raise SchemeFormatError(path, f"{name}[{r}] must hold {num_cols} coefficients, got {size}")
    values = [_number(path, x, f"{name}[{r}][{c}]") for r, row in enumerate(rows) for c, x in enumerate(row)]
    return _factor_array(values, (num_rows, num_cols))


def _field_hint(path: Path) -> str | None:
    """'z2' or 'z' from words in the file name (see the module docstring), else None."""
    words = set(re.split(r"[^a-z0-9]+", Path(path).name.lower()))
    z2, z = bool(words & _Z2_HINTS), bool(words & _Z_HINTS)
    return "z2" if z2 and not z else "z" if z and not z2 else None


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SchemeFormatError(path, f"not UTF-8 text (byte {e.start})") from None


def _load_json(path: Path):
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise SchemeFormatError(path, f"invalid JSON: {e.msg} (column {e.colno})", e.lineno) from None


# --------------------------------------------------------------------------- readers


def _read_gamify(path: Path, data: dict) -> _Raw:
    if data.get("version") != 1:
        raise SchemeFormatError(
            path, f"unsupported gamify-scheme version {data.get('version')!r} (expected 1)"
        )
    field = data.get("field")
    if field not in FIELDS:
        raise SchemeFormatError(path, f"field must be one of {', '.join(FIELDS)}, got {field!r}")
    shape = _positive_ints(path, data.get("shape"), 3, "shape")
    matmul = None if data.get("matmul") is None else _positive_ints(path, data["matmul"], 3, "matmul")
    rank = data.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
        raise SchemeFormatError(path, f"rank must be a non-negative integer, got {rank!r}")
    factors = [
        _matrix(path, data.get(name), rank, size, name) for name, size in zip("uvw", shape, strict=True)
    ]
    return _Raw(*factors, field, matmul)


def _read_perminov_json(path: Path, data: dict) -> _Raw:
    n, m, p = _positive_ints(path, data.get("n"), 3, '"n" (the sizes n, m, p)')
    rank = data.get("m")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
        raise SchemeFormatError(path, f'"m" (the rank) must be a non-negative integer, got {rank!r}')
    z2 = data.get("z2", False)
    if not isinstance(z2, bool):
        raise SchemeFormatError(path, f'"z2" must be true or false, got {z2!r}')
    sizes = {"u": n * m, "v": m * p, "w": p * n}
    factors = [_matrix(path, data.get(name), rank, size, name) for name, size in sizes.items()]
    exact = all(f.dtype == np.int64 for f in factors)  # "z2": false covers Z and Q
    return _Raw(*factors, "z2" if z2 else "z" if exact else "q", (n, m, p))


def _json_kind(path: Path, data) -> str:
    """'gamify' or 'perminov-json', told apart by their keys."""
    if isinstance(data, dict) and data.get("format") == "gamify-scheme":
        return "gamify"
    if isinstance(data, dict) and "n" in data and "u" in data:
        return "perminov-json"
    raise SchemeFormatError(
        path, 'JSON holds neither a gamify scheme ("format") nor a Perminov one ("n", "u")'
    )


def _json_reader(kind: str, parse: Callable[[Path, dict], _Raw]) -> Callable[[Path, _Request], _Raw]:
    """A reader for one JSON format that refuses the other one."""

    def read(path: Path, request: _Request) -> _Raw:
        data = _load_json(path)
        if _json_kind(path, data) != kind:
            raise SchemeFormatError(path, f"not a {kind} scheme file")
        return parse(path, data)

    return read


def _read_perminov_txt(path: Path, request: _Request) -> _Raw:
    tokens = [
        (token, line) for line, text in enumerate(_read_text(path).splitlines(), 1) for token in text.split()
    ]
    if len(tokens) < 4:
        raise SchemeFormatError(
            path, "truncated: expected a header 'n m p R'", tokens[-1][1] if tokens else None
        )
    header = [_number(path, token, "header", line) for token, line in tokens[:4]]
    if not all(isinstance(x, int) for x in header) or min(header[:3]) < 1 or header[3] < 0:
        raise SchemeFormatError(
            path, f"header 'n m p R' must hold positive sizes, got {header}", tokens[0][1]
        )
    n, m, p, rank = header
    sizes = (n * m, m * p, p * n)
    body = tokens[4:]
    expected = rank * sum(sizes)
    if len(body) != expected:
        found = f"found {len(body)}" + ("" if len(body) < expected else " (extra data)")
        line = body[expected][1] if len(body) > expected else body[-1][1] if body else tokens[3][1]
        raise SchemeFormatError(
            path, f"expected {expected} coefficients for ⟨{n},{m},{p}⟩ rank {rank}, {found}", line
        )
    values = _factor_array([_number(path, token, line=line) for token, line in body], (len(body),))
    bounds = np.cumsum([0, *(rank * size for size in sizes)])
    factors = [values[bounds[f] : bounds[f + 1]].reshape(rank, sizes[f]) for f in range(3)]
    return _Raw(*factors, None, (n, m, p))


_EXP_COEFFICIENT = r"(?:\d+(?:/[1-9]\d*)?\*)?"  # optional "2*" or "1/2*"
_EXP_TERM = rf"[+-]?{_EXP_COEFFICIENT}[a-z]\d\d"  # ±[coefficient*]letter row column
_EXP_FACTOR = rf"\((?:{_EXP_TERM})(?:[+-]{_EXP_COEFFICIENT}[a-z]\d\d)*\)|{_EXP_TERM}"
_EXP_LINE = re.compile(rf"({_EXP_FACTOR})\*({_EXP_FACTOR})\*({_EXP_FACTOR})")
_EXP_PARTS = re.compile(r"([+-]?)(?:(\d+(?:/\d+)?)\*)?([a-z])(\d)(\d)")
_EXP_DIMS = {"a": (0, 1), "b": (1, 2), "c": (2, 0)}  # (rows, columns) of A, B, Cᵀ among (n, m, p)


def _exp_line(path: Path, text: str, line: int) -> dict[str, dict[tuple[int, int], int | Fraction]]:
    """One product '(a11-2*a23)*b12*(c21)' -> {'a': {(1, 1): 1, (2, 3): -2}, 'b': ..., 'c': ...}."""
    match = _EXP_LINE.fullmatch(re.sub(r"\s+", "", text))
    if not match:
        raise SchemeFormatError(path, f"cannot read {text.strip()!r}: expected (a…)*(b…)*(c…)", line)
    product = {}
    for factor in match.groups():
        terms = _EXP_PARTS.findall(factor)
        letters = {letter for _, _, letter, _, _ in terms}
        if len(letters) != 1 or not letters <= set(_EXP_DIMS) or letters <= set(product):
            raise SchemeFormatError(path, f"{factor}: each product needs one factor in each of a, b, c", line)
        entries = product.setdefault(letters.pop(), {})
        for sign, coefficient, _, row, col in terms:
            if "0" in (row, col):
                raise SchemeFormatError(path, f"{factor}: indices start at 1", line)
            value = entries.get((int(row), int(col)), 0) + Fraction(sign + (coefficient or "1"))
            entries[(int(row), int(col))] = _number(path, str(value), factor, line)
    return product


def _read_exp(path: Path, request: _Request) -> _Raw:
    lines = enumerate(_read_text(path).splitlines(), 1)
    products = [(line, _exp_line(path, text, line)) for line, text in lines if text.strip()]
    if not products:
        raise SchemeFormatError(path, "no products: expected lines like (a11+a22)*(b11)*(c11-c22)")
    sizes = list(request.matmul or (1, 1, 1))
    if request.matmul is None:  # the largest indices
        for _, product in products:
            for letter, entries in product.items():
                rows, cols = _EXP_DIMS[letter]
                for row, col in entries:
                    sizes[rows], sizes[cols] = max(sizes[rows], row), max(sizes[cols], col)
    factors = {x: np.zeros((len(products), sizes[r] * sizes[c]), object) for x, (r, c) in _EXP_DIMS.items()}
    for term, (line, product) in enumerate(products):
        for letter, entries in product.items():
            rows, cols = (sizes[d] for d in _EXP_DIMS[letter])
            for (row, col), value in entries.items():
                if row > rows or col > cols:
                    raise SchemeFormatError(
                        path, "{}{}{} is outside ⟨{},{},{}⟩".format(letter, row, col, *sizes), line
                    )
                factors[letter][term, (row - 1) * cols + col - 1] = value
    u, v, w = (_factor_array(f.ravel().tolist(), f.shape) for f in factors.values())
    return _Raw(u, v, w, None, tuple(sizes))


class _NumpyOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: no pickled object can run code."""

    _RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array rebuilder, wherever it lives

    def find_class(self, module: str, name: str):
        if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
            return getattr(np, name)
        if module in {"numpy.core.multiarray", "numpy._core.multiarray"} and name == "_reconstruct":
            return self._RECONSTRUCT
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _npz_array(path: Path, key: str) -> np.ndarray:
    """One entry of an .npz archive; object arrays go through the numpy-only unpickler."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
            version = np.lib.format.read_magic(stream)
            header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = header(stream)
            if dtype.hasobject:
                return np.asarray(_NumpyOnly(stream).load())
            stream.seek(0)
            return np.lib.format.read_array(stream, allow_pickle=False)
    except Exception as e:  # corrupt data can fail in many ways inside zipfile, numpy and pickle
        raise SchemeFormatError(path, f"cannot read the array: {e}", key=key) from None


def npz_keys(path: str | os.PathLike) -> list[str]:
    """The entries of an .npz archive (for AlphaTensor's files, "n,m,p" keys), in file order.

    Args:
      path: the archive.

    Returns:
      Entry names without the ".npy" suffix.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return [name[: -len(".npy")] for name in archive.namelist() if name.endswith(".npy")]
    except zipfile.BadZipFile:
        raise SchemeFormatError(path, "not an .npz archive (not a zip file)") from None


def _read_npz(path: Path, request: _Request) -> _Raw:
    keys = npz_keys(path)
    key = request.key
    if key is None:
        if len(keys) != 1:
            listed = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
            raise SchemeFormatError(path, f"holds {len(keys)} schemes ({listed}): choose one with key")
        key = keys[0]
    key = key.replace(" ", "")
    if key not in keys:
        raise SchemeFormatError(
            path, f"no key {key!r} (keys: {', '.join(keys[:6])}{', ...' if len(keys) > 6 else ''})"
        )
    match = re.fullmatch(r"(\d+),(\d+),(\d+)", key)
    if not match:
        raise SchemeFormatError(path, f"key {key!r} is not of the form 'n,m,p'")
    n, m, p = (int(x) for x in match.groups())
    value = _npz_array(path, key)
    factors = list(value) if value.ndim in (1, 3) and len(value) == 3 else None
    expected = (n * m, m * p, p * n)
    shapes = [np.shape(f) for f in factors] if factors else [value.shape]
    if not factors or any(len(s) != 2 or s[0] != e for s, e in zip(shapes, expected, strict=True)):
        raise SchemeFormatError(
            path,
            f"expected (U, V, W) of heights {expected} for ⟨{n},{m},{p}⟩, got shapes {shapes}",
            key=key,
        )
    if len({s[1] for s in shapes}) != 1:
        raise SchemeFormatError(path, f"U, V, W have different ranks {[s[1] for s in shapes]}", key=key)
    return _Raw(*(_npz_factor(path, key, np.asarray(f)).T for f in factors), None, (n, m, p))


def _npz_factor(path: Path, key: str, factor: np.ndarray) -> np.ndarray:
    """int64 when integral; floats when every entry is k/2**20 (exact, read as such); else fractions."""
    if factor.dtype.kind in "biu":
        return factor.astype(np.int64)
    if factor.dtype.kind != "f" or not np.isfinite(factor).all():
        raise SchemeFormatError(path, f"coefficients of dtype {factor.dtype} are not numbers", key=key)
    if (factor == np.round(factor)).all():
        return factor.astype(np.int64)
    scaled = factor * float(_MAX_FLOAT_DENOMINATOR)
    if (scaled == np.round(scaled)).all():
        return factor
    values = []
    for x in factor.ravel().tolist():
        fraction = _float_fraction(x)
        if fraction is None:
            raise SchemeFormatError(
                path, f"coefficient {x!r} is not a fraction with a small denominator", key=key
            )
        values.append(fraction.numerator if fraction.denominator == 1 else fraction)
    return _factor_array(values, factor.shape)


# --------------------------------------------------------------------------- writers


def _write_atomic(path: Path, text: str) -> None:
    """Writes text to path through a temporary file and a rename: a crash leaves the old file."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


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
    read: Callable[[Path, _Request], _Raw]
    write: Callable[[Scheme], str] | None  # scheme -> file text; None: read-only


FORMATS: dict[str, Format] = {
    "gamify": Format(".json", _json_reader("gamify", _read_gamify), _format_gamify),
    "perminov-json": Format(
        ".json", _json_reader("perminov-json", _read_perminov_json), _format_perminov_json
    ),
    "perminov-txt": Format(".txt", _read_perminov_txt, _format_perminov_txt),
    "exp": Format(".exp", _read_exp, _format_exp),
    "npz": Format(".npz", _read_npz, None),
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
        return _json_kind(path, _load_json(Path(path)))
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
        are otherwise the largest indices found.

    Returns:
      The Scheme, with ``matmul`` set when the file gives the sizes.

    Raises:
      SchemeFormatError: unreadable, malformed or truncated file, wrong shapes, a coefficient
        outside the field, a ⟨n,m,p⟩ mismatch; FractionalCoefficientError for a fraction
        where the field (asked for or declared) is "z" or "z2".
    """
    path = Path(path)
    spec = _check_format(format or detect_format(path))
    if key is not None and spec.read is not _read_npz:
        raise ValueError("key only selects an entry of an .npz archive")
    if field is not None and field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}, got {field!r}")
    if matmul is not None:
        matmul = tuple(int(size) for size in matmul)
        if len(matmul) != 3 or min(matmul) < 1:
            raise ValueError(f"matmul must be three positive sizes (n, m, p), got {matmul}")
    raw = spec.read(path, _Request(key, matmul))
    if matmul is not None and raw.matmul != matmul:
        found = (
            "a scheme with no ⟨n,m,p⟩" if raw.matmul is None else "a ⟨{},{},{}⟩ scheme".format(*raw.matmul)
        )
        raise SchemeFormatError(path, "holds {}, not ⟨{},{},{}⟩".format(found, *matmul))
    factors = (raw.u, raw.v, raw.w)
    if any(f.dtype != np.int64 for f in factors):  # readers give int64 unless a coefficient is fractional
        declared = field or raw.field or "q"
        if declared != "q":
            first = next(_first_fraction(f) for f in factors if f.dtype != np.int64)
            reason = f"fractional coefficient {first} in a {declared.upper()} scheme"
            advice = "" if field else " (read it with field='q')"
            raise FractionalCoefficientError(path, reason + advice, key=key)
        try:
            return Scheme.from_fractions(*factors, matmul=raw.matmul)
        except ValueError as e:
            raise SchemeFormatError(path, str(e)) from None
    outside = [int(x) for f in factors for x in f[(f != 0) & (f != 1)][:1]]
    chosen = field or raw.field or _field_hint(path) or ("z" if outside else "z2")
    if chosen == "z2" and field is None and outside:
        raise SchemeFormatError(path, f"coefficient {outside[0]} outside Z2 (0 or 1) in a mod-2 scheme")
    if chosen == "z2":
        factors = tuple(f & 1 for f in factors)
    try:
        return Scheme(*factors, field=chosen, matmul=raw.matmul)
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
    spec = _check_format(format)
    if spec.write is None:
        raise ValueError(f"gamify reads {format} files but does not write them")
    _write_atomic(path, spec.write(scheme))


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
    resource = importlib.resources.files("gamify") / "data" / "alphatensor" / name
    schemes = {}
    with importlib.resources.as_file(resource) as path:
        for key in npz_keys(path):
            schemes[key] = read_scheme(path, key=key)
    return schemes

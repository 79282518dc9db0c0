"""Readers of the scheme formats (:mod:`gamify.tensor.formats` lists them): each turns a file
into the factors it holds, exactly, with one clear error naming the file and the line.

Object arrays in ``.npz`` files are unpickled by a restricted unpickler that builds numpy
arrays and nothing else, so reading a file cannot run code.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gamify.tensor.scheme import FIELDS

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


class Raw(NamedTuple):
    """What a reader found, before the field is settled and the Scheme is built."""

    u: np.ndarray  # [R, I] int64, or object (ints and Fractions) when a coefficient is fractional
    v: np.ndarray  # [R, J] likewise
    w: np.ndarray  # [R, K] likewise
    field: str | None  # the field the file declares, if it does
    matmul: tuple[int, int, int] | None


class Request(NamedTuple):
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


def first_fraction(factor: np.ndarray) -> Fraction:
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


def field_hint(path: Path) -> str | None:
    """'z2' or 'z' from words in the file name (see the module docstring), else None."""
    words = set(re.split(r"[^a-z0-9]+", Path(path).name.lower()))
    z2, z = bool(words & _Z2_HINTS), bool(words & _Z_HINTS)
    return "z2" if z2 and not z else "z" if z and not z2 else None


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SchemeFormatError(path, f"not UTF-8 text (byte {e.start})") from None


def load_json(path: Path):
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise SchemeFormatError(path, f"invalid JSON: {e.msg} (column {e.colno})", e.lineno) from None
    except RecursionError:  # nesting deeper than Python's stack: no scheme file looks like that
        raise SchemeFormatError(path, "invalid JSON: nested too deeply") from None


# --------------------------------------------------------------------------- readers


def read_gamify(path: Path, data: dict) -> Raw:
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
    return Raw(*factors, field, matmul)


def read_perminov_json(path: Path, data: dict) -> Raw:
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
    return Raw(*factors, "z2" if z2 else "z" if exact else "q", (n, m, p))


def json_kind(path: Path, data) -> str:
    """'gamify' or 'perminov-json', told apart by their keys."""
    if isinstance(data, dict) and data.get("format") == "gamify-scheme":
        return "gamify"
    if isinstance(data, dict) and "n" in data and "u" in data:
        return "perminov-json"
    raise SchemeFormatError(
        path, 'JSON holds neither a gamify scheme ("format") nor a Perminov one ("n", "u")'
    )


def json_reader(kind: str, parse: Callable[[Path, dict], Raw]) -> Callable[[Path, Request], Raw]:
    """A reader for one JSON format that refuses the other one."""

    def read(path: Path, request: Request) -> Raw:
        data = load_json(path)
        if json_kind(path, data) != kind:
            raise SchemeFormatError(path, f"not a {kind} scheme file")
        return parse(path, data)

    return read


def read_perminov_txt(path: Path, request: Request) -> Raw:
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
    return Raw(*factors, None, (n, m, p))


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


def read_exp(path: Path, request: Request) -> Raw:
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
    return Raw(u, v, w, None, tuple(sizes))


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


def read_npz(path: Path, request: Request) -> Raw:
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
    return Raw(*(_npz_factor(path, key, np.asarray(f)).T for f in factors), None, (n, m, p))


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

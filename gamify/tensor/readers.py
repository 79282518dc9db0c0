"""Readers of the scheme formats (:mod:`gamify.tensor.formats` lists them): each turns a file
into the factors it holds, exactly, with one clear error naming the file and the line.

Object arrays in ``.npz`` files are unpickled by a restricted unpickler that builds numpy
arrays and nothing else, so reading a file cannot run code.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import string
import zipfile
from array import array
from collections.abc import Callable
from fractions import Fraction
from itertools import repeat
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

    u: np.ndarray  # [R, I] int64, or object (Python ints, Fractions) when fractional or beyond int64
    v: np.ndarray  # [R, J] likewise
    w: np.ndarray  # [R, K] likewise
    field: str | None  # the field the file declares, if it does
    matmul: tuple[int, int, int] | None
    target: np.ndarray | None = None  # [I, J, K] int64, the tensor decomposed (gamify JSON, optional)


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
        try:
            fraction = Fraction(value.strip())
        except ValueError as e:  # beyond Python's limit on digits
            raise SchemeFormatError(path, f"{prefix}{e}", line) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        fraction = Fraction(value)
    elif isinstance(value, float):
        fraction = _float_fraction(value)
    if fraction is None:
        raise SchemeFormatError(path, f"{prefix}{value!r} is not an integer or fractional coefficient", line)
    return fraction.numerator if fraction.denominator == 1 else fraction


def is_fractional(factor: np.ndarray) -> bool:
    """Whether a factor a reader gave holds a non-integer coefficient (a Fraction or a float)."""
    return factor.dtype.kind == "f" or (
        factor.dtype == object and any(isinstance(x, Fraction) for x in factor.flat)
    )


def first_fraction(factor: np.ndarray) -> Fraction:
    """The first non-integer coefficient of a factor of Fractions or (dyadic) floats, exactly."""
    return next(x for x in map(Fraction, factor.flat) if x.denominator != 1)


def _factor_array(values: list, shape: tuple[int, ...]) -> np.ndarray:
    """int64 when every value is an int within int64, else an object array of the exact values
    (Python ints of any size and Fractions)."""
    if all(isinstance(x, int) for x in values):
        try:
            return np.array(values, np.int64).reshape(shape)
        except OverflowError:
            pass
    array = np.empty(len(values), object)
    array[:] = values
    return array.reshape(shape)


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
    return Raw(*factors, field, matmul, _target(path, data.get("target"), shape))


def _target(path: Path, entries, shape: tuple[int, int, int]) -> np.ndarray | None:
    """The optional "target" of a gamify scheme: nested lists of integers of the scheme's shape."""
    if entries is None:
        return None
    try:
        target = np.array(entries, np.int64)
    except (ValueError, TypeError, OverflowError):
        target = None
    if target is None or target.shape != shape:
        raise SchemeFormatError(path, f"target must be nested lists of integers of shape {list(shape)}")
    return target


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


# One product per line: [±][(]factor*factor*factor[)][/divisor], a factor being a sum in
# parentheses or a single term, a term [±][coefficient*]variable. A sign or a divisor outside
# the factors belongs to the whole product. A line is read with two regular expressions; one
# they do not match goes to _exp_misplaced for the reason.
_EXP_TERM = r"(?:\d+(?:/\d+)?\*)?[a-z]\d\d"  # [coefficient*]letter row column
_EXP_FACTOR = rf"\([+-]?{_EXP_TERM}(?:[+-]{_EXP_TERM})*\)|[+-]?{_EXP_TERM}"
_EXP_LINE = re.compile(  # a sign before a parenthesis, "-(", is the product's; "-a11" is a factor
    rf"(?:([+-])(?=\())?(\()?({_EXP_FACTOR})\*({_EXP_FACTOR})\*({_EXP_FACTOR})(?(2)\))(?:/(\d+))?"
)
# Within a factor _EXP_LINE has checked: (sign and numerator, denominator, row and column).
_EXP_PARTS = re.compile(r"([+-]?\d*)(?:/(\d+))?\*?[a-z](\d\d)")
_EXP_UNITS = {"": 1, "+": 1, "-": -1}  # the coefficient of a bare variable
_LOWERCASE = frozenset(string.ascii_lowercase)
_EXP_SPLIT_WORD = re.compile(r"\w\s+\w")  # "2 b21", "a1 1": not to be read as 2b21 or a11
_EXP_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_]\w*)|(\S))")  # number, word, any other character
_EXP_DIMS = {"a": (0, 1), "b": (1, 2), "c": (2, 0)}  # (rows, columns) of A, B, Cᵀ among (n, m, p)
# The two (letter, axis) that carry each size: n rows of a and columns of c, and so on.
_EXP_SIZE_SOURCES = ((("a", 0), ("c", 1)), (("a", 1), ("b", 0)), (("b", 1), ("c", 0)))


class _ExpLetter:
    """The coefficients of one letter's factors as read, flat and compact: per entry its
    ``term``, ``digits`` (row and column, as text) and ``value``. A value that is a Fraction
    or beyond int64 waits in ``exact`` as (entry, value), with 0 in ``values``."""

    def __init__(self, letter: str):
        self.letter, self.terms, self.digits, self.values = letter, array("q"), bytearray(), array("q")
        self.exact = []

    def add(self, term: int, digits: str, values: list[int | Fraction]) -> None:
        self.terms.extend(repeat(term, len(values)))
        self.digits += digits.encode()
        size = len(self.values)
        try:
            self.values.extend(values)
        except (TypeError, OverflowError):  # a Fraction, or an int beyond int64: one by one
            del self.values[size:]
            for value in values:
                if isinstance(value, Fraction) or not -(2**63) <= value < 2**63:
                    self.exact.append((len(self.values), value))
                    value = 0
                self.values.append(value)

    def index(self, axis: int) -> np.ndarray:
        """The row (axis 0) or column (axis 1) of each entry."""
        return np.frombuffer(self.digits, np.uint8)[axis::2].astype(np.int64) - ord("0")

    def indices(self, axis: int) -> set[int]:
        """The rows (axis 0) or columns (axis 1) that occur."""
        return set(np.flatnonzero(np.bincount(self.index(axis))).tolist())

    def first(self, hits: np.ndarray) -> tuple[int, str] | None:
        """(term, variable name) of the first entry where ``hits`` holds, or None."""
        if not hits.any():
            return None
        entry = int(np.argmax(hits))
        return self.terms[entry], self.letter + self.digits[2 * entry : 2 * entry + 2].decode()

    def factor(self, rank: int, rows: int, cols: int) -> np.ndarray:
        """[rank, rows*cols], a variable repeated within a factor summed: int64 when the sums
        cannot overflow and every value is an integer within int64, else exact objects."""
        flat = (
            np.frombuffer(self.terms, np.int64) * (rows * cols)
            + (self.index(0) - 1) * cols
            + self.index(1)
            - 1
        )
        values = np.frombuffer(self.values, np.int64)
        if not self.exact and np.abs(values.astype(np.float64)).sum() < 2**62:
            dense = np.zeros(rank * rows * cols, np.int64)
            np.add.at(dense, flat, values)
            return dense.reshape(rank, rows * cols)
        exact = values.astype(object)
        for entry, value in self.exact:
            exact[entry] = value
        dense = np.zeros(rank * rows * cols, object)
        if len(np.unique(flat)) == len(flat):
            dense[flat] = exact  # no repeated variable: no Python additions
            return _factor_array(dense.tolist(), (rank, rows * cols))
        np.add.at(dense, flat, exact)  # fractions may sum to integers: 1/2*a11+1/2*a11
        return _factor_array([_quotient(x, 1) for x in dense.tolist()], (rank, rows * cols))


def _quotient(value: int | Fraction, divisor: int) -> int | Fraction:
    quotient = Fraction(value, divisor)
    return quotient.numerator if quotient.denominator == 1 else quotient


def _exp_coefficient(path: Path, numerator: str, denominator: str, factor: str, line: int):
    """A coefficient in a factor with a '/': an int, or a Fraction where it is not whole."""
    value = _EXP_UNITS.get(numerator) or int(numerator)
    if not denominator:
        return value
    if int(denominator) == 0:
        raise SchemeFormatError(path, f"{factor}: division by zero", line)
    return _quotient(value, int(denominator))


def _exp_product(path: Path, text: str, line: int) -> dict[str, tuple[str, list[int | Fraction]]]:
    """One product '-(a11-2*a23)*b12*(1/2*c21)/3' -> {'a': ('1123', [-1, 2]), 'b': ('12', [1]),
    'c': ('21', [1/6])}: the row and column digits and the coefficients. A sign of the whole
    product goes to the first factor written; of a divisor, each factor in turn takes what
    keeps it integral and the last factor written the rest. Coefficients are parsed as ints;
    Fractions are built only where a '/' appears."""
    compact = "".join(text.split())
    match = _EXP_LINE.fullmatch(compact)
    if match is None or (len(compact) < len(text) and _EXP_SPLIT_WORD.search(text)):
        shown = text.strip() if len(text.strip()) <= 80 else text.strip()[:77] + "..."
        raise SchemeFormatError(path, f"cannot read {shown!r}: {_exp_misplaced(text)}", line)
    sign, _, *factors, divisor = match.groups()
    product = {}
    for factor in factors:
        letters = _LOWERCASE.intersection(factor)
        letter = min(letters)
        if len(letters) > 1 or letter in product or letter not in _EXP_DIMS:
            raise SchemeFormatError(path, f"{factor}: each product needs one factor in each of a, b, c", line)
        parts = _EXP_PARTS.findall(factor)
        if "/" in factor:
            values = [_exp_coefficient(path, n, d, factor, line) for n, d, _ in parts]
        else:
            values = [_EXP_UNITS.get(n) or int(n) for n, _, _ in parts]
        product[letter] = ("".join([part[2] for part in parts]), values)
    first, *_, last = product  # letters in the order written
    if sign == "-":
        product[first] = (product[first][0], [-value for value in product[first][1]])
    if divisor:
        rest = int(divisor)
        if rest == 0:
            raise SchemeFormatError(path, "the product is divided by zero", line)
        for letter, (digits, values) in product.items():
            if rest > 1 and all(isinstance(value, int) for value in values):
                common = math.gcd(rest, *values)
                product[letter] = (digits, [value // common for value in values])
                rest //= common
        if rest > 1:
            product[last] = (product[last][0], [_quotient(value, rest) for value in product[last][1]])
    return product


def _exp_misplaced(text: str) -> str:
    """What is out of place in a line that is not a product, in words."""
    tokens = [(m[m.lastindex], m.start(m.lastindex) + 1, m.lastindex) for m in _EXP_TOKEN.finditer(text)]
    opened, depth_zero = [], 0
    before, previous, previous_kind = "", "", 0  # kind 1: number, 2: word, 3: any other character
    for token, column, kind in tokens:
        at = f"(column {column})"
        if kind == 2 and not re.fullmatch(r"[a-z]\d\d", token):
            return (
                f"{token!r} {at} is not a variable: expected a, b or c and a one-digit row and column (a12)"
            )
        if kind == 3 and token not in "()+-*/":
            hint = ": coefficients are integers or fractions such as 1/2" if token in ".," else ""
            return f"unexpected {token!r} {at}{hint}"
        operand = kind != 3 or token == "("
        if operand and (previous_kind in (1, 2) or previous == ")"):
            if previous_kind == 1 and kind == 2:
                return f"expected '*' between the coefficient {previous} and {token} {at}"
            if previous == ")" and token == "(":
                return f"expected '*' between the factors {at}"
            return f"expected an operator between {previous!r} and {token!r} {at}"
        if previous == "/" and kind != 1:
            return f"expected a number after '/' {at}"
        if previous == "/" and int(token) == 0:
            return f"division by zero {at}"
        if previous == "*" and before.isdigit() and token == "(":
            return f"a coefficient multiplies a variable: expected one after '{before}*', not '(' {at}"
        if previous in ("", "(", "+", "-", "*") and not operand:
            if token not in ("+", "-") or previous in ("+", "-"):
                return f"expected a term, not {token!r} {at}"
        if token == "(":
            depth_zero += not opened
            opened.append(column)
        elif token == ")":
            if not opened:
                return f"unbalanced parentheses: ')' {at} closes nothing"
            opened.pop()
        elif kind == 2 and not opened:
            depth_zero += 1
        before, previous, previous_kind = previous, token, kind
    if opened:
        return f"unbalanced parentheses: '(' (column {opened[-1]}) is not closed"
    if previous_kind == 3 and previous != ")":
        return f"the line ends with {previous!r}"
    if depth_zero not in (1, 3):  # one: the whole product in parentheses
        return f"expected three factors (a…)*(b…)*(c…), found {depth_zero}"
    return "expected (a…)*(b…)*(c…): factors joined by '*', each a sum of terms such as -2*a12 or 1/2*b21"


def _exp_sizes(path: Path, letters: dict[str, _ExpLetter], lines: array) -> tuple[int, int, int]:
    """(n, m, p) from the largest indices, unless a variable is out of line with the others.

    A correct ⟨n,m,p⟩ scheme uses every a_ij, b_jk and c_ki (i ≤ n, j ≤ m, k ≤ p), so each
    size is filled without gaps by both letters that carry it (n: the rows of a and the
    columns of c; m: columns of a, rows of b; p: columns of b, rows of c). A largest index
    beyond an index that one of them lacks (a99 in a ⟨2,2,2⟩ file: no a in row 3) is most
    likely a typo, and no scheme with it is correct: an error names the first variable with
    the largest index. Variables missing within filled ranges are left to verification
    (the scheme is wrong); ``matmul=`` gives the sizes without this check.
    """
    sizes = []
    for size_name, sources in zip("nmp", _EXP_SIZE_SOURCES, strict=True):
        seen = {(letter, axis): letters[letter].indices(axis) for letter, axis in sources}
        size = max(max(indices) for indices in seen.values())
        for (letter, axis), indices in seen.items():
            gap = min(set(range(1, size + 1)) - indices, default=None)
            if gap is None:
                continue
            largest = [letters[x].first(letters[x].index(axis_) == size) for x, axis_ in sources]
            term, name = min(x for x in largest if x)
            where = ("row", "column")[axis]
            raise SchemeFormatError(
                path,
                f"{name} is out of line: it makes {size_name} = {size}, but no {letter} variable has "
                f"{where} index {gap} (a correct ⟨n,m,p⟩ scheme uses every a_ij, b_jk and c_ki); "
                "pass the sizes (matmul=) to read the file as written",
                lines[term],
            )
        sizes.append(size)
    return tuple(sizes)


def read_exp(path: Path, request: Request) -> Raw:
    """Kauers–Moosbauer's .exp: a line is read by :func:`_exp_product`, the sizes found by
    :func:`_exp_sizes` unless ``request.matmul`` gives them. While reading, a coefficient
    takes 18 bytes (term, digits, int64 value); the factors are int64 unless a coefficient
    is fractional or beyond int64."""
    letters = {letter: _ExpLetter(letter) for letter in _EXP_DIMS}
    lines = array("q")  # the file line of each term
    for line, text in enumerate(_read_text(path).splitlines(), 1):
        if text and not text.isspace():
            try:
                product = _exp_product(path, text, line)
            except SchemeFormatError:
                raise
            except ValueError as e:  # a number beyond Python's limit on digits
                raise SchemeFormatError(path, str(e), line) from None
            for letter, (digits, values) in product.items():
                letters[letter].add(len(lines), digits, values)
            lines.append(line)
    if not lines:
        raise SchemeFormatError(path, "no products: expected lines like (a11+a22)*(b11)*(c11-c22)")
    zero = [letters[x].first((letters[x].index(0) == 0) | (letters[x].index(1) == 0)) for x in _EXP_DIMS]
    if any(zero):
        term, name = min(x for x in zero if x)
        raise SchemeFormatError(path, f"{name}: indices start at 1", lines[term])
    sizes = request.matmul or _exp_sizes(path, letters, lines)
    outside = [
        letters[x].first((letters[x].index(0) > sizes[rows]) | (letters[x].index(1) > sizes[cols]))
        for x, (rows, cols) in _EXP_DIMS.items()
    ]
    if any(outside):
        term, name = min(x for x in outside if x)
        raise SchemeFormatError(path, "{} is outside ⟨{},{},{}⟩".format(name, *sizes), lines[term])
    u, v, w = (letters[x].factor(len(lines), sizes[r], sizes[c]) for x, (r, c) in _EXP_DIMS.items())
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

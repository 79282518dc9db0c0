"""Scheme files: published files, AlphaTensor's archives, round trips, bad input, `gamify verify`."""

import dataclasses
import importlib.resources
import json
import os
import re
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamify.cli.main import main
from gamify.tensor import Scheme, read_scheme, write_scheme
from gamify.tensor.formats import (
    FORMATS,
    FractionalCoefficientError,
    SchemeFormatError,
    alphatensor_schemes,
    detect_format,
    format_scheme,
    npz_keys,
)

ALPHATENSOR = importlib.resources.files("gamify.tensor") / "data" / "alphatensor"
STANDARD_NPZ = Path(str(ALPHATENSOR / "factorizations_r.npz"))
MOD2_NPZ = Path(str(ALPHATENSOR / "factorizations_f2.npz"))
WRITABLE = [name for name, spec in FORMATS.items() if spec.write]

# Published files, verbatim. Kauers–Moosbauer, github.com/jakobmoosbauer/flips, solutions/
# 223-11-mod0.exp and 226-21-mod2.exp (commits c801b27, e2fa414): c_xy is entry (x, y) of Cᵀ.
FLIPS_223_11_MOD0 = """\
(-a21)*(-b11+b13)*c12
a12*b21*(c11+c12)
(-a11+a12+a21-a22)*b12*(c21+2*c22)
(a12-a22)*(-b21+b23)*c12
(-2*a11+2*a12+a21-a22)*(b22+b23)*(c21+c22)
a11*b13*(-c11+2*c12+c31+2*c32)
a12*b23*(-c21-c22+c31+c32)
(a12-a22)*(b12+b22)*(c12-c22+c32)
(-2*a11+a21)*(b12+b13+b22+b23)*(c12+c32)
(2*a11-a12-a21+a22)*(b12+b22+b23)*(c12+c21+c22+c32)
a11*(b11+b13)*c11
"""
FLIPS_226_21_MOD2 = """\
(a21)*(b15+b16+b25+b26)*(c11+c12+c31+c32+c41+c42+c61+c62)
(a12+a22)*(b22)*(c12+c22+c42+c52+c62)
(a21)*(b11+b13+b14+b15+b16+b21+b23+b24+b25+b26)*(c11+c12+c31+c32+c41+c42+c51+c52+c61+c62)
(a12+a21)*(b11+b12+b14+b21+b24)*(c11+c12+c21+c22+c31+c42+c51+c52+c62)
(a12)*(b11+b13+b14+b16+b21+b23+b24+b26)*(c11+c12+c21+c22+c41+c42+c51+c52+c61+c62)
(a12)*(b14+b16+b24+b26)*(c11+c12+c41+c42)
(a11+a12)*(b14+b16)*(c41)
(a11+a21)*(b11)*(c11+c31+c41+c51+c61)
(a12+a22)*(b21+b25)*(c52+c62)
(a12)*(b12+b13+b16+b22+b23+b26)*(c21+c22)
(a11+a21)*(b11+b12+b15)*(c21+c41+c61)
(a21+a22)*(b21+b24+b25+b26)*(c32+c62)
(a21+a22)*(b21+b24)*(c42+c62)
(a21)*(b11+b14+b21+b24)*(c11+c12+c21+c22+c31+c32)
(a12+a22)*(b21+b22)*(c12+c42+c52+c62)
(a11+a21)*(b11+b15)*(c21+c41+c51+c61)
(a11+a12)*(b11+b13)*(c31+c41+c61)
(a12+a21)*(b14+b16+b21+b24+b25+b26)*(c11+c12+c31+c41+c42+c61)
(a11+a12)*(b12+b13+b16)*(c41+c61)
(a12+a21)*(b12+b13+b16+b23+b25+b26)*(c11+c12+c31+c41+c42+c51+c52+c61+c62)
(a21+a22)*(b21+b23+b24+b25+b26)*(c32)
"""
# Perminov, github.com/dronperminov/FastMatrixMultiplication, schemes/known/alpha_tensor/
# 2x2x2_m7_ZT.json (commit 5d6eebd): "w" indexes Cᵀ; "multiplications" and "elements" are ignored.
PERMINOV_2X2X2_ZT = """\
{
    "n": [2, 2, 2],
    "m": 7,
    "z2": false,
    "multiplications": [
        "m1 = (a21 - a22) * (b12)",
        "m2 = (a11 + a21 - a22) * (b12 + b21 + b22)",
        "m3 = (a11 - a12 + a21 - a22) * (b21 + b22)",
        "m4 = (a12) * (b21)",
        "m5 = (a11 + a21) * (b11 + b12 + b21 + b22)",
        "m6 = (a11) * (b11)",
        "m7 = (a22) * (b12 + b22)"
    ],
    "elements": [
        "c11 = m4 + m6",
        "c12 = -m1 + m2 - m3 - m4",
        "c21 = -m2 + m5 - m6 - m7",
        "c22 = m1 + m7"
    ],
    "u": [
        [0, 0, 1, -1],
        [1, 0, 1, -1],
        [1, -1, 1, -1],
        [0, 1, 0, 0],
        [1, 0, 1, 0],
        [1, 0, 0, 0],
        [0, 0, 0, 1]
    ],
    "v": [
        [0, 1, 0, 0],
        [0, 1, 1, 1],
        [0, 0, 1, 1],
        [0, 0, 1, 0],
        [1, 1, 1, 1],
        [1, 0, 0, 0],
        [0, 1, 0, 1]
    ],
    "w": [
        [0, 0, -1, 1],
        [0, -1, 1, 0],
        [0, 0, -1, 0],
        [1, 0, -1, 0],
        [0, 1, 0, 0],
        [1, -1, 0, 0],
        [0, -1, 0, 1]
    ]
}
"""


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def hint(scheme: Scheme) -> str:
    """A file-name word that tells exp and txt readers the field."""
    return "mod2" if scheme.field == "z2" else "mod0"


# --------------------------------------------------------------------------- published files


@pytest.mark.parametrize(
    "name, text, matmul, rank, field",
    [
        ("223-11-mod0.exp", FLIPS_223_11_MOD0, (2, 2, 3), 11, "z"),
        ("226-21-mod2.exp", FLIPS_226_21_MOD2, (2, 2, 6), 21, "z2"),
        ("2x2x2_m7_ZT.json", PERMINOV_2X2X2_ZT, (2, 2, 2), 7, "z"),
    ],
)
def test_published_files_read_and_verify(tmp_path, name, text, matmul, rank, field):
    scheme = read_scheme(write(tmp_path, name, text))
    assert (scheme.matmul, scheme.rank, scheme.field) == (matmul, rank, field)
    assert scheme.verify().ok
    assert scheme.to_z2().verify().ok


def test_kauers_z_scheme_with_coefficient_2_is_not_valid_mod_2_as_read_over_z(tmp_path):
    # The 226 mod-2 scheme is not an integer scheme: read over Z it fails, with the first equation.
    result = read_scheme(write(tmp_path, "226-21-mod2.exp", FLIPS_226_21_MOD2), field="z").verify()
    assert not result.ok and result.reading == "coefficient of a11*b11 in c12" and result.got == 2


@pytest.fixture(scope="module")
def standard() -> dict[str, Scheme]:
    return alphatensor_schemes("z")


@pytest.fixture(scope="module")
def modular() -> dict[str, Scheme]:
    return alphatensor_schemes("z2")


def test_alphatensor_archives_all_113_entries(standard, modular):
    keys = npz_keys(STANDARD_NPZ)
    assert len(keys) == 93 and len(npz_keys(MOD2_NPZ)) == 20
    assert list(standard) == keys and len(modular) == 20
    verified = sum(s.verify().ok for s in standard.values()) + sum(s.verify().ok for s in modular.values())
    assert verified == 113
    rational = {key for key, s in standard.items() if s.field == "q"}
    assert len(rational) == 27 and {"3,4,11", "9,9,9", "11,12,12"} <= rational
    assert all(max(s.denominators) > 1 for key, s in standard.items() if key in rational)
    assert {s.field for key, s in standard.items() if key not in rational} == {"z"}
    assert all(s.field == "z2" for s in modular.values())
    assert standard["3,9,11"].denominators == (1, 8, 8)  # DeepMind stores ±1/8 as floats: read exactly
    with pytest.raises(FractionalCoefficientError, match="fractional coefficient 1/2 in a Z scheme") as e:
        read_scheme(STANDARD_NPZ, key="3,4,11", field="z")
    assert e.value.key == "3,4,11"
    ranks = {key: (standard[key].rank, modular[key].rank) for key in ("2,2,2", "3,3,3", "4,4,4", "5,5,5")}
    assert ranks == {"2,2,2": (7, 7), "3,3,3": (23, 23), "4,4,4": (49, 47), "5,5,5": (98, 96)}


def test_mod2_schemes_are_not_integer_schemes_but_standard_ones_hold_mod_2(standard, modular):
    assert not any(read_scheme(MOD2_NPZ, key=key, field="z").verify().ok for key in modular)
    assert all(scheme.to_z2().verify().ok for key, scheme in standard.items() if key in modular)


@pytest.mark.parametrize("format", WRITABLE)
def test_real_schemes_round_trip_exactly(tmp_path, standard, modular, format):
    small = [s for s in [*standard.values(), *modular.values()] if max(s.matmul) <= 5]
    rational = sorted((s for s in standard.values() if s.field == "q"), key=lambda s: s.rank)
    small += rational[:4]  # every rational scheme is large; the smallest four keep this quick
    assert len(small) == 44 and all(s.field == "q" for s in small[-4:])
    if format == "exp":  # single-digit indices
        small = [s for s in small if max(s.matmul) <= 9]
    for scheme in small:
        name = "{}x{}x{}-{}{}".format(*scheme.matmul, hint(scheme), FORMATS[format].extension)
        path = tmp_path / name
        write_scheme(scheme, path, format)
        assert read_scheme(path) == scheme
        assert detect_format(path) == format


# --------------------------------------------------------------------------- writers


def test_written_text_in_each_format(tmp_path, standard):
    strassen_like = standard["2,2,2"]
    write_scheme(strassen_like, tmp_path / "s.exp")
    lines = (tmp_path / "s.exp").read_text().splitlines()
    assert len(lines) == 7 and all(
        re.fullmatch(r"\(a[-+*\d a]+\)\*\(b[-+*\db]+\)\*\([-+*\dc]+\)", x) for x in lines
    )
    write_scheme(strassen_like, tmp_path / "s.txt")
    header, *factors = (tmp_path / "s.txt").read_text().splitlines()
    assert header == "2 2 2 7" and [len(f.split()) for f in factors] == [28, 28, 28]
    write_scheme(strassen_like, tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert {k: data[k] for k in ("format", "version", "field", "matmul", "shape", "rank")} == {
        "format": "gamify-scheme",
        "version": 1,
        "field": "z",
        "matmul": [2, 2, 2],
        "shape": [4, 4, 4],
        "rank": 7,
    }
    assert data["u"] == strassen_like.u.tolist()
    write_scheme(strassen_like, tmp_path / "p.json", "perminov-json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert (data["n"], data["m"], data["z2"], data["w"]) == ([2, 2, 2], 7, False, strassen_like.w.tolist())


def test_exp_writes_coefficients_like_kauers(tmp_path):
    scheme = Scheme([[1, -2, 0, 1]], [[0, 0, 3, 0]], [[-1, 0, 0, 0]], matmul=(2, 2, 2))
    write_scheme(scheme, tmp_path / "one.exp")
    assert (tmp_path / "one.exp").read_text() == "(a11-2*a12+a22)*(3*b21)*(-c11)\n"


def test_fractions_are_written_exactly_in_every_format(tmp_path):
    half = Fraction(1, 2)
    scheme = Scheme.from_fractions(
        [[1, -half, 0, 1]], [[0, 0, 3, 0]], [[-Fraction(3, 4), 0, 0, 0]], (2, 2, 2)
    )
    write_scheme(scheme, tmp_path / "q.exp")
    assert (tmp_path / "q.exp").read_text() == "(a11-1/2*a12+a22)*(3*b21)*(-3/4*c11)\n"
    write_scheme(scheme, tmp_path / "q.json")
    data = json.loads((tmp_path / "q.json").read_text())
    assert data["field"] == "q" and data["u"] == [[1, "-1/2", 0, 1]] and data["w"] == [["-3/4", 0, 0, 0]]
    write_scheme(scheme, tmp_path / "q.txt")
    assert (tmp_path / "q.txt").read_text().splitlines()[1] == "1 -1/2 0 1"
    for name in ("q.exp", "q.json", "q.txt"):
        assert read_scheme(tmp_path / name, matmul=(2, 2, 2)) == scheme


@pytest.mark.parametrize(
    "scheme, name, format, message",
    [
        (Scheme([[1]], [[1]], [[1]]), "x.exp", None, "matmul="),
        (Scheme([[1]], [[1]], [[1]]), "x.txt", None, "matmul="),
        (Scheme([[1]], [[1]], [[1]]), "x.json", "perminov-json", "matmul="),
        (
            Scheme(np.ones((1, 100), int), np.ones((1, 10), int), np.ones((1, 10), int), matmul=(10, 10, 1)),
            "x.exp",
            None,
            "above 9",
        ),
        (Scheme([[0]], [[1]], [[1]], matmul=(1, 1, 1)), "x.exp", None, "zero factor"),
        (Scheme([[1]], [[1]], [[1]]), "x.npz", None, "does not write"),
        (Scheme([[1]], [[1]], [[1]]), "x.csv", None, "cannot tell the format"),
        (Scheme([[1]], [[1]], [[1]]), "x.json", "yaml", "unknown scheme format"),
    ],
)
def test_writer_errors_leave_the_old_file(tmp_path, scheme, name, format, message):
    path = write(tmp_path, name, "old")
    with pytest.raises(ValueError, match=message):
        write_scheme(scheme, path, format)
    assert path.read_text() == "old" and os.listdir(tmp_path) == [name]


# --------------------------------------------------------------------------- property tests


@st.composite
def schemes(draw):
    """Random matmul-shaped schemes with nonzero factors (so every format can hold them)."""
    field = draw(st.sampled_from(["z", "z2", "q"]))
    matmul = tuple(draw(st.integers(1, 3)) for _ in range(3))
    n, m, p = matmul
    rank = draw(st.integers(1, 5))
    coefficients = {
        "z": st.integers(-3, 3),
        "z2": st.integers(0, 1),
        "q": st.builds(Fraction, st.integers(-3, 3), st.sampled_from([1, 2, 3, 4])),
    }[field]
    factors = []
    for size in (n * m, m * p, p * n):
        factor = np.array(
            draw(st.lists(coefficients, min_size=rank * size, max_size=rank * size)), dtype=object
        ).reshape(rank, size)
        factor[~factor.astype(bool).any(axis=1), 0] = 1
        factors.append(factor)
    if field == "q":
        return Scheme.from_fractions(*factors, matmul=matmul)
    return Scheme(*(f.astype(np.int64) for f in factors), field, matmul)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(schemes(), st.sampled_from(WRITABLE))
def test_random_schemes_round_trip(scheme, format):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"scheme{FORMATS[format].extension}"
        write_scheme(scheme, path, format)
        assert read_scheme(path, format, field=scheme.field, matmul=scheme.matmul) == scheme


@settings(derandomize=True, max_examples=40, deadline=None)
@given(schemes(), st.randoms(use_true_random=False))
def test_exp_parser_takes_spacing_bare_factors_and_any_factor_order(scheme, random):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scheme.exp"
        write_scheme(scheme, path)
        lines = []
        for line in path.read_text().splitlines():
            factors = re.findall(r"\(([^()]*)\)", line)
            single = [re.fullmatch(r"[-+]?([\d/]+\*)?[abc]\d\d", f) for f in factors]  # may go bare
            factors = [
                f if bare and random.random() < 0.5 else f"({f})"
                for f, bare in zip(factors, single, strict=True)
            ]
            random.shuffle(factors)
            spaced = " * ".join(factors).replace("+", " + ").replace("-", " - ")
            lines.append(spaced if random.random() < 0.5 else spaced.replace(" ", ""))
        path.write_text("\n\n".join(lines) + "\n")
        assert read_scheme(path, field=scheme.field, matmul=scheme.matmul) == scheme


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.sampled_from(["exp", "perminov-txt"]), st.text(alphabet="abc0123456789+-*()/ \n.x", max_size=60))
def test_text_parsers_fail_only_with_scheme_format_errors(format, text):
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), "fuzz" + FORMATS[format].extension, text)
        try:
            read_scheme(path, format)
        except SchemeFormatError:
            pass


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.sampled_from(["z", "z2", "1/2", "x", 0.5]),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(
    st.sampled_from([{"format": "gamify-scheme", "version": 1}, {"n": [1, 1, 1], "u": [[1]]}]),
    st.dictionaries(
        st.sampled_from(["field", "shape", "rank", "matmul", "u", "v", "w", "n", "m", "z2"]), JSON_VALUES
    ),
)
def test_json_parsers_fail_only_with_scheme_format_errors(base, fields):
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), "fuzz.json", json.dumps({**base, **fields}))
        try:
            read_scheme(path)
        except SchemeFormatError:
            pass


# --------------------------------------------------------------------------- bad input

GAMIFY_OK = {
    "format": "gamify-scheme",
    "version": 1,
    "field": "z",
    "matmul": [1, 1, 1],
    "shape": [1, 1, 1],
    "rank": 1,
    "u": [[1]],
    "v": [[1]],
    "w": [[1]],
}
PERMINOV_OK = {"n": [1, 1, 1], "m": 1, "z2": False, "u": [[1]], "v": [[1]], "w": [[1]]}


@pytest.mark.parametrize(
    "name, content, message, line",
    [
        ("s.json", '{"format": "gamify-scheme",\n "version": 1', "invalid JSON", 2),
        ("s.json", "[1, 2]", "neither a gamify scheme", None),
        ("s.json", b"\xff\xfe{}", "not UTF-8", None),
        ("s.json", {**GAMIFY_OK, "version": 2}, "unsupported gamify-scheme version 2", None),
        ("s.json", {**GAMIFY_OK, "field": "r"}, "field must be one of", None),
        ("s.json", {**GAMIFY_OK, "shape": [1, 1]}, "shape must be 3 positive integers", None),
        ("s.json", {**GAMIFY_OK, "rank": -1}, "rank must be a non-negative integer", None),
        ("s.json", {**GAMIFY_OK, "rank": 2}, "u must be a list of 2 rows", None),
        ("s.json", {**GAMIFY_OK, "v": [[1, 0]]}, r"v\[0\] must hold 1 coefficients, got 2", None),
        ("s.json", {**GAMIFY_OK, "w": [["x"]]}, r"w\[0\]\[0\]: 'x' is not an integer or fractional", None),
        (
            "s.json",
            {**GAMIFY_OK, "w": [["1/0"]]},
            r"w\[0\]\[0\]: '1/0' is not an integer or fractional",
            None,
        ),
        ("s.json", {**GAMIFY_OK, "w": [[0.5]]}, "fractional coefficient 1/2 in a Z scheme", None),
        ("s.json", {**GAMIFY_OK, "field": "z2", "w": [[2]]}, "coefficient 2 outside Z2", None),
        ("s.json", {**GAMIFY_OK, "matmul": [1, 1, 2]}, "is not the shape", None),
        ("s.json", {**PERMINOV_OK, "n": [1, 1]}, '"n" .* must be 3 positive integers', None),
        ("s.json", {**PERMINOV_OK, "m": "7"}, '"m" .* must be a non-negative integer', None),
        ("s.json", {**PERMINOV_OK, "z2": 1}, '"z2" must be true or false', None),
        ("s.json", {**PERMINOV_OK, "u": [[1], [1]]}, "u must be a list of 1 rows", None),
        ("s.json", {**PERMINOV_OK, "z2": True, "w": [["1/2"]]}, "fractional coefficient 1/2 in a Z2", None),
        ("s.json", {**PERMINOV_OK, "z2": True, "w": [[-1]]}, "coefficient -1 outside Z2", None),
        ("s.txt", "", "truncated: expected a header", None),
        ("s.txt", "1 1\n1", "truncated: expected a header", 2),
        ("s.txt", "1 x 1 1\n1 1 1", "header: 'x' is not an integer", 1),
        ("s.txt", "1 0 1 1\n1 1 1", "must hold positive sizes", 1),
        ("s.txt", "1 1 1 2\n1 1\n1", r"expected 6 coefficients for ⟨1,1,1⟩ rank 2, found 3", 3),
        ("s.txt", "1 1 1 1\n1 1 1\n1", r"found 4 \(extra data\)", 3),
        ("s.txt", "1 1/2 1 1\n1\n1\n1", "must hold positive sizes", 1),
        ("s.txt", "1 1 1 1\n1\n1.5\n1", "'1.5' is not an integer or fractional coefficient", 3),
        ("s-mod2.txt", "1 1 1 1\n1\n-1\n1", "coefficient -1 outside Z2", None),
        ("s.exp", "\n\n", "no products", None),
        ("s.exp", "(a11)*(b11)*(c11)\n(a11)*(b11)\n", r"cannot read '\(a11\)\*\(b11\)'", 2),
        ("s.exp", "(a11+)*(b11)*(c11)", "cannot read", 1),
        ("s.exp", "(a11)(b11)*(c11)", "cannot read", 1),
        ("s.exp", "(a11+b12)*(b11)*(c11)", "one factor in each of a, b, c", 1),
        ("s.exp", "(a11)*(a12)*(c11)", "one factor in each of a, b, c", 1),
        ("s.exp", "(a11)*(b11)*(d11)", "one factor in each of a, b, c", 1),
        ("s.exp", "(a11)*(b01)*(c11)", "indices start at 1", 1),
        ("s.exp", "(1/0*a11)*(b11)*(c11)", r"\(1/0\*a11\): division by zero", 1),
        (
            "s.exp",
            "(0.5*a11)*(b11)*(c11)",
            r"cannot read .*: unexpected '\.' \(column 3\): coefficients are",
            1,
        ),
        ("s.mod2.exp", "(a11)*(b11)*(c11)\n(-a11)*(b11)*(c11)", "coefficient -1 outside Z2", None),
        ("s.csv", "1", "unknown extension '.csv'", None),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path, name, content, message, line):
    text = json.dumps(content) if isinstance(content, dict) else content
    path = write(tmp_path, name, text)
    with pytest.raises(SchemeFormatError, match=message) as error:
        read_scheme(path)
    assert error.value.line == line and str(error.value).startswith(str(path))
    assert "\n" not in str(error.value)


def test_reading_a_json_as_the_other_json_format_is_refused(tmp_path):
    path = write(tmp_path, "p.json", PERMINOV_2X2X2_ZT)
    with pytest.raises(SchemeFormatError, match="not a gamify scheme file"):
        read_scheme(path, "gamify")


def triple(*factors: np.ndarray) -> np.ndarray:
    """(U, V, W) as DeepMind stores factors of different heights: a 1-D object array."""
    value = np.empty(3, dtype=object)
    value[0], value[1], value[2] = factors
    return value


def npz(path: Path, **entries) -> Path:
    np.savez(path, **entries)
    return path


@pytest.mark.parametrize(
    "entries, key, message",
    [
        (
            {"2,2,2": np.zeros((3, 4, 7)), "2,2,3": np.zeros((3, 4, 7))},
            None,
            r"holds 2 schemes \(2,2,2, 2,2,3\): choose one",
        ),
        ({"2,2,2": np.zeros((3, 4, 7))}, "3,3,3", "no key '3,3,3'"),
        ({"two": np.zeros((3, 4, 7))}, None, "key 'two' is not of the form 'n,m,p'"),
        ({"2,2,2": np.zeros((3, 4, 6, 1))}, None, r"expected \(U, V, W\) of heights \(4, 4, 4\)"),
        (
            {"1,1,2": triple(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((2, 3)))},
            None,
            "heights",
        ),
        (
            {"1,1,1": triple(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 2)))},
            None,
            "different ranks",
        ),
        ({"1,1,1": np.full((3, 1, 1), np.pi)}, None, "not a fraction with a small denominator"),
        ({"1,1,1": np.full((3, 1, 1), np.nan)}, None, "are not numbers"),
        ({"1,1,1": np.full((3, 1, 1), "x")}, None, "are not numbers"),
    ],
)
def test_bad_npz_raise_one_clear_error(tmp_path, entries, key, message):
    path = npz(tmp_path / "bad.npz", **entries)
    with pytest.raises(SchemeFormatError, match=message):
        read_scheme(path, key=key)


def test_npz_that_is_no_zip_or_is_truncated(tmp_path):
    with pytest.raises(SchemeFormatError, match="not an .npz archive"):
        read_scheme(write(tmp_path, "x.npz", "hello"))
    good = npz(tmp_path / "good.npz", **{"1,1,1": np.ones((3, 1, 2), np.int64)}).read_bytes()
    with pytest.raises(SchemeFormatError, match="not an .npz archive|cannot read the array"):
        read_scheme(write(tmp_path, "cut.npz", good[: len(good) // 2]))
    with zipfile.ZipFile(tmp_path / "garbled.npz", "w") as archive:
        archive.writestr("1,1,1.npy", b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(SchemeFormatError, match="cannot read the array"):
        read_scheme(tmp_path / "garbled.npz")


class Exploit:
    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_npz_pickles_cannot_run_code(tmp_path):
    exploit = Exploit()
    exploit.marker = str(tmp_path / "pwned")
    payload = triple(exploit, np.zeros((1, 1)), np.zeros((1, 1)))
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive, archive.open("1,1,1.npy", "w") as stream:
        np.lib.format.write_array(stream, payload, allow_pickle=True)
    with pytest.raises(SchemeFormatError, match="refusing to unpickle"):
        read_scheme(path)
    assert not (tmp_path / "pwned").exists()


def test_field_comes_from_the_argument_the_file_name_or_the_content(tmp_path):
    binary = "(a11)*(b11)*(c11)\n"
    assert read_scheme(write(tmp_path, "s.exp", binary)).field == "z2"  # 0/1 only: the weaker claim
    assert read_scheme(write(tmp_path, "s-mod0.exp", binary)).field == "z"
    assert read_scheme(write(tmp_path, "s_Z.txt", "1 1 1 1\n1\n1\n1")).field == "z"
    assert read_scheme(write(tmp_path, "s.exp", binary), field="z").field == "z"
    assert read_scheme(write(tmp_path, "t.exp", "(2*a11)*(b11)*(c11)\n")).field == "z"
    # field="z2" reads any integer scheme mod 2, even from a file that says otherwise.
    scheme = read_scheme(write(tmp_path, "223-11-mod0.exp", FLIPS_223_11_MOD0), field="z2")
    assert scheme.field == "z2" and scheme.verify().ok and scheme.u.max() == 1
    assert (
        read_scheme(MOD2_NPZ, key="2,2,2").field == "z2"
        and read_scheme(STANDARD_NPZ, key="2,2,2").field == "z"
    )


def test_matmul_argument_gives_and_checks_the_sizes(tmp_path):
    one = write(tmp_path, "one.exp", "(a11)*(b11)*(c11)\n")
    padded = read_scheme(one, matmul=(1, 1, 2))
    assert padded.matmul == (1, 1, 2) and padded.w.tolist() == [[1, 0]]
    with pytest.raises(SchemeFormatError, match=r"b13 is outside ⟨2,2,2⟩") as error:
        read_scheme(write(tmp_path, "223-11-mod0.exp", FLIPS_223_11_MOD0), matmul=(2, 2, 2))
    assert error.value.line == 1
    perminov = write(tmp_path, "p.json", PERMINOV_2X2X2_ZT)
    with pytest.raises(SchemeFormatError, match="holds a ⟨2,2,2⟩ scheme, not ⟨2,2,3⟩"):
        read_scheme(perminov, matmul=(2, 2, 3))
    no_matmul = write(tmp_path, "g.json", json.dumps({**GAMIFY_OK, "matmul": None}))
    with pytest.raises(SchemeFormatError, match="holds a scheme with no ⟨n,m,p⟩"):
        read_scheme(no_matmul, matmul=(1, 1, 1))
    with pytest.raises(SchemeFormatError, match="holds a ⟨1,1,1⟩ scheme, not ⟨2,2,2⟩"):
        read_scheme(write(tmp_path, "o.txt", "1 1 1 1\n1\n1\n1"), matmul=(2, 2, 2))
    with pytest.raises(SchemeFormatError, match="holds a ⟨2,2,2⟩ scheme, not ⟨1,1,1⟩"):
        read_scheme(STANDARD_NPZ, key="2,2,2", matmul=(1, 1, 1))


def test_usage_errors(tmp_path):
    one = write(tmp_path, "one.exp", "(a11)*(b11)*(c11)\n")
    with pytest.raises(ValueError, match="key only selects"):
        read_scheme(one, key="1,1,1")
    with pytest.raises(ValueError, match="field must be one of"):
        read_scheme(one, field="gf3")
    with pytest.raises(ValueError, match="unknown scheme format"):
        read_scheme(one, "csv")
    with pytest.raises(ValueError, match="three positive sizes"):
        read_scheme(one, matmul=(1, 0, 1))
    with pytest.raises(FileNotFoundError):
        read_scheme(tmp_path / "missing.exp")
    with pytest.raises(ValueError, match="field must be 'z' .* or 'z2'"):
        alphatensor_schemes("q")


# --------------------------------------------------------------------------- gamify verify


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["verify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_command_ok(tmp_path, capsys):
    code, out, err = run_cli(capsys, write(tmp_path, "223-11-mod0.exp", FLIPS_223_11_MOD0))
    assert code == 0 and err == ""
    assert out == "format  exp\nshape   4x6x6 = matmul <2,2,3>\nfield   z\nrank    11\nOK\n"
    code, out, _ = run_cli(capsys, write(tmp_path, "p.json", PERMINOV_2X2X2_ZT), "--field", "z2")
    assert code == 0 and "format  perminov-json" in out and "field   z2" in out


def test_verify_command_reports_the_first_violated_equation(tmp_path, capsys, standard):
    scheme = standard["2,2,2"]
    dropped = dataclasses.replace(scheme, u=scheme.u[1:], v=scheme.v[1:], w=scheme.w[1:])
    write_scheme(dropped, tmp_path / "dropped.json")
    code, out, err = run_cli(capsys, tmp_path / "dropped.json")
    assert code == 1 and err == ""
    assert out.splitlines()[-1] == f"WRONG: {dropped.verify()}"
    equation = r"T\[\d+,\d+,\d+\] \(coefficient of a\d\d\*b\d\d in c\d\d\)"
    assert re.fullmatch(
        rf"WRONG: {equation}: got -?\d+, expected [01]; \d+ equations? violated", out.splitlines()[-1]
    )
    code, out, _ = run_cli(capsys, write(tmp_path, "226-21-mod2.exp", FLIPS_226_21_MOD2), "--field", "z")
    assert code == 1 and out.splitlines()[-1].startswith(
        "WRONG: T[0,0,2] (coefficient of a11*b11 in c12): got 2, expected 0"
    )


def test_verify_command_infers_matmul_from_the_shape(tmp_path, capsys, standard):
    write_scheme(dataclasses.replace(standard["2,2,3"], matmul=None), tmp_path / "s.json")
    code, out, _ = run_cli(capsys, tmp_path / "s.json")
    assert code == 0 and "shape   4x6x6 = matmul <2,2,3>" in out


def test_a_scheme_of_any_tensor_keeps_its_target_and_verify_uses_it(tmp_path, capsys):
    u = v = w = np.array([[1, 0, 1], [0, 1, 1]])
    target = np.einsum("ri,rj,rk->ijk", u, v, w)  # 3x3x3, not a matmul shape
    scheme = Scheme(u, v, w, "z", target=target)
    write_scheme(scheme, tmp_path / "s.json")
    again = read_scheme(tmp_path / "s.json")
    assert again == scheme and again.verify().ok and again.to_z2().target.tolist() == target.tolist()
    assert dataclasses.replace(scheme, target=target + 1) != scheme
    code, out, _ = run_cli(capsys, tmp_path / "s.json")
    assert code == 0 and "target stored in the file" in out
    write_scheme(dataclasses.replace(scheme, target=None), tmp_path / "bare.json")
    code, _, err = run_cli(capsys, tmp_path / "bare.json")
    assert code == 2 and "--tensor FILE" in err
    np.save(tmp_path / "t.npy", target)
    code, out, _ = run_cli(capsys, tmp_path / "bare.json", "--tensor", tmp_path / "t.npy")
    assert code == 0 and out.endswith("OK\n")
    np.save(tmp_path / "t2.npy", target[:2])
    code, _, err = run_cli(capsys, tmp_path / "bare.json", "--tensor", tmp_path / "t2.npy")
    assert code == 2 and "--tensor has shape (2, 3, 3)" in err
    data = json.loads((tmp_path / "s.json").read_text())
    (tmp_path / "torn.json").write_text(json.dumps({**data, "target": [[1, 2]]}))
    with pytest.raises(SchemeFormatError, match="target must be nested lists of integers of shape"):
        read_scheme(tmp_path / "torn.json")


def test_verify_command_matmul_pins_the_sizes(tmp_path, capsys):
    path = write(tmp_path, "223-11-mod0.exp", FLIPS_223_11_MOD0)
    code, out, _ = run_cli(capsys, path, "--matmul", "2,2,3")
    assert code == 0 and "matmul <2,2,3>" in out
    code, _, err = run_cli(capsys, path, "--matmul", "2,2,2")
    assert code == 2 and "2,2,2" in err
    with pytest.raises(SystemExit):
        run_cli(capsys, path, "--matmul", "2,0,2")
    assert "three positive sizes" in capsys.readouterr().err


def test_verify_command_checks_every_npz_entry(capsys):
    code, out, err = run_cli(capsys, MOD2_NPZ)
    lines = out.splitlines()
    assert code == 0 and err == "" and lines[0] == "format  npz, 20 schemes"
    assert (
        sum(line.endswith("OK") for line in lines[1:-1]) == 20 and lines[-1] == "20 OK, 0 wrong, 0 unreadable"
    )
    code, out, _ = run_cli(capsys, STANDARD_NPZ)
    lines = out.splitlines()
    assert code == 0 and lines[-1] == "93 OK, 0 wrong, 0 unreadable" and len(lines) == 95
    assert "3,4,11    q   rank 103   OK" in lines
    code, out, _ = run_cli(capsys, MOD2_NPZ, "--field", "z")
    assert code == 1 and out.splitlines()[-1] == "0 OK, 20 wrong, 0 unreadable"
    code, out, _ = run_cli(capsys, STANDARD_NPZ, "--key", "4, 4, 4")
    assert code == 0 and out.splitlines()[:4] == [
        "format  npz, key 4, 4, 4",
        "shape   16x16x16 = matmul <4,4,4>",
        "field   z",
        "rank    49",
    ]


@pytest.mark.parametrize(
    "name, content, extra, message",
    [
        ("bad.exp", "(a11)*(b11)\n", [], "bad.exp, line 1: cannot read"),
        ("missing.exp", None, [], "No such file or directory"),
        ("s.csv", "1", [], "unknown extension"),
        ("s.exp", "(a11)*(b11)*(c11)\n", ["--format", "yaml"], "unknown scheme format 'yaml'"),
        (
            "s.json",
            json.dumps(
                {
                    **GAMIFY_OK,
                    "matmul": None,
                    "shape": [2, 3, 5],
                    "u": [[1, 1]],
                    "v": [[1, 1, 1]],
                    "w": [[1] * 5],
                }
            ),
            [],
            "not a matrix-multiplication shape",
        ),
        ("r.npz", None, ["--key", "3,4,11", "--field", "z"], "key 3,4,11: fractional coefficient 1/2 in a Z"),
    ],
)
def test_verify_command_unreadable_input_is_one_line_and_exit_2(
    tmp_path, capsys, name, content, extra, message
):
    path = STANDARD_NPZ if name == "r.npz" else tmp_path / name
    if content is not None:
        write(tmp_path, name, content)
    code, out, err = run_cli(capsys, path, *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("gamify: error: ") and message in err


# --------------------------------------------------------------------------- .exp as catalogues write it

STRASSEN_EXP = """\
(a11+a22)*(b11+b22)*(c11+c22)
(a21+a22)*(b11)*(c12-c22)
(a11)*(b12-b22)*(c21+c22)
(a22)*(b21-b11)*(c11+c12)
(a11+a12)*(b22)*(-c11+c21)
(a21-a11)*(b11+b12)*(c22)
(a12-a22)*(b21+b22)*(c11)
"""
STRASSEN_LINES = STRASSEN_EXP.splitlines()


def strassen_split(divisor: int, rest: int) -> str:
    """Strassen with its first product written as 1/divisor of it plus rest/divisor of it:
    correct exactly when rest = divisor - 1."""
    return "\n".join(
        [
            f"(a11+a22)*(b11+b22)*(c11+c22)/{divisor}",
            f"({rest}*a11+{rest}*a22)*(b11+b22)*(c11+c22)/{divisor}",
            *STRASSEN_LINES[1:],
        ]
    )


def test_strassen_in_exp_verifies(tmp_path):
    scheme = read_scheme(write(tmp_path, "s.exp", STRASSEN_EXP))
    assert (scheme.matmul, scheme.rank, scheme.field) == ((2, 2, 2), 7, "z") and scheme.verify().ok


@pytest.mark.parametrize("divisor", [3, 10**18 + 9, 2**64 + 13, 10**40])
def test_a_product_divided_as_a_whole_is_read_exactly(tmp_path, capsys, divisor):
    scheme = read_scheme(write(tmp_path, "s.exp", strassen_split(divisor, divisor - 1)))
    assert scheme.field == "q" and scheme.rank == 8 and scheme.denominators == (1, 1, divisor)
    assert scheme.verify().ok
    wrong = read_scheme(write(tmp_path, "w.exp", strassen_split(divisor, divisor - 2))).verify()
    assert not wrong.ok and wrong.got == Fraction(divisor - 1, divisor) and wrong.expected == 1
    code, out, _ = run_cli(capsys, tmp_path / "s.exp")
    assert code == 0 and "field   q" in out and out.endswith("OK\n")
    code, out, _ = run_cli(capsys, tmp_path / "w.exp")
    assert code == 1 and f"got {divisor - 1}/{divisor}, expected 1" in out


def test_a_divisor_goes_first_where_it_keeps_a_factor_integral(tmp_path):
    strassen = read_scheme(write(tmp_path, "s.exp", STRASSEN_EXP))
    for first in (
        "(3*a11+3*a22)*(b11+b22)*(c11+c22)/3",
        "(2*a11+2*a22)*(3*b11+3*b22)*(c11+c22)/6",
        "(a11+a22)*(b11+b22)*(5*c11+5*c22)/5",
        "((4*a11+4*a22)*(b11+b22)*(c11+c22))/4",
        "(1/2*a11+a22+1/2*a11)*(b11+b22)*(c11+c22)",  # a repeated variable sums exactly
        f"({2**70}*a11+a22-{2**70 - 1}*a11)*(b11+b22)*(c11+c22)",
    ):
        text = "\n".join([first, *STRASSEN_LINES[1:]])
        assert read_scheme(write(tmp_path, "d.exp", text)) == strassen  # over Z: nothing left over
    half = read_scheme(
        write(tmp_path, "h.exp", "\n".join(["(a11+a22)*(2*b11+2*b22)*(c11+c22)/4", *STRASSEN_LINES[1:]]))
    )
    assert half.field == "q" and half.fractions()[2][0].tolist() == [Fraction(1, 2), 0, 0, Fraction(1, 2)]


def test_a_minus_sign_outside_a_whole_product_negates_its_first_factor(tmp_path):
    negated = [
        "-(a11+a22)*(b11+b22)*(-c11-c22)",
        "-((a21+a22)*b11*(-c12+c22))",
        "-(a11*(b12-b22)*(-c21-c22))",
        "+(a22)*(b21-b11)*(c11+c12)",
        "-(2*a11+2*a12)*(b22)*(c11-c21)/2",
    ]
    written = [
        "(-a11-a22)*(b11+b22)*(-c11-c22)",
        "(-a21-a22)*(b11)*(-c12+c22)",
        "(-a11)*(b12-b22)*(-c21-c22)",
        "(a22)*(b21-b11)*(c11+c12)",
        "(-a11-a12)*(b22)*(c11-c21)",
    ]
    scheme = read_scheme(write(tmp_path, "n.exp", "\n".join(negated + STRASSEN_LINES[5:])))
    assert scheme == read_scheme(write(tmp_path, "w.exp", "\n".join(written + STRASSEN_LINES[5:])))
    assert scheme.field == "z" and scheme.verify().ok


def test_integers_beyond_int64_are_read_and_verified_exactly(tmp_path, capsys):
    big = 2**70
    first = f"({big}*a11+{big}*a22)*(b11+b22)*(c11+c22)\n(-{big - 1}*a11-{big - 1}*a22)*(b11+b22)*(c11+c22)"
    text = "\n".join([first, *STRASSEN_LINES[1:]])
    scheme = read_scheme(write(tmp_path, "big.exp", text))
    assert scheme.field == "z" and scheme.u.dtype == object and scheme.u[0, 0] == big
    assert scheme.verify().ok and read_scheme(tmp_path / "big.exp", field="z2").verify().ok
    assert hash(scheme) == hash(read_scheme(tmp_path / "big.exp"))
    wrong = write(tmp_path, "wrong.exp", text.replace(f"{big - 1}*", f"{big - 2}*"))
    code, out, _ = run_cli(capsys, wrong)
    assert code == 1 and out.splitlines()[-1].startswith(
        "WRONG: T[0,0,0] (coefficient of a11*b11 in c11): got 2, expected 1"
    )
    # The other text formats too: JSON and Perminov's text keep every digit.
    json_file = write(
        tmp_path, "q.json", json.dumps({**GAMIFY_OK, "field": "q", "u": [[big]], "w": [[f"1/{big}"]]})
    )
    assert read_scheme(json_file).verify().ok
    with pytest.raises(FractionalCoefficientError, match=f"fractional coefficient 1/{big} in a Z scheme"):
        read_scheme(json_file, field="z")
    assert read_scheme(write(tmp_path, "b.txt", f"1 1 1 1\n{big}\n1\n1")).verify().got == big


@pytest.mark.parametrize(
    "text, reason",
    [
        ("(a11)*(2b21)*(c11)", "expected '*' between the coefficient 2 and b21 (column 9)"),
        ("(a11)*(2 b21)*(c11)", "expected '*' between the coefficient 2 and b21 (column 10)"),
        ("(a11) (b11) (c11)", "expected '*' between the factors (column 7)"),
        ("(a11+a22*(b11)*(c11)", "unbalanced parentheses: '(' (column 1) is not closed"),
        ("(a11))*(b11)*(c11)", "unbalanced parentheses: ')' (column 6) closes nothing"),
        ("(a1 1)*(b11)*(c11)", "'a1' (column 2) is not a variable"),
        ("(a1_2)*(b11)*(c11)", "'a1_2' (column 2) is not a variable"),
        ("(a11+-a12)*(b11)*(c11)", "expected a term, not '-' (column 6)"),
        ("2*(a11+a12)*(b11)*(c11)", "expected one after '2*', not '(' (column 3)"),
        ("(a11)*(b11)*(c11)*", "the line ends with '*'"),
        ("(a11)*(b11)", "expected three factors (a…)*(b…)*(c…), found 2"),
        ("(a11)*(b11)*(c11)/0", "the product is divided by zero"),
        ("(a11)*(b10)*(c11)", "b10: indices start at 1"),
    ],
)
def test_near_misses_say_what_was_expected_and_where(tmp_path, text, reason):
    path = write(tmp_path, "s.exp", STRASSEN_EXP + text + "\n")
    with pytest.raises(SchemeFormatError) as error:
        read_scheme(path)
    assert error.value.line == 8 and reason in error.value.reason and error.value.path == str(path)


@pytest.mark.parametrize(
    "extra, reason, sizes",
    [
        (
            "(a99)*(b11)*(c11)",
            "a99 is out of line: it makes n = 9, but no a variable has row index 3",
            (9, 9, 2),
        ),
        (
            "(a11)*(b13)*(c11)",
            "b13 is out of line: it makes p = 3, but no c variable has row index 3",
            (2, 2, 3),
        ),
        (
            "(a11)*(b11)*(c31)",
            "c31 is out of line: it makes p = 3, but no b variable has column index 3",
            (2, 2, 3),
        ),
    ],
)
def test_a_variable_out_of_line_with_the_others_is_named(tmp_path, extra, reason, sizes):
    path = write(tmp_path, "s.exp", STRASSEN_EXP + extra + "\n")
    with pytest.raises(SchemeFormatError) as error:
        read_scheme(path)
    assert error.value.line == 8 and error.value.reason.startswith(reason)
    with pytest.raises(SchemeFormatError, match=f"{reason.split()[0]} is outside ⟨2,2,2⟩") as error:
        read_scheme(path, matmul=(2, 2, 2))
    assert error.value.line == 8
    assert not read_scheme(path, matmul=sizes).verify().ok  # the sizes given: read as written


def test_a_missing_variable_within_the_sizes_is_left_to_verification(tmp_path):
    dropped = read_scheme(write(tmp_path, "s.exp", "\n".join(STRASSEN_LINES[:-1])))  # a12 b21 still occur
    result = dropped.verify()
    assert dropped.matmul == (2, 2, 2) and not result.ok and result.reading == "coefficient of a12*b21 in c11"


def test_a_large_integer_exp_reads_as_int64_without_fractions(tmp_path, monkeypatch):
    class NoFraction(Fraction):
        def __new__(cls, *args, **kwargs):
            raise AssertionError("a Fraction built for a file of integers")

    monkeypatch.setattr("gamify.tensor.readers.Fraction", NoFraction)
    rng = np.random.default_rng(0)
    lines = [f"(a{i}{j})*(b{j}{k})*(c{k}{i})" for i in (1, 2, 3) for j in (1, 2, 3) for k in (1, 2, 3)]
    for _ in range(5000):  # cancelling pairs of random products
        a, b, c = (
            "+".join(f"{rng.integers(1, 4)}*{x}{r}{s}" for r, s in rng.integers(1, 4, (3, 2))) for x in "abc"
        )
        lines += [f"({a})*({b})*({c})", f"-({a})*({b})*({c})"]
    scheme = read_scheme(write(tmp_path, "pairs.exp", "\n".join(lines)))
    assert scheme.rank == 10027 and scheme.u.dtype == np.int64 and scheme.verify().ok


@st.composite
def exact_schemes(draw):
    """Matmul-shaped schemes with nonzero factors and coefficients beyond int64 or fractions."""
    matmul = tuple(draw(st.integers(1, 3)) for _ in range(3))
    n, m, p = matmul
    rank = draw(st.integers(1, 4))
    integers = st.integers(-3, 3) | st.integers(-(2**80), 2**80)
    fractional = draw(st.booleans())
    coefficients = integers | st.builds(Fraction, integers, st.integers(1, 2**70)) if fractional else integers
    factors = []
    for size in (n * m, m * p, p * n):
        values = draw(st.lists(coefficients, min_size=rank * size, max_size=rank * size))
        factor = np.empty(rank * size, object)
        factor[:] = values
        factor = factor.reshape(rank, size)
        factor[~(factor != 0).any(axis=1), 0] = 1
        factors.append(factor)
    return Scheme.from_fractions(*factors, matmul=matmul) if fractional else Scheme(*factors, "z", matmul)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(exact_schemes(), st.sampled_from(WRITABLE))
def test_huge_and_fractional_schemes_round_trip(scheme, format):
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), f"scheme{FORMATS[format].extension}", format_scheme(scheme, format))
        read = read_scheme(path, format, field=scheme.field, matmul=scheme.matmul)
        assert read == scheme
        assert all(np.array_equal(a, b) for a, b in zip(read.fractions(), scheme.fractions(), strict=True))

"""Schemes as code (gamify.tensor.codegen), ``gamify bench matmul``: exact for integers, close for floats."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamify.cli.main import main
from gamify.tensor.codegen import SchemeMatmul, strassen
from gamify.tensor.flips import standard_scheme
from gamify.tensor.formats import alphatensor_schemes, write_scheme
from gamify.tensor.scheme import Scheme

# Float tolerance, relative to max(|A| @ |B|): a few levels of block sums add a few roundings
# per entry to those of the library matmul, so 1e-5 (float32) and 1e-13 (float64) are loose.
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-13}


@functools.cache
def alphatensor(key: str, field: str = "z") -> Scheme:
    return alphatensor_schemes(field)[key]


def random_ints(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-99, 100, shape, dtype=np.int64)


def test_strassen_is_the_classic_scheme():
    scheme = strassen()
    assert scheme.rank == 7 and scheme.verify().ok
    a, b = np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]])
    m1 = (a[0, 0] + a[1, 1]) * (b[0, 0] + b[1, 1])  # two terms written out, against the factors
    m7 = (a[0, 1] - a[1, 1]) * (b[1, 0] + b[1, 1])
    products = (scheme.u @ a.ravel()) * (scheme.v @ b.ravel())
    assert (products[0], products[6]) == (m1, m7)
    assert np.array_equal((scheme.w.T @ products).reshape(2, 2).T, a @ b)  # w indexes Cᵀ


@pytest.mark.parametrize(
    ("scheme", "levels", "shape"),
    [
        (strassen(), 1, (6, 4, 8)),
        (strassen(), 2, (8, 12, 4)),
        (standard_scheme(2, 3, 4), 1, (4, 6, 8)),  # the naive one, over Z2 but right over Z too
        (alphatensor("4,4,4"), 1, (8, 12, 16)),  # rank 49
        (alphatensor("2,3,4"), 2, (4, 9, 16)),  # rectangular, two levels
        (alphatensor("3,4,5"), 1, (9, 8, 10)),
    ],
    ids=["strassen", "strassen-2", "naive-234", "at-444", "at-234-2", "at-345"],
)
def test_integer_products_are_exact(scheme, levels, shape):
    rng = np.random.default_rng(0)
    rows, inner, cols = shape
    a, b = random_ints(rng, rows, inner), random_ints(rng, inner, cols)
    np.testing.assert_array_equal(SchemeMatmul(scheme, levels=levels, pad=False).numpy(a, b), a @ b)


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.tuples(*[st.integers(1, 13)] * 3),
    levels=st.integers(1, 2),
    which=st.sampled_from(["strassen", "2,3,4", "3,3,3"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_padding_gives_any_size_exactly(sizes, levels, which, seed):
    scheme = strassen() if which == "strassen" else alphatensor(which)
    rng = np.random.default_rng(seed)
    rows, inner, cols = sizes
    a, b = random_ints(rng, rows, inner), random_ints(rng, inner, cols)
    np.testing.assert_array_equal(SchemeMatmul(scheme, levels=levels).numpy(a, b), a @ b)


def test_int64_wraps_as_the_library_does():
    a = np.full((4, 4), 2**40, np.int64)  # products overflow int64; both wrap mod 2**64
    np.testing.assert_array_equal(SchemeMatmul(strassen(), levels=2).numpy(a, a), a @ a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("key", "levels"), [("2,2,2", 2), ("4,4,4", 1), ("3,4,11", 1)])
def test_float_products_within_tolerance(key, levels, dtype):
    scheme = alphatensor(key)  # 3,4,11 is over Q, with coefficients ±1/2
    n, m, p = scheme.matmul
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n * n + 1, m * m)).astype(dtype)
    b = rng.standard_normal((m * m, p + 3)).astype(dtype)
    c = SchemeMatmul(scheme, levels=levels).numpy(a, b)
    assert c.dtype == dtype and c.shape == (n * n + 1, p + 3)
    scale = (np.abs(a).astype(np.float64) @ np.abs(b)).max()
    assert np.abs(c - a.astype(np.float64) @ b).max() <= TOLERANCE[dtype] * scale


def test_leading_batch_dimensions_broadcast():
    rng = np.random.default_rng(2)
    a, b = random_ints(rng, 3, 1, 5, 6), random_ints(rng, 4, 6, 7)
    np.testing.assert_array_equal(SchemeMatmul(strassen(), levels=2).numpy(a, b), a @ b)


def test_jax_under_jit_matches_numpy_and_library():
    rng = np.random.default_rng(3)
    routine = SchemeMatmul(alphatensor("2,3,4"), levels=2)
    a, b = random_ints(rng, 5, 9).astype(np.int32), random_ints(rng, 9, 10).astype(np.int32)
    c = jax.jit(routine.jax)(a, b)  # padded to 8×9 by 9×16: whole blocks two levels deep
    assert c.dtype == jnp.int32 and c.shape == (5, 10)
    np.testing.assert_array_equal(np.asarray(c), a @ b)
    x, y = (rng.standard_normal((8, 8)).astype(np.float32) for _ in range(2))
    got = jax.jit(SchemeMatmul(strassen(), levels=3).jax)(x, y)
    np.testing.assert_allclose(np.asarray(got), x @ y, atol=1e-5 * (np.abs(x) @ np.abs(y)).max())


def test_refuses_a_wrong_scheme():
    good = strassen()
    w = good.w.copy()
    w[6, 0] = 0
    with pytest.raises(ValueError, match=r"rank-7 scheme for ⟨2,2,2⟩ does not verify over Z: T\[.*c11"):
        SchemeMatmul(dataclasses.replace(good, w=w))


def test_refuses_a_scheme_only_right_mod_2():
    z2_only = alphatensor("4,4,4", "z2")  # rank 47: a mod-2 scheme
    with pytest.raises(ValueError, match=r"rank-47 scheme for ⟨4,4,4⟩ is only correct mod 2.*lift it"):
        SchemeMatmul(z2_only)


def test_a_rational_scheme_needs_a_float_dtype():
    routine = SchemeMatmul(alphatensor("3,4,11"))
    with pytest.raises(ValueError, match="integer matrices need an integer scheme"):
        routine.numpy(np.ones((3, 4), np.int64), np.ones((4, 11), np.int64))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SchemeMatmul(strassen(), pad=False).numpy(np.ones((3, 4)), np.ones((4, 4))), "multiples of"),
        (lambda: SchemeMatmul(strassen()).numpy(np.ones((2, 3)), np.ones((2, 2))), r"\[\.\.\., N, M\]"),
        (lambda: SchemeMatmul(strassen()).numpy(np.ones((2, 2), bool), np.ones((2, 2), bool)), "dtype bool"),
        (lambda: SchemeMatmul(strassen(), levels=0), "levels must be a positive integer"),
    ],
    ids=["not-divisible", "shapes", "dtype", "levels"],
)
def test_bad_arguments_raise_one_line(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


# gamify bench matmul ------------------------------------------------------------------------


def bench(*args: str) -> int:
    return main(["bench", "matmul", *args])


def test_bench_prints_a_row_per_size_and_writes_json_and_markdown(tmp_path, capsys):
    files = ["--json", str(tmp_path / "m.json"), "--markdown", str(tmp_path / "m.md")]
    assert bench("strassen", "--sizes", "8,7", "--repeats", "2", "--backend", "numpy", *files) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("machine") and "numpy" in out[0]
    assert out[1].startswith("scheme    strassen: ⟨2,2,2⟩ rank 7 over Z, verified; 1 level: 7 block")
    assert "speed-up" in out[3] and "max abs err" in out[3]
    assert out[4].split()[0] == "8" and out[5].split()[0] == "7→8" and out[4].split()[5].endswith("×")
    assert out[6].startswith("speed-up = library time / scheme time") and "AlphaTensor" in out[7]
    record = json.loads((tmp_path / "m.json").read_text())
    assert [row["size"] for row in record["rows"]] == [8, 7] and record["scheme"]["rank"] == 7
    assert record["rows"][1]["padded_shape"] == [8, 8, 8] and record["rows"][0]["max_rel_error"] < 1e-5
    markdown = (tmp_path / "m.md").read_text()
    assert "| 7→8 |" in markdown and markdown.count("\n|") == 4


def test_bench_jax_float64_leaves_x64_off(capsys):
    assert (
        bench("alphatensor:2,2,3", "--sizes", "10", "--repeats", "2", "--dtype", "float64", "--levels", "2")
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert "jax" in out[0] and "121 block products for 144" in out[1]
    assert out[4].split()[0] == "10→12×12×18" and float(out[4].split()[-1]) < 1e-13  # float64 accuracy
    assert not jax.config.jax_enable_x64


def broken_scheme(path):
    scheme = strassen()
    write_scheme(dataclasses.replace(scheme, u=np.roll(scheme.u, 1, axis=0)), path)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown scheme 'nope'"),
        (["alphatensor:4,2,2"], "no AlphaTensor scheme for ⟨4,2,2⟩"),
        (["strassen", "--key", "2,2,2"], "--key selects an entry of an .npz file"),
        (["strassen", "--sizes", "8,0"], "--sizes must be positive integers"),
        (["strassen", "--sizes", "8,1.5"], "--sizes must be positive integers"),
        (["strassen", "--sizes", "7", "--no-pad"], "does not split into ⟨2,2,2⟩ blocks"),
        (["strassen", "--repeats", "0"], "must be positive"),
        (["{tmp}/garbage.json"], "garbage.json"),
        (["{broken}"], "rank-7 scheme for ⟨2,2,2⟩ does not verify"),
    ],
    ids=["name", "alphatensor", "key", "zero", "float", "no-pad", "repeats", "unreadable", "wrong"],
)
def test_bench_bad_input_is_one_line(tmp_path, capsys, args, message):
    (tmp_path / "garbage.json").write_text("{not json")
    broken = broken_scheme(tmp_path / "broken.json")
    args = [arg.format(tmp=tmp_path, broken=broken) for arg in args]
    assert bench(*args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gamify: error: ") and message in err

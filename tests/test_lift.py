"""Hensel lifting: the GF(2) solver and Jacobian against numpy, schemes that lift and that don't, the CLI."""

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamify.cli.main import main
from gamify.native import core as _core
from gamify.tensor import Scheme, matmul_tensor
from gamify.tensor.codegen import strassen
from gamify.tensor.flips import standard_scheme, walk
from gamify.tensor.formats import alphatensor_schemes, read_scheme
from gamify.tensor.lift import LiftError, _packed, _reconstruct, _unpacked, hensel_lift

pytestmark = pytest.mark.skipif(_core is None, reason="needs the compiled gamify._core")


def numpy_jacobian(u, v, w):
    """The reference: d/dΔu[r, i'] of equation (i, j, k) is [i = i'] v[r, j] w[r, k], and so on."""
    (rank, size_i), size_j, size_k = u.shape, v.shape[1], w.shape[1]
    rows = np.zeros((size_i, size_j, size_k, rank * (size_i + size_j + size_k)), bool)
    for r in range(rank):
        for i in range(size_i):
            rows[i, :, :, r * size_i + i] = np.outer(v[r], w[r])
        for j in range(size_j):
            rows[:, j, :, rank * size_i + r * size_j + j] = np.outer(u[r], w[r])
        for k in range(size_k):
            rows[:, :, k, rank * (size_i + size_j) + r * size_k + k] = np.outer(u[r], v[r])
    return rows.reshape(size_i * size_j * size_k, -1)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_jacobian_matches_numpy_in_any_column_order(rank, size_i, size_j, size_k, seed):
    rng = np.random.default_rng(seed)
    factors = [rng.integers(0, 2, (rank, size)).astype(np.uint8) for size in (size_i, size_j, size_k)]
    unknowns = rank * (size_i + size_j + size_k)
    column = rng.permutation(unknowns).astype(np.int64)
    got = _unpacked_rows(_core.brent_jacobian(*factors, column), unknowns)
    want = np.zeros_like(got)
    want[:, column] = numpy_jacobian(*factors)
    np.testing.assert_array_equal(got, want)


def _unpacked_rows(rows, n):
    return np.stack([_unpacked(row, n) for row in rows]).astype(bool)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.integers(1, 150), st.integers(1, 150), st.floats(0.05, 0.9), st.integers(0, 2**32 - 1))
def test_gf2_system_solves_exactly_when_solvable(num_rows, num_cols, density, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.random((num_rows, num_cols)) < density
    system = _core.Gf2System(_packed(matrix), num_cols)
    assert system.rank == gf2_rank(matrix)
    x = rng.integers(0, 2, num_cols)
    e = matrix.astype(np.int64) @ x % 2
    solution = system.solve(_packed(e.astype(bool)))
    assert solution is not None
    assert np.array_equal(matrix.astype(np.int64) @ _unpacked(solution, num_cols).astype(np.int64) % 2, e)
    # a right-hand side outside the column space (when there is one) has no solution
    if system.rank < num_rows:
        outside = e.copy()
        for row in range(num_rows):  # flip entries until the system becomes inconsistent
            outside[row] ^= 1
            if system.solve(_packed(outside.astype(bool))) is None:
                break
        else:
            pytest.fail("every right-hand side was solvable although rank < rows")


def gf2_rank(matrix):
    """Rank over GF(2) by plain row reduction (the reference)."""
    rows, rank = matrix.copy(), 0
    for col in range(rows.shape[1]):
        pivots = np.flatnonzero(rows[rank:, col])
        if pivots.size == 0:
            continue
        rows[[rank, rank + pivots[0]]] = rows[[rank + pivots[0], rank]]
        rows[(rows[:, col]) & (np.arange(len(rows)) != rank)] ^= rows[rank]
        rank += 1
        if rank == len(rows):
            break
    return rank


def test_gf2_system_on_a_small_example():
    matrix = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], bool)  # rank 3 over GF(2)
    system = _core.Gf2System(_packed(matrix), 3)
    assert system.rank == 3
    assert system.solve(_packed(np.array([1, 0, 0, 0], bool))) is None  # rows 1 + 2 + 3 = 0, e sums to 1
    x = system.solve(_packed(np.array([1, 0, 1, 0], bool)))  # consistent: e1 + e2 + e3 = 0
    assert np.array_equal(matrix.astype(int) @ _unpacked(x, 3).astype(int) % 2, [1, 0, 1, 0])


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.integers(-(2**14), 2**14), st.integers(0, 2**13).map(lambda k: 2 * k + 1))
def test_rational_reconstruction_recovers_small_fractions(numerator, denominator):
    modulus = 1 << 32
    residue = numerator * pow(denominator, -1, modulus) % modulus
    assert _reconstruct(residue, modulus) == Fraction(numerator, denominator)


def coefficients(scheme):
    return np.unique(np.concatenate([f.reshape(-1) for f in (scheme.u, scheme.v, scheme.w)]))


@pytest.mark.parametrize("key", ["2,2,2", "3,3,3", "2,3,4", "4,4,4"])
def test_alphatensor_integer_schemes_lift_back_from_mod_2(key):
    original = alphatensor_schemes("z")[key]
    lifted = hensel_lift(original.to_z2())
    assert lifted.field == "z" and lifted.rank == original.rank
    assert lifted.verify(matmul_tensor(*original.matmul)).ok
    assert set(coefficients(lifted)) <= {-1, 0, 1}
    assert lifted.to_z2() == original.to_z2()  # a lift reduces to the scheme it came from


def test_strassen_and_a_flip_walk_scheme_lift():
    assert hensel_lift(strassen().to_z2()).verify().ok
    found = walk(standard_scheme(3, 3, 3), 23, 10.0, seed=3, threads=1).scheme
    assert found.rank == 23
    lifted = hensel_lift(found)
    assert lifted.rank == 23 and lifted.verify().ok and lifted.field in ("z", "q")


def test_schemes_that_only_work_mod_2_do_not_lift():
    rank_47 = alphatensor_schemes("z2")["4,4,4"]  # AlphaTensor's ⟨4,4,4⟩: 47 only in char. 2
    assert rank_47.rank == 47 and rank_47.verify().ok
    with pytest.raises(LiftError, match="rank-47 scheme does not lift"):
        hensel_lift(rank_47)


def test_a_non_matmul_target_lifts_too():
    target = np.zeros((2, 2, 2), np.int64)
    target[0, 0, 0] = target[1, 1, 1] = 1  # e0⊗e0⊗e0 + e1⊗e1⊗e1
    # mod 2: (a0 + a1)⊗(b0 + b1)⊗(c0 + c1) + the six cross terms a_x⊗b_y⊗c_z, not x = y = z
    cross = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1) if not x == y == z]
    eye = np.eye(2, dtype=np.int64)
    u, v, w = ([np.ones(2, np.int64)] + [eye[t[f]] for t in cross] for f in range(3))
    scheme = Scheme(np.stack(u), np.stack(v), np.stack(w), field="z2")
    assert scheme.verify(target).ok
    lifted = hensel_lift(scheme, target)  # over Z: the same terms with the cross terms negated
    assert lifted.field == "z" and lifted.verify(target).ok and lifted.rank == 7


def test_bad_input_is_refused():
    naive = standard_scheme(2, 2, 2)
    broken = Scheme(naive.u[1:], naive.v[1:], naive.w[1:], field="z2", matmul=(2, 2, 2))
    with pytest.raises(ValueError, match="wrong mod 2"):
        hensel_lift(broken)
    with pytest.raises(ValueError, match="bits"):
        hensel_lift(naive, bits=1)
    with pytest.raises(ValueError, match="pass target="):
        hensel_lift(Scheme(naive.u, naive.v, naive.w, field="z2"))


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_lift_command_writes_the_lifted_scheme(tmp_path, capsys):
    source = tmp_path / "scheme.json"
    code, out, _ = run_cli(capsys, "flips", 3, 3, 3, "--target-rank", 23, "--time", "10s", "--field", "z",
                           "--threads", 1, "--out", tmp_path, "--quiet")  # fmt: skip
    assert code == 0 and "lift: rank 23 over" in out
    lifted = read_scheme(tmp_path / "scheme-z.json")
    assert lifted.rank == 23 and lifted.field in ("z", "q") and lifted.verify().ok
    assert (tmp_path / "scheme-z.exp").exists()
    code, out, _ = run_cli(capsys, "lift", source, "--out", tmp_path / "again.json")
    assert code == 0 and read_scheme(tmp_path / "again.json") == lifted
    assert json.loads((tmp_path / "again.json").read_text())["rank"] == 23


def test_lift_command_reports_a_scheme_that_does_not_lift(tmp_path, capsys):
    from gamify.tensor.formats import write_scheme

    write_scheme(alphatensor_schemes("z2")["4,4,4"], tmp_path / "at47.json")
    code, out, _ = run_cli(capsys, "lift", tmp_path / "at47.json")
    assert code == 1 and "does not lift" in out and not (tmp_path / "at47-z.json").exists()
    code, out, _ = run_cli(capsys, "improve", tmp_path / "at47.json", "--lift", "--time", "1s",
                           "--target-rank", 47, "--out", tmp_path / "improved", "--quiet")  # fmt: skip
    assert code == 1 and "does not lift" in out and "another seed" in out
    assert read_scheme(tmp_path / "improved" / "scheme.json", field="z2").rank == 47


@pytest.mark.parametrize(
    "argv, message",
    [
        (["lift", "missing.json"], "No such file"),
        (["lift", "{scheme}", "--bits", "80"], "--bits must be in"),
    ],
)
def test_lift_bad_input_is_one_line(capsys, tmp_path, argv, message):
    from gamify.tensor.formats import write_scheme

    write_scheme(standard_scheme(2, 2, 2), tmp_path / "s.json")
    code, _, err = run_cli(capsys, *(a.format(scheme=tmp_path / "s.json") for a in argv))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1

"""The Scheme type: validation, exact reconstruction and verification, canonical form."""

import dataclasses
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamify.tensor import Scheme, matmul_tensor
from gamify.tensor.matmul import brent_reading, matmul_sizes
from gamify.tensor.scheme import Verification

# Strassen (1969) in gamify's convention: u indexes (a11, a12, a21, a22), v (b11, b12, b21,
# b22) and w indexes Cᵀ row-major, (c11, c21, c12, c22).
STRASSEN_U = [  # M1 = (a11 + a22)(b11 + b22), M2 = (a21 + a22) b11, M3 = a11 (b12 - b22),
    [1, 0, 0, 1],  # M4 = a22 (b21 - b11), M5 = (a11 + a12) b22,
    [0, 0, 1, 1],  # M6 = (a21 - a11)(b11 + b12), M7 = (a12 - a22)(b21 + b22)
    [1, 0, 0, 0],
    [0, 0, 0, 1],
    [1, 1, 0, 0],
    [-1, 0, 1, 0],
    [0, 1, 0, -1],
]
STRASSEN_V = [
    [1, 0, 0, 1],
    [1, 0, 0, 0],
    [0, 1, 0, -1],
    [-1, 0, 1, 0],
    [0, 0, 0, 1],
    [1, 1, 0, 0],
    [0, 0, 1, 1],
]
STRASSEN_W = [  # c11 = M1 + M4 - M5 + M7, c12 = M3 + M5, c21 = M2 + M4, c22 = M1 - M2 + M3 + M6
    [1, 0, 0, 1],
    [0, 1, 0, -1],
    [0, 0, 1, 1],
    [1, 1, 0, 0],
    [-1, 0, 1, 0],
    [0, 0, 0, 1],
    [1, 0, 0, 0],
]


def strassen(field: str = "z") -> Scheme:
    scheme = Scheme(STRASSEN_U, STRASSEN_V, STRASSEN_W, matmul=(2, 2, 2))
    return scheme.to_z2() if field == "z2" else scheme


@pytest.mark.parametrize("field", ["z", "z2"])
def test_strassen_verifies(field):
    scheme = strassen(field)
    assert (scheme.rank, scheme.shape, scheme.field) == (7, (4, 4, 4), field)
    result = scheme.verify()
    assert result.ok and result.num_violated == 0 and str(result) == "OK"
    assert np.array_equal(scheme.tensor(), matmul_tensor(2, 2, 2))


def test_naive_scheme_of_any_shape_verifies():
    n, m, p = 2, 3, 4
    terms = [(i, j, k) for i in range(n) for j in range(m) for k in range(p)]
    u, v, w = (np.zeros((len(terms), size), np.int64) for size in (n * m, m * p, p * n))
    for r, (i, j, k) in enumerate(terms):
        u[r, i * m + j], v[r, j * p + k], w[r, k * n + i] = 1, 1, 1
    assert Scheme(u, v, w, matmul=(n, m, p)).verify().ok


@pytest.mark.parametrize("field", ["z", "z2"])
def test_flipped_coefficient_reports_the_first_violated_equation(field):
    u = strassen(field).u.copy()
    u[0, 0] = 0  # M1 = a22 (b11 + b22): a11*b11 and a11*b22 go missing from c11 and c22
    result = dataclasses.replace(strassen(field), u=u).verify()
    assert not result.ok
    assert (result.index, result.got, result.expected, result.num_violated) == ((0, 0, 0), 0, 1, 4)
    assert result.reading == "coefficient of a11*b11 in c11"
    assert str(result) == "T[0,0,0] (coefficient of a11*b11 in c11): got 0, expected 1; 4 equations violated"


@pytest.mark.parametrize("field", ["z", "z2"])
def test_dropped_term_reports_the_first_violated_equation(field):
    scheme = strassen(field)
    result = Scheme(scheme.u[:6], scheme.v[:6], scheme.w[:6], field, (2, 2, 2)).verify()  # without M7
    assert not result.ok
    assert (result.index, result.got, result.expected, result.num_violated) == ((1, 2, 0), 0, 1, 4)
    assert result.reading == "coefficient of a12*b21 in c11"


def test_verify_against_an_explicit_target_and_without_one():
    scheme = Scheme([[1, 2]], [[1]], [[1]])
    target = np.array([[[1]], [[2]]])
    assert scheme.verify(target).ok
    wrong = scheme.verify(target * 2)
    assert (wrong.index, wrong.got, wrong.expected, wrong.reading) == ((0, 0, 0), 1, 2, None)
    assert str(wrong) == "T[0,0,0]: got 1, expected 2; 2 equations violated"
    with pytest.raises(ValueError, match="nothing to verify against"):
        scheme.verify()
    with pytest.raises(ValueError, match="target shape"):
        scheme.verify(np.zeros((1, 1, 1), int))
    with pytest.raises(ValueError, match="integers"):
        scheme.verify(target.astype(float))


def test_z2_arithmetic_is_xor_and():
    # Two equal terms cancel mod 2; over Z they add up to 2.
    u, v, w = [[1], [1]], [[1], [1]], [[1], [1]]
    assert Scheme(u, v, w, "z2").tensor().tolist() == [[[0]]]
    assert Scheme(u, v, w, "z").tensor().tolist() == [[[2]]]
    assert Scheme(u, v, w, "z2").verify(np.zeros((1, 1, 1), int)).ok
    assert Scheme(u, v, w, "z2").verify(np.full((1, 1, 1), 2)).ok  # the target is reduced mod 2 too


def test_to_z2_reduces_mod_2_and_keeps_validity():
    scheme = Scheme([[3, -1, -2]], [[1]], [[1]], matmul=None)
    assert scheme.to_z2().u.tolist() == [[1, 1, 0]] and scheme.to_z2().field == "z2"
    assert strassen().to_z2() == strassen("z2") and strassen("z2").to_z2() == strassen("z2")


def test_exact_with_large_coefficients():
    big = 2**28  # partial sums beyond 2**53: the int64 path
    scheme = Scheme([[big, 1]], [[big]], [[3]])
    assert scheme.tensor().tolist() == [[[3 * big * big]], [[3 * big]]]
    with pytest.raises(ValueError, match="too large"):
        Scheme([[2**62]], [[2**62]], [[4]]).tensor()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"u": [[0.5]]}, "must hold integers"),
        ({"u": [1, 0]}, "2-D array"),
        ({"u": np.zeros((1, 0), int)}, "2-D array"),
        ({"v": [[1], [1]]}, "one row per term"),
        ({"field": "r"}, "field must be one of"),
        ({"field": "z2", "w": [[2]]}, "holds only 0 and 1"),
        ({"matmul": (1, 1, 2)}, "is not the shape"),
        ({"matmul": (1, 1)}, "three positive integers"),
        ({"matmul": 1}, "three positive integers"),
        ({"u": np.array([[2**63]], np.uint64)}, "too large"),
    ],
)
def test_constructor_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scheme(**{"u": [[1]], "v": [[1]], "w": [[1]], **kwargs})


def test_scheme_is_immutable_and_hashable():
    scheme = strassen()
    with pytest.raises(dataclasses.FrozenInstanceError):
        scheme.field = "z2"
    with pytest.raises(ValueError):
        scheme.u[0, 0] = 5
    assert scheme == strassen() and hash(scheme) == hash(strassen())
    assert scheme != strassen("z2") and scheme != dataclasses.replace(scheme, matmul=None)
    assert (
        scheme.u.dtype == np.int64
        and repr(scheme) == "Scheme(field='z', matmul=(2, 2, 2), shape=(4, 4, 4), rank=7)"
    )


def test_matmul_sizes_inverts_the_shape():
    for n in range(1, 7):
        for m in range(1, 7):
            for p in range(1, 7):
                assert matmul_sizes((n * m, m * p, p * n)) == (n, m, p)
    assert matmul_sizes((4, 4, 5)) is None and matmul_sizes((2, 3, 5)) is None


def test_brent_reading_of_two_digit_indices():
    assert (
        brent_reading((10, 10, 10), (9 * 10 + 9, 9 * 10, 9)) == "coefficient of a[10,10]*b[10,1] in c[10,1]"
    )
    assert Verification(ok=True).reading is None


# --------------------------------------------------------------------------- rational schemes


def test_rational_scheme_is_exact_and_in_lowest_terms():
    # Strassen with one term rescaled: (2u) ⊗ (v/2) ⊗ w is the same product.
    u, v, w = (np.array(f, dtype=object) for f in (STRASSEN_U, STRASSEN_V, STRASSEN_W))
    u[0], v[0] = u[0] * 2, v[0] * Fraction(1, 2)
    scheme = Scheme.from_fractions(u, v, w, matmul=(2, 2, 2))
    assert scheme.field == "q" and scheme.denominators == (1, 2, 1) and scheme.verify().ok
    assert scheme.tensor().tolist() == matmul_tensor(2, 2, 2).tolist()
    same = Scheme(scheme.u * 3, scheme.v * 5, scheme.w, "q", (2, 2, 2), denominators=(3, 10, 1))
    assert same == scheme and hash(same) == hash(scheme)  # stored in lowest terms
    assert Scheme.from_fractions(STRASSEN_U, STRASSEN_V, STRASSEN_W, matmul=(2, 2, 2)).denominators == (
        1,
        1,
        1,
    )
    v[0] = v[0] * Fraction(2, 3)  # now term 0 is off by a factor 2/3
    wrong = Scheme.from_fractions(u, v, w, matmul=(2, 2, 2)).verify()
    assert not wrong.ok and isinstance(wrong.got, Fraction) and wrong.got.denominator == 3
    assert f"got {wrong.got}, expected {wrong.expected}" in str(wrong)


def test_rational_scheme_canonical_form_and_no_reduction_mod_2():
    half = Fraction(1, 2)
    scheme = Scheme.from_fractions([[half], [-half]], [[1], [-1]], [[1], [3]])  # 1/2 + 3/2 = 2
    canonical = scheme.canonical()
    assert (
        canonical.rank == 1 and canonical.tensor().tolist() == [[[2]]] and canonical.canonical() == canonical
    )
    with pytest.raises(ValueError, match="no reduction mod 2"):
        scheme.to_z2()
    assert Scheme([[1]], [[2]], [[3]], "q").to_z2() == Scheme([[1]], [[0]], [[1]], "z2")
    with pytest.raises(ValueError, match="only a Q scheme has denominators"):
        Scheme([[1]], [[1]], [[1]], "z", denominators=(2, 1, 1))
    with pytest.raises(ValueError, match="three positive integers"):
        Scheme([[1]], [[1]], [[1]], "q", denominators=(0, 1, 1))
    with pytest.raises(ValueError, match="integers or fractions"):
        Scheme.from_fractions([["x"]], [[1]], [[1]])


# --------------------------------------------------------------------------- canonical form


@st.composite
def schemes(draw):
    field = draw(st.sampled_from(["z", "z2", "q"]))
    n, m, p = (draw(st.integers(1, 3)) for _ in range(3))
    rank = draw(st.integers(0, 6))
    coefficients = st.integers(0, 1) if field == "z2" else st.integers(-2, 2)
    factors = [
        np.array(draw(st.lists(coefficients, min_size=rank * size, max_size=rank * size)), np.int64).reshape(
            rank, size
        )
        for size in (n * m, m * p, p * n)
    ]
    denominators = tuple(draw(st.integers(1, 4)) for _ in range(3)) if field == "q" else (1, 1, 1)
    return Scheme(*factors, field, (n, m, p), denominators)


def equivalent_twin(scheme: Scheme, random) -> Scheme:
    """The scheme after the moves canonical() removes: shuffle, sign flips, a split, a zero term."""
    order = random.sample(range(scheme.rank), scheme.rank)
    u, v, w = (factor[order] for factor in (scheme.u, scheme.v, scheme.w))
    if scheme.field != "z2" and scheme.rank:
        signs = np.array([random.choice([(1, 1, 1), (-1, -1, 1), (-1, 1, -1), (1, -1, -1)]) for _ in order])
        u, v, w = u * signs[:, :1], v * signs[:, 1:2], w * signs[:, 2:]
    if scheme.rank:  # split the first term: (u, v, w) = (u, v, w - part) + (u, v, part)
        part = w[0] * np.array([random.randint(0, 1) for _ in range(w.shape[1])])
        u, v, w = np.vstack([u, u[:1]]), np.vstack([v, v[:1]]), np.vstack([w, part])
        w[0] -= part
    rows_a, rows_b, rows_c = scheme.shape
    u = np.vstack([u, np.zeros((1, rows_a), np.int64)])  # a zero term
    v, w = np.vstack([v, np.ones((1, rows_b), np.int64)]), np.vstack([w, np.ones((1, rows_c), np.int64)])
    return Scheme(u, v, w, scheme.field, scheme.matmul, scheme.denominators)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(schemes(), st.randoms(use_true_random=False))
def test_canonical_removes_exactly_the_documented_equivalences(scheme, random):
    canonical = scheme.canonical()
    assert np.array_equal(canonical.tensor(), scheme.tensor())
    assert canonical.rank <= scheme.rank and canonical.canonical() == canonical
    assert equivalent_twin(scheme, random).canonical() == canonical


def test_canonical_of_strassen_is_sorted_and_sign_normalised():
    canonical = strassen().canonical()
    assert canonical.rank == 7 and canonical.verify().ok
    rows = np.concatenate([canonical.u, canonical.v, canonical.w], axis=1).tolist()
    assert rows == sorted(rows)
    for factor in (canonical.u, canonical.v):
        assert all(row[np.flatnonzero(row)[0]] > 0 for row in factor)


def test_canonical_merges_terms_sharing_u_and_v():
    scheme = Scheme([[1], [-1], [1]], [[1], [-1], [1]], [[1, 0], [0, 1], [0, -1]])
    assert scheme.canonical() == Scheme([[1]], [[1]], [[1, 0]])  # (u, v, w) + (u, v, w') merged
    assert Scheme([[1], [1]], [[1], [1]], [[1], [1]], "z2").canonical().rank == 0  # cancel mod 2


# --------------------------------------------------------------------------- large matmul targets


def _strassen_like_variants():
    """Strassen over Z, Z2 and Q (one term rescaled), each right and with one coefficient off."""
    z = Scheme(STRASSEN_U, STRASSEN_V, STRASSEN_W, "z", (2, 2, 2))
    u, v = np.array(STRASSEN_U, object), np.array(STRASSEN_V, object)
    u[0], v[0] = u[0] * 3, v[0] * Fraction(1, 3)
    q = Scheme.from_fractions(u, v, STRASSEN_W, matmul=(2, 2, 2))
    for scheme in (z, z.to_z2(), q):
        yield scheme
        bad = scheme.u.copy()
        bad[3, 1] += 1
        yield dataclasses.replace(scheme, u=bad)


@pytest.mark.parametrize("scheme", list(_strassen_like_variants()), ids=lambda s: s.field)
def test_slice_by_slice_verification_matches_the_dense_check(scheme, monkeypatch):
    dense = scheme.verify()
    monkeypatch.setattr("gamify.tensor.scheme._DENSE_ENTRIES", 0)  # force the sliced path
    assert scheme.verify() == dense


def test_a_huge_claimed_format_verifies_without_building_its_tensor():
    import tracemalloc

    empty = np.zeros((0, 625), np.int64)
    tracemalloc.start()
    result = Scheme(empty, empty, empty, "z2", (25, 25, 25)).verify()  # dense: 244 M entries
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not result.ok and result.num_violated == 25**3 and result.expected == 1
    assert peak < 64 * 2**20
    empty = np.zeros((0, 70 * 70), np.int64)
    with pytest.raises(ValueError, match="too many to check"):
        Scheme(empty, empty, empty, "z2", (70, 70, 70)).verify()

"""gamify.native: the compiled gf2_rank agrees with the numpy reference; bad input is rejected."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gamify import native


def _rows(matrix: list[list[int]]) -> np.ndarray:
    """Packs a 0/1 matrix (list of rows, column c = bit c) into uint64 words."""
    return np.array([sum(bit << c for c, bit in enumerate(row)) for row in matrix], dtype=np.uint64)


def _both(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return native.gf2_rank(rows), native.numpy_gf2_rank(rows)


def test_extension_is_built_and_installed_package_is_imported():
    # Fails when the tests import the source tree instead of the installed wheel.
    assert native.available(), native._import_error
    import gamify.games  # noqa: F401  (mapped from top-level games/ at install time)


@pytest.mark.parametrize("n", [1, 2, 7, 63, 64])
def test_identity_has_full_rank(n):
    rows = (np.uint64(1) << np.arange(n, dtype=np.uint64))[None, :]
    for ranks in _both(rows):
        np.testing.assert_array_equal(ranks, [n])
        assert ranks.dtype == np.int32


def test_known_cases():
    rows = np.stack(
        [
            np.zeros(4, dtype=np.uint64),  # zero matrix
            _rows([[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 0]]),  # duplicated rows
            _rows([[1, 1, 0], [0, 1, 1], [1, 0, 1], [0, 0, 0]]),  # row3 = row1 ^ row2
            np.full(4, np.iinfo(np.uint64).max, dtype=np.uint64),  # all ones
            _rows([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]),  # triangular
        ]
    )
    for ranks in _both(rows):
        np.testing.assert_array_equal(ranks, [0, 2, 2, 1, 4])


def test_more_rows_than_columns_rank_is_at_most_64():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 2**64, size=(3, 100), dtype=np.uint64)
    for ranks in _both(rows):
        np.testing.assert_array_equal(ranks, [64, 64, 64])


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (0, 0)])
def test_empty(shape):
    for ranks in _both(np.zeros(shape, dtype=np.uint64)):
        np.testing.assert_array_equal(ranks, np.zeros(shape[0], dtype=np.int32))
        assert ranks.dtype == np.int32


# Words with few set bits make dependent rows (and small ranks) common.
_sparse_words = st.integers(0, 63).map(lambda c: 1 << c) | st.integers(0, 2**64 - 1) | st.just(0)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(hnp.arrays(np.uint64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=40), elements=_sparse_words))
def test_native_matches_numpy_reference(rows):
    native_ranks, numpy_ranks = _both(rows)
    np.testing.assert_array_equal(native_ranks, numpy_ranks)
    assert np.all(numpy_ranks <= min(rows.shape[1], 64))


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_rank_is_invariant_under_row_operations(num_rows, seed):
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 2**64, size=(1, num_rows), dtype=np.uint64)
    mixed = rows.copy()
    i, j = rng.integers(0, num_rows, size=2)
    if i != j:
        mixed[0, i] ^= mixed[0, j]  # adding one row to another keeps the rank
    mixed = mixed[:, rng.permutation(num_rows)]
    np.testing.assert_array_equal(native.gf2_rank(rows), native.gf2_rank(mixed))


def test_non_contiguous_input_is_copied():
    rows = np.arange(48, dtype=np.uint64).reshape(6, 8)
    view = rows[::2, ::3]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(native.gf2_rank(view), native.gf2_rank(view.copy()))
    np.testing.assert_array_equal(native.gf2_rank(rows.T), native.numpy_gf2_rank(rows.T))


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((2, 3), dtype=np.int64), TypeError, "dtype uint64"),
        (np.zeros((2, 3), dtype=np.uint32), TypeError, "dtype uint64"),
        ([[1, 2], [3, 4]], TypeError, "numpy array"),
        (np.zeros(3, dtype=np.uint64), ValueError, "2-D"),
        (np.zeros((2, 3, 4), dtype=np.uint64), ValueError, "2-D"),
    ],
)
@pytest.mark.parametrize("fn", [native.gf2_rank, native.numpy_gf2_rank])
def test_bad_input_gives_clear_error(fn, bad, error, match):
    with pytest.raises(error, match=match):
        fn(bad)


def test_fallback_warns_once_and_matches(monkeypatch):
    rows = np.random.default_rng(1).integers(0, 2**64, size=(5, 10), dtype=np.uint64)
    expected = native.numpy_gf2_rank(rows)
    monkeypatch.setattr(native, "_core", None)
    monkeypatch.setattr(native, "_warned", False)
    with pytest.warns(RuntimeWarning, match="gamify._core is not available"):
        np.testing.assert_array_equal(native.gf2_rank(rows), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(native.gf2_rank(rows), expected)
    assert not native.available()

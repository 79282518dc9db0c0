"""gamify.native: compiled kernels agree with their references (numpy, JAX) exactly; bad input is rejected."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gamify
from gamify import native
from gamify.games.tensor_decomposition import TensorDecomposition
from gamify.tensor import Scheme, kernels, matmul_tensor, numba_bound
from gamify.tensor.bound import slice_rank_bound


def _rows(matrix: list[list[int]]) -> np.ndarray:
    """Packs a 0/1 matrix (list of rows, column c = bit c) into uint64 words."""
    return np.array([sum(bit << c for c, bit in enumerate(row)) for row in matrix], dtype=np.uint64)


def _both(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return kernels.gf2_rank(rows), kernels.numpy_gf2_rank(rows)


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
    np.testing.assert_array_equal(kernels.gf2_rank(rows), kernels.gf2_rank(mixed))


def test_non_contiguous_input_is_copied():
    rows = np.arange(48, dtype=np.uint64).reshape(6, 8)
    view = rows[::2, ::3]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(kernels.gf2_rank(view), kernels.gf2_rank(view.copy()))
    np.testing.assert_array_equal(kernels.gf2_rank(rows.T), kernels.numpy_gf2_rank(rows.T))


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
@pytest.mark.parametrize("fn", [kernels.gf2_rank, kernels.numpy_gf2_rank])
def test_bad_input_gives_clear_error(fn, bad, error, match):
    with pytest.raises(error, match=match):
        fn(bad)


def test_fallback_warns_once_and_matches(monkeypatch):
    rows = np.random.default_rng(1).integers(0, 2**64, size=(5, 10), dtype=np.uint64)
    expected = kernels.numpy_gf2_rank(rows)
    monkeypatch.setattr(native, "core", None)
    monkeypatch.setattr(native, "_warned", False)
    with pytest.warns(RuntimeWarning, match="gamify._core is not available"):
        np.testing.assert_array_equal(kernels.gf2_rank(rows), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(kernels.gf2_rank(rows), expected)
    assert not native.available()


# --------------------------------------------------------------------------- tensor kernels


@functools.cache
def jax_bound(shape: tuple[int, int, int], field: str):
    """The JAX reference bound, vmapped and jitted once per shape and field."""
    return jax.jit(jax.vmap(lambda r: slice_rank_bound(r, field)))


# Shapes from ⟨2,2,2⟩ to ⟨5,5,5⟩ and non-matmul ones (the kernels see only a tensor).
SHAPES = [(4, 4, 4), (6, 9, 6), (9, 9, 9), (25, 25, 25), (1, 5, 3), (7, 2, 64)]


@st.composite
def tensors(draw, field: str):
    shape = draw(st.sampled_from(SHAPES))
    batch = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.05, 0.3, 0.9]))
    if field == "z2":
        return (rng.random((batch, *shape)) < density).astype(np.int8)
    scale = draw(st.sampled_from([1, 3, 100, 5000]))  # 5000: past the certified range
    values = rng.integers(-scale, scale + 1, (batch, *shape)) * (rng.random((batch, *shape)) < density)
    return values.astype(np.int32)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.sampled_from(["z2", "z"]).flatmap(lambda f: st.tuples(st.just(f), tensors(f))))
def test_native_slice_rank_bound_matches_jax(case):
    field, residual = case
    expected = np.asarray(jax_bound(residual.shape[1:], field)(residual))
    np.testing.assert_array_equal(kernels.slice_rank_bound_host(residual, field), expected)


def test_native_bound_on_known_tensors():
    strassen_target = matmul_tensor(2, 2, 2)
    both = np.stack([strassen_target, np.zeros_like(strassen_target)])
    for field, dtype in (("z2", np.int8), ("z", np.int32)):
        np.testing.assert_array_equal(kernels.slice_rank_bound_host(both.astype(dtype), field), [8, 0])
    assert kernels.slice_rank_bound_host(matmul_tensor(5, 5, 5)[None].astype(np.int8), "z2")[0] == 125


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_native_subtract_terms_matches_numpy_and_detects_overflow(dtype):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    residual = rng.integers(info.min // 2, info.max // 2, (64, 3, 4, 5)).astype(dtype)
    residual[0, 0, 0, 0] = info.max  # term 0 pushes this entry past the top
    u, v, w = (rng.integers(-3, 4, (64, size)).astype(dtype) for size in (3, 4, 5))
    u[0, 0], v[0, 0], w[0, 0] = -1, 1, 1
    next_, in_range = kernels.subtract_terms(residual, u, v, w, "z")
    ref_next, ref_in_range = kernels.numpy_subtract_terms(residual, u, v, w, "z")
    np.testing.assert_array_equal(next_, ref_next)
    np.testing.assert_array_equal(in_range, ref_in_range)
    assert not in_range[0] and next_.dtype == dtype
    bits = [(x % 2).astype(dtype) for x in (residual, u, v, w)]
    next_, in_range = kernels.subtract_terms(*bits, "z2")
    np.testing.assert_array_equal(next_, kernels.numpy_subtract_terms(*bits, "z2")[0])
    assert in_range.all() and set(np.unique(next_)) <= {0, 1}


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_native_packed_step_matches_numpy(dim_i, dim_j, seed):
    rng = np.random.default_rng(seed)
    batch = 5
    words = rng.integers(0, 2**64, (batch, dim_i, dim_j), dtype=np.uint64)
    masks = [rng.integers(0, 2**64, batch, dtype=np.uint64) & np.uint64((1 << d) - 1) for d in (dim_i, dim_j)]
    w = rng.integers(0, 2**64, batch, dtype=np.uint64)
    expected = words.copy()
    expected_zero = kernels.numpy_subtract_terms_packed(expected, *masks, w)
    np.testing.assert_array_equal(kernels.subtract_terms_packed(words, *masks, w), expected_zero)
    np.testing.assert_array_equal(words, expected)
    # A rank-one residual and its own term: zero after one move.
    one = np.zeros((1, dim_i, dim_j), np.uint64)
    one[0, 0, dim_j - 1] = w[0]
    assert kernels.subtract_terms_packed(
        one, np.array([1], np.uint64), np.array([1 << (dim_j - 1)], np.uint64), w[:1]
    )[0] == (w[0] != 0)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.sampled_from(["z2", "z"]), st.integers(0, 2**32 - 1), st.booleans())
def test_native_verify_matches_numpy(field, seed, break_it):
    rng = np.random.default_rng(seed)
    n, m, p = rng.integers(1, 4, 3)
    rank = int(rng.integers(1, 12))
    low, high = (0, 2) if field == "z2" else (-2, 3)
    u, v, w = (rng.integers(low, high, (rank, size)) for size in (n * m, m * p, p * n))
    scheme = Scheme(u, v, w, field, (int(n), int(m), int(p)))
    target = scheme.tensor() if not break_it else matmul_tensor(n, m, p)
    expected = scheme._numpy_check(target & 1 if field == "z2" else target, 1)
    assert kernels.verify_scheme(u, v, w, target & 1 if field == "z2" else target, field) == expected


def test_native_verify_reports_possible_overflow():
    big = np.array([[2**40]], np.int64)
    assert kernels.verify_scheme(big, big, big, np.zeros((1, 1, 1), np.int64), "z") is None


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: kernels.slice_rank_bound_host(np.zeros((1, 2, 2, 2), np.int32), "z2"), TypeError, "int8"),
        (lambda: kernels.slice_rank_bound_host(np.zeros((2, 2, 2), np.int8), "z2"), ValueError, "4-D"),
        (
            lambda: kernels.slice_rank_bound_host(np.zeros((1, 65, 1, 1), np.int8), "z2"),
            ValueError,
            r"\[1, 64\]",
        ),
        (lambda: kernels.slice_rank_bound_host(np.zeros((1, 2, 2, 2), np.int8), "q"), ValueError, "field"),
        (
            lambda: kernels.subtract_terms(
                *(np.zeros((1, 2, 2, 2), np.int8),)
                + (np.zeros((1, 2), np.int8),) * 2
                + (np.zeros((1, 3), np.int8),),
                "z",
            ),
            ValueError,
            r"w must have shape \(1, 2\)",
        ),
        (
            lambda: kernels.subtract_terms_packed(
                np.zeros((2, 2, 2), np.uint64), *[np.zeros(1, np.uint64)] * 3
            ),
            ValueError,
            "one mask per residual",
        ),
    ],
)
def test_tensor_kernels_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------- inside jit (FFI)


def random_play(game: TensorDecomposition, batch: int, steps: int):
    """jit: ``batch`` games of ``steps`` random moves; the per-step residuals, rewards, flags."""
    env = gamify.Env(game)

    def play(key):
        keys = jax.random.split(key, batch)
        state = jax.vmap(env.init)(keys)

        def move(state, key):
            if game.actions == "flat":
                action = jax.random.randint(key, (batch,), 0, game.action_space.num_actions)
            else:
                draws = jax.random.randint(key, (batch, sum(game.shape) + 6), 0, 2**30)
                action = game._random_actions(draws)
            state = jax.vmap(env.step)(state, action)
            return state, (state.game.residual, state.reward, state.game.charged, state.done)

        return jax.lax.scan(move, state, jax.random.split(jax.random.fold_in(key, 1), steps))[1]

    return jax.jit(play)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(actions="flat"),
        dict(n=3, m=3, p=3),
        dict(n=5, m=5, p=5, history=0),
        dict(field="z", coefficients=(-1, 0, 1)),
        dict(n=3, m=4, p=5, field="z"),
        dict(field="z", target=np.arange(24).reshape(2, 3, 4) % 5 - 2),
        dict(target=np.arange(60).reshape(3, 4, 5) % 3 % 2, change_of_basis=1.0),
        dict(rewards="terminal", max_steps=4),
    ],
    ids=lambda kw: ",".join(f"{k}={v}" if k != "target" else "target" for k, v in kw.items()),
)
def test_native_and_jax_backends_play_identical_games(kwargs):
    assert native.ffi_available()
    steps = 6
    key = jax.random.key(3)
    native_run = random_play(TensorDecomposition(**kwargs, backend="native"), 8, steps)(key)
    jax_run = random_play(TensorDecomposition(**kwargs, backend="jax"), 8, steps)(key)
    for got, expected in zip(native_run, jax_run, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_every_first_move_of_2x2x2_matches_exhaustively():
    games = {b: TensorDecomposition(actions="flat", backend=b) for b in ("native", "jax")}
    results = {}
    for backend, game in games.items():
        state = game.init(jax.random.key(0))
        actions = jnp.arange(game.action_space.num_actions)
        results[backend] = jax.jit(jax.vmap(game.step, (None, 0)))(state, actions)
    for got, expected in zip(
        jax.tree.leaves(results["native"]), jax.tree.leaves(results["jax"]), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_backend_choice_and_errors(monkeypatch):
    assert TensorDecomposition().backend == "native" and TensorDecomposition(backend="jax").backend == "jax"
    with pytest.raises(ValueError, match="backend must be"):
        TensorDecomposition(backend="cuda")
    monkeypatch.setattr(native, "ffi_available", lambda: False)
    monkeypatch.setattr(native, "_warned", False)
    with pytest.raises(ValueError, match="backend='native' needs"):
        TensorDecomposition(backend="native")
    with pytest.warns(RuntimeWarning, match="cannot run inside jit"):
        assert TensorDecomposition().backend == "jax"


# --------------------------------------------------------------------------- numba inside jit


@settings(derandomize=True, max_examples=15, deadline=None)
@given(tensors("z2").filter(lambda r: r.shape[1:] in {(4, 4, 4), (9, 9, 9), (1, 5, 3)}))
def test_numba_bound_inside_jit_matches_jax_and_cpp(residual):
    shape = residual.shape[1:]
    numba_jit = jax.jit(numba_bound.slice_rank_bound_z2_jax(shape))
    expected = np.asarray(jax_bound(shape, "z2")(residual))
    np.testing.assert_array_equal(np.asarray(numba_jit(residual)), expected)
    np.testing.assert_array_equal(kernels.slice_rank_bound_host(residual, "z2"), expected)
    vmapped = jax.jit(jax.vmap(numba_bound.slice_rank_bound_z2_jax(shape)))  # a batch through vmap
    np.testing.assert_array_equal(np.asarray(vmapped(residual)), expected)


def test_host_kernel_checks_its_input():
    bound = numba_bound.slice_rank_bound_z2_jax((2, 2, 2))
    with pytest.raises(ValueError, match=r"expected int8\[..., \(2, 2, 2\)\]"):
        bound(jnp.zeros((3, 3, 3), jnp.int8))

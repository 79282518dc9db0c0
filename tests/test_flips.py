"""Flip-graph walks: every move keeps the tensor; walks reach known ranks; the CLI's paths."""

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gamify.cli.main import main
from gamify.tensor import Scheme, matmul_tensor
from gamify.tensor.flips import (
    from_masks,
    standard_scheme,
    symmetric_orbits,
    symmetric_scheme,
    to_masks,
    transposed_terms,
    walk,
)
from gamify.tensor.formats import read_scheme


@st.composite
def random_schemes(draw):
    """A random Z2 scheme (its own sum is the target), sometimes with repeated factors."""
    shape = tuple(draw(st.integers(1, 5)) for _ in range(3))
    rank = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    factors = [rng.integers(0, 2, (rank, size)) for size in shape]
    for f in factors:  # shared factors make flips possible
        repeats = rng.integers(0, rank, rank // 2)
        f[repeats] = f[rng.integers(0, rank)]
        f[~f.any(axis=1), 0] = 1
    return Scheme(*factors, field="z2")


@settings(derandomize=True, max_examples=40, deadline=None)
@given(random_schemes(), st.integers(1, 3000), st.booleans(), st.integers(0, 100))
def test_flips_reductions_and_plus_transitions_keep_the_tensor(scheme, flips, plus, seed):
    target = scheme.tensor()
    result = walk(
        scheme,
        0,
        0.05,  # seconds: a scheme with no flip to make walks until this limit (3,000 flips take ~1 ms)
        target=target,
        max_flips=flips,
        plateau=50,
        plus_transitions=plus,
        seed=seed,
        threads=1,
    )
    assert result.scheme.verify(target).ok
    assert result.flips <= flips and result.scheme.rank <= scheme.rank
    assert plus or result.plus_transitions == 0


def test_masks_round_trip():
    scheme = standard_scheme(2, 3, 4)
    assert from_masks(to_masks(scheme), scheme.shape, scheme.matmul) == scheme
    assert to_masks(scheme).dtype == np.uint64 and to_masks(scheme).shape == (24, 3)


def test_equal_and_mergeable_terms_reduce_at_once():
    u = [[1, 0], [1, 0], [0, 1], [0, 1]]
    v = [[1], [1], [1], [1]]
    w = [[1, 0], [0, 1], [1, 1], [1, 1]]  # terms 0, 1 merge (same u, v); 2, 3 cancel
    scheme = Scheme(u, v, w, field="z2")
    result = walk(scheme, 0, 1.0, target=scheme.tensor(), max_flips=1, threads=1)
    assert result.scheme.rank == 1 and result.scheme.verify(scheme.tensor()).ok


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_walks_find_rank_7_for_2x2_from_the_naive_algorithm(seed):
    result = walk(standard_scheme(2, 2, 2), 7, 20.0, seed=seed, threads=1, plateau=10_000)
    assert result.reached and result.scheme.rank == 7
    assert result.scheme.verify(matmul_tensor(2, 2, 2)).ok


def test_wrong_starting_scheme_is_refused():
    broken = standard_scheme(2, 2, 2)
    broken = Scheme(broken.u[1:], broken.v[1:], broken.w[1:], field="z2", matmul=(2, 2, 2))
    with pytest.raises(ValueError, match="starting scheme is wrong over Z2"):
        walk(broken, 7, 1.0)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_flips_command_writes_a_verified_scheme(tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "flips",
        "2",
        "2",
        "2",
        "--target-rank",
        "7",
        "--time",
        "20s",
        "--out",
        str(tmp_path),
        "--threads",
        "1",
    )
    assert code == 0 and err == "" and "rank 7 (reached the target), verified exactly over Z2" in out
    data = json.loads((tmp_path / "scheme.json").read_text())
    assert data["rank"] == 7 and data["field"] == "z2"
    code, out, _ = run_cli(capsys, "verify", str(tmp_path / "scheme.exp"), "--field", "z2")
    assert code == 0 and out.splitlines()[-1] == "OK"
    code, out, _ = run_cli(
        capsys,
        "improve",
        str(tmp_path / "scheme.exp"),
        "--time",
        "1s",
        "--out",
        str(tmp_path / "again"),
        "--quiet",
    )
    assert code == 0 and "rank 7 (stopped at the time limit)" in out
    # A later, worse run into the same directory keeps the better scheme.
    before = (tmp_path / "scheme.json").read_text()
    code, out, _ = run_cli(
        capsys,
        "flips",
        "2",
        "2",
        "2",
        "--time",
        "1s",
        "--no-plus",
        "--out",
        str(tmp_path),
        "--quiet",
        "--threads",
        "1",
        "--plateau",
        "1",
    )
    assert code == 0 and "it already holds a rank-7 scheme" in out
    assert (tmp_path / "scheme.json").read_text() == before


def test_flips_with_a_pool_write_the_distinct_schemes_of_the_best_rank(tmp_path, capsys):
    argv = ["flips", "3", "3", "3", "--pool", "4", "--time", "1s", "--out", str(tmp_path)]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and " pool 23:" in out and "written: 4 distinct rank-23 schemes" in out
    written = sorted((tmp_path / "distinct").glob("*.json"))
    assert [path.name for path in written] == [f"rank23-{k:03d}.json" for k in range(4)]
    assert all(read_scheme(path).verify(matmul_tensor(3, 3, 3)).ok for path in written)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["flips", "0", "2", "2"], "must be positive"),
        (["flips", "9", "9", "9", "--time", "1s"], "at most 64 entries"),
        (["flips", "2", "2", "2", "--plateau", "0"], "must be positive"),
        (["improve", "missing.exp"], "No such file"),
        (["flips", "2", "2", "2", "--time", "soon"], None),
        (["flips", "2", "2", "3", "--symmetric"], "square format"),
        (["flips", "3", "3", "3", "--cubes", "111"], "--cubes goes with --symmetric"),
        (["flips", "3", "3", "3", "--transposed"], "--transposed goes with --symmetric"),
        (["flips", "3", "3", "3", "--symmetric", "--cubes", "110,011"], "partition the diagonal"),
        (["flips", "2", "2", "2", "--plateau", "100", "--plateau-max", "50"], "--plateau-max must be"),
        (["flips", "2", "2", "2", "--pool", "-1"], "--pool must be"),
        (["flips", "2", "2", "2", "--pool-from", "."], "--pool-from goes with --pool N"),
        (["flips", "2", "2", "2", "--pool", "4", "--pool-from", "nothing.json"], "cannot read nothing.json"),
    ],
)
def test_flips_bad_input_is_one_line(capsys, tmp_path, argv, message):
    if message is None:  # argparse's own error for a bad --time
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        return
    code, out, err = run_cli(capsys, *argv, "--out", str(tmp_path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def expanded(orbits, cubes, size, matmul=None):
    """The Z2 scheme of orbit representatives (each with its two shifts) and cubes."""
    terms = [np.roll(orbit, -k) for orbit in orbits for k in range(3)] + [[c, c, c] for c in cubes]
    return from_masks(np.array(terms, np.uint64).reshape(-1, 3), (size,) * 3, matmul)


def _short_walk(scheme, flips, plus, seed, symmetry):
    """A one-thread walk of ``flips`` flips on ``scheme``'s own tensor; asserts the tensor is kept."""
    target = scheme.tensor()
    options = dict(max_flips=flips, plateau=50, plus_transitions=plus, seed=seed, threads=1)
    result = walk(scheme, 0, 0.3, target=target, **options, **SYMMETRIES[symmetry])
    assert result.scheme.verify(target).ok
    return result


@st.composite
def symmetric_schemes(draw):
    """A random cyclic-symmetric Z2 scheme with shared factors (its own sum is the target)."""
    size = draw(st.integers(2, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pool = rng.integers(1, 2**size, draw(st.integers(2, 6)), dtype=np.uint64)  # few values: many shares
    orbits = rng.choice(pool, (draw(st.integers(2, 8)), 3))
    cubes = rng.choice(pool, draw(st.integers(0, 2)), replace=False)
    return expanded(orbits, cubes, size)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(symmetric_schemes(), st.integers(1, 3000), st.booleans(), st.integers(0, 100))
def test_symmetric_moves_keep_the_tensor_and_the_symmetry(scheme, flips, plus, seed):
    result = _short_walk(scheme, flips, plus, seed, "cyclic")
    orbits, cubes = symmetric_orbits(result.scheme)  # raises unless still symmetric
    assert 3 * len(orbits) + len(cubes) == result.scheme.rank <= scheme.rank


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_symmetric_starting_schemes(n):
    scheme = symmetric_scheme(n)
    assert scheme.verify().ok and scheme.matmul == (n, n, n)
    orbits, cubes = symmetric_orbits(scheme)
    assert len(cubes) == {2: 1, 3: 2, 4: 1, 5: 3}[n]
    assert expanded(orbits, cubes, n * n, (n, n, n)).canonical() == scheme.canonical()


@pytest.mark.parametrize("n, rank", [(2, 7), (3, 23), (4, 49)])
def test_symmetric_walks_reach_known_ranks(n, rank):
    # plateau 10,000: at 2,000 some ⟨4,4,4⟩ walks sit at rank 52 (plus transitions that always fold back)
    result = walk(symmetric_scheme(n), rank, 30.0, symmetric=True, seed=1, threads=1, plateau=10_000)
    assert result.reached and result.scheme.rank == rank and result.scheme.verify().ok
    symmetric_orbits(result.scheme)


def test_a_scheme_without_symmetry_is_refused():
    masks = to_masks(standard_scheme(2, 2, 2))  # symmetric; one flip of two terms sharing a = e00:
    masks[(masks == [1, 1, 1]).all(axis=1)] = [1, 3, 1]  # e00⊗e00⊗e00 → e00⊗(e00 + e01)⊗e00
    masks[(masks == [1, 2, 4]).all(axis=1)] = [1, 2, 5]  # e00⊗e01⊗e10 → e00⊗e01⊗(e10 + e00)
    flipped = from_masks(masks, (4, 4, 4), (2, 2, 2))
    assert flipped.verify().ok
    with pytest.raises(ValueError, match="not cyclic-symmetric"):
        walk(flipped, 7, 1.0, symmetric=True)
    with pytest.raises(ValueError, match="equal factor sizes"):
        walk(standard_scheme(2, 2, 3), 11, 1.0, symmetric=True)


def _transposed(x: int, n: int) -> int:
    return sum(1 << (e % n * n + e // n) for e in range(n * n) if x >> e & 1)


def _orbit(term: tuple, n: int) -> set:
    """A term's orbit under the cyclic shift and the transposition (a, b, c) → (bᵀ, aᵀ, cᵀ)."""
    orbit, todo = set(), [term]
    while todo:
        a, b, c = t = todo.pop()
        if t not in orbit:
            orbit.add(t)
            todo += [(b, c, a), (_transposed(b, n), _transposed(a, n), _transposed(c, n))]
    return orbit


@st.composite
def sixfold_schemes(draw):
    """A random Z2 scheme of n×n factors invariant under the 6-element group: orbits of random
    terms, free ones and ones fixed by the transposition ((a, aᵀ, c), c = cᵀ), from few factor
    values so that terms share factors; its own sum is the target."""
    n = draw(st.integers(2, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = [int(x) for x in rng.integers(1, 2 ** (n * n), draw(st.integers(2, 5)))]
    symmetric = [x | _transposed(x, n) for x in values]
    terms: set = set()
    for _ in range(draw(st.integers(2, 7))):
        a, b, c = (values[i] for i in rng.integers(0, len(values), 3))
        fixed = (a, _transposed(a, n), symmetric[rng.integers(0, len(values))])
        terms ^= _orbit(fixed if rng.random() < 0.5 else (a, b, c), n)
    assume(len(terms) >= 2)
    return from_masks(np.array(sorted(terms), np.uint64), (n * n,) * 3)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(sixfold_schemes(), st.integers(1, 3000), st.booleans(), st.integers(0, 100))
def test_sixfold_moves_keep_the_tensor_and_the_symmetry(scheme, flips, plus, seed):
    result = _short_walk(scheme, flips, plus, seed, "sixfold")
    assert (
        len(transposed_terms(result.scheme)) == result.scheme.rank <= scheme.rank
    )  # raises unless invariant


@pytest.mark.parametrize("start", [standard_scheme(2, 2, 2), symmetric_scheme(2)])
def test_sixfold_walks_find_strassen_rank_from_orbits_of_three(start):
    # ⟨2,2,2⟩'s naive terms form orbits of 3 and 1 only (Strassen's 7 = 1 + 3 + 3): every move
    # that reaches 7 changes the small orbits (slice rewrites and corrected flips)
    result = walk(start, 7, 30.0, seed=0, threads=1, plateau=300, **SYMMETRIES["sixfold"])
    assert result.reached and result.scheme.rank == 7 and result.scheme.verify().ok
    transposed_terms(result.scheme)


def test_flips_command_walks_under_the_six_element_group(tmp_path, capsys):
    argv = ["flips", "2", "2", "2", "--symmetric", "--transposed", "--target-rank", "7", "--time", "20s"]
    code, out, err = run_cli(capsys, *argv, "--plateau", "300", "--threads", "1", "--out", str(tmp_path))
    assert code == 0 and err == "" and "walked under the 6-element group" in out
    assert "rank 7 (reached the target), verified exactly over Z2" in out
    transposed_terms(read_scheme(tmp_path / "scheme.json"))  # raises unless invariant


def test_sixfold_walks_on_3x3_reduce_the_naive_algorithm():
    # 2,000,000 flips: ranks 25-26 over seeds 0-4 (the naive algorithm is 27; 23 exists)
    options = dict(max_flips=2_000_000, plateau=300, seed=2, threads=1, **SYMMETRIES["sixfold"])
    result = walk(standard_scheme(3, 3, 3), 0, 60.0, **options)
    assert result.scheme.rank <= 25 and result.scheme.verify().ok and result.flips == 2_000_000
    transposed_terms(result.scheme)


def test_sixfold_walks_refuse_what_they_cannot_walk():
    with pytest.raises(ValueError, match="symmetric=True too"):
        walk(standard_scheme(2, 2, 2), 7, 1.0, transposed=True)
    cyclic = walk(symmetric_scheme(3), 0, 60.0, max_flips=20_000, symmetric=True, seed=1, threads=1).scheme
    with pytest.raises(ValueError, match="not invariant under the cyclic shift and the transposition"):
        transposed_terms(cyclic)  # a cyclic walk breaks the transposition symmetry
    with pytest.raises(ValueError, match="not invariant"):
        walk(cyclic, 0, 1.0, **SYMMETRIES["sixfold"])
    with pytest.raises(ValueError, match="n×n matrices"):
        walk(standard_scheme(2, 3, 2), 0, 1.0, target=matmul_tensor(2, 3, 2), **SYMMETRIES["sixfold"])


# The three walks: plain, cyclic-symmetric, and symmetric under the 6-element group.
SYMMETRIES = {"plain": {}, "cyclic": dict(symmetric=True), "sixfold": dict(symmetric=True, transposed=True)}


def _check_symmetry(scheme, symmetry):
    """Raises unless ``scheme`` has the symmetry its walk keeps."""
    if symmetry == "cyclic":
        symmetric_orbits(scheme)
    elif symmetry == "sixfold":
        transposed_terms(scheme)


@pytest.mark.parametrize("symmetry", SYMMETRIES)
def test_a_seeded_walk_does_not_depend_on_the_reporting_interval(symmetry):
    start = standard_scheme(3, 3, 4) if symmetry == "plain" else symmetric_scheme(3)
    runs = [
        walk(
            start,
            0,
            60.0,
            max_flips=200_000,
            plateau=500,
            seed=5,
            threads=1,
            report_every=every,
            **SYMMETRIES[symmetry],
        )
        for every in (0.001, 10.0)
    ]
    assert runs[0].scheme == runs[1].scheme and runs[0].flips == runs[1].flips == 200_000
    assert runs[0].plus_transitions == runs[1].plus_transitions > 0


def _term_set(scheme: Scheme) -> frozenset:
    return frozenset(map(tuple, to_masks(scheme).tolist()))


@pytest.mark.parametrize("symmetry", ["plain", "cyclic"])
def test_the_pool_holds_distinct_verified_schemes_under_many_threads(symmetry):
    start = symmetric_scheme(3) if symmetry == "cyclic" else standard_scheme(3, 3, 3)
    result = walk(start, 0, 1.0, pool_size=6, seed=3, threads=8, plateau=300, **SYMMETRIES[symmetry])
    assert result.pool and all(schemes <= 6 for _, schemes, _ in result.pool)
    assert [rank for rank, _, _ in result.pool] == sorted({rank for rank, _, _ in result.pool})
    assert result.pool[0][0] == result.scheme.rank == 23  # the walks go on after 23: its level fills
    assert len(result.distinct) == result.pool[0][1] >= 2
    assert len({_term_set(s) for s in result.distinct}) == len(result.distinct)  # distinct as term sets
    for scheme in result.distinct:
        assert scheme.rank == 23 and scheme.verify(matmul_tensor(3, 3, 3)).ok
        _check_symmetry(scheme, symmetry)


def test_the_sixfold_pool_holds_distinct_verified_invariant_schemes_under_many_threads():
    result = walk(
        standard_scheme(3, 3, 3), 0, 1.0, pool_size=6, seed=3, threads=8, plateau=300, **SYMMETRIES["sixfold"]
    )
    assert result.pool and all(schemes <= 6 for _, schemes, _ in result.pool)
    assert result.pool[0][0] == result.scheme.rank < 27 and len(result.distinct) == result.pool[0][1] >= 1
    assert len({_term_set(s) for s in result.distinct}) == len(result.distinct)
    for scheme in result.distinct:
        assert scheme.rank == result.scheme.rank and scheme.verify(matmul_tensor(3, 3, 3)).ok
        transposed_terms(scheme)


@pytest.mark.parametrize("symmetry", SYMMETRIES)
def test_pooled_walks_are_reproducible_by_seed_with_one_thread(symmetry):
    start = standard_scheme(3, 3, 4) if symmetry == "plain" else symmetric_scheme(3)
    options = dict(max_flips=100_000, plateau=200, plateau_max=5_000, pool_size=4, pool_greed=0.5)
    runs = [
        walk(start, 0, 60.0, seed=seed, threads=1, **options, **SYMMETRIES[symmetry]) for seed in (7, 7, 8)
    ]
    assert runs[0].scheme == runs[1].scheme and runs[0].pool == runs[1].pool
    assert [_term_set(s) for s in runs[0].distinct] == [_term_set(s) for s in runs[1].distinct]
    assert (runs[0].restarts, runs[0].plus_transitions) == (runs[1].restarts, runs[1].plus_transitions)
    assert (runs[0].restarts, runs[0].plus_transitions, runs[0].pool) != (
        runs[2].restarts,
        runs[2].plus_transitions,
        runs[2].pool,
    )


def test_schemes_handed_to_the_pool_start_the_walks():
    first = walk(standard_scheme(3, 3, 3), 0, 1.0, pool_size=5, seed=1, threads=2)
    assert first.scheme.rank == 23 and len(first.distinct) == 5
    # From the naive algorithm with five rank-23 schemes in the pool: the walks start at 23.
    again = walk(standard_scheme(3, 3, 3), 0, 60.0, max_flips=1, pool_size=5, pool_schemes=first.distinct)
    assert again.scheme.rank == 23 and again.pool[0][:2] == (23, 5)
    assert {_term_set(s) for s in again.distinct} == {_term_set(s) for s in first.distinct}
    with pytest.raises(ValueError, match="pool scheme 0 does not decompose"):
        walk(standard_scheme(3, 3, 4), 0, 1.0, pool_size=5, pool_schemes=first.distinct[:1])


@pytest.mark.parametrize("luby, stretches", [(False, 32), (True, 15)])
def test_stretches_end_at_their_plateau(luby, stretches):
    # ⟨1,2,2⟩ has rank 4, so its naive terms flip (they share factors) but never reduce, and
    # without plus moves every stretch of flips ends in a restart at exactly its plateau: 320
    # flips are 32 stretches of 10, or 15 of the Luby schedule 10 × (1, 1, 2, 1, 1, 2, 4, 1, 1,
    # 2, 1, 1, 2, 4, 8) (sum 320).
    options = dict(max_flips=320, plateau=10, plus_transitions=False, seed=0, threads=1, luby=luby)
    result = walk(standard_scheme(1, 2, 2), 0, 60.0, **options)
    assert result.flips == 320 and result.restarts == stretches and result.scheme.rank == 4


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(plateau=100, plateau_max=50), "plateau_max"),
        (dict(pool_greed=1.5), "pool_greed"),
        (dict(pool_size=-1), "pool_size"),
    ],
)
def test_bad_pool_and_plateau_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        walk(standard_scheme(2, 2, 2), 7, 1.0, **options)

"""Phase tensors, Waring (T-count) and Toffoli decompositions, their searches, files and CLI."""

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamify.cli.main import main as gamify
from gamify.tensor import tcount, waring
from gamify.tensor.todd import kick, reduce_parities
from gamify.tensor.toffoli import pair_cover, walk_toffoli

TOFFOLI = waring.PhaseTensor(3, [[0, 1, 2]], "toffoli")


def random_terms(data, n: int, count: int) -> np.ndarray:
    draw = st.integers(1, 2**n - 1)
    return np.array([[data.draw(draw) for _ in range(3)] for _ in range(count)], np.uint64)


def phase_tensor(terms: np.ndarray, n: int) -> waring.PhaseTensor:
    """The phase tensor Σ Sym(a⊗b⊗c) of random Toffoli terms (always one: zero on repeated indices)."""
    return waring.from_dense(waring.toffoli_tensor(terms, n))


def test_the_toffoli_gate_is_seven_t_gates():
    parities = waring.toffoli_to_waring([[1, 2, 4]])
    assert sorted(parities.tolist()) == list(range(1, 8))  # every nonzero parity of 3 bits
    assert waring.check_waring(TOFFOLI, parities) is None
    assert waring.check_waring(TOFFOLI, parities[:6]) is not None
    assert waring.check_toffoli(TOFFOLI, [[1, 2, 4]]) is None
    assert waring.check_toffoli(TOFFOLI, [[1, 2, 1]]) is not None  # dependent factors: zero term


def test_dense_form_is_symmetric_and_zero_on_repeated_indices():
    t = waring.benchmark_tensor("0820")
    dense = t.dense()
    assert dense.sum() == 6 * t.nnz
    for perm in [(1, 0, 2), (2, 1, 0), (0, 2, 1)]:
        assert np.array_equal(dense, dense.transpose(perm))
    i = np.arange(t.n)
    assert not dense[i, i, :].any() and not dense[:, i, i].any() and not dense[i, :, i].any()
    assert waring.from_dense(dense) == t


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(3, 7), st.integers(1, 4))
def test_toffoli_terms_as_seven_parities_decompose_the_same_tensor(data, n, count):
    terms = random_terms(data, n, count)
    tensor = phase_tensor(terms, n)
    assert waring.check_toffoli(tensor, terms) is None
    assert waring.check_waring(tensor, waring.toffoli_to_waring(terms)) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(3, 7), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_a_change_of_basis_maps_back_exactly(data, n, count, seed):
    terms = random_terms(data, n, count)
    tensor = phase_tensor(terms, n)
    g = waring.random_basis(n, np.random.default_rng(seed))
    changed = waring.change_basis(tensor, g)
    parities = waring.toffoli_to_waring(waring.monomial_terms(changed))
    assert waring.check_waring(changed, parities) is None
    assert waring.check_waring(tensor, waring.map_back(g, parities)) is None
    changed_terms = waring.monomial_terms(changed)
    back = waring.map_back(g, changed_terms.reshape(-1)).reshape(-1, 3)
    assert waring.check_toffoli(tensor, back) is None
    assert waring.change_basis(changed, waring.gf2_inverse(g)) == tensor


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(3, 8), st.integers(1, 5), st.integers(0, 1000))
def test_todd_moves_keep_the_tensor_and_never_lengthen(data, n, count, seed):
    terms = random_terms(data, n, count)
    tensor = phase_tensor(terms, n)
    start = waring.toffoli_to_waring(terms)
    reduced = reduce_parities(start, n, seed=seed)
    assert waring.check_waring(tensor, reduced) is None
    assert len(reduced) <= len(start)
    kicked = kick(reduced, n, seed=seed, slack=2)
    assert waring.check_waring(tensor, kicked) is None
    assert len(kicked) <= len(reduced) + 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(3, 8), st.integers(1, 5), st.integers(0, 1000))
def test_flip_walks_keep_the_tensor_and_never_lengthen(data, n, count, seed):
    terms = random_terms(data, n, count)
    tensor = phase_tensor(terms, n)
    cover = pair_cover(tensor)
    assert waring.check_toffoli(tensor, cover) is None
    best, flips = walk_toffoli(cover, n, max_flips=2000, plateau=50, seed=seed)
    assert waring.check_toffoli(tensor, best) is None
    assert len(best) <= len(cover) and flips <= 2000


def test_known_small_counts_are_reached():
    """Mod 5_4: one Toffoli (7 T); Tof_3: 2 Toffolis, 13 T (polytof's best known)."""
    mod54 = waring.benchmark_tensor("mod_5_4")
    best, _ = walk_toffoli(pair_cover(mod54), mod54.n, max_flips=50_000, plateau=500, seed=0)
    assert len(best) == 1 and waring.check_toffoli(mod54, best) is None
    tof3 = waring.benchmark_tensor("0820")
    parities = reduce_parities(waring.toffoli_to_waring(pair_cover(tof3)), tof3.n, seed=0)
    assert len(parities) == 13 and waring.check_waring(tof3, parities) is None


def test_search_returns_verified_counts_and_reports_them():
    tensor = waring.benchmark_tensor("tof_3")
    seen = []
    result = tcount.search(tensor, 1.0, seed=0, threads=1, progress=lambda stage, r: seen.append(stage))
    assert (result.toffoli_count, result.t_count) == (2, 13)
    assert waring.check_toffoli(tensor, result.toffoli) is None
    assert waring.check_waring(tensor, result.parities) is None
    assert seen[0] == "start" and "tcount" in seen


def test_polytof_files_read_and_round_trip(tmp_path):
    t = waring.benchmark_tensor("0824")
    assert (t.n, t.nnz) == (14, 40)  # polytof's table: VBE Adder_3
    waring.write_tensor(tmp_path / "t.npy", t)
    assert waring.read_tensor(tmp_path / "t.npy") == t
    np.save(tmp_path / "dense.npy", t.dense())
    assert waring.read_tensor(tmp_path / "dense.npy") == t
    (tmp_path / "t.json").write_text(json.dumps({"n": t.n, "monomials": t.monomials.tolist()}))
    assert waring.read_tensor(tmp_path / "t.json") == t
    assert all(row["n"] <= 50 for row in waring.benchmarks())


@pytest.mark.parametrize(
    "content, message",
    [
        (np.array([[4, 4, 4], [0, 2, 1]]), "is not i < j < k"),
        (np.array([[4, 4, 4], [0, 1, 2], [0, 1, 2]]), "listed twice"),
        (np.array([[4, 4, 4], [0, 1, 5]]), "outside"),
        (np.array([[4, 4, 5], [0, 1, 2]]), "not (n, n, n)"),
        (np.array([[70, 70, 70], [0, 1, 2]]), "n must be in [3, 64]"),
        (np.broadcast_to(np.eye(3, dtype=int)[:, :, None], (3, 3, 3)), "symmetric"),
        (np.full((3, 3, 3), 2), "0 or 1"),
        (np.ones((3, 3, 3), int), "repeats an index"),
        (np.zeros((2, 3, 3), int), "n×n×n"),
        (np.array([1.5, 2]), "integers"),
    ],
)
def test_bad_tensor_files_are_one_clear_line(tmp_path, content, message, capsys):
    path = tmp_path / "bad.npy"
    np.save(path, content)
    with pytest.raises(waring.PhaseTensorError, match=re.escape(message)):
        waring.read_tensor(path)
    assert gamify(["tcount", str(path), "--time", "1s", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gamify: error:") and "\n" not in err and message.split(" ")[0] in err


def test_decomposition_files_verify_and_catch_tampering(tmp_path, capsys):
    tensor = waring.benchmark_tensor("0820")
    parities = reduce_parities(waring.toffoli_to_waring(pair_cover(tensor)), tensor.n, seed=0)
    path = tmp_path / "w.json"
    waring.write_decomposition(path, tensor, "waring", parities)
    assert waring.read_decomposition(path).check() is None
    assert gamify(["verify", str(path)]) == 0
    assert "T-count 13" in capsys.readouterr().out
    assert gamify(["verify", str(path), "--tensor", "0120"]) == 1  # another basis: not its decomposition
    data = json.loads(path.read_text())
    data["parities"] = data["parities"][1:]
    path.write_text(json.dumps(data))
    assert gamify(["verify", str(path)]) == 1
    assert "WRONG" in capsys.readouterr().out
    with pytest.raises(waring.PhaseTensorError, match="refusing"):
        waring.write_decomposition(tmp_path / "x.json", tensor, "waring", parities[1:])
    data["parities"][0] = "01x"
    path.write_text(json.dumps(data))
    assert gamify(["verify", str(path)]) == 2


def test_tcount_cli_writes_verified_files(tmp_path, capsys):
    assert gamify(["tcount", "mod_5_4", "--time", "1s", "--threads", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Toffoli count 1   (= best known)" in out and "T-count       7   (= best known)" in out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["0812_Mod_5_4-toffoli.json", "0812_Mod_5_4-waring.json"]
    for name in files:
        assert gamify(["verify", str(tmp_path / name), "--tensor", "0812"]) == 0
    assert gamify(["tcount", "no_such_circuit"]) == 2
    assert "no shipped phase tensor" in capsys.readouterr().err
    assert gamify(["tcount", "--list"]) == 0
    assert "GF(2^4) Mult" in capsys.readouterr().out


def test_improve_walks_a_scheme_of_any_tensor(tmp_path, capsys):
    """`gamify improve` on a non-matmul tensor: the target stored in the file, or --tensor."""
    from gamify.tensor.formats import read_scheme, write_scheme
    from gamify.tensor.scheme import Scheme

    rng = np.random.default_rng(0)
    u, v, w = (rng.integers(0, 2, size=(6, d)) for d in (3, 4, 5))
    target = np.einsum("ri,rj,rk->ijk", u, v, w) % 2  # a random 3x4x5 tensor of rank <= 6
    i, j, k = np.nonzero(target)
    eye = [np.eye(d, dtype=np.int64) for d in (3, 4, 5)]
    naive = Scheme(eye[0][i], eye[1][j], eye[2][k], field="z2", target=target)  # one term per entry
    write_scheme(naive, tmp_path / "naive.json")
    out = tmp_path / "out"
    assert (
        gamify(
            ["improve", str(tmp_path / "naive.json"), "--time", "2s", "--target-rank", "6", "--out", str(out)]
        )
        == 0
    )
    assert "a 3x4x5 tensor over Z2" in capsys.readouterr().out
    best = read_scheme(out / "scheme.json")
    assert best.rank <= 6 < naive.rank and best.verify(target).ok
    np.save(tmp_path / "target.npy", target)
    bare = tmp_path / "bare.json"
    write_scheme(Scheme(naive.u, naive.v, naive.w, field="z2"), bare)
    assert gamify(["improve", str(bare), "--time", "1s", "--out", str(tmp_path / "o2")]) == 2
    assert "give the tensor with --tensor" in capsys.readouterr().err
    assert (
        gamify(
            [
                "improve",
                str(bare),
                "--tensor",
                str(tmp_path / "target.npy"),
                "--time",
                "1s",
                "--target-rank",
                "6",
                "--out",
                str(tmp_path / "o3"),
            ]
        )
        == 0
    )
    assert read_scheme(tmp_path / "o3" / "scheme.json").verify(target).ok

"""``gamify search``: finds and writes verified schemes; bad input is one clear line."""

import numpy as np
import pytest

from gamify.cli.main import main
from gamify.tensor import matmul_tensor
from gamify.tensor.formats import read_scheme


def test_search_tensor_writes_a_verified_scheme(tmp_path, capsys):
    rng = np.random.default_rng(0)
    u, v, w = (rng.integers(0, 2, (2, 3)) for _ in range(3))
    u[:, 0] = v[:, 0] = w[:, 0] = 1  # nonzero factors
    target = np.einsum("ri,rj,rk->ijk", u, v, w) % 2
    np.save(tmp_path / "t.npy", target)
    out = tmp_path / "run"
    argv = ["search", "tensor", str(tmp_path / "t.npy"), "--field", "z2", "--preset", "tiny", "--quiet"]
    code = main([*argv, "--budget", "3m", "--target-rank", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "verified exactly" in printed
    scheme = read_scheme(out / "scheme.json")
    assert scheme.rank <= 2 and scheme.verify(target).ok
    assert (out / "best_rank.png").stat().st_size > 1000
    assert not (out / "scheme.exp").exists()  # .exp is for matmul schemes only
    assert scheme.target.tolist() == target.tolist() and scheme.verify().ok  # the file holds its target
    capsys.readouterr()
    assert main(["verify", str(out / "scheme.json")]) == 0
    assert "target stored in the file" in capsys.readouterr().out
    other = target.copy()
    other[0, 0, 0] ^= 1
    np.save(tmp_path / "other.npy", other)
    assert main(["verify", str(out / "scheme.json"), "--tensor", str(tmp_path / "other.npy")]) == 1
    assert "differs from the target stored" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["matmul", "2", "2", "2", "--target-rank", "0"], "--target-rank"),
        (["matmul", "2", "2", "2", "--target-rank", "99"], "--target-rank"),
        (["matmul", "2", "2", "2", "--field", "z", "--improve", "flips"], "--improve flips works over z2"),
        (["matmul", "0", "2", "2"], "tensor_decomposition"),
        (["tensor", "{tmp}/missing.npy"], "missing.npy"),
        (["matmul", "2", "2", "2", "--resume", "--out", "{tmp}/none"], "holds no run"),
        (["matmul", "2", "2", "2", "--field", "z", "--coefficients=0,1,1"], "distinct"),
        (["matmul", "2", "2", "2", "--root-reward-weight", "-1"], "--root-reward-weight must be >= 0"),
        (["matmul", "2", "2", "2", "--simulations", "0"], "--simulations must be >= 1"),
        (["matmul", "2", "2", "2", "--samples", "0"], "--samples must be >= 1"),
        (["matmul", "2", "2", "2", "--temperature", "0"], "--temperature must be > 0"),
    ],
)
def test_search_bad_input(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    code = main(["search", *argv, "--preset", "tiny", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gamify: error:") and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_search_finds_a_rank_7_scheme_for_2x2_matrices(tmp_path, capsys):
    """The headline: ⟨2,2,2⟩ over Z2 from scratch with the default settings (seed 0 needed
    64 games, ~20 s, on a 2-core CPU; the budget leaves room for slower machines)."""
    out = tmp_path / "strassen"
    argv = ["search", "matmul", "2", "2", "2", "--field", "z2", "--target-rank", "7", "--quiet"]
    code = main([*argv, "--budget", "4m", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "rank 7 decomposition, verified exactly over Z2" in printed, printed
    scheme = read_scheme(out / "scheme.exp")
    assert scheme.rank == 7 and scheme.verify().ok


def test_improve_with_flips_lowers_a_learned_scheme(capsys):
    from gamify.cli.search import improve_with_flips
    from gamify.tensor.flips import standard_scheme

    naive = standard_scheme(2, 2, 2)
    better = improve_with_flips(naive, matmul_tensor(2, 2, 2), 7, 20.0, seed=0)
    assert better.rank == 7 and better.verify().ok
    assert "flips: rank 8 → 7" in capsys.readouterr().out
    assert improve_with_flips(better, matmul_tensor(2, 2, 2), 7, 1.0, seed=0) is better  # nothing to do

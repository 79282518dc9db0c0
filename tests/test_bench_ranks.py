"""``gamify bench ranks``: the shipped best-known table, format parsing, and the command end to end."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamify.cli.bench import ablation, ranks
from gamify.cli.common import UsageError
from gamify.cli.main import main
from gamify.tensor import Scheme, read_scheme, records, write_scheme
from gamify.tensor.flips import standard_scheme, symmetric_orbits
from gamify.tensor.formats import alphatensor_schemes


def test_table_holds_the_hand_checked_values():
    table = records.best_known_table()
    assert table["source"] and table["compiled"].startswith("2026-11-22")
    rows = table["formats"]
    assert len(rows) == 21 and all(n <= m <= p for n, m, p in (map(int, k.split(",")) for k in rows))
    assert rows["2,2,2"]["best_z2"]["rank"] == rows["2,2,2"]["best_char0"]["rank"] == 7
    assert rows["4,4,4"]["best_z2"]["rank"] == 47 and rows["4,4,4"]["best_char0"]["rank"] == 48
    assert rows["4,4,4"]["best_z"] == 49 and rows["2,4,5"]["best_char0"]["rank"] == 32
    assert rows["5,5,5"]["best_z2"]["rank"] == 93 and rows["5,5,5"]["alphatensor_z2"] == 96
    assert rows["4,5,5"]["best_z2"]["rank"] == 73 and rows["4,4,5"]["best_z2"]["rank"] == 60
    assert rows["6,6,6"]["alphatensor_z2"] is None and rows["6,6,6"]["naive"] == 216


def test_table_is_consistent_and_agrees_with_the_shipped_alphatensor_schemes():
    shipped = {field: alphatensor_schemes(field) for field in ("z2", "z")}
    for key, row in records.best_known_table()["formats"].items():
        n, m, p = map(int, key.split(","))
        z2, char0, z = row["best_z2"]["rank"], row["best_char0"]["rank"], row["best_z"]
        assert row["naive"] == n * m * p
        assert char0 <= z and z2 <= z  # an integer scheme works over char 0 and mod 2
        for field, column in (("z2", "alphatensor_z2"), ("z", "alphatensor_standard")):
            if row[column] is not None:
                assert shipped[field][key].rank == row[column], (key, field)
                assert (z2 if field == "z2" else z) <= row[column] < row["naive"]


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.permutations([2, 3, 4]) | st.lists(st.integers(2, 6), min_size=3, max_size=3), st.booleans())
def test_formats_parse_in_any_order_and_look_up_sorted(sizes, commas):
    sizes = tuple(sizes)
    text = ",".join(map(str, sizes)) if commas else "x".join(map(str, sizes))
    assert ranks.parse_formats([text]) == [sizes]
    assert records.best_known(sizes) == records.best_known(tuple(sorted(sizes)))
    assert records.reference_ranks(sizes, "z2") == records.reference_ranks(tuple(sorted(sizes)), "z2")


def test_format_lists_and_max_size():
    parsed = ranks.parse_formats(["2x2x2,2X2X3", "3x2x2  2x2x3", "2,2,2"])
    assert parsed == [(2, 2, 2), (2, 2, 3), (3, 2, 2)]  # repeats dropped, order kept
    assert ranks.formats_up_to(3) == [(2, 2, 2), (2, 2, 3), (2, 3, 3), (3, 3, 3)]
    assert len(ranks.formats_up_to(5)) == 20


@settings(derandomize=True, max_examples=80, deadline=None)
@given(st.text(alphabet="0123456789x,; -.a", max_size=12))
def test_malformed_formats_name_the_bad_token(text):
    tokens = re.split(r"[\s,]+", text.strip())
    valid = re.fullmatch(r"\d+,\d+,\d+", text.strip()) or all(re.fullmatch(r"\d+x\d+x\d+", t) for t in tokens)
    sizes = [int(s) for s in re.findall(r"\d+", text)]
    if valid and min(sizes) >= 2:
        assert ranks.parse_formats([text])
        return
    with pytest.raises(UsageError, match="expected NxMxP") as error:
        ranks.parse_formats([text])
    assert "\n" not in str(error.value)


def run_cli(capsys, *argv):
    code = main(["bench", "ranks", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_flips_reach_the_best_known_ranks_and_write_the_report(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["--formats", "2x2x2,2x2x3", "--method", "flips", "--budget-per-format", "5s"]
    code, stdout, _ = run_cli(capsys, *argv, "--out", str(out))
    assert code == 0
    assert "| ⟨2,2,2⟩ | 8 | 7 | 7 | 7 |" in stdout and "| ⟨2,2,3⟩ | 12 | 11 | 11 | 11 |" in stdout
    report = json.loads((out / "ranks.json").read_text())
    assert [row["rank"] for row in report["rows"]] == [7, 11]
    assert all(row["verified"] is True and row["seconds_to_best"] < 5 for row in report["rows"])
    assert report["machine"]["cores"] >= 1 and "--method flips" in report["command"]
    for row in report["rows"]:
        scheme = read_scheme(out / row["scheme"])
        assert scheme.rank == row["rank"] and scheme.verify().ok
    markdown = (out / "ranks.md").read_text()
    assert "command: `gamify bench ranks --formats 2x2x2,2x2x3" in markdown and "| ⟨2,2,3⟩ |" in markdown
    assert (out / "ranks.png").read_bytes().startswith(b"\x89PNG")


def test_flips_walk_once_per_seed_and_count_the_seeds_at_the_best_known_rank(tmp_path, capsys):
    argv = ["--formats", "2x2x2", "--seeds", "0,1,2", "--budget-per-format", "5s", "--out", str(tmp_path)]
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0 and stdout.count("    seed ") == 3
    assert "| ⟨2,2,2⟩ | 8 | 7 | 7 | 7 |" in stdout and "| 7 | 3/3 |" in stdout
    report = json.loads((tmp_path / "ranks.json").read_text())
    (row,) = report["rows"]
    assert [seed["seed"] for seed in row["seeds"]] == [0, 1, 2] and row["at_best_known"] == 3
    assert all(seed["rank"] == 7 and 0 <= seed["seconds_to_best"] < 5 for seed in row["seeds"])
    assert report["settings"]["seeds"] == [0, 1, 2] and "--seeds 0,1,2" in report["command"]


def test_over_z_the_walks_schemes_are_lifted(tmp_path, capsys):
    argv = ["--formats", "2x2x3", "--field", "z", "--budget-per-format", "5s", "--out", str(tmp_path)]
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0 and "lifted to Z" in stdout and "| ⟨2,2,3⟩ | 12 | 11 | 11 | 11 |" in stdout
    scheme = read_scheme(tmp_path / "schemes" / "2x2x3.json")
    assert scheme.field == "z" and scheme.rank == 11 and scheme.verify().ok


def test_square_formats_from_5_walk_among_symmetric_schemes(tmp_path):
    task = ranks.Task((5, 5, 5), "z2", 93, 1.0, 0, "cpu", tmp_path, True)
    outcome = ranks.search_flips(task, lambda line: None)
    # the symmetric start is 135 and the naive 125; in 1 s seeds 1-5 reach 108, seed 0 114
    assert outcome.scheme.verify().ok and outcome.scheme.rank < 125
    symmetric_orbits(outcome.scheme)  # raises when the scheme is not cyclic-symmetric


def test_a_scheme_that_only_works_mod_2_is_not_lifted():
    said = []
    assert ranks.lift_to_z(alphatensor_schemes("z2")["4,4,4"], said.append) is None  # rank 47
    assert "does not lift" in said[0]
    lifted = ranks.lift_to_z(standard_scheme(2, 2, 2), said.append)
    assert lifted.field == "z" and lifted.verify().ok


def test_a_scheme_that_fails_verification_shows_a_cross_and_exits_1(tmp_path, capsys, monkeypatch):
    naive = standard_scheme(2, 2, 2)
    wrong = Scheme(naive.u[1:], naive.v[1:], naive.w[1:], field="z2", matmul=(2, 2, 2))
    monkeypatch.setitem(ranks.SEARCHES, "flips", lambda task, say: ranks.Outcome(wrong, [(0.0, 7)]))
    code, stdout, _ = run_cli(capsys, "--formats", "2x2x2", "--out", str(tmp_path), "--quiet")
    assert code == 1
    assert "| ⟨2,2,2⟩ | 8 | 7 | 7 | 7 | 0.00 | ✗ |" in stdout and "✓" not in stdout
    assert json.loads((tmp_path / "ranks.json").read_text())["rows"][0]["verified"] is False
    assert not list((tmp_path / "schemes").iterdir())


def fake_searches(monkeypatch, ranks_by_variant: dict[str, list[int]]):
    """Replaces the search processes of ``ablation.search`` with stand-ins that write a run as
    ``gamify search`` does: variant V, seed S reaches rank ``ranks_by_variant[V][S]`` (a naive
    scheme stands in at 8, else a bound only) after S + 1 seconds. Returns the argv lists seen."""
    seen = []

    def fake_gamify(argv):
        seen.append(argv)
        out, seed = Path(argv[argv.index("--out") + 1]), int(argv[argv.index("--seed") + 1])
        if argv[0] == "pretrain":
            out.mkdir(parents=True)
            (out / "metrics.jsonl").write_text(json.dumps({"top1": 0.5, "any_k": 0.75}) + "\n")
            return subprocess.CompletedProcess(argv, 0, stdout="", stderr="")
        network = argv[argv.index("--network") + 1]
        variant = {"trained": "trained", "frozen": "frozen", "uniform": "uniform"}[network]
        rank = ranks_by_variant[variant][seed]
        out.mkdir(parents=True)
        record = {"elapsed": seed + 1.0, "best_return": -float(rank)}
        (out / "metrics.jsonl").write_text(json.dumps(record) + "\n")
        if rank == 8:
            naive, field = standard_scheme(2, 2, 2), argv[argv.index("--field") + 1]
            write_scheme(
                Scheme(naive.u, naive.v, naive.w, field=field, matmul=(2, 2, 2)), out / "scheme.json"
            )
            text = "rank 8 decomposition, verified exactly"
        else:
            text = f"the search's best game ended at rank ≤ {rank}"
        return subprocess.CompletedProcess(argv, 0, stdout=text, stderr="")

    monkeypatch.setattr(ablation, "_gamify", fake_gamify)
    return seen


def test_learned_runs_every_seed_and_variant_and_tabulates_the_ablation(tmp_path, capsys, monkeypatch):
    seen = fake_searches(monkeypatch, {"trained": [8, 9, 8], "uniform": [12, 8, 11]})
    argv = ["--formats", "2x2x2", "--method", "learned", "--seeds", "0,1,2", "--variants", "trained,uniform"]
    code, stdout, _ = run_cli(
        capsys, *argv, "--budget-per-format", "3s", "--preset", "tiny", "--out", str(tmp_path)
    )
    assert code == 0 and len(seen) == 6
    assert all(a[a.index("--budget") + 1] == "3.0s" and "--target-rank" in a for a in seen)
    assert "| ⟨2,2,2⟩ | 8 | 7 | 7 | 8 | 1.00 | ✓ |" in stdout  # the trained variant's best seed
    report = (tmp_path / "ranks.md").read_text()
    assert "| 2x2x2:z2 | trained | 7 | 8, 9 (bound), 8 | 8 | 0/3 | – | – |" in report
    assert "| 2x2x2:z2 | uniform | 7 | 12 (bound), 8, 11 (bound) | 11 | 0/3 | – | – |" in report
    assert "--seeds 0,1,2 --variants trained,uniform" in report
    rows = json.loads((tmp_path / "ranks.json").read_text())["rows"][0]["ablation"]
    assert [row["variant"] for row in rows] == ["trained", "uniform"]


def test_pretrained_variants_start_every_seed_from_init(tmp_path, capsys, monkeypatch):
    seen = fake_searches(monkeypatch, {"trained": [8, 8], "frozen": [9, 8]})
    init = tmp_path / "pre"
    init.mkdir()
    (init / "metrics.jsonl").write_text(json.dumps({"updates": 9, "top1": 0.25, "any_k": 0.5}) + "\n")
    argv = ["--formats", "2x2x2", "--method", "learned", "--seeds", "0,1", "--init", str(init)]
    argv += ["--variants", "pretrained,pretrained-frozen", "--field", "z", "--coefficients=-1,0,1"]
    code, _, _ = run_cli(capsys, *argv, "--budget-per-format", "3s", "--out", str(tmp_path / "out"))
    assert code == 0 and len(seen) == 4
    assert all(a[a.index("--init") + 1] == str(init) and "--coefficients=-1,0,1" in a for a in seen)
    report = (tmp_path / "out" / "ranks.md").read_text()
    assert "| 2x2x2:z | pretrained-frozen | 7 | 9 (bound), 8 | 8.5 | 0/2 | – | 25%/50% |" in report
    assert f"--init {init}" in report and "--pretrain-time" not in report


def test_pretrain_once_shares_the_first_seeds_network(tmp_path, capsys, monkeypatch):
    seen = fake_searches(monkeypatch, {"trained": [8, 8, 8]})
    argv = ["--formats", "2x2x2", "--method", "learned", "--seeds", "0,1,2", "--variants", "pretrained"]
    argv += ["--pretrain-time", "1s", "--pretrain-once", "--budget-per-format", "3s"]
    code, _, _ = run_cli(capsys, *argv, "--out", str(tmp_path))
    pretrainings = [a for a in seen if a[0] == "pretrain"]
    assert (
        code == 0 and len(pretrainings) == 1 and pretrainings[0][pretrainings[0].index("--seed") + 1] == "0"
    )
    folder = pretrainings[0][pretrainings[0].index("--out") + 1]
    assert [a[a.index("--init") + 1] for a in seen if a[0] == "search"] == [folder] * 3
    assert "--pretrain-time 1s --pretrain-once" in (tmp_path / "ranks.md").read_text()


def test_hybrid_walks_on_from_the_learned_scheme(tmp_path, capsys, monkeypatch):
    seen = fake_searches(monkeypatch, {"trained": [8]})
    argv = ["--formats", "2,2,2", "--method", "hybrid", "--budget-per-format", "4s", "--preset", "tiny"]
    code, stdout, _ = run_cli(capsys, *argv, "--out", str(tmp_path))
    assert code == 0 and "    2x2x2:z2 trained seed 0: rank 8\n" in stdout
    (search,) = seen
    assert search[:5] == ["search", "matmul", "2", "2", "2"]
    for option, value in [
        ("--budget", "2.0s"),
        ("--target-rank", "7"),
        ("--preset", "tiny"),
        ("--field", "z2"),
    ]:
        assert search[search.index(option) + 1] == value
    row = json.loads((tmp_path / "ranks.json").read_text())["rows"][0]
    assert row["rank"] == 7 and row["verified"] is True
    assert row["history"][0] == [1.0, 8] and row["history"][-1][1] == 7


def test_bench_ablation_prints_the_table_and_progress_apart(tmp_path, capsys, monkeypatch):
    fake_searches(monkeypatch, {"trained": [8, 8], "uniform": [12, 11]})
    argv = ["bench", "ablation", "--cases", "2x2x2:z2@8", "--variants", "uniform,trained", "--seeds", "0,1"]
    assert main([*argv, "--budget", "1s", "--markdown", str(tmp_path / "t.md")]) == 0
    out, err = capsys.readouterr()
    assert "| 2x2x2:z2@8 | uniform | 8 | 12 (bound), 11 (bound) | 11.5 | 0/2 | – | – |" in out
    assert "| 2x2x2:z2@8 | trained | 8 | 8, 8 | 8 | 2/2 | 2 | – |" in out
    assert "2x2x2:z2@8 trained seed 1: rank 8, target reached at 2 s" in err and "|" not in err
    assert (tmp_path / "t.md").read_text().strip() == out.strip()


@pytest.mark.parametrize(
    ("text", "sizes", "field", "coefficients", "target"),
    [
        ("2x2x2:z2", (2, 2, 2), "z2", None, 7),
        ("2x2x2:z-1..1", (2, 2, 2), "z", (-1, 0, 1), 7),
        ("3x2x3:z", (3, 2, 3), "z", None, 15),
        ("2x3x3:z2@16", (2, 3, 3), "z2", None, 16),
        ("1x1x2:z0..1", (1, 1, 2), "z", (0, 1), None),  # not in the table: no target
    ],
)
def test_ablation_cases_parse(text, sizes, field, coefficients, target):
    case = ablation.parse_case(text)
    assert (case.sizes, case.field, case.coefficients, case.target) == (sizes, field, coefficients, target)
    argv = case.game_argv()
    assert argv[:4] == ["matmul", *map(str, sizes)] and argv[5] == field


@pytest.mark.parametrize("text", ["2x2:z2", "2x2x2:q", "2x2x2:z1..2", "0x2x2:z2", "2x2x2:z2@"])
def test_malformed_ablation_cases_are_usage_errors(text):
    with pytest.raises(UsageError, match="bad case"):
        ablation.parse_case(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--formats", "2x2x2,2x2"], "bad format '2x2'"),
        (["--formats", "1x2x2"], "bad format '1x2x2'"),
        (["--max-size", "1"], "--max-size must be at least 2"),
        (["--formats", "9x9x9"], "at most 64 entries"),
        (["--method", "learned", "--seeds", "0,x"], "--seeds: expected comma-separated integers"),
        (["--method", "learned", "--variants", "trained,lucky"], "unknown variant 'lucky'"),
        (["--method", "hybrid", "--seeds", "0,1"], "--method hybrid runs one seed"),
        (["--coefficients=-1,0,1"], "--coefficients is for --method learned --field z"),
        (["--method", "learned", "--init", "{tmp}"], "is not a gamify pretrain run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    code, stdout, err = run_cli(capsys, *argv, "--out", str(tmp_path / "never"))
    assert code == 2 and message in err
    assert err.count("\n") == 1 and err.startswith("gamify: error: ")
    assert not (tmp_path / "never").exists()

"""``gamify bench ranks``: the shipped best-known table, format parsing, and the command end to end."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gamify.cli.bench import ranks
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


def test_over_z_the_walks_schemes_are_lifted(tmp_path, capsys):
    argv = ["--formats", "2x2x3", "--field", "z", "--budget-per-format", "5s", "--out", str(tmp_path)]
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0 and "lifted to Z" in stdout and "| ⟨2,2,3⟩ | 12 | 11 | 11 | 11 |" in stdout
    scheme = read_scheme(tmp_path / "schemes" / "2x2x3.json")
    assert scheme.field == "z" and scheme.rank == 11 and scheme.verify().ok


def test_square_formats_from_5_walk_among_symmetric_schemes(tmp_path):
    task = ranks.Task((5, 5, 5), "z2", 93, 1.0, 0, "cpu", tmp_path, True)
    outcome = ranks.search_flips(task, lambda line: None)
    assert outcome.scheme.verify().ok and outcome.scheme.rank < 111  # the symmetric start is 135
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


def test_hybrid_walks_on_from_the_learned_scheme(tmp_path, capsys, monkeypatch):
    """The learned search is replaced by a stand-in that writes a run as gamify search does."""
    from gamify.cli import search as tensor_search

    seen = {}

    def fake_search(args):
        seen.update(vars(args))
        args.out.mkdir(parents=True)
        (args.out / "metrics.jsonl").write_text(json.dumps({"elapsed": 1.0, "best_return": -8.0}) + "\n")
        write_scheme(standard_scheme(args.n, args.m, args.p), args.out / "scheme.json")
        return 0

    monkeypatch.setattr(tensor_search, "run_search", fake_search)
    argv = ["--formats", "2,2,2", "--method", "hybrid", "--budget-per-format", "4s", "--preset", "tiny"]
    code, stdout, _ = run_cli(capsys, *argv, "--out", str(tmp_path))
    assert code == 0 and "learned: rank 8" in stdout
    assert (seen["budget"], seen["target_rank"], seen["preset"], seen["field"]) == (2.0, 7, "tiny", "z2")
    row = json.loads((tmp_path / "ranks.json").read_text())["rows"][0]
    assert row["rank"] == 7 and row["verified"] is True
    assert row["history"][0] == [1.0, 8] and row["history"][-1][1] == 7


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--formats", "2x2x2,2x2"], "bad format '2x2'"),
        (["--formats", "1x2x2"], "bad format '1x2x2'"),
        (["--max-size", "1"], "--max-size must be at least 2"),
        (["--formats", "9x9x9"], "at most 64 entries"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code, stdout, err = run_cli(capsys, *argv, "--out", str(tmp_path / "never"))
    assert code == 2 and message in err
    assert err.count("\n") == 1 and err.startswith("gamify: error: ")
    assert not (tmp_path / "never").exists()

"""Does a learned guide help the flip-graph walk? Plain walks against guided ones, side by side.

For each seed, a plain walk of ``--warmup`` seconds from the naive algorithm makes the start
(the plateau where walks circle); then every arm walks on from that same start for the same
``--seconds`` on every core, with the same seed:

  plain      the C++ walker, its defaults (random plus transitions at plateaus of 2,000);
  trained    the flip_graph game searched by Gumbel MCTS with the guide's trained network
             (``games/flip_graph.py``: each move a plus transition chosen by the search,
             each simulation a walk stretch);
  untrained  the same search with the same network freshly initialised (from the seed);
  uniform    the same search with no network (uniform prior, value 0): the search alone;
  walkers    64 walkers in lockstep, each making a uniformly random plus transition at each
             plateau (``flip_graph.prior_walk``: the plain walk, one Python round per stretch);
  prior      the same walkers with the plus transitions drawn from a network fitted to the
             plus transitions that preceded new bests of the uniform walkers along the descent
             (``collect_successes`` for ``--collect``, then ``fit_prior``; hindsight labels);
  prior-untrained  the same walkers and network, freshly initialised (from the seed);
  select     the walkers arm, and every 10 rounds the quarter of walkers whose best schemes
             rank last restart from the best schemes of the first quarter (go with the
             winners), ranked by best rank alone (ties at random);
  value      the same selection, ties within a rank broken by a value network fitted to
             whether uniform walkers at their best rank went lower within 30 rounds
             (``collect_outcomes`` for ``--collect``, then ``fit_value``);
  value-untrained  the same selection with the value network freshly initialised.
  pairs      the same selection, ties within a rank broken by a hand-made value: the size of
             the scheme's flip neighbourhood (``flip_graph.flip_pairs``; nothing learned).

The search arms' guide is a ``gamify train flip_graph`` run (``--guide DIR``), or one trained here first
for ``--train-time`` from schemes this script collects along plain walks of the descent
(ranks above the plateau, where reductions are frequent enough to learn from). The guided
arms' compilation (once per walk, ~10 s) is not counted in their time; it is reported.
Prints (and with ``--markdown FILE`` writes) a table: the rank per seed, the median, the
flips per second of each arm (the search's simulations included) and its ratio to plain.

    python benchmarks/flip_guide.py --format 3x4x5 --seeds 0,1,2 --seconds 60 --updates 1500
    python benchmarks/flip_guide.py --format 3x4x5 --arms plain,trained,untrained,uniform --train-time 15m
    python benchmarks/flip_guide.py --format 3x4x5 --guide runs/guide345 --arms plain,trained

Without ``--arms``: plain and the walker arms (the search arms take a 15-minute training).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command
from gamify.cli.common import parse_duration
from gamify.cli.main import main as gamify
from gamify.games import flip_graph
from gamify.networks import NetworkConfig
from gamify.tensor import flips, formats
from gamify.tensor.records import reference_ranks

SEARCH_ARMS = ("trained", "untrained", "uniform")
PRIOR_ARMS = ("walkers", "prior", "prior-untrained", "select", "value", "value-untrained", "pairs")
ARMS = ("plain", *SEARCH_ARMS, *PRIOR_ARMS)
PRIOR_NETWORK = NetworkConfig(torso="set", pair_kinds=3, hidden_size=64, head_hidden_size=64)


def descent_schemes(sizes, folder: Path, walks: int, seconds: float, above: int) -> int:
    """Writes the best scheme of each new rank, at least ``above``, seen along plain walks
    from the naive algorithm (seeds 1000, 1001, ...); returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    naive, count = flips.standard_scheme(*sizes), 0
    for walk in range(walks):
        seen: set[int] = set()

        def keep(result, walk=walk, seen=seen):
            nonlocal count
            rank = result.scheme.rank
            if rank >= above and rank not in seen and rank < naive.rank:
                seen.add(rank)
                formats.write_scheme(result.scheme, folder / f"walk{walk}-rank{rank}.json", "gamify")
                count += 1

        flips.walk(naive, 0, seconds, seed=1000 + walk, report_every=0.25, progress=keep)
    return count


def train_guide(sizes, out: Path, train_time: float, plateau: int, moves: int, seed: int) -> None:
    starts = out.with_name(out.name + "-starts")
    best = reference_ranks(sizes, "z2")["best_known"] or 0
    found = descent_schemes(sizes, starts, walks=4, seconds=10.0, above=best + 3)
    if not found:
        raise SystemExit(f"no scheme of rank {best + 3} or more along the descent to train from")
    print(f"guide: {found} starting schemes along the descent in {starts}", flush=True)
    n, m, p = sizes
    code = gamify(
        [
            "train",
            "flip_graph",
            "--set",
            f"n={n}",
            "--set",
            f"m={m}",
            "--set",
            f"p={p}",
            "--set",
            f"start={starts}",
            "--set",
            f"plateau={plateau}",
            "--set",
            f"moves={moves}",
            "--games-per-iteration",
            "16",
            "--simulations",
            "16",
            "--replay-capacity",
            "4096",
            "--hidden",
            "64",
            "--seed",
            str(seed),
            "--time",
            f"{train_time}s",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    if code != 0:
        raise SystemExit(f"training the guide failed (exit {code})")


def collection_game(sizes, plateau: int) -> flip_graph.FlipGraph:
    """The game the prior and value arms learn from: its starts are the naive algorithm and
    schemes along plain descents (at least 3 above the best known rank)."""
    with tempfile.TemporaryDirectory() as scratch:
        best = reference_ranks(sizes, "z2")["best_known"] or 0
        descent_schemes(sizes, Path(scratch), walks=4, seconds=10.0, above=best + 3)
        formats.write_scheme(flips.standard_scheme(*sizes), Path(scratch) / "naive.json", "gamify")
        return flip_graph.FlipGraph(*sizes, start=scratch, plateau=plateau, moves=2)


def fit_value(sizes, collect: float, updates: int, plateau: int, seed: int) -> tuple[object, str]:
    """The value arm's parameters, fitted to the outcomes of uniform walkers."""
    game = collection_game(sizes, plateau)
    outcomes = flip_graph.collect_outcomes(game, collect, seed=seed)
    print(f"value: {len(outcomes.success)} outcomes ({outcomes.success.mean():.3f} successes)", flush=True)
    params, measure = flip_graph.fit_value(
        game,
        PRIOR_NETWORK,
        outcomes,
        updates=updates,
        seed=seed,
        progress=lambda step, m: print(f"  fit {step}: {m}", flush=True),
    )
    note = (
        f"value fitted to {len(outcomes.success)} outcomes of {collect:g} s of uniform walkers "
        f"({outcomes.success.mean():.3f} went lower within 30 rounds), {updates} updates: held-out AUC "
        f"within a rank {measure['auc']:.3f} (0.5: chance), log loss {measure['log_loss']:.3f} vs "
        f"{measure['base_log_loss']:.3f} for each rank's rate"
    )
    return params, note


def fit_prior(sizes, collect: float, updates: int, plateau: int, seed: int) -> tuple[object, str]:
    """The prior arm's parameters, fitted to the successes of uniform walkers."""
    game = collection_game(sizes, plateau)
    successes = flip_graph.collect_successes(game, collect, seed=seed)
    print(f"prior: {len(successes.action)} successes in {collect:g} s", flush=True)
    params, measure = flip_graph.fit_prior(
        game,
        PRIOR_NETWORK,
        successes,
        updates=updates,
        seed=seed,
        progress=lambda step, m: print(f"  fit {step}: {m}", flush=True),
    )
    note = (
        f"prior fitted to {len(successes.action)} successes of {collect:g} s of uniform walkers along the "
        f"descent, {updates} updates: held-out {measure['nll']:.3f} nats per move vs uniform "
        f"{measure['uniform_nll']:.3f}, top-1 {measure['top1']:.4f} vs {measure['uniform_top1']:.4f}"
    )
    return params, note


def run_arm(
    arm: str, start, target: int, seconds: float, seed: int, guide, learned: dict, plateau: int
) -> dict:
    if arm == "plain":
        result = flips.walk(start, target, seconds, seed=seed)
        return {"rank": result.scheme.rank, "flips": result.flips, "seconds": result.seconds, "compile": 0.0}
    if arm in PRIOR_ARMS:
        uniform = NetworkConfig(torso="uniform")
        prior = arm.startswith("prior")
        walk = flip_graph.Guide(PRIOR_NETWORK if prior else uniform, learned.get(arm), plateau=plateau)
        selector = None
        if arm in ("select", "value", "value-untrained"):
            selector = flip_graph.Guide(uniform if arm == "select" else PRIOR_NETWORK, learned.get(arm))
        elif arm == "pairs":
            selector = flip_graph.flip_pairs
        result = flip_graph.prior_walk(start, target, seconds, walk, seed=seed, selector=selector)
        return {
            "rank": result.scheme.rank,
            "flips": result.flips,
            "seconds": result.seconds,
            "compile": result.compile_seconds,
        }
    if arm == "untrained":
        guide = flip_graph.Guide(guide.network, None, guide.search, guide.plateau, guide.moves)
    elif arm == "uniform":
        guide = flip_graph.Guide(
            NetworkConfig(torso="uniform"), None, guide.search, guide.plateau, guide.moves
        )
    result = flip_graph.guided_walk(start, target, seconds, guide, seed=seed)
    return {
        "rank": result.scheme.rank,
        "flips": result.flips,
        "seconds": result.seconds,
        "compile": result.compile_seconds,
    }


def report(sizes, best: int, rows: dict, setup: str, command: str) -> list[str]:
    """The markdown block: header (machine, date, command, setup), then one row per arm."""
    machine = machine_info()
    lines = [
        f"### benchmarks/flip_guide.py: guided and plain flip walks, ⟨{','.join(map(str, sizes))}⟩ over Z2",
        "",
        *header_lines(machine, command),
        f"- setup: {setup}; best known rank {best}",
        "",
        "| arm | rank per seed | median | seeds at best known | flips/s | vs plain | compile (s) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    plain_rate = None
    for arm, results in rows.items():
        rate = sum(r["flips"] for r in results) / sum(r["seconds"] for r in results)
        plain_rate = rate if arm == "plain" else plain_rate
        ratio = f"{rate / plain_rate:.3f}×" if plain_rate else "-"
        ranks = [r["rank"] for r in results]
        hits = sum(rank <= best for rank in ranks)
        lines.append(
            f"| {arm} | {', '.join(map(str, ranks))} | {statistics.median(ranks):g} | {hits}/{len(ranks)} | "
            f"{rate:,.0f} | {ratio} | {statistics.median(r['compile'] for r in results):.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", default="3x4x5", help="n x m x p (default 3x4x5)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--seconds", type=parse_duration, default=120.0, help="each arm's walk (120s)")
    parser.add_argument(
        "--warmup", type=parse_duration, default=10.0, help="the plain walk to the start (10s)"
    )
    parser.add_argument(
        "--start-rank",
        type=int,
        help="the plain walk to the start stops at this rank instead (one thread, so reproducible)",
    )
    parser.add_argument(
        "--arms",
        default=",".join(("plain", *PRIOR_ARMS)),
        help=f"comma-separated, of {', '.join(ARMS)} (default: plain and the walker arms)",
    )
    parser.add_argument("--guide", type=Path, help="a gamify train flip_graph run (default: train one here)")
    parser.add_argument("--train-time", type=parse_duration, default=900.0, help="without --guide (15m)")
    parser.add_argument(
        "--plateau",
        type=int,
        default=2000,
        help="the game's plateau, training here, and the prior walks' (2000)",
    )
    parser.add_argument("--moves", type=int, default=8, help="moves per game, training here (8)")
    parser.add_argument(
        "--collect", type=parse_duration, default=120.0, help="the prior and value arms' uniform walks (120s)"
    )
    parser.add_argument(
        "--updates", type=int, default=300, help="the prior and value arms' fitting updates (300)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    sizes = tuple(int(x) for x in args.format.split("x"))
    seeds = [int(s) for s in args.seeds.split(",")]
    arms = args.arms.split(",")
    if set(arms) - set(ARMS) or len(sizes) != 3:
        raise SystemExit(f"--arms must be of {ARMS}; --format like 3x4x5")
    best = reference_ranks(sizes, "z2")["best_known"] or 0
    guide = None
    trained_here = ""
    learned, notes = {}, []
    for arm, fit in (("prior", fit_prior), ("value", fit_value)):
        if arm in arms:
            learned[arm], note = fit(sizes, args.collect, args.updates, args.plateau, seed=0)
            notes.append(note)
    if "trained" in arms:
        with tempfile.TemporaryDirectory() as scratch:
            run = args.guide
            if run is None:
                run = Path(scratch) / "guide"
                clock = time.perf_counter()
                train_guide(sizes, run, args.train_time, args.plateau, args.moves, seed=0)
                trained_here = f"guide trained here for {time.perf_counter() - clock:.0f} s (seed 0)"
            guide = flip_graph.load_guide(run)
    elif set(arms) & set(SEARCH_ARMS):
        guide = flip_graph.Guide(plateau=args.plateau, moves=args.moves)
    rows, starts = {arm: [] for arm in arms}, []
    for seed in seeds:
        naive = flips.standard_scheme(*sizes)
        if args.start_rank:
            start = flips.walk(naive, args.start_rank, 600.0, seed=seed, threads=1).scheme
        else:
            start = flips.walk(naive, best, args.warmup, seed=seed).scheme
        starts.append(start.rank)
        print(f"seed {seed}: start rank {start.rank}", flush=True)
        for arm in arms:
            rows[arm].append(run_arm(arm, start, best, args.seconds, seed, guide, learned, args.plateau))
            print(f"  {arm}: {rows[arm][-1]}", flush=True)
    command = script_command(__file__, argv)
    walked = f"at rank {args.start_rank}" if args.start_rank else f"after {args.warmup:g} s"
    setup = (
        f"from a plain walk's scheme {walked} (start ranks {', '.join(map(str, starts))}), "
        f"each arm {args.seconds:g} s more on every core, seeds {args.seeds}"
    )
    setup += "".join(f"; {note}" for note in notes)
    if set(arms) & set(PRIOR_ARMS):
        setup += f"; prior walks: 64 walkers, plateau {args.plateau}, plus moves up to best + 1"
        setup += "; selection every 10 rounds, a quarter of the walkers"
    if guide is not None:
        setup += (
            f"; {trained_here or 'guide ' + str(args.guide or 'untrained')}; game plateau {guide.plateau}, "
            f"{guide.moves} "
            f"moves per game, 16 games per round, {guide.search.num_simulations} simulations per move"
        )
    lines = report(sizes, best, rows, setup, command)
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``gamify bench ranks``: the rank gamify reaches per matrix-multiplication format, next to
the naive, AlphaTensor and best-known ranks.

Each format ⟨n,m,p⟩ gets one search with its own wall-time budget (flip-graph walks, the
learned search, or both), aimed at the best-known rank for the field. Every scheme found
is verified exactly against :func:`gamify.tensor.matmul_tensor` before it is counted; a scheme
that fails shows ✗ and the command exits 1. The best-known ranks come from
``gamify/tensor/data/best_known_ranks.json`` (sources and dates inside).

Writes into ``--out``: ``ranks.json`` (rows, settings, machine), ``ranks.md`` (the table
with a machine/date/command header, for benchmarks/RESULTS.md), ``ranks.png`` (rank per
format; rank above the best known against time) and ``schemes/NxMxP.json``.

(One module of ~480 lines: the suite's options, its three searches and its three reports
are read together when a figure in benchmarks/RESULTS.md is questioned.)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import itertools
import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from gamify.cli import search as search_command
from gamify.cli.bench import ablation
from gamify.cli.bench.machine import header_lines, machine_info
from gamify.cli.common import UsageError, integers, parse_duration
from gamify.tensor import flips
from gamify.tensor.flips import MAX_DIM
from gamify.tensor.formats import read_scheme, write_scheme
from gamify.tensor.lift import LiftError, hensel_lift
from gamify.tensor.matmul import matmul_tensor
from gamify.tensor.records import best_known_table, reference_ranks
from gamify.tensor.scheme import Scheme

Sizes = tuple[int, int, int]
Say = Callable[[str], None]

METHODS = ("flips", "learned", "hybrid")
FIELDS = ("z2", "z")
DEFAULT_BUDGET = {"flips": 20.0, "learned": 300.0, "hybrid": 300.0}  # seconds per format
VERDICT = {True: "✓", False: "✗", None: "–"}  # verified, failed verification, no scheme found
REPORT_EVERY = 0.1  # seconds between flip-walk reports: the resolution of "time to best"
_ONE_FORMAT = re.compile(r"(\d+)x(\d+)x(\d+)")
_ONE_TRIPLE = re.compile(r"(\d+),(\d+),(\d+)")


def add_parser(suites) -> None:
    """Adds ``ranks`` to the ``gamify bench`` suites."""
    ranks = suites.add_parser(
        "ranks",
        help="ranks reached per matmul format vs naive, AlphaTensor and best known",
        description="Search each matrix-multiplication format ⟨n,m,p⟩ within a budget and compare "
        "the verified rank reached with the naive, AlphaTensor and best-known ranks. Prints a table "
        "and writes ranks.json, ranks.md, ranks.png and schemes/NxMxP.json into --out.",
    )
    which = ranks.add_mutually_exclusive_group()
    which.add_argument(
        "--formats",
        nargs="+",
        metavar="NxMxP",
        help="formats, comma- or space-separated, any order of n, m, p: 2x2x2,2x2x3 or 2,2,3",
    )
    which.add_argument(
        "--max-size", type=int, metavar="N", help="every format 2 <= n <= m <= p <= N (default: 3)"
    )
    ranks.add_argument(
        "--field",
        choices=FIELDS,
        default="z2",
        help="coefficients mod 2 or integers (z2); over z, flip-walk schemes are Hensel-lifted to Z",
    )
    ranks.add_argument(
        "--method",
        choices=METHODS,
        default="flips",
        help="flips: flip-graph walks over Z2 from the naive algorithm; learned: gamify search matmul; "
        "hybrid: the learned search for the first half of the budget, then flip walks from its "
        "scheme for the second half (flips)",
    )
    ranks.add_argument(
        "--budget-per-format",
        type=parse_duration,
        metavar="TIME",
        help="wall time per format, e.g. 20s, 5m (default: 20s for flips, 5m for learned and hybrid)",
    )
    ranks.add_argument(
        "--seed", type=int, default=0, help="random seed (0); flips: --seeds S,S,... walks once per seed"
    )
    ranks.add_argument(
        "--preset",
        choices=search_command.PRESETS,
        default="cpu",
        help="learned search: network and search sizes (cpu)",
    )
    learned = ranks.add_argument_group(
        "learned and hybrid searches",
        "Each format's search runs once per seed and variant (gamify bench ablation's): the table "
        "shows the first variant's best seed, and an ablation table below it every variant's rank "
        "per seed, median, seeds at the best-known rank and median time to it. Flip walks take "
        "--seeds too: a walk per seed, each with the whole budget.",
    )
    ablation.add_variant_options(learned, "trained", "--seed")
    learned.add_argument(
        "--coefficients",
        type=integers,
        metavar="F",
        help="--field z: factor entries allowed, e.g. --coefficients=-1,0,1 (default -2..2)",
    )
    ranks.add_argument("--out", type=Path, default=Path("runs/bench-ranks"), help="(runs/bench-ranks)")
    ranks.add_argument("--quiet", action="store_true", help="no progress lines")


# --------------------------------------------------------------------------- formats and table


def parse_formats(items: list[str]) -> list[Sizes]:
    """Formats from ``--formats`` arguments, in order, without repeats.

    An argument is either one format ``n,m,p`` or formats ``NxMxP`` separated by commas
    (``2x2x2,2x2x3``); sizes are at least 2.

    Raises:
      UsageError: naming the first malformed format.
    """
    formats = []
    for item in items:
        triple = _ONE_TRIPLE.fullmatch(item.strip())
        for token in [item] if triple else re.split(r"[\s,]+", item.strip()):
            match = triple or _ONE_FORMAT.fullmatch(token.strip().lower())
            sizes = tuple(int(size) for size in match.groups()) if match else ()
            if not sizes or min(sizes) < 2:
                raise UsageError(
                    f"bad format {token.strip()!r} in --formats: expected NxMxP with sizes >= 2, "
                    "e.g. 2x2x3 (or 2,2,3), several separated by commas"
                )
            formats.append(sizes)
    return list(dict.fromkeys(formats))


def formats_up_to(size: int) -> list[Sizes]:
    """Every sorted format 2 <= n <= m <= p <= size."""
    return list(itertools.combinations_with_replacement(range(2, size + 1), 3))


def format_name(sizes: Sizes) -> str:
    return "{}x{}x{}".format(*sizes)


# --------------------------------------------------------------------------- searches


@dataclasses.dataclass(frozen=True)
class Task:
    """One format's search: what to find, with what budget, and where runs go."""

    sizes: Sizes
    field: str
    target_rank: int  # the best known rank; 0 when unknown (then the whole budget is used)
    seconds: float
    seed: int
    preset: str
    search_dir: Path  # learned runs go here, one folder per format
    quiet: bool
    ablation: ablation.Settings | None = None  # learned: the seeds and variants (default: seed, trained)
    coefficients: tuple[int, ...] | None = None  # learned over Z: the factor entries allowed
    seeds: tuple[int, ...] = ()  # flips: one walk per seed (default: seed)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A search's best scheme (None when none was complete) and its best rank over time."""

    scheme: Scheme | None
    history: list[tuple[float, int]]  # (seconds since the format's start, best rank so far)
    note: str | None = None  # what the table cannot say, e.g. that a Z2 scheme did not lift to Z
    ablation: list[dict] = dataclasses.field(default_factory=list)  # learned: a row per variant
    seeds: list[dict] = dataclasses.field(default_factory=list)  # flips: seed, rank, seconds_to_best


def search_flips(task: Task, say: Say, start: Scheme | None = None, offset: float = 0.0) -> Outcome:
    """Flip-graph walks over Z2 from ``start`` (default: the naive algorithm) to the target rank.

    The walks only know Z2: over Z each lower-rank scheme they report is Hensel-lifted as it
    appears, and the best one that lifts is kept (``start``, a Z scheme, when none does).
    From the naive algorithm, square formats from ⟨5,5,5⟩ up walk among cyclic-symmetric
    schemes (Moosbauer & Poole's route to ⟨5,5,5⟩:93), at plateau 10,000 (others at
    :data:`flips.PLATEAU`); formats with every side ≥ 4 draw each stretch's plateau from that to
    :data:`flips.PLATEAU_RANGE` times that (measured better there, worse below).
    """
    n = task.sizes[0]
    symmetric = start is None and task.sizes == (n, n, n) and n >= 5
    if start is None:
        naive = flips.standard_scheme(*task.sizes)  # 0/1 coefficients: valid over Z as well
        start = Scheme(naive.u, naive.v, naive.w, field=task.field, matmul=task.sizes)
    walk_from, plateau = (flips.symmetric_scheme(n), 10_000) if symmetric else (start, flips.PLATEAU)
    best, walked, history, unlifted = start, start.rank, [(offset, start.rank)], []

    def progress(offset: float, result: flips.FlipResult) -> None:
        nonlocal best, walked
        if result.scheme.rank >= walked:
            return
        walked, seconds = result.scheme.rank, offset + result.seconds
        scheme = result.scheme if task.field == "z2" else lift_to_z(result.scheme, say)
        if scheme is None:
            unlifted.append(walked)
            return
        best = scheme
        history.append((seconds, scheme.rank))
        say(
            f"    flips: rank {scheme.rank} at {seconds:.2f} s"
            + (", lifted to Z" if task.field == "z" else "")
        )

    began, seed = time.monotonic(), task.seed
    while (left := task.seconds - (time.monotonic() - began)) > 0.01 and best.rank > task.target_rank:
        # Over Z a walk that reached the target with a scheme that does not lift goes on with
        # new seeds (new walkers from the start) for the rest of the budget.
        offset_now, walked = offset + time.monotonic() - began, best.rank
        flips.walk(
            walk_from,
            task.target_rank,
            left,
            seed=seed,
            report_every=REPORT_EVERY,
            progress=functools.partial(progress, offset_now),
            plateau=plateau,
            plateau_max=plateau * flips.PLATEAU_RANGE if min(task.sizes) >= 4 else 0,
            symmetric=symmetric,
        )
        seed += 1000
    lowest = min(unlifted, default=best.rank)
    note = (
        f"Z2 schemes down to rank {lowest} were found but did not lift to Z" if lowest < best.rank else None
    )
    return Outcome(best, history, note)


def search_flips_per_seed(task: Task, say: Say) -> Outcome:
    """:func:`search_flips` once per seed, each with the whole budget; the outcome is the best
    seed's (the first of the lowest rank), with every seed's rank and time to it."""
    outcomes, seeds = [], []
    for seed in task.seeds or (task.seed,):
        if len(task.seeds) > 1:
            say(f"    seed {seed}:")
        outcome = search_flips(dataclasses.replace(task, seed=seed), say)
        rank = outcome.scheme.rank
        to_best = next(t for t, r in outcome.history if r <= rank)
        outcomes.append(outcome)
        seeds.append({"seed": seed, "rank": rank, "seconds_to_best": round(to_best, 3)})
    best = min(range(len(outcomes)), key=lambda k: seeds[k]["rank"])
    return dataclasses.replace(outcomes[best], seeds=seeds)


def lift_to_z(scheme: Scheme, say: Say) -> Scheme | None:
    """The Z2 scheme Hensel-lifted to integer coefficients, or None (saying why) when it does not lift."""
    try:
        lifted = hensel_lift(scheme)
    except LiftError as error:
        say(f"    {error}")
        return None
    if lifted.field != "z":
        say(f"    rank {scheme.rank} over Z2 lifts only to Q (fractional coefficients), not to Z")
        return None
    return lifted


def search_learned(task: Task, say: Say) -> Outcome:
    """``gamify search matmul`` per seed and variant (:func:`gamify.cli.bench.ablation.run_case`),
    runs in ``task.search_dir``; the outcome is the first variant's best verified scheme."""
    settings = task.ablation or ablation.Settings(["trained"], [task.seed], task.seconds, 0.0, task.preset)
    settings = dataclasses.replace(settings, budget=task.seconds)
    case = ablation.Case(
        f"{format_name(task.sizes)}:{task.field}",
        task.sizes,
        task.field,
        task.coefficients,
        task.target_rank or None,
    )
    work = task.search_dir / format_name(task.sizes)
    say(f"    learned search: {len(settings.variants)} variant(s) × {len(settings.seeds)} seed(s) in {work}")
    work.mkdir(parents=True, exist_ok=True)

    rows = ablation.run_case(case, settings, work, lambda line: say("    " + line))
    best = None
    for result in rows[0]["results"]:
        found = Path(result["run"]) / "scheme.json"
        scheme = read_scheme(found) if found.exists() else None
        if scheme is not None and (best is None or scheme.rank < best[0].rank):
            best = scheme, result
    if best is None:
        return Outcome(None, [], ablation=rows)
    metrics = (Path(best[1]["run"]) / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in metrics]
    history = [(r["elapsed"], round(-r["best_return"])) for r in records if r["best_return"] is not None]
    return Outcome(best[0], history, ablation=rows)


def search_hybrid(task: Task, say: Say) -> Outcome:
    """The learned search for half the budget, then flip walks from its scheme for the other half."""
    half = dataclasses.replace(task, seconds=task.seconds / 2)
    start = time.monotonic()
    learned = search_learned(half, say)
    walked = search_flips(half, say, start=learned.scheme, offset=time.monotonic() - start)
    return Outcome(walked.scheme, learned.history + walked.history[1:], walked.note)


SEARCHES: dict[str, Callable[[Task, Say], Outcome]] = {
    "flips": search_flips_per_seed,
    "learned": search_learned,
    "hybrid": search_hybrid,
}


def bench_format(task: Task, method: str, say: Say) -> tuple[dict, Scheme | None]:
    """Runs one format's search and verifies its scheme exactly; returns the row and the scheme."""
    target = matmul_tensor(*task.sizes)
    ref = reference_ranks(task.sizes, task.field)
    say(
        f"⟨{','.join(map(str, task.sizes))}⟩ {method} over {task.field.upper()}: naive {ref['naive']}, "
        f"best known {ref['best_known'] or '?'}, budget {task.seconds:g} s"
    )
    start = time.monotonic()
    outcome = SEARCHES[method](task, say)
    seconds = time.monotonic() - start
    scheme = outcome.scheme
    # Checked here, over the field asked for, whatever the search claims: only this prints ✓.
    verified = None if scheme is None else scheme.field == task.field and scheme.verify(target).ok
    rank = None if scheme is None else scheme.rank
    to_best = None if rank is None else next(t for t, r in outcome.history + [(seconds, rank)] if r <= rank)
    verdict = {True: "verified ✓", False: "FAILED verification ✗", None: "no complete scheme"}[verified]
    say(f"    done: rank {_cell(rank)} in {seconds:.2f} s, {verdict}")
    row = {
        "format": format_name(task.sizes),
        "sizes": list(task.sizes),
        **ref,
        "rank": rank,
        "seconds_to_best": None if to_best is None else round(to_best, 3),
        "seconds": round(seconds, 3),
        "verified": verified,
        "note": outcome.note,
        "history": [[round(t, 3), r] for t, r in outcome.history],
        "ablation": outcome.ablation,
        "seeds": outcome.seeds,
    }
    if outcome.seeds:
        ranks = [seed["rank"] for seed in outcome.seeds]
        known = ref["best_known"]
        times = [seed["seconds_to_best"] for seed in outcome.seeds if known and seed["rank"] <= known]
        row["median_rank"] = statistics.median(ranks)
        row["at_best_known"] = len(times)
        row["median_seconds_to_best_known"] = round(statistics.median(times), 3) if times else None
    return row, scheme if verified else None


# --------------------------------------------------------------------------- reports


def _cell(value, digits: int | None = None) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if digits is not None else str(value)


def markdown_table(rows: list[dict], field: str) -> str:
    """The rows as a Markdown table (also what the command prints); with several flip-walk seeds,
    ours is the best seed's, and three columns say how the seeds fared."""
    at = "AlphaTensor (Z2)" if field == "z2" else "AlphaTensor (std)"
    seeds = max((len(row.get("seeds", [])) for row in rows), default=0)
    head = f"| format | naive | {at} | best known ({field.upper()}) | ours | time to best (s) | verified |"
    rule = "|---|---:|---:|---:|---:|---:|:---:|"
    if seeds > 1:
        head += " median rank | seeds at best known | median time to it (s) |"
        rule += "---:|---:|---:|"
    lines = [head, rule]
    for row in rows:
        cells = [
            "⟨{},{},{}⟩".format(*row["sizes"]),
            _cell(row["naive"]),
            _cell(row["alphatensor"]),
            _cell(row["best_known"]),
            _cell(row["rank"]),
            _cell(row["seconds_to_best"], 2),
            VERDICT[row["verified"]],
        ]
        if seeds > 1:
            cells += [
                f"{row['median_rank']:g}",
                f"{row['at_best_known']}/{len(row['seeds'])}",
                _cell(row["median_seconds_to_best_known"], 1),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(report: dict) -> str:
    """ranks.md: a header with the machine, date and command, the table, then notes per format."""
    machine, settings = report["machine"], report["settings"]
    lines = [
        f"### gamify bench ranks: {settings['method']} over {settings['field'].upper()}, "
        f"{settings['budget_per_format']:g} s per format",
        "",
        *header_lines(machine, report["command"]),
        f"- best known: gamify/tensor/data/best_known_ranks.json, compiled {report['table_compiled']}",
        "",
        markdown_table(report["rows"], settings["field"]),
    ]
    notes = [f"- {row['format']}: {row['note']}" for row in report["rows"] if row["note"]]
    variants = [variant for row in report["rows"] for variant in row["ablation"]]
    if variants:
        seeds = ",".join(map(str, settings["seeds"]))
        lines += ["", f"Per seed ({seeds}) and network, at equal budget (gamify bench ablation's table):", ""]
        lines += ablation.TABLE_HEAD + [ablation.markdown_row(variant) for variant in variants]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def plot_ranks(rows: list[dict], path: Path) -> None:
    """ranks.png: rank per format (ours, best known, AlphaTensor, naive); rank above best vs time."""
    import matplotlib  # deferred: ~1.5 s to import, and only plots need it

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt  # deferred, after choosing the backend

    fig, (by_format, by_time) = plt.subplots(1, 2, figsize=(11, 4), dpi=120)
    names = [row["format"] for row in rows]
    for key, label, style in [
        ("naive", "naive", dict(marker="x", color="grey")),
        ("alphatensor", "AlphaTensor", dict(marker="^", color="tab:orange")),
        ("best_known", "best known", dict(marker="_", color="black", markersize=14)),
        ("rank", "ours", dict(marker="o", color="tab:blue", fillstyle="none")),
    ]:
        points = [(name, row[key]) for name, row in zip(names, rows, strict=True) if row[key] is not None]
        if points:
            by_format.plot(*zip(*points, strict=True), linestyle="none", label=label, **style)
    by_format.set_ylabel("rank")
    by_format.tick_params(axis="x", labelrotation=60)
    by_format.legend(fontsize=8)
    for row in rows:
        if row["best_known"] is not None and row["history"]:
            times, ranks = zip(*row["history"], (row["seconds"], row["history"][-1][1]), strict=True)
            excess = [rank - row["best_known"] for rank in ranks]
            by_time.step([max(t, 1e-3) for t in times], excess, where="post", label=row["format"])
    by_time.set_xscale("log")
    by_time.set_xlabel("wall time (s)")
    by_time.set_ylabel("best rank − best known")
    by_time.yaxis.get_major_locator().set_params(integer=True)
    if by_time.get_lines():
        by_time.legend(fontsize=7, ncol=2)
    for ax in (by_format, by_time):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- command


def _check(args) -> tuple[list[Sizes], ablation.Settings | None, list[int]]:
    """The formats to run, the learned searches' settings (None for flips) and the seeds;
    UsageError for settings that cannot work, before any search starts."""
    if args.max_size is not None and args.max_size < 2:
        raise UsageError(f"--max-size must be at least 2, got {args.max_size}")
    if args.coefficients is not None and (args.field != "z" or args.method != "learned"):
        raise UsageError("--coefficients is for --method learned --field z")
    formats = parse_formats(args.formats) if args.formats else formats_up_to(args.max_size or 3)
    settings = None
    if args.method == "flips":
        seeds = ablation.parse_seeds(args.seeds, str(args.seed))
    else:
        options = argparse.Namespace(**vars(args), budget="1s")  # the budget is per format, set later
        settings = ablation.parse_settings(options, default_seeds=str(args.seed))
        seeds = settings.seeds
        if args.method == "hybrid" and (len(seeds) > 1 or settings.variants != ["trained"]):
            raise UsageError(
                "--method hybrid runs one seed of the trained network: --seeds and --variants are for learned"
            )
    if args.method != "learned":
        for n, m, p in formats:
            if max(n * m, m * p, p * n) > MAX_DIM:
                raise UsageError(f"flips handle at most {MAX_DIM} entries per factor; ⟨{n},{m},{p}⟩ has more")
    return formats, settings, seeds


def _command(args, formats: list[Sizes], budget: float, settings: ablation.Settings | None, seeds) -> str:
    """The command line that reproduces this run (settings made explicit)."""
    parts = ["gamify bench ranks --formats", ",".join(map(format_name, formats))]
    parts += ["--field", args.field, "--method", args.method, "--budget-per-format", f"{budget:g}s"]
    if settings is None:
        parts += ["--seeds", ",".join(map(str, seeds))] if len(seeds) > 1 else ["--seed", str(seeds[0])]
    else:
        parts += ["--seeds", ",".join(map(str, settings.seeds)), "--variants", ",".join(settings.variants)]
        parts += ["--preset", args.preset]
        if settings.init is not None:
            parts += ["--init", str(settings.init)]
        elif any(variant.startswith("pretrained") for variant in settings.variants):
            parts += ["--pretrain-time", args.pretrain_time] + (
                ["--pretrain-once"] if args.pretrain_once else []
            )
        if args.coefficients is not None:
            parts.append("--coefficients=" + ",".join(map(str, args.coefficients)))
    return " ".join(parts + ["--out", str(args.out)])


def run(args) -> int:
    """``gamify bench ranks``: exit status 0, or 1 when a scheme failed verification."""
    formats, settings, seeds = _check(args)
    budget = args.budget_per_format or DEFAULT_BUDGET[args.method]
    say: Say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (args.out / "schemes").mkdir(parents=True, exist_ok=True)
    rows = []
    for sizes in formats:
        task = Task(
            sizes=sizes,
            field=args.field,
            target_rank=reference_ranks(sizes, args.field)["best_known"] or 0,
            seconds=budget,
            seed=args.seed,
            preset=args.preset,
            search_dir=args.out / "search" / stamp,
            quiet=args.quiet,
            ablation=settings,
            coefficients=None if args.coefficients is None else tuple(args.coefficients),
            seeds=tuple(seeds) if settings is None else (),
        )
        row, scheme = bench_format(task, args.method, say)
        if scheme is not None:
            row["scheme"] = f"schemes/{row['format']}.json"
            write_scheme(scheme, args.out / row["scheme"])
        rows.append(row)
    report = {
        "command": _command(args, formats, budget, settings, seeds),
        "settings": {
            "field": args.field,
            "method": args.method,
            "budget_per_format": budget,
            "seed": args.seed,
            "preset": args.preset if args.method != "flips" else None,
            "seeds": seeds,
            **(
                {}
                if settings is None
                else {
                    "variants": settings.variants,
                    "pretrain_seconds": settings.pretrain_seconds,
                    "init": str(settings.init) if settings.init else None,
                    "pretrain_once": settings.pretrain_once,
                }
            ),
            "coefficients": args.coefficients,
        },
        "machine": machine_info(accelerator=args.method != "flips"),
        "table_compiled": best_known_table()["compiled"],
        "rows": rows,
    }
    (args.out / "ranks.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.out / "ranks.md").write_text(markdown_report(report))
    plot_ranks(rows, args.out / "ranks.png")
    print(markdown_table(rows, args.field))
    print(f"written: {', '.join(str(args.out / name) for name in ('ranks.json', 'ranks.md', 'ranks.png'))}")
    return 1 if any(row["verified"] is False for row in rows) else 0

"""``gamify bench ablation``: does the network help? The learned search against itself
without learning, at equal budget and seeds.

For each case and seed, ``gamify search matmul`` runs once per variant with the same
budget, seed and settings:

- ``trained``: as it is (self-play trains the network);
- ``frozen``: the network kept at its initial weights (learning rate 0: the same games,
  searches and update computations, none applied);
- ``uniform``: no network (a uniform prior, value 0): the search alone;
- ``pretrained``: the network first pretrained on synthetic decompositions
  (``gamify pretrain``, ``--pretrain-time`` per case and seed, reported beside the budget,
  not in it), then fine-tuned by self-play;
- ``pretrained-frozen``: the pretrained network, never fine-tuned.

Per variant the table gives each seed's best rank (a verified scheme, or "(bound)": the best
game's moves plus the slice-rank bound of its residual), the seeds that reached the target,
and the median seconds to it. Every search runs in its own process, as a user's would.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from gamify.cli.bench.machine import machine_info
from gamify.cli.common import UsageError, parse_duration
from gamify.tensor.records import reference_ranks

VARIANTS = ("trained", "frozen", "uniform", "pretrained", "pretrained-frozen")
_CASE = re.compile(r"(\d+)x(\d+)x(\d+):(z2|z(?:(-?\d+)\.\.(-?\d+))?)(?:@(\d+))?")


@dataclasses.dataclass(frozen=True)
class Case:
    """One ablation case: a matmul format, its field (and coefficient range over Z), a target."""

    name: str
    sizes: tuple[int, int, int]
    field: str
    coefficients: tuple[int, ...] | None  # None: the game's default
    target: int | None  # the rank that counts as reached; None: unknown (whole budget used)

    def game_argv(self) -> list[str]:
        argv = ["matmul", *map(str, self.sizes), "--field", self.field]
        if self.coefficients is not None:
            argv.append("--coefficients=" + ",".join(map(str, self.coefficients)))
        return argv


def parse_case(text: str) -> Case:
    """``NxMxP:FIELD[@RANK]``: FIELD is z2, z (coefficients -2..2) or zA..B (A..B, e.g. z-1..1);
    RANK is the target, by default the best-known rank over the field.

    Raises:
      UsageError: for a malformed case.
    """
    match = _CASE.fullmatch(text.strip())
    if not match or min(int(size) for size in match.groups()[:3]) < 1:
        raise UsageError(
            f"bad case {text!r}: expected NxMxP:FIELD[@RANK], FIELD z2, z or zA..B (e.g. 2x2x2:z-1..1@7)"
        )
    n, m, p, field, low, high, rank = match.groups()
    sizes = (int(n), int(m), int(p))
    coefficients = None
    if low is not None:
        if int(low) > 0 or int(high) < 1:
            raise UsageError(f"bad case {text!r}: the range A..B must hold 0 and 1")
        coefficients = tuple(range(int(low), int(high) + 1))
    field = "z2" if field == "z2" else "z"
    target = int(rank) if rank else reference_ranks(tuple(sorted(sizes)), field)["best_known"]
    return Case(text.strip(), sizes, field, coefficients, target)


def add_parser(suites) -> None:
    """Adds ``ablation`` to the ``gamify bench`` suites."""
    parser = suites.add_parser(
        "ablation",
        help="does the network help? trained vs frozen vs uniform vs pretrained, equal budgets",
        description="Run gamify search on each case and seed once per variant (trained, frozen, "
        "uniform, pretrained, pretrained-frozen) with equal budget and seeds, and tabulate the "
        "verified ranks reached, the seeds at the target rank and the median time to it.",
    )
    parser.add_argument(
        "--cases",
        default="2x2x2:z2",
        help="comma-separated NxMxP:FIELD[@RANK], FIELD z2, z or zA..B (coefficients A..B), RANK "
        "the target (default: the best known), e.g. 2x2x2:z-1..1,2x2x3:z2 (2x2x2:z2)",
    )
    add_options(parser)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr (the table alone)")


def add_options(parser) -> None:
    """The options an ablation run needs."""
    parser.add_argument("--budget", default="2m", help="wall time per search (2m)")
    parser.add_argument("--preset", default="cpu", choices=["cpu", "gpu", "tiny"], help="(cpu)")
    add_variant_options(parser, ",".join(VARIANTS), "0,1,2")


def add_variant_options(parser, variants: str, seeds: str) -> None:
    """Which networks and seeds, and how the pretrained variants get their network (also
    ``gamify bench ranks --method learned``'s options); ``variants``/``seeds``: the defaults."""
    parser.add_argument(
        "--variants",
        default=variants,
        metavar="V,V,...",
        help=f"networks, comma-separated, of {', '.join(VARIANTS)}: e.g. trained,frozen,uniform for "
        f"what learning adds at equal budget and seeds ({variants})",
    )
    parser.add_argument("--seeds", metavar="S,S,...", help=f"seeds, comma-separated ({seeds})")
    parser.add_argument(
        "--pretrain-time",
        default="4m",
        metavar="TIME",
        help="pretraining per case and seed for the pretrained variants, beside the budget (4m)",
    )
    parser.add_argument(
        "--pretrain-once",
        action="store_true",
        help="pretrained variants: pretrain one network (the first seed's) and start every seed from it",
    )
    parser.add_argument(
        "--init",
        type=Path,
        metavar="PRETRAINED",
        help="pretrained variants: start every seed from this gamify pretrain run instead of "
        "pretraining (--pretrain-time unused)",
    )


def _gamify(argv: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "gamify.cli", *argv], capture_output=True, text=True)
    if done.returncode not in (0, 130):
        raise RuntimeError(f"gamify {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def pretrain(case: Case, seed: int, seconds: float, preset: str, out: Path) -> dict:
    """One pretraining run; its held-out measure at the end."""
    argv = ["pretrain", *case.game_argv(), "--seed", str(seed), "--preset", preset]
    _gamify([*argv, "--time", f"{seconds}s", "--quiet", "--out", str(out)])
    return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])


def search(
    case: Case, seed: int, variant: str, budget: float, preset: str, out: Path, init: Path | None
) -> dict:
    """One search in its own process; its best rank (complete or bound) and when it reached the target."""
    network = "frozen" if variant.endswith("frozen") else "uniform" if variant == "uniform" else "trained"
    argv = ["search", *case.game_argv(), *(["--target-rank", str(case.target)] if case.target else [])]
    argv += ["--budget", f"{budget}s", "--seed", str(seed), "--network", network, "--preset", preset]
    argv += ["--quiet", "--out", str(out)] + (["--init", str(init)] if init else [])
    done = _gamify(argv)
    complete = re.search(r"rank (\d+) decomposition, verified exactly", done.stdout)
    bound = re.search(r"search's best game ended at rank ≤ (\d+)", done.stdout)
    rank = int(complete.group(1)) if complete else int(bound.group(1)) if bound else None
    reached_at = None
    for line in (out / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if case.target and record.get("best_return") is not None and -record["best_return"] <= case.target:
            reached_at = record["elapsed"]
            break
    return {
        "seed": seed,
        "rank": rank,
        "complete": complete is not None,
        "reached_at": reached_at,
        "run": str(out),
    }


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every search of an ablation shares."""

    variants: list[str]
    seeds: list[int]
    budget: float  # seconds per search
    pretrain_seconds: float  # per case and seed, for the pretrained variants
    preset: str
    init: Path | None = None  # a gamify pretrain run every seed's pretrained variants start from
    pretrain_once: bool = False  # one pretraining (the first seed's) shared by every seed


def parse_seeds(text: str | None, default: str) -> list[int]:
    """--seeds (or ``default`` when not given) as distinct integers in order; UsageError if malformed."""
    try:
        return list(dict.fromkeys(int(seed) for seed in (text or default).split(",")))
    except ValueError:
        raise UsageError(f"--seeds: expected comma-separated integers, got {text!r}") from None


def parse_settings(args, default_seeds: str = "0,1,2") -> Settings:
    """The ablation's settings from :func:`add_options`' options; UsageError when one is malformed."""
    variants = args.variants.split(",")
    unknown = [x for x in variants if x not in VARIANTS]
    if unknown:
        raise UsageError(f"unknown variant {unknown[0]!r}: choose from {', '.join(VARIANTS)}")
    seeds = parse_seeds(args.seeds, default_seeds)
    seconds = {}
    for option in ("budget", "pretrain_time"):
        try:
            seconds[option] = parse_duration(getattr(args, option))
        except argparse.ArgumentTypeError as error:
            raise UsageError(f"--{option.replace('_', '-')}: {error}") from None
    if args.init is not None and not (args.init / "metrics.jsonl").is_file():
        raise UsageError(f"--init: {args.init} is not a gamify pretrain run (no metrics.jsonl)")
    budget, pretrain_seconds = seconds["budget"], seconds["pretrain_time"]
    return Settings(variants, seeds, budget, pretrain_seconds, args.preset, args.init, args.pretrain_once)


def run_case(case: Case, settings: Settings, work: Path, say: Callable[[str], None]) -> list[dict]:
    """Every variant and seed of one case, searches in ``work``; one row per variant: the case,
    variant, target, each seed's result (:func:`search`) and, for pretrained variants, each
    seed's held-out measure. ``say`` gets a line as each pretraining and search ends."""
    inits, measures = {}, []
    if settings.init is not None:
        inits = dict.fromkeys(settings.seeds, settings.init)
        measures = [json.loads((settings.init / "metrics.jsonl").read_text().splitlines()[-1])]
    elif any(v.startswith("pretrained") for v in settings.variants):
        for seed in settings.seeds[:1] if settings.pretrain_once else settings.seeds:
            inits[seed] = work / f"{case.name}-pretrain-{seed}"
            measures.append(pretrain(case, seed, settings.pretrain_seconds, settings.preset, inits[seed]))
            say(f"{case.name} seed {seed}: pretrained, held-out top-1 {measures[-1]['top1']:.0%}")
        if settings.pretrain_once:
            inits = dict.fromkeys(settings.seeds, inits[settings.seeds[0]])
    rows = []
    for variant in settings.variants:
        pretrained = variant.startswith("pretrained")
        results = []
        for seed in settings.seeds:
            out = work / f"{case.name}-{variant}-{seed}".replace(":", "-")
            init = inits[seed] if pretrained else None
            results.append(search(case, seed, variant, settings.budget, settings.preset, out, init))
            say(f"{case.name} {variant} seed {seed}: {result_text(results[-1])}")
        rows.append(
            {"case": case.name, "variant": variant, "target": case.target, "results": results}
            | ({"heldout": measures} if pretrained else {})
        )
    return rows


def result_text(result: dict) -> str:
    """One search's outcome in words."""
    if result["rank"] is None:
        return "no game finished"
    reached = "" if result["reached_at"] is None else f", target reached at {result['reached_at']:.0f} s"
    return f"rank {result['rank']}" + ("" if result["complete"] else " (bound)") + reached


TABLE_HEAD = [
    "| case | network | target | best rank per seed | median rank | seeds at target | median s to target "
    "| pretrained held-out top-1/any-of-K |",
    "|---|---|---|---|---|---|---|---|",
]


def markdown_row(row: dict) -> str:
    """One variant's line of the ablation table; "(bound)" marks a rank with no complete scheme."""
    results = row["results"]
    ranks = ", ".join(f"{r['rank']}" + ("" if r["complete"] else " (bound)") for r in results)
    known = [r["rank"] for r in results if r["rank"] is not None]
    median = f"{statistics.median(known):g}" if known else "–"
    times = [r["reached_at"] for r in results if r["reached_at"] is not None]
    at_target = f"{len(times)}/{len(results)}" if row["target"] else "–"
    seconds = f"{statistics.median(times):.0f}" if times else "–"
    held = ", ".join(f"{m['top1']:.0%}/{m['any_k']:.0%}" for m in row.get("heldout", [])) or "–"
    cells = [row["case"], row["variant"], row["target"] or "?", ranks, median, at_target, seconds, held]
    return "| " + " | ".join(map(str, cells)) + " |"


def run(args) -> int:
    """``gamify bench ablation``."""
    cases = [parse_case(text) for text in args.cases.split(",")]
    settings = parse_settings(args)
    command = (
        f"gamify bench ablation --cases {args.cases} --variants {','.join(settings.variants)} "
        f"--seeds {','.join(map(str, settings.seeds))} --budget {args.budget} "
        + (f"--init {settings.init}" if settings.init else f"--pretrain-time {args.pretrain_time}")
        + (" --pretrain-once" if settings.pretrain_once and not settings.init else "")
        + f" --preset {args.preset}"
    )
    machine = machine_info(accelerator=True)
    header = [
        f"### gamify bench ablation: {args.budget} per search",
        "",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}; "
        f"JAX on {machine['jax_backend']}",
        f"- date: {machine['date']}, gamify {machine['gamify']}, Python {machine['python']}",
        f"- command: `{command}`",
        "",
        *TABLE_HEAD,
    ]
    lines = list(header)

    def say(line: str) -> None:  # progress to stderr: stdout is the table
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="gamify-ablation-") as scratch:
        for case in cases:
            lines += [markdown_row(row) for row in run_case(case, settings, Path(scratch), say)]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0

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
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gamify.cli.bench.machine import machine_info
from gamify.cli.common import UsageError, parse_duration

CASES = {  # case -> (sizes, field, target rank, extra game arguments)
    "2x2x2:z2": ((2, 2, 2), "z2", 7, []),
    "2x2x2:z-1..1": ((2, 2, 2), "z", 7, ["--coefficients=-1,0,1"]),
    "2x2x3:z2": ((2, 2, 3), "z2", 11, []),
    "2x3x3:z2": ((2, 3, 3), "z2", 15, []),
    "3x3x3:z2": ((3, 3, 3), "z2", 23, []),
}
VARIANTS = ("trained", "frozen", "uniform", "pretrained", "pretrained-frozen")


def add_parser(suites) -> None:
    """Adds ``ablation`` to the ``gamify bench`` suites."""
    parser = suites.add_parser(
        "ablation",
        help="does the network help? trained vs frozen vs uniform vs pretrained, equal budgets",
        description="Run gamify search on each case and seed once per variant (trained, frozen, "
        "uniform, pretrained, pretrained-frozen) with equal budget and seeds, and tabulate the "
        "verified ranks reached, the seeds at the target rank and the median time to it.",
    )
    parser.add_argument("--cases", default="2x2x2:z2", help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (all five)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (0,1,2)")
    parser.add_argument("--budget", default="2m", help="wall time per search (2m)")
    parser.add_argument(
        "--pretrain-time", default="4m", help="pretraining per case and seed, pretrained variants (4m)"
    )
    parser.add_argument("--preset", default="cpu", choices=["cpu", "gpu", "tiny"], help="(cpu)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--quiet", action="store_true", help="print the table only at the end")


def _gamify(argv: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "gamify.cli", *argv], capture_output=True, text=True)
    if done.returncode not in (0, 130):
        raise RuntimeError(f"gamify {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def pretrain(case: str, seed: int, seconds: float, preset: str, out: Path) -> dict:
    """One pretraining run; its held-out measure at the end."""
    sizes, field, _, extra = CASES[case]
    argv = ["pretrain", "matmul", *map(str, sizes), "--field", field, *extra, "--seed", str(seed)]
    _gamify([*argv, "--preset", preset, "--time", f"{seconds}s", "--quiet", "--out", str(out)])
    return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])


def search(case: str, seed: int, variant: str, args, out: Path, init: Path | None) -> dict:
    """One search; its best rank (complete or bound), and when it reached the target."""
    sizes, field, target, extra = CASES[case]
    network = "frozen" if variant.endswith("frozen") else "uniform" if variant == "uniform" else "trained"
    argv = ["search", "matmul", *map(str, sizes), "--field", field, "--target-rank", str(target), *extra]
    argv += ["--budget", args.budget, "--seed", str(seed), "--network", network, "--preset", args.preset]
    argv += ["--quiet", "--out", str(out)] + (["--init", str(init)] if init else [])
    done = _gamify(argv)
    complete = re.search(r"rank (\d+) decomposition, verified exactly", done.stdout)
    bound = re.search(r"search's best game ended at rank ≤ (\d+)", done.stdout)
    rank = int(complete.group(1)) if complete else int(bound.group(1)) if bound else None
    reached_at = None
    for line in (out / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("best_return") is not None and -record["best_return"] <= target:
            reached_at = record["elapsed"]
            break
    return {"rank": rank, "complete": complete is not None, "reached_at": reached_at}


def row(case: str, variant: str, results: list[dict], measures: list[dict]) -> str:
    target = CASES[case][2]
    ranks = ", ".join(f"{r['rank']}" + ("" if r["complete"] else " (bound)") for r in results)
    times = [r["reached_at"] for r in results if r["reached_at"] is not None]
    median = f"{statistics.median(times):.0f}" if times else "–"
    held = "–"
    if measures and variant.startswith("pretrained"):
        held = ", ".join(f"{m['top1']:.0%}/{m['any_k']:.0%}" for m in measures)
    return f"| {case} | {variant} | {target} | {ranks} | {len(times)}/{len(results)} | {median} | {held} |"


def _parse(args) -> tuple[list[str], list[str], list[int]]:
    cases, variants = args.cases.split(","), args.variants.split(",")
    for name, given, known in (("case", cases, CASES), ("variant", variants, VARIANTS)):
        unknown = [x for x in given if x not in known]
        if unknown:
            raise UsageError(f"unknown {name} {unknown[0]!r}: choose from {', '.join(known)}")
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        raise UsageError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
    for option in ("budget", "pretrain_time"):
        try:
            parse_duration(getattr(args, option))
        except argparse.ArgumentTypeError as error:
            raise UsageError(f"--{option.replace('_', '-')}: {error}") from None
    return cases, variants, seeds


def run(args) -> int:
    """``gamify bench ablation``."""
    cases, variants, seeds = _parse(args)
    pretrain_seconds = parse_duration(args.pretrain_time)
    command = (
        f"gamify bench ablation --cases {args.cases} --variants {args.variants} --seeds {args.seeds} "
        f"--budget {args.budget} --pretrain-time {args.pretrain_time} --preset {args.preset}"
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
        "| case | network | target | best rank per seed | seeds at target | median s to target "
        "| pretrained held-out top-1/any-of-K |",
        "|---|---|---|---|---|---|---|",
    ]
    lines = list(header)
    if not args.quiet:
        print("\n".join(header), flush=True)
    with tempfile.TemporaryDirectory(prefix="gamify-ablation-") as scratch:
        for case in cases:
            inits, measures = {}, []
            if any(v.startswith("pretrained") for v in variants):
                for seed in seeds:
                    inits[seed] = Path(scratch) / f"{case}-pretrain-{seed}"
                    measures.append(pretrain(case, seed, pretrain_seconds, args.preset, inits[seed]))
            for variant in variants:
                init = inits.get if variant.startswith("pretrained") else lambda seed: None
                results = [
                    search(case, seed, variant, args, Path(scratch) / f"{case}-{variant}-{seed}", init(seed))
                    for seed in seeds
                ]
                lines.append(row(case, variant, results, measures))
                if not args.quiet:
                    print(lines[-1], flush=True)
    if args.quiet:
        print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0

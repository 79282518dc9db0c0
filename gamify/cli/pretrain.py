"""``gamify pretrain``: fit the search's network to synthetic decompositions before searching.

AlphaTensor's recipe: random sums of random rank-one terms, whose terms are known, teach
the policy to name a term of a tensor and the value its rank (:mod:`gamify.pretrain`).
The run's folder then starts a search: ``gamify search ... --init FOLDER``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from gamify import pretrain, runs
from gamify.checkpoint import atomic_write_bytes
from gamify.cli.common import (
    UsageError,
    discarded_if_unstarted,
    graceful_stop,
    open_run,
    parse_duration,
    positive_int,
)
from gamify.cli.search import GAME, game_args_of, preset, target_kinds
from gamify.plots import plot_learning_curve, read_records
from gamify.progress import ProgressDisplay, duration

CURVE = "learning_curve.png"
SETTINGS = "pretrain.json"  # the run's PretrainConfig
EXAMPLES = """\
examples:
  gamify pretrain matmul 2 2 2 --field z --coefficients=-1,0,1 --time 5m --out runs/pre222
  gamify search matmul 2 2 2 --field z --coefficients=-1,0,1 --init runs/pre222 --budget 5m
  gamify pretrain matmul 2 2 2 --field z --coefficients=-1,0,1 --out runs/pre222 --resume --time 10m
"""


def add_parsers(commands) -> None:
    """Adds ``pretrain matmul`` and ``pretrain tensor`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "pretrain",
        help="pretrain the search's network on synthetic decompositions",
        description="Train the network a search uses on random decompositions (random sums of "
        "rank-one terms, each with its terms known: AlphaTensor's synthetic demonstrations), "
        "fresh ones every update, and measure it on held-out ones: how often the policy's top "
        "sample (top-1) and any of its K samples (any-of-K) is a term of the generating "
        "decomposition, and the value's error in moves. Writes checkpoint.npz, metrics.jsonl "
        f"and {CURVE}; start a search from it with gamify search ... --init OUT.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for sub in target_kinds(parser, "pretrain"):
        sub.add_argument(
            "--time", type=parse_duration, default=300.0, help="wall time, e.g. 10m (default 5m)"
        )
        sub.add_argument(
            "--updates", type=positive_int, help="stop after this many updates in all (whole calls of 50)"
        )
        sub.add_argument(
            "--games-per-update",
            type=positive_int,
            help=f"fresh random decompositions drawn per update ({pretrain.PretrainConfig.games_per_update}; "
            f"kept in OUT/{SETTINGS} for --resume)",
        )


def run_pretrain(args) -> int:
    """The ``gamify pretrain`` command."""
    game_args, default_name = game_args_of(args, "pretrain")
    out = args.out or Path("runs") / default_name
    config = dataclasses.replace(preset(args.preset), seed=args.seed)
    directory, game, config = open_run(out, GAME, game_args, config, resume=args.resume, same_settings=True)
    with discarded_if_unstarted(out, args.resume):
        return _pretrain(args, out, directory, game, config, pretrain_settings(args, out))


def pretrain_settings(args, out: Path) -> pretrain.PretrainConfig:
    """The run's pretraining settings: recorded in OUT/pretrain.json when it starts, read back
    on --resume (UsageError when --games-per-update asks for another value)."""
    path = out / SETTINGS
    if args.resume and path.exists():
        try:
            recorded = pretrain.PretrainConfig(**json.loads(path.read_text()))
        except (ValueError, TypeError) as error:
            raise UsageError(f"--resume: {path} is corrupt: {error}") from None
        if args.games_per_update not in (None, recorded.games_per_update):
            raise UsageError(
                f"--games-per-update: {out} was started with {recorded.games_per_update}; a resumed "
                "run keeps its settings"
            )
        return recorded
    given = {} if args.games_per_update is None else {"games_per_update": args.games_per_update}
    settings = pretrain.PretrainConfig(**given)
    atomic_write_bytes(path, json.dumps(dataclasses.asdict(settings), indent=2).encode())
    return settings


def _pretrain(args, out, directory, game, config, settings) -> int:
    pretrainer = pretrain.Pretrainer(game, config, settings)
    state, elapsed = None, 0.0
    if args.resume and directory.has_checkpoint():
        state, elapsed = pretrain.load(out / runs.CHECKPOINT, pretrainer.init())
        directory.drop_metrics_after(int(state.updates), key="updates")
    elif args.resume:
        directory.drop_metrics_after(0, key="updates")
        print(f"{out} has no checkpoint: starting it from the beginning", file=sys.stderr)
    with ProgressDisplay(max_seconds=args.time, quiet=args.quiet, format=format_measure) as display:
        if state is not None:
            display.message(f"resuming {out} at update {int(state.updates):,}")
        try:
            with graceful_stop("after these updates, with a checkpoint") as stop_requested:
                state, reason = pretrain.pretrain_until(
                    pretrainer,
                    directory,
                    max_seconds=args.time,
                    max_updates=args.updates,
                    state=state,
                    elapsed=elapsed,
                    on_record=display.update,
                    should_stop=stop_requested,
                )
        except KeyboardInterrupt:
            print(f"interrupted: checkpoint saved in {out}", file=sys.stderr)
            raise
    records = read_records(out / runs.METRICS)
    first, last = records[0], records[-1]
    print(
        f"stopped: {reason}; {last['updates']:,} updates ({last['examples']:,} examples) "
        f"in {last['elapsed']:.0f} s"
    )
    print(
        f"held-out, untrained → now: top-1 {first['top1']:.1%} → {last['top1']:.1%}, any of "
        f"K={pretrainer.num_candidates} {first['any_k']:.1%} → {last['any_k']:.1%}, value error "
        f"{first['value_error']:.2f} → {last['value_error']:.2f} moves"
    )
    try:
        plot_learning_curve(out / runs.METRICS, out / CURVE, title=f"gamify pretrain: {_title(args, game)}")
        print(f"written: {out / runs.CHECKPOINT}, {out / CURVE}")
    except (OSError, ValueError) as error:
        print(f"written: {out / runs.CHECKPOINT}; {CURVE} not written: {error}")
    print(f"use it: {search_command(args, out)}")
    return 130 if reason == pretrain.STOPPED else 0


def search_command(args, out: Path) -> str:
    """The ``gamify search`` command line that starts from this pretraining run."""
    words = ["gamify", "search", args.kind]
    words += [str(args.file)] if args.kind == "tensor" else [str(args.n), str(args.m), str(args.p)]
    words += ["--field", args.field]
    if args.coefficients is not None:
        words.append("--coefficients=" + ",".join(map(str, args.coefficients)))
    if args.actions != "auto":
        words += ["--actions", args.actions]
    if args.max_rank is not None:
        words += ["--max-rank", str(args.max_rank)]
    if args.preset != "cpu":
        words += ["--preset", args.preset]
    return shlex.join([*words, "--init", str(out)])


def _title(args, game) -> str:
    field = game.field.upper()
    if game.matmul:
        return "⟨{},{},{}⟩ over {}".format(*game.matmul, field)
    return f"{args.file.name} over {field}"


def format_measure(record: dict, max_seconds: float | None = None, rank: bool = False) -> str:
    """One line of a pretraining measure (the progress display's format)."""
    del rank
    clock = duration(record["elapsed"]) + (f"/{duration(max_seconds)}" if max_seconds else "")
    loss = f"loss {record['loss']:.3f} | " if "loss" in record else ""
    return (
        f"update {record['updates']:,} | {loss}held-out: top-1 {record['top1']:.1%}, any-of-K "
        f"{record['any_k']:.1%}, value error {record['value_error']:.2f} | {clock}"
    )


COMMANDS = {"pretrain": run_pretrain}

"""The ``gamify`` command line: list games, train, evaluate a run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

from gamify import bench, flips, lift, tensor_search

EXAMPLES = """\
examples:
  gamify games
  gamify train lights_out --time 2m --out runs/lo
  gamify train xor_rank --set n=4 --target-return -3 --out runs/xr
  gamify train lights_out --out runs/lo --resume --time 5m
  gamify train path/to/my_game.py:MyGame --games 2000
  gamify eval runs/lo
  gamify verify scheme.exp --field z2
  gamify flips 3 3 3 --target-rank 23 --time 1m
  gamify improve scheme.exp --target-rank 22 --lift
  gamify lift runs/flips-3x3x3/scheme.json
  gamify bench ranks --max-size 3 --method flips
"""


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 90, 90s, 5m, 1.5h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gamify",
        description="Solve single-player games with Gumbel MCTS guided by a learned policy-value network.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser(
        "games", help="list the available games", description="List built-in and plugin games."
    )

    train = commands.add_parser(
        "train",
        help="train by self-play and search; keep the best solution",
        description="Train a policy-value network by self-play with Gumbel MCTS, keeping the best solution "
        "found. Stops at the first budget limit reached (default: 10 minutes). Writes config.json, "
        "checkpoint.npz, metrics.jsonl and best.json into the run directory.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "game", metavar="GAME", help="built-in name, plugin name, or path/to/file.py:ClassName"
    )
    train.add_argument(
        "--set", dest="game_args", action="append", default=[], metavar="KEY=VALUE", help="game parameter"
    )
    train.add_argument("--out", type=Path, help="run directory (default: runs/GAME)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    budget = train.add_argument_group("budget (totals for the run, across resumes)")
    budget.add_argument("--time", type=parse_duration, help="wall time, e.g. 90s, 5m, 1h (default 10m)")
    budget.add_argument("--games", type=_positive_int, help="self-play games")
    budget.add_argument("--updates", type=_positive_int, help="optimizer steps")
    budget.add_argument("--target-return", type=float, help="stop once the best return reaches this value")
    knobs = train.add_argument_group("search and training (fixed when the run is created)")
    knobs.add_argument("--simulations", type=_positive_int, default=32, help="MCTS simulations per move (32)")
    knobs.add_argument(
        "--samples", type=_positive_int, default=16, help="sampled actions per node, factored (16)"
    )
    knobs.add_argument("--games-per-iteration", type=_positive_int, default=32, help="self-play batch (32)")
    knobs.add_argument("--updates-per-iteration", type=_positive_int, default=8, help="learner steps (8)")
    knobs.add_argument("--batch-size", type=_positive_int, default=128, help="learner batch (128)")
    knobs.add_argument("--hidden", type=_positive_int, default=128, help="network width (128)")
    knobs.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    train.add_argument(
        "--checkpoint-every", type=parse_duration, default=30.0, help="seconds between checkpoints (30)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress display")

    evaluate = commands.add_parser(
        "eval",
        help="load a run's checkpoint, search, print the best solution",
        description="Load the latest checkpoint of a run, play games with a deterministic search "
        "(no Gumbel noise) and print the best solution, next to the best one found in training.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    evaluate.add_argument("--games", type=_positive_int, default=8, help="games to play (8)")
    evaluate.add_argument(
        "--simulations", type=_positive_int, help="simulations per move (the run's setting)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")

    # gamify verify: scheme files (gamify.formats, gamify.scheme)
    verify = commands.add_parser(
        "verify",
        help="check a scheme file exactly against its matrix-multiplication tensor",
        description="Read a scheme file and check every Brent equation exactly (over Z, mod 2 over "
        "Z2, or over Q when a coefficient is a fraction such as 1/2). Prints the format, shape, field "
        "and rank, then OK or the first violated equation. An .npz archive without --key is checked "
        "entry by entry. Exit status: 0 all OK, 1 some scheme is wrong, 2 some input could not be read.",
    )
    verify.add_argument("file", metavar="FILE", type=Path, help=".json, .exp, .txt or .npz scheme file")
    verify.add_argument(
        "--field", choices=["z2", "z", "q"], help="check over this field (default: the file's)"
    )
    verify.add_argument("--key", metavar="N,M,P", help="the .npz entry to check (default: every entry)")
    verify.add_argument(
        "--format", help="gamify, perminov-json, perminov-txt, exp or npz (default: from the file)"
    )
    tensor_search.add_parser(commands)
    flips.add_parser(commands)
    lift.add_parser(commands)
    bench.add_parser(commands)
    return parser


def _cmd_games(args) -> int:
    from gamify.registry import list_games

    rows = list_games()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    return 0


def _train_config(args):
    from gamify.learner import LearnerConfig
    from gamify.networks import NetworkConfig
    from gamify.search import SearchConfig
    from gamify.train import TrainConfig

    return TrainConfig(
        seed=args.seed,
        games_per_iteration=args.games_per_iteration,
        updates_per_iteration=args.updates_per_iteration,
        batch_size=args.batch_size,
        network=NetworkConfig(hidden_size=args.hidden, head_hidden_size=args.hidden),
        search=SearchConfig(num_simulations=args.simulations, num_samples=args.samples),
        learner=LearnerConfig(learning_rate=args.learning_rate),
    )


def prepare_run_dir(out: Path, resume: bool) -> None:
    if resume:
        if not (out / "config.json").exists():
            raise UsageError(f"--resume: {out} holds no run (no config.json)")
        return
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} already holds files; use --resume to continue it or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write to {out}: {e.strerror}") from None


def _cmd_train(args) -> int:
    from gamify import train
    from gamify.progress import ProgressDisplay
    from gamify.registry import load_game, parse_game_args

    out = args.out or Path("runs") / re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.game.split(":")[0]).stem)
    prepare_run_dir(out, args.resume)
    run_dir = train.Run(out)
    if args.resume:
        record = run_dir.read_config()
        game_spec, game_args, config = record["game"], record["game_args"], record["train"]
        if args.game != game_spec:
            raise UsageError(f"--resume: {out} is a run of {game_spec!r}, not {args.game!r}")
    else:
        game_spec, game_args, config = args.game, parse_game_args(args.game_args), _train_config(args)
    game = load_game(game_spec, **game_args)
    if not args.resume:
        run_dir.write_config(game_spec, game_args, config)
    if not any([args.time, args.games, args.updates, args.target_return is not None]):
        args.time = 600.0
    budget = train.Budget(
        max_games=args.games,
        max_updates=args.updates,
        max_seconds=args.time,
        target_return=args.target_return,
    )
    trainer = train.Trainer(game, config)
    state, elapsed = (None, 0.0)
    if args.resume and run_dir.has_checkpoint():
        state, elapsed = run_dir.load(trainer)
    with ProgressDisplay(max_seconds=args.time, quiet=args.quiet) as display:
        if state is not None:
            display.message(f"resuming {out} at iteration {int(state.iteration)}, {int(state.games)} games")
        elif args.resume:
            display.message(f"{out} has no checkpoint yet: starting it from the beginning")
        state, reason = train.run(
            trainer,
            run_dir,
            budget,
            state=state,
            elapsed=elapsed,
            checkpoint_every=args.checkpoint_every,
            on_iteration=display.update,
        )
    solution = train.best_solution(trainer, state)
    print(f"stopped: {reason}; {int(state.games)} games, {int(state.updates)} updates; run saved in {out}")
    if solution is not None:
        print(f"best return {solution['return']:g} in {solution['length']} moves:")
        print(solution["text"])
    return 0


def _cmd_eval(args) -> int:
    import jax.numpy as jnp

    from gamify import train
    from gamify.registry import load_game

    run_dir = train.Run(args.run_dir)
    record = run_dir.read_config()
    config = dataclasses.replace(record["train"], eval_games=args.games)
    if args.simulations:
        config = dataclasses.replace(
            config, search=dataclasses.replace(config.search, num_simulations=args.simulations)
        )
    game = load_game(record["game"], **record["game_args"])
    trainer = train.Trainer(game, config)
    state, _ = run_dir.load(trainer, resume=False)
    trained_best = train.best_solution(trainer, state)
    searched = state._replace(best_return=jnp.float32(-jnp.inf))
    searched, metrics = trainer.evaluate(searched)
    eval_best = train.best_solution(trainer, searched)
    # The run's answer is the better of the two: a fresh search can do worse than training did.
    best, source = eval_best, "this search"
    if trained_best is not None and trained_best["return"] >= eval_best["return"]:
        best, source = trained_best, "training"
    result = {
        "run": str(args.run_dir),
        "game": record["game"],
        "iteration": int(state.iteration),
        "games_trained": int(state.games),
        "eval_mean_return": float(metrics["eval_mean_return"]),
        "eval_best_return": eval_best["return"],
        "best": {**best, "found_by": source},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    trained = f"{result['games_trained']} games (iteration {result['iteration']})"
    print(f"run {args.run_dir}: {record['game']} after {trained}")
    mean, eval_return = result["eval_mean_return"], eval_best["return"]
    print(f"search over {args.games} games (no Gumbel noise): mean return {mean:g}, best {eval_return:g}")
    print(f"best solution: return {best['return']:g} in {best['length']} moves, found by {source}:")
    print(best["text"])
    return 0


# gamify verify ------------------------------------------------------------------------------


def _cmd_verify(args) -> int:
    from gamify.formats import detect_format, read_scheme
    from gamify.scheme import matmul_sizes

    fmt = args.format or detect_format(args.file)
    if fmt == "npz" and args.key is None:
        return _verify_npz(args)
    scheme = read_scheme(args.file, format=fmt, field=args.field, key=args.key)
    sizes = scheme.matmul or matmul_sizes(scheme.shape)
    if sizes is None:
        raise UsageError(f"{args.file}: shape {scheme.shape} is not a matrix-multiplication shape")
    scheme = dataclasses.replace(scheme, matmul=sizes)
    print(f"format  {fmt}" + (f", key {args.key}" if args.key else ""))
    print("shape   {}x{}x{} = matmul <{},{},{}>".format(*scheme.shape, *sizes))
    print(f"field   {scheme.field}")
    print(f"rank    {scheme.rank}")
    result = scheme.verify()
    print("OK" if result.ok else f"WRONG: {result}")
    return 0 if result.ok else 1


def _verify_npz(args) -> int:
    """Checks every entry of an .npz archive, one line each."""
    from gamify.formats import SchemeFormatError, npz_keys, read_scheme

    keys = npz_keys(args.file)
    print(f"format  npz, {len(keys)} schemes")
    counts = {"OK": 0, "wrong": 0, "unreadable": 0}
    width = max(map(len, keys), default=0)
    for key in keys:
        try:
            scheme = read_scheme(args.file, format="npz", field=args.field, key=key)
        except SchemeFormatError as e:
            counts["unreadable"] += 1
            print(f"{key:<{width}}  unreadable: {e.reason}")
            continue
        result = scheme.verify()
        counts["OK" if result.ok else "wrong"] += 1
        verdict = "OK" if result.ok else f"WRONG: {result}"
        print(f"{key:<{width}}  {scheme.field:<2}  rank {scheme.rank:<4}  {verdict}")
    print(", ".join(f"{count} {status}" for status, count in counts.items()))
    return 1 if counts["wrong"] else 2 if counts["unreadable"] else 0


COMMANDS = {
    "games": _cmd_games,
    "train": _cmd_train,
    "eval": _cmd_eval,
    "verify": _cmd_verify,
    "search": tensor_search.run_search,
    "flips": flips.run_flips,
    "improve": flips.run_flips,
    "lift": lift.run_lift,
    "bench": bench.run,
}


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("gamify: interrupted (checkpoint saved)", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line unless --debug
        if args.debug:
            raise
        from gamify.checkpoint import CheckpointError
        from gamify.registry import GameNotFoundError

        if isinstance(e, (UsageError, GameNotFoundError, CheckpointError, ValueError, OSError)):
            print(f"gamify: error: {e}", file=sys.stderr)
            return 2
        print(
            f"gamify: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

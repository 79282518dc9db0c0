"""``gamify games``, ``gamify train`` and ``gamify eval``: any game, by self-play and search."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

import jax.numpy as jnp

from gamify import parallel, runs, train
from gamify.cli.common import (
    UsageError,
    add_parallel_options,
    check_layout,
    discarded_if_unstarted,
    open_run,
    parse_duration,
    positive_int,
    start_job,
    train_with_progress,
    with_shards,
)
from gamify.learner import LearnerConfig
from gamify.networks import NetworkConfig
from gamify.registry import list_games, load_game, parse_game_args
from gamify.search import SearchConfig

EXAMPLES = """\
examples:
  gamify games
  gamify train lights_out --time 2m --out runs/lo
  gamify train xor_rank --set n=4 --target-return -3 --out runs/xr
  gamify train lights_out --out runs/lo --resume --time 5m
  gamify train path/to/my_game.py:MyGame --games 2000
  gamify train lights_out --devices 4 --out runs/lo4       # 4 GPUs (or forced CPU devices)
  gamify train lights_out --coordinator host0:1234 --num-processes 2 --process-id 0 --out runs/lo
  gamify eval runs/lo
"""


def add_parsers(commands) -> None:
    """Adds ``games``, ``train`` and ``eval`` to the CLI's subcommands."""
    commands.add_parser(
        "games", help="list the available games", description="List built-in and plugin games."
    )

    train = commands.add_parser(
        "train",
        help="train by self-play and search; keep the best solution",
        description="Train a policy-value network by self-play with Gumbel MCTS, keeping the best solution "
        "found. Stops at the first budget limit reached (default: 10 minutes), or once the best return "
        "reaches the game's proven best possible return, if it declares one. Writes config.json, "
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
    budget.add_argument("--games", type=positive_int, help="self-play games")
    budget.add_argument("--updates", type=positive_int, help="optimizer steps")
    budget.add_argument("--target-return", type=float, help="stop once the best return reaches this value")
    budget.add_argument(
        "--train-past-optimum",
        action="store_true",
        help="keep training after the best return reaches the game's proven best possible return "
        "(by default the run stops there, and a --resume of such a run stops at once)",
    )
    knobs = train.add_argument_group("search and training (fixed when the run is created)")
    knobs.add_argument("--simulations", type=positive_int, default=32, help="MCTS simulations per move (32)")
    knobs.add_argument(
        "--samples", type=positive_int, default=16, help="sampled actions per node, factored (16)"
    )
    knobs.add_argument("--games-per-iteration", type=positive_int, default=32, help="self-play batch (32)")
    knobs.add_argument("--updates-per-iteration", type=positive_int, default=8, help="learner steps (8)")
    knobs.add_argument("--batch-size", type=positive_int, default=128, help="learner batch (128)")
    knobs.add_argument(
        "--replay-capacity",
        type=positive_int,
        default=50_000,
        help="examples the replay keeps (50000); lower it for games with many flat actions, whose "
        "examples each hold a policy over every action",
    )
    knobs.add_argument("--hidden", type=positive_int, default=128, help="network width (128)")
    knobs.add_argument(
        "--torso",
        choices=("mlp", "resnet", "axial", "set", "uniform"),
        help="network torso (default: the game's suggestion, else resnet); uniform: no network, "
        "the search alone (an ablation)",
    )
    knobs.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    knobs.add_argument(
        "--demonstrations",
        type=int,
        default=0,
        metavar="N",
        help="synthetic solved episodes (the game's demonstration()) added to the replay per iteration (0)",
    )
    train.add_argument(
        "--checkpoint-every", type=parse_duration, default=30.0, help="seconds between checkpoints (30)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress display")
    add_parallel_options(train)

    evaluate = commands.add_parser(
        "eval",
        help="load a run's checkpoint, search, print the best solution",
        description="Load the latest checkpoint of a run, play games with a deterministic search "
        "(no Gumbel noise) and print the best solution, next to the best one found in training.",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    evaluate.add_argument("--games", type=positive_int, default=8, help="games to play (8)")
    evaluate.add_argument("--simulations", type=positive_int, help="simulations per move (the run's setting)")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")


def run_games(args) -> int:
    """``gamify games``."""
    rows = list_games()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    return 0


def _train_config(args, layout) -> train.TrainConfig:
    config = train.TrainConfig(
        seed=args.seed,
        games_per_iteration=args.games_per_iteration,
        updates_per_iteration=args.updates_per_iteration,
        batch_size=args.batch_size,
        replay_capacity=args.replay_capacity,
        network=NetworkConfig(
            hidden_size=args.hidden,
            head_hidden_size=args.hidden,
            **({"torso": args.torso} if args.torso else {}),
        ),
        search=SearchConfig(num_simulations=args.simulations, num_samples=args.samples),
        learner=LearnerConfig(learning_rate=args.learning_rate),
        demonstrations_per_iteration=args.demonstrations,
    )
    return with_shards(config, args.shards, layout)


def run_train(args) -> int:
    """``gamify train``."""
    layout = start_job(args)  # before anything touches JAX
    out = args.out or Path("runs") / re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.game.split(":")[0]).stem)
    game_args = {} if args.resume else parse_game_args(args.game_args)
    explicit = frozenset({"hidden_size", "head_hidden_size"} | ({"torso"} if args.torso else set()))
    directory, game, config = open_run(
        out, args.game, game_args, _train_config(args, layout), resume=args.resume, explicit_network=explicit
    )
    with discarded_if_unstarted(out, args.resume):
        check_layout(layout, config)
        return _train(args, out, directory, game, config, layout)


def _train(args, out, directory, game, config, layout) -> int:
    """The training itself, once the run directory is open."""
    if not any([args.time, args.games, args.updates, args.target_return is not None]):
        args.time = 600.0
    budget = runs.Budget(
        max_games=args.games,
        max_updates=args.updates,
        max_seconds=args.time,
        target_return=args.target_return,
        stop_at_best_possible=not args.train_past_optimum,
    )
    trainer = train.Trainer(game, config, layout=layout)
    state, reason = train_with_progress(
        trainer,
        directory,
        budget,
        resume=args.resume,
        quiet=args.quiet,
        checkpoint_every=args.checkpoint_every,
    )
    solution = train.best_solution(trainer, state)
    if reason.startswith(runs.BEST_POSSIBLE):
        reason += " (the game's proven optimum; --train-past-optimum trains on)"
    if not parallel.writes_files():  # process 0 reports for the job
        return 130 if reason == runs.STOPPED else 0
    print(f"stopped: {reason}; {int(state.games)} games, {int(state.updates)} updates; run saved in {out}")
    if solution is not None:
        print(f"best return {solution['return']:g} in {solution['length']} moves:")
        print(solution["text"])
    return 130 if reason == runs.STOPPED else 0


def run_eval(args) -> int:
    """``gamify eval``."""
    run_dir = runs.RunDirectory(args.run_dir)
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
    eval_best = train.best_solution(trainer, searched)  # None when every game hit a dead end
    eval_return = None if eval_best is None else eval_best["return"]
    # The run's answer is the better of the two: a fresh search can do worse than training did.
    best, source = eval_best, "this search"
    if trained_best is not None and (eval_best is None or trained_best["return"] >= eval_return):
        best, source = trained_best, "training"
    if best is None:
        raise UsageError(
            f"{args.run_dir}: every game of the run and of this search hit a state with no legal action"
        )
    result = {
        "run": str(args.run_dir),
        "game": record["game"],
        "iteration": int(state.iteration),
        "games_trained": int(state.games),
        "eval_mean_return": float(metrics["eval_mean_return"]),
        "eval_best_return": eval_return,
        "best": {**best, "found_by": source},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    trained = f"{result['games_trained']} games (iteration {result['iteration']})"
    print(f"run {args.run_dir}: {record['game']} after {trained}")
    mean = result["eval_mean_return"]
    searched_best = "-" if eval_return is None else f"{eval_return:g}"
    print(f"search over {args.games} games (no Gumbel noise): mean return {mean:g}, best {searched_best}")
    print(f"best solution: return {best['return']:g} in {best['length']} moves, found by {source}:")
    print(best["text"])
    return 0


COMMANDS = {"games": run_games, "train": run_train, "eval": run_eval}

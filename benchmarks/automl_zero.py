"""AutoML-Zero's first task (learn linear regression from scratch) on gamify's interpreter:
time and programs to a solution, per search, per seed.

Each search runs until one program reaches fitness 0.9999 on the 10 search tasks (AutoML-Zero's
success criterion), or until ``--seconds``. The solution is then scored on 100 unseen tasks.

   evolution  AutoML-Zero's regularized evolution with its demo's settings (population 1,000,
              tournaments of 10, mutation probability 0.9, random full-size starts);
   random     random full-size programs;
   gamify     Gumbel MCTS self-play with the policy-value network, learning as it plays;
   frozen     the same search with the network at its initial weights (learning rate 0).

    python benchmarks/automl_zero.py --seeds 0,1,2 --seconds 300
    python benchmarks/automl_zero.py --seeds 0 --seconds 5 --arms evolution   # smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

import gamify
from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command
from gamify.games import automl_zero as az

ARMS = ("evolution", "random", "gamify", "frozen")


def search(arm: str, game: az.AutoMLZero, seed: int, seconds: float, args) -> az.SearchResult:
    if arm == "evolution":
        return az.regularized_evolution(game, seconds=seconds, seed=seed)
    if arm == "random":
        return az.random_search(game, 10**9, seconds=seconds, seed=seed)
    config = gamify.TrainConfig(
        seed=seed,
        games_per_iteration=args.games,
        eval_every=0,
        network=gamify.NetworkConfig(hidden_size=64),
        search=gamify.SearchConfig(num_simulations=args.simulations),
    )
    if arm == "frozen":
        config = dataclasses.replace(config, learner=dataclasses.replace(config.learner, learning_rate=0.0))
    return az.discover(game, config, seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--seconds", type=float, default=300.0, help="wall time per search (300)")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--games", type=int, default=32, help="gamify: games per iteration (32)")
    parser.add_argument("--simulations", type=int, default=32, help="gamify: simulations per move (32)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    if set(arms) - set(ARMS):
        raise SystemExit(f"--arms must be of {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    game = az.AutoMLZero()
    unseen = az.tasks(100, seed=10**6)

    rng = np.random.default_rng(0)
    programs = [az.random_program(rng) for _ in range(1024)]
    az.evaluate(programs, game.tasks)
    clock = time.perf_counter()
    az.evaluate(programs, game.tasks)
    rate = len(programs) / (time.perf_counter() - clock)
    reference = float(az.evaluate([az.LINEAR_REGRESSION], unseen)[0])
    print(
        f"throughput: {rate:,.0f} programs/s; hand-written gradient descent on unseen tasks {reference:.6f}"
    )

    rows = {arm: [] for arm in arms}
    for seed in seeds:
        for arm in arms:
            result = search(arm, game, seed, args.seconds, args)
            held = float(az.evaluate([result.best], unseen)[0])
            rows[arm].append((result, held))
            print(
                f"seed {seed} {arm}: fitness {result.fitness:.6f} (unseen {held:.6f}), "
                f"{'solved after ' + str(result.solved_at) if result.solved_at else 'not solved in'} "
                f"{result.programs} programs, {result.seconds:.0f} s",
                flush=True,
            )

    machine = machine_info()
    command = script_command(__file__, argv)
    lines = [
        "### benchmarks/automl_zero.py: AutoML-Zero's linear-regression task",
        "",
        *header_lines(machine, command),
        f"- throughput: {rate:,.0f} programs evaluated per second (batches of 1,024; 10 tasks × 100 training "
        "and 100 validation examples)",
        f"- success: fitness ≥ {az.SUCCESS} on the 10 search tasks; hand-written gradient descent scores "
        f"{reference:.6f} on the 100 unseen tasks",
        "",
        "| search | solved (seeds) | seconds to solution | distinct programs to solution | "
        "best fitness per seed | at equal programs | unseen fitness of the best | "
        "solution (first solved seed, live code) |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    # per seed, the fewest distinct programs any search scored: every search's best at that count
    equal = [min(rows[arm][k][0].programs for arm in arms) for k in range(len(seeds))]
    for arm, results in rows.items():
        solved = [(r, h) for r, h in results if r.solved_at]
        first = solved[0][0].best.live().text().replace("\n", "; ") if solved else "-"
        lines.append(
            f"| {arm} | {len(solved)}/{len(results)} | "
            + ", ".join(f"{r.seconds:.0f}" if r.solved_at else f"> {r.seconds:.0f}" for r, _ in results)
            + " | "
            + ", ".join(str(r.solved_at) if r.solved_at else f"> {r.programs}" for r, _ in results)
            + " | "
            + ", ".join(f"{r.fitness:.6f}" for r, _ in results)
            + " | "
            + ", ".join(f"{r.curve[n - 1]:.4f} ({n})" for (r, _), n in zip(results, equal, strict=True))
            + " | "
            + ", ".join(f"{h:.6f}" for _, h in results)
            + f" | `{first}` |"
        )
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Discovering an optimizer's update rule (the ``update_rule`` game): how fast rules are scored,
how the designed optimizers score, and what each search finds at an equal number of programs.

Three parts, one run:

1. Throughput: programs scored per second by the jitted scorer (``--steps`` training steps,
   the 8 tasks of the training suite, the 7 learning rates of the grid), in batches of
   ``--batch``; compilation reported apart.
2. The reference rules (SGD, momentum, RMSProp, Adam, signSGD, Lion, PowerSign, AddSign) as
   programs: their scores on the training suite and on the held-out suite (other sizes,
   depths, activations, conditioning; never seen by a search), each at its best rate of the grid.
3. Searches at an equal budget of distinct programs scored, per seed:

   random     random programs of 0 to 6 instructions;
   evolution  regularized evolution (population 100, tournaments of 10; Real et al.);
   gamify     Gumbel MCTS self-play with the policy-value network, learning as it plays;
   frozen     the same search with the network kept at its initial weights (learning rate 0):
              what learning adds is gamify minus frozen.

   Each search's best rule is then scored on the held-out suite.

    python benchmarks/update_rule.py --budget 1000 --seeds 0,1,2
    python benchmarks/update_rule.py --budget 64 --seeds 0 --steps 5 --arms random,gamify   # smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command
from gamify.games import update_rule as ur

ARMS = ("random", "evolution", "gamify", "frozen")


def throughput(game: ur.UpdateRule, batch: int, repeats: int) -> tuple[float, float]:
    """(programs per second, compile seconds) of the game's scorer on random programs."""
    rng = np.random.default_rng(0)
    programs = [ur.random_program(rng, game.length) for _ in range(batch)]
    code = np.stack([p.padded(game.length) for p in programs])
    out = np.array([p.out for p in programs], np.int32)
    scorer = ur.make_scorer(game.suite, game.steps)
    clock = time.perf_counter()
    jax.block_until_ready(scorer(code, out))
    compiled = time.perf_counter() - clock
    clock = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(scorer(code, out))
    return batch * repeats / (time.perf_counter() - clock), compiled


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=1000, help="distinct programs scored per search (1000)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--steps", type=int, default=100, help="training steps per task when scoring (100)")
    parser.add_argument("--batch", type=int, default=256, help="programs per scorer call, throughput (256)")
    parser.add_argument("--games", type=int, default=16, help="gamify: games per iteration (16)")
    parser.add_argument("--simulations", type=int, default=32, help="gamify: simulations per move (32)")
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    arms = args.arms.split(",")
    if set(arms) - set(ARMS):
        raise SystemExit(f"--arms must be of {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    game = ur.UpdateRule(steps=args.steps)

    rate, compiled = throughput(game, args.batch, repeats=3)
    print(f"throughput: {rate:,.0f} programs/s (batch {args.batch}; compile {compiled:.1f} s)", flush=True)

    names = list(ur.REFERENCE_RULES)
    references = [ur.REFERENCE_RULES[n] for n in names]
    train_ref = game.score_programs(references)
    heldout = ur.heldout_suite()
    held_ref = game.details(references, heldout).score
    adam = names.index("adam")

    rows = {arm: [] for arm in arms}
    for seed in seeds:
        for arm in arms:
            clock = time.perf_counter()
            result = ur.run_search(
                game, arm, args.budget, seed=seed, games=args.games, simulations=args.simulations
            )
            held = float(game.details([result.best], heldout).score[0])
            rows[arm].append((result, held, time.perf_counter() - clock))
            print(
                f"seed {seed} {arm}: {result.score:.3f} (held-out {held:.3f}) {result.best.formula()} "
                f"in {rows[arm][-1][2]:.0f} s",
                flush=True,
            )

    machine = machine_info()
    command = script_command(__file__, argv)
    lines = [
        "### benchmarks/update_rule.py: discovering an update rule (the `update_rule` game)",
        "",
        *header_lines(machine, command),
        f"- score: minus the mean over tasks of log(final loss / initial loss) after {args.steps} steps, at "
        f"the rule's best rate of {len(ur.LEARNING_RATES)} (0.003 to 3.2); higher is better, 0 is not moving",
        f"- throughput: {rate:,.0f} programs scored per second (batch {args.batch}, 8 tasks, "
        f"{len(ur.LEARNING_RATES)} rates, {args.steps} steps; compiled in {compiled:.0f} s)",
        "",
        "| rule | formula | training suite | held-out suite |",
        "|---|---|---:|---:|",
    ]
    for name, program, train_score, held_score in zip(names, references, train_ref, held_ref, strict=True):
        lines.append(f"| {name} | `{program.formula()}` | {train_score:.3f} | {held_score:.3f} |")
    lines += [
        "",
        f"Searches, {args.budget} distinct programs scored each, seeds {args.seeds} (gamify and frozen: "
        f"{args.games} games per iteration, {args.simulations} simulations per move); Adam scores "
        f"{train_ref[adam]:.3f} (training), {held_ref[adam]:.3f} (held-out).",
        "",
        "| search | best training score per seed | median | beats Adam (training) | held-out of the best | "
        "beats Adam (held-out) | best rule (first seed) | seconds |",
        "|---|---|---:|---:|---|---:|---|---:|",
    ]
    for arm, results in rows.items():
        scores = [r.score for r, _, _ in results]
        held = [h for _, h, _ in results]
        lines.append(
            f"| {arm} | {', '.join(f'{s:.3f}' for s in scores)} | {statistics.median(scores):.3f} | "
            f"{sum(s > train_ref[adam] for s in scores)}/{len(scores)} | "
            f"{', '.join(f'{h:.3f}' for h in held)} | "
            f"{sum(h > held_ref[adam] for h in held)}/{len(held)} | `{results[0][0].best.formula()}` | "
            f"{statistics.median(t for _, _, t in results):.0f} |"
        )
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

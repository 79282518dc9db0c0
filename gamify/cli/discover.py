"""``gamify discover optimizer``: search for an optimizer's update rule (the ``update_rule`` game)."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

from gamify.cli.common import UsageError, graceful_stop, parse_duration, positive_int

EXAMPLES = """\
examples:
  gamify discover optimizer --time 10m
  gamify discover optimizer --search evolution --time 30m --out runs/evolved
  gamify discover optimizer --programs 3000 --seed 1
"""

SEARCHES = ("gamify", "frozen", "evolution", "random")  # games/update_rule.py's


def add_parsers(commands) -> None:
    """Adds ``discover`` to the CLI's subcommands."""
    discover = commands.add_parser(
        "discover",
        help="discover an optimizer's update rule by search",
        description="Search for an update rule d (the optimizer steps w <- w - lr * d) written in a small "
        "language over the gradient g, Adam's moments m and v, the momentum trace k, RMSProp's mean square "
        "r, Lion's momentum l and the parameter w (games/update_rule.py). Each rule is scored by training "
        "8 small tasks at 7 learning rates; the best rules are then scored on a held-out suite the search "
        "never saw. Writes OUT/rules.json, OUT/rules.md and OUT/best_rule.py (an optax transformation), "
        "every minute and at the end (Ctrl-C keeps what was found).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    discover.add_argument("what", choices=["optimizer"], help="what to discover (optimizer)")
    discover.add_argument(
        "--search",
        choices=SEARCHES,
        default="gamify",
        help="gamify: Gumbel MCTS with a policy-value network learning by self-play (default); frozen: the "
        "same with the network never trained (the ablation); evolution: regularized evolution (Real et "
        "al.); random: random programs",
    )
    discover.add_argument("--time", type=parse_duration, default=600.0, help="wall time, e.g. 30s, 10m (10m)")
    discover.add_argument(
        "--programs", type=positive_int, help="stop after this many distinct programs scored"
    )
    discover.add_argument("--seed", type=int, default=0, help="the search's seed (0)")
    discover.add_argument("--length", type=positive_int, default=6, help="most instructions in a rule (6)")
    discover.add_argument("--steps", type=positive_int, default=100, help="training steps per task (100)")
    discover.add_argument("--top", type=positive_int, default=5, help="best distinct rules to report (5)")
    discover.add_argument("--out", type=Path, default=Path("runs/discover-optimizer"), help="output folder")
    discover.add_argument("--quiet", action="store_true", help="no progress lines")


def _write(out: Path, game, ur, top: int, searched: str, *, heldout: bool) -> list[dict]:
    """The best ``top`` rules of the game's table, scored again for their rates (and on the
    held-out suite at the end), written atomically to OUT/rules.json, rules.md, best_rule.py."""
    ranked = sorted(game.table.values(), key=lambda item: -item[0])[:top]
    programs = [program for _, program in ranked]
    references = list(ur.REFERENCE_RULES.items())
    everything = programs + [program for _, program in references]
    training = game.details(everything)
    held = game.details(everything, ur.heldout_suite()) if heldout else None
    rows = []
    for k, (name, program) in enumerate([(None, p) for p in programs] + references):
        rows.append(
            {
                "rule": name or f"found {k + 1}",
                "formula": program.formula(),
                "instructions": program.instructions(),
                "learning_rate": ur.LEARNING_RATES[int(training.rate[k])],
                "training_score": round(float(training.score[k]), 4),
                "heldout_score": round(float(held.score[k]), 4) if held is not None else None,
            }
        )
    found = sorted(rows[: len(programs)], key=lambda row: -row["training_score"])  # rescored: floats move
    record = {
        "search": searched,
        "programs_scored": len(game.table),
        "found": found,
        "references": rows[len(programs) :],
    }
    lines = [
        f"Rules found by `{searched}` ({len(game.table)} distinct programs scored); the update is "
        "w <- w - lr * d. Score: minus the mean log(final / initial loss) over the suite's tasks, "
        "higher is better.",
        "",
        "| rule | d | lr | training | held-out |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        heldout_text = f"{row['heldout_score']:.3f}" if row["heldout_score"] is not None else "-"
        lines.append(
            f"| {row['rule']} | `{row['formula']}` | {row['learning_rate']:g} | "
            f"{row['training_score']:.3f} | {heldout_text} |"
        )
    best = found[0]
    code = (
        f'"""The best update rule `gamify discover optimizer` found: d = {best["formula"]}\n\n'
        f"Training-suite score {best['training_score']}"
        + (f", held-out {best['heldout_score']}" if best["heldout_score"] is not None else "")
        + f"; best rate on the training suite {best['learning_rate']:g}.\n"
        '"""\n\nfrom gamify.games.update_rule import parse, to_optax\n\n'
        f"RULE = parse({best['instructions']!r})\n"
        f"LEARNING_RATE = {best['learning_rate']!r}\n\n\n"
        "def optimizer(learning_rate: float = LEARNING_RATE):\n"
        '    """An optax GradientTransformation; pass params to update() if the rule reads w."""\n'
        "    return to_optax(RULE, learning_rate)\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("rules.json", json.dumps(record, indent=2) + "\n"),
        ("rules.md", "\n".join(lines) + "\n"),
        ("best_rule.py", code),
    ):
        temporary = out / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, out / name)
    return rows


def run(args) -> int:
    """``gamify discover optimizer``."""
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    if args.length > 12:
        raise UsageError(f"--length must be at most 12, got {args.length}")
    from gamify.games import update_rule as ur  # deferred: imports JAX

    game = ur.UpdateRule(length=args.length, steps=args.steps)
    last_write, last_line = [time.perf_counter()], [-math.inf]

    def progress(result, elapsed: float) -> None:
        if not args.quiet and elapsed - last_line[0] >= 5:
            last_line[0] = elapsed
            rate = len(game.table) / max(elapsed, 1e-9)
            print(
                f"{elapsed:6.0f} s  {len(game.table):7d} programs  {rate:7.1f}/s  "
                f"best {result.score:.3f}  d = {result.best.formula()}",
                flush=True,
            )
        if time.perf_counter() - last_write[0] > 60:
            _write(args.out, game, ur, args.top, args.search, heldout=False)
            last_write[0] = time.perf_counter()

    with graceful_stop("the search") as stop:
        ur.run_search(
            game,
            args.search,
            args.programs,
            seconds=args.time,
            seed=args.seed,
            progress=progress,
            should_stop=stop,
        )
    if not game.table:
        raise UsageError("no program was scored: give the search more --time")
    rows = _write(args.out, game, ur, args.top, args.search, heldout=True)
    print((args.out / "rules.md").read_text(encoding="utf-8"), end="")
    print(f"wrote {args.out / 'rules.json'}, rules.md and best_rule.py (best: d = {rows[0]['formula']})")
    return 0 if math.isfinite(rows[0]["training_score"]) else 1


COMMANDS = {"discover": run}

"""``gamify bench optimizers``: rules found by search against the optimizers people designed,
on tasks no search saw.

The found rules come from ``gamify discover optimizer`` output (``--rules rules.json ...``) or
from searches this command runs first (``--search gamify,evolution --programs N``). They and
SGD, momentum, RMSProp, Adam, signSGD, Lion, PowerSign and AddSign are then scored, each at
its best learning rate of the same grid (0.003 to 3.2), on:

- the training suite (what the searches scored against);
- the held-out suite, drawn afresh for every seed of ``--seeds`` (other sizes, depths,
  activations and conditioning);
- the digits suite (scikit-learn's handwritten digits: real data; needs the ``digits`` extra).

Score: minus the mean over a suite's tasks of log(final loss / initial loss); higher is better.
Writes OUT/optimizers.json (every figure), OUT/optimizers.md (the table) and
OUT/loss_curves.png (each rule's loss curve per held-out task, first seed, at its tuned rate).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import time
from pathlib import Path

from gamify.cli.bench.machine import header_lines, machine_info
from gamify.cli.common import UsageError, positive_int

SEARCHES = ("gamify", "frozen", "evolution", "random")  # games/update_rule.py's

EXAMPLES = """\
examples:
  gamify bench optimizers                                  # searches first: about 8 minutes
  gamify bench optimizers --rules runs/discover-optimizer/rules.json --seeds 1,2,3,4,5
  gamify bench optimizers --search evolution --programs 3000 --out runs/bench-optimizers
"""


def add_parser(suites) -> None:
    """Adds ``optimizers`` to the ``gamify bench`` suites."""
    parser = suites.add_parser(
        "optimizers",
        help="found update rules vs SGD, momentum, RMSProp, Adam, Lion, ... on held-out tasks",
        description=__doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0].replace("``", "'"),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rules",
        nargs="+",
        type=Path,
        metavar="RULES_JSON",
        help="rules.json files of `gamify discover optimizer`: their best --top rules are compared "
        "(default: run --search first)",
    )
    parser.add_argument("--top", type=positive_int, default=1, help="rules taken from each --rules file (1)")
    parser.add_argument(
        "--search",
        default="gamify,evolution",
        help=f"without --rules: the searches to run first, comma-separated, of {', '.join(SEARCHES)} "
        "(gamify,evolution)",
    )
    parser.add_argument(
        "--programs", type=positive_int, default=1000, help="distinct programs scored per search (1000)"
    )
    parser.add_argument("--search-seed", type=int, default=0, help="the searches' seed (0)")
    parser.add_argument(
        "--seeds",
        default="1,2,3",
        help="held-out and digits suites: one fresh draw of their tasks per seed (1,2,3)",
    )
    parser.add_argument("--steps", type=positive_int, default=100, help="training steps per task (100)")
    parser.add_argument("--no-digits", action="store_true", help="skip the digits suite")
    parser.add_argument(
        "--no-plot", action="store_true", help="skip the loss curves (a compilation per task)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench-optimizers"), help="output folder")
    parser.add_argument("--markdown", type=Path, help="also write the table here (for RESULTS.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds must be distinct integers >= 0, comma-separated, got {text!r}")
    return seeds


def _read_rules(files: list[Path], top: int, ur) -> list[tuple[str, object]]:
    """(name, program) of the best ``top`` found rules of each rules.json."""
    rules = []
    for path in files:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            found = record["found"][:top]
            for k, row in enumerate(found):
                name = f"{path.parent.name or path.stem}#{k + 1} ({record.get('search', '?')})"
                rules.append((name, ur.parse(row["instructions"])))
        except OSError as e:
            raise UsageError(f"--rules {path}: {e.strerror or e}") from e
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise UsageError(
                f"--rules {path}: not a rules.json of `gamify discover optimizer` ({type(e).__name__}: {e})"
            ) from e
        if not found:
            raise UsageError(f"--rules {path}: it holds no found rule")
    return rules


def _command(args) -> str:
    """This run as a command line (output paths left out)."""
    if args.rules:
        parts = ["--rules", *map(str, args.rules), "--top", str(args.top)]
    else:
        parts = [
            "--search",
            args.search,
            "--programs",
            str(args.programs),
            "--search-seed",
            str(args.search_seed),
        ]
    parts += ["--seeds", args.seeds, "--steps", str(args.steps)] + (["--no-digits"] if args.no_digits else [])
    parts += ["--no-plot"] if args.no_plot else []
    return shlex.join(["gamify", "bench", "optimizers", *parts])


def _suite_figures(game, programs, suite, ur) -> dict:
    """Per program: score, best rate, and each task kind's mean −log(final/initial)."""
    details = game.details(programs, suite)
    kinds = [kind.name for kind in suite.kinds]
    per_kind = details.tasks.reshape(len(programs), len(kinds), suite.instances).mean(axis=-1)
    return {
        "score": [float(x) for x in details.score],
        "rate": [ur.LEARNING_RATES[int(r)] for r in details.rate],
        "kinds": {kind: [float(-x) for x in per_kind[:, k]] for k, kind in enumerate(kinds)},
    }


def _plot(path: Path, names: list[str], found: int, suites, curves) -> None:
    """One panel per task kind: each rule's mean log(loss / initial) over the kind's instances."""
    import matplotlib  # deferred, as pyplot: drawing only where a plot is written

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: see above
    import numpy as np  # deferred: with the plot

    panels = [(suite, k) for suite in suites for k in range(len(suite.kinds))]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for (suite, k), ax in zip(panels, axes.flat, strict=False):
        curve = curves[suite.name][:, k * suite.instances : (k + 1) * suite.instances].mean(axis=1)
        curve = np.where(np.isfinite(curve), curve, np.nan)
        steps = np.arange(1, curve.shape[-1] + 1)
        for r, name in enumerate(names):
            ax.plot(steps, curve[r], lw=2.2 if r < found else 1.0, ls="-" if r < found else "--", label=name)
        ax.set_ylim(top=min(ax.get_ylim()[1], 1.0))  # a rule that blows up leaves the panel
        ax.set_title(f"{suite.name}: {suite.kinds[k].name}", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("log(loss / initial)")
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    os.replace(temporary, path)


def run(args) -> int:
    """``gamify bench optimizers``."""
    seeds = _seeds(args.seeds)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    searches = [s.strip() for s in args.search.split(",") if s.strip()]
    if not args.rules and (not searches or set(searches) - set(SEARCHES)):
        raise UsageError(f"--search must be of {', '.join(SEARCHES)}, comma-separated, got {args.search!r}")
    import numpy as np  # deferred, as the next one: JAX loads only for the commands that need it

    from gamify.games import update_rule as ur  # deferred: imports JAX

    say = (lambda text: None) if args.quiet else (lambda text: print(text, flush=True))
    found = _read_rules(args.rules, args.top, ur) if args.rules else []
    game = ur.UpdateRule(steps=args.steps)
    digits = not args.no_digits
    if digits:
        try:
            ur.digits(samples=8)
        except ImportError as e:
            digits = False
            say(f"digits suite skipped: {e}")

    searched = {}
    if not args.rules:
        for method in searches:
            clock = time.perf_counter()
            result = ur.run_search(game, method, args.programs, seed=args.search_seed)
            seconds = time.perf_counter() - clock
            searched[method] = {"score": result.score, "seconds": round(seconds, 1)}
            found.append((f"found by {method}", result.best))
            say(f"{method}: {result.score:.3f} d = {result.best.formula()} ({seconds:.0f} s)")

    names = [name for name, _ in found] + list(ur.REFERENCE_RULES)
    programs = [program for _, program in found] + list(ur.REFERENCE_RULES.values())
    figures = {"training": _suite_figures(game, programs, game.suite, ur)}
    for seed in seeds:
        suites = [ur.heldout_suite(seed)] + ([ur.digits_suite(seed)] if digits else [])
        for suite in suites:
            figures[f"{suite.name} seed {seed}"] = _suite_figures(game, programs, suite, ur)
        say(f"seed {seed}: scored on {' and '.join(s.name for s in suites)}")

    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_plot:
        suites = [ur.heldout_suite(seeds[0])] + ([ur.digits_suite(seeds[0])] if digits else [])
        curves = {}
        for suite in suites:
            rates = figures[f"{suite.name} seed {seeds[0]}"]["rate"]
            width = max(game.length, *(len(p.code) for p in programs))
            code = np.stack([p.padded(width) for p in programs])
            out = np.array([p.out for p in programs], np.int32)
            curves[suite.name] = ur.loss_curves(suite, code, out, np.array(rates, np.float32), args.steps)
        _plot(args.out / "loss_curves.png", names, len(found), suites, curves)

    def mean_over_seeds(suite: str) -> list[tuple[float, float]]:
        per_seed = np.array([figures[f"{suite} seed {s}"]["score"] for s in seeds])  # [seeds, rules]
        spread = per_seed.std(axis=0, ddof=1) if len(seeds) > 1 else np.zeros(len(programs))
        return list(zip(per_seed.mean(axis=0).tolist(), spread.tolist(), strict=True))

    held = mean_over_seeds("held-out")
    real = mean_over_seeds("digits") if digits else None
    order = sorted(range(len(programs)), key=lambda r: -held[r][0])
    adam = names.index("adam")
    machine = machine_info()
    command = _command(args)
    kinds = [kind.name for kind in ur.heldout_suite(seeds[0]).kinds]
    lines = [
        "### gamify bench optimizers: found update rules against designed optimizers",
        "",
        *header_lines(machine, command),
        f"- score: minus the mean over a suite's tasks of log(final loss / initial loss) after {args.steps} "
        f"steps, each rule at its best rate of {len(ur.LEARNING_RATES)} (0.003 to 3.2) per suite and seed; "
        "higher is better, 0 is not moving",
        f"- held-out{' and digits' if digits else ''}: mean ± sd over seeds {', '.join(map(str, seeds))} "
        "(a fresh draw of the tasks per seed); per-kind columns: held-out, mean over seeds and instances",
    ]
    if searched:
        lines.append(
            "- found rules: "
            + "; ".join(
                f"{m} ({args.programs} programs, seed {args.search_seed}, {v['seconds']:.0f} s)"
                for m, v in searched.items()
            )
        )
    lines += [
        "",
        "| rule | d | training | held-out | beats Adam (seeds) | "
        + " | ".join(kinds)
        + (" | digits | beats Adam (seeds) |" if digits else " |"),
        "|---|---|---:|---:|---:|" + "---:|" * len(kinds) + ("---:|---:|" if digits else ""),
    ]
    for r in order:
        wins = sum(
            figures[f"held-out seed {s}"]["score"][r] > figures[f"held-out seed {s}"]["score"][adam]
            for s in seeds
        )
        cells = [
            f"**{names[r]}**" if r < len(found) else names[r],
            f"`{programs[r].formula()}`",
            f"{figures['training']['score'][r]:.3f}",
            f"{held[r][0]:.3f} ± {held[r][1]:.3f}",
            "-" if r == adam else f"{wins}/{len(seeds)}",
        ]
        cells += [
            f"{statistics.fmean(figures[f'held-out seed {s}']['kinds'][k][r] for s in seeds):.2f}"
            for k in kinds
        ]
        if real is not None:
            real_wins = sum(
                figures[f"digits seed {s}"]["score"][r] > figures[f"digits seed {s}"]["score"][adam]
                for s in seeds
            )
            cells += [
                f"{real[r][0]:.3f} ± {real[r][1]:.3f}",
                "-" if r == adam else f"{real_wins}/{len(seeds)}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    record = {
        "machine": machine,
        "command": command,
        "steps": args.steps,
        "seeds": seeds,
        "searches": searched,
        "rules": [
            {"rule": n, "formula": p.formula(), "instructions": p.instructions(), "found": k < len(found)}
            for k, (n, p) in enumerate(zip(names, programs, strict=True))
        ],
        "figures": figures,
    }
    for name, content in (("optimizers.json", json.dumps(record, indent=2) + "\n"), ("optimizers.md", text)):
        temporary = args.out / f".{name}.tmp"
        temporary.write_text(content, encoding="utf-8")
        os.replace(temporary, args.out / name)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    print(text, end="")
    print(
        f"wrote {args.out / 'optimizers.json'}, optimizers.md"
        + ("" if args.no_plot else " and loss_curves.png")
    )
    return 0

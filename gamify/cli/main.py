"""The ``gamify`` command: one parser, one module per command group, one way to report errors.

Exit status, for every command: 0 done; 1 a scheme is wrong, does not lift, or a target was
missed where the command says so; 2 bad input (one line saying what is wrong; nothing on
disk damaged); 3 an internal error (a bug: rerun with --debug for the traceback);
130 interrupted by Ctrl-C (after keeping what can be kept, and saying where).

Command groups: :mod:`gamify.cli.train` (games, train, eval), :mod:`gamify.cli.search`
(search), :mod:`gamify.cli.pretrain` (pretrain), :mod:`gamify.cli.schemes` (verify, flips, improve,
lift), :mod:`gamify.cli.tcount` (tcount), :mod:`gamify.cli.discover` (discover) and
:mod:`gamify.cli.bench` (bench). Each adds its subcommands with ``add_parsers`` and maps them to
functions ``args -> exit status`` in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys

from gamify.checkpoint import CheckpointError
from gamify.cli import bench, discover, pretrain, schemes, search, tcount, train
from gamify.cli.common import UsageError
from gamify.game import GameError
from gamify.registry import GameNotFoundError

EXAMPLES = (
    train.EXAMPLES
    + """\
  gamify search matmul 2 2 2 --target-rank 7 --budget 10m
  gamify pretrain matmul 2 2 2 --field z --coefficients=-1,0,1 --time 5m --out runs/pre
  gamify verify scheme.exp --field z2
  gamify flips 3 3 3 --target-rank 23 --time 1m
  gamify improve scheme.exp --target-rank 22 --lift
  gamify lift runs/flips-3x3x3/scheme.json
  gamify tcount tof_3 --time 10s
  gamify discover optimizer --time 10m
  gamify bench ranks --max-size 3 --method flips
"""
)

EXIT_INTERNAL = 3  # never 1, which says "the scheme is wrong"
GROUPS = (train, search, pretrain, schemes, tcount, discover, bench)
COMMANDS = {name: command for group in GROUPS for name, command in group.COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gamify",
        description="Solve single-player games with Gumbel MCTS guided by a learned policy-value network.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # what was saved, if anything, the command has said
        print("gamify: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line unless --debug
        if args.debug:
            raise
        if isinstance(e, (UsageError, GameNotFoundError, GameError, CheckpointError, ValueError, OSError)):
            print(f"gamify: error: {e}", file=sys.stderr)
            return 2
        print(
            f"gamify: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL

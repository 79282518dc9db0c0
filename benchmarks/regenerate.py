"""Rerun every ``gamify bench`` suite and rewrite the generated blocks of benchmarks/RESULTS.md.

Usage (repository root, gamify installed)::

    python benchmarks/regenerate.py            # the recorded figures: about 3 hours 40 minutes on 2 cores
    python benchmarks/regenerate.py --smoke    # a short version of every block (CI runs it)
    python benchmarks/regenerate.py --only throughput --results /tmp/RESULTS.md

A generated block sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` and holds
the suite's own markdown (machine, date and command included); everything outside the blocks
is written by hand and left alone. A suite that fails leaves its block untouched and makes
the script exit 1; the file is rewritten atomically at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import sys
import tempfile
from pathlib import Path

from gamify.cli.main import main as gamify

RESULTS = Path(__file__).with_name("RESULTS.md")
# name -> (full arguments, smoke arguments) of `gamify bench ...` (or of a script here, NAME.py);
# the markdown comes from --markdown FILE, or from ranks.md in --out DIR for the ranks suite.
BLOCKS = {
    "ranks-z2": (
        "ranks --max-size 5 --field z2 --method flips --budget-per-format 30s --seeds 0,1,2",
        "ranks --formats 2x2x2,2x2x3 --field z2 --method flips --budget-per-format 2s",
    ),
    "ranks-z": (
        "ranks --max-size 5 --field z --method flips --budget-per-format 30s --seeds 0,1,2",
        "ranks --formats 2x2x2,2x2x3 --field z --method flips --budget-per-format 2s",
    ),
    "ranks-learned-z": (  # ~65 minutes: one pretraining of 30 minutes, 6 searches of 5
        "ranks --formats 2x2x2 --field z --coefficients=-1,0,1 --method learned --seeds 0,1,2 "
        "--variants pretrained,uniform --pretrain-time 30m --pretrain-once --budget-per-format 5m",
        "ranks --formats 2x2x2 --field z --coefficients=-1,0,1 --method learned --variants uniform "
        "--budget-per-format 5s --preset tiny",
    ),
    "throughput": ("throughput", "throughput --quick --suites flips"),
    # a script of benchmarks/ rather than a gamify bench suite: ~35 minutes (8 of collecting and fitting)
    "flip-guide": (
        "flip_guide.py --format 3x4x5 --seeds 0,1,2,3,4,5,6,7 --seconds 25 --start-rank 53 --collect 120 "
        "--updates 1500 --arms plain,walkers,select,pairs,value,value-untrained",
        "flip_guide.py --format 2x2x3 --seeds 0 --seconds 1 --warmup 0.5 --arms plain,walkers,select",
    ),
    "flip-rates": (  # ~6 minutes
        "flip_rates.py --format 3x4x5 --rank 53 --schemes 32",
        "flip_rates.py --format 2x3x3 --rank 16 --schemes 4 --walkers 4 --rounds 3",
    ),
    "update-rule": (  # ~20 minutes
        "update_rule.py --budget 1000 --seeds 0,1,2",
        "update_rule.py --budget 16 --seeds 0 --steps 2 --batch 8 --arms random",
    ),
    "optimizers": (  # ~15 minutes: two searches of 1000 programs, then 10 rules on 5 draws of 2 suites
        "optimizers --search gamify,evolution --programs 1000 --seeds 1,2,3,4,5",
        "optimizers --search random --programs 8 --steps 2 --seeds 1 --no-digits --no-plot",
    ),
    "scale-out": (  # ~15 minutes: 24 runs of `gamify train`, each in fresh processes
        "scale_out.py --games lights_out,xor_rank --seeds 0,1,2 --iterations 8",
        "scale_out.py --games lights_out --seeds 0 --iterations 2 --arms '1 device,2 devices' "
        "--train-args '--simulations 4 --hidden 16 --games-per-iteration 4 --batch-size 16'",
    ),
    "ray-walks": (  # ~4 minutes: 2 formats x 3 seeds x 2 arms of 30 s
        "ray_walks.py --formats 4x4x4,3x4x5 --seconds 30 --seeds 0,1,2",
        "ray_walks.py --formats 2x2x3 --seconds 1 --seeds 0 --round 0.5",
    ),
    "tcount": (  # ~26 minutes: 17 tensors x 2 seeds x 45 s
        "tcount --max-n 15 --time 45s --seeds 0,1",
        "tcount --ids 0820,0812 --time 1s",
    ),
    "tcount-large": (  # ~12 minutes
        "tcount --ids 0803,0805,0819,0811,0815,0823,0806,0817,0804,0729,0730,0731 --time 60s",
        "tcount --ids 0803 --time 2s",
    ),
    "waring-learning": (  # ~25 minutes: 9 training runs of 2 minutes and the classical search's
        "waring_learning.py --tensors 0820 --seeds 0,1,2 --time 120 --train-args '--demonstrations 16'",
        "waring_learning.py --tensors 0812 --seeds 0 --time 5 --arms trained "
        "--train-args '--simulations 4 --hidden 16 --games-per-iteration 4 --batch-size 16'",
    ),
    "matmul-strassen": (
        "matmul strassen --sizes 256,512,1024,2048",
        "matmul strassen --sizes 16,32 --repeats 2",
    ),
    "matmul-strassen2": (
        "matmul strassen --levels 2 --sizes 256,512,1024,2048",
        "matmul strassen --levels 2 --sizes 16,32 --repeats 2",
    ),
    "matmul-alphatensor444": (
        "matmul alphatensor:4,4,4 --sizes 256,512,1024,2048",
        "matmul alphatensor:4,4,4 --sizes 16,32 --repeats 2",
    ),
}


def run_block(name: str, smoke: bool, scratch: Path) -> str | None:
    """Runs one suite; returns its markdown, or None when it failed."""
    args = shlex.split(BLOCKS[name][1 if smoke else 0])
    markdown = scratch / f"{name}.md"
    if args[0].endswith(".py"):  # in this process, as the gamify suites: compilations are shared
        print(f"== {name}: python benchmarks/{shlex.join(args)}", flush=True)
        spec = importlib.util.spec_from_file_location(
            f"benchmarks_{args[0][:-3]}", RESULTS.with_name(args[0])
        )
        script = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(script)
            code = script.main([*args[1:], "--markdown", str(markdown)])
        except (Exception, SystemExit) as e:  # one block failing leaves the others to run
            print(f"== {name}: {type(e).__name__}: {e}", flush=True)
            code = 1
    else:
        if args[0] == "ranks":
            args += ["--out", str(scratch / name), "--quiet"]
            markdown = scratch / name / "ranks.md"
        elif args[0] == "optimizers":  # the full run's JSON and loss curves stay in runs/bench-optimizers
            args += ["--markdown", str(markdown), "--quiet"] + (
                ["--out", str(scratch / name)] if smoke else []
            )
        else:
            args += ["--markdown", str(markdown)]
        print(f"== {name}: gamify bench {shlex.join(args)}", flush=True)
        code = gamify(["bench", *args])
    if code != 0 or not markdown.exists():
        print(f"== {name}: failed (exit {code}); its block is left as it was", flush=True)
        return None
    return markdown.read_text(encoding="utf-8").strip()


def splice(text: str, name: str, block: str) -> str:
    """text with the block NAME's content replaced."""
    pattern = re.compile(rf"(<!-- bench:{re.escape(name)} -->\n).*?(<!-- /bench:{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"regenerate: no <!-- bench:{name} --> ... <!-- /bench:{name} --> block in the file")
    return pattern.sub(lambda m: m.group(1) + (block + "\n" if block else "") + m.group(2), text, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="short runs of every block (minutes)")
    parser.add_argument("--only", nargs="+", choices=list(BLOCKS), help="these blocks only")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the file to rewrite (RESULTS.md)")
    args = parser.parse_args(argv)
    text = args.results.read_text(encoding="utf-8")
    names = args.only or list(BLOCKS)
    for name in names:  # fail before hours of benchmarks when a block is missing
        splice(text, name, "")
    failed = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            block = run_block(name, args.smoke, Path(scratch))
            if block is None:
                failed.append(name)
            else:
                text = splice(text, name, block)
    staged = args.results.with_name(args.results.name + ".tmp")
    staged.write_text(text, encoding="utf-8")
    staged.replace(args.results)
    print(f"written: {args.results}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

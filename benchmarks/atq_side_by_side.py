"""AlphaTensor-Quantum's demo against `gamify tcount`, on the same tensors with the same CPU time.

DeepMind's demo (github.com/google-deepmind/alphatensor_quantum, `src/demo`, Apache 2.0)
trains one AlphaTensor-Quantum agent on three targets at once, without gadgets: Mod 5_4,
Barenco Toff 3 and NC Toff 3, whose signature tensors are polytof's 0112, 0101 and 0120
(checked here, entry for entry, before anything runs). It needs its own environment
(jax 0.4.33, mctx 0.0.5, dm-haiku 0.0.13, ...; see its `requirements.txt`): give that
Python with ``--atq-python`` and the folder holding the ``alphatensor_quantum`` checkout
with ``--atq-root``. The demo runs for ``--seconds`` in total and reports, after each of its
iterations, the best T-count of each target so far; gamify gets the same total: a third
per tensor (`tcount.search`, one process, the same cores).

    python -m venv /tmp/atq-venv && /tmp/atq-venv/bin/pip install jax==0.4.33 jaxlib==0.4.33 \\
        chex==0.1.86 dm-haiku==0.0.13 einshape jaxtyping==0.2.34 mctx==0.0.5 optax==0.2.3 \\
        absl-py immutabledict jmp typeguard==2.13.3 scipy tabulate toolz etils
    python benchmarks/atq_side_by_side.py --atq-python /tmp/atq-venv/bin/python \\
        --atq-root /tmp/atq --seconds 600
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from gamify.cli.bench.machine import header_lines, machine_info, publish, script_command
from gamify.tensor import tcount, waring

TARGETS = {"MOD_5_4": "0112", "BARENCO_TOFF_3": "0101", "NC_TOFF_3": "0120"}

# Runs in the demo's own environment: its agent and config, gadgets off, a wall-clock budget.
DRIVER = textwrap.dedent(
    """
    import json, sys, time
    import jax
    from alphatensor_quantum.src import tensors
    from alphatensor_quantum.src.demo import agent as agent_lib, demo_config
    budget, seed = float(sys.argv[1]), int(sys.argv[2])
    config = demo_config.get_demo_config(use_gadgets=False)
    names = [t.name for t in config.env_config.target_circuit_types]
    targets = {n: tensors.get_signature_tensor(tensors.CircuitType[n]).tolist() for n in names}
    print(json.dumps({"tensors": targets, "max_moves": config.env_config.max_num_moves}))
    start = time.time()
    agent = agent_lib.Agent(config)
    state = agent.init_run_state(jax.random.PRNGKey(seed))
    step, every = 0, config.exp_config.eval_frequency_steps
    while time.time() - start < budget:
        state = agent.run_agent_env_interaction(step, state)
        step += every
        returns = [float(r) for r in state.game_stats.best_return]  # -inf until a game ends
        best = {n: int(-r) if r > -1e9 else None for n, r in zip(names, returns)}
        print(json.dumps({"elapsed": time.time() - start, "steps": step, "best": best}), flush=True)
    """
)


def run_demo(python: str, root: Path, seconds: float, seed: int) -> tuple[dict, list[dict]]:
    """The demo's tensors and its progress lines (elapsed, steps, best T-count per target)."""
    done = subprocess.run(
        [python, "-c", DRIVER, str(seconds), str(seed)], cwd=root, capture_output=True, text=True, check=False
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the demo failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return lines[0], lines[1:]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--atq-python", required=True, help="the Python of the demo's environment")
    parser.add_argument("--atq-root", type=Path, required=True, help="folder holding alphatensor_quantum/")
    parser.add_argument("--seconds", type=float, default=600.0, help="total CPU budget of each side (600)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both sides (0)")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    machine = machine_info()
    head, progress = run_demo(args.atq_python, args.atq_root, args.seconds, args.seed)
    tensors, max_moves = head["tensors"], head["max_moves"]
    rows = []
    for name, ident in TARGETS.items():
        ours = waring.benchmark_tensor(ident)
        if waring.from_dense(np.array(tensors[name])) != ours:
            raise SystemExit(f"the demo's {name} is not polytof's {ident}: not the same tensor")
        result = tcount.search(ours, args.seconds / len(TARGETS), seed=args.seed)
        # minus the best return: a T-count when a game finished within max_moves, else moves + penalty
        counts = [line["best"][name] for line in progress if line["best"][name] is not None]
        demo_best = min(counts) if counts else None
        first = next((line for line in progress if line["best"][name] == demo_best), None)
        if demo_best is None or demo_best > max_moves:
            shown = "none" + (f" (return −{demo_best})" if demo_best else "")
        else:
            shown = str(demo_best)
        known = waring.benchmark_row(ident)
        rows.append(
            f"| {name.lower()} ({ident}) | {ours.n} | {known['tcount']} | {shown} "
            f"| {first['elapsed'] if first else float('nan'):.0f} | {result.t_count} "
            f"| {result.tcount_seconds:.1f} |"
        )
    last = progress[-1]
    lines = header_lines(machine, script_command("atq_side_by_side.py", argv)) + [
        f"- AlphaTensor-Quantum's demo (no gadgets, its default settings, seed {args.seed}): {last['steps']} "
        f"training steps in {last['elapsed']:.0f} s for the three targets together; gamify: "
        f"{args.seconds / len(TARGETS):.0f} s of `tcount.search` per target",
        "",
        "| target | n | best known T | ATQ demo T | its s to it | gamify T | gamify s to it |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"ATQ demo T: its best finished game (a game ends within {max_moves} moves or pays a penalty; "
        "`none (return −R)`: no finished game, R its best return's moves + penalty). Its T-counts are "
        "moves of its game, verified by construction (the residual reaches zero); gamify's are verified "
        "exactly against the tensor.",
    ]
    publish(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

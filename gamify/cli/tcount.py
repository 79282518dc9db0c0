"""``gamify tcount``: the fewest Toffoli and T gates for a circuit's phase tensor.

Runs :func:`gamify.tensor.tcount.search` (flip-graph walks for the Toffoli count, then
TOHPE/FastTODD for the T-count), prints each improvement, and writes both decompositions,
verified, as gamify phase-decomposition JSON (``gamify verify`` checks them again).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from gamify.cli.common import UsageError, ensure_writable, graceful_stop, parse_duration
from gamify.tensor import tcount, waring

EXAMPLES = """\
  gamify tcount tof_3 --time 10s
  gamify tcount 0727 --time 2m --out runs/tcount
  gamify tcount my_circuit.npy --time 30s
  gamify tcount --list
"""


def add_parsers(commands) -> None:
    """Adds ``tcount``."""
    parser = commands.add_parser(
        "tcount",
        help="fewest Toffoli and T gates of a circuit's phase tensor (flip graph + FastTODD)",
        description="Search the Toffoli count (CP rank up to lower-degree terms) and the T-count "
        "(Waring rank over GF(2)) of a phase tensor: a shipped benchmark (polytof's IDs and names) or "
        "a file (polytof .npy: a first row (n, n, n), then one row i < j < k per cubic monomial; a dense "
        'symmetric 0/1 (n, n, n) .npy; or JSON {"n": n, "monomials": [[i, j, k], ...]}). Every '
        "decomposition is verified exactly before it is printed or written. Ctrl-C stops and keeps "
        "the best so far. Exit status: 0 done, 2 bad input, 130 interrupted.",
        epilog="examples:\n" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("tensor", nargs="?", metavar="TENSOR", help="a shipped ID or name, or a tensor file")
    parser.add_argument(
        "--list", action="store_true", help="list the shipped tensors with their best known counts"
    )
    parser.add_argument(
        "--time", type=parse_duration, default=30.0, help="budget, e.g. 30s, 5m (default 30s)"
    )
    parser.add_argument(
        "--toffoli-share",
        type=float,
        default=0.5,
        help="share of the budget for the Toffoli stage (default 0.5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, help="walkers at once (default: the CPUs available)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/tcount"),
        help="folder for the decompositions (default runs/tcount)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary")


def run(args) -> int:
    """``gamify tcount``."""
    if args.list:
        print(f"{'id':>4}  {'atq':>4}  {'name':<22} {'n':>3} {'nnz':>5}  {'Toffoli':>7}  {'T':>4}")
        for row in waring.benchmarks():
            alias = row.get("alias") or "-"
            line = f"{row['id']:>4}  {alias:>4}  {row['name']:<22} {row['n']:>3} {row['nnz']:>5}"
            print(f"{line}  {row['toffoli']:>7}  {row['tcount']:>4}")
        print("best known counts: polytof (Khoruzhii et al. 2026), docs/tensors.md")
        return 0
    if args.tensor is None:
        raise UsageError("give a TENSOR (a shipped ID or name, or a file), or --list")
    if args.time <= 0 or not 0 < args.toffoli_share < 1:
        raise UsageError("--time must be positive and --toffoli-share in (0, 1)")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be positive, got {args.threads}")
    tensor = waring.load_tensor(args.tensor)
    known = waring.benchmark_row(tensor.name)
    ensure_writable(args.out)
    print(f"tensor  {tensor.name}: n = {tensor.n}, {tensor.nnz} cubic monomials" + _known_text(known))

    def progress(stage: str, result: tcount.TcountResult) -> None:
        if stage == "start" and not args.quiet:
            print(f"  start     Toffoli count {result.toffoli_count}, T-count {result.t_count}", flush=True)
        elif not args.quiet:
            at = result.toffoli_seconds if stage == "toffoli" else result.tcount_seconds
            count = result.toffoli_count if stage == "toffoli" else result.t_count
            label = "Toffoli count" if stage == "toffoli" else "T-count"
            print(f"  {at:7.1f}s  {label} {count}", flush=True)

    started = time.perf_counter()
    with graceful_stop("the search") as stop:
        result = tcount.search(
            tensor,
            args.time,
            seed=args.seed,
            threads=args.threads,
            toffoli_share=args.toffoli_share,
            progress=progress,
            should_stop=stop,
        )
        interrupted = stop()
    stem = _stem(tensor.name)
    meta = {"seed": args.seed, "seconds": round(time.perf_counter() - started, 1)}
    paths = []
    for kind, vectors in (("toffoli", result.toffoli), ("waring", result.parities)):
        path = args.out / f"{stem}-{kind}.json"
        waring.write_decomposition(path, tensor, kind, vectors, **meta)
        paths.append(path)
    print(f"Toffoli count {result.toffoli_count}" + _versus(result.toffoli_count, known, "toffoli"))
    print(f"T-count       {result.t_count}" + _versus(result.t_count, known, "tcount"))
    print("verified; wrote " + ", ".join(str(p) for p in paths))
    return 130 if interrupted else 0


def _known_text(known: dict | None) -> str:
    if known is None:
        return ""
    return f"; best known: Toffoli {known['toffoli']}, T {known['tcount']} (polytof)"


def _versus(count: int, known: dict | None, key: str) -> str:
    if known is None:
        return ""
    best = known[key]
    verdict = (
        "= best known" if count == best else f"best known {best}" + (" (below it!)" if count < best else "")
    )
    return f"   ({verdict})"


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "tensor"


COMMANDS = {"tcount": run}

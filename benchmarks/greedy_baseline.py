"""Baseline without learning: greedy play on the slice-rank bound, ties broken at random.

Plays ⟨2,2,2⟩ over Z2 (every one of the 3,375 rank-one terms tried at every move;
the move that leaves the smallest bound is played, a random one among ties) from the
matmul tensor in the standard basis and from the tensor in a random basis
(random invertible A, B, C over GF(2), as ``TensorDecomposition(change_of_basis=1)``),
and counts the ranks reached (moves + the bound left after at most 8 moves). This is
the "greedy search over GF(2) rank bounds" that stalls at the naive rank 8, and it
shows why gamify's search plays in random bases.

    python benchmarks/greedy_baseline.py --games 1000
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter

import numpy as np

from gamify.tensor import matmul_tensor


def gf2_rank(matrix: np.ndarray) -> int:
    m, rank = matrix.copy() % 2, 0
    for col in range(m.shape[1]):
        pivots = [i for i in range(rank, m.shape[0]) if m[i, col]]
        if not pivots:
            continue
        m[[rank, pivots[0]]] = m[[pivots[0], rank]]
        for i in range(m.shape[0]):
            if i != rank and m[i, col]:
                m[i] ^= m[rank]
        rank += 1
    return rank


# GF(2) rank of every 4x4 0/1 matrix, indexed by its 16 bits (row-major, entry 0 lowest).
RANK = np.array([gf2_rank(((code >> np.arange(16)) & 1).reshape(4, 4)) for code in range(1 << 16)], np.int8)
BITS = 1 << np.arange(16)
VECTORS = np.array([v for v in itertools.product([0, 1], repeat=4) if any(v)])
TERMS = np.einsum("ai,bj,ck->abcijk", VECTORS, VECTORS, VECTORS).reshape(-1, 4, 4, 4)


def bounds(residuals: np.ndarray) -> np.ndarray:
    """[N, 4, 4, 4] 0/1 -> [N]: min over modes of the sum of the slices' GF(2) ranks."""
    modes = (residuals, residuals.transpose(0, 2, 1, 3), residuals.transpose(0, 3, 1, 2))
    return np.min([RANK[mode.reshape(-1, 4, 16) @ BITS].sum(-1) for mode in modes], axis=0)


def greedy_rank(start: np.ndarray, rng: np.random.Generator, max_steps: int = 8) -> int:
    residual, bound, steps = start, bounds(start[None])[0], 0
    while bound > 0 and steps < max_steps:
        after = bounds((residual[None] - TERMS) % 2)
        choice = rng.choice(np.flatnonzero(after == after.min()))
        residual, bound, steps = (residual - TERMS[choice]) % 2, after[choice], steps + 1
    return steps + int(bound)


def random_invertible(rng: np.random.Generator) -> np.ndarray:
    while True:
        matrix = rng.integers(0, 2, (4, 4))
        if gf2_rank(matrix) == 4:
            return matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    target = matmul_tensor(2, 2, 2) % 2
    print("| start | games | ranks reached (rank: games) | rank 7 | seconds |")
    print("|---|---:|---|---:|---:|")
    for name in ("standard basis", "random basis"):
        tick, ranks = time.monotonic(), Counter()
        for _ in range(args.games):
            start = target
            if name == "random basis":
                a, b, c = (random_invertible(rng) for _ in range(3))
                start = np.einsum("ia,jb,kc,abc->ijk", a, b, c, target) % 2
            ranks[greedy_rank(start, rng)] += 1
        spread = ", ".join(f"{rank}: {count}" for rank, count in sorted(ranks.items()))
        seconds = time.monotonic() - tick
        print(f"| {name} | {args.games} | {spread} | {100 * ranks[7] / args.games:.1f}% | {seconds:.0f} |")


if __name__ == "__main__":
    main()

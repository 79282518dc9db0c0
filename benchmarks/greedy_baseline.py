"""Baseline without learning: greedy play on the slice-rank bound, ties broken at random.

Plays ⟨2,2,2⟩ over Z2 with the tensor game itself (flat actions, shaped rewards): at
every move all 3,375 terms are stepped and one with the best reward, i.e. the
smallest bound left, is played (a random one among ties), at most 8 moves. Games
start from the matmul tensor in the standard basis, or in a random basis exactly as
``TensorDecomposition(change_of_basis=1)`` draws it. The rank reached is minus the
game's return (moves + the bound left). This is the "greedy search over GF(2) rank
bounds" that stalls at the naive rank 8, and it shows why gamify's search plays in
random bases.

    python benchmarks/greedy_baseline.py --games 1000
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np

from gamify import Env
from gamify.games.tensor_decomposition import TensorDecomposition


def greedy_games(change_of_basis: float, num_games: int, seed: int) -> np.ndarray:
    """The ranks reached by ``num_games`` greedy games."""
    env = Env(TensorDecomposition(actions="flat", change_of_basis=change_of_basis))
    actions = jnp.arange(env.action_space.num_actions, dtype=jnp.int32)

    def move(state, key):
        children = jax.tree.map(lambda x: jnp.repeat(x[None], len(actions), axis=0), state)
        rewards = env.step_batch(children, actions).reward
        choice = jax.random.categorical(key, jnp.where(rewards == rewards.max(), 0.0, -jnp.inf))
        return env.step(state, choice), None  # a no-op once the game is over

    @jax.jit
    def play(key):
        init_key, play_key = jax.random.split(key)
        final, _ = jax.lax.scan(move, env.init(init_key), jax.random.split(play_key, env.max_steps))
        return -final.episode_return

    keys = jax.random.split(jax.random.PRNGKey(seed), num_games)
    return np.array([int(play(key)) for key in keys])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| start | games | ranks reached (rank: games) | rank 7 | seconds |")
    print("|---|---:|---|---:|---:|")
    for name, change_of_basis in (("standard basis", 0.0), ("random basis", 1.0)):
        tick = time.monotonic()
        ranks = Counter(greedy_games(change_of_basis, args.games, args.seed).tolist())
        spread = ", ".join(f"{rank}: {count}" for rank, count in sorted(ranks.items()))
        seconds = time.monotonic() - tick
        print(f"| {name} | {args.games} | {spread} | {100 * ranks[7] / args.games:.1f}% | {seconds:.0f} |")


if __name__ == "__main__":
    main()

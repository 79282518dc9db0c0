"""Where a training iteration's time goes: self-play (search at every move) against learning.

For one case and preset of ``gamify search``, times the jitted pieces a Trainer iteration is
made of, each compiled first and then run ``--repeats`` times (medians): self-play of
``games_per_iteration`` games, the synthetic demonstrations, and one optimizer update (an
iteration runs ``updates_per_iteration`` of them); and one network evaluation of the search's
batch (a search calls it once per simulation). Issue 14, item 4: presets chosen from
measurements.

    python benchmarks/iteration_profile.py --case 2x2x2:z-1..1 --preset cpu
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from gamify import replay
from gamify.cli.bench.ablation import parse_case
from gamify.cli.search import preset
from gamify.games.tensor_decomposition import TensorDecomposition
from gamify.train import Trainer, augment_examples


def median_seconds(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="2x2x2:z-1..1", help="NxMxP:FIELD (2x2x2:z-1..1)")
    parser.add_argument("--preset", default="cpu", choices=["cpu", "gpu", "tiny"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    case = parse_case(args.case)
    game = TensorDecomposition(*case.sizes, field=case.field, coefficients=case.coefficients,
                               change_of_basis=1.0, actions="auto")  # fmt: skip
    config = preset(args.preset)
    trainer = Trainer(game, config)
    state = trainer.init()
    key = jax.random.PRNGKey(0)
    selfplay = jax.jit(trainer._selfplay)
    played = selfplay(state.params, key)
    buffer = replay.add_examples(state.replay, *replay.examples_from(played.trajectory))

    # Inputs are arguments, not closed-over constants, so that XLA cannot fold the work away.
    def one_update(params, opt_state, buffer, key):
        batch = replay.sample_examples(buffer, key, batch_size=config.batch_size)
        batch = augment_examples(game, key, batch)
        return trainer._update(params, opt_state, batch)

    update = jax.jit(one_update)
    obs = played.trajectory.observation[0]  # the games' first observations [B, ...]
    evaluate = jax.jit(lambda params, obs: trainer.network.evaluate(params, obs, jnp.ones(obs.shape[0])))
    acting = median_seconds(lambda: selfplay(state.params, key).trajectory.reward, args.repeats)
    learning = median_seconds(lambda: update(state.params, state.opt_state, buffer, key), args.repeats)
    network = median_seconds(lambda: evaluate(state.params, obs), args.repeats)
    # jitted as inside an iteration (make_demonstrations returns it unjitted: eager, it costs ~10x)
    demos = trainer._demonstrations and jax.jit(trainer._demonstrations)
    making = median_seconds(lambda: demos(key)[1], args.repeats) if demos is not None else 0.0
    batch, steps, sims = config.games_per_iteration, game.max_steps, config.search.num_simulations
    print(f"{case.name}, preset {args.preset}, {game.actions} actions, JAX on {jax.default_backend()}")
    print(f"  self-play ({batch} games x {steps} moves x {sims} simulations): {acting:.2f} s")
    rate = batch * steps * sims / acting  # every game is searched for the whole step limit
    print(f"  {case.name} preset {args.preset}: {rate:,.0f} simulations/s on {jax.default_backend()}")
    print(f"  one network evaluation (batch {batch}): {network * 1000:.1f} ms")
    print(f"  demonstrations ({config.demonstrations_per_iteration} episodes): {making * 1000:.1f} ms")
    print(f"  one update (batch {config.batch_size}): {learning * 1000:.1f} ms")
    learning *= config.updates_per_iteration
    share = learning / (acting + making + learning)
    print(f"  per iteration: acting {acting:.2f} s, learning {learning:.2f} s ({share:.0%} of the iteration)")


if __name__ == "__main__":
    main()

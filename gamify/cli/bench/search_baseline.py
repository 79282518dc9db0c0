"""Search suite of ``gamify bench throughput``: gamify's search against a bare ``mctx`` call.

Simulations per second of :func:`gamify.make_search` (default :class:`gamify.SearchConfig`)
and of a minimal hand-written ``mctx.gumbel_muzero_policy`` search on the same game,
network and parameters, for a flat game (``lights_out``) and a factored one searched with
sampled actions (``xor_rank``). ``overhead`` is ``t_gamify / t_bare``, the median of the
per-repeat ratios; the goal is at most 1.15. A timed call is one search over a batch of B
root states; both sides get the same PRNG key.

* **gamify, flat**: root legal mask as ``invalid_actions``; recurrent_fn steps the Env
  (vmapped: legality, step limit, truncation reward, ended games frozen), observes and
  evaluates, writes each child's legal mask into its prior logits, zeroes the value and
  discount at ended states; the root value is read from the tree.
* **bare, flat**: the same root; recurrent_fn steps, observes, evaluates, discount 0 at
  ended children. No interior mask, no value zeroing, no summary.
* **gamify, sampled**: at every node, K candidates (16) drawn with
  :func:`gamify.networks.sample_actions` and checked for legality; only when a draw is
  illegal does a ``lax.cond`` branch draw ``(oversample - 1) * K`` more. Then the Sampled
  MuZero prior over the K slots with duplicate merging and masks. In ``xor_rank`` every
  in-range action is legal, so the row measures the wrapper's own work.
* **bare, sampled**: exactly K draws per node, prior ``log pi - log beta``; no legality
  check, no extra draws, no duplicate merging, no masks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mctx

from gamify.cli.bench.timing import Say, Settings, Table, interleaved_rates, side_row
from gamify.env import Env
from gamify.game import Game
from gamify.networks import Network, NetworkConfig, make_network, sample_actions
from gamify.registry import load_game
from gamify.search import SearchConfig, make_search

GAMES = ("lights_out", "xor_rank")  # default parameters
NETWORK = NetworkConfig(hidden_size=128)
Search = Callable[[Any, jax.Array, Any], tuple[jax.Array, jax.Array]]  # (params, key, states) -> out


def _observe_evaluate(env: Env, network: Network, params: Any, states: Any):
    obs = jax.vmap(env.observe)(states)
    return network.evaluate(params, obs, jax.vmap(env.time_left)(states))


def _gumbel_muzero(env: Env, config: SearchConfig, params, rng_key, root, recurrent_fn, invalid=None):
    """mctx's policy with the settings gamify's search passes (considered actions, depth, scale)."""
    out = mctx.gumbel_muzero_policy(
        params,
        rng_key,
        root,
        recurrent_fn,
        num_simulations=config.num_simulations,
        invalid_actions=invalid,
        max_depth=env.max_steps,
        max_num_considered_actions=config.max_num_considered_actions,
        gumbel_scale=config.gumbel_scale,
    )
    return out.action, out.action_weights


def make_bare_flat_search(env: Env, network: Network, config: SearchConfig) -> Search:
    """Minimal mctx search for a flat game: step, observe, evaluate, nothing else."""

    def recurrent_fn(params, rng_key, action, states):
        del rng_key
        children = jax.vmap(env.step)(states, action)
        value, logits = _observe_evaluate(env, network, params, children)
        discount = jnp.where(children.done, 0.0, 1.0)
        out = mctx.RecurrentFnOutput(
            reward=children.reward, discount=discount, prior_logits=logits, value=value
        )
        return out, children

    def search(params, rng_key, states):
        value, logits = _observe_evaluate(env, network, params, states)
        root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=states)
        invalid = ~jax.vmap(env.legal_action_mask)(states)
        return _gumbel_muzero(env, config, params, rng_key, root, recurrent_fn, invalid)

    return search


class _BareEmbedding(NamedTuple):
    state: Any
    candidates: jax.Array  # [B, K, T]


def make_bare_sampled_search(env: Env, network: Network, config: SearchConfig) -> Search:
    """Minimal mctx search for a factored game: sample K candidates, step, evaluate."""

    def expand(params, rng_key, states):
        value, context = _observe_evaluate(env, network, params, states)
        candidates, log_pi, log_beta = sample_actions(
            network,
            params,
            rng_key,
            context,
            num_samples=config.num_samples,
            temperature=config.sample_temperature,
        )
        return value, log_pi - log_beta, _BareEmbedding(states, candidates)

    def recurrent_fn(params, rng_key, slot, embedding):
        action = jnp.take_along_axis(embedding.candidates, slot[:, None, None], axis=1)[:, 0]
        children = jax.vmap(env.step)(embedding.state, action)
        value, logits, child_embedding = expand(params, rng_key, children)
        discount = jnp.where(children.done, 0.0, 1.0)
        out = mctx.RecurrentFnOutput(
            reward=children.reward, discount=discount, prior_logits=logits, value=value
        )
        return out, child_embedding

    def search(params, rng_key, states):
        root_key, search_key = jax.random.split(rng_key)
        value, logits, embedding = expand(params, root_key, states)
        root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=embedding)
        return _gumbel_muzero(env, config, params, search_key, root, recurrent_fn)

    return search


def bench_game(
    game: Game, batches: tuple[int, ...], simulations: int, settings: Settings, say: Say
) -> list[dict]:
    """Times gamify's search and the bare one on ``game`` at each batch size; one row per batch."""
    env = Env(game)
    network = make_network(env.action_space, config=NETWORK)
    config = SearchConfig(num_simulations=simulations)
    kind = f"sampled (K={config.num_samples})" if env.factored else "flat"
    init_key, state_key, run_key = jax.random.split(jax.random.key(0), 3)
    one = jax.vmap(env.init)(jax.random.split(state_key, 1))
    params = network.init(init_key, jax.vmap(env.observe)(one), jax.vmap(env.time_left)(one))
    bare = make_bare_sampled_search if env.factored else make_bare_flat_search
    # The bare side first: side_row's ratio "bare mctx/gamify" of rates is t_gamify / t_bare.
    searches = {
        "bare mctx": jax.jit(bare(env, network, config)),
        "gamify": jax.jit(make_search(env, network, config=config)),
    }
    rows = []
    for batch in batches:
        states = jax.vmap(env.init)(jax.random.split(jax.random.fold_in(state_key, batch), batch))
        sides = {
            name: (lambda s=s, states=states: jax.block_until_ready(s(params, run_key, states)))
            for name, s in searches.items()
        }
        samples = interleaved_rates(sides, batch * simulations, settings)
        row = side_row("search", "search", f"{game.name} {kind}", batch, "simulations/s", samples)
        row.update(
            game=game.name, search=kind, simulations=simulations, overhead=row["ratios"]["bare mctx/gamify"]
        )
        rows.append(row)
        rates = ", ".join(f"{name} {rate:,.0f}" for name, rate in row["rates"].items())
        say(f"  search {row['case']} batch {batch}: {rates} simulations/s, overhead {row['overhead']:.3f}")
    return rows


def measure(settings: Settings, say: Say) -> list[dict]:
    """Both games at batches 1, 64 and 256 with 32 simulations (``quick``: batch 2, 4 simulations)."""
    batches, simulations = ((2,), 4) if settings.quick else ((1, 64, 256), 32)
    return [row for name in GAMES for row in bench_game(load_game(name), batches, simulations, settings, say)]


def tables(rows: list[dict]) -> list[Table]:
    """The one table: each side's rate and the overhead."""
    columns = (
        "game",
        "search",
        "batch",
        "sims",
        "gamify sims/s",
        "bare mctx sims/s",
        "overhead (t_gamify / t_bare)",
    )
    cells = [
        [row["game"], row["search"], str(row["batch"]), str(row["simulations"])]
        + [f"{row['rates']['gamify']:,.0f}", f"{row['rates']['bare mctx']:,.0f}", f"{row['overhead']:.2f}"]
        for row in rows
    ]
    note = (
        f"Network: {NETWORK.torso}, hidden size {NETWORK.hidden_size}; default SearchConfig otherwise. "
        "Overhead 1.00 = none; the goal is at most 1.15."
    )
    return [Table("gamify search against a bare mctx.gumbel_muzero_policy call", columns, cells, note)]

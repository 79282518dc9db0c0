"""Search throughput: gamify's search vs a bare ``mctx.gumbel_muzero_policy`` call.

Measures simulations per second (``batch * num_simulations / seconds per call``) of
``gamify.search.make_search`` and of a hand-written minimal mctx search on the same
game, the same network and the same parameters, in the same process, for a flat
game (``lights_out``) and a factored game searched with sampled actions
(``xor_rank``).

What each side runs (each side is one ``jax.jit``-ed function; a timed call is one
search over a batch of B root states, ending with ``block_until_ready``):

* **gamify, flat** -- ``make_search(env, network, SearchConfig(num_simulations=S))``.
  Splits the key. Root: observe + ``network.evaluate``, root legal mask passed as
  ``invalid_actions``, root value zeroed at ended states. recurrent_fn: ``env.step``
  (vmapped; the Env wrapper checks legality, the step limit and truncation reward
  and freezes ended games), observe + evaluate, the child's legal mask written into
  its prior logits, value zeroed at ended children, discount 0 at ended children.
  After the search: root value from ``search_tree.summary()``, a ``SearchOutput``.
* **bare, flat** -- root: observe + ``network.evaluate``, root legal mask passed as
  ``invalid_actions``. recurrent_fn: ``env.step`` (the same Env wrapper, vmapped),
  observe + ``network.evaluate``, discount 0 at ended children. Nothing else: no
  interior legal mask, no value zeroing, no summary; returns mctx's ``action`` and
  ``action_weights``.
* **gamify, sampled** (factored games) -- at every node (the root and each
  expansion): observe + evaluate, split the key, draw K actions (default 16) with
  ``gamify.networks.sample_actions`` and check the legality of every draw. If some
  draw in the batch is illegal, a ``lax.cond`` branch draws ``(oversample - 1) * K``
  more (default oversample=2) and keeps the first K legal ones; when all draws are
  legal that branch does not run. Then the Sampled MuZero prior over the K slots
  with duplicate detection (a ``[K, K, T]`` comparison) and masks; recurrent_fn maps
  the chosen slot back to the action and steps the Env; value zeroed and discount 0
  at ended states. Output as for flat, plus the chosen action and the root
  candidates.
* **bare, sampled** -- at every node: observe + evaluate, draw exactly K actions
  with ``sample_actions``, prior logits ``log pi - log beta`` (no legality check,
  no extra draws, no duplicate merging, no masks). recurrent_fn maps the slot to
  the action, steps the Env, observe + evaluate, discount 0 at ended children.
  Returns mctx's ``action`` and ``action_weights``.

Both sides draw candidates through the same decoder path (``Network.sample``): the
context is projected once per state, and each of the T token steps evaluates only
the current position for the K draws. In ``xor_rank`` every in-range action is
legal, so gamify never takes the extra-draw branch there; compared with the bare
side, it pays only for the legality checks, the ``lax.cond`` predicate, the
duplicate merging and the masks. An ``oversample=1`` variant would therefore cost
the same and is not timed.

Both sides use the same network and parameters, ``num_simulations``,
``max_depth = env.max_steps``, ``max_num_considered_actions`` (16), K, sampling
temperature, gumbel scale and mctx's default ``qtransform_completed_by_mix_value``.
Each repeat gives both sides the same PRNG key. Within a repeat the sides run one
after the other, each sample looping the call for about ``--min-sample-s``, and the
order flips every repeat, so that machine noise (other processes) hits both sides
alike. Compilation and one warm call are excluded (compile time is in ``--json``).
``overhead`` is ``t_gamify / t_bare`` (= bare sims/s / gamify sims/s), the median of
the per-repeat paired ratios; the goal is <= 1.15.

Usage::

    python benchmarks/search_throughput.py                       # full run
    python benchmarks/search_throughput.py --quick               # CI smoke run
    python benchmarks/search_throughput.py --batches 1,64 --simulations 16 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

try:
    import gamify  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp
import mctx

from gamify.env import Env
from gamify.game import Game
from gamify.networks import Network, NetworkConfig, make_network, sample_actions
from gamify.search import SearchConfig, make_search

DEFAULT_GAMES = ("lights_out", "xor_rank")


# --------------------------------------------------------------------------- bare baselines


def _observe_evaluate(env: Env, network: Network, params: Any, states: Any):
    obs = jax.vmap(env.observe)(states)
    return network.evaluate(params, obs, jax.vmap(env.time_left)(states))


def make_bare_flat_search(env: Env, network: Network, config: SearchConfig) -> Callable:
    """Minimal mctx search for a flat game: step, observe, evaluate, nothing else."""

    def root_fn(params, states):
        value, logits = _observe_evaluate(env, network, params, states)
        invalid = ~jax.vmap(env.legal_action_mask)(states)
        return mctx.RootFnOutput(prior_logits=logits, value=value, embedding=states), invalid

    def recurrent_fn(params, rng_key, action, states):
        del rng_key
        children = jax.vmap(env.step)(states, action)
        value, logits = _observe_evaluate(env, network, params, children)
        out = mctx.RecurrentFnOutput(
            reward=children.reward,
            discount=jnp.where(children.done, 0.0, 1.0),
            prior_logits=logits,
            value=value,
        )
        return out, children

    def search(params, rng_key, states):
        root, invalid = root_fn(params, states)
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

    return search


class _BareEmbedding(NamedTuple):
    state: Any
    candidates: jax.Array  # [B, K, T]


def make_bare_sampled_search(env: Env, network: Network, config: SearchConfig) -> Callable:
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
        out = mctx.RecurrentFnOutput(
            reward=children.reward,
            discount=jnp.where(children.done, 0.0, 1.0),
            prior_logits=logits,
            value=value,
        )
        return out, child_embedding

    def search(params, rng_key, states):
        root_key, search_key = jax.random.split(rng_key)
        value, logits, embedding = expand(params, root_key, states)
        root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=embedding)
        out = mctx.gumbel_muzero_policy(
            params,
            search_key,
            root,
            recurrent_fn,
            num_simulations=config.num_simulations,
            max_depth=env.max_steps,
            max_num_considered_actions=config.max_num_considered_actions,
            gumbel_scale=config.gumbel_scale,
        )
        return out.action, out.action_weights

    return search


# --------------------------------------------------------------------------- timing


@dataclasses.dataclass
class Row:
    game: str
    search: str  # "flat" or "sampled (K=..)"
    batch: int
    simulations: int
    repeats: int
    calls_per_sample: int
    gamify_s: float  # median seconds per search call
    bare_s: float
    gamify_sims_per_s: float
    bare_sims_per_s: float
    overhead: float  # median of the paired per-repeat ratios t_gamify / t_bare
    gamify_compile_s: float
    bare_compile_s: float


def _time_calls(fn: Callable, args: tuple, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / calls


def load_builtin_game(name: str) -> Game:
    from gamify.registry import load_game

    return load_game(name)


def bench_game(
    game: Game,
    batches: Sequence[int],
    simulations: int,
    repeats: int,
    *,
    network_config: NetworkConfig = NetworkConfig(hidden_size=128),
    min_sample_s: float = 0.3,
    big_batch_repeats: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] = lambda s: None,
) -> list[Row]:
    """Times gamify's search (default ``SearchConfig``) and the bare search on ``game`` at each batch size."""
    env = Env(game)
    network = make_network(env.action_space, network_config)
    config = SearchConfig(num_simulations=simulations)
    label = f"sampled (K={config.num_samples})" if env.factored else "flat"
    key = jax.random.PRNGKey(seed)
    init_key, state_key, run_key = jax.random.split(key, 3)
    one = jax.vmap(env.init)(jax.random.split(state_key, 1))
    params = network.init(init_key, jax.vmap(env.observe)(one), jax.vmap(env.time_left)(one))

    bare_maker = make_bare_sampled_search if env.factored else make_bare_flat_search
    fns = {
        "gamify": jax.jit(make_search(env, network, config)),
        "bare": jax.jit(bare_maker(env, network, config)),
    }

    rows = []
    for batch in batches:
        states = jax.vmap(env.init)(jax.random.split(jax.random.fold_in(state_key, batch), batch))
        args = (params, run_key, states)
        compile_s, warm_s = {}, {}
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))  # compile + first run
            compile_s[name] = time.perf_counter() - start
            warm_s[name] = _time_calls(fn, args, 1)
        calls = max(1, math.ceil(min_sample_s / max(min(warm_s.values()), 1e-9)))
        reps = repeats
        if big_batch_repeats is not None and batch >= 256:
            reps = min(repeats, big_batch_repeats)
        times: dict[str, list[float]] = {name: [] for name in fns}
        names = list(fns)
        for r in range(reps):
            rep_key = jax.random.fold_in(run_key, r)
            for name in names if r % 2 == 0 else names[::-1]:  # alternate the order every repeat
                times[name].append(_time_calls(fns[name], (params, rep_key, states), calls))
        t_g, t_bare = statistics.median(times["gamify"]), statistics.median(times["bare"])
        ratio = statistics.median(g / b for g, b in zip(times["gamify"], times["bare"], strict=True))
        row = Row(
            game=game.name or type(game).__name__,
            search=label,
            batch=batch,
            simulations=simulations,
            repeats=reps,
            calls_per_sample=calls,
            gamify_s=t_g,
            bare_s=t_bare,
            gamify_sims_per_s=batch * simulations / t_g,
            bare_sims_per_s=batch * simulations / t_bare,
            overhead=ratio,
            gamify_compile_s=compile_s["gamify"],
            bare_compile_s=compile_s["bare"],
        )
        progress(
            f"{row.game} {label} B={batch}: gamify {t_g * 1e3:.2f} ms, bare {t_bare * 1e3:.2f} ms, "
            f"overhead x{ratio:.3f} ({reps} repeats x {calls} calls)"
        )
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[Row]) -> str:
    lines = [
        "| game | search | batch | sims | gamify sims/s | bare mctx sims/s | overhead (t_gamify / t_bare) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.game} | {r.search} | {r.batch} | {r.simulations} | {r.gamify_sims_per_s:,.0f} "
            f"| {r.bare_sims_per_s:,.0f} | {r.overhead:.2f} |"
        )
    return "\n".join(lines)


def _parse_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


_FULL = {"batches": [1, 64, 256], "simulations": 32, "repeats": 9, "min_sample_s": 0.3}
_QUICK = {"batches": [1, 4], "simulations": 4, "repeats": 1, "min_sample_s": 0.0}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=_parse_ints, help="comma-separated batch sizes (default 1,64,256)")
    parser.add_argument("--simulations", type=int, help="simulations per search (default 32)")
    parser.add_argument("--repeats", type=int, help="interleaved gamify/bare samples per batch (default 9)")
    parser.add_argument(
        "--big-batch-repeats", type=int, default=5, help="at most this many repeats at batch >= 256"
    )
    parser.add_argument(
        "--min-sample-s", type=float, help="a sample repeats the call to last about this long (default 0.3)"
    )
    parser.add_argument(
        "--games", default=",".join(DEFAULT_GAMES), help="built-in game names (default parameters)"
    )
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: batch 1 and 4, 4 sims, 1 repeat (explicit options still win)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the rows and run info here")
    args = parser.parse_args(argv)
    for name, value in (_QUICK if args.quick else _FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def run(
    argv: Sequence[str] | None = None, games: Sequence[Game] | None = None, quiet: bool = False
) -> list[Row]:
    """Runs the benchmark and prints the table.

    ``games`` overrides ``--games`` (game instances instead of built-in names).
    """
    args = parse_args(argv)
    say = (lambda *a, **k: None) if quiet else print
    if games is None:
        games = [load_builtin_game(name) for name in args.games.split(",") if name]
    start = time.perf_counter()
    rows = []
    for game in games:
        rows += bench_game(
            game,
            args.batches,
            args.simulations,
            args.repeats,
            network_config=NetworkConfig(hidden_size=args.hidden_size),
            min_sample_s=args.min_sample_s,
            big_batch_repeats=args.big_batch_repeats,
            progress=lambda s: say(s, file=sys.stderr, flush=True),
        )
    total = time.perf_counter() - start
    say(markdown_table(rows), flush=True)
    say(f"\ntotal {total:.0f} s, jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPUs")
    if args.json is not None:
        info = {
            "argv": list(sys.argv[1:] if argv is None else argv),
            "jax": jax.__version__,
            "mctx": getattr(mctx, "__version__", None),
            "platform": jax.devices()[0].platform,
            "cpu_count": os.cpu_count(),
            "machine": platform.platform(),
            "total_s": total,
            "rows": [dataclasses.asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(info, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    run()

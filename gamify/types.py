"""The engine's contracts: the arrays and functions that pass between its modules.

Shapes name their axes: B a batch of states or games, L the step limit (``Game.max_steps``),
A the flat actions, T the tokens of a factored action, K the candidate actions per node
of the sampled search, N rows of training examples. A flat action is an int32 scalar,
a factored one int32[T]. Fields of a record share its leading axes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import mctx

Array = jax.Array
Params = Any  # the network's parameters (a haiku pytree)


class EnvState(NamedTuple):
    """One game's state plus the bookkeeping every game shares (all scalars)."""

    game: Any  # the game's own state pytree
    reward: Array  # float32, reward of the transition that led here
    terminated: Array  # bool, the game ended by its own rules (or an illegal action)
    truncated: Array  # bool, the step limit ended it first
    illegal: Array  # bool, an illegal action ended it (terminated is set too): not a solution
    step_count: Array  # int32, moves made so far
    episode_return: Array  # float32, sum of rewards so far

    @property
    def done(self) -> Array:
        return self.terminated | self.truncated


class SearchOutput(NamedTuple):
    """The result of one search per state. B is the batch."""

    action: Array  # [B] (flat) or [B, T] (factored): the env action chosen
    action_weights: Array  # [B, K] improved policy of the K candidates (flat: may sum to < 1)
    candidates: Array  # [B, K, T] candidate actions: tokens (factored), or [B, K, 1] action indices (flat)
    root_value: Array  # [B] search value of the root, in reward units


# search(params, rng_key, states [B]) -> SearchOutput; see gamify.search.make_search.
SearchFn = Callable[[Params, Array, EnvState], SearchOutput]
# root_fn(params, rng_key, states [B]) -> (mctx.RootFnOutput, invalid_actions bool[B, A or K]);
# the root's embedding is what RecurrentFn steps from.
RootFn = Callable[[Params, Array, EnvState], tuple[mctx.RootFnOutput, Array]]
# recurrent_fn(params, rng_key, action [B], embedding) -> (mctx.RecurrentFnOutput, child embedding):
# mctx's own signature; ``action`` indexes the flat actions or the node's K candidate slots.
RecurrentFn = mctx.RecurrentFn


class Trajectory(NamedTuple):
    """Time-major self-play record. L is the step limit, B the number of games."""

    observation: Array  # [L, B, ...]
    time_left: Array  # [L, B]
    action: Array  # [L, B] or [L, B, T]
    action_weights: Array  # [L, B, K] search policy over the candidates
    candidates: Array  # [L, B, K, T] (flat: T = 1, action indices)
    reward: Array  # [L, B]
    valid: Array  # [L, B] bool, the game was still running before this move
    value_target: Array  # [L, B] return from this move to the end (undiscounted)


class Example(NamedTuple):
    """One training example per row. N is the number of rows."""

    observation: Array  # [N, ...]
    time_left: Array  # [N]
    action_weights: Array  # [N, K] search policy target over the candidates
    candidates: Array  # [N, K, T] (flat: T = 1, action indices)
    value_target: Array  # [N]


# (start, actions, length) as Game.demonstration returns it: a game state to start from,
# actions [L, ...] whose first ``length`` solve it, length int32; batched: a leading axis B.
Episode = tuple[Any, Array, Array]

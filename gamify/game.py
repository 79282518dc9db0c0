"""The game contract: pure JAX functions over an immutable state pytree.

A game is a :class:`Game` subclass whose methods are pure functions of their
arguments. Nothing that changes is stored on ``self``; attributes hold only
static configuration (sizes, the fixed target of a puzzle). Batching is done
from outside with ``jax.vmap``; cross-game rules (step limit, what happens after
the end, illegal actions) live once in :class:`gamify.Env`.

Two kinds of action space are supported:

* :class:`FlatActions` -- ``num_actions`` discrete actions, an action is an
  ``int32`` scalar, legality is a boolean mask over all actions.
* :class:`FactoredActions` -- an action is a sequence of tokens
  (``int32[num_tokens]``), token ``t`` taking values in
  ``[0, token_sizes[t])``. The policy is autoregressive over tokens and the
  search samples candidate actions (see :mod:`gamify.search`). Legality is a
  predicate ``is_legal(state, action)``.

Rewards are in the game's own units; single-player returns need not be bounded
(the built-in games give -1 per move, so the return is minus the solution
length, plus a penalty if the step limit is hit first).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Generic, TypeVar

import jax.numpy as jnp

from gamify.types import Array

S = TypeVar("S")  # the game's own state pytree (NamedTuple, chex.dataclass, ...)


@dataclasses.dataclass(frozen=True)
class FlatActions:
    """``num_actions`` discrete actions; an action is an int32 scalar."""

    num_actions: int

    def __post_init__(self):
        if self.num_actions < 1:
            raise ValueError(f"num_actions must be >= 1, got {self.num_actions}")


@dataclasses.dataclass(frozen=True)
class FactoredActions:
    """An action is ``int32[len(token_sizes)]``; token t lies in [0, token_sizes[t])."""

    token_sizes: tuple[int, ...]

    def __post_init__(self):
        if not self.token_sizes or min(self.token_sizes) < 1:
            raise ValueError(f"token_sizes must be non-empty and >= 1, got {self.token_sizes}")
        object.__setattr__(self, "token_sizes", tuple(int(s) for s in self.token_sizes))

    @property
    def num_tokens(self) -> int:
        return len(self.token_sizes)

    @property
    def max_token_size(self) -> int:
        return max(self.token_sizes)


ActionSpace = FlatActions | FactoredActions


class GameError(Exception):
    """A game's own method raised: the message names the game and the method."""


class Game(abc.ABC, Generic[S]):
    """A single-player game written as pure JAX functions.

    Subclasses set the class attributes ``name`` and ``description`` and the
    instance attributes ``action_space`` and ``max_steps`` (usually in
    ``__init__`` from the game's parameters), then implement ``init``, ``step``,
    ``observe`` and one legality method:

    * flat games: ``legal_action_mask(state) -> bool[num_actions]``;
    * factored games: ``is_legal(state, action) -> bool[]``.

    Every method sees one unbatched state; use ``jax.numpy`` only (no Python
    control flow on array values) so the methods can be jitted and vmapped.
    A state that is not over must have at least one legal action (end the game,
    or let ``max_steps`` end it, before that can happen).

    Optionally set ``best_possible_return`` (class or instance attribute) to a proven
    upper bound on the return of every game, finished or cut short by the step limit
    (e.g. minus the proven fewest moves): training stops once the best game reaches it,
    since no better game exists. Leave it None when no bound is proven.
    """

    name: str = ""
    description: str = ""
    best_possible_return: float | None = None
    # Optional: NetworkConfig fields this game's observations and actions call for (e.g. the
    # set torso with pair scores for a game over a set of items); ``gamify train`` starts new
    # runs from them, its own options taking precedence.
    network_defaults: dict = {}
    # The rules' version: raise it when a change would make old runs' checkpoints and best
    # solutions mean something else. Recorded in config.json; ``--resume`` refuses a mismatch.
    version: int = 1
    action_space: ActionSpace
    max_steps: int

    @abc.abstractmethod
    def init(self, key: Array) -> S:
        """Returns the initial state. ``key`` may be ignored by fixed puzzles."""

    @abc.abstractmethod
    def step(self, state: S, action: Array) -> tuple[S, Array, Array]:
        """Applies a legal action.

        Returns:
          ``(next_state, reward, terminated)`` with ``reward`` a float32 scalar
          and ``terminated`` a bool scalar (the puzzle is solved / the game is over).
        """

    @abc.abstractmethod
    def observe(self, state: S) -> Array:
        """Returns the observation fed to the network (any fixed shape, float-convertible)."""

    def legal_action_mask(self, state: S) -> Array:
        """Flat games: bool[num_actions], True where the action is legal."""
        raise NotImplementedError(f"{type(self).__name__} must implement legal_action_mask")

    def is_legal(self, state: S, action: Array) -> Array:
        """Factored games: bool scalar, True when ``action`` (int32[num_tokens]) is legal."""
        raise NotImplementedError(f"{type(self).__name__} must implement is_legal")

    def truncation_reward(self, state: S) -> Array:
        """Extra reward when the step limit ends the game before termination.

        AlphaTensor-style games return minus an upper bound on the moves still
        needed, so that running out of moves is never better than finishing.
        """
        del state
        return jnp.float32(0.0)

    def solution(self, final: S, actions: Any) -> Any:
        """A finished game's moves (numpy), as a solution of the puzzle the game stands for.

        Games that start from a disguised puzzle (e.g. the tensor game in a random
        basis) map the moves back, using the game's ``final`` state; the default
        returns ``actions`` unchanged. Everything shown or saved goes through this.
        """
        del final
        return actions

    def augment(
        self, key: Array, observation: Array, policy: Array, candidates: Array
    ) -> tuple[Array, Array, Array]:
        """Optional: a random symmetry of the game applied to one training example.

        The learner calls it (vmapped) on every example it samples. A symmetry maps a
        state to one with the same value and each move to its image, so the returned
        example is as true as the given one (AlphaTensor trains on the cyclic
        transpositions of its tensors this way). Pure JAX; default: unchanged.

        Args:
          key: a PRNG key for this example.
          observation: as :meth:`observe` returns it.
          policy: the policy target, float32[K] over the candidates (flat games: it may
            sum to less than 1, the rest being spread over the other actions like the prior).
          candidates: int32[K, T], the candidate actions' tokens (factored) or int32[K, 1],
            their indices (flat): map each to its image under the symmetry.

        Returns:
          ``(observation, policy, candidates)`` with the same shapes and dtypes.
        """
        del key
        return observation, policy, candidates

    def describe(self, actions: Any) -> str:
        """Human-readable text for a solution (a numpy array of actions), used by the CLI."""
        return "\n".join(f"{i + 1:3d}: {a}" for i, a in enumerate(actions.tolist()))

    def demonstration(self, key: Array) -> tuple[S, Array, Array]:
        """Optional: a synthetic solved episode to learn from (AlphaTensor's demonstrations).

        Returns:
          ``(start, actions, length)``: a state to start from (it need not be the
          one ``init`` returns), ``actions`` [max_steps, ...] whose first ``length``
          entries solve it, and ``length`` (int32 scalar). Entries past ``length``
          are ignored but must have the action's shape and dtype.
        """
        raise NotImplementedError(f"{type(self).__name__} does not provide demonstrations")

    def vary_episode(self, key: Array, start: S, actions: Array, length: Array) -> tuple[S, Array, Array]:
        """Optional: a random symmetry of a whole solved episode (the same solution of an equivalent puzzle).

        Training replays fixed episodes (known solutions, e.g. verified schemes; see
        :class:`gamify.train.Trainer`) through it every iteration, so that each teaches in
        many forms, as synthetic demonstrations do, instead of one form over and over. The
        returned moves must solve the returned start in ``length`` moves, and
        :meth:`solution` of its final state must map them back to a solution of the puzzle
        the game stands for. Pure JAX (it is vmapped over episodes); default: unchanged.

        Args:
          key: a PRNG key for this episode.
          start, actions, length: as :meth:`demonstration` returns them.

        Returns:
          ``(start, actions, length)`` with the same shapes and dtypes.
        """
        del key
        return start, actions, length

    def illegal_action_reward(self, state: S, steps_left: Array) -> Array:
        """Reward for an illegal action, which ends the game (see :class:`gamify.Env`).

        The default treats it as wasting every remaining move and then hitting
        the step limit, i.e. the worst outcome for a -1-per-move game.
        """
        return -steps_left.astype(jnp.float32) + self.truncation_reward(state)

"""AlphaZero-style Gumbel MuZero search over the true game dynamics (mctx).

``recurrent_fn`` steps the real game (no learned model) and evaluates the network
on the child. Conventions, shared by both action spaces:

* reward = the transition's reward; discount = 0 once the game is over
  (terminated or truncated), 1 otherwise, so nothing is bootstrapped past the end;
* value = the network's value in reward units (0 at ended states). Returns of
  single-player games are unbounded; mctx's default ``qtransform_completed_by_mix_value``
  rescales Q by the min/max seen in each tree, so no value range is assumed;
* legal masks hold at every node: the root through ``invalid_actions``, interior
  nodes by setting illegal prior logits to the dtype's minimum.

**Sampled search for factored actions** (Sampled MuZero, Hubert et al. 2021).
mctx needs a fixed, small ``num_actions``; a factored space (e.g. all factor
triples) is far too large to enumerate. At every node we draw ``K`` actions from
the autoregressive policy (tempered by ``sample_temperature``) and store them in
the node's embedding; mctx sees ``num_actions = K`` "slots" and ``recurrent_fn``
maps the chosen slot back to the real action. Duplicate draws share one slot:
the first copy keeps it with prior ``log(count) + log pi - log beta`` (the
empirical distribution corrected by pi/beta, which is the Sampled MuZero
prior), later copies and illegal actions are masked. To waste fewer slots on
illegal actions, when some of a batch's K draws are illegal, ``(oversample - 1) * K``
more are drawn and the first K legal ones in draw order kept: those are i.i.d.
draws from beta restricted to legal actions, whose normaliser is the same for
every slot, so the prior is unchanged. Games whose draws are all legal skip this
(a real branch, not a select). If no draw at a node is legal, mctx still has to
pick a slot there; the env then ends the game with ``illegal_action_reward`` (by
default the worst outcome), so the search sees that node as a dead end. At the
root such a pick is never made while a legal candidate exists. The search's
improved policy (``action_weights``) is a distribution over the K candidates; training
fits pi to it on exactly those candidates.

Policy targets are sparse for flat games too: the K root actions the search visited (at
most ``max_num_considered_actions``) with their improved-policy weights, not renormalised.
The rest of the mass belongs to the unvisited actions, among which Gumbel MuZero's improved
policy is the prior itself (their completed Q-values are all the same mixed value), so
the learner can fit the dense target's visited part and unvisited total exactly
(:mod:`gamify.learner`) while the replay stores K weights instead of A (⟨2,2,3⟩ over Z2
with flat actions has 59,535).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import mctx

from gamify.env import Env
from gamify.networks import Network, sample_actions
from gamify.types import Array, EnvState, Params, RecurrentFn, RootFn, SearchFn, SearchOutput


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Settings of the Gumbel MuZero search."""

    num_simulations: int = 32
    max_num_considered_actions: int = 16
    num_samples: int = 16  # K, candidate actions per node (factored spaces only)
    sample_temperature: float = 1.0  # beta ∝ pi^(1/T) when drawing candidates
    oversample: int = 2  # up to oversample*K draws when some are illegal; keep the first K legal
    gumbel_scale: float = 1.0  # 0 gives a deterministic (evaluation) search
    # Flat games: add this times each root action's immediate reward to its prior logit
    # (a one-ply full-width look at the root: every legal action is stepped once, no
    # network call). 0 turns it off. With Gumbel top-k sampling of the considered
    # actions, the best-rewarded actions are considered first, ties broken at random.
    root_reward_weight: float = 0.0

    def __post_init__(self):
        if self.num_simulations < 1:
            raise ValueError(f"num_simulations must be >= 1, got {self.num_simulations}")
        if self.max_num_considered_actions < 1:
            raise ValueError(
                f"max_num_considered_actions must be >= 1, got {self.max_num_considered_actions}"
            )
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.oversample < 1:
            raise ValueError(f"oversample must be >= 1, got {self.oversample}")
        if self.sample_temperature <= 0:
            raise ValueError(f"sample_temperature must be > 0, got {self.sample_temperature}")
        if self.gumbel_scale < 0:
            raise ValueError(f"gumbel_scale must be >= 0, got {self.gumbel_scale}")
        if self.root_reward_weight < 0:
            raise ValueError(f"root_reward_weight must be >= 0, got {self.root_reward_weight}")


def _zero_when_done(done: Array, value: Array) -> Array:
    return jnp.where(done, 0.0, value)


def _evaluate(env: Env, network: Network, params: Params, states: EnvState) -> tuple[Array, Array]:
    obs = jax.vmap(env.observe)(states)
    return network.evaluate(params, obs, jax.vmap(env.time_left)(states))


def _flat_fns(env: Env, network: Network, config: SearchConfig) -> tuple[RootFn, RecurrentFn]:
    actions = jnp.arange(env.action_space.num_actions, dtype=jnp.int32)

    def root_fn(params, rng_key, states):
        del rng_key
        value, logits = _evaluate(env, network, params, states)
        invalid = ~jax.vmap(env.legal_action_mask)(states)
        if config.root_reward_weight:
            # One flat batch of B*A children: step_batch then pays for truncation and
            # illegal-action rewards only when some child needs them.
            num_states, num_actions = logits.shape
            children = jax.tree.map(lambda x: jnp.repeat(x, num_actions, axis=0), states)
            rewards = env.step_batch(children, jnp.tile(actions, num_states)).reward
            logits = logits + config.root_reward_weight * rewards.reshape(num_states, num_actions)
        root = mctx.RootFnOutput(
            prior_logits=logits, value=_zero_when_done(states.done, value), embedding=states
        )
        return root, invalid

    def recurrent_fn(params, rng_key, action, states):
        del rng_key
        children = env.step_batch(states, action)
        value, logits = _evaluate(env, network, params, children)
        legal = jax.vmap(env.legal_action_mask)(children)
        logits = jnp.where(legal, logits, jnp.finfo(logits.dtype).min)
        out = mctx.RecurrentFnOutput(
            reward=children.reward,
            discount=jnp.where(children.done, 0.0, 1.0),
            prior_logits=logits,
            value=_zero_when_done(children.done, value),
        )
        return out, children

    return root_fn, recurrent_fn


class SampledEmbedding(NamedTuple):
    state: EnvState  # batched states
    candidates: Array  # [B, K, T] sampled actions at this node


def _is_legal(env: Env, states: EnvState, actions: Array) -> Array:
    # states: [B]; actions: [B, N, T] -> [B, N]
    return jax.vmap(lambda s, acts: jax.vmap(lambda a: env.is_legal(s, a))(acts))(states, actions)


def keep_legal_first(actions: Array, legal: Array, log_pi: Array, log_beta: Array, *, num_keep: int):
    """Keeps ``num_keep`` of N draws per state, legal ones first, in draw order.

    Args:
      actions: [B, N, T]; legal, log_pi, log_beta: [B, N].
      num_keep: how many draws to keep.
    Returns:
      the same four arrays cut to [B, num_keep, ...].
    """
    order = jnp.argsort(~legal, axis=-1, stable=True)[:, :num_keep]
    take = lambda x: jnp.take_along_axis(x, order.reshape(order.shape + (1,) * (x.ndim - 2)), axis=1)
    return take(actions), take(legal), take(log_pi), take(log_beta)


def candidate_prior(candidates: Array, legal: Array, log_pi: Array, log_beta: Array) -> tuple[Array, Array]:
    """Sampled MuZero prior over K candidate slots, with duplicates and illegal actions masked.

    Args:
      candidates: [B, K, T]; legal, log_pi, log_beta: [B, K].
    Returns:
      ``(logits [B, K], invalid [B, K])``; logits of invalid slots are the dtype's minimum.
    """
    num_samples = candidates.shape[1]
    same = jnp.all(candidates[:, :, None, :] == candidates[:, None, :, :], axis=-1)  # [B, K, K]
    earlier = jnp.tril(jnp.ones((num_samples, num_samples), bool), k=-1)
    duplicate = jnp.any(same & earlier, axis=-1)  # a copy of an earlier slot
    counts = same.sum(axis=-1).astype(jnp.float32)
    invalid = duplicate | ~legal
    logits = jnp.log(counts) + log_pi - log_beta
    return jnp.where(invalid, jnp.finfo(logits.dtype).min, logits), invalid


def _sampled_fns(env: Env, network: Network, config: SearchConfig) -> tuple[RootFn, RecurrentFn]:
    def draw(params, rng_key, states, context, num_samples):
        actions, log_pi, log_beta = sample_actions(
            network, params, rng_key, context, num_samples=num_samples, temperature=config.sample_temperature
        )
        return actions, _is_legal(env, states, actions), log_pi, log_beta

    def expand(params, rng_key, states):
        value, context = _evaluate(env, network, params, states)
        first_key, extra_key = jax.random.split(rng_key)
        candidates, legal, log_pi, log_beta = draw(params, first_key, states, context, config.num_samples)

        def redraw(_):
            # Some draw in the batch was illegal: draw more and keep the first K legal ones.
            extra = draw(params, extra_key, states, context, config.num_samples * (config.oversample - 1))
            joined = [
                jnp.concatenate(pair, axis=1)
                for pair in zip((candidates, legal, log_pi, log_beta), extra, strict=True)
            ]
            return keep_legal_first(*joined, num_keep=config.num_samples)

        if config.oversample > 1:  # a real branch: games whose draws are all legal pay nothing
            candidates, legal, log_pi, log_beta = jax.lax.cond(
                jnp.all(legal), lambda _: (candidates, legal, log_pi, log_beta), redraw, None
            )
        logits, invalid = candidate_prior(candidates, legal, log_pi, log_beta)
        embedding = SampledEmbedding(state=states, candidates=candidates)
        return _zero_when_done(states.done, value), logits, invalid, embedding

    def root_fn(params, rng_key, states):
        value, logits, invalid, embedding = expand(params, rng_key, states)
        # If every candidate is illegal, let mctx pick one; the env then ends the game.
        invalid = invalid & ~jnp.all(invalid, axis=-1, keepdims=True)
        return mctx.RootFnOutput(prior_logits=logits, value=value, embedding=embedding), invalid

    def recurrent_fn(params, rng_key, slot, embedding):
        action = jnp.take_along_axis(embedding.candidates, slot[:, None, None], axis=1)[:, 0]
        children = env.step_batch(embedding.state, action)
        value, logits, _, child_embedding = expand(params, rng_key, children)
        out = mctx.RecurrentFnOutput(
            reward=children.reward,
            discount=jnp.where(children.done, 0.0, 1.0),
            prior_logits=logits,
            value=value,
        )
        return out, child_embedding

    return root_fn, recurrent_fn


def search_functions(env: Env, network: Network, *, config: SearchConfig) -> tuple[RootFn, RecurrentFn]:
    """The ``(root_fn, recurrent_fn)`` pair that mctx searches with.

    Args:
      env: the game under the shared rules.
      network: evaluates each node's value and policy.
      config: ``root_reward_weight`` (flat), ``num_samples``, ``sample_temperature`` and
        ``oversample`` (factored) are used.
    Returns:
      root_fn: ``(params, rng_key, states [B]) -> (mctx.RootFnOutput, invalid_actions [B, A or K])``.
      recurrent_fn: mctx's signature. Embeddings are batched :class:`EnvState` (flat) or
        :class:`SampledEmbedding` (factored).
    """
    return _sampled_fns(env, network, config) if env.factored else _flat_fns(env, network, config)


def num_candidates(env: Env, config: SearchConfig) -> int:
    """K, the candidate slots of a policy target: ``num_samples`` (factored games) or the root
    actions Gumbel MuZero considers, ``min(max_num_considered_actions, A)`` (flat games)."""
    if env.factored:
        return config.num_samples
    return min(config.max_num_considered_actions, env.action_space.num_actions)


def make_search(env: Env, network: Network, *, config: SearchConfig = SearchConfig()) -> SearchFn:
    """Builds a batched Gumbel MuZero search over the true game dynamics.

    Args:
      env: the game under the shared rules.
      network: the policy-value network guiding the search.
      config: the search's settings.
    Returns:
      ``search(params, rng_key, states) -> SearchOutput``, not jitted (jit the caller).
    """
    factored = env.factored
    slots = num_candidates(env, config)

    root_fn, recurrent_fn = search_functions(env, network, config=config)

    def search(params: Params, rng_key: Array, states: EnvState) -> SearchOutput:
        """Searches from every state of a batch.

        Args:
          params: the network's parameters.
          rng_key: a PRNG key.
          states: EnvState with a leading batch axis [B].
        Returns:
          SearchOutput: ``action`` [B] (flat) or [B, T] tokens (factored), ``action_weights``
          [B, K] over the candidates, ``candidates`` [B, K, T] (flat: [B, K, 1], the visited
          root actions, best first; unused slots weigh 0), ``root_value`` [B] in reward units.
        """
        root_key, search_key = jax.random.split(rng_key)
        root, invalid = root_fn(params, root_key, states)
        chex.assert_equal_shape_prefix([root.prior_logits, invalid], 2)
        out = mctx.gumbel_muzero_policy(
            params,
            search_key,
            root,
            recurrent_fn,
            num_simulations=config.num_simulations,
            invalid_actions=invalid,
            max_depth=env.max_steps,
            max_num_considered_actions=config.max_num_considered_actions,
            gumbel_scale=config.gumbel_scale,
        )
        root_value = out.search_tree.summary().value
        if factored:
            candidates, weights = root.embedding.candidates, out.action_weights
            action = jnp.take_along_axis(candidates, out.action[:, None, None], axis=1)[:, 0]
        else:
            visits = out.search_tree.children_visits[:, out.search_tree.ROOT_INDEX]
            weights, index = jax.lax.top_k(jnp.where(visits > 0, out.action_weights, -1.0), slots)
            weights = jnp.maximum(weights, 0.0)  # fewer visited actions than slots: weight 0
            candidates, action = index[:, :, None].astype(jnp.int32), out.action
        return SearchOutput(
            action=action, action_weights=weights, candidates=candidates, root_value=root_value
        )

    return search

"""Losses and the optax update step.

* value: squared error to the observed return, in reward units (scalar head), or
  quantile regression (quantile head);
* policy, flat games: cross-entropy to the search's improved policy, stored sparse (the
  visited actions' weights; the rest of the mass is the unvisited actions', spread like
  the prior): the visited part and the unvisited total are fitted as the dense target's;
* policy, factored games: cross-entropy to the search policy over the K
  candidates the search saw (Sampled MuZero), each candidate's log-probability
  computed autoregressively with teacher forcing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from gamify.networks import Network, token_log_probs
from gamify.types import Array, Example, Params


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """Settings of the optimizer and the loss."""

    learning_rate: float = 1e-3  # 0 keeps the network at its initial weights (an ablation)
    weight_decay: float = 1e-4
    value_loss_weight: float = 0.25
    max_grad_norm: float = 1.0

    def __post_init__(self):
        if self.learning_rate < 0:
            raise ValueError(f"learning_rate must be >= 0, got {self.learning_rate}")
        if self.weight_decay < 0 or self.value_loss_weight < 0 or self.max_grad_norm <= 0:
            raise ValueError("weight_decay and value_loss_weight must be >= 0, max_grad_norm > 0")


class LossInfo(NamedTuple):
    """Scalar losses of one batch: the total and its two parts."""

    loss: Array
    value_loss: Array
    policy_loss: Array


def make_optimizer(*, config: LearnerConfig) -> optax.GradientTransformation:
    """AdamW after clipping the gradients' global norm.

    Args:
      config: ``learning_rate``, ``weight_decay`` and ``max_grad_norm`` are used.
    Returns:
      the optax optimizer.
    """
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adamw(config.learning_rate, weight_decay=config.weight_decay),
    )


def quantile_regression_loss(quantiles: Array, target: Array, *, kappa: float = 1.0) -> Array:
    """Quantile Huber loss (Dabney et al. 2018); with Q = 1 plain squared error (a scalar value head).

    Args:
      quantiles: [B, Q] the value head's outputs.
      target: [B] the observed returns.
      kappa: the Huber threshold.
    Returns:
      [B] the loss per example.
    """
    if quantiles.shape[-1] == 1:
        return jnp.square(quantiles[:, 0] - target)
    num = quantiles.shape[-1]
    taus = (jnp.arange(num) + 0.5) / num
    error = target[:, None] - quantiles
    huber = jnp.where(jnp.abs(error) <= kappa, 0.5 * error**2, kappa * (jnp.abs(error) - 0.5 * kappa))
    return jnp.sum(jnp.abs(taus - (error < 0)) * huber / kappa, axis=-1)


def flat_policy_loss(log_probs: Array, batch: Example) -> Array:
    """Cross-entropy to a sparse flat target: weights w over candidate actions S, and the rest
    of the mass, 1 - Σw, on every other action together (where the target is proportional to
    the prior): -Σ_S w log p(a) - (1 - Σw) log p(not S).

    Args:
      log_probs: [N, A] the policy's log-probabilities.
      batch: ``action_weights`` [N, K], ``candidates`` [N, K, 1] (slots of weight 0 are unused).
    Returns:
      [N] losses.
    """
    weights, index = batch.action_weights, batch.candidates[..., 0]
    used = weights > 0
    picked = jnp.take_along_axis(log_probs, index, axis=-1)
    seen = jax.vmap(lambda i, u: jnp.zeros(log_probs.shape[-1], bool).at[i].max(u))(index, used)
    log_rest = jax.nn.logsumexp(jnp.where(seen, -jnp.inf, log_probs), axis=-1)
    rest = jnp.maximum(1.0 - weights.sum(-1), 0.0)
    # where(): unused slots and an empty rest (every action a candidate) contribute nothing.
    return -jnp.sum(jnp.where(used, weights * picked, 0.0), axis=-1) - jnp.where(
        rest > 0, rest * log_rest, 0.0
    )


def make_loss(
    network: Network, *, config: LearnerConfig
) -> Callable[[Params, Example], tuple[Array, LossInfo]]:
    """Builds the training loss: policy cross-entropy plus weighted value loss.

    Args:
      network: the network being trained.
      config: ``value_loss_weight`` is used.
    Returns:
      ``loss(params, batch) -> (scalar, LossInfo)``, with ``batch`` an :class:`Example` [N, ...]
      and every loss averaged over its N rows.
    """

    def policy_loss(params, batch: Example, policy: Array) -> Array:
        if network.token_logits is None:
            return flat_policy_loss(jax.nn.log_softmax(policy, axis=-1), batch)
        batch_size, num_candidates, num_tokens = batch.candidates.shape
        context = jnp.repeat(policy, num_candidates, axis=0)
        tokens = batch.candidates.reshape(batch_size * num_candidates, num_tokens)
        logits = network.token_logits(params, context, tokens)
        log_probs = token_log_probs(logits, tokens).reshape(batch_size, num_candidates)
        # Masked candidates carry weight 0; where() keeps their -inf-like log-probs out of the sum.
        return -jnp.sum(jnp.where(batch.action_weights > 0, batch.action_weights * log_probs, 0.0), axis=-1)

    value_loss_fn = quantile_regression_loss

    def loss(params, batch: Example):
        quantiles, policy = network.outputs(params, batch.observation, batch.time_left)
        value_loss = jnp.mean(value_loss_fn(quantiles, batch.value_target))
        pol_loss = jnp.mean(policy_loss(params, batch, policy))
        total = pol_loss + config.value_loss_weight * value_loss
        return total, LossInfo(loss=total, value_loss=value_loss, policy_loss=pol_loss)

    return loss


def make_update(
    network: Network, optimizer: optax.GradientTransformation, *, config: LearnerConfig
) -> Callable[[Params, Any, Example], tuple[Params, Any, LossInfo]]:
    """Builds one optimizer step on the loss of :func:`make_loss`.

    Args:
      network: the network being trained.
      optimizer: e.g. :func:`make_optimizer`'s.
      config: the loss's settings.
    Returns:
      ``update(params, opt_state, batch) -> (params, opt_state, LossInfo)``, not jitted, with
      ``batch`` an :class:`Example` [N, ...].
    """
    grad_fn = jax.grad(make_loss(network, config=config), has_aux=True)

    def update(params: Params, opt_state: Any, batch: Example):
        grads, info = grad_fn(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, info

    return update

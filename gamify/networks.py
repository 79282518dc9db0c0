"""Generic policy-value networks (dm-haiku) for flat and factored action spaces.

A :class:`Network` is a bundle of pure functions built with ``hk.multi_transform``:

* ``evaluate(params, obs, time_left) -> (value, policy)``: the torso runs once per
  state. For flat games ``policy`` is ``logits[B, num_actions]``; for factored
  games it is a context vector ``[B, H]`` that conditions the token decoder.
* ``token_logits(params, context, tokens) -> logits[B, T, V]`` (factored only):
  an autoregressive decoder in one pass, position ``t`` sees only tokens ``< t``
  (teacher forcing in training; sampling calls it once per position).

Values are in reward units (returns of -1-per-move games are unbounded below);
the search normalises Q per node (mctx's ``qtransform_completed_by_mix_value``)
so no fixed value range is needed. ``time_left`` (fraction of the step limit still
available) is an input because the value of a state depends on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from gamify.game import ActionSpace, FactoredActions

Array = jax.Array
Params = Any


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the generic policy-value network."""

    torso: str = "resnet"  # "mlp" (plain layers) or "resnet" (pre-norm residual MLP blocks)
    hidden_size: int = 128
    num_layers: int = 2  # layers (mlp) or residual blocks (resnet)
    head_hidden_size: int = 128
    token_embed_size: int = 64  # factored decoder width

    def __post_init__(self):
        if self.torso not in _TORSOS:
            raise ValueError(f"torso must be one of {sorted(_TORSOS)}, got {self.torso!r}")
        for field in ("hidden_size", "num_layers", "head_hidden_size", "token_embed_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")


class Network(NamedTuple):
    init: Callable[..., Params]  # (rng_key, obs[B, ...], time_left[B]) -> params
    evaluate: Callable[..., tuple[Array, Array]]  # (params, obs, time_left) -> (value[B], policy)
    token_logits: Callable[..., Array] | None  # (params, context[B, H], tokens[B, T]) -> [B, T, V]
    action_space: ActionSpace


def _mlp_torso(config: NetworkConfig, x: Array) -> Array:
    for _ in range(config.num_layers):
        x = jax.nn.relu(hk.Linear(config.hidden_size)(x))
    return x


def _resnet_torso(config: NetworkConfig, x: Array) -> Array:
    x = hk.Linear(config.hidden_size)(x)
    for _ in range(config.num_layers):
        y = hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)(x)
        y = hk.Linear(config.hidden_size)(jax.nn.relu(y))
        y = hk.Linear(config.hidden_size)(jax.nn.relu(y))
        x = x + y
    return jax.nn.relu(hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)(x))


_TORSOS = {"mlp": _mlp_torso, "resnet": _resnet_torso}


class TokenDecoder(hk.Module):
    """Autoregressive logits over the tokens of a factored action, all positions in one pass."""

    def __init__(self, token_sizes: tuple[int, ...], config: NetworkConfig, name: str = "token_decoder"):
        super().__init__(name=name)
        self.token_sizes = token_sizes
        self.config = config

    def __call__(self, context: Array, tokens: Array) -> Array:
        # context: [B, H]; tokens: [B, T] -> logits [B, T, V] with V = max token size.
        sizes = np.asarray(self.token_sizes)
        num_tokens, vocab = len(sizes), int(sizes.max())
        width = self.config.token_embed_size
        offsets = jnp.asarray(np.concatenate([[0], np.cumsum(sizes)[:-1]]), jnp.int32)
        embed = hk.Embed(vocab_size=int(sizes.sum()), embed_dim=width, name="token_embed")
        token_embeddings = embed(tokens + offsets)  # [B, T, D]
        # Strictly lower-triangular: position t sums the embeddings of tokens < t.
        causal = jnp.tril(jnp.ones((num_tokens, num_tokens), token_embeddings.dtype), k=-1)
        prefix = jnp.einsum("ts,bsd->btd", causal, token_embeddings)
        position = hk.get_parameter("position", [num_tokens, width], init=hk.initializers.TruncatedNormal())
        x = hk.Linear(width)(context)[:, None, :] + prefix + position
        x = jax.nn.relu(hk.Linear(self.config.head_hidden_size)(jax.nn.relu(x)))
        logits = hk.Linear(vocab)(x)
        in_vocab = jnp.arange(vocab)[None, :] < jnp.asarray(sizes)[:, None]  # [T, V]
        return jnp.where(in_vocab, logits, jnp.finfo(logits.dtype).min)


def make_network(action_space: ActionSpace, config: NetworkConfig = NetworkConfig()) -> Network:
    """Builds the policy-value network for a game's action space."""
    factored = isinstance(action_space, FactoredActions)

    def forward():
        torso = _TORSOS[config.torso]
        value_head = hk.nets.MLP([config.head_hidden_size, 1], name="value_head")
        if factored:
            decoder = TokenDecoder(action_space.token_sizes, config)
        else:
            policy_head = hk.nets.MLP([config.head_hidden_size, action_space.num_actions], name="policy_head")

        def evaluate(obs, time_left):
            x = jnp.concatenate([obs.reshape(obs.shape[0], -1), time_left[:, None]], axis=-1)
            h = torso(config, x)
            value = value_head(h)[:, 0]
            return value, (h if factored else policy_head(h))

        def token_logits(context, tokens):
            return decoder(context, tokens)

        def init(obs, time_left):
            value, policy = evaluate(obs, time_left)
            if factored:
                token_logits(policy, jnp.zeros((obs.shape[0], action_space.num_tokens), jnp.int32))
            return value

        return init, (evaluate, token_logits)

    transformed = hk.without_apply_rng(hk.multi_transform(forward))
    evaluate_fn, token_logits_fn = transformed.apply
    return Network(
        init=transformed.init,
        evaluate=evaluate_fn,
        token_logits=token_logits_fn if factored else None,
        action_space=action_space,
    )


def token_log_probs(logits: Array, tokens: Array) -> Array:
    """Log-probability of whole actions under autoregressive logits.

    Args:
      logits: [..., T, V] from ``Network.token_logits`` (teacher-forced on ``tokens``).
      tokens: [..., T] int32.
    Returns:
      [...] the sum over positions of log-softmax at the chosen token.
    """
    log_softmax = jax.nn.log_softmax(logits, axis=-1)
    chosen = jnp.take_along_axis(log_softmax, tokens[..., None], axis=-1)[..., 0]
    return chosen.sum(axis=-1)


def sample_actions(
    network: Network,
    params: Params,
    rng_key: Array,
    context: Array,
    *,
    num_samples: int,
    temperature: float = 1.0,
) -> tuple[Array, Array, Array]:
    """Samples factored actions autoregressively, with replacement.

    Tokens are drawn from the tempered policy beta ∝ pi^(1/temperature), applied
    per token.

    Args:
      context: [B, H] from ``Network.evaluate``.
    Returns:
      ``(actions [B, K, T] int32, log_pi [B, K], log_beta [B, K])``.
    """
    batch = context.shape[0]
    num_tokens = network.action_space.num_tokens
    flat_context = jnp.repeat(context, num_samples, axis=0)  # [B*K, H]
    tokens = jnp.zeros((batch * num_samples, num_tokens), jnp.int32)
    keys = jax.random.split(rng_key, num_tokens)

    def body(t, carry):
        tokens, log_pi, log_beta = carry
        logits = network.token_logits(params, flat_context, tokens)[:, t]  # [B*K, V]
        tempered = logits / temperature
        choice = jax.random.categorical(keys[t], tempered, axis=-1)
        log_pi += jnp.take_along_axis(jax.nn.log_softmax(logits), choice[:, None], axis=-1)[:, 0]
        log_beta += jnp.take_along_axis(jax.nn.log_softmax(tempered), choice[:, None], axis=-1)[:, 0]
        return tokens.at[:, t].set(choice.astype(jnp.int32)), log_pi, log_beta

    zeros = jnp.zeros((batch * num_samples,), jnp.float32)
    tokens, log_pi, log_beta = jax.lax.fori_loop(0, num_tokens, body, (tokens, zeros, zeros))
    shape = (batch, num_samples)
    return tokens.reshape(*shape, num_tokens), log_pi.reshape(shape), log_beta.reshape(shape)

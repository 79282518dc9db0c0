"""Generic policy-value networks (dm-haiku) for flat and factored action spaces.

A :class:`Network` is a bundle of pure functions built with ``hk.multi_transform``:

* ``evaluate(params, obs, time_left) -> (value, policy)``: the torso runs once per
  state. For flat games ``policy`` is ``logits[B, num_actions]``; for factored
  games it is a context vector ``[B, H]`` that conditions the token decoder.
* ``token_logits(params, context, tokens) -> logits[B, T, V]`` (factored only):
  an autoregressive decoder in one pass, position ``t`` sees only tokens ``< t``
  (teacher forcing in training).
* ``sample(params, rng_key, context, num_samples, temperature)`` (factored only):
  draws K actions per state token by token (used by the sampled search).

Values are in reward units (returns of -1-per-move games are unbounded below);
the search normalises Q per node (mctx's ``qtransform_completed_by_mix_value``)
so no fixed value range is needed. ``time_left`` (fraction of the step limit still
available) is an input because the value of a state depends on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from gamify.axial import axial_torso
from gamify.game import ActionSpace, FactoredActions
from gamify.types import Array, Params


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the generic policy-value network."""

    # "mlp" (plain layers), "resnet" (pre-norm residual MLP blocks), "axial" (AlphaTensor's
    # attention across tensor modes; observations [I, J, K, C]) or "set" (attention over a set
    # of items without positions; observations [N, F], all-zero rows empty); "uniform" is
    # no network: a uniform policy and value 0, without parameters (the search alone, an ablation).
    torso: str = "resnet"
    hidden_size: int = 128
    num_layers: int = 2  # layers (mlp), residual blocks (resnet) or attentive-modes blocks (axial)
    num_heads: int = 4  # attention heads (axial torso and the decoder's cross-attention)
    head_hidden_size: int = 128
    token_embed_size: int = 64  # factored decoder width
    # Value head: 1 = a scalar regressed with squared error; more = quantiles trained by
    # quantile regression, and the search uses the risk-seeking mean of the quantiles
    # above ``risk_seeking_level`` (AlphaTensor: the best outcomes matter, not the average).
    num_quantiles: int = 1
    risk_seeking_level: float = 0.75
    # Flat games with the "set" torso: the first pair_kinds * N * N actions are (kind, i, j) for
    # ordered pairs of the N items (e.g. a move between two terms of a scheme), scored by one
    # bilinear form per kind, so the policy follows any permutation of the items; the remaining
    # actions are scored from the pooled vector. 0: every action from the pooled vector.
    pair_kinds: int = 0

    def __post_init__(self):
        if self.torso not in (*_TORSOS, "uniform"):
            raise ValueError(f"torso must be one of {sorted(_TORSOS)} or 'uniform', got {self.torso!r}")
        for field in ("hidden_size", "num_layers", "num_heads", "head_hidden_size", "token_embed_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
        if self.pair_kinds < 0:
            raise ValueError(f"pair_kinds must be >= 0, got {self.pair_kinds}")
        if self.num_quantiles < 1:
            raise ValueError(f"num_quantiles must be >= 1, got {self.num_quantiles}")
        if not 0 <= self.risk_seeking_level < 1:
            raise ValueError(f"risk_seeking_level must be in [0, 1), got {self.risk_seeking_level}")


class Network(NamedTuple):
    """Pure functions; ``context`` is [B, H], or [B, 1 + N, D] (pooled vector + cells) for the axial torso."""

    init: Callable[..., Params]  # (rng_key, obs[B, ...], time_left[B]) -> params
    evaluate: Callable[..., tuple[Array, Array]]  # (params, obs, time_left) -> (value[B], policy)
    # (params, obs, time_left) -> (value quantiles [B, Q], policy); what the learner fits
    outputs: Callable[..., tuple[Array, Array]]
    token_logits: Callable[..., Array] | None  # (params, context[B, H], tokens[B, T]) -> [B, T, V]
    # (params, rng_key, context[B, H], num_samples, temperature) -> (tokens[B, K, T], log_pi, log_beta)
    sample: Callable[..., tuple[Array, Array, Array]] | None
    action_space: ActionSpace


def _flatten(obs: Array, time_left: Array) -> Array:
    return jnp.concatenate([obs.reshape(obs.shape[0], -1), time_left[:, None]], axis=-1)


def _mlp_torso(config: NetworkConfig, obs: Array, time_left: Array) -> tuple[Array, Array]:
    x = _flatten(obs, time_left)
    for _ in range(config.num_layers):
        x = jax.nn.relu(hk.Linear(config.hidden_size)(x))
    return x, x


def _resnet_torso(config: NetworkConfig, obs: Array, time_left: Array) -> tuple[Array, Array]:
    x = hk.Linear(config.hidden_size)(_flatten(obs, time_left))
    for _ in range(config.num_layers):
        y = hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)(x)
        y = hk.Linear(config.hidden_size)(jax.nn.relu(y))
        y = hk.Linear(config.hidden_size)(jax.nn.relu(y))
        x = x + y
    x = jax.nn.relu(hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)(x))
    return x, x


def _axial_torso(config: NetworkConfig, obs: Array, time_left: Array) -> tuple[Array, Array]:
    pooled, cells = axial_torso(
        obs, time_left, width=config.hidden_size, num_blocks=config.num_layers, num_heads=config.num_heads
    )
    return pooled, jnp.concatenate([pooled[:, None, :], cells], axis=1)


def _set_torso(config: NetworkConfig, obs: Array, time_left: Array) -> tuple[Array, Array]:
    """A set of items obs [B, N, F] (all-zero rows are empty): self-attention blocks without positions,
    so permuting the items permutes the item vectors and leaves their pooled mean alone."""
    if obs.ndim != 3:
        raise ValueError(f"the set torso needs observations [N, F] (one row per item), got {obs.shape[1:]}")
    width = config.hidden_size
    present = jnp.any(obs != 0, axis=-1)  # [B, N]
    x = hk.Linear(width, name="embed")(obs) + hk.Linear(width, name="time")(time_left[:, None])[:, None, :]
    for block in range(config.num_layers):
        y = hk.LayerNorm(-1, True, True, name=f"attention_norm_{block}")(x)
        attention = hk.MultiHeadAttention(
            num_heads=config.num_heads,
            key_size=max(width // config.num_heads, 1),
            model_size=width,
            w_init=hk.initializers.VarianceScaling(1.0),
            name=f"attention_{block}",
        )
        x = x + attention(y, y, y, mask=present[:, None, None, :])
        y = hk.LayerNorm(-1, True, True, name=f"mlp_norm_{block}")(x)
        x = x + hk.Linear(width, name=f"mlp_out_{block}")(
            jax.nn.relu(hk.Linear(2 * width, name=f"mlp_in_{block}")(y))
        )
    x = hk.LayerNorm(-1, True, True, name="out_norm")(x)
    weights = present / jnp.maximum(present.sum(axis=-1, keepdims=True), 1)
    pooled = jnp.einsum("bn,bnh->bh", weights, x)
    return pooled, jnp.concatenate([pooled[:, None, :], x], axis=1)


def _pair_policy(config: NetworkConfig, items: Array, pooled: Array, num_actions: int) -> Array:
    """Logits [B, num_actions]: pair_kinds * N * N bilinear pair scores, then the rest from ``pooled``."""
    batch, num_items, width = items.shape
    kinds = config.pair_kinds
    rest = num_actions - kinds * num_items**2
    if rest < 0:
        raise ValueError(
            f"pair_kinds={kinds} over {num_items} items needs at least {kinds * num_items**2} actions, "
            f"the game has {num_actions}"
        )
    query = hk.Linear(kinds * width, name="pair_query")(items).reshape(batch, num_items, kinds, width)
    key = hk.Linear(kinds * width, name="pair_key")(items).reshape(batch, num_items, kinds, width)
    pairs = jnp.einsum("bipd,bjpd->bpij", query, key) / np.sqrt(width)
    logits = [pairs.reshape(batch, -1)]
    if rest:
        logits.append(hk.nets.MLP([config.head_hidden_size, rest], name="other_actions")(pooled))
    return jnp.concatenate(logits, axis=-1)


# Each torso maps (obs, time_left) to (pooled [B, H], policy context: [B, H] or [B, 1 + N, H],
# the pooled vector then the cells or items).
_TORSOS = {"mlp": _mlp_torso, "resnet": _resnet_torso, "axial": _axial_torso, "set": _set_torso}


class TokenDecoder(hk.Module):
    """Autoregressive logits over the tokens of a factored action.

    Position t sees the context and the sum of the embeddings of tokens < t; with a
    cell context ``[B, 1 + N, D]`` (axial torso) it also cross-attends to the cells.
    ``__call__`` computes every position in one pass (teacher forcing);
    ``sample`` draws actions one token at a time, projecting the context once
    per state and evaluating only the current position at each step.
    """

    def __init__(self, token_sizes: tuple[int, ...], config: NetworkConfig, name: str = "token_decoder"):
        super().__init__(name=name)
        self.sizes = np.asarray(token_sizes)
        self.vocab = int(self.sizes.max())
        self.width = config.token_embed_size
        self.hidden = config.head_hidden_size
        self.num_heads = config.num_heads
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int32)

    def _embed(self, tokens: Array, positions: Array) -> Array:
        table = hk.Embed(vocab_size=int(self.sizes.sum()), embed_dim=self.width, name="token_embed")
        return table(tokens + jnp.asarray(self.offsets)[positions])

    def _context(self, context: Array) -> tuple[Array, Array | None]:
        # -> (query start [B, D], memory [B, N, D] or None)
        pooled = context[:, 0] if context.ndim == 3 else context
        start = hk.Linear(self.width, name="context")(pooled)
        memory = hk.Linear(self.width, name="memory")(context[:, 1:]) if context.ndim == 3 else None
        return start, memory

    def _head(self, x: Array, positions: Array, memory: Array | None) -> Array:
        # x: [B, S, D] queries at ``positions`` ([S] or a scalar); memory: [B, N, D] -> logits [B, S, V]
        position = hk.get_parameter(
            "position", [len(self.sizes), self.width], init=hk.initializers.TruncatedNormal()
        )
        x = x + position[positions]
        if memory is not None:
            attention = hk.MultiHeadAttention(
                num_heads=self.num_heads,
                key_size=max(self.width // self.num_heads, 1),
                model_size=self.width,
                w_init=hk.initializers.VarianceScaling(1.0),
                name="cross_attention",
            )
            x = x + attention(hk.LayerNorm(-1, True, True, name="query_norm")(x), memory, memory)
        x = jax.nn.relu(hk.Linear(self.hidden, name="hidden")(jax.nn.relu(x)))
        logits = hk.Linear(self.vocab, name="logits")(x)
        in_vocab = jnp.arange(self.vocab) < jnp.asarray(self.sizes)[positions][..., None]
        return jnp.where(in_vocab, logits, jnp.finfo(logits.dtype).min)

    def __call__(self, context: Array, tokens: Array) -> Array:
        # context: [B, H] or [B, 1 + N, H]; tokens: [B, T] -> logits [B, T, V].
        num_tokens = len(self.sizes)
        positions = jnp.arange(num_tokens)
        embeddings = self._embed(tokens, positions)  # [B, T, D]
        causal = jnp.tril(jnp.ones((num_tokens, num_tokens), embeddings.dtype), k=-1)
        prefix = jnp.einsum("ts,bsd->btd", causal, embeddings)
        start, memory = self._context(context)
        return self._head(start[:, None, :] + prefix, positions, memory)

    def sample(self, rng_key: Array, context: Array, num_samples: int, temperature: float):
        # context: [B, ...] -> (tokens [B, K, T], log_pi [B, K], log_beta [B, K]); T is unrolled (small).
        start, memory = self._context(context)
        x = jnp.repeat(start[:, None, :], num_samples, axis=1)  # [B, K, D]: the K draws are the queries
        tokens, log_pi, log_beta = [], 0.0, 0.0
        for t, key in enumerate(jax.random.split(rng_key, len(self.sizes))):
            logits = self._head(x, jnp.int32(t), memory)
            tempered = logits / temperature
            choice = jax.random.categorical(key, tempered, axis=-1)  # [B, K]
            log_pi += _log_prob(logits, choice)
            log_beta += _log_prob(tempered, choice)
            tokens.append(choice.astype(jnp.int32))
            x = x + self._embed(tokens[-1], jnp.int32(t))
        return jnp.stack(tokens, axis=-1), log_pi, log_beta


def _log_prob(logits: Array, choice: Array) -> Array:
    return jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), choice[..., None], axis=-1)[..., 0]


def risk_seeking_value(quantiles: Array, *, level: float) -> Array:
    """Mean of the quantiles whose level is above ``level``. quantiles: [B, Q] -> [B]."""
    num = quantiles.shape[-1]
    taus = (np.arange(num) + 0.5) / num
    keep = taus > level if num > 1 else np.ones(1, bool)
    return jnp.sort(quantiles, axis=-1)[:, keep].mean(axis=-1)


def make_network(action_space: ActionSpace, *, config: NetworkConfig = NetworkConfig()) -> Network:
    """Builds the policy-value network for a game's action space.

    Args:
      action_space: the game's; flat spaces get a policy head over A actions, factored ones
        a token decoder over T tokens.
      config: the network's sizes.
    Returns:
      Network: pure functions of the parameters (see :class:`Network`); ``token_logits``
      and ``sample`` are None for flat spaces.
    """
    factored = isinstance(action_space, FactoredActions)
    if config.torso == "uniform":
        return _uniform_network(action_space, config)

    def forward():
        torso = _TORSOS[config.torso]
        value_head = hk.nets.MLP([config.head_hidden_size, config.num_quantiles], name="value_head")
        pairs = config.torso == "set" and config.pair_kinds > 0 and not factored
        if factored:
            decoder = TokenDecoder(action_space.token_sizes, config)
        elif not pairs:
            policy_head = hk.nets.MLP([config.head_hidden_size, action_space.num_actions], name="policy_head")

        def outputs(obs, time_left):
            pooled, context = torso(config, obs, time_left)
            if factored:
                return value_head(pooled), context
            if pairs:
                return value_head(pooled), _pair_policy(
                    config, context[:, 1:], pooled, action_space.num_actions
                )
            return value_head(pooled), policy_head(pooled)

        def evaluate(obs, time_left):
            quantiles, policy = outputs(obs, time_left)
            return risk_seeking_value(quantiles, level=config.risk_seeking_level), policy

        def token_logits(context, tokens):
            return decoder(context, tokens)

        def sample(rng_key, context, num_samples, temperature):
            return decoder.sample(rng_key, context, num_samples, temperature)

        def init(obs, time_left):
            value, policy = evaluate(obs, time_left)
            if factored:
                token_logits(policy, jnp.zeros((obs.shape[0], action_space.num_tokens), jnp.int32))
            return value

        return init, (evaluate, outputs, token_logits, sample)

    transformed = hk.without_apply_rng(hk.multi_transform(forward))
    evaluate_fn, outputs_fn, token_logits_fn, sample_fn = transformed.apply
    return Network(
        init=transformed.init,
        evaluate=evaluate_fn,
        outputs=outputs_fn,
        token_logits=token_logits_fn if factored else None,
        sample=sample_fn if factored else None,
        action_space=action_space,
    )


def _uniform_network(action_space: ActionSpace, config: NetworkConfig) -> Network:
    """Every action equally likely (tokens uniform, independently) and every value 0: the
    search with nothing learned in it. No parameters, so training leaves it as it is."""
    factored = isinstance(action_space, FactoredActions)
    width = action_space.max_token_size if factored else action_space.num_actions

    def outputs(params, obs, time_left):
        del params, time_left
        batch = obs.shape[0]
        return jnp.zeros((batch, config.num_quantiles)), jnp.zeros((batch, 1 if factored else width))

    def evaluate(params, obs, time_left):
        quantiles, policy = outputs(params, obs, time_left)
        return quantiles[:, 0], policy

    def token_logits(params, context, tokens):
        del params, context
        in_vocab = jnp.arange(width)[None, :] < jnp.asarray(action_space.token_sizes)[:, None]
        logits = jnp.where(in_vocab, 0.0, jnp.finfo(jnp.float32).min)
        return jnp.broadcast_to(logits, (*tokens.shape, width))

    def sample(params, rng_key, context, num_samples, temperature):
        del params, temperature  # a uniform policy tempered is still uniform
        sizes = jnp.asarray(action_space.token_sizes)
        shape = (context.shape[0], num_samples, len(action_space.token_sizes))
        tokens = jax.random.randint(rng_key, shape, 0, sizes)
        log_pi = jnp.full(shape[:2], -float(np.log(action_space.token_sizes).sum()))
        return tokens, log_pi, log_pi

    return Network(
        init=lambda rng_key, obs, time_left: {},
        evaluate=evaluate,
        outputs=outputs,
        token_logits=token_logits if factored else None,
        sample=sample if factored else None,
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
    return network.sample(params, rng_key, context, num_samples, temperature)

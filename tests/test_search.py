"""Search: optimum of small brute-forced instances, masks below the root, no retracing, sampled prior."""

import collections
import itertools

import chex
import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest

import gamify
from gamify.networks import NetworkConfig, make_network, sample_actions, token_log_probs
from gamify.search import SearchConfig, candidate_prior, keep_legal_first, make_search, search_functions
from gamify.testing import check_game

SMALL_NET = NetworkConfig(hidden_size=32, head_hidden_size=32, token_embed_size=16, num_layers=1)


class Reach(gamify.Game):
    """Reach ``target`` exactly from 0 by adding 1..4 (flat) or a+b+1, a,b in 0..3 (factored)."""

    name = "reach"
    description = "test game"

    def __init__(self, target=10, factored=False, max_steps=8, illegal_bonus=None):
        self.target, self.factored, self.max_steps = target, factored, max_steps
        self.illegal_bonus = illegal_bonus
        self.action_space = gamify.FactoredActions((4, 4)) if factored else gamify.FlatActions(4)

    def increment(self, action):
        return action[0] + action[1] + 1 if self.factored else action + 1

    def init(self, key):
        return jnp.int32(0)

    def step(self, state, action):
        state = state + self.increment(action)
        return state, jnp.float32(-1.0), state == self.target

    def observe(self, state):
        return jax.nn.one_hot(state, self.target + 1)

    def legal_action_mask(self, state):
        return state + jnp.arange(4) + 1 <= self.target

    def is_legal(self, state, action):
        return state + self.increment(action) <= self.target

    def truncation_reward(self, state):
        return -jnp.float32(self.target - state)

    def illegal_action_reward(self, state, steps_left):
        if self.illegal_bonus is None:
            return super().illegal_action_reward(state, steps_left)
        return jnp.float32(self.illegal_bonus)


def build(game, **search_kwargs):
    env = gamify.Env(game)
    network = make_network(env.action_space, config=SMALL_NET)
    state = env.init(jax.random.PRNGKey(0))
    params = network.init(jax.random.PRNGKey(1), env.observe(state)[None], jnp.ones((1,)))
    search = jax.jit(make_search(env, network, config=SearchConfig(**search_kwargs)))
    return env, network, params, search


@pytest.mark.parametrize("factored", [False, True], ids=["flat", "sampled"])
def test_reach_game_conforms(factored):
    check_game(Reach(factored=factored), num_random_steps=8)


def _visited_actions_are_legal(env, network, params, factored, states, seed):
    """Runs one search and checks every visited child of every expanded node."""
    root_fn, recurrent_fn = search_functions(env, network, config=SearchConfig(num_samples=8))
    root, invalid = root_fn(params, jax.random.PRNGKey(seed), states)
    tree = mctx.gumbel_muzero_policy(
        params, jax.random.PRNGKey(seed + 1), root, recurrent_fn, num_simulations=64, invalid_actions=invalid
    ).search_tree
    visited = np.asarray(tree.children_visits) > 0  # [B, nodes, slots]
    expanded = np.asarray(tree.node_visits) > 0
    embedding = tree.embeddings
    node_states = embedding.state if factored else embedding
    legal_fn = jax.vmap(jax.vmap(jax.vmap(env.is_legal, in_axes=(None, 0)), in_axes=(0, 0)), in_axes=(0, 0))
    if factored:
        legal = np.asarray(legal_fn(node_states, embedding.candidates))
    else:
        actions = jnp.broadcast_to(jnp.arange(env.action_space.num_actions), visited.shape)
        legal = np.asarray(legal_fn(node_states, actions))
    done = np.asarray(node_states.done)
    # Sampled nodes where no draw was legal must pick some slot: they are dead ends by design.
    some_legal = legal.any(axis=-1)
    checked = expanded & ~done & some_legal
    bad = visited & ~legal & checked[..., None]
    assert not bad.any(), f"illegal actions visited below the root at {np.argwhere(bad)[:5]}"
    assert checked.sum() > 10  # the check saw a real tree


@pytest.mark.parametrize("factored", [False, True], ids=["flat", "sampled"])
def test_masks_hold_below_the_root(factored):
    game = Reach(target=6, factored=factored, max_steps=6)
    env, network, params, _ = build(game)
    states = jax.vmap(env.init)(jax.random.split(jax.random.PRNGKey(0), 3))
    for seed in range(2):
        _visited_actions_are_legal(env, network, params, factored, states, seed)


def test_illegal_actions_never_pay_in_flat_search():
    # An illegal action would pay +100: if any node let one through, the root value would show it.
    game = Reach(target=6, max_steps=6, illegal_bonus=100.0)
    env, _, params, search = build(game, num_simulations=64)
    states = jax.vmap(env.init)(jax.random.split(jax.random.PRNGKey(0), 4))
    for seed in range(3):
        out = search(params, jax.random.PRNGKey(seed), states)
        assert np.all(np.asarray(out.root_value) <= 0.0), out.root_value
        legal = np.asarray(jax.vmap(env.is_legal)(states, out.action))
        assert np.all(legal | np.asarray(states.done))
        states = jax.vmap(env.step)(states, out.action)


def test_root_reward_weight_adds_each_root_moves_reward():
    """Flat games: prior logit += W * the reward of stepping that move (step limit included)."""
    env, network, params, _ = build(Reach(target=10, max_steps=3))
    states = jax.vmap(env.init)(jax.random.split(jax.random.PRNGKey(0), 3))
    states = jax.vmap(env.step)(states, jnp.array([0, 1, 2]))  # at 1, 2, 3 with 2 moves left
    states = jax.vmap(env.step)(states, jnp.array([3, 3, 0]))  # at 5, 6, 4: the next move truncates
    root = lambda config: search_functions(env, network, config=config)[0](params, None, states)[0]
    plain, weighted = root(SearchConfig()), root(SearchConfig(root_reward_weight=2.0))
    actions = jnp.arange(4)
    rewards = jax.vmap(lambda s: jax.vmap(lambda a: env.step(s, a).reward)(actions))(states)
    assert float(rewards.min()) < -1  # truncation rewards are part of it
    np.testing.assert_allclose(weighted.prior_logits - plain.prior_logits, 2.0 * rewards, rtol=1e-6)


def test_search_does_not_retrace():
    env = gamify.Env(Reach(factored=True))
    network = make_network(env.action_space, config=SMALL_NET)
    state = env.init(jax.random.PRNGKey(0))
    params = network.init(jax.random.PRNGKey(1), env.observe(state)[None], jnp.ones((1,)))
    raw = make_search(env, network, config=SearchConfig(num_simulations=4, num_samples=4))
    search = jax.jit(chex.assert_max_traces(raw, n=1))
    states = jax.vmap(env.init)(jax.random.split(jax.random.PRNGKey(0), 2))
    for seed in range(3):
        out = search(params, jax.random.PRNGKey(seed), states)
        states = jax.vmap(env.step)(states, out.action)


def test_sampled_prior_counts_duplicates_and_masks_them():
    candidates = jnp.array([[[1, 2], [0, 0], [1, 2], [3, 3]]], jnp.int32)
    legal = jnp.array([[True, True, True, False]])
    log_pi = jnp.log(jnp.array([[0.5, 0.2, 0.5, 0.1]]))
    logits, invalid = candidate_prior(candidates, legal, log_pi, log_pi)
    np.testing.assert_array_equal(np.asarray(invalid), [[False, False, True, True]])
    probs = jax.nn.softmax(logits)
    # Empirical distribution over the distinct legal candidates: 2 of 3 draws, then 1 of 3.
    np.testing.assert_allclose(np.asarray(probs), [[2 / 3, 1 / 3, 0.0, 0.0]], atol=1e-6)


def test_sampled_prior_corrects_for_temperature():
    candidates = jnp.array([[[0, 0], [1, 0]]], jnp.int32)
    legal = jnp.ones((1, 2), bool)
    log_pi = jnp.log(jnp.array([[0.6, 0.4]]))
    log_beta = jnp.log(jnp.array([[0.5, 0.5]]))  # a flattened proposal
    logits, _ = candidate_prior(candidates, legal, log_pi, log_beta)
    # (beta_hat / beta) * pi with one draw each: proportional to pi / beta = 1.2 : 0.8.
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(logits)), [[0.6, 0.4]], atol=1e-6)


def test_keep_legal_first_preserves_draw_order():
    actions = jnp.arange(6, dtype=jnp.int32).reshape(1, 6, 1)
    legal = jnp.array([[False, True, False, True, True, False]])
    scores = jnp.arange(6, dtype=jnp.float32)[None]
    kept, kept_legal, kept_pi, _ = keep_legal_first(actions, legal, scores, scores, num_keep=4)
    np.testing.assert_array_equal(np.asarray(kept)[0, :, 0], [1, 3, 4, 0])
    np.testing.assert_array_equal(np.asarray(kept_legal)[0], [True, True, True, False])
    np.testing.assert_array_equal(np.asarray(kept_pi)[0], [1, 3, 4, 0])


def test_sampled_search_prior_matches_policy_frequencies():
    """With many samples, the prior over distinct candidates approaches the policy."""
    env = gamify.Env(Reach(target=30, factored=True))
    network = make_network(env.action_space, config=SMALL_NET)
    state = env.init(jax.random.PRNGKey(0))
    params = network.init(jax.random.PRNGKey(3), env.observe(state)[None], jnp.ones((1,)))
    _, context = network.evaluate(params, env.observe(state)[None], env.time_left(state)[None])
    draws, _, _ = sample_actions(network, params, jax.random.PRNGKey(0), context, num_samples=4000)
    counts = collections.Counter(map(tuple, np.asarray(draws[0]).tolist()))
    all_actions = jnp.array(list(itertools.product(range(4), range(4))), jnp.int32)
    logits = network.token_logits(params, jnp.repeat(context, 16, axis=0), all_actions)
    exact = np.exp(np.asarray(token_log_probs(logits, all_actions)))
    np.testing.assert_allclose(exact.sum(), 1.0, atol=1e-5)
    empirical = np.array([counts[tuple(a)] / 4000 for a in np.asarray(all_actions).tolist()])
    np.testing.assert_allclose(empirical, exact, atol=0.03)

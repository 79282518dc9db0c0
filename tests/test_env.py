"""Env: the cross-game rules (end of game, step limit, illegal actions, bookkeeping) on tiny games."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gamify
from gamify.testing import check_game


class CountdownState(NamedTuple):
    remaining: jax.Array  # int32


class Countdown(gamify.Game[CountdownState]):
    """Bring a counter to zero; action a subtracts a + 1 and is legal while a + 1 <= counter."""

    name = "countdown"
    description = "count down to zero in the fewest moves"

    def __init__(self, start: int = 5, max_steps: int = 4):
        self.start = start
        self.max_steps = max_steps
        self.action_space = gamify.FlatActions(3)

    def init(self, key):
        del key
        return CountdownState(jnp.int32(self.start))

    def step(self, state, action):
        remaining = state.remaining - (action + 1)
        return CountdownState(remaining), jnp.float32(-1.0), remaining == 0

    def observe(self, state):
        return state.remaining[None]

    def legal_action_mask(self, state):
        return jnp.arange(1, 4) <= state.remaining

    def truncation_reward(self, state):
        return -state.remaining.astype(jnp.float32)


class PairState(NamedTuple):
    total: jax.Array  # int32, sum of the tokens played so far


class Pairs(gamify.Game[PairState]):
    """Reach a total of 6 with two-token actions (a, b) adding a + b; only a != b is legal."""

    name = "pairs"
    description = "reach 6 with distinct token pairs"
    max_steps = 3

    def __init__(self):
        self.action_space = gamify.FactoredActions((3, 4))

    def init(self, key):
        del key
        return PairState(jnp.int32(0))

    def step(self, state, action):
        total = state.total + action[0] + action[1]
        return PairState(total), jnp.float32(-1.0), total >= 6

    def observe(self, state):
        return state.total[None]

    def is_legal(self, state, action):
        del state
        return action[0] != action[1]


ENV = gamify.Env(Countdown())
STEP = jax.jit(ENV.step)
INIT = jax.jit(ENV.init)
KEY = jax.random.key(0)


def play(env_step, state, actions):
    for action in actions:
        state = env_step(state, jnp.int32(action))
    return state


def test_conformance_of_the_tiny_games():
    check_game(Countdown())
    check_game(Countdown(start=2, max_steps=5))
    check_game(Pairs())


def test_termination_and_return():
    state = play(STEP, INIT(KEY), [2, 1])  # 5 -> 2 -> 0
    assert bool(state.terminated) and not bool(state.truncated)
    assert int(state.step_count) == 2
    assert float(state.episode_return) == -2.0
    assert float(state.reward) == -1.0


def test_step_after_the_end_is_a_no_op_paying_zero():
    done = play(STEP, INIT(KEY), [2, 1])
    after = STEP(done, jnp.int32(0))
    assert float(after.reward) == 0.0
    assert int(after.step_count) == int(done.step_count)
    assert float(after.episode_return) == float(done.episode_return)
    assert int(after.game.remaining) == 0
    assert bool(after.terminated)
    assert bool(ENV.legal_action_mask(after).all())


def test_step_limit_truncates_with_the_truncation_reward():
    state = play(STEP, INIT(KEY), [0, 0, 0, 0])  # 5 -> 4 -> 3 -> 2 -> 1: limit 4 reached
    assert bool(state.truncated) and not bool(state.terminated)
    assert float(state.reward) == -1.0 - 1.0  # the move, plus minus the one still needed
    assert float(state.episode_return) == -5.0
    assert float(ENV.time_left(state)) == 0.0


def test_solving_on_the_last_allowed_move_is_termination_not_truncation():
    env = gamify.Env(Countdown(start=4, max_steps=2))
    state = play(jax.jit(env.step), env.init(KEY), [1, 1])
    assert bool(state.terminated) and not bool(state.truncated)
    assert float(state.episode_return) == -2.0


@pytest.mark.parametrize("action", [2, -1, 3, 100])
def test_illegal_action_ends_the_game_unchanged(action):
    env = gamify.Env(Countdown(start=1, max_steps=4))  # only action 0 is legal
    state = env.init(KEY)
    assert not bool(env.is_legal(state, jnp.int32(action)))
    after = jax.jit(env.step)(state, jnp.int32(action))
    assert bool(after.terminated) and not bool(after.truncated)
    assert int(after.game.remaining) == 1
    # default penalty: every remaining move wasted, then the truncation reward
    assert float(after.reward) == -4.0 - 1.0
    assert float(after.episode_return) == float(after.reward)


def test_factored_legality_checks_every_token_range():
    env = gamify.Env(Pairs())
    state = env.init(KEY)
    legal = jax.jit(env.is_legal)
    assert bool(legal(state, jnp.array([0, 3], jnp.int32)))
    for action in ([1, 1], [3, 0], [0, 4], [-1, 2], [2, -1]):
        assert not bool(legal(state, jnp.array(action, jnp.int32))), action
    after = jax.jit(env.step)(state, jnp.array([0, 4], jnp.int32))
    assert bool(after.terminated) and int(after.game.total) == 0


def test_batched_steps_follow_each_element():
    states = jax.vmap(ENV.init)(jax.random.split(KEY, 3))
    states = jax.jit(jax.vmap(ENV.step))(states, jnp.array([2, 0, 5], jnp.int32))
    np.testing.assert_array_equal(states.game.remaining, [2, 4, 5])
    np.testing.assert_array_equal(states.terminated, [False, False, True])  # 5 is out of range
    np.testing.assert_array_equal(
        states.episode_return, [-1.0, -1.0, -4.0 - 5.0]
    )  # illegal: 4 moves + 5 left


def test_observation_is_float32_without_gradient():
    obs = ENV.observe(INIT(KEY))
    assert obs.dtype == jnp.float32 and obs.shape == (1,)
    grad = jax.grad(lambda x: ENV.observe(ENV.init(KEY)._replace(game=CountdownState(x))).sum())(1.0)
    assert float(grad) == 0.0


def test_env_rejects_bad_games():
    with pytest.raises(ValueError, match="max_steps"):
        gamify.Env(Countdown(max_steps=0))
    game = Countdown()
    game.action_space = 3
    with pytest.raises(TypeError, match="action_space"):
        gamify.Env(game)


def test_integer_terminated_flags_become_bool():
    class IntFlag(gamify.Game):
        name = "int_flag"
        action_space = gamify.FlatActions(2)
        max_steps = 3

        def init(self, key):
            return jnp.int32(0)

        def step(self, state, action):
            return state + 1, jnp.float32(-1), (state + 1 == 2).astype(jnp.int32)

        def observe(self, state):
            return state[None]

        def legal_action_mask(self, state):
            return jnp.ones(2, bool)

    env = gamify.Env(IntFlag())
    state = env.step(env.step(env.init(jax.random.PRNGKey(0)), 0), 1)
    assert state.terminated.dtype == jnp.bool_ and bool(state.terminated) and not bool(state.truncated)


def _step_batch_cases(env, key, batch=64):
    """Random batches for step_batch: (name, states, actions), clean, truncating, illegal and mixed."""
    k_init, k_count, k_done, k_act, k_wild = jax.random.split(key, 5)
    states = jax.vmap(env.init)(jax.random.split(k_init, batch))
    if env.factored:
        sizes = jnp.asarray(env.action_space.token_sizes, jnp.int32)
        in_range = jax.random.randint(k_act, (batch, len(env.action_space.token_sizes)), 0, sizes)
        wild = jax.random.randint(k_wild, in_range.shape, -1, sizes + 2)
    else:
        n = env.action_space.num_actions
        in_range = jax.random.randint(k_act, (batch,), 0, n)
        wild = jax.random.randint(k_wild, (batch,), -1, n + 2)
    last = jnp.int32(env.max_steps - 1)
    legal = jax.vmap(env.is_legal)(states, in_range)
    fresh = states._replace(step_count=jnp.zeros(batch, jnp.int32))
    # clean: nothing truncates, and the illegal actions fall on states that already ended
    clean = fresh._replace(terminated=~legal)
    first = jnp.arange(batch) == 0
    one_truncates = clean._replace(step_count=jnp.where(legal & first, last, 0), terminated=~legal)
    one_illegal = clean._replace(terminated=~legal & ~first)
    mixed = states._replace(
        step_count=jax.random.randint(k_count, (batch,), 0, env.max_steps),
        terminated=jax.random.bernoulli(k_done, 0.2, (batch,)),
        truncated=jax.random.bernoulli(k_done, 0.1, (batch,)),
    )
    all_last = fresh._replace(step_count=jnp.full(batch, last))
    return [
        ("clean", clean, in_range),
        ("one_truncates", one_truncates, in_range),
        ("one_illegal", one_illegal, in_range),
        ("mixed", mixed, wild),
        ("all_at_the_limit", all_last, wild),
    ]


@pytest.mark.parametrize(
    "make_game",
    [
        lambda: Countdown(),
        lambda: Pairs(),
        lambda: gamify.registry.load_game("xor_rank", n=3),
        lambda: gamify.registry.load_game("lights_out", size=3),
    ],
    ids=["countdown", "pairs", "xor_rank", "lights_out"],
)
def test_step_batch_matches_vmapped_step_bitwise(make_game):
    env = gamify.Env(make_game())
    reference = jax.jit(jax.vmap(env.step))
    batched = jax.jit(env.step_batch)
    for seed in range(3):
        for name, states, actions in _step_batch_cases(env, jax.random.key(seed)):
            want, got = reference(states, actions), batched(states, actions)
            assert jax.tree.structure(want) == jax.tree.structure(got)
            for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
                assert w.dtype == g.dtype and w.shape == g.shape, name
                np.testing.assert_array_equal(
                    np.asarray(w).view(np.uint8), np.asarray(g).view(np.uint8), err_msg=f"{name}, seed {seed}"
                )


def test_step_batch_skips_rewards_no_live_state_needs():
    calls = []

    class Loud(Countdown):
        def truncation_reward(self, state):
            jax.debug.callback(lambda: calls.append("truncation"))
            return super().truncation_reward(state)

        def illegal_action_reward(self, state, steps_left):
            jax.debug.callback(lambda: calls.append("illegal"))
            return -steps_left.astype(jnp.float32)

    env = gamify.Env(Loud(start=9, max_steps=4))
    step = jax.jit(env.step_batch)
    states = jax.vmap(env.init)(jax.random.split(KEY, 2))
    jax.block_until_ready(step(states, jnp.array([0, 1], jnp.int32)))
    assert calls == []
    ended = states._replace(terminated=jnp.array([True, False]), step_count=jnp.array([3, 0], jnp.int32))
    jax.block_until_ready(
        step(ended, jnp.array([7, 0], jnp.int32))
    )  # the illegal action and the limit hit a dead state
    assert calls == []
    jax.block_until_ready(
        step(states._replace(step_count=jnp.array([3, 0], jnp.int32)), jnp.array([0, 1], jnp.int32))
    )
    assert calls == ["truncation"]
    calls.clear()
    jax.block_until_ready(step(states, jnp.array([0, 7], jnp.int32)))
    assert calls == ["illegal"]

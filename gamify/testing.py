"""Conformance checks that every game's tests run: ``check_game(game)``.

The checker wraps the game in :class:`gamify.Env` and plays it the way search and
self-play will: jitted, vmapped, move after move. Each function under test is jitted
once and called on many values of the same shapes, so a retrace (for instance a state
leaf whose dtype or weak type differs between ``init`` and ``step``, which would also
break a ``lax.scan`` carry) is caught. Results are compared on the host in numpy, so
the checker itself compiles nothing but the functions under test. Failures raise
``AssertionError`` naming the game and the rule it breaks.
"""

from __future__ import annotations

import collections
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gamify.env import Env, EnvState
from gamify.game import FactoredActions, FlatActions, Game
from gamify.types import Array

_BATCH = 3  # states in the vmap check


def check_game(
    game: Game,
    *,
    num_random_steps: int = 64,
    num_random_games: int = 4,
    num_samples: int = 256,
    seed: int = 0,
) -> None:
    """Checks that ``game`` follows the game contract under :class:`gamify.Env`.

    Checked: attributes; ``init/step/observe`` and legality jit without retracing and
    vmap; state, reward, flag, mask and observation types never change; random legal
    play keeps the Env bookkeeping right, meets no state that is not over without a legal
    action, never returns more than ``best_possible_return`` and ends within
    ``max_steps``; replay is bitwise deterministic; a step after the end is a no-op
    paying 0; the step limit truncates and pays ``truncation_reward``; illegal and
    out-of-range actions end the game (terminated, illegal) without changing it;
    ``describe`` returns text; a game that offers ``demonstration`` returns well-shaped
    episodes whose moves solve their start, and still so after its ``vary_episode`` if it
    offers one; a game that offers ``augment`` keeps the shapes and dtypes of training examples.

    Args:
      game: the game to check.
      num_random_steps: the most moves of random legal play; when ``game.max_steps`` is
        no larger, the game must end within them.
      num_random_games: games of random legal play (each from its own initial key), to
        meet dead ends that only some paths lead to.
      num_samples: factored games only: random actions drawn per state to find a legal
        one (a state that is not over and has no legal action among them fails).
      seed: seeds the initial states and the random play.

    Raises:
      AssertionError: naming the game and the rule it breaks.
    """
    _check_attributes(game)
    checker = _Checker(Env(game), num_samples=num_samples, seed=seed)
    state = checker.initial_state()
    actions, final = checker.random_play(state, num_random_steps)
    for index in range(1, num_random_games):
        checker.random_play(checker.init(np.int32(index)), num_random_steps, game_index=index)
    checker.check_determinism(actions, final)
    if final.done:
        checker.check_no_op_after_done(final, actions[-1], "the end of random play")
    checker.check_illegal_actions(state, actions[0])
    checker.check_truncation(state, actions[0])
    checker.check_batch()
    text = game.describe(np.stack(actions))
    checker.require(isinstance(text, str), f"describe() returned {type(text).__name__}, not str")
    if type(game).demonstration is not Game.demonstration:
        checker.check_demonstrations(actions[0])
    if type(game).augment is not Game.augment:
        checker.check_augment(state, actions[0])
    checker.check_traces()


def _check_attributes(game: Game) -> None:
    label = type(game).__name__
    assert isinstance(game, Game), f"{label} is not a gamify.Game"
    assert isinstance(game.name, str) and game.name, f"{label}.name must be a non-empty string"
    assert isinstance(game.description, str), f"{label}.description must be a string"
    space = getattr(game, "action_space", None)
    assert isinstance(space, (FlatActions, FactoredActions)), (
        f"{label}.action_space must be FlatActions or FactoredActions, got {space!r}"
    )
    steps = getattr(game, "max_steps", None)
    assert isinstance(steps, (int, np.integer)) and steps >= 1, f"{label}.max_steps must be an int >= 1"
    bound = game.best_possible_return
    finite = isinstance(bound, numbers.Real) and np.isfinite(bound)
    assert bound is None or finite, (
        f"{label}.best_possible_return must be None or a finite number, got {bound!r}"
    )


class _Checker:
    """The jitted functions under test (each traced once) and the checks that use them."""

    def __init__(self, env: Env, *, num_samples: int, seed: int):
        self.env, self.game = env, env.game
        self.label = f"{type(env.game).__name__} ({env.game.name})"
        self.traces: collections.Counter[str] = collections.Counter()
        short = Env(env.game)
        short.max_steps = 1  # the same game with a step limit of one move
        init_key = lambda s: jax.random.fold_in(jax.random.key(seed), s)  # noqa: E731
        play_key = lambda s: jax.random.fold_in(jax.random.key(seed + 1), s)  # noqa: E731
        self.init = self._jit("init", lambda s: env.init(init_key(s)))
        self.step = self._jit("step", env.step)
        self.observe = self._jit("observe", env.observe)
        self.probe = self._jit("legality", lambda state, s: _probe(env, state, play_key(s), num_samples))
        self.expected_step = self._jit(
            "reference", lambda state, action: _expected_step(env, short, state, action)
        )
        self.play_batch = self._jit(
            "vmap", lambda seeds: _play_batch(env, seeds, init_key, play_key, num_samples)
        )
        self.state_types: list | None = None
        self.obs_type: tuple | None = None

    def _jit(self, name: str, fn: Callable) -> Callable:
        def counted(*args):
            self.traces[name] += 1  # runs only while tracing
            return fn(*args)

        return jax.jit(counted)

    def require(self, condition: Any, message: str) -> None:
        if not bool(condition):
            raise AssertionError(f"{self.label}: {message}")

    def initial_state(self) -> EnvState:
        state = self.init(np.int32(0))
        self.check_state(state, "init")
        self.check_state(self.init(np.int32(1)), "init with another key")
        return state

    def check_state(self, state: EnvState, where: str) -> EnvState:
        """Type and sanity checks of a state; returns its host (numpy) copy."""
        types = _leaf_types(state)
        if self.state_types is None:
            self.state_types = types
        self.require(
            types == self.state_types,
            f"state after {where} changed type (a retrace under jit, a scan carry mismatch):\n"
            + _diff_types(self.state_types, types),
        )
        host = _host(state)
        for field, dtype in (("reward", np.float32), ("terminated", np.bool_), ("truncated", np.bool_)):
            value = getattr(host, field)
            got = f"{value.dtype}{list(value.shape)}"
            self.require(
                value.shape == () and value.dtype == dtype,
                f"{field} after {where} must be a {np.dtype(dtype).name} scalar, got {got}",
            )
        self.require(np.isfinite(host.reward), f"reward after {where} is not finite: {host.reward}")
        self.require(not (host.terminated and host.truncated), f"terminated and truncated both set ({where})")
        obs = np.asarray(self.observe(state))
        if self.obs_type is None:
            self.obs_type = (obs.shape, obs.dtype)
        self.require(
            (obs.shape, obs.dtype) == self.obs_type,
            f"observation after {where} is {obs.dtype}{list(obs.shape)}, was {self.obs_type}",
        )
        self.require(np.all(np.isfinite(obs)), f"observation after {where} has non-finite values")
        return host

    def legal_action(self, state: EnvState, key: int, played: list[np.ndarray]) -> np.ndarray:
        """A random legal action in a state that is not over, reached by ``played``; checks the flat masks."""
        t = len(played)
        where = "init" if t == 0 else f"move {t}"
        probe = _host(self.probe(state, np.int32(key)))
        if not self.env.factored:
            num_actions = self.env.action_space.num_actions
            mask = probe["game_mask"]
            got = f"{mask.dtype}{list(mask.shape)}"
            self.require(
                mask.shape == (num_actions,) and mask.dtype == np.bool_,
                f"legal_action_mask after {where} must be bool[{num_actions}], got {got}",
            )
            self.require(
                np.array_equal(probe["is_legal"], mask), f"Env.is_legal disagrees with the mask ({where})"
            )
        what = (
            "no legal action"
            if not self.env.factored
            else f"no legal action among {len(probe['legal'])} samples"
        )
        moves = f"the moves {[a.tolist() for a in played]}" if played else "init"
        self.require(
            probe["found"],
            f"{what} at step {t} (after {moves}), but the game is not over: end the game there "
            "(terminated) or let max_steps end it",
        )
        return probe["action"]

    def random_play(
        self, state: EnvState, num_steps: int, *, game_index: int = 0
    ) -> tuple[list[np.ndarray], EnvState]:
        """Random legal moves until the end or ``num_steps``; checks every transition.

        ``game_index`` picks the random moves' stream (its keys follow game 0's).
        """
        actions: list[np.ndarray] = []
        before = _host(state)
        length = min(num_steps, self.env.max_steps)
        for t in range(length):
            action = self.legal_action(state, game_index * length + t, actions)
            actions.append(action)
            state = self.step(state, action)
            where = f"move {t + 1} (action {action.tolist()})"
            after = self.check_state(state, where)
            self.require(after.step_count == t + 1, f"step_count is {after.step_count} after {where}")
            self.require(
                after.episode_return == before.episode_return + after.reward,
                f"episode_return is not the sum of rewards after {where}",
            )
            self.require(
                not after.truncated or t + 1 == self.env.max_steps, f"truncated before the limit, {where}"
            )
            self.require(not after.illegal, f"a legal move set illegal, {where}")
            before = after
            if after.done:
                bound = self.game.best_possible_return
                self.require(
                    bound is None or after.episode_return <= np.float32(bound),
                    f"random play returned {after.episode_return:g}, more than best_possible_return {bound}",
                )
                if not self.env.factored:
                    mask = _host(self.probe(state, np.int32(t)))["env_mask"]
                    self.require(mask.all(), "Env.legal_action_mask must be all True once the game is over")
                break
        if num_steps >= self.env.max_steps:
            self.require(before.done, f"random play did not end within max_steps={self.env.max_steps}")
        return actions, state

    def check_determinism(self, actions: list[np.ndarray], final: EnvState) -> None:
        state = self.init(np.int32(0))
        for action in actions:
            state = self.step(state, action)
        self.require(_equal(state, final), "replaying the same key and actions gave a different state")

    def check_no_op_after_done(self, state: EnvState, action: np.ndarray, where: str) -> None:
        after = _host(self.step(state, action))
        self.require(after.reward == 0, f"a step after {where} must pay 0, paid {after.reward}")
        frozen = _host(state)._replace(reward=np.float32(0.0))
        self.require(_equal(after, frozen), f"a step after {where} changed the state")

    def check_illegal_actions(self, state: EnvState, first_action: np.ndarray) -> None:
        """Out-of-range actions, and (flat games) an in-range action the mask forbids."""
        space = self.env.action_space
        if self.env.factored:
            sizes = np.asarray(space.token_sizes, np.int32)
            one_too_big = [
                np.where(np.arange(len(sizes)) == t, sizes, 0).astype(np.int32) for t in range(len(sizes))
            ]
            illegal = [(state, np.full(len(sizes), -1, np.int32)), *((state, a) for a in one_too_big)]
        else:
            illegal = [(state, np.int32(-1)), (state, np.int32(space.num_actions))]
            moved = self.step(state, first_action)
            if not _host(moved).done:
                forbidden = np.flatnonzero(~_host(self.probe(moved, np.int32(0)))["game_mask"])
                illegal += [(moved, np.int32(forbidden[0]))] if forbidden.size else []
        for before, action in illegal:
            where = f"illegal action {action.tolist()}"
            after = self.check_state(self.step(before, action), where)
            self.require(
                after.terminated and after.illegal and not after.truncated,
                f"{where} must set terminated and illegal (not truncated)",
            )
            self.require(
                _equal(after.game, _host(before).game), f"{where} must leave the game state unchanged"
            )
            expected = _host(self.expected_step(before, action))["illegal_reward"]
            self.require(
                _same_float(after.reward, expected), f"{where} paid {after.reward}, expected {expected}"
            )
            self.check_no_op_after_done(self.step(before, action), action, where)

    def check_truncation(self, state: EnvState, action: np.ndarray) -> None:
        """With a step limit of one move, a legal move must end the game; truncation pays extra."""
        ref = _host(self.expected_step(state, action))
        after, reward, terminated = ref["short"], ref["reward"], ref["terminated"]
        if terminated:
            self.require(after.terminated and not after.truncated, "a terminating move was truncated")
            return
        self.require(
            after.truncated and not after.terminated, "reaching the step limit did not set truncated"
        )
        bonus = ref["truncation_reward"]
        self.require(np.isfinite(bonus), f"truncation_reward is not finite: {bonus}")
        self.require(
            _same_float(after.reward, np.float32(reward) + np.float32(bonus)),
            f"a truncated move paid {after.reward}, expected reward {reward} + truncation_reward {bonus}",
        )

    def check_batch(self) -> None:
        seeds = np.arange(100, 100 + _BATCH, dtype=np.int32)
        states, actions, nexts, obs = _host(self.play_batch(seeds))
        for name, tree in (("init", states), ("step", nexts), ("observe", obs)):
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
                where = jax.tree_util.keystr(path)
                self.require(
                    leaf.shape[:1] == (_BATCH,), f"vmapped {name}: leaf {where} lacks the batch axis"
                )
        for i, seed in enumerate(seeds):
            one = self.init(seed)
            self.require(_close(_index(states, i), one), f"vmapped init differs from init for element {i}")
            step_one = self.step(one, actions[i])
            self.require(
                _close(_index(nexts, i), step_one), f"vmapped step differs from step for element {i}"
            )
            self.require(_close(obs[i], self.observe(one)), f"vmapped observe differs for element {i}")

    def check_demonstrations(self, action: np.ndarray, count: int = 4) -> None:
        """Demonstrations vmap, have the right shapes, and their moves solve their start; so do
        they once varied (``vary_episode``), if the game offers that."""
        env = self.env
        vary = type(self.game).vary_episode is not Game.vary_episode
        if vary:
            shapes = jax.eval_shape(env.game.demonstration, jax.random.key(0))
            varied = jax.eval_shape(env.game.vary_episode, jax.random.key(0), *shapes)
            same = jax.tree.structure(varied) == jax.tree.structure(shapes) and all(
                (a.shape, a.dtype) == (b.shape, b.dtype)
                for a, b in zip(jax.tree.leaves(varied), jax.tree.leaves(shapes), strict=True)
            )
            self.require(same, "vary_episode changed an episode's structure, shapes or dtypes")

        def replay(key):
            episodes = [env.game.demonstration(key)]
            if vary:  # played in the same scan as the episode itself (one compilation)
                episodes.append(env.game.vary_episode(jax.random.fold_in(key, 1), *episodes[0]))
            return jax.vmap(play)(*jax.tree.map(lambda *x: jnp.stack(x), *episodes))

        def play(start, actions, length):
            state = env.start_from(start)

            def move(state, inputs):
                t, a = inputs
                played = (t < length) & ~state.done
                legal = env.is_legal(state, a) | ~played  # an illegal move would also "terminate"
                return jax.tree.map(
                    lambda x, y: jnp.where(t < length, x, y), env.step(state, a), state
                ), legal

            steps = jnp.arange(env.max_steps, dtype=jnp.int32)
            final, legal = jax.lax.scan(move, state, (steps, actions))
            return actions, length, final.terminated, legal.all()

        keys = jax.random.split(jax.random.key(0), count)
        actions, lengths, solved, legal = _host(jax.jit(jax.vmap(replay))(keys))  # [count, 1 or 2, ...]
        actions, lengths = actions[:, 0], lengths[:, 0]
        expected = (count, env.max_steps) + np.shape(action)
        self.require(
            actions.shape == expected, f"demonstration actions have shape {actions.shape}, not {expected}"
        )
        self.require(actions.dtype == np.int32, f"demonstration actions must be int32, got {actions.dtype}")
        self.require(
            np.all((lengths >= 1) & (lengths <= env.max_steps)),
            f"demonstration lengths {lengths} outside [1, max_steps]",
        )
        self.require(np.all(legal[:, 0]), "a demonstration plays an illegal move")
        self.require(np.all(solved[:, 0]), "a demonstration's moves do not solve its start (not terminated)")
        if vary:
            self.require(np.all(legal[:, 1]), "vary_episode: a varied demonstration plays an illegal move")
            self.require(
                np.all(solved[:, 1]), "vary_episode: a varied demonstration's moves do not solve its start"
            )

    def check_augment(self, state: EnvState, action: np.ndarray, count: int = 8) -> None:
        """augment vmaps, keeps shapes and dtypes, and keeps a policy target a distribution."""
        space = self.env.action_space
        observation = self.observe(state)
        policy, candidates = jnp.array([0.75, 0.25]), jnp.stack([jnp.atleast_1d(jnp.asarray(action))] * 2)
        example = (observation, policy, candidates)
        batch = jax.tree.map(lambda x: jnp.stack([x] * count), example)
        keys = jax.random.split(jax.random.key(0), count)
        got = _host(jax.jit(jax.vmap(self.game.augment))(keys, *batch))
        for name, x, y in zip(("observation", "policy", "candidates"), got, _host(batch), strict=True):
            before, after = f"{y.dtype}{list(y.shape[1:])}", f"{x.dtype}{list(x.shape[1:])}"
            self.require(before == after, f"augment changed the {name} from {before} to {after}")
        self.require(np.allclose(got[1].sum(-1), 1.0), "augment's policy targets do not sum to 1")
        if isinstance(space, FlatActions):
            inside = (got[2] >= 0) & (got[2] < space.num_actions)
            self.require(np.all(inside), "augment mapped a flat candidate outside the actions")

    def check_traces(self) -> None:
        retraced = {name: n for name, n in self.traces.items() if n > 1}
        self.require(not retraced, f"jitted functions retraced on same-shaped inputs: {retraced}")


def _probe(env: Env, state: EnvState, key: Array, num_samples: int) -> dict[str, Array]:
    """A random legal action, whether one exists, and (flat games) every legality view."""
    if env.factored:
        sizes = env.action_space.token_sizes
        keys = jax.random.split(key, len(sizes))
        tokens = [
            jax.random.randint(k, (num_samples,), 0, size, jnp.int32)
            for k, size in zip(keys, sizes, strict=True)
        ]
        candidates = jnp.stack(tokens, axis=-1)  # [num_samples, num_tokens]
        legal = jax.vmap(env.is_legal, (None, 0))(state, candidates)
        return {"action": candidates[jnp.argmax(legal)], "found": jnp.any(legal), "legal": legal}
    mask = env.game.legal_action_mask(state.game)
    action = jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)
    all_actions = jnp.arange(env.action_space.num_actions, dtype=jnp.int32)
    return {
        "action": action,
        "found": jnp.any(mask),
        "game_mask": mask,
        "env_mask": env.legal_action_mask(state),
        "is_legal": jax.vmap(env.is_legal, (None, 0))(state, all_actions),
    }


def _expected_step(env: Env, short: Env, state: EnvState, action: Array) -> dict[str, Any]:
    """What Env.step should pay, from the game's own functions, and a step under a limit of 1."""
    next_game, reward, terminated = env.game.step(state.game, action)
    steps_left = jnp.int32(env.max_steps) - state.step_count
    return {
        "short": short.step(state, action),
        "reward": jnp.asarray(reward, jnp.float32),
        "terminated": jnp.asarray(terminated),
        "truncation_reward": jnp.asarray(env.game.truncation_reward(next_game), jnp.float32),
        "illegal_reward": jnp.asarray(env.game.illegal_action_reward(state.game, steps_left), jnp.float32),
    }


def _play_batch(env: Env, seeds: Array, init_key: Callable, play_key: Callable, num_samples: int):
    """Vmapped init, a random legal action each, the step and the observation, for a batch of seeds."""
    states = jax.vmap(lambda s: env.init(init_key(s)))(seeds)
    actions = jax.vmap(lambda state, s: _probe(env, state, play_key(s), num_samples)["action"])(states, seeds)
    return states, actions, jax.vmap(env.step)(states, actions), jax.vmap(env.observe)(states)


def _leaf_types(tree: Any) -> list[tuple[str, tuple[int, ...], str, bool]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    types = [
        (
            jax.tree_util.keystr(path),
            tuple(leaf.shape),
            str(leaf.dtype),
            bool(getattr(leaf, "weak_type", False)),
        )
        for path, leaf in leaves
    ]
    return [*types, ("<structure>", (), str(jax.tree.structure(tree)), False)]


def _diff_types(before: list, after: list) -> str:
    def fmt(t):
        return t[2] if t[0] == "<structure>" else f"{t[0]}: {'~' if t[3] else ''}{t[2]}{list(t[1])}"

    lines = [f"  {fmt(a)}  ->  {fmt(b)}" for a, b in zip(before, after, strict=False) if a != b]
    if len(before) != len(after):
        lines.append(f"  {len(before)} leaves -> {len(after)} leaves")
    return "\n".join(lines)


def _numpy(leaf: Any) -> np.ndarray:
    """A leaf as a numpy array; typed PRNG keys become their raw key data."""
    dtype = getattr(leaf, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf)


def _host(tree: Any) -> Any:
    return jax.tree.map(_numpy, tree)


def _equal(a: Any, b: Any) -> bool:
    """Bitwise equality of two pytrees of arrays."""
    a, b = _host(a), _host(b)
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in pairs)


def _close(a: Any, b: Any) -> bool:
    """Equality of two pytrees up to float rounding (vmapped and single kernels may differ)."""
    a, b = _host(a), _host(b)
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if np.issubdtype(x.dtype, np.floating):
            if not np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def _same_float(x: Any, y: Any) -> bool:
    """Equal up to float rounding (the same formula may fuse differently in two programs)."""
    return bool(np.isclose(np.float32(x), np.float32(y), rtol=1e-6, atol=1e-6))


def _index(tree: Any, i: int) -> Any:
    return jax.tree.map(lambda leaf: leaf[i], tree)

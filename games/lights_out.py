"""Lights Out: switch every light off with the fewest presses (a flat-action toy game).

Pressing a cell toggles it and its (up to four) orthogonal neighbours. Over GF(2)
presses commute and pressing a cell twice undoes it, so a solution is a *set* of
cells; this game therefore makes an already-pressed cell illegal, which shrinks the
search without losing any solution. Reward is -1 per press; the game terminates when
every light is off, so the return of a solved game is minus the number of presses.

When the step limit ends the game first, ``truncation_reward`` is minus the fewest
presses that would clear the remaining lights if no cell had been pressed yet
(computed exactly: a particular solution plus the best vector of the null space of
the toggle matrix, which for boards up to 12x12 has at most 2^6 elements). So running
out of moves always scores worse than finishing within the limit. The fewest presses is
exact too and declared as ``best_possible_return``, so training stops once it finds them.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify

Array = jax.Array

MIN_SIZE, MAX_SIZE = 1, 12

# 4x4 default puzzle: the lights left by pressing (0,0) (0,3) (1,1) (2,2) (2,3) (3,1). Six presses
# is the fewest possible (6 of the 16 solutions have six presses; brute force over all 2^16
# press sets in tests/test_games.py proves it). Solvable 4x4 puzzles need at most 7 presses.
DEFAULT_PATTERN_4X4 = (
    (1, 0, 1, 1),
    (0, 1, 0, 0),
    (0, 1, 0, 0),
    (1, 1, 0, 1),
)


class LightsOutState(NamedTuple):
    lights: Array  # bool[n, n], True where the light is on
    pressed: Array  # bool[n, n], True where the cell has been pressed


class LightsOut(gamify.Game[LightsOutState]):
    """n x n Lights Out with a fixed starting pattern; actions are cells ``row * n + col``.

    Args:
      size: board side n, in [1, 12].
      pattern: n x n 0/1 starting lights (nested lists or an array); by default the
        pinned 4x4 puzzle above, or for other sizes the lights left by pressing a
        fixed pseudo-random set of cells. It must be solvable and not all off.
      max_steps: step limit, in [1, n*n] (default n*n: every cell may be pressed once).
    """

    name = "lights_out"
    description = "Lights Out: switch an n x n board off in the fewest presses (flat actions)"

    def __init__(self, size: int = 4, pattern=None, max_steps: int | None = None):
        if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"lights_out: size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
        self.size = n = int(size)
        cells = n * n
        if max_steps is None:
            max_steps = cells
        if not isinstance(max_steps, (int, np.integer)) or not 1 <= max_steps <= cells:
            raise ValueError(f"lights_out: max_steps must be an integer in [1, {cells}], got {max_steps!r}")
        self.action_space = gamify.FlatActions(cells)
        self.max_steps = int(max_steps)
        self._toggles = toggle_matrix(n)  # uint8[n*n, n*n], row a = lights toggled by action a
        self._solver = _Gf2Solver(self._toggles)
        self.pattern = _default_pattern(n, self._toggles) if pattern is None else _check_pattern(pattern, n)
        if not self._solver.solvable(self.pattern.reshape(-1)):
            raise ValueError("lights_out: pattern is not solvable (no set of presses switches it off)")
        self.optimum = self._solver.min_presses(self.pattern.reshape(-1))  # fewest presses, exact
        # Proven bound: presses P and then the fewest presses X that clear what is left together
        # solve the start (P xor X), so |P| + |X| >= optimum, and no game, finished or truncated
        # (-|P| - |X|), returns more than -optimum.
        self.best_possible_return = -float(self.optimum)

    def init(self, key: Array) -> LightsOutState:
        del key  # a fixed puzzle
        return LightsOutState(
            lights=jnp.asarray(self.pattern, jnp.bool_),
            pressed=jnp.zeros((self.size, self.size), jnp.bool_),
        )

    def step(self, state: LightsOutState, action: Array) -> tuple[LightsOutState, Array, Array]:
        n = self.size
        toggles = jnp.asarray(self._toggles, jnp.bool_).reshape(n * n, n, n)
        lights = state.lights ^ toggles[action]
        pressed = state.pressed | (jnp.arange(n * n) == action).reshape(n, n)
        return LightsOutState(lights, pressed), jnp.float32(-1.0), ~jnp.any(lights)

    def observe(self, state: LightsOutState) -> Array:
        """float32[n, n, 2]: channel 0 the lights, channel 1 the pressed cells."""
        return jnp.stack([state.lights, state.pressed], axis=-1).astype(jnp.float32)

    def legal_action_mask(self, state: LightsOutState) -> Array:
        return ~state.pressed.reshape(-1)

    def truncation_reward(self, state: LightsOutState) -> Array:
        """Minus the fewest presses that would clear the remaining lights from scratch."""
        lights = state.lights.reshape(-1).astype(jnp.int32)
        particular = (jnp.asarray(self._solver.particular, jnp.int32) @ lights) % 2  # [n*n]
        solutions = particular[None, :] ^ jnp.asarray(self._solver.null_space, jnp.int32)  # [2^k, n*n]
        return -jnp.min(jnp.sum(solutions, axis=1)).astype(jnp.float32)

    def describe(self, actions) -> str:
        """The start pattern beside the board of press numbers (1 = first press)."""
        n = self.size
        order = np.zeros(n * n, np.int64)
        lights = self.pattern.reshape(-1).copy()
        for i, action in enumerate(np.asarray(actions, np.int64).reshape(-1)):
            order[action] = i + 1
            lights ^= self._toggles[action]
        width = max(2, len(str(len(order))))
        lines = [f"{'start'.ljust(2 * n)}   presses"]
        for r in range(n):
            start = " ".join("#" if x else "." for x in self.pattern[r])
            presses = " ".join(
                str(p).rjust(width) if p else ".".rjust(width) for p in order[r * n : r * n + n]
            )
            lines.append(f"{start}    {presses}")
        solved = "solved" if not lights.any() else f"{int(lights.sum())} lights still on"
        lines.append(f"{int((order > 0).sum())} presses ({solved}; fewest possible: {self.optimum})")
        return "\n".join(lines)


def toggle_matrix(n: int) -> np.ndarray:
    """uint8[n*n, n*n]: row ``r*n+c`` marks the cells toggled by pressing (r, c)."""
    toggles = np.zeros((n * n, n, n), np.uint8)
    for r, c in itertools.product(range(n), range(n)):
        for dr, dc in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= r + dr < n and 0 <= c + dc < n:
                toggles[r * n + c, r + dr, c + dc] = 1
    return toggles.reshape(n * n, n * n)


class _Gf2Solver:
    """Solves ``x @ A = b`` over GF(2) for a square 0/1 matrix A (here symmetric)."""

    def __init__(self, matrix: np.ndarray):
        a = matrix.T.astype(np.uint8) % 2  # solve A^T x = b, i.e. x @ A = b
        size = a.shape[0]
        ops = np.eye(size, dtype=np.uint8)  # row operations applied so far: ops @ a_original = a
        pivots: list[int] = []
        for col in range(size):
            rows = [r for r in range(len(pivots), size) if a[r, col]]
            if not rows:
                continue
            row, top = rows[0], len(pivots)
            a[[top, row]], ops[[top, row]] = a[[row, top]], ops[[row, top]]
            others = (a[:, col] == 1) & (np.arange(size) != top)
            a[others] ^= a[top]
            ops[others] ^= ops[top]
            pivots.append(col)
        self._ops, self._rank = ops, len(pivots)
        # particular solution: free variables 0, pivot variable of row i = (ops @ b)[i]
        self.particular = np.zeros((size, size), np.uint8)  # x = particular @ b (mod 2)
        self.particular[pivots] = ops[: len(pivots)]
        free = [c for c in range(size) if c not in pivots]
        basis = np.zeros((len(free), size), np.uint8)
        for k, f in enumerate(free):
            basis[k, f] = 1
            basis[k, pivots] = a[: len(pivots), f]
        combos = np.array(list(itertools.product((0, 1), repeat=len(free))), np.uint8).reshape(
            2 ** len(free), len(free)
        )
        self.null_space = (combos.astype(np.int64) @ basis % 2).astype(np.uint8)  # [2^k, size], all of it

    def solvable(self, b: np.ndarray) -> bool:
        return not ((self._ops[self._rank :].astype(np.int64) @ b) % 2).any()

    def min_presses(self, b: np.ndarray) -> int:
        x = (self.particular.astype(np.int64) @ b) % 2
        return int(np.min(np.sum(x[None, :] ^ self.null_space, axis=1)))


def _check_pattern(pattern, n: int) -> np.ndarray:
    array = np.asarray(pattern)
    if array.shape != (n, n):
        raise ValueError(f"lights_out: pattern must have shape ({n}, {n}), got {array.shape}")
    if array.dtype == object or not np.isin(array, (0, 1)).all():
        raise ValueError("lights_out: pattern entries must be 0 or 1")
    array = array.astype(np.uint8)
    if not array.any():
        raise ValueError("lights_out: pattern has no light on (nothing to solve)")
    return array


def _default_pattern(n: int, toggles: np.ndarray) -> np.ndarray:
    if n == 4:
        return np.array(DEFAULT_PATTERN_4X4, np.uint8)
    rng = np.random.default_rng(n)
    while True:  # lights left by a random press set are solvable by construction
        presses = rng.random(n * n) < 0.4
        lights = (presses.astype(np.int64) @ toggles % 2).astype(np.uint8)
        if lights.any():
            return lights.reshape(n, n)

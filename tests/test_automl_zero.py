"""AutoML-Zero's linear-regression task: the interpreter against a plain numpy one, dead code, the game."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gamify
from gamify.games import automl_zero as az
from gamify.testing import check_game


@pytest.fixture(scope="module")
def data():
    return az.tasks(10, seed=3)  # the game's shape: every test here shares one compilation


def _numpy_fitness(program: az.Program, data: az.Tasks) -> float:
    """The evaluation written out plainly (float64, loops), for parity."""

    def run(component, memory):
        for op, a, b, out, c in component:
            x, y = memory[a], memory[b]
            name = az.OPS[op]
            if name == "set":
                value = np.full(az.FEATURES, az.CONSTANTS[c])
            elif name == "dot":
                value = np.full(az.FEATURES, x @ y)
            elif name == "sub":
                value = x - y
            elif name == "add":
                value = x + y
            else:
                value = x * y
            memory[out] = value
        return memory

    fitness = []
    for t in range(data.train_x.shape[0]):
        memory = run(program.setup, np.zeros((az.SCRATCH + 1, az.FEATURES)))
        for x, y in zip(np.asarray(data.train_x[t]), np.asarray(data.train_y[t]), strict=True):
            memory[az.INPUT], memory[az.LABEL] = x, 0.0
            memory = run(program.predict, memory)
            memory[az.LABEL] = y
            memory = run(program.learn, memory)
        errors = []
        for x, y in zip(np.asarray(data.valid_x[t]), np.asarray(data.valid_y[t]), strict=True):
            memory[az.INPUT], memory[az.LABEL] = x, 0.0
            memory = run(program.predict, memory)
            errors.append(memory[az.PREDICTION, 0] - y)
        rmse = math.sqrt(np.mean(np.square(errors)))
        fitness.append(1 - 2 / math.pi * math.atan(rmse) if math.isfinite(rmse) else 0.0)
    return float(np.mean(fitness))


def test_linear_regression_by_gradient_descent_succeeds_and_a_tiny_rate_does_not():
    search, unseen = az.tasks(10, seed=0), az.tasks(10, seed=1)
    slow = dataclasses.replace(az.LINEAR_REGRESSION, setup=az.parse([[("set", "s2", 0.001)], [], []]).setup)
    empty = az.Program((), (), ())
    fitness = az.evaluate([az.LINEAR_REGRESSION, slow, empty], search)
    assert fitness[0] >= az.SUCCESS and az.evaluate([az.LINEAR_REGRESSION], unseen)[0] >= az.SUCCESS
    assert fitness[1] < 0.9 and fitness[2] < fitness[1], (
        "a rate of 0.001 barely learns; no program learns nothing"
    )


def test_the_interpreter_matches_a_plain_numpy_one(data):
    rng = np.random.default_rng(0)
    programs = [az.LINEAR_REGRESSION, az.random_program(rng)] + [
        az.mutate(rng, az.LINEAR_REGRESSION) for _ in range(3)
    ]
    jitted = az.evaluate(programs, data)
    expected = [_numpy_fitness(p, data) for p in programs]
    np.testing.assert_allclose(jitted, expected, rtol=1e-4, atol=1e-5)


def test_dead_code_is_dropped_and_changes_nothing(data):
    padded = az.parse(
        [
            [("set", "s3", 1.0), ("set", "s2", 0.22), ("dot", "s1", "v2", "v2")],
            [("dot", "s1", "v1", "v0"), ("scale", "v2", "s0", "v0")],
            [("sub", "s3", "s0", "s1"), ("mul", "s3", "s2", "s3"), ("scale", "v2", "s3", "v0")]
            + [("add", "v1", "v2", "v1"), ("set", "s3", 0.47)],
        ]
    )
    assert padded.key() == az.LINEAR_REGRESSION.key() and padded.live() == az.LINEAR_REGRESSION.live()
    assert len(padded.live().setup) == 1 and len(padded.live().learn) == 4
    rng = np.random.default_rng(1)
    programs = [az.random_program(rng) for _ in range(6)] + [
        az.mutate(rng, az.LINEAR_REGRESSION) for _ in range(6)
    ]
    lived = [p.live() for p in programs]
    np.testing.assert_allclose(az.evaluate(programs, data), az.evaluate(lived, data), rtol=1e-6)
    assert sum(len(p.setup) + len(p.predict) + len(p.learn) for p in lived) < 20 * len(programs)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_mutations_keep_programs_valid_and_within_size(seed):
    rng = np.random.default_rng(seed)
    program = az.random_program(rng)
    for _ in range(30):
        assert program.valid()
        program = az.mutate(rng, program)


def test_the_game_conforms_and_plays_a_program_to_its_fitness():
    game = az.AutoMLZero()
    check_game(game, num_random_games=2, num_random_steps=24)
    moves = game.encode(az.LINEAR_REGRESSION)
    assert game.rule(moves) == az.LINEAR_REGRESSION.live()
    env = gamify.Env(game)
    step = jax.jit(env.step)
    state, total = env.init(jax.random.PRNGKey(0)), 0.0
    for action in moves:
        assert bool(env.legal_action_mask(state)[action])
        state = step(state, jnp.int32(action))
        total += float(state.reward)
    assert bool(state.terminated)
    assert total == pytest.approx(float(game.score_programs([az.LINEAR_REGRESSION])[0]))


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="search_tasks must be an integer >= 1"):
        az.AutoMLZero(search_tasks=0)
    with pytest.raises(ValueError, match="unknown operation 'div'"):
        az.parse([[("div", "s1", "s2", "s3")], [], []])
    with pytest.raises(ValueError, match="operand types"):
        az.parse([[("dot", "s1", "s2", "s3")], [], []])


def test_evolution_counts_distinct_programs_and_stops_on_success():
    game = az.AutoMLZero()
    result = az.regularized_evolution(game, budget=300, population=64, batch=64, seed=0)
    assert result.programs == len(game.table) and result.programs <= 300 + 64
    assert result.fitness == max(value for value, _ in game.table.values())
    assert result.solved_at is None or game.score_programs([result.best])[0] >= az.SUCCESS

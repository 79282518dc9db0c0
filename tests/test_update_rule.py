"""The update-rule game: the reference optimizers as programs, the interpreter, the scorer, the game."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gamify
from gamify.games import update_rule as ur
from gamify.testing import check_game

STEPS = 2  # training steps per task in the tests' scorer (shared with the CLI test's): compiling dominates


@pytest.fixture(scope="module")
def game():
    return ur.UpdateRule(length=6, steps=STEPS)


def _bello(sign_of_m_term):
    """PowerSign / AddSign as Bello et al. (2017) write them, with m the EMA of g at 0.9."""

    def make(learning_rate):
        def init(params):
            return jnp.zeros_like(params)

        def update(g, m, params=None):
            m = 0.9 * m + 0.1 * g
            return -learning_rate * sign_of_m_term(jnp.sign(g) * jnp.sign(m)) * g, m

        return optax.GradientTransformation(init, update)

    return make


REFERENCES = {
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "rmsprop": lambda lr: optax.rmsprop(lr),
    "adam": lambda lr: optax.adam(lr),
    "signsgd": lambda lr: optax.sign_sgd(lr),
    "lion": lambda lr: optax.lion(lr, weight_decay=0.0),
    "powersign": _bello(jnp.exp),
    "addsign": _bello(lambda x: 1.0 + x),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_each_reference_optimizer_is_a_program_that_reproduces_its_update(name):
    assert set(REFERENCES) == set(ur.REFERENCE_RULES)
    ours, theirs = ur.to_optax(ur.REFERENCE_RULES[name], 0.01), REFERENCES[name](0.01)
    params = jax.random.normal(jax.random.PRNGKey(0), (50,))
    state_ours, state_theirs = ours.init(params), theirs.init(params)
    for step in range(6):
        g = jax.random.normal(jax.random.PRNGKey(step + 1), (50,)) * (1 + step)
        d_ours, state_ours = ours.update(g, state_ours, params)
        d_theirs, state_theirs = theirs.update(g, state_theirs, params)
        np.testing.assert_allclose(d_ours, d_theirs, rtol=2e-5, atol=1e-7, err_msg=f"{name}, step {step}")
        params = params + d_ours


def test_formulas_and_canonical_keys():
    adam = ur.REFERENCE_RULES["adam"]
    assert adam.formula() == "m / (sqrt(v) + eps)"
    assert ur.REFERENCE_RULES["sgd"].formula() == "g"
    swapped = ur.parse([("sqrt", "v"), ("add", "eps", 10), ("div", "m", 11)])
    dead = ur.parse([("sign", "g"), ("sqrt", "v"), ("add", 11, "eps"), ("div", "m", 12)])
    assert swapped.key() == dead.key() == adam.key()
    assert ur.parse([("div", "v", "m")]).key() != ur.parse([("div", "m", "v")]).key()
    with pytest.raises(ValueError, match="unknown operation"):
        ur.parse([("tanh", "g")])
    with pytest.raises(ValueError, match="unknown register"):
        ur.parse([("sign", "x")])
    with pytest.raises(ValueError, match="takes 2 argument"):
        ur.parse([("add", "g")])


def _random_program(seed: int, game) -> ur.Program:
    rng = np.random.default_rng(seed)
    state, moves = game.init(None), []
    while True:
        mask = np.array(game.legal_action_mask(state))
        if state.length > 0 and rng.random() < 0.3:
            mask[: game.return_base] = False  # end early sometimes
        action = int(rng.choice(np.flatnonzero(mask)))
        moves.append(action)
        if action >= game.return_base:
            return game.rule(moves)
        state = ur.RuleState(
            state.code.at[state.length].set(game._instruction(jnp.int32(action))), state.length + 1
        )


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6))
def test_keys_ignore_the_order_of_commutative_arguments(seed):
    game = ur.UpdateRule.__new__(ur.UpdateRule)  # the move arithmetic only: no scorer
    game.length, game.registers = 6, ur.NUM_INPUTS + 6
    r = game.registers
    game.unary_actions, game.binary_actions = len(ur.UNARY) * r, len(ur.BINARY) * r * r
    game.return_base = game.unary_actions + game.binary_actions
    program = _random_program(seed, game)
    flipped = ur.Program(
        tuple((op, b, a) if ur._OPS[op][3] else (op, a, b) for op, a, b in program.code), program.out
    )
    assert flipped.key() == program.key()
    assert game.rule(game.encode(program)) == ur.Program(
        tuple((op, min(a, b), max(a, b)) if ur._OPS[op][3] else (op, a, b) for op, a, b in program.code),
        program.out,
    )


def test_the_interpreter_agrees_jitted_and_vmapped(game):
    programs = [_random_program(seed, game) for seed in range(16)]
    code = jnp.asarray(np.stack([p.padded(game.length) for p in programs]))
    out = jnp.asarray([p.out for p in programs], jnp.int32)
    w = jax.random.normal(jax.random.PRNGKey(0), (32,))
    g = jax.random.normal(jax.random.PRNGKey(1), (32,))
    _, inputs = ur.registers(ur.zero_moments(w), g, w)
    eager = np.stack([np.asarray(ur.interpret(code[i], out[i], inputs)) for i in range(len(programs))])
    jitted = np.stack(
        [np.asarray(jax.jit(ur.interpret)(code[i], out[i], inputs)) for i in range(len(programs))]
    )
    batched = np.asarray(jax.jit(jax.vmap(ur.interpret, in_axes=(0, 0, None)))(code, out, inputs))
    np.testing.assert_array_equal(np.isfinite(eager), np.isfinite(batched))
    finite = np.isfinite(eager)
    np.testing.assert_allclose(jitted[finite], eager[finite], rtol=1e-6)
    np.testing.assert_allclose(batched[finite], eager[finite], rtol=1e-6)


def test_scores_rank_rules_and_failures_score_as_failures(game):
    blow_up = ur.parse([("abs", "g"), ("exp", 10), ("exp", 11), ("exp", 12)])  # steps of e^15 and up
    zero_over = ur.parse([("sub", "g", "g"), ("div", "g", 10)])
    rules = [ur.REFERENCE_RULES["adam"], ur.REFERENCE_RULES["momentum"], blow_up, zero_over]
    scores = game.score_programs(rules)
    assert np.all(np.isfinite(scores))
    assert scores[0] > 0 and scores[1] > 0, "Adam and momentum lower the losses"
    assert scores[2] < 0, "steps of e^15 make things worse than not moving"
    assert scores[3] == -ur.FAILED, "a rule whose losses become non-finite fails on every task"
    scored = game.scored
    again = game.score_programs([ur.parse([("sqrt", "v"), ("add", "eps", 10), ("div", "m", 11)])])
    assert game.scored == scored, "the same rule written otherwise comes from the table"
    assert again[0] == scores[0]


def test_the_game_plays_a_reference_rule_to_its_score(game):
    env = gamify.Env(game)
    step = jax.jit(env.step)
    state = env.init(jax.random.PRNGKey(0))
    total = 0.0
    for action in game.encode(ur.REFERENCE_RULES["addsign"]):
        assert bool(env.legal_action_mask(state)[action])
        state = step(state, jnp.int32(action))
        total += float(state.reward)
    assert bool(state.terminated)
    assert total == pytest.approx(float(game.score_programs([ur.REFERENCE_RULES["addsign"]])[0]))


def test_the_game_conforms(game, monkeypatch):
    def touched(*args, **kwargs):
        raise AssertionError("the held-out suite was used by the game")

    monkeypatch.setattr(ur, "heldout_suite", touched)
    check_game(game, num_random_games=2, num_random_steps=16)


def test_the_suites_do_not_overlap():
    training, heldout = ur.training_suite(), ur.heldout_suite()
    assert not {k.name for k in training.kinds} & {k.name for k in heldout.kinds}


def test_loss_curves_end_where_the_scorer_does(game):
    programs = [ur.REFERENCE_RULES[name] for name in ("adam", "momentum", "sgd")]
    details = game.details(programs)
    code = np.stack([p.padded(game.length) for p in programs])
    out = np.array([p.out for p in programs], np.int32)
    rates = np.array([ur.LEARNING_RATES[r] for r in details.rate], np.float32)
    curves = ur.loss_curves(game.suite, code, out, rates, STEPS)
    assert curves.shape == (3, 8, STEPS) and np.all(np.isfinite(curves))
    np.testing.assert_allclose(np.minimum(curves[:, :, -1], ur.FAILED), details.tasks, rtol=1e-4, atol=1e-5)


def test_digits_are_real_data_a_fresh_subset_per_instance(monkeypatch):
    kind = ur.digits(samples=16)
    (w0, (x, y)), (w1, (x1, _)) = kind.make(jax.random.PRNGKey(0)), kind.make(jax.random.PRNGKey(1))
    assert x.shape == (16, 64) and w0.shape == (64 * 10 + 10,)
    assert float(x.min()) >= 0 and float(x.max()) <= 1 and set(np.asarray(y).tolist()) <= set(range(10))
    assert not np.array_equal(np.asarray(x), np.asarray(x1)) and not np.array_equal(w0, w1)
    loss, grad = jax.value_and_grad(kind.loss)(w0, (x, y))
    assert np.isfinite(float(loss)) and float(loss) > 0 and bool(jnp.all(jnp.isfinite(grad)))
    for samples in (0, 1798):
        with pytest.raises(ValueError, match="digits has 1797 samples"):
            ur.digits(samples=samples)
    monkeypatch.setitem(__import__("sys").modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"gamify\[digits\]"):
        ur.digits()


def test_bad_parameters_are_one_clear_error():
    with pytest.raises(ValueError, match="length must be an integer >= 1"):
        ur.UpdateRule(length=0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6))
def test_random_programs_and_their_mutations_stay_valid(seed):
    rng = np.random.default_rng(seed)
    program = ur.random_program(rng, 6)
    for _ in range(40):
        assert program.valid() and len(program.code) <= 6
        assert program.out == (ur.NUM_INPUTS + len(program.code) - 1 if program.code else program.out)
        program = ur.mutate(rng, program, 6)


@pytest.mark.parametrize("search", ["random", "evolution"])
def test_baselines_count_distinct_programs_and_keep_the_best(game, search):
    if search == "random":
        result = ur.random_search(game, 20, batch=8, seed=1)
    else:
        result = ur.regularized_evolution(game, 20, population=8, tournament=3, batch=8, seed=1)
    assert len(result.curve) == 20 and np.all(np.diff(result.curve) >= 0)
    assert result.score == result.curve[-1] == max(score for score, _ in list(game.table.values())[:20])
    assert game.score_programs([result.best])[0] == result.score


def test_discover_writes_verified_rules_and_a_ready_optax_transformation(tmp_path, capsys):
    from gamify.cli.main import main

    out = tmp_path / "found"
    argv = [
        "discover",
        "optimizer",
        "--search",
        "random",
        "--programs",
        "16",
        "--steps",
        "2",
    ]  # the default length: the same shapes, so the same compilations, as the regenerate smoke's
    assert main([*argv, "--top", "3", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    record = json.loads((out / "rules.json").read_text())
    assert record["programs_scored"] == 16 and len(record["found"]) == 3
    assert [r["rule"] for r in record["references"]] == list(ur.REFERENCE_RULES)
    best = record["found"][0]
    assert best["training_score"] >= max(r["training_score"] for r in record["found"])
    assert best["heldout_score"] is not None and best["formula"] in printed
    namespace = {}
    exec((out / "best_rule.py").read_text(), namespace)
    assert namespace["RULE"].formula() == best["formula"]
    optimizer = namespace["optimizer"]()
    params = jnp.ones(4)
    updates, _ = optimizer.update(jnp.full(4, 0.5), optimizer.init(params), params)
    assert updates.shape == (4,) and bool(jnp.all(jnp.isfinite(updates)))

    assert main(["discover", "optimizer", "--length", "13", "--out", str(tmp_path / "x")]) == 2
    (tmp_path / "file").write_text("")
    assert main(["discover", "optimizer", "--out", str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_bench_optimizers_reads_found_rules_and_refuses_bad_input(tmp_path, capsys):
    from gamify.cli.bench.optimizers import _read_rules
    from gamify.cli.common import UsageError
    from gamify.cli.main import main

    rules = tmp_path / "run" / "rules.json"
    rules.parent.mkdir()
    found = [{"instructions": ur.REFERENCE_RULES[name].instructions()} for name in ("lion", "adam", "sgd")]
    rules.write_text(json.dumps({"search": "evolution", "found": found}))
    read = _read_rules([rules], 2, ur)
    assert [name for name, _ in read] == ["run#1 (evolution)", "run#2 (evolution)"]
    assert [p.key() for _, p in read] == [ur.REFERENCE_RULES[n].key() for n in ("lion", "adam")]
    (tmp_path / "other.json").write_text('{"found": "x"}')
    (tmp_path / "empty.json").write_text('{"found": []}')
    for bad, message in (
        (tmp_path / "none.json", "No such file"),
        (tmp_path / "other.json", "not a rules.json"),
        (tmp_path / "empty.json", "holds no found rule"),
    ):
        with pytest.raises(UsageError, match=message):
            _read_rules([bad], 1, ur)
    out = ["--out", str(tmp_path / "y")]
    assert main(["bench", "optimizers", "--seeds", "1,x", *out]) == 2
    assert main(["bench", "optimizers", "--search", "hill", *out]) == 2
    assert main(["bench", "optimizers", "--rules", str(tmp_path / "other.json"), *out]) == 2
    assert "not a rules.json" in capsys.readouterr().err and not (tmp_path / "y").exists()


def test_bench_optimizers_plots_one_panel_per_task_kind(tmp_path):
    from gamify.cli.bench.optimizers import _plot

    suites = [ur.heldout_suite(), ur.training_suite()]
    rng = np.random.default_rng(0)
    curves = {s.name: rng.normal(size=(3, len(s.kinds) * s.instances, 5)).astype(np.float32) for s in suites}
    curves["held-out"][1, :, 2:] = np.inf  # a rule that blew up: left out of the panel, not an error
    _plot(tmp_path / "curves.png", ["found", "sgd", "adam"], 1, suites, curves)
    assert (tmp_path / "curves.png").stat().st_size > 10_000 and not list(tmp_path.glob(".*"))

"""Learn a learning algorithm from scratch: AutoML-Zero's linear-regression task as a game.

AutoML-Zero (Real, Liang, So and Le, 2020) searches for whole learning algorithms written as
three functions over a small typed memory: ``Setup`` runs once, ``Predict`` runs on every
example (the label hidden), ``Learn`` runs after it on every training example (the label
shown). Its demo (google-research/automl_zero, ``run_demo.sh`` and README) asks for linear
regression: 10 tasks y = u·x with 4 features, 100 training examples seen once each, then 100
validation examples; fitness 1 − (2/π)·atan(RMSE), averaged over the tasks; success at
0.9999. Programs have at most 10 / 2 / 8 instructions over scalars s0–s3 and vectors v0–v2
and the operations below; regularized evolution (population 1,000, tournaments of 10)
"typically discovers programs similar to linear regression by gradient descent in under 5
minutes using 1 CPU", while "only ~1 in 10⁸ algorithms in the space can solve the tasks".

Memory (one row per address, a scalar stored as a constant row so every operation is
elementwise on rows of ``FEATURES`` floats):

  s0  the label (0 while Predict runs)        v0  the features
  s1  the prediction (read after Predict)     v1, v2
  s2, s3

Operations, with AutoML-Zero's names: ``set`` s = c (SCALAR_CONST_SET_OP; c from the E6 series,
0.001 to 1), ``dot`` s = v·v (VECTOR_INNER_PRODUCT_OP), ``sub`` s = s − s (SCALAR_DIFF_OP),
``mul`` s = s·s (SCALAR_PRODUCT_OP), ``scale`` v = s·v (SCALAR_VECTOR_PRODUCT_OP), ``add``
v = v + v (VECTOR_SUM_OP). The interpreter is the update-rule game's: ``lax.switch`` over op
codes in a ``fori_loop``, vmapped over programs and tasks, here with addressed memory instead of
one new register per instruction, so that weights persist from example to example.

The game writes Setup, then Predict, then Learn, one instruction per move, with a move that
closes the current function; its reward at the end is the program's mean fitness on the
search tasks. The held-out tasks (:func:`tasks` with another seed, 100 of them) are only for
the verdict after a search.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import gamify

Array = jax.Array

_ERROR_PREFIX = "automl_zero: "

FEATURES = 4
SCALARS = ("s0", "s1", "s2", "s3")
VECTORS = ("v0", "v1", "v2")
ADDRESSES = (*SCALARS, *VECTORS)
LABEL, PREDICTION, INPUT = 0, 1, len(SCALARS)  # s0, s1, v0
SCRATCH = len(ADDRESSES)  # a row padding instructions write and nothing reads
# the E6 series, 0.001 to 1: six log-spaced values per decade (AutoML-Zero draws them at random)
CONSTANTS = tuple(float(f"{m}e{e}") for e in (-3, -2, -1) for m in (1.0, 1.5, 2.2, 3.3, 4.7, 6.8)) + (1.0,)
SIZES = (10, 2, 8)  # the most instructions in Setup, Predict, Learn (AutoML-Zero's demo)
COMPONENTS = ("setup", "predict", "learn")
SUCCESS = 0.9999

# name, argument types, result type, commutative, formula template
_OPS = (
    ("set", "", "s", False, "{c}"),
    ("dot", "vv", "s", True, "dot({a}, {b})"),
    ("sub", "ss", "s", False, "{a} - {b}"),
    ("mul", "ss", "s", True, "{a} * {b}"),
    ("scale", "sv", "v", False, "{a} * {b}"),
    ("add", "vv", "v", True, "{a} + {b}"),
)
OPS = tuple(op[0] for op in _OPS)
_BRANCHES = (
    lambda x, y, c: jnp.full_like(x, c),
    lambda x, y, c: jnp.full_like(x, jnp.sum(x * y)),
    lambda x, y, c: x - y,
    lambda x, y, c: x * y,  # a scalar row times a scalar or vector row
    lambda x, y, c: x * y,
    lambda x, y, c: x + y,
)


def _typed(kind: str) -> tuple[int, ...]:
    return tuple(range(len(SCALARS))) if kind == "s" else tuple(range(len(SCALARS), len(ADDRESSES)))


def _instruction_table() -> list[tuple[int, int, int, int, int]]:
    """Every distinct instruction (op, a, b, out, constant index): the game's flat moves.
    Commutative arguments in one order; no s − s (a constant AutoML-Zero's set covers)."""
    rows = []
    for op, (name, args, result, commutative, _) in enumerate(_OPS):
        for out in _typed(result):
            if not args:
                rows += [(op, 0, 0, out, c) for c in range(len(CONSTANTS))]
                continue
            for a in _typed(args[0]):
                for b in _typed(args[1]):
                    if (commutative and b < a) or (name == "sub" and a == b):
                        continue
                    rows.append((op, a, b, out, 0))
    return rows


INSTRUCTIONS = np.array(_instruction_table(), np.int32)  # [moves, 5]
_PAD = (0, 0, 0, SCRATCH, 0)  # "set scratch = c": an instruction slot left empty


# ---------------------------------------------------------------------- programs


@dataclasses.dataclass(frozen=True)
class Program:
    """Setup, Predict and Learn: each a tuple of instructions (op, a, b, out, constant index)."""

    setup: tuple[tuple[int, int, int, int, int], ...]
    predict: tuple[tuple[int, int, int, int, int], ...]
    learn: tuple[tuple[int, int, int, int, int], ...]

    @property
    def components(self):
        return (self.setup, self.predict, self.learn)

    def padded(self) -> np.ndarray:
        """int32[3, max(SIZES), 5], empty slots as instructions nothing reads."""
        code = np.tile(np.array(_PAD, np.int32), (3, max(SIZES), 1))
        for k, component in enumerate(self.components):
            if component:
                code[k, : len(component)] = component
        return code

    def key(self) -> str:
        """Equal for programs that compute the same: dead instructions dropped (:meth:`live`),
        commutative arguments in one order."""
        return repr(self.live().components)

    def live(self) -> Program:
        """The program without the instructions whose result is never read (before it is
        overwritten) on the way to a prediction; it behaves exactly as this one.

        Liveness runs backwards to a fixpoint over the loops of the evaluation: Setup, then
        Predict and Learn per training example, then Predict per validation example; s0 and v0
        are overwritten before each Predict, s0 again before Learn, and s1 is read after each
        validation Predict."""
        fresh = {LABEL, INPUT}  # written by the evaluation before every Predict

        def live_in(component, live_out):
            live = set(live_out)
            for op, a, b, out, _ in reversed(component):
                if out in live:
                    live.discard(out)
                    live |= {a, b} if _OPS[op][1] else set()
            return live

        predict_in, learn_in = set(), set()
        while True:
            learn_out = predict_in - fresh
            predict_out = (learn_in - {LABEL}) | ({PREDICTION} | predict_in) - fresh
            new = live_in(self.predict, predict_out), live_in(self.learn, learn_out)
            if new == (predict_in, learn_in):
                break
            predict_in, learn_in = new
        outs = (predict_in - fresh, predict_out, learn_out)
        kept = []
        for component, live_out in zip(self.components, outs, strict=True):
            keep, live = [], set(live_out)
            for row in reversed(component):
                op, a, b, out, _ = row
                if out in live:
                    keep.append(_canonical(row))
                    live.discard(out)
                    live |= {a, b} if _OPS[op][1] else set()
            kept.append(tuple(reversed(keep)))
        return Program(*kept)

    def valid(self) -> bool:
        for component, size in zip(self.components, SIZES, strict=True):
            if len(component) > size:
                return False
            for op, a, b, out, c in component:
                if not 0 <= op < len(OPS) or not 0 <= c < len(CONSTANTS):
                    return False
                _, args, result, _, _ = _OPS[op]
                if out not in _typed(result) or any(
                    x not in _typed(t) for x, t in zip((a, b), args, strict=False)
                ):
                    return False
        return True

    def text(self) -> str:
        """The program as AutoML-Zero prints its algorithms."""
        lines = []
        for name, component in zip(COMPONENTS, self.components, strict=True):
            lines.append(f"def {name.capitalize()}():")
            for op, a, b, out, c in component:
                template = _OPS[op][4]
                value = template.format(a=ADDRESSES[a], b=ADDRESSES[b], c=f"{CONSTANTS[c]:g}")
                lines.append(f"  {ADDRESSES[out]} = {value}")
            if not component:
                lines.append("  pass")
        return "\n".join(lines)


def parse(text: Sequence[Sequence[str]]) -> Program:
    """A program from three lists of instructions ``(op, out, a[, b])`` or ``("set", out, c)``
    with address names, e.g. ``[[("set", "s2", 0.2)], [("dot", "s1", "v0", "v1")], [...]]``."""
    if len(text) != 3:
        raise ValueError(f"{_ERROR_PREFIX}a program is Setup, Predict and Learn: 3 lists, got {len(text)}")
    components = []
    for rows in text:
        component = []
        for row in rows:
            name, out, *args = row
            if name not in OPS:
                raise ValueError(f"{_ERROR_PREFIX}unknown operation {name!r}: one of {', '.join(OPS)}")
            op = OPS.index(name)
            try:
                if name == "set":
                    near = [
                        k for k, c in enumerate(CONSTANTS) if math.isclose(c, float(args[0]), rel_tol=1e-6)
                    ]
                    if not near:
                        raise ValueError(f"{args[0]} is not one of the constants {CONSTANTS}")
                    component.append((op, 0, 0, ADDRESSES.index(out), near[0]))
                else:
                    a, b = (ADDRESSES.index(x) for x in args)
                    component.append((op, a, b, ADDRESSES.index(out), 0))
            except ValueError as e:
                raise ValueError(f"{_ERROR_PREFIX}bad instruction {tuple(row)!r}: {e}") from e
        components.append(tuple(component))
    program = Program(*components)
    if not program.valid():
        raise ValueError(f"{_ERROR_PREFIX}operand types or sizes do not fit: {text!r}")
    return program


# The hand-written program of AutoML-Zero's README (its learning rate 0.001 is too small for
# one pass over 100 examples; 0.22 is this grid's best for plain gradient descent, scoring
# 0.99991 to 0.99994 on the search tasks of seeds 0 to 3: the bar of 0.9999 leaves it little room).
LINEAR_REGRESSION = parse(
    [
        [("set", "s2", 0.22)],
        [("dot", "s1", "v0", "v1")],
        [
            ("sub", "s3", "s0", "s1"),
            ("mul", "s3", "s3", "s2"),
            ("scale", "v2", "s3", "v0"),
            ("add", "v1", "v1", "v2"),
        ],
    ]
)


# ---------------------------------------------------------------------- tasks and fitness


class Tasks(NamedTuple):
    """Linear-regression tasks: features [T, N, F] and labels [T, N], training then validation."""

    train_x: Array
    train_y: Array
    valid_x: Array
    valid_y: Array


def tasks(count: int, seed: int, train: int = 100, valid: int = 100) -> Tasks:
    """``count`` tasks y = u·x, u and x standard normal in ``FEATURES`` dimensions."""
    u_key, train_key, valid_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    u = jax.random.normal(u_key, (count, FEATURES))
    train_x = jax.random.normal(train_key, (count, train, FEATURES))
    valid_x = jax.random.normal(valid_key, (count, valid, FEATURES))
    return Tasks(train_x, jnp.einsum("tnf,tf->tn", train_x, u), valid_x, jnp.einsum("tnf,tf->tn", valid_x, u))


def _run(code: Array, memory: Array) -> Array:
    """Executes one function's instructions int32[L, 5] on the memory float32[rows, F]."""
    constants = jnp.asarray(CONSTANTS, jnp.float32)

    def body(i, memory):
        op, a, b, out, c = code[i, 0], code[i, 1], code[i, 2], code[i, 3], code[i, 4]
        return memory.at[out].set(jax.lax.switch(op, _BRANCHES, memory[a], memory[b], constants[c]))

    return jax.lax.fori_loop(0, code.shape[0], body, memory)


def _fitness_one(code: Array, train_x, train_y, valid_x, valid_y) -> Array:
    """AutoML-Zero's evaluation of one program on one task: Setup; per training example
    Predict (label hidden) then Learn (label shown); then Predict on the validation examples."""
    memory = _run(code[0], jnp.zeros((SCRATCH + 1, FEATURES), jnp.float32))

    def predict(memory, x):
        memory = memory.at[INPUT].set(x).at[LABEL].set(0.0)
        return _run(code[1], memory)

    def learn(memory, example):
        x, y = example
        memory = predict(memory, x).at[LABEL].set(y)
        return _run(code[2], memory), None

    def validate(memory, x):
        memory = predict(memory, x)
        return memory, memory[PREDICTION, 0]

    memory, _ = jax.lax.scan(learn, memory, (train_x, train_y))
    _, predictions = jax.lax.scan(validate, memory, valid_x)
    rmse = jnp.sqrt(jnp.mean((predictions - valid_y) ** 2))
    return jnp.where(jnp.isfinite(rmse), 1.0 - (2.0 / math.pi) * jnp.arctan(rmse), 0.0)


@jax.jit
def fitness(code: Array, data: Tasks) -> Array:
    """Mean fitness over the tasks, float32[B], of programs int32[B, 3, max(SIZES), 5]."""
    per_task = jax.vmap(_fitness_one, in_axes=(None, 0, 0, 0, 0))
    return jax.vmap(lambda c: per_task(c, *data).mean())(code)


# ---------------------------------------------------------------------- the game


class ZeroState(NamedTuple):
    code: Array  # int32[3, max(SIZES), 5]
    lengths: Array  # int32[3]
    component: Array  # int32: the function being written


class AutoMLZero(gamify.Game[ZeroState]):
    """Write Setup, Predict and Learn for linear regression (see the module docstring).

    Args:
      search_tasks: tasks a program's reward averages over (10, as AutoML-Zero's demo).
      seed: the search tasks' seed.
    """

    name = "automl_zero"
    description = "AutoML-Zero's first task: write Setup/Predict/Learn programs that learn linear regression"

    def __init__(self, search_tasks: int = 10, seed: int = 0):
        for label, value, low in (("search_tasks", search_tasks, 1), ("seed", seed, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{_ERROR_PREFIX}{label} must be an integer >= {low}, got {value!r}")
        self.tasks = tasks(search_tasks, seed)
        self.close = len(INSTRUCTIONS)  # the move that ends the current function
        self.action_space = gamify.FlatActions(self.close + 1)
        self.max_steps = sum(SIZES) + len(SIZES)
        self.table: dict[str, tuple[float, Program]] = {}  # key -> (fitness, program), scoring order

    def init(self, key: Array) -> ZeroState:
        del key
        code = jnp.tile(jnp.asarray(_PAD, jnp.int32), (3, max(SIZES), 1))
        return ZeroState(code, jnp.zeros(3, jnp.int32), jnp.int32(0))

    def step(self, state: ZeroState, action: Array):
        close = action >= self.close
        row = jnp.asarray(INSTRUCTIONS)[jnp.minimum(action, self.close - 1)]
        k, slot = state.component, state.lengths[state.component]
        code = jnp.where(close, state.code, state.code.at[k, slot].set(row))
        lengths = jnp.where(close, state.lengths, state.lengths.at[k].add(1))
        done = close & (k == len(SIZES) - 1)
        reward = jax.pure_callback(
            self._reward,
            jax.ShapeDtypeStruct((), jnp.float32),
            code,
            lengths,
            done,
            vmap_method="broadcast_all",
        )
        return ZeroState(code, lengths, k + close.astype(jnp.int32)), reward, done

    def legal_action_mask(self, state: ZeroState) -> Array:
        room = state.lengths[state.component] < jnp.asarray(SIZES)[state.component]
        return jnp.concatenate([jnp.full(self.close, room), jnp.ones(1, bool)])

    def observe(self, state: ZeroState) -> Array:
        code = state.code
        written = (jnp.arange(max(SIZES))[None, :] < state.lengths[:, None])[..., None]
        parts = [
            jax.nn.one_hot(code[..., 0], len(OPS)),
            jax.nn.one_hot(code[..., 1], SCRATCH + 1),
            jax.nn.one_hot(code[..., 2], SCRATCH + 1),
            jax.nn.one_hot(code[..., 3], SCRATCH + 1),
            jax.nn.one_hot(code[..., 4], len(CONSTANTS)),
        ]
        body = (written * jnp.concatenate(parts, axis=-1)).reshape(-1)
        return jnp.concatenate([body, jax.nn.one_hot(state.component, len(SIZES) + 1)])

    # ------------------------------------------------------------------ scoring (host)

    def score_programs(self, programs: Sequence[Program]) -> np.ndarray:
        """Mean fitness on the search tasks (the table first; the rest in one jitted batch)."""
        keys = [p.key() for p in programs]
        missing = {key: p for key, p in zip(keys, programs, strict=True) if key not in self.table}
        if missing:
            values = evaluate(list(missing.values()), self.tasks)
            for (key, program), value in zip(missing.items(), values, strict=True):
                self.table[key] = (float(value), program)
        return np.array([self.table[k][0] for k in keys], np.float32)

    def _reward(self, code, lengths, done) -> np.ndarray:
        code, lengths, done = np.asarray(code), np.asarray(lengths), np.asarray(done)
        batch = done.shape
        code, lengths, done = code.reshape(-1, *code.shape[-3:]), lengths.reshape(-1, 3), done.reshape(-1)
        reward = np.zeros(done.shape, np.float32)
        finished = np.flatnonzero(done)
        if finished.size:
            reward[finished] = self.score_programs([self.program(code[i], lengths[i]) for i in finished])
        return reward.reshape(batch)

    def program(self, code, lengths) -> Program:
        code = np.asarray(code)
        return Program(
            *(tuple(tuple(int(x) for x in row) for row in code[k, : int(n)]) for k, n in enumerate(lengths))
        )

    def rule(self, actions) -> Program:
        """The program a game's moves wrote."""
        components, current = [], []
        for action in (int(a) for a in np.asarray(actions).reshape(-1)):
            if action == self.close:
                components.append(tuple(current))
                current = []
                if len(components) == 3:
                    return Program(*components)
            else:
                current.append(tuple(int(x) for x in INSTRUCTIONS[action]))
        raise ValueError(f"{_ERROR_PREFIX}the moves never close Learn")

    def encode(self, program: Program) -> list[int]:
        """The moves that write ``program``."""
        index = {tuple(row): k for k, row in enumerate(INSTRUCTIONS.tolist())}
        moves = []
        for component in program.components:
            moves += [index[_canonical(row)] for row in component] + [self.close]
        return moves

    def describe(self, actions) -> str:
        return self.rule(actions).text()


def _canonical(row: tuple[int, ...]) -> tuple[int, ...]:
    op, a, b, out, c = row
    return (op, min(a, b), max(a, b), out, c) if _OPS[op][3] else (op, a, b, out, c)


def evaluate(programs: Sequence[Program], data: Tasks) -> np.ndarray:
    """Mean fitness of each program on ``data`` (batches padded to powers of two ≥ 64: few
    compilations)."""
    size = max(64, 1 << (len(programs) - 1).bit_length())
    code = np.stack([p.padded() for p in programs] + [programs[0].padded()] * (size - len(programs)))
    return np.asarray(fitness(jnp.asarray(code), data))[: len(programs)]


# ---------------------------------------------------------------------- searches


def _random_rows(rng: np.random.Generator, count: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(x) for x in INSTRUCTIONS[k]) for k in rng.integers(len(INSTRUCTIONS), size=count))


def random_program(rng: np.random.Generator) -> Program:
    """Random instructions filling each function to its size (AutoML-Zero's random start)."""
    return Program(*(_random_rows(rng, n) for n in SIZES))


def mutate(rng: np.random.Generator, program: Program) -> Program:
    """One of AutoML-Zero's mutations: re-draw one instruction's constant or one argument
    (ALTER_PARAM), one instruction (RANDOMIZE_INSTRUCTION), or one whole function
    (RANDOMIZE_COMPONENT_FUNCTION)."""
    components = [list(c) for c in program.components]
    k = int(rng.choice([i for i, c in enumerate(components) if c] or [0]))
    kind = rng.integers(3)
    if kind == 2 or not components[k]:
        components[k] = list(_random_rows(rng, len(components[k]) or SIZES[k]))
    elif kind == 1:
        components[k][rng.integers(len(components[k]))] = _random_rows(rng, 1)[0]
    else:
        slot = int(rng.integers(len(components[k])))
        op, a, b, out, c = components[k][slot]
        _, args, result, _, _ = _OPS[op]
        field = int(rng.integers(1 + len(args)))
        if field == len(args):  # the result's address, or the constant of a set
            if not args and rng.integers(2):
                c = int(rng.integers(len(CONSTANTS)))
            else:
                out = int(rng.choice(_typed(result)))
        elif field == 0:
            a = int(rng.choice(_typed(args[0])))
        else:
            b = int(rng.choice(_typed(args[1])))
        components[k][slot] = (op, a, b, out, c)
    return Program(*(tuple(c) for c in components))


class SearchResult(NamedTuple):
    best: Program
    fitness: float
    programs: int  # distinct programs scored when it stopped
    seconds: float
    solved_at: int | None  # distinct programs scored when fitness first reached SUCCESS
    curve: np.ndarray  # the best fitness after each distinct program, float32[programs]


def _search(game, work, budget, seconds, should_stop) -> SearchResult:
    game.table.clear()
    clock, solved = time.perf_counter(), None
    while len(game.table) < budget and time.perf_counter() - clock < seconds and not should_stop():
        work()
        if solved is None:
            hits = [n for n, (value, _) in enumerate(game.table.values()) if value >= SUCCESS]
            if hits:
                solved = hits[0] + 1
                break
    value, best = max(game.table.values(), key=lambda item: item[0])
    curve = np.maximum.accumulate(np.array([v for v, _ in game.table.values()], np.float32))
    return SearchResult(best, value, len(game.table), time.perf_counter() - clock, solved, curve)


def regularized_evolution(
    game: AutoMLZero,
    budget: int = 10**7,
    *,
    seconds: float = math.inf,
    population: int = 1000,
    tournament: int = 10,
    mutate_probability: float = 0.9,
    batch: int = 256,
    seed: int = 0,
    should_stop: Callable[[], bool] = lambda: False,
) -> SearchResult:
    """AutoML-Zero's search, its demo's settings: random programs of full size, then children
    (a tournament's winner, mutated with probability 0.9) replace the oldest; ``batch``
    children per scorer call. Stops at the first program reaching :data:`SUCCESS`."""
    rng = np.random.default_rng(seed)
    members: list[tuple[Program, float]] = []

    def work() -> None:
        if len(members) < population:
            children = [random_program(rng) for _ in range(batch)]
        else:
            children = []
            for _ in range(batch):
                drawn = rng.choice(len(members), size=tournament, replace=False)
                parent = max((members[int(k)] for k in drawn), key=lambda m: m[1])[0]
                children.append(mutate(rng, parent) if rng.random() < mutate_probability else parent)
        values = game.score_programs(children)
        members.extend(zip(children, (float(x) for x in values), strict=True))
        del members[: max(0, len(members) - population)]

    return _search(game, work, budget, seconds, should_stop)


def random_search(
    game: AutoMLZero, budget: int, *, seconds: float = math.inf, batch: int = 256, seed: int = 0
) -> SearchResult:
    """Random full-size programs until one reaches :data:`SUCCESS` or the budget is spent."""
    rng = np.random.default_rng(seed)
    work = lambda: game.score_programs([random_program(rng) for _ in range(batch)])
    return _search(game, work, budget, seconds, lambda: False)


def discover(
    game: AutoMLZero,
    config: gamify.TrainConfig,
    budget: int = 10**7,
    *,
    seconds: float = math.inf,
    should_stop: Callable[[], bool] = lambda: False,
) -> SearchResult:
    """gamify's search (Gumbel MCTS self-play with the policy-value network, learning from
    it) until a program reaches :data:`SUCCESS`, ``budget`` programs or ``seconds``."""
    trainer = gamify.Trainer(game, config)
    state = [trainer.init()]

    def work() -> None:
        state[0] = trainer.iterate(state[0])[0]

    return _search(game, work, budget, seconds, should_stop)

"""Discover an optimizer's update rule by search: learning-algorithm discovery cast as a game.

A program computes the update direction d of every parameter from per-parameter quantities;
the optimizer then steps ``w ← w − lr · d``. The game writes the program one instruction at
a time and ends by returning a register; its only reward, at the end, is how well the rule
trains a suite of small tasks.

Registers (elementwise arrays):

  g   the gradient
  m   Adam's first moment, EMA of g at 0.9, bias-corrected
  v   Adam's second moment, EMA of g² at 0.999, bias-corrected
  k   the heavy-ball trace, k ← g + 0.9 k
  r   RMSProp's mean square, r ← 0.9 r + 0.1 g² (no bias correction)
  l   Lion's momentum before this step (then l ← 0.99 l + 0.01 g)
  w   the parameter
  1, 0.1, eps (1e-8)   constants
  then one register per instruction written.

These are the accumulators of SGD with momentum, RMSProp, Adam and Lion as optax defines them,
so each of SGD, momentum, RMSProp, Adam, signSGD, Lion, PowerSign and AddSign is a short
program (:data:`REFERENCE_RULES`; tests check each against optax or the paper's formula).

Moves: an instruction ``op(a)`` or ``op(a, b)`` over registers that exist (never constants
alone; commutative operations with a ≤ b; no x − x, x / x, max(x, x) or min(x, x)), or
*return*: the last instruction's register (with no instruction yet, any of g … w). At
``length`` instructions only return is left. Flat actions (unary ops × registers, binary
ops × registers², returns): at the default length 6 that is 1,680 actions, few enough for a
flat policy.

Reward: the rule's score (:func:`make_scorer`): each task of the training suite is trained
for ``steps`` steps from its seeded start at every rate of a grid; score = minus the mean
over tasks of log(final loss / initial loss) (floored at 10⁻⁶, so −log ratio ≤ 13.8) at the
rule's best rate; a non-finite or exploding loss counts as log ratio +3, worse than not
moving. The scorer runs an interpreter of the program (``lax.switch`` over op codes) inside
jit, vmapped over programs, rates and tasks; the game calls it from its step through a host
callback that scores only finished programs and keeps a table of programs already scored,
keyed by their canonical expression (the same rule written in another order, with dead code,
or with arguments swapped scores once). The held-out suite (:func:`heldout_suite`) is never
used by the game.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gamify

Array = jax.Array

_ERROR_PREFIX = "update_rule: "

INPUTS = ("g", "m", "v", "k", "r", "l", "w")
CONSTANTS = {"1": 1.0, "0.1": 0.1, "eps": 1e-8}
NAMES = (*INPUTS, *CONSTANTS)
NUM_INPUTS = len(NAMES)  # registers before the first instruction


def _safe_div(x, y):
    tiny = 1e-30
    return x / jnp.where(jnp.abs(y) < tiny, jnp.where(y < 0, -tiny, tiny), y)


# name, arity, function, commutative, formula template
_OPS = (
    ("neg", 1, lambda x, y: -x, False, "-{a}"),
    ("abs", 1, lambda x, y: jnp.abs(x), False, "|{a}|"),
    ("sign", 1, lambda x, y: jnp.sign(x), False, "sign({a})"),
    ("sqrt", 1, lambda x, y: jnp.sqrt(jnp.abs(x)), False, "sqrt({a})"),
    ("square", 1, lambda x, y: x * x, False, "{a}^2"),
    ("exp", 1, lambda x, y: jnp.exp(jnp.minimum(x, 50.0)), False, "exp({a})"),
    ("log", 1, lambda x, y: jnp.log(jnp.maximum(jnp.abs(x), 1e-30)), False, "log|{a}|"),
    ("clip", 1, lambda x, y: jnp.clip(x, -1.0, 1.0), False, "clip({a})"),
    ("add", 2, lambda x, y: x + y, True, "({a} + {b})"),
    ("sub", 2, lambda x, y: x - y, False, "({a} - {b})"),
    ("mul", 2, lambda x, y: x * y, True, "{a} * {b}"),
    ("div", 2, _safe_div, False, "{a} / {b}"),
    ("max", 2, lambda x, y: jnp.maximum(x, y), True, "max({a}, {b})"),
    ("min", 2, lambda x, y: jnp.minimum(x, y), True, "min({a}, {b})"),
)
OPS = tuple(op[0] for op in _OPS)
_IDEMPOTENT = ("sub", "div", "max", "min")  # op(x, x) is a constant or x
UNARY = tuple(k for k, op in enumerate(_OPS) if op[1] == 1)
BINARY = tuple(k for k, op in enumerate(_OPS) if op[1] == 2)
_BRANCHES = tuple(op[2] for op in _OPS)

BETA1, BETA2, TRACE, RMS_DECAY, LION_BETA = 0.9, 0.999, 0.9, 0.9, 0.99
FAILED = 3.0  # log ratio scored for a non-finite or exploding final loss
FLOOR = 1e-6  # final / initial below this counts as this
L2 = 1e-2  # the classification tasks' weight penalty
LEARNING_RATES = tuple(float(x) for x in 10.0 ** np.arange(-2.5, 0.51, 0.5))  # 0.003 … 3.2, 7 rates


class Moments(NamedTuple):
    """The accumulators behind the registers m, v, k, r, l (one per parameter) and the step."""

    m: Array
    v: Array
    k: Array
    r: Array
    l: Array  # noqa: E741
    t: Array


def zero_moments(w: Array) -> Moments:
    zero = jnp.zeros_like(w)
    return Moments(zero, zero, zero, zero, zero, jnp.zeros((), jnp.int32))


def registers(moments: Moments, g: Array, w: Array) -> tuple[Moments, Array]:
    """Folds the gradient into the accumulators; returns them and the input registers
    float32[NUM_INPUTS, *w.shape] (the constants broadcast)."""
    t = moments.t + 1
    m = BETA1 * moments.m + (1 - BETA1) * g
    v = BETA2 * moments.v + (1 - BETA2) * g * g
    k = g + TRACE * moments.k
    r = RMS_DECAY * moments.r + (1 - RMS_DECAY) * g * g
    lion = LION_BETA * moments.l + (1 - LION_BETA) * g
    tf = t.astype(jnp.float32)
    m_hat = m / (1 - BETA1**tf)
    v_hat = v / (1 - BETA2**tf)
    constants = [jnp.full_like(w, c) for c in CONSTANTS.values()]
    inputs = jnp.stack([g, m_hat, v_hat, k, r, moments.l, w, *constants])
    return Moments(m, v, k, r, lion, t), inputs


def interpret(code: Array, out: Array, inputs: Array) -> Array:
    """Runs a program: ``code`` int32[L, 3] rows (op, a, b) over registers, ``out`` the
    register returned, ``inputs`` float32[NUM_INPUTS, ...]. Rows past a program's length are
    computed and never read (a returned register is always written before it)."""
    length = code.shape[0]
    regs = jnp.concatenate([inputs, jnp.zeros((length, *inputs.shape[1:]), inputs.dtype)])

    def body(i, regs):
        op, a, b = code[i, 0], code[i, 1], code[i, 2]
        value = jax.lax.switch(op, _BRANCHES, regs[a], regs[b])
        return regs.at[NUM_INPUTS + i].set(value)

    regs = jax.lax.fori_loop(0, length, body, regs)  # unrolled measured 2x slower (fusion lost)
    return regs[out]


# ---------------------------------------------------------------------- tasks


@dataclasses.dataclass(frozen=True)
class TaskKind:
    """Instances of one kind of small training problem: ``make(key) -> (w0, data)`` draws an
    instance (w0 a flat float32 vector), ``loss(w, data)`` is its full-batch loss."""

    name: str  # names every parameter of the kind: equal names, equal tasks
    make: Callable[[Array], tuple[Array, object]]
    loss: Callable[[Array, object], Array]


def quadratic(dim: int, condition: float) -> TaskKind:
    """½ (w − w*)ᵀ A (w − w*), A's eigenvalues log-uniform in [1/condition, 1], random basis."""

    def make(key):
        rotate, spread, start, optimum = jax.random.split(key, 4)
        q, _ = jnp.linalg.qr(jax.random.normal(rotate, (dim, dim)))
        eig = jnp.exp(-jnp.log(condition) * jax.random.uniform(spread, (dim,)))
        a = (q * eig) @ q.T
        return jax.random.normal(start, (dim,)), (a, jax.random.normal(optimum, (dim,)))

    def loss(w, data):
        a, optimum = data
        x = w - optimum
        return 0.5 * x @ a @ x

    return TaskKind(f"quadratic{dim}-c{condition:g}", make, loss)


def _dense_layers(sizes: Sequence[int]):
    """Unflattens a vector into the weights and biases of an MLP with these layer sizes."""
    shapes = [((i, o), (o,)) for i, o in zip(sizes[:-1], sizes[1:], strict=False)]
    count = sum(i * o + o for (i, o), _ in shapes)

    def unflatten(w):
        layers, at = [], 0
        for (i, o), _ in shapes:
            kernel = w[at : at + i * o].reshape(i, o)
            at += i * o
            layers.append((kernel, w[at : at + o]))
            at += o
        return layers

    def init(key):  # LeCun-normal kernels, zero biases
        parts = []
        for k, ((i, o), _) in zip(jax.random.split(key, len(shapes)), shapes, strict=True):
            parts += [jax.random.normal(k, (i * o,)) / math.sqrt(i), jnp.zeros(o)]
        return jnp.concatenate(parts)

    return count, unflatten, init


def _forward(layers, x, activation):
    for kernel, bias in layers[:-1]:
        x = activation(x @ kernel + bias)
    kernel, bias = layers[-1]
    return x @ kernel + bias


def _classifier_loss(unflatten, outputs: int):
    """Cross-entropy (logistic with one output) of a tanh MLP plus the L2 penalty."""

    def loss(w, data):
        x, labels = data
        logits = _forward(unflatten(w), x, jnp.tanh)
        if outputs == 1:
            fit = optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(jnp.float32)).mean()
        else:
            fit = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        # few samples in a few dimensions are often separable: without a penalty, blowing the
        # weights up (any huge step) would drive the loss to 0 and win
        return fit + 0.5 * L2 * jnp.sum(w * w)

    return loss


def classification(features: int, classes: int, samples: int, hidden: Sequence[int] = ()) -> TaskKind:
    """Softmax (or, with 2 classes, logistic) regression or an MLP classifier on Gaussian inputs
    labelled by a random linear teacher with label noise; L2-penalised."""
    outputs = 1 if classes == 2 else classes
    _, unflatten, init = _dense_layers([features, *hidden, outputs])

    def make(key):
        data, teacher, noise, start = jax.random.split(key, 4)
        x = jax.random.normal(data, (samples, features))
        scores = x @ jax.random.normal(teacher, (features, classes))
        labels = jnp.argmax(scores + 0.5 * jax.random.gumbel(noise, scores.shape), axis=-1)
        return init(start), (x, labels)

    kind = "logistic" if classes == 2 else "softmax"
    shape = "x".join(map(str, [features, *hidden, classes]))
    name = f"{kind if not hidden else 'mlp-classifier'}{shape}-n{samples}"
    return TaskKind(name, make, _classifier_loss(unflatten, outputs))


def digits(samples: int = 512, hidden: Sequence[int] = ()) -> TaskKind:
    """A real data set: scikit-learn's handwritten digits (8×8 images, 10 classes, 1,797 of
    them, shipped inside scikit-learn), a random subset of ``samples`` per instance, pixels
    scaled to [0, 1]; softmax regression or a tanh MLP, L2-penalised as :func:`classification`.

    Raises:
      ImportError: scikit-learn is not installed (``pip install "gamify[digits]"``).
    """
    try:
        from sklearn.datasets import load_digits  # deferred: an optional extra
    except ImportError as e:
        raise ImportError(
            f'{_ERROR_PREFIX}the digits task needs scikit-learn: pip install "gamify[digits]"'
        ) from e
    images, labels = load_digits(return_X_y=True)
    if not 1 <= samples <= len(labels):
        raise ValueError(f"{_ERROR_PREFIX}digits has {len(labels)} samples, asked for {samples}")
    images = jnp.asarray(images / 16.0, jnp.float32)
    labels = jnp.asarray(labels, jnp.int32)
    _, unflatten, init = _dense_layers([images.shape[1], *hidden, 10])

    def make(key):
        subset, start = jax.random.split(key)
        rows = jax.random.choice(subset, labels.shape[0], (samples,), replace=False)
        return init(start), (images[rows], labels[rows])

    shape = "x".join(map(str, [images.shape[1], *hidden, 10]))
    return TaskKind(f"digits{shape}-n{samples}", make, _classifier_loss(unflatten, 10))


def regression_mlp(features: int, hidden: Sequence[int], samples: int, activation=jnp.tanh) -> TaskKind:
    """Mean squared error of an MLP fitting a random teacher MLP of the same shape."""
    sizes = [features, *hidden, 1]
    _, unflatten, init = _dense_layers(sizes)

    def make(key):
        data, teacher, start = jax.random.split(key, 3)
        x = jax.random.normal(data, (samples, features))
        y = _forward(unflatten(init(teacher)), x, activation)
        return init(start), (x, y)

    def loss(w, data):
        x, y = data
        return jnp.mean((_forward(unflatten(w), x, activation) - y) ** 2)

    name = "relu" if activation is jax.nn.relu else "tanh"
    return TaskKind(f"mlp-{name}{'x'.join(map(str, sizes))}-n{samples}", make, loss)


@dataclasses.dataclass(frozen=True)
class Suite:
    """Task kinds, each with ``instances`` seeded instances."""

    name: str
    kinds: tuple[TaskKind, ...]
    instances: int
    seed: int

    def draw(self) -> list[tuple[TaskKind, Array, object]]:
        """Each kind with its instances' starts (stacked) and data."""
        out = []
        for k, kind in enumerate(self.kinds):
            keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(self.seed), k), self.instances)
            w0, data = jax.vmap(kind.make)(keys)
            out.append((kind, w0, data))
        return out


def training_suite(seed: int = 0) -> Suite:
    """What the search scores rules on: 8 tasks, 4 kinds × 2 seeded instances."""
    kinds = (
        quadratic(16, condition=100.0),
        classification(8, 2, samples=32),
        classification(6, 3, samples=32),
        regression_mlp(4, (8,), samples=32),
    )
    return Suite("training", kinds, instances=2, seed=seed)


def heldout_suite(seed: int = 1) -> Suite:
    """What the search never sees: other sizes, conditioning, depth and activations."""
    kinds = (
        quadratic(64, condition=1000.0),
        classification(16, 2, samples=256),
        classification(16, 8, samples=256, hidden=(32,)),
        regression_mlp(16, (32, 32), samples=256, activation=jax.nn.relu),
    )
    return Suite("held-out", kinds, instances=2, seed=seed)


def digits_suite(seed: int = 1) -> Suite:
    """A held-out suite on real data (:func:`digits`; needs scikit-learn): softmax regression
    and a tanh MLP with 32 hidden units, 2 instances each."""
    return Suite("digits", (digits(), digits(hidden=(32,))), instances=2, seed=seed)


# ---------------------------------------------------------------------- scoring


class Scores(NamedTuple):
    """Per program: the score (higher is better), the index of its best rate, and each task's
    log(final / initial) at that rate."""

    score: Array  # float32[B]
    rate: Array  # int32[B]
    tasks: Array  # float32[B, tasks]


def make_scorer(
    suite: Suite, steps: int = 100, learning_rates: Sequence[float] = LEARNING_RATES
) -> Callable[[Array, Array], Scores]:
    """A jitted ``score(code int32[B, L, 3], out int32[B]) -> Scores`` for the suite; one per
    suite, steps and rates in a process, so games and reports share its compilations."""
    key = (tuple(k.name for k in suite.kinds), suite.instances, suite.seed, steps, tuple(learning_rates))
    if key not in _SCORERS:
        _SCORERS[key] = _scorer(suite, steps, learning_rates)
    return _SCORERS[key]


_SCORERS: dict[tuple, Callable[[Array, Array], Scores]] = {}


def _train(kind: TaskKind, steps: int, record: bool, code, out, lr, w0, data):
    """Trains one task instance with the rule: its final loss, or with ``record`` the loss after
    each step, float32[steps]."""
    grad = jax.grad(kind.loss)

    def step(carry, _):
        w, moments = carry
        moments, inputs = registers(moments, grad(w, data), w)
        w = w - lr * interpret(code, out, inputs)
        return (w, moments), (kind.loss(w, data) if record else None)

    (w, _), losses = jax.lax.scan(step, (w0, zero_moments(w0)), None, length=steps)
    return losses if record else kind.loss(w, data)


def _scorer(suite: Suite, steps: int, learning_rates: Sequence[float]) -> Callable[[Array, Array], Scores]:
    drawn = suite.draw()
    rates = jnp.asarray(learning_rates, jnp.float32)

    @jax.jit
    def score(code: Array, out: Array) -> Scores:
        ratios = []
        for kind, w0, data in drawn:
            initial = jax.vmap(kind.loss)(w0, data)  # [I]
            run = functools.partial(_train, kind, steps, False)
            over_tasks = jax.vmap(run, in_axes=(None, None, None, 0, 0))
            over_rates = jax.vmap(over_tasks, in_axes=(None, None, 0, None, None))
            final = jax.vmap(over_rates, in_axes=(0, 0, None, None, None))(code, out, rates, w0, data)
            ratio = jnp.log(jnp.maximum(final / initial, FLOOR))
            ratios.append(jnp.where(jnp.isfinite(ratio), jnp.minimum(ratio, FAILED), FAILED))
        ratios = jnp.concatenate(ratios, axis=-1)  # [B, rates, tasks]
        mean = ratios.mean(axis=-1)
        best = jnp.argmin(mean, axis=-1)
        tasks = jnp.take_along_axis(ratios, best[:, None, None], axis=1)[:, 0]
        return Scores(-jnp.min(mean, axis=-1), best.astype(jnp.int32), tasks)

    return score


@functools.cache  # one compilation per task kind and steps in a process
def _recorder(kind: TaskKind, steps: int):
    over_tasks = jax.vmap(functools.partial(_train, kind, steps, True), in_axes=(None, None, None, 0, 0))
    return jax.jit(jax.vmap(over_tasks, in_axes=(0, 0, 0, None, None)))


def loss_curves(suite: Suite, code: Array, out: Array, rates: Array, steps: int = 100) -> np.ndarray:
    """log(loss / initial loss) of each program, at its own rate, on every task of the suite
    after each step: float32[B, tasks, steps], floored at log 10⁻⁶ as the score is; a non-finite
    loss is +inf.

    Args:
      code, out: programs as the scorer takes them (int32[B, L, 3], int32[B]).
      rates: float32[B], each program's learning rate.
    """
    curves = []
    for kind, w0, data in suite.draw():
        initial = jax.vmap(kind.loss)(w0, data)  # [I]
        run = _recorder(kind, steps)
        losses = run(jnp.asarray(code), jnp.asarray(out), jnp.asarray(rates, jnp.float32), w0, data)
        curves.append(jnp.log(jnp.maximum(losses / initial[None, :, None], FLOOR)))  # [B, I, steps]
    curves = np.asarray(jnp.concatenate(curves, axis=1))
    return np.where(np.isfinite(curves), curves, np.inf).astype(np.float32)


# ---------------------------------------------------------------------- programs


@dataclasses.dataclass(frozen=True)
class Program:
    """A finished program (numpy): its instructions (op, a, b) and the register it returns."""

    code: tuple[tuple[int, int, int], ...]
    out: int

    def padded(self, length: int) -> np.ndarray:
        """The instructions as int32[length, 3], rows past the program's zero (never read)."""
        code = np.zeros((length, 3), np.int32)
        if self.code:
            code[: len(self.code)] = self.code
        return code

    def _expression(self, register: int, canonical: bool) -> str:
        if register < NUM_INPUTS:
            return NAMES[register]
        op, a, b = self.code[register - NUM_INPUTS]
        name, arity, _, commutative, template = _OPS[op]
        args = [self._expression(a, canonical)]
        if arity == 2:
            args.append(self._expression(b, canonical))
        if canonical:
            if commutative:
                args.sort()
            return f"{name}({','.join(args)})"
        return template.format(a=args[0], b=args[-1])

    def valid(self) -> bool:
        """Every argument is a register written before it, and so is the one returned."""
        rows = all(0 <= x < NUM_INPUTS + k for k, (_, a, b) in enumerate(self.code) for x in (a, b))
        ops = all(0 <= op < len(OPS) for op, _, _ in self.code)
        return rows and ops and 0 <= self.out < NUM_INPUTS + len(self.code)

    def inputs(self) -> set[str]:
        """The input registers the returned value depends on."""
        used, todo = set(), [self.out]
        while todo:
            register = todo.pop()
            if register < NUM_INPUTS:
                used.add(NAMES[register])
            else:
                op, a, b = self.code[register - NUM_INPUTS]
                todo += [a, b] if _OPS[op][1] == 2 else [a]
        return used

    def key(self) -> str:
        """The canonical expression: equal for programs that compute the same tree (dead code
        dropped, commutative arguments sorted)."""
        return self._expression(self.out, canonical=True)

    def instructions(self) -> list[tuple]:
        """The program as :func:`parse` reads it (register names where they have one)."""
        if not self.code:
            return [("return", NAMES[self.out])]
        name = lambda x: NAMES[x] if x < NUM_INPUTS else x
        return [(OPS[op], name(a), name(b))[: 1 + _OPS[op][1]] for op, a, b in self.code]

    def formula(self) -> str:
        """The rule as people write it: the update is ``w ← w − lr · formula``."""
        text = self._expression(self.out, canonical=False)
        return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def _register(name: str | int) -> int:
    if isinstance(name, int):
        return name
    if name not in NAMES:
        raise ValueError(f"{_ERROR_PREFIX}unknown register {name!r}: one of {', '.join(NAMES)} or an index")
    return NAMES.index(name)


def parse(instructions: Sequence[Sequence[str | int]]) -> Program:
    """A program from ``[(op, a[, b]), ...]`` (register names or indices); returns the last
    instruction's register, or with one ``("return", x)`` row only, the input x."""
    if len(instructions) == 1 and instructions[0][0] == "return":
        return Program((), _register(instructions[0][1]))
    code = []
    for row in instructions:
        if row[0] not in OPS:
            raise ValueError(f"{_ERROR_PREFIX}unknown operation {row[0]!r}: one of {', '.join(OPS)}")
        op = OPS.index(row[0])
        arity = _OPS[op][1]
        if len(row) != 1 + arity:
            raise ValueError(f"{_ERROR_PREFIX}{row[0]} takes {arity} argument(s), got {len(row) - 1}")
        args = [_register(x) for x in row[1:]]
        code.append((op, args[0], args[-1]))
    return Program(tuple(code), NUM_INPUTS + len(code) - 1)


# The reference rules as programs (tests check each against optax or the paper's formula).
REFERENCE_RULES: dict[str, Program] = {
    "sgd": parse([("return", "g")]),
    "momentum": parse([("return", "k")]),
    "rmsprop": parse([("add", "r", "eps"), ("sqrt", 10), ("div", "g", 11)]),
    "adam": parse([("sqrt", "v"), ("add", 10, "eps"), ("div", "m", 11)]),
    "signsgd": parse([("sign", "g")]),
    "lion": parse([("sub", "g", "l"), ("mul", 10, "0.1"), ("add", "l", 11), ("sign", 12)]),
    "powersign": parse([("sign", "g"), ("sign", "m"), ("mul", 10, 11), ("exp", 12), ("mul", 13, "g")]),
    "addsign": parse([("sign", "g"), ("sign", "m"), ("mul", 10, 11), ("add", 12, "1"), ("mul", 13, "g")]),
}


def to_optax(program: Program, learning_rate: float) -> optax.GradientTransformation:
    """The rule as an optax transformation (``w ← w − learning_rate · d`` on every leaf)."""
    code, out = jnp.asarray(program.padded(max(1, len(program.code)))), jnp.int32(program.out)

    def init(params):
        return jax.tree.map(zero_moments, params)

    def update(updates, state, params=None):
        if params is None and "w" in program.inputs():
            raise ValueError(f"{_ERROR_PREFIX}this rule reads the parameters: pass params to update")
        params = params if params is not None else updates

        def leaf(g, moments, w):
            moments, inputs = registers(moments, g, w)
            return -learning_rate * interpret(code, out, inputs), moments

        flat, tree = jax.tree.flatten(updates)
        moments = tree.flatten_up_to(state)
        results = [leaf(g, s, w) for g, s, w in zip(flat, moments, jax.tree.leaves(params), strict=True)]
        return tree.unflatten([d for d, _ in results]), tree.unflatten([s for _, s in results])

    return optax.GradientTransformation(init, update)


# ---------------------------------------------------------------------- the game


class RuleState(NamedTuple):
    code: Array  # int32[L, 3]
    length: Array  # int32: instructions written


class UpdateRule(gamify.Game[RuleState]):
    """Write an optimizer's update rule, one instruction at a time (see the module docstring).

    Args:
      length: the most instructions a program has (6: PowerSign and AddSign take 5).
      steps: training steps per task when scoring a rule (100).
      seed: the training suite's seed.
    """

    name = "update_rule"
    description = "discover an optimizer's update rule: write a program, scored by training small tasks"

    def __init__(self, length: int = 6, steps: int = 100, seed: int = 0):
        for label, value, low in (("length", length, 1), ("steps", steps, 1), ("seed", seed, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{_ERROR_PREFIX}{label} must be an integer >= {low}, got {value!r}")
        self.length, self.steps = length, steps
        self.max_steps = length + 1
        self.registers = NUM_INPUTS + length
        r = self.registers
        self.unary_actions = len(UNARY) * r
        self.binary_actions = len(BINARY) * r * r
        self.return_base = self.unary_actions + self.binary_actions
        self.action_space = gamify.FlatActions(self.return_base + r)
        self.suite = training_suite(seed)
        self._scorer = make_scorer(self.suite, steps)
        # canonical expression -> (score, program): a memo of a pure function, in scoring order
        self.table: dict[str, tuple[float, Program]] = {}
        self.scored = 0  # programs the scorer ran (not the table's hits); instrumentation only

    # ------------------------------------------------------------------ actions

    def decode(self, action: int) -> tuple[str, int, int, int]:
        """("unary"|"binary"|"return", op, a, b) of a flat action (numpy)."""
        r = self.registers
        if action < self.unary_actions:
            return "unary", UNARY[action // r], action % r, action % r
        if action < self.return_base:
            index = action - self.unary_actions
            return "binary", BINARY[index // (r * r)], (index // r) % r, index % r
        return "return", -1, action - self.return_base, -1

    def encode(self, program: Program) -> list[int]:
        """The moves that write ``program`` (instructions, then return)."""
        r, moves = self.registers, []
        for op, a, b in program.code:
            if _OPS[op][1] == 1:
                moves.append(UNARY.index(op) * r + a)
            else:
                if _OPS[op][3]:
                    a, b = min(a, b), max(a, b)
                moves.append(self.unary_actions + BINARY.index(op) * r * r + a * r + b)
        moves.append(self.return_base + program.out)
        return moves

    def _instruction(self, action: Array) -> Array:
        r = self.registers
        unary = action < self.unary_actions
        index = action - self.unary_actions
        op = jnp.where(
            unary,
            jnp.asarray(UNARY)[action // r % len(UNARY)],
            jnp.asarray(BINARY)[index // (r * r) % len(BINARY)],
        )
        a = jnp.where(unary, action % r, (index // r) % r)
        b = jnp.where(unary, action % r, index % r)
        return jnp.stack([op, a, b]).astype(jnp.int32)

    # ------------------------------------------------------------------ the rules

    def init(self, key: Array) -> RuleState:
        del key
        return RuleState(jnp.zeros((self.length, 3), jnp.int32), jnp.int32(0))

    def step(self, state: RuleState, action: Array):
        done = action >= self.return_base
        code = jnp.where(done, state.code, state.code.at[state.length].set(self._instruction(action)))
        length = state.length + jnp.where(done, 0, 1)
        out = (action - self.return_base).astype(jnp.int32)
        reward = jax.pure_callback(
            self._reward,
            jax.ShapeDtypeStruct((), jnp.float32),
            code,
            length,
            out,
            done,
            vmap_method="broadcast_all",
        )
        return RuleState(code, length), reward, done

    def legal_action_mask(self, state: RuleState) -> Array:
        r = self.registers
        slots = jnp.arange(r)
        exists = slots < NUM_INPUTS + state.length
        variable = exists & ((slots < len(INPUTS)) | (slots >= NUM_INPUTS))
        room = state.length < self.length
        unary = jnp.tile(variable & room, len(UNARY))
        pair = exists[:, None] & exists[None, :] & (variable[:, None] | variable[None, :]) & room
        commutative = jnp.asarray([_OPS[k][3] for k in BINARY])
        ordered = slots[:, None] <= slots[None, :]
        # x - x, x / x, max(x, x) and min(x, x) are constants or x itself: never worth a move
        idle = jnp.asarray([OPS[k] in _IDEMPOTENT for k in BINARY])
        same = slots[:, None] == slots[None, :]
        binary = (
            pair[None] & (~commutative[:, None, None] | ordered[None]) & ~(idle[:, None, None] & same[None])
        )
        last = NUM_INPUTS + state.length - 1
        returns = jnp.where(state.length == 0, slots < len(INPUTS), slots == last)
        return jnp.concatenate([unary, binary.reshape(-1), returns])

    def observe(self, state: RuleState) -> Array:
        written = (jnp.arange(self.length) < state.length)[:, None]
        op = jax.nn.one_hot(state.code[:, 0], len(OPS))
        a = jax.nn.one_hot(state.code[:, 1], self.registers)
        b = jax.nn.one_hot(state.code[:, 2], self.registers)
        return (written * jnp.concatenate([op, a, b], axis=-1)).reshape(-1)

    # ------------------------------------------------------------------ scoring (host)

    def score_programs(self, programs: Sequence[Program]) -> np.ndarray:
        """Scores on the training suite (the table first; the rest in one jitted batch)."""
        keys = [p.key() for p in programs]
        missing = {key: p for key, p in zip(keys, programs, strict=True) if key not in self.table}
        if missing:
            score = self._score(list(missing.values()), self._scorer).score
            for (key, program), value in zip(missing.items(), score, strict=True):
                self.table[key] = (float(value), program)
            self.scored += len(missing)
        return np.array([self.table[k][0] for k in keys], np.float32)

    def details(self, programs: Sequence[Program], suite: Suite | None = None) -> Scores:
        """Scores with each program's best rate and per-task results (numpy), on the training
        suite or on ``suite`` (e.g. :func:`heldout_suite`, for a report after the search)."""
        return self._score(list(programs), self._scorer if suite is None else make_scorer(suite, self.steps))

    def _score(self, programs: list[Program], scorer) -> Scores:
        """One scorer call (numpy results), the batch padded to a power of two ≥ 8 and the code to
        the game's length (or the longest program's): few shapes, few compilations."""
        size = max(8, 1 << (len(programs) - 1).bit_length())
        batch = programs + [programs[0]] * (size - len(programs))
        width = max(self.length, *(len(p.code) for p in batch))
        code = np.stack([p.padded(width) for p in batch])
        out = np.array([p.out for p in batch], np.int32)
        return Scores(*(np.asarray(x)[: len(programs)] for x in scorer(jnp.asarray(code), jnp.asarray(out))))

    def forget(self) -> None:
        """Empties the table (a new search starts counting its programs from zero)."""
        self.table.clear()

    def curve(self, budget: int | None = None) -> SearchResult:
        """The best of the first ``budget`` distinct programs scored since :meth:`forget`, and
        the best score after each."""
        scored = list(self.table.values())[:budget]
        if not scored:
            raise ValueError(f"{_ERROR_PREFIX}no program was scored")
        curve = np.maximum.accumulate(np.array([score for score, _ in scored], np.float32))
        best = max(scored, key=lambda item: item[0])
        return SearchResult(best[1], best[0], curve)

    def _reward(self, code, length, out, done) -> np.ndarray:
        code, length, out, done = (np.asarray(x) for x in (code, length, out, done))
        batch = done.shape
        code, length, out, done = (
            code.reshape(-1, self.length, 3),
            length.reshape(-1),
            out.reshape(-1),
            done.reshape(-1),
        )
        reward = np.zeros(done.shape, np.float32)
        programs = {i: self.program(code[i], length[i], out[i]) for i in np.flatnonzero(done)}
        programs = {i: p for i, p in programs.items() if p.valid()}  # Env ignores an illegal move's reward
        if programs:
            reward[list(programs)] = self.score_programs(list(programs.values()))
        return reward.reshape(batch)

    def program(self, code, length, out) -> Program:
        code = np.asarray(code)[: int(length)]
        return Program(tuple(tuple(int(x) for x in row) for row in code), int(out))

    # ------------------------------------------------------------------ solutions

    def rule(self, actions) -> Program:
        """The program a game's moves wrote (numpy actions, ending with a return)."""
        actions = [int(a) for a in np.asarray(actions).reshape(-1)]
        code = []
        for action in actions:
            kind, op, a, b = self.decode(action)
            if kind == "return":
                return Program(tuple(code), a)
            code.append((op, a, b))
        raise ValueError(f"{_ERROR_PREFIX}the moves never return a register")

    def describe(self, actions) -> str:
        program = self.rule(actions)
        return f"d = {program.formula()}   (w <- w - lr * d)"


# ---------------------------------------------------------------------- baselines


class SearchResult(NamedTuple):
    """A baseline search's outcome: the best program, its score, and the best score after each
    distinct program scored (the curve to compare searches at equal numbers of programs)."""

    best: Program
    score: float
    curve: np.ndarray  # float32[scored]


def _random_instruction(rng: np.random.Generator, registers: int) -> tuple[int, int, int]:
    """A random instruction over the first ``registers`` registers (not on constants alone)."""
    variables = [x for x in range(registers) if x < len(INPUTS) or x >= NUM_INPUTS]
    op = int(rng.integers(len(OPS)))
    a = int(rng.choice(variables))
    b = int(rng.integers(registers)) if _OPS[op][1] == 2 else a
    if _OPS[op][1] == 2 and rng.random() < 0.5:
        a, b = b, a
    return op, a, b


def random_program(rng: np.random.Generator, length: int) -> Program:
    """A program of 0 to ``length`` random instructions (each length equally likely)."""
    size = int(rng.integers(length + 1))
    if size == 0:
        return Program((), int(rng.integers(len(INPUTS))))
    code = tuple(_random_instruction(rng, NUM_INPUTS + k) for k in range(size))
    return Program(code, NUM_INPUTS + size - 1)


def mutate(rng: np.random.Generator, program: Program, length: int) -> Program:
    """One random change that keeps the program valid: an instruction replaced, one argument
    or the operation changed, an instruction appended (reading the last one) or the last removed."""
    code = list(program.code)
    choices = ["append"] if not code else ["replace", "argument", "operation", "append", "remove"]
    if len(code) >= length:
        choices.remove("append")
    kind = choices[int(rng.integers(len(choices)))]
    if kind == "append":
        op, a, b = _random_instruction(rng, NUM_INPUTS + len(code))
        last = NUM_INPUTS + len(code) - 1 if code else int(rng.integers(len(INPUTS)))
        code.append((op, last, b) if _OPS[op][1] == 2 else (op, last, last))
    elif kind == "remove":
        code.pop()
        if not code:
            return Program((), int(rng.integers(len(INPUTS))))
    else:
        i = int(rng.integers(len(code)))
        op, a, b = code[i]
        if kind == "replace":
            code[i] = _random_instruction(rng, NUM_INPUTS + i)
        elif kind == "argument":
            new = _random_instruction(rng, NUM_INPUTS + i)[1]  # a variable register before i
            if _OPS[op][1] == 1:
                code[i] = (op, new, new)
            else:
                code[i] = (op, new, b) if rng.random() < 0.5 else (op, a, new)
        else:
            same = UNARY if _OPS[op][1] == 1 else BINARY
            code[i] = (int(rng.choice(same)), a, b)
    return Program(tuple(code), NUM_INPUTS + len(code) - 1)


def _search(
    game: UpdateRule,
    work: Callable[[], object],
    budget: int | None,
    seconds: float,
    progress: Callable[[SearchResult, float], None] | None,
    should_stop: Callable[[], bool],
) -> SearchResult:
    """Calls ``work`` (which scores programs through the game) from an empty table until
    ``budget`` distinct programs were scored, ``seconds`` passed or ``should_stop()``; reports
    the best so far to ``progress(result, elapsed)`` after each call. Ctrl-C ends it with what
    was scored."""
    if budget is None and not math.isfinite(seconds):
        raise ValueError(f"{_ERROR_PREFIX}a search needs a budget of programs or of seconds")
    game.forget()
    clock = time.perf_counter()
    try:
        while (budget is None or len(game.table) < budget) and time.perf_counter() - clock < seconds:
            work()
            if progress is not None and game.table:
                progress(game.curve(budget), time.perf_counter() - clock)
            if should_stop():
                break
    except KeyboardInterrupt:
        pass
    if budget is not None:  # the last batch may overshoot: the search is its first ``budget`` programs
        for key in list(game.table)[budget:]:
            del game.table[key]
    return game.curve()


def random_search(
    game: UpdateRule,
    budget: int | None = None,
    *,
    seconds: float = math.inf,
    batch: int = 64,
    seed: int = 0,
    progress: Callable[[SearchResult, float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SearchResult:
    """Random programs (:func:`random_program`), ``batch`` at a time, until ``budget`` distinct
    programs were scored or ``seconds`` passed (see :func:`_search`)."""
    rng = np.random.default_rng(seed)
    work = lambda: game.score_programs([random_program(rng, game.length) for _ in range(batch)])
    return _search(game, work, budget, seconds, progress, should_stop)


def regularized_evolution(
    game: UpdateRule,
    budget: int | None = None,
    *,
    seconds: float = math.inf,
    population: int = 100,
    tournament: int = 10,
    batch: int = 32,
    seed: int = 0,
    progress: Callable[[SearchResult, float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SearchResult:
    """Regularized evolution (Real et al. 2019, the method of AutoML-Zero; Lion's search is
    its close relative): a population of random programs; then, ``batch`` children at a time,
    each the mutation (:func:`mutate`) of the best of ``tournament`` members drawn at random;
    children join, the oldest leave. Until ``budget`` distinct programs were scored or
    ``seconds`` passed (see :func:`_search`)."""
    rng = np.random.default_rng(seed)
    members: list[tuple[Program, float]] = []

    def work() -> None:
        if len(members) < population:
            batch_ = [random_program(rng, game.length) for _ in range(batch)]
        else:
            batch_ = []
            for _ in range(batch):
                drawn = rng.choice(len(members), size=tournament, replace=False)
                parent = max((members[int(k)] for k in drawn), key=lambda m: m[1])[0]
                batch_.append(mutate(rng, parent, game.length))
        scores = game.score_programs(batch_)
        members.extend(zip(batch_, (float(x) for x in scores), strict=True))
        del members[: max(0, len(members) - population)]

    return _search(game, work, budget, seconds, progress, should_stop)


def discover(
    game: UpdateRule,
    config: gamify.TrainConfig,
    budget: int | None = None,
    *,
    seconds: float = math.inf,
    progress: Callable[[SearchResult, float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SearchResult:
    """gamify's own search: training iterations (Gumbel MCTS self-play with the policy-value
    network, learning from it) until ``budget`` distinct programs were scored, every program
    a simulation finishes counted. ``config.learner.learning_rate = 0`` keeps the network at
    its initial weights (the ablation); ``network=NetworkConfig(torso="uniform")`` drops it."""
    trainer = gamify.Trainer(game, config)
    state = [trainer.init()]

    def work() -> None:
        state[0] = trainer.iterate(state[0])[0]

    return _search(game, work, budget, seconds, progress, should_stop)


SEARCHES = ("gamify", "frozen", "evolution", "random")


def run_search(
    game: UpdateRule,
    method: str,
    budget: int | None = None,
    *,
    seconds: float = math.inf,
    seed: int = 0,
    games: int = 16,
    simulations: int = 32,
    progress: Callable[[SearchResult, float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SearchResult:
    """One search by name, as the CLI and the benchmarks run it: ``gamify`` (:func:`discover`
    with ``games`` self-play games per iteration, ``simulations`` per move, a 64-wide network
    learning at the learner's default rate), ``frozen`` (the same, learning rate 0), ``evolution``
    (:func:`regularized_evolution`) or ``random`` (:func:`random_search`)."""
    common = {"seconds": seconds, "seed": seed, "progress": progress, "should_stop": should_stop}
    if method == "random":
        return random_search(game, budget, **common)
    if method == "evolution":
        return regularized_evolution(game, budget, **common)
    if method not in SEARCHES:
        raise ValueError(f"{_ERROR_PREFIX}unknown search {method!r}: one of {', '.join(SEARCHES)}")
    config = gamify.TrainConfig(
        seed=seed,
        games_per_iteration=games,
        eval_every=0,
        network=gamify.NetworkConfig(hidden_size=64),
        search=gamify.SearchConfig(num_simulations=simulations),
    )
    if method == "frozen":
        config = dataclasses.replace(config, learner=dataclasses.replace(config.learner, learning_rate=0.0))
    del common["seed"]
    return discover(game, config, budget, **common)

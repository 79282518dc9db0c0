"""Networks: torsos and heads, decoder parity between teacher forcing and sampling, value heads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gamify
from gamify.learner import flat_policy_loss, quantile_regression_loss
from gamify.networks import NetworkConfig, make_network, risk_seeking_value, token_log_probs

SIZES = (4, 6, 6)  # a non-cubic tensor shape, as for ⟨2,2,3⟩
CHANNELS = 3


def _inputs(batch=2, seed=0):
    obs = jax.random.normal(jax.random.PRNGKey(seed), (batch, *SIZES, CHANNELS))
    return obs, jnp.linspace(0.2, 1.0, batch)


@pytest.fixture(
    scope="module",
    params=[
        NetworkConfig(torso="resnet", hidden_size=16, head_hidden_size=16, token_embed_size=8, num_layers=1),
        NetworkConfig(
            torso="axial",
            hidden_size=16,
            head_hidden_size=16,
            token_embed_size=8,
            num_layers=1,
            num_quantiles=8,
        ),
    ],
    ids=["resnet", "axial-quantiles"],
)
def factored_network(request):
    network = make_network(gamify.FactoredActions((16, 16, 9)), config=request.param)
    obs, time_left = _inputs()
    return network, network.init(jax.random.PRNGKey(0), obs, time_left), request.param


def test_shapes(factored_network):
    network, params, config = factored_network
    obs, time_left = _inputs()
    value, context = network.evaluate(params, obs, time_left)
    quantiles, _ = network.outputs(params, obs, time_left)
    assert value.shape == (2,) and quantiles.shape == (2, config.num_quantiles)
    if config.torso == "axial":
        i, j, k = SIZES
        assert context.shape == (2, 1 + i * j + j * k + k * i, config.hidden_size)
    logits = network.token_logits(params, context, jnp.zeros((2, 3), jnp.int32))
    assert logits.shape == (2, 3, 16)
    assert np.all(np.asarray(logits[:, 2, 9:]) == np.finfo(np.float32).min)  # beyond the last vocab


def test_sampling_matches_teacher_forcing(factored_network):
    """log pi returned while sampling equals the teacher-forced log-probability of the same draws."""
    network, params, _ = factored_network
    obs, time_left = _inputs()
    _, context = network.evaluate(params, obs, time_left)
    tokens, log_pi, log_beta = network.sample(params, jax.random.PRNGKey(1), context, 5, 1.0)
    assert tokens.shape == (2, 5, 3)
    assert np.all(np.asarray(tokens[..., 2]) < 9)
    flat_context = jnp.repeat(context, 5, axis=0)
    logits = network.token_logits(params, flat_context, tokens.reshape(10, 3))
    np.testing.assert_allclose(
        np.asarray(token_log_probs(logits, tokens.reshape(10, 3))), log_pi.reshape(10), atol=1e-4
    )
    np.testing.assert_allclose(np.asarray(log_beta), np.asarray(log_pi), atol=1e-6)  # temperature 1


def test_tempered_sampling_reports_both_log_probs(factored_network):
    network, params, _ = factored_network
    obs, time_left = _inputs()
    _, context = network.evaluate(params, obs, time_left)
    _, log_pi, log_beta = network.sample(params, jax.random.PRNGKey(2), context, 64, 2.0)
    assert not np.allclose(np.asarray(log_pi), np.asarray(log_beta))


def test_axial_torso_rejects_flat_observations():
    network = make_network(gamify.FlatActions(3), config=NetworkConfig(torso="axial", hidden_size=8))
    with pytest.raises(ValueError, match=r"\[I, J, K, C\]"):
        network.init(jax.random.PRNGKey(0), jnp.zeros((1, 5)), jnp.ones(1))


def test_risk_seeking_value_averages_the_top_quantiles():
    quantiles = jnp.array([[4.0, 1.0, 3.0, 2.0], [0.0, 0.0, 0.0, 8.0]])
    np.testing.assert_allclose(np.asarray(risk_seeking_value(quantiles, level=0.5)), [3.5, 4.0])
    np.testing.assert_allclose(np.asarray(risk_seeking_value(quantiles[:, :1], level=0.75)), [4.0, 0.0])


def test_quantile_loss_is_minimised_at_the_quantiles():
    targets = jnp.arange(1.0, 101.0)  # uniform on 1..100
    loss = lambda q: quantile_regression_loss(jnp.broadcast_to(q, (100, 2)), targets).mean()
    grad = jax.jit(jax.grad(loss))
    q = jnp.zeros(2)
    for _ in range(3000):
        q = q - 0.5 * grad(q)
    # Levels 1/4 and 3/4 of 1..100.
    np.testing.assert_allclose(np.asarray(q), [25.5, 75.5], atol=1.0)
    np.testing.assert_allclose(
        np.asarray(quantile_regression_loss(jnp.array([[1.0]]), jnp.array([3.0]))), [4.0]
    )  # one quantile: squared error


def test_sparse_flat_targets_give_the_dense_targets_gradient():
    """A flat target kept as K visited actions' weights, the rest of its mass spread over the
    other actions like the policy (as Gumbel MuZero's improved policy is), trains exactly as
    the dense target: the gradients with respect to the logits are equal."""
    from gamify.types import Example

    rng = np.random.default_rng(0)
    num_actions, slots = 12, 4
    logits = jnp.asarray(rng.normal(size=(3, num_actions)), jnp.float32)
    index = np.stack([rng.choice(num_actions, slots, replace=False) for _ in range(3)])
    weights = rng.uniform(0.05, 0.2, (3, slots)).astype(np.float32)
    weights[1, 3] = 0.0  # an unused slot
    weights[2] = weights[2] / weights[2].sum()  # no mass left for the other actions
    batch = Example(None, None, jnp.asarray(weights), jnp.asarray(index[..., None], jnp.int32), None)

    def dense_target(logits):
        probs = np.asarray(jax.nn.softmax(logits))
        target = np.zeros_like(probs)
        for row in range(3):
            used = index[row][weights[row] > 0]
            target[row, used] = weights[row][weights[row] > 0]
            others = np.setdiff1d(np.arange(num_actions), used)
            target[row, others] = (1 - weights[row].sum()) * probs[row, others] / probs[row, others].sum()
        return jnp.asarray(target)

    target = dense_target(logits)
    dense = jax.grad(lambda z: -jnp.sum(target * jax.nn.log_softmax(z)))(logits)
    sparse = jax.grad(lambda z: flat_policy_loss(jax.nn.log_softmax(z), batch).sum())(logits)
    np.testing.assert_allclose(sparse, dense, atol=1e-6)


@pytest.mark.parametrize("rate", [0.0, 1e-2])
def test_learning_rate_zero_freezes_the_network(rate):
    """``gamify search --network frozen`` (the ablation) is learning rate 0: no weight moves."""
    from gamify.learner import LearnerConfig, make_optimizer, make_update
    from gamify.types import Example

    network = make_network(gamify.FlatActions(5), config=NetworkConfig(hidden_size=8, head_hidden_size=8))
    obs = jnp.ones((4, 3))
    params = network.init(jax.random.PRNGKey(0), obs, jnp.ones(4))
    config = LearnerConfig(learning_rate=rate)
    optimizer = make_optimizer(config=config)
    batch = Example(
        obs, jnp.ones(4), jnp.full((4, 2), 0.5), jnp.tile(jnp.array([[1], [3]]), (4, 1, 1)), jnp.ones(4)
    )
    update = jax.jit(make_update(network, optimizer, config=config))
    new, _, _ = update(params, optimizer.init(params), batch)
    same = all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(new), strict=True)
    )
    assert same == (rate == 0.0)


def test_uniform_network_is_uniform_and_has_no_parameters():
    space = gamify.FactoredActions((3, 5))
    network = make_network(space, config=NetworkConfig(torso="uniform", num_quantiles=4))
    obs, time_left = jnp.ones((2, 6)), jnp.ones((2,))
    params = network.init(jax.random.PRNGKey(0), obs, time_left)
    assert jax.tree.leaves(params) == []
    value, context = network.evaluate(params, obs, time_left)
    np.testing.assert_array_equal(value, 0.0)
    tokens, log_pi, log_beta = network.sample(params, jax.random.PRNGKey(1), context, 4000, 1.0)
    tokens = np.asarray(tokens)
    assert tokens.shape == (2, 4000, 2) and (tokens[..., 0] < 3).all() and (tokens[..., 1] < 5).all()
    assert np.bincount(tokens[..., 1].ravel(), minlength=5).min() > 1400  # ~1600 each of 5
    np.testing.assert_allclose(log_pi, -np.log(15.0), rtol=1e-6)
    np.testing.assert_allclose(log_beta, log_pi)
    logits = network.token_logits(params, context, jnp.asarray(tokens[:, 0]))
    np.testing.assert_allclose(token_log_probs(logits, jnp.asarray(tokens[:, 0])), -np.log(15.0), rtol=1e-6)
    flat = make_network(gamify.FlatActions(7), config=NetworkConfig(torso="uniform"))
    _, logits = flat.evaluate({}, obs, time_left)
    assert logits.shape == (2, 7) and not np.asarray(logits).any()

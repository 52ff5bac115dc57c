"""The physics-informed FWI solver: its velocity parametrisation, its wave residual and a short inversion."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity.problems.seismic_2d import VELOCITY_RANGE, SeismicFWI2D
from parity.solvers.base import Budget, Evaluator
from parity.solvers.seismic.pinn_fwi import PINNInversion, node_points, velocity_network, wave_residual

SPACING = 0.01


def _prior(shape: tuple[int, int] = (12, 9)) -> np.ndarray:
    """A depth profile spanning almost the whole range, its ends pinned at the bounds."""
    profile = np.linspace(VELOCITY_RANGE[0], VELOCITY_RANGE[1], shape[1])
    return np.tile(profile, (shape[0], 1))


def test_velocity_starts_at_the_prior_and_stays_in_range() -> None:
    prior = _prior()
    c_net = velocity_network(prior, SPACING, width=16, depth=2, seed=3)
    nodes = jnp.asarray(node_points(prior.shape, SPACING))
    start = np.asarray(c_net(nodes)).reshape(prior.shape)
    interior = (prior > VELOCITY_RANGE[0]) & (prior < VELOCITY_RANGE[1])
    np.testing.assert_allclose(start[interior], prior[interior], rtol=1e-5)
    np.testing.assert_allclose(start[~interior], prior[~interior], atol=2e-3)  # the logit's floor at the bounds
    # between nodes the start interpolates the prior's logit linearly: between the neighbouring nodes' values
    mid = float(c_net(jnp.asarray([[0.035, 0.045]]))[0])
    assert prior[3, 4] + 0.1 < mid < prior[3, 5] - 0.1

    rng = np.random.default_rng(0)
    for _ in range(5):  # arbitrary, large weights: still inside the range, and no longer at the prior
        leaves, treedef = jax.tree.flatten(c_net.mlp)
        wild = jax.tree.unflatten(treedef, [jnp.asarray(rng.normal(0, 20, leaf.shape), jnp.float32) for leaf in leaves])
        moved = eqx.tree_at(lambda n: n.mlp, c_net, wild)
        points = jnp.asarray(rng.uniform(-0.05, 0.15, (500, 2)), jnp.float32)  # also outside the box
        c = np.asarray(moved(points))
        assert np.all(c >= VELOCITY_RANGE[0]) and np.all(c <= VELOCITY_RANGE[1])
        assert np.max(np.abs(np.asarray(moved(nodes)).reshape(prior.shape) - start)) > 0.1


def test_prior_logit_is_not_trained() -> None:
    c_net = velocity_network(_prior(), SPACING, width=8, depth=1, seed=0)
    grads = jax.grad(lambda n: jnp.sum(n(jnp.asarray([[0.03, 0.02], [0.05, 0.07]]))))(c_net)
    assert float(jnp.max(jnp.abs(grads.prior_logit))) == 0.0
    assert float(jnp.max(jnp.abs(grads.mlp.weights[-1]))) > 0.0


def test_wave_residual_vanishes_on_a_plane_wave_at_its_own_speed() -> None:
    """u = f(x cos a + z sin a - c t) + f(x - c t) solves u_tt / c^2 = lap u; at another speed it does not."""
    c0, angle = 2.5, 0.6

    def f(s: jax.Array) -> jax.Array:
        return jnp.exp(-((s - 0.1) / 0.05) ** 2)

    def u(p: jax.Array) -> jax.Array:  # two "shots": two plane waves
        x, z, t = p[:, 0], p[:, 1], p[:, 2]
        return jnp.stack([f(x * np.cos(angle) + z * np.sin(angle) - c0 * t), f(x - c0 * t)], axis=1)

    points = jnp.asarray(np.random.default_rng(1).uniform([0, 0, 0], [0.3, 0.3, 0.12], (400, 3)), jnp.float32)
    no_source = lambda p: jnp.zeros((p.shape[0], 2))  # noqa: E731
    right = np.asarray(wave_residual(u, lambda xz: jnp.full(xz.shape[0], c0), no_source, points))
    wrong = np.asarray(wave_residual(u, lambda xz: jnp.full(xz.shape[0], 1.1 * c0), no_source, points))
    size = np.max(np.abs(wrong))  # |u_tt| (1/c0^2 - 1/(1.1 c0)^2), of order 1/0.05^2 * 0.17 = 70
    assert size > 10.0
    assert np.max(np.abs(right)) < 1e-4 * size

    # the source enters with its sign: u = t^2 phi(x, z) solves the equation with s = 2 phi / c^2 - t^2 lap phi
    def phi(p: jax.Array) -> jax.Array:
        return jnp.sin(3 * p[:, 0]) * jnp.cos(2 * p[:, 1])

    def source(p: jax.Array) -> jax.Array:
        s = 2 * phi(p) / c0**2 + p[:, 2] ** 2 * 13 * phi(p)
        return jnp.stack([s, s], axis=1)

    separable = lambda p: jnp.stack([p[:, 2] ** 2 * phi(p)] * 2, axis=1)  # noqa: E731
    forced = np.asarray(wave_residual(separable, lambda xz: jnp.full(xz.shape[0], c0), source, points))
    assert np.max(np.abs(forced)) < 1e-4


def test_short_inversion_fits_the_data() -> None:
    problem = SeismicFWI2D(model_size=16, shots=2, receivers=16, frequency=15, duration=0.2, n_train=0, n_validation=1,
                           n_test=1, family="flat_layers")
    test = problem.dataset("test")
    evaluator = Evaluator(test.observations, test.truths)  # image metrics only: no Devito run per checkpoint
    solver = PINNInversion(width=32, depth=3, velocity_width=8, velocity_depth=2, n_collocation=256, n_data=256,
                           learning_rate=3e-3, velocity_delay=0.8, checkpoints=3)
    calls = []
    result = solver.solve(problem, Budget(steps=600), 0, evaluator, lambda done, total, post: calls.append((done, total)))
    assert result.status == "ok", result.message
    assert [c.step for c in result.trace] == [0, 200, 400, 600]
    assert calls[-1] == (600, 600)
    # the first checkpoint is the prior itself
    prior_error = np.linalg.norm(problem.prior_model() - test.truths[0]) / np.linalg.norm(test.truths[0])
    assert result.trace[0].metrics["rel_l2"] == pytest.approx(prior_error, rel=1e-5)
    # the wavefield network learns the records: the data term, O(1) at the start, falls by half
    assert 0.5 < result.info["data_loss_initial"] < 2.0
    assert result.info["data_loss_last_chunk"] < 0.5 * result.info["data_loss_initial"]
    assert result.trace[0].details["data_loss"] == result.info["data_loss_initial"]
    for point in result.trace:
        assert all(np.isfinite(v) for v in point.metrics.values())
    walls = [c.wall_s for c in result.trace]
    assert walls == sorted(walls) and walls[-1] == pytest.approx(result.timings["reconstruction_s"])
    velocity = result.predict(test.observations)
    assert velocity.shape == (1, 16, 16) and velocity.dtype == np.float64
    assert np.all((velocity >= VELOCITY_RANGE[0]) & (velocity <= VELOCITY_RANGE[1]))
    with pytest.raises(ValueError):
        result.predict(test.observations + 1.0)

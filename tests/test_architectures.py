"""The PINN architectures: Fourier features, weight factorisation, modified MLP and PirateNet."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity.solvers.physics_informed.architectures import ARCHITECTURES, Dense, Embedded, FourierFeatures, ModifiedMLP, PirateNet, build_network
from parity.solvers.physics_informed.networks import StackedMLP


def points(n_nets: int, n_in: int, n: int = 9, seed: int = 0) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n_nets, n, n_in)), dtype=jnp.float32)


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_fourier_matrix_has_the_requested_scale(scale: float) -> None:
    features = FourierFeatures(1, 2, 4096, scale, seed=0)
    assert features.B.shape == (1, 2, 4096) and features.scale == scale
    assert abs(float(jnp.std(features.B)) / scale - 1) < 0.1
    assert abs(float(jnp.mean(features.B))) < 0.1 * scale


def test_fourier_features_are_bounded_and_frozen() -> None:
    features = FourierFeatures(3, 2, 16, 5.0, seed=1)
    y = features(points(3, 2))
    assert y.shape == (3, 9, 32)
    assert float(jnp.max(jnp.abs(y))) <= 1.0
    np.testing.assert_allclose(y[..., :16] ** 2 + y[..., 16:] ** 2, 1.0, rtol=1e-5)
    net = build_network("mlp", 3, 2, 8, 2, 1, jnp.tanh, seed=1, fourier=(5.0, 16))
    assert isinstance(net, Embedded)
    grads = eqx.filter_grad(lambda m: jnp.sum(m(points(3, 2))))(net)
    assert not np.any(grads.embedding.B)  # exactly zero: the stop_gradient
    assert np.any(grads.network.weights[0])  # while the network behind it trains


def test_fourier_draws_leave_network_draws_alone() -> None:
    plain = build_network("mlp", 1, 2, 8, 2, 1, jnp.tanh, seed=4)
    embedded = build_network("mlp", 1, 16, 8, 2, 1, jnp.tanh, seed=4)
    with_features = build_network("mlp", 1, 2, 8, 2, 1, jnp.tanh, seed=4, fourier=(1.0, 8))
    assert isinstance(with_features, Embedded)
    assert eqx.tree_equal(with_features.network, embedded)
    assert eqx.tree_equal(plain, build_network("mlp", 1, 2, 8, 2, 1, jnp.tanh, seed=4))
    np.testing.assert_array_equal(with_features.embedding.B, np.random.default_rng([4, 2]).normal(0.0, 1.0, (1, 2, 8)).astype(np.float32))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_factorised_network_starts_equal_to_the_plain_one(architecture: str) -> None:
    x = points(2, 3)
    plain = build_network(architecture, 2, 3, 24, 6, 2, jnp.tanh, seed=3, fourier=(2.0, 12))
    factorised = build_network(architecture, 2, 3, 24, 6, 2, jnp.tanh, seed=3, fourier=(2.0, 12), factorisation=(1.0, 0.1))
    assert len(jax.tree.leaves(factorised)) > len(jax.tree.leaves(plain))
    if architecture == "pirate":  # open the gates so the blocks' layers count too
        plain, factorised = (eqx.tree_at(lambda n: [b.alpha for b in n.network.blocks], m, replace_fn=lambda a: a + 0.5) for m in (plain, factorised))
    np.testing.assert_allclose(factorised(x), plain(x), rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain(x), build_network(architecture, 2, 3, 24, 6, 2, jnp.tanh, seed=4, fourier=(2.0, 12))(x))


@pytest.mark.parametrize("mean, std", [(1.0, 0.1), (0.5, 0.3)])
def test_factorisation_scales_have_the_requested_distribution(mean: float, std: float) -> None:
    plain = StackedMLP(1, (2, 4096, 1), jnp.tanh, seed=0)
    factorised = StackedMLP(1, (2, 4096, 1), jnp.tanh, seed=0, factorisation=(mean, std))
    assert factorised.log_scales is not None
    s = factorised.log_scales[0]
    assert s.shape == (1, 1, 4096)
    assert abs(float(jnp.mean(s)) - mean) < 0.1 * std
    assert abs(float(jnp.std(s)) / std - 1) < 0.1
    np.testing.assert_allclose(jnp.exp(s) * factorised.weights[0], plain.weights[0], rtol=1e-6)
    assert plain.log_scales is None


def test_factorised_scales_and_directions_both_train() -> None:
    net = StackedMLP(2, (2, 8, 8, 1), jnp.tanh, seed=0, factorisation=(1.0, 0.1))
    grads = eqx.filter_grad(lambda m: jnp.sum(m(points(2, 2)) ** 2))(net)
    assert all(np.any(g) for g in grads.log_scales) and all(np.any(g) for g in grads.weights)


def test_modified_mlp_gates_every_hidden_layer() -> None:
    net = ModifiedMLP(2, 3, 8, 2, 1, jnp.tanh, seed=5)
    x = points(2, 3)

    def layer(d: Dense, h: jax.Array) -> jax.Array:
        return jnp.einsum("spi,sio->spo", h, d.weight) + d.bias

    u, v = jnp.tanh(layer(net.encoder_u, x)), jnp.tanh(layer(net.encoder_v, x))
    h = x
    for d in net.hidden:
        z = jnp.tanh(layer(d, h))
        h = (1 - z) * u + z * v
    np.testing.assert_allclose(net(x), layer(net.output, h), rtol=1e-5, atol=1e-6)
    # The backbone is drawn first, as the plain MLP of the same seed is.
    mlp = StackedMLP(2, (3, 8, 8, 1), jnp.tanh, seed=5)
    assert all(np.array_equal(d.weight, w) for d, w in zip((*net.hidden, net.output), mlp.weights))


@pytest.mark.parametrize("n_in", [4, 16])
def test_pirate_net_starts_affine_in_its_embedding(n_in: int) -> None:
    net = PirateNet(2, n_in, 16, 6, 3, jnp.tanh, seed=2)
    assert len(net.blocks) == 2 and (net.projection is None) == (n_in == 16)
    x1, x2 = points(2, n_in, seed=1), points(2, n_in, seed=2)
    h = x1 if net.projection is None else net.projection(x1)
    np.testing.assert_allclose(net(x1), net.output(h), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net(0.3 * x1 + 0.7 * x2), 0.3 * net(x1) + 0.7 * net(x2), rtol=1e-4, atol=1e-5)
    grads = eqx.filter_grad(lambda m: jnp.sum(jnp.sin(3 * m(x1))))(net)
    assert all(np.all(np.abs(b.alpha) > 0) for b in grads.blocks)
    opened = eqx.tree_at(lambda m: m.blocks[0].alpha, net, jnp.ones_like(net.blocks[0].alpha))
    assert not np.allclose(opened(0.3 * x1 + 0.7 * x2), 0.3 * opened(x1) + 0.7 * opened(x2), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("depth, blocks", [(1, 1), (3, 1), (7, 2), (9, 3)])
def test_pirate_net_block_count(depth: int, blocks: int) -> None:
    assert len(PirateNet(1, 2, 4, depth, 1, jnp.tanh, seed=0).blocks) == blocks


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("n_nets", [1, 3])
@pytest.mark.parametrize("fourier", [None, (1.0, 5)])
def test_shapes(architecture: str, n_nets: int, fourier: tuple[float, int] | None) -> None:
    net = build_network(architecture, n_nets, 2, 12, 3, 4, jnp.tanh, seed=0, fourier=fourier, factorisation=(1.0, 0.1))
    y = net(points(n_nets, 2))
    assert y.shape == (n_nets, 9, 4) and bool(jnp.all(jnp.isfinite(y)))
    if n_nets > 1:
        assert not np.allclose(y[0], y[1])  # the stacked networks are independent draws


def test_plain_mlp_is_the_stacked_mlp() -> None:
    built = build_network("mlp", 3, 2, 10, 3, 1, jnp.tanh, seed=11)
    reference = StackedMLP(3, (2, 10, 10, 10, 1), jnp.tanh, seed=11)
    assert type(built) is StackedMLP and eqx.tree_equal(built, reference)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(built), jax.tree.leaves(reference), strict=True))


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'resnet'.*mlp, modified_mlp, pirate"):
        build_network("resnet", 1, 2, 8, 2, 1, jnp.tanh, seed=0)

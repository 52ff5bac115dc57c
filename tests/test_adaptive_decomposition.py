"""Adaptive decompositions (issue 31): windows split where the residual concentrates, and nothing lost by a split."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from parity.knobs import ParameterError
from parity.problems import MultiScale1D
from parity.problems.derivatives import partial
from parity.solvers import FBPINN, Budget, Evaluator
from parity.solvers.physics_informed.adaptive_decomposition import inherited, partition_of_unity, refined, residual_energy
from parity.solvers.physics_informed.decomposition import Level
from parity.solvers.physics_informed.networks import ACTIVATIONS, StackedMLP


def silent(done: int, total: int, postfix: dict[str, float]) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class SharpLayer(MultiScale1D):
    """du/dx = sech^2((x - 0.5) / eps) / eps on [-1, 1], u(0) = 0: a tanh layer of width eps at x = 0.5."""

    eps: float = 0.02

    @property
    def residual_scale(self) -> float:
        return 1.0 / self.eps

    def residual(self, u, x):
        _, du = partial(u, x, 0)
        return du - 1.0 / (self.eps * jnp.cosh((x - 0.5) / self.eps) ** 2)

    def ansatz(self, x, raw):
        return x * raw

    def reference(self, x):
        return np.tanh((x - 0.5) / self.eps) - np.tanh(-0.5 / self.eps)


@pytest.mark.parametrize("dims", [1, 2])
def test_a_split_halves_the_chosen_windows_and_keeps_the_rest(dims: int) -> None:
    level = Level.regular(np.zeros(dims), np.ones(dims), 4, 1.9)
    energy = np.zeros(level.n_subdomains)
    energy[[1, 3]] = [5.0, 2.0]
    new, parents = refined(level, energy, 2 / level.n_subdomains, 1.9)
    assert new.n_subdomains == level.n_subdomains + 2 * (2**dims - 1)
    for parent in (1, 3):
        children = np.flatnonzero(parents == parent)
        assert len(children) == 2**dims
        np.testing.assert_allclose(new.half_widths[children], np.broadcast_to(level.half_widths[parent] / 2, (2**dims, dims)))
        np.testing.assert_allclose(new.centres[children].mean(axis=0), level.centres[parent], atol=1e-12)
    kept = [p for p in range(level.n_subdomains) if p not in (1, 3)]
    np.testing.assert_allclose(new.centres[np.isin(parents, kept)], level.centres[kept])
    x = np.random.default_rng(0).uniform(0, 1, (500, dims))
    np.testing.assert_allclose(partition_of_unity(new, x).sum(axis=0), 1.0)


def test_a_child_network_computes_its_parents_function() -> None:
    level = Level.regular(np.array([-1.0]), np.array([1.0]), 3, 1.9)
    net = StackedMLP(3, (1, 8, 8, 1), ACTIVATIONS["tanh"], seed=0, factorisation=(0.5, 0.1))
    new, parents = refined(level, np.array([0.0, 1.0, 0.0]), 1 / 3, 1.9)
    children = inherited(net, parents, level, new)
    x = np.linspace(-1, 1, 101)[:, None]
    for child, parent in enumerate(parents):
        local_child = (x - new.centres[child]) / new.half_widths[child]
        local_parent = (x - level.centres[parent]) / level.half_widths[parent]
        ours = np.asarray(children(jnp.asarray(np.broadcast_to(local_child, (new.n_subdomains, *x.shape)), jnp.float32)))[child]
        theirs = np.asarray(net(jnp.asarray(np.broadcast_to(local_parent, (3, *x.shape)), jnp.float32)))[parent]
        np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_residual_energy_is_each_windows_share_of_the_squared_residual() -> None:
    level = Level.regular(np.zeros(1), np.ones(1), 5, 1.9)
    x = np.linspace(0, 1, 400)[:, None]
    r2 = np.where(np.abs(x[:, 0] - 0.9) < 0.02, 1.0, 0.0)
    energy = residual_energy(level, x, r2)
    assert energy.sum() == pytest.approx(r2.sum())
    assert int(np.argmax(energy)) == 4


def test_refinement_finds_a_sharp_layer_over_seeds() -> None:
    """Two splits of one window each on 8 subdomains: every split lands by the layer (within one
    parent spacing, a quarter of the domain's subdomains) in each of three seeds, and the record
    keeps the final decomposition."""
    problem = SharpLayer(half_width=1.0)
    x = problem.test_points()
    evaluator = Evaluator(x, problem.reference(x))
    solver = FBPINN(levels=(8,), width=8, n_collocation=800, adapt_rounds=2, adapt_fraction=0.125, steps_per_dispatch=100)
    for seed in range(3):
        result = solver.solve(problem, Budget(steps=1200), seed, evaluator, silent)
        centres = np.array(result.info["decomposition"]["centres"])[:, 0]
        widths = np.array(result.info["decomposition"]["half_widths"])[:, 0]
        assert result.status == "ok" and len(centres) == 10
        split = centres[widths < widths.max() - 1e-12]
        assert len(split) >= 3 and np.all(np.abs(split - 0.5) < 0.25), (seed, split)
        assert result.trace[-1].step == 1200 and np.all(np.diff([p.wall_s for p in result.trace]) >= 0)


def test_adaptivity_refuses_architectures_it_cannot_split(problem: MultiScale1D, evaluator: Evaluator) -> None:
    with pytest.raises(ParameterError, match="splits plain MLPs; drop the ingredients"):
        FBPINN(levels=(4,), adapt_rounds=1, add=("fourier",)).solve(problem, Budget(steps=10), 0, evaluator, silent)
    with pytest.raises(ParameterError, match="adapt_fraction"):
        FBPINN(adapt_fraction=0.0)

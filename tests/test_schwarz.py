"""Schwarz-preconditioned L-BFGS (issue 31): local solves stay local, precondition, and are counted.

The quadratic test is the case the method is for (and an FBPINN's loss resembles): a
coupled operator whose blocks of unknowns live on scales two decades apart, split into
overlapping blocks. Plain L-BFGS needs hundreds of iterations; block solves followed by a
global L-BFGS step need tens. It is deterministic (no
training), so it holds on any processor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from parity.knobs import ParameterError
from parity.problems import MultiScale1D
from parity.solvers import FBPINN, PINN, Budget, Evaluator
from parity.solvers.physics_informed.costs import StepCost
from parity.solvers.physics_informed.fbpinn import layout_weights
from parity.solvers.physics_informed.fbpinn_schwarz import SubdomainSpace, colouring
from parity.solvers.physics_informed.layerwise import layer_groups
from parity.solvers.physics_informed.schwarz import SchwarzLBFGS, lbfgs_steps


def silent(done: int, total: int, postfix: dict[str, float]) -> None:
    return None


# --- the FBPINN's subdomain spaces -------------------------------------------------------


@pytest.fixture(scope="module")
def small_fbpinn() -> tuple[MultiScale1D, FBPINN, object, SubdomainSpace, np.ndarray]:
    problem = MultiScale1D(omega2=4.0)
    solver = FBPINN(levels=(1, 6), width=8, n_collocation=300, optimiser="schwarz_additive", coarse=True)
    task = solver.training_task(problem, 0, problem.test_points())
    assert isinstance(task.optimiser, SchwarzLBFGS)
    space = task.optimiser.space
    assert isinstance(space, SubdomainSpace)
    return problem, solver, task, space, problem.collocation_points(300)


def test_a_local_step_changes_only_its_subdomain(small_fbpinn) -> None:
    _, _, task, space, _ = small_fbpinn
    params, static, _ = task.initial_state()
    objective = lambda p: task.loss_fn(eqx.combine(p, static), task.data)  # noqa: E731
    corrections, cost = space.solve(params, objective, [2], steps=3)
    moved = space.apply(params, corrections, [2], jnp.ones(1))
    for level, (before, after) in enumerate(zip(params, moved)):
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)):
            changed = np.flatnonzero(np.any(np.asarray(a != b).reshape(a.shape[0], -1), axis=1))
            assert changed.tolist() == ([int(space.rows[2])] if level == space.finest else [])
    assert float(cost.fine_gradients) == pytest.approx(float(cost.critical_local_gradients))  # one member: its own work
    assert float(cost.fine_gradients) < float(cost.critical_local_gradients) / space.share[2] + 1e-3  # evaluations x its share


def test_a_local_loss_is_the_global_loss_on_its_window_points(small_fbpinn) -> None:
    """Its value is the global model's squared residual over the window's points only (the
    global loss with every other point weighted 0), and its gradient is the global gradient's
    block of that subdomain."""
    problem, solver, task, space, x_train = small_fbpinn
    params, static, _ = task.initial_state()
    j = 3
    inside = solver.partition(problem, 1).levels[space.finest].support(x_train)[j]
    assert 0 < inside.sum() < len(x_train) / 2
    window_only = task.data._replace(weights=jnp.asarray(layout_weights(solver.partition(problem, 1).layout(x_train), inside.astype(np.float32))))
    restricted = float(task.loss_fn(eqx.combine(params, static), window_only)) * inside.sum() / len(x_train)
    table = jax.tree.map(lambda a: a[j], space.tables)
    theta = jax.tree.map(lambda a: a[space.rows[j]], params[space.finest])
    assert float(space.local_loss(theta, params, table)) == pytest.approx(restricted, rel=1e-4)

    global_grad = jax.grad(lambda p: task.loss_fn(eqx.combine(p, static), task.data))(params)[space.finest]
    local_grad = jax.grad(lambda t: space.local_loss(t, params, table))(theta)
    for g, l in zip(jax.tree.leaves(global_grad), jax.tree.leaves(local_grad)):
        np.testing.assert_allclose(np.asarray(g)[space.rows[j]], np.asarray(l), rtol=2e-3, atol=1e-6)


def test_colours_never_put_overlapping_windows_together() -> None:
    from parity.solvers.physics_informed.decomposition import Level

    for level in (Level.regular(np.zeros(1), np.ones(1), 9, 1.9), Level.regular(np.zeros(2), np.ones(2), 5, 1.9)):
        colours = colouring(level)
        assert sorted(j for c in colours for j in c) == list(range(level.n_subdomains))
        for colour in colours:
            support = level.support(np.random.default_rng(0).uniform(0, 1, (4000, level.centres.shape[1])))[colour]
            assert support.sum(axis=0).max() <= 1
        assert len(colours) == 2 ** level.centres.shape[1]


# --- preconditioning on a quadratic ------------------------------------------------------


def block_scaled_quadratic(n: int = 120, count: int = 8, decades: float = 2.0) -> tuple[jax.Array, jax.Array]:
    """A = S (T + I/2) S: a 1D Laplacian T made definite, its unknowns scaled by a factor per block
    spread over ``decades`` (condition number about 1e4), and a right-hand side."""
    rng = np.random.default_rng(1)
    scale = np.repeat(10.0 ** rng.uniform(0, decades, count), n // count)
    t = np.diag(np.full(n, 2.5)) - np.diag(np.ones(n - 1), 1) - np.diag(np.ones(n - 1), -1)
    return jnp.asarray(scale[:, None] * t * scale[None, :] / scale.max() ** 2, jnp.float32), jnp.asarray(rng.normal(size=n), jnp.float32)


@dataclasses.dataclass(frozen=True)
class BlockSpace:
    """Overlapping blocks of a vector's entries as local spaces (each local problem is the whole quadratic)."""

    blocks: tuple[tuple[int, ...], ...]
    poisoned: int | None = None
    """A block whose local objective is NaN (a diverging local solve)."""

    @property
    def colours(self) -> Sequence[Sequence[int]]:
        return [[b] for b in range(0, len(self.blocks), 2)] + [[b] for b in range(1, len(self.blocks), 2)]

    def solve(self, params, objective, members, steps):
        corrections, cost = [], StepCost.zero()
        for b in members:
            index = jnp.asarray(self.blocks[b])
            poison = jnp.nan if b == self.poisoned else 0.0
            x, evaluations, _, _, diverged = lbfgs_steps(lambda v, i=index: objective(params.at[i].set(v)) + poison, params[index], steps)
            corrections.append(x - params[index])
            cost = cost + StepCost(evaluations * len(index) / params.size, jnp.zeros(()), jnp.zeros(()), diverged.astype(jnp.float32))
        return corrections, cost

    def apply(self, params, corrections, members, weights):
        share = np.zeros(params.size)
        for b in members:
            share[list(self.blocks[b])] += 1
        for w, b, c in zip(weights, members, corrections):
            index = np.asarray(self.blocks[b])
            params = params.at[index].add(w * c / jnp.asarray(share[index], jnp.float32))
        return params

    def average_weights(self, members):
        return jnp.ones(len(members), jnp.float32)


def blocks(n: int, count: int, overlap: int) -> tuple[tuple[int, ...], ...]:
    edges = np.linspace(0, n, count + 1).astype(int)
    return tuple(tuple(range(max(0, lo - overlap), min(n, hi + overlap))) for lo, hi in zip(edges[:-1], edges[1:]))


def iterations_to(tolerance: float, losses: np.ndarray, floor: float) -> int:
    reached = np.flatnonzero(losses - floor <= tolerance * abs(floor))
    return int(reached[0]) + 1 if reached.size else len(losses) + 1


@pytest.mark.parametrize("variant", ["additive", "multiplicative"])
def test_preconditioned_iteration_needs_fewer_outer_iterations_than_lbfgs(variant: str) -> None:
    a, b = block_scaled_quadratic()
    objective = lambda x: 0.5 * x @ a @ x - b @ x  # noqa: E731
    floor = float(objective(jnp.linalg.solve(a, b)))
    x0 = jnp.zeros(b.size)
    budget = 200

    lbfgs = optax.lbfgs()
    plain_step = jax.jit(lambda x, s: _lbfgs_step(lbfgs, objective, x, s))
    x, state, plain = x0, lbfgs.init(x0), []
    for _ in range(budget):
        x, state, value = plain_step(x, state)
        plain.append(float(value))
    schwarz = SchwarzLBFGS(BlockSpace(blocks(b.size, 8, 2)), variant, local_steps=15)
    step = jax.jit(lambda x, s: schwarz.step(x, s, objective))
    x, state, losses = x0, schwarz.init(x0), []
    for _ in range(40):
        x, state, loss, _ = step(x, state)
        losses.append(float(loss))
    plain_count = iterations_to(1e-5, np.array(plain), floor)
    schwarz_count = iterations_to(1e-5, np.array(losses), floor)
    assert schwarz_count <= 25  # measured: 10 to 19
    assert schwarz_count * 5 < plain_count  # measured: plain L-BFGS above 200


def _lbfgs_step(optimiser, objective, x, state):
    value, grad = optax.value_and_grad_from_state(objective)(x, state=state)
    updates, state = optimiser.update(grad, state, x, value=value, grad=grad, value_fn=objective)
    x = optax.apply_updates(x, updates)
    return x, state, objective(x)


def test_a_diverged_local_solve_is_dropped_and_counted() -> None:
    a, b = block_scaled_quadratic(64)
    objective = lambda x: 0.5 * x @ a @ x - b @ x  # noqa: E731
    schwarz = SchwarzLBFGS(BlockSpace(blocks(b.size, 4, 2), poisoned=1), "additive", local_steps=5, combine="subspace")
    x, state = jnp.zeros(b.size), schwarz.init(jnp.zeros(b.size))
    before = float(objective(x))
    x, state, loss, cost = jax.jit(lambda x, s: schwarz.step(x, s, objective))(x, state)
    assert float(cost.local_failures) == 1.0
    assert np.isfinite(float(loss)) and float(loss) < before


# --- through the solvers -------------------------------------------------------------------


def test_costs_count_adam_steps_and_local_work(problem: MultiScale1D, evaluator: Evaluator) -> None:
    adam = FBPINN(levels=(6,), width=8, n_collocation=300, steps_per_dispatch=10).solve(problem, Budget(steps=20), 0, evaluator, silent)
    assert adam.info["costs"]["fine_gradients"] == adam.info["costs"]["global_evaluations"] == 20
    assert adam.trace[-1].details["fine_gradients"] == 20
    schwarz = FBPINN(levels=(6,), width=8, n_collocation=300, steps_per_dispatch=2, optimiser="schwarz_multiplicative", local_steps=3)
    result = schwarz.solve(problem, Budget(steps=2), 0, evaluator, silent)
    costs = result.info["costs"]
    assert result.status == "ok" and costs["local_failures"] == 0
    # two outer iterations, each with two colours of three subdomains taking >= 4 local evaluations
    assert costs["fine_gradients"] - costs["global_evaluations"] >= 2 * 4 * 0.9
    assert costs["critical_local_gradients"] < costs["fine_gradients"] - costs["global_evaluations"]
    assert result.info["seconds_per_gradient"] > 0


def test_layerwise_schwarz_trains_a_pinn() -> None:
    problem = MultiScale1D(omega2=2.0)
    x = problem.test_points()
    pinn = PINN(width=16, depth=2, n_collocation=200, optimiser="schwarz_additive", layer_groups=2, steps_per_dispatch=1)
    result = pinn.solve(problem, Budget(steps=4), 0, Evaluator(x, problem.reference(x)), silent)
    losses = np.array([c.loss for c in result.trace[1:]])
    assert result.status == "ok"
    assert np.all(np.diff(losses) <= 0) and losses[-1] < 0.9 * losses[0]  # the safeguards make every outer iteration a descent
    costs = result.info["costs"]
    assert costs["critical_local_gradients"] < costs["fine_gradients"] - costs["global_evaluations"]  # two groups side by side


# --- refusals ----------------------------------------------------------------------------


def test_layer_groups_are_refused_beyond_the_layers(problem: MultiScale1D) -> None:
    assert layer_groups(5, 2, 1) == ((0, 1, 2), (2, 3, 4))
    assert layer_groups(5, 5, 0) == tuple((i,) for i in range(5))
    with pytest.raises(ParameterError, match=r"layer_groups = 6 .* allowed: 1\.\.5"):
        layer_groups(5, 6, 0)
    with pytest.raises(ParameterError, match="layer_overlap = 3 .* allowed: 0"):
        layer_groups(4, 3, 3)
    with pytest.raises(ParameterError, match=r"allowed: 1\.\.3"):
        PINN(depth=2, optimiser="schwarz_additive", layer_groups=4).training_task(problem, 0, problem.test_points())


@pytest.mark.parametrize(
    ("solver", "match"),
    [
        (lambda: FBPINN(levels=(8,), optimiser="schwarz_additive", coarse=True), "needs a Schwarz optimiser .* and a multilevel"),
        (lambda: FBPINN(levels=(1, 8), coarse=True), "needs a Schwarz optimiser"),
        (lambda: FBPINN(optimiser="schwarz_additive", lbfgs_fraction=0.5), "lbfgs_fraction must be 0"),
        (lambda: PINN(optimiser="schwarz_multiplicative", time_stages=4), "time_stages must be 1"),
        (lambda: FBPINN(optimiser="schwarz_sideways"), "allowed: adam .* schwarz_additive"),
        (lambda: FBPINN(optimiser="schwarz_additive", combine="median"), "allowed: average | subspace"),
    ],
)
def test_bad_schwarz_settings_are_refused(solver, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        solver()


def test_schwarz_refuses_ingredients_it_cannot_minimise(problem: MultiScale1D) -> None:
    with pytest.raises(ParameterError, match="drop the ingredients"):
        PINN(optimiser="schwarz_additive", recipe="jaxpi").training_task(problem, 0, problem.test_points())
    with pytest.raises(ParameterError, match="needs the plain MLP"):
        PINN(optimiser="schwarz_additive", add=("modified_mlp",)).training_task(problem, 0, problem.test_points())

"""Each training ingredient's defining property (recipes.py, loss_terms.py, balancing.py, adaptive_sampling.py, optimisers.py)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity.knobs import ParameterError
from parity.problems import AcousticWave2D, Burgers1D
from parity.problems.lid_cavity_2d import LidDrivenCavity2D
from parity.solvers import PINN
from parity.solvers.physics_informed.adaptive_sampling import ResidualAdaptiveSampling
from parity.solvers.physics_informed.balancing import LossBalancing
from parity.solvers.physics_informed.loss_terms import LossTerms, causal_weights
from parity.solvers.physics_informed.optimisers import build_optimiser, learning_rate_schedule
from parity.solvers.physics_informed.pinn import point_classes
from parity.solvers.physics_informed.recipes import RECIPES
from parity.solvers.physics_informed.training import TrainingTask


def test_rad_puts_more_points_where_the_residual_is_large() -> None:
    """A residual 10x larger on the right half: with k = 1, c = 1 the density there is (10/5.5 + 1) / (1/5.5 + 1)
    = 2.38x the left's, so about 70 % of the points (not 50 %) fall on the right."""
    pool = np.random.default_rng(0).random((20_000, 2))
    sampler = ResidualAdaptiveSampling.from_points(pool[:2000], np.zeros(2000, int), pool, np.zeros(len(pool), int))
    residual = np.where(pool[:, 0] > 0.5, 10.0, 1.0)
    drawn = pool[sampler.draw(residual, np.random.default_rng(1))]
    assert len(drawn) == 2000 and len(np.unique(drawn, axis=0)) == 2000  # without replacement
    right = np.mean(drawn[:, 0] > 0.5)
    assert 0.66 < right < 0.75
    uniform = pool[sampler.draw(np.ones(len(pool)), np.random.default_rng(1))]
    assert abs(np.mean(uniform[:, 0] > 0.5) - 0.5) < 0.04


def test_rad_keeps_each_point_class_count() -> None:
    problem = AcousticWave2D(frequency=2.0)
    x, pool = problem.collocation_points(1000), problem.collocation_points(8000)
    classes = point_classes(problem, x)
    sampler = ResidualAdaptiveSampling.from_points(x, classes, pool, point_classes(problem, pool))
    residual = np.random.default_rng(0).random(len(pool)) ** 4
    drawn = pool[sampler.draw(residual, np.random.default_rng(2))]
    assert np.bincount(point_classes(problem, drawn)).tolist() == np.bincount(classes).tolist() == [0, 800, 200]  # interior, sides


def test_rad_resamples_a_grid_problem_whose_pool_is_not_a_multiple_of_the_set() -> None:
    """Square-grid problems return a full grid (8 x 529 asked, 66^2 = 4356 given): the pool's residual is
    still evaluated in set-sized chunks, and the new set keeps the old one's shape."""
    from parity.problems.helmholtz_2d import Helmholtz2D

    problem = Helmholtz2D(k=15.0)
    task = PINN(width=16, depth=2, n_collocation=500, recipe="jaxpi", rad_every=20).training_task(problem, 0, problem.test_points()[:10])
    assert task.data_schedule is not None
    first, later = task.data_schedule(0, 0.0, task.model), task.data_schedule(20, 0.2, task.model)
    assert later.x.shape == first.x.shape and not np.array_equal(np.asarray(later.x), np.asarray(first.x))

def test_rad_under_time_marching_draws_inside_the_window_and_weighs_only_it() -> None:
    """Redrawn points are weighted by the marching window, and the untrained residual ahead of the
    window does not pull the draw there: more of the new set lies inside the window than of the first."""
    problem = Burgers1D()
    task = PINN(width=16, depth=2, n_collocation=800, add=("rad",), rad_every=20, time_stages=4).training_task(problem, 0, problem.test_points()[:10])
    assert task.data_schedule is not None
    lower, upper = problem.bounds
    horizon = lower[problem.time_axis] + (upper[problem.time_axis] - lower[problem.time_axis]) / 4
    first, later = task.data_schedule(0, 0.0, task.model), task.data_schedule(20, 0.1, task.model)  # still the first stage
    for points in (first, later):
        inside = np.asarray(points.x)[:, problem.time_axis] <= horizon
        np.testing.assert_array_equal(np.asarray(points.weights), inside.astype(np.float32))
    share = [float(np.mean(np.asarray(points.weights))) for points in (first, later)]
    assert share[1] > share[0] + 0.15
    assert float(np.mean(np.asarray(task.data_schedule(20, 1.0, task.model).weights))) == 1.0  # marching over: every point


def test_causal_weights_rise_in_time_as_the_earlier_residual_falls() -> None:
    early = jnp.array([[1.0, 1.0, 1.0, 1.0]])
    later = jnp.array([[0.1, 0.05, 1.0, 1.0]])
    w_early, w_later = causal_weights(early, 1.0), causal_weights(later, 1.0)
    np.testing.assert_allclose(w_early, [[1.0, np.exp(-1), np.exp(-2), np.exp(-3)]], rtol=1e-6)
    assert float(w_early[0, 0]) == float(w_later[0, 0]) == 1.0
    assert np.all(np.diff(np.asarray(w_later[0])) <= 0)  # never more weight later than earlier
    assert np.all(np.asarray(w_later[0, 1:]) > np.asarray(w_early[0, 1:]))
    grad = jax.grad(lambda losses: jnp.sum(causal_weights(losses, 1.0)))(early)
    assert float(jnp.max(jnp.abs(grad))) == 0.0  # the weights are not trained


def test_term_losses_split_the_plain_mean_square_and_causal_chunks_follow_time() -> None:
    problem = LidDrivenCavity2D()
    x = problem.collocation_points(300)
    terms = LossTerms.for_problem(problem)
    assert terms.names == ("x-momentum", "y-momentum", "continuity")
    residual = jnp.asarray(np.random.default_rng(0).normal(size=(300, 3)), jnp.float32)
    losses = terms.losses(residual, jnp.ones(300), terms.tables(x))
    np.testing.assert_allclose(losses, np.mean(np.asarray(residual) ** 2, axis=0), rtol=1e-5)

    burgers = Burgers1D()
    causal = LossTerms.for_problem(burgers, chunks=4)
    points = burgers.collocation_points(400)
    chunk = np.argmax(causal.tables(points).chunks, axis=1)
    assert np.all(np.diff(chunk[np.argsort(points[:, 1])]) >= 0) and set(chunk) == {0, 1, 2, 3}



def test_the_lbfgs_finisher_minimises_a_fixed_objective_without_causal_weights() -> None:
    """Causal weights follow the residual at every evaluation, which a line search cannot follow: the
    finisher's loss is the mean of the chunks' losses (every weight 1), the first optimiser's is causal."""
    problem = Burgers1D()
    solver = PINN(width=16, depth=2, n_collocation=400, recipe="jaxpi", drop=("rad", "grad_norm"), causal_chunks=4, lbfgs_fraction=0.5)
    task = solver.training_task(problem, 0, problem.test_points()[:10])
    assert task.finisher_loss_fn is not None
    causal, settled = (np.asarray(fn(task.model, task.data)) for fn in (task.loss_fn, task.finisher_loss_fn))
    terms = LossTerms.for_problem(problem, chunks=4)
    residual = problem.residual(lambda x_: PINN.evaluate(problem, task.model, x_), task.data.x) / problem.residual_scale
    chunks = terms.tables(np.asarray(task.data.x)).chunks
    chunk_losses = np.einsum("nr,nk->k", np.asarray(residual) ** 2, chunks) / chunks.sum(0)
    np.testing.assert_allclose(settled, [np.mean(chunk_losses)], rtol=1e-4)
    assert float(causal[0]) < float(settled[0])  # later chunks held back while the earlier ones are unfitted
    assert PINN(width=16, depth=2, recipe="jaxpi", drop=("causal",)).training_task(problem, 0, problem.test_points()[:10]).finisher_loss_fn is None

def _flow_terms() -> tuple[TrainingTask, LidDrivenCavity2D]:
    problem = LidDrivenCavity2D()
    solver = PINN(width=16, depth=2, recipe="jaxpi")
    task = solver.training_task(problem, 0, problem.test_points()[:10])
    return task, problem


def test_grad_norm_weights_equalise_the_terms_gradient_norms() -> None:
    task, _ = _flow_terms()
    params, static = eqx.partition(task.model, eqx.is_inexact_array)
    per_term = lambda p: task.loss_fn(eqx.combine(p, static), task.data)
    balancing = LossBalancing("grad_norm", 3, momentum=0.0)
    norms = jax.jit(lambda p: balancing.statistics(per_term, p))(params)
    assert float(jnp.max(norms) / jnp.min(norms)) > 1.2  # the terms start unbalanced
    weights = balancing.update(balancing.initial(), norms)
    weighted = jax.jit(lambda p: balancing.statistics(lambda p_: weights * per_term(p_), p))(params)
    np.testing.assert_allclose(weighted, jnp.sum(norms), rtol=1e-4)  # each equals the sum of the raw norms


def test_ntk_probe_estimates_the_mean_kernel_diagonal() -> None:
    """||grad sum_i s_i r_i||^2 / n over random signs s averages to mean_i ||grad r_i||^2 (Hutchinson)."""
    task, problem = _flow_terms()
    params, static = eqx.partition(task.model, eqx.is_inexact_array)
    x = jnp.asarray(problem.collocation_points(40), jnp.float32)

    def continuity(p: object, points: jax.Array) -> jax.Array:
        model = eqx.combine(p, static)
        return problem.residual(lambda x_: PINN.evaluate(problem, model, x_), points)[:, 2]

    per_point = jax.jacrev(continuity)(params, x)
    exact = float(sum(jnp.sum(leaf.reshape(40, -1) ** 2) for leaf in jax.tree.leaves(per_point))) / 40
    signs = jnp.asarray(np.random.default_rng(0).choice([-1.0, 1.0], size=(400, 40)), jnp.float32)

    def estimate(s: jax.Array) -> jax.Array:
        gradient = jax.grad(lambda p: jnp.dot(s, continuity(p, x)) / jnp.sqrt(40.0))(params)
        return sum(jnp.sum(g**2) for g in jax.tree.leaves(gradient))

    assert abs(float(jnp.mean(jax.vmap(estimate)(signs))) / exact - 1) < 0.15


def test_learning_rate_warms_up_then_decays() -> None:
    rate = learning_rate_schedule(1e-3, warmup_steps=100, decay_steps=50, decay_rate=0.5)
    assert float(rate(0)) == 0.0 and float(rate(50)) == pytest.approx(5e-4)
    assert float(rate(100)) == pytest.approx(1e-3) and float(rate(200)) == pytest.approx(2.5e-4)
    assert learning_rate_schedule(1e-3) == 1e-3


def test_muon_orthogonalises_stacked_weight_updates() -> None:
    params = {"w": jnp.ones((2, 8, 4)) * 0.1, "b": jnp.zeros((2, 1, 4))}
    grads = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 4)), jnp.float32), "b": jnp.ones((2, 1, 4))}
    opt = build_optimiser("muon", 1.0)
    updates, _ = opt.update(grads, opt.init(params), params)
    singular = np.linalg.svd(np.asarray(updates["w"]), compute_uv=False)
    assert np.max(singular) / np.min(singular) < 2.0  # near-orthogonal per network; a raw Gaussian matrix is far from it
    with pytest.raises(ValueError, match="allowed: adam | muon"):
        build_optimiser("sgd", 1e-3)


def test_recipes_compose_and_bad_ingredients_are_named() -> None:
    wave, cavity = AcousticWave2D(), LidDrivenCavity2D()
    assert PINN(recipe="jaxpi").ingredients(wave) == RECIPES["jaxpi"]
    assert "causal" not in PINN(recipe="jaxpi").ingredients(cavity)  # steady: nothing to be causal in
    assert PINN(recipe="jaxpi", drop=("rad", "grad_norm"), add=("ntk",)).ingredients(wave) == (RECIPES["jaxpi"] - {"rad", "grad_norm"}) | {"ntk"}
    with pytest.raises(ParameterError, match="exclude each other"):
        PINN(recipe="jaxpi", add=("ntk",)).ingredients(wave)
    with pytest.raises(ParameterError, match="needs an evolution problem"):
        PINN(add=("causal",)).ingredients(cavity)
    with pytest.raises(ParameterError, match="allowed: fourier, modified_mlp"):
        PINN(drop=("dropout",))


def test_fbpinn_takes_the_recipe_except_adaptive_sampling() -> None:
    """Subdomain networks are stacks of the recipe's architecture; the term-wise loss runs in the sharded layout."""
    from parity.problems.kovasznay_2d import Kovasznay2D
    from parity.solvers import FBPINN, Budget
    from parity.solvers.physics_informed.architectures import Embedded, ModifiedMLP

    problem = Kovasznay2D()
    solver = FBPINN(levels=(2,), width=16, depth=2, n_collocation=600, recipe="jaxpi", drop=("rad",), balance_every=20)
    (net,) = solver.networks(problem, 0)
    assert isinstance(net, Embedded) and isinstance(net.network, ModifiedMLP) and net.embedding.B.shape == (4, 2, 8)
    result = solver.solve(problem, Budget(steps=60), 0, problem.evaluator(), lambda *_: None)
    assert result.status == "ok" and len(result.info["loss_weights"]) == 3
    assert result.trace[-1].metrics["rel_l2"] < result.trace[0].metrics["rel_l2"]
    with pytest.raises(ParameterError, match="adaptive sampling"):
        FBPINN(recipe="jaxpi").training_task(problem, 0, problem.test_points()[:5])


def test_the_recipe_beats_the_plain_pinn_at_equal_steps_on_a_multiscale_solution() -> None:
    """u = sin(x) + sin(15 x) on [-2 pi, 2 pi]: 15 periods' worth of detail that a plain tanh MLP's spectral
    bias leaves unlearnt in 1000 steps (error near 1, the smooth part only), and that Fourier features of a
    matching scale (15 rad per unit is 94 per scaled unit) make learnable. Every seed, with a 3x margin
    (measured: recipe 1e-2 to 2.4e-2, plain 0.87 to 1.0)."""
    from parity.problems import MultiScale1D
    from parity.solvers import Budget

    problem = MultiScale1D(omega2=15.0, n_test=1000)
    evaluator = problem.evaluator()

    def errors(**recipe: object) -> list[float]:
        solver = PINN(width=32, depth=2, n_collocation=400, learning_rate=3e-3, **recipe)
        runs = [solver.solve(problem, Budget(steps=1000), seed, evaluator, lambda *_: None) for seed in range(3)]
        return [run.trace[-1].metrics["rel_l2"] for run in runs]

    plain = errors()
    recipe = errors(recipe="jaxpi", fourier_scale=20.0, warmup_steps=100, decay_steps=200)
    assert max(recipe) < 0.1 and 3 * max(recipe) < min(plain)

"""Trainable FBPINN windows (issue 31): edges that move within the tables, cover every point, and train."""

from __future__ import annotations

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parity.knobs import ParameterError
from parity.problems import MultiScale1D, MultiScalePoisson2D
from parity.solvers import FBPINN, Budget, Evaluator
from parity.solvers.physics_informed.adaptive_decomposition import partition_of_unity
from parity.solvers.physics_informed.decomposition import Level
from parity.solvers.physics_informed.movable_windows import MovableWindows, moved_level, room_ratio, widest
from parity.solvers.physics_informed.networks import ACTIVATIONS, StackedMLP


def silent(done: int, total: int, postfix: dict[str, float]) -> None:
    return None


@pytest.mark.parametrize("problem", [MultiScale1D(), MultiScalePoisson2D(n_components=2)], ids=["1d", "2d"])
def test_untrained_edges_give_the_fixed_fbpinn(problem) -> None:
    """At raw edges 0 the windows are the regular ones: the same u, though the tables hold wider supports."""
    x = problem.test_points()[:500]
    fixed = FBPINN(levels=(1, 4), width=8, n_collocation=400)
    movable = FBPINN(levels=(1, 4), width=8, n_collocation=400, window_motion=0.7)
    ours, theirs = (solver.training_task(problem, 3, x) for solver in (movable, fixed))
    assert isinstance(ours.model[0], MovableWindows)
    np.testing.assert_allclose(np.asarray(ours.predict_test(ours.model)), np.asarray(theirs.predict_test(theirs.model)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dims", [1, 2])
def test_moved_windows_stay_inside_their_tables_and_cover_every_point(dims: int) -> None:
    """However far the raw edges go, each window keeps its own cell and stays inside the widest
    support its table was built for, so the windows still form a partition of unity."""
    motion, overlap = 0.9, 1.9
    regular = Level.regular(np.zeros(dims), np.ones(dims), 5, overlap)
    tables = widest(regular, room_ratio(motion, overlap))
    net = StackedMLP(regular.n_subdomains, (dims, 4, 1), ACTIVATIONS["tanh"], seed=0)
    rng = np.random.default_rng(0)
    spacing = 1.0 / 5
    for scale in (0.5, 3.0, 30.0):
        edges = jnp.asarray(rng.normal(0, scale, (regular.n_subdomains, dims, 2)), jnp.float32)
        moved = moved_level(tables, MovableWindows(net, edges, room_ratio(motion, overlap)))
        lower, upper = moved.centres - moved.half_widths, moved.centres + moved.half_widths
        assert np.all(lower >= tables.centres - tables.half_widths - 1e-6) and np.all(upper <= tables.centres + tables.half_widths + 1e-6)
        assert np.all(lower <= regular.centres - spacing / 2 + 1e-6) and np.all(upper >= regular.centres + spacing / 2 - 1e-6)
        x = rng.uniform(0, 1, (2000, dims))
        np.testing.assert_allclose(partition_of_unity(moved, x).sum(axis=0), 1.0)
    np.testing.assert_allclose(moved_level(tables, MovableWindows.around(net, regular.n_subdomains, dims, room_ratio(motion, overlap))).half_widths,
                               regular.half_widths, rtol=1e-6)


def test_training_moves_the_windows_and_the_record_keeps_them(problem: MultiScale1D, evaluator: Evaluator) -> None:
    """The edges get gradients: after training, in each of three seeds, the recorded windows have
    moved from the regular ones, by no more than the room allowed, and the loss fell."""
    solver = FBPINN(levels=(8,), width=8, n_collocation=400, window_motion=0.8, learning_rate=3e-3)
    regular = Level.regular(*[np.asarray(b) for b in problem.bounds], 8, solver.overlap)
    room = 0.8 * (solver.overlap - 1.0) * (regular.half_widths / solver.overlap)
    for seed in range(3):
        result = solver.solve(problem, Budget(steps=400), seed, evaluator, silent)
        centres = np.array(result.info["decomposition"]["centres"])
        half_widths = np.array(result.info["decomposition"]["half_widths"])
        lower_shift = np.abs(centres - half_widths - (regular.centres - regular.half_widths))
        upper_shift = np.abs(centres + half_widths - (regular.centres + regular.half_widths))
        assert result.status == "ok"
        assert max(lower_shift.max(), upper_shift.max()) > 1e-3 * room.max(), seed
        assert np.all(lower_shift <= room + 1e-6) and np.all(upper_shift <= room + 1e-6)
        assert result.trace[-1].loss < result.trace[1].loss


def test_trainable_windows_refuse_what_would_change_the_tables() -> None:
    with pytest.raises(ParameterError, match="window_motion"):
        FBPINN(window_motion=1.0)
    with pytest.raises(ParameterError, match=re.escape("optimiser adam | muon and adapt_rounds = 0")):
        FBPINN(window_motion=0.5, optimiser="schwarz_additive")
    with pytest.raises(ParameterError, match="adapt_rounds 1"):
        FBPINN(window_motion=0.5, adapt_rounds=1)


def test_edges_have_gradients() -> None:
    """The loss depends on every window's edges (a zero gradient would leave them where they start)."""
    problem = MultiScale1D()
    task = FBPINN(levels=(6,), width=8, n_collocation=300, window_motion=0.5).training_task(problem, 0, problem.test_points()[:50])
    level = task.model[0]
    grads = jax.grad(lambda edges: task.loss_fn((eqx.tree_at(lambda m: m.edges, level, edges),), task.data))(level.edges)
    assert np.all(np.abs(np.asarray(grads)).sum(axis=(1, 2)) > 0)

"""A physics-informed neural network: one global MLP with a hard-constraint ansatz.

Data-parallel over ``budget.devices`` JAX devices: the parameters are replicated and the
collocation points (with their loss weights) are split along the points, padded to a
multiple of the device count with weight-0 copies of a real point. Each device sums its
own weighted squared residuals inside a ``shard_map``; one ``psum`` of that sum and of
the weight total makes the loss, and its transpose one all-reduce of the gradient: the
parameters' bytes per step, whatever the device count. (Leaving the partitioning to XLA's
automatic sharding reduced each weight's partial gradients from the residual's primal
and derivative paths separately: 2x the gradient in 1D, 4x in the 2D wave problem.)
On one device the same code runs on a one-device mesh without padding.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec
from jaxtyping import Array, Float, Int

from parity import devices as device_mesh
from parity.knobs import ParameterError, at_least, knob, positive
from parity.problems.base import ForwardProblem, Problem
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.physics_informed.adaptive_sampling import ResidualAdaptiveSampling
from parity.solvers.physics_informed.architectures import Network
from parity.solvers.physics_informed.loss_terms import LossTerms, TermTables
from parity.solvers.physics_informed.layerwise import LayerSpace
from parity.solvers.physics_informed.networks import ACTIVATIONS
from parity.solvers.physics_informed.recipes import TrainingRecipe
from parity.solvers.physics_informed.schedule import TimeMarching, weighted_mean_square
from parity.solvers.physics_informed.schwarz import SchwarzKnobs
from parity.solvers.physics_informed.training import Placement, TrainingTask, communication_per_step, modelling_gap, solve_result, train


def input_features(problem: ForwardProblem, x: Float[Array, "n d"]) -> Float[Array, "n f"]:
    """Each coordinate scaled to [-1, 1]; a periodic one as (cos, sin) of its phase instead."""
    lower, upper = (jnp.asarray(b, dtype=x.dtype) for b in problem.bounds)
    scaled = 2.0 * (x - lower) / (upper - lower) - 1.0
    columns = []
    for axis, period in enumerate(problem.periods or (None,) * problem.in_dim):
        if period is None:
            columns.append(scaled[:, axis])
        else:
            phase = 2.0 * jnp.pi * x[:, axis] / period
            columns += [jnp.cos(phase), jnp.sin(phase)]
    return jnp.stack(columns, axis=-1)


def data_parallel(count: int) -> Placement:
    """Replicated parameters, and data split along its leading axis, over a mesh of ``count`` devices."""
    mesh = device_mesh.mesh(count)
    replicated, split = device_mesh.replicated(mesh), device_mesh.split(mesh)
    return Placement(model=lambda tree: jax.device_put(tree, replicated), data=lambda tree: jax.device_put(tree, split))


@dataclasses.dataclass(frozen=True)
class PINN(Solver, SchwarzKnobs, TrainingRecipe):
    name: ClassVar[str] = "pinn"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "global-network PINN, hard-constraint ansatz (Raissi et al. 2019); optional state-of-the-art recipe (Wang et al. 2023)"
    multi_device: ClassVar[bool] = True

    layer_groups: int = knob(2, "Schwarz: overlapping groups of consecutive layers (at most depth + 1, the layers)", "integer >= 1", at_least(1))
    layer_overlap: int = knob(1, "Schwarz: layers shared by neighbouring groups", "integer >= 0", at_least(0))
    width: int = knob(64, "hidden units per layer", "integer >= 1", at_least(1))
    depth: int = knob(4, "hidden layers", "integer >= 1", at_least(1))
    activation: str = knob("tanh", "activation", " | ".join(ACTIVATIONS), ACTIVATIONS.__contains__)
    learning_rate: float = knob(1e-3, "peak learning rate of the first optimiser", "finite number > 0", positive)
    n_collocation: int = knob(3000, "collocation (training) points", "integer >= 2", at_least(2))
    steps_per_dispatch: int = knob(100, "optimiser steps fused per jitted call (also the checkpoint interval)", "integer >= 1", at_least(1))
    time_stages: int = knob(1, "causal time-marching stages for evolution problems (1 = train on all times at once)", "integer >= 1", at_least(1))
    marching_fraction: float = knob(0.5, "fraction of the budget (steps, or seconds if they run out first) spent marching; the rest trains on all times", "number in (0, 1]", lambda f: 0 < f <= 1)
    lbfgs_fraction: float = knob(0.0, "fraction of the budget (steps, or seconds if they run out first), at the end, taken by L-BFGS (zoom line search) after the first optimiser", "number in [0, 1]", lambda f: 0 <= f <= 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_schwarz(self.time_stages, self.lbfgs_fraction)

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, ForwardProblem)

    def network(self, problem: ForwardProblem, seed: int) -> Network:
        n_features = problem.in_dim + sum(period is not None for period in problem.periods or ())
        return self.recipe_network(problem, 1, n_features, self.width, self.depth, ACTIVATIONS[self.activation], seed)

    @staticmethod
    def evaluate(problem: ForwardProblem, model: Network, x: Float[Array, "n d"]) -> Float[Array, "n out"]:
        """u(x): the network on the inputs' features, through the problem's ansatz."""
        return problem.ansatz(x, model(input_features(problem, x)[None])[0])

    def training_task(self, problem: ForwardProblem, seed: int, x_test: Float[np.ndarray, "m d"], devices: int = 1) -> TrainingTask:
        """Mean squared residual (scaled by the problem's residual scale) on the collocation points, split
        into the problem's loss terms when an ingredient weighs them apart; data-parallel over
        ``devices`` devices (see the module's docstring)."""
        chosen = self.ingredients(problem)
        mesh = device_mesh.mesh(devices)
        split = PartitionSpec(device_mesh.AXIS)
        x_train = problem.collocation_points(self.n_collocation)
        marching = TimeMarching.for_problem(problem, x_train, self.time_stages, self.marching_fraction, self.name, self.lbfgs_fraction)
        terms = self.loss_terms(problem, seed)

        def scaled_residual(model: eqx.Module, x: Float[Array, "n d"]) -> Float[Array, "n r"]:
            return problem.residual(lambda x_: self.evaluate(problem, model, x_), x) / problem.residual_scale

        def local_loss(model: eqx.Module, data: PointSet, terms: LossTerms | None = terms) -> Float[Array, "*terms"]:
            r = scaled_residual(model, data.x)
            if terms is None:
                return weighted_mean_square(r, data.weights, device_mesh.AXIS)
            return terms.losses(r, data.weights, data.tables, device_mesh.AXIS)

        def local_settled_loss(model: eqx.Module, data: PointSet) -> Float[Array, "*terms"]:
            assert terms is not None
            return local_loss(model, data, terms.settled())

        def local_probes(model: eqx.Module, data: PointSet) -> Float[Array, " T"]:
            assert terms is not None
            return terms.probes(scaled_residual(model, data.x), data.weights, data.tables, device_mesh.AXIS)

        def sharded(fn: Callable[[eqx.Module, PointSet], Array]) -> Callable[[eqx.Module, PointSet], Array]:
            return jax.shard_map(fn, mesh=mesh, in_specs=(PartitionSpec(), split), out_specs=PartitionSpec())

        def point_set(x: Float[np.ndarray, "n d"], weights: Float[np.ndarray, " n"]) -> PointSet:
            tables = None if terms is None else TermTables(*(device_mesh.pad_rows(t, devices) for t in terms.tables(x)))
            return PointSet(jnp.asarray(device_mesh.pad_rows(np.asarray(x, np.float32), devices)), jnp.asarray(device_mesh.pad_weights(weights, devices)), tables)

        initial = point_set(x_train, np.ones(len(x_train), np.float32))
        model, placement = self.network(problem, seed), data_parallel(devices)
        if "rad" in chosen:
            params, static = eqx.partition(model, eqx.is_inexact_array)
            placed = eqx.combine(placement.model(params), static)  # the residual's program is compiled for the training's placement
            schedule = self._adaptive_schedule(problem, placed, x_train, initial, scaled_residual, point_set, seed, marching)
        elif marching is not None:
            def schedule(step: int, progress: float, model: eqx.Module) -> PointSet:
                return initial._replace(weights=jnp.asarray(device_mesh.pad_weights(marching.weights(progress), devices)))
        else:
            schedule = None
        balancing = self.loss_balancing(problem, terms)
        x_test_j = jnp.asarray(x_test, dtype=jnp.float32)
        if self.schwarz:
            if terms is not None or schedule is not None:
                raise ParameterError(f"{self.name}: optimiser {self.optimiser!r} minimises one fixed mean square; drop the ingredients {sorted(chosen & {'grad_norm', 'ntk', 'causal', 'rad'})}")
            params = eqx.partition(model, eqx.is_inexact_array)[0]
            optimiser = self.schwarz_optimiser(LayerSpace.build(params, self.layer_groups, self.layer_overlap))
        else:
            optimiser = self.first_optimiser(problem, self.learning_rate)
        return TrainingTask(
            model=model,
            loss_fn=sharded(local_loss),
            data=initial,
            predict_test=lambda model: self.evaluate(problem, model, x_test_j),
            optimiser=optimiser,
            finisher=optax.lbfgs() if self.lbfgs_fraction > 0 else None,
            finisher_fraction=self.lbfgs_fraction,
            data_schedule=schedule,
            placement=placement,
            balancing=balancing,
            balance_fn=sharded(local_probes) if balancing is not None and balancing.kind == "ntk" else None,
            finisher_loss_fn=sharded(local_settled_loss) if terms is not None and terms.causal else None,
        )

    def _adaptive_schedule(
        self, problem: ForwardProblem, model: Network, x_train: Float[np.ndarray, "n d"], initial: PointSet,
        scaled_residual: Callable[[eqx.Module, Array], Array], point_set: Callable[[np.ndarray, np.ndarray], PointSet], seed: int,
        marching: TimeMarching | None,
    ) -> Callable[[int, float, eqx.Module], PointSet]:
        """RAD every ``rad_every`` steps: the residual on the pool, in training-set-sized chunks, then a new draw.

        With time marching, the drawn points are weighted by the current window, and the residual
        ahead of it (where the network is not trained yet) does not attract points. The residual's
        program is compiled here, in the set-up, so that training time is optimiser steps and draws.
        """
        n = len(x_train)
        pool = problem.collocation_points(self.rad_pool * n)
        sampler = ResidualAdaptiveSampling.from_points(
            x_train, point_classes(problem, x_train), pool, point_classes(problem, pool), self.rad_k, self.rad_c
        )
        padded = device_mesh.pad_rows(pool, n).astype(np.float32)  # a problem may return more points than asked for (a full grid)
        chunks = np.split(padded, len(padded) // n)
        residual_norm = jax.jit(lambda model, x: jnp.sqrt(jnp.sum(scaled_residual(model, x) ** 2, axis=1))).lower(model, chunks[0]).compile()
        rng = np.random.default_rng([seed, 3])
        def window(x: np.ndarray, progress: float) -> np.ndarray:
            return np.ones(len(x), np.float32) if marching is None else marching.window(x[:, problem.time_axis], progress)

        current = {"epoch": 0, "x": x_train, "window": np.ones(n, np.float32), "points": initial}  # as ``initial`` weighs them

        def schedule(step: int, progress: float, model: eqx.Module) -> PointSet:
            epoch = step // self.rad_every
            if epoch != current["epoch"]:
                norms = np.concatenate([np.asarray(residual_norm(model, chunk)) for chunk in chunks])[: len(pool)]
                x = pool[sampler.draw(norms * window(pool, progress), rng)]
                current.update(epoch=epoch, x=x, window=None)
            weights = window(current["x"], progress)
            if current["window"] is None or not np.array_equal(weights, current["window"]):
                current.update(window=weights, points=point_set(current["x"], weights))
            return current["points"]

        return schedule

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem)
        t0 = time.perf_counter()
        task = self.training_task(problem, seed, evaluator.x_test, budget.devices)
        setup_s = time.perf_counter() - t0
        comm_bytes = sum(communication_per_step(task, budget.devices).values())  # one more compilation, timed nowhere
        outcome = train(
            task, steps=budget.steps, steps_per_dispatch=self.steps_per_dispatch,
            evaluator=evaluator, progress=progress, max_seconds=budget.seconds,
        )
        predict = jax.jit(lambda x: self.evaluate(problem, outcome.model, x))
        info = {"devices": budget.devices, "comm_bytes_per_step": comm_bytes, "parallel_workers": self.layer_groups if self.schwarz else 1, "ingredients": sorted(self.ingredients(problem)), **modelling_gap(problem)}
        return solve_result(outcome, setup_s, lambda x: np.asarray(predict(jnp.asarray(x, dtype=jnp.float32))), info)


class PointSet(NamedTuple):
    """The training points, their loss weights (0 on padding) and, for term-wise losses, their tables."""

    x: Float[Array, "n d"]
    weights: Float[Array, " n"]
    tables: TermTables | None


def point_classes(problem: ForwardProblem, x: Float[np.ndarray, "n d"]) -> Int[np.ndarray, " n"]:
    """Points labelled by the loss entries they carry (interior, sides ...), the same label for the same
    entries in any point set: adaptive sampling keeps each label's count."""
    masks = np.concatenate(list(problem.loss_terms(x).values()), axis=1) > 0
    return masks @ (2 ** np.arange(masks.shape[1]))

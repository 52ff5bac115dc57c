"""Finite-basis PINNs, one-level and multilevel, on one device or several.

u(x) = ansatz(x, sum_l sum_j  wbar_lj(x) NN_lj((x - mu_lj) / sigma_lj))

where level l is a regular decomposition with ``levels[l]`` subdomains per dimension
and wbar_lj its partition-of-unity windows (Moseley et al. 2023; Dolean et al. 2024 for
several levels). All networks of a level are evaluated as one batched computation over
stacked weights, and only on the point-subdomain pairs inside each window's support.

Over N devices (``budget.devices``; one code path, N = 1 included) each device holds a
block of every level's subdomains and owns the points nearest its finest subdomains
(:mod:`parity.solvers.physics_informed.fbpinn_partition`). Inside a ``shard_map`` a device sends the
coordinates of its points that lie in other devices' windows to them (one
``all_to_all``), evaluates its own networks on its own and received points, sends the
windowed sums for the received points back (a second ``all_to_all``) and adds what it
got. The loss is the only global reduction (a ``psum``). Communication is thus only
where windows overlap a device boundary; the coordinate exchange sits inside the
function the residual differentiates, so JVP tangents travel with the copies.
"""

from __future__ import annotations

import dataclasses
import time
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, PartitionSpec
from jaxtyping import Array, Float, Int

from parity import devices
from parity.knobs import ParameterError, all_at_least, at_least, knob, positive
from parity.problems.base import ForwardProblem, Problem
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.physics_informed.adaptive_decomposition import inherited, merged_outcomes, refined, residual_energy
from parity.solvers.physics_informed.architectures import Network
from parity.solvers.physics_informed.decomposition import Level, window
from parity.solvers.physics_informed.fbpinn_schwarz import CoarseLevels, SubdomainSpace
from parity.solvers.physics_informed.fbpinn_partition import Partition, PointLayout
from parity.solvers.physics_informed.loss_terms import LossTerms, TermTables
from parity.solvers.physics_informed.movable_windows import MovableWindows, moved_level, room_ratio, widest
from parity.solvers.physics_informed.networks import ACTIVATIONS
from parity.solvers.physics_informed.recipes import TrainingRecipe
from parity.solvers.physics_informed.schedule import TimeMarching, weighted_mean_square
from parity.solvers.physics_informed.schwarz import SCHWARZ_OPTIMISERS, SchwarzKnobs
from parity.solvers.physics_informed.training import (
    Placement, TrainingTask, TrainOutcome, communication_per_step, modelling_gap, solve_result, time_one_gradient, train,
)


class ShardedPoints(NamedTuple):
    """A point set and its tables, every array with a leading device axis (split over the mesh)."""

    x: Float[Array, "N P d"]
    weights: Float[Array, "N P"]
    send_index: Int[Array, "N N H"]
    send_mask: Float[Array, "N N H"]
    pair_index: tuple[Int[Array, "N k slots"], ...]
    pair_mask: tuple[Float[Array, "N k slots"], ...]
    centres: tuple[Float[Array, "Nk d"], ...]
    half_widths: tuple[Float[Array, "Nk d"], ...]
    tables: TermTables | None = None
    """Term masks, time chunks and probes of the owned points, for a term-wise loss (:mod:`.loss_terms`)."""


def sharded_points(
    partition: Partition, layout: PointLayout, x: Float[np.ndarray, "n d"], mesh: Mesh, terms: LossTerms | None = None
) -> ShardedPoints:
    """The tables of ``layout`` on the mesh, split along their device axis (all loss weights 1),
    with the term tables of ``terms`` when given.

    Placed straight from NumPy: moving JAX arrays from one device to a sharding would
    compile a small program per array shape.
    """
    geometry = partition.geometry()
    host = ShardedPoints(
        x=layout.coordinates(x).astype(np.float32),
        weights=layout.own_mask,
        send_index=layout.send_index,
        send_mask=layout.send_mask,
        pair_index=layout.pair_index,
        pair_mask=layout.pair_mask,
        centres=tuple(c for c, _ in geometry),
        half_widths=tuple(h for _, h in geometry),
        tables=None if terms is None else TermTables(*(layout.gather(table) for table in terms.tables(x))),
    )
    return jax.device_put(host, devices.split(mesh))


def fbpinn_local(nets: tuple[Network, ...], points: ShardedPoints, x: Float[Array, "P d"]) -> Float[Array, "P out"]:
    """One device's share of the sum over levels of the window-weighted networks, before the ansatz.

    Runs inside ``shard_map``: ``nets`` and ``points`` are this device's blocks (``points``
    with its leading device axis of length 1), ``x`` its owned points.
    """
    send_index, send_mask = points.send_index[0], points.send_mask[0]  # (N, H)
    count, halo = send_index.shape
    own = x.shape[0]
    incoming = jax.lax.all_to_all(x[send_index], devices.AXIS, 0, 0, tiled=True)  # (N, H, d): row a from device a
    table = jnp.concatenate([x, incoming.reshape(count * halo, x.shape[1])])
    rows = table.shape[0]
    sums = []
    for net, centres, half_widths, index, mask in zip(nets, points.centres, points.half_widths, points.pair_index, points.pair_mask):
        index, mask = index[0], mask[0]
        if isinstance(net, MovableWindows):  # trained edges inside the widest windows the tables hold
            centres, half_widths = net.geometry(centres, half_widths)
        x_local = (table[index] - centres[:, None, :]) / half_widths[:, None, :]  # (k, slots, d)
        weight = window(x_local) * mask
        out = net(x_local)  # (k, slots, out)
        numerator = jax.ops.segment_sum((weight[..., None] * out).reshape(-1, out.shape[-1]), index.reshape(-1), rows)
        denominator = jax.ops.segment_sum(weight.reshape(-1), index.reshape(-1), rows)
        if len(nets) > 1:  # keeps XLA from fusing levels into one scatter loop: 3-10x faster on CPU
            numerator, denominator = jax.lax.optimization_barrier((numerator, denominator))
        sums.append(jnp.concatenate([numerator, denominator[:, None]], axis=1))
    local = jnp.stack(sums, axis=1)  # (rows, levels, out + 1)
    returned = jax.lax.all_to_all(local[own:].reshape(count, halo, *local.shape[1:]), devices.AXIS, 0, 0, tiled=True)
    returned = (returned * send_mask[..., None, None]).reshape(count * halo, *local.shape[1:])
    total = local[:own] + jax.ops.segment_sum(returned, send_index.reshape(-1), own)
    numerator, denominator = total[..., :-1], total[..., -1]
    denominator = jnp.where(denominator > 0, denominator, 1.0)  # padding rows lie in no window
    return jnp.sum(numerator / denominator[..., None], axis=1)


def sharded_residual_loss(
    problem: ForwardProblem, mesh: Mesh, nets: tuple[Network, ...], points: ShardedPoints, terms: LossTerms | None = None, probes: bool = False
) -> Float[Array, "*terms"]:
    """Weighted mean square of the scaled residual over every device's owned points; with ``terms``,
    each term's (causally weighted) loss, or with ``probes`` their NTK probes (:mod:`.balancing`)."""

    def local(nets: tuple[Network, ...], points: ShardedPoints) -> Float[Array, "*terms"]:
        x, w = points.x[0], points.weights[0]
        r = problem.residual(lambda x_: problem.ansatz(x_, fbpinn_local(nets, points, x_)), x) / problem.residual_scale
        if terms is None:
            return weighted_mean_square(r, w, devices.AXIS)
        assert points.tables is not None
        tables = TermTables(*(t[0] for t in points.tables))
        return (terms.probes if probes else terms.losses)(r, w, tables, devices.AXIS)

    spec = PartitionSpec(devices.AXIS)
    return jax.shard_map(local, mesh=mesh, in_specs=(spec, spec), out_specs=PartitionSpec())(nets, points)


def sharded_values(
    problem: ForwardProblem, mesh: Mesh, nets: tuple[Network, ...], points: ShardedPoints, order: Int[Array, " n"], residual: bool = False
) -> Float[Array, "n out"]:
    """u at a point set, in the caller's point order (``order`` from :meth:`PointLayout.order`);
    with ``residual``, the scaled residual there instead."""

    def local(nets: tuple[Network, ...], points: ShardedPoints) -> Float[Array, "P out"]:
        x = points.x[0]
        u = lambda x_: problem.ansatz(x_, fbpinn_local(nets, points, x_))  # noqa: E731
        return problem.residual(u, x) / problem.residual_scale if residual else u(x)

    spec = PartitionSpec(devices.AXIS)
    values = jax.shard_map(local, mesh=mesh, in_specs=(spec, spec), out_specs=spec)(nets, points)
    return values[order]


@dataclasses.dataclass(frozen=True)
class FBPINN(Solver, SchwarzKnobs, TrainingRecipe):
    name: ClassVar[str] = "fbpinn"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "finite-basis PINN, one-level or multilevel (Moseley 2023, Dolean 2024); optional training recipe"
    multi_device: ClassVar[bool] = True

    coarse: bool = knob(False, "Schwarz: two-level, the coarser levels corrected before the subdomains (needs levels with >= 2 entries)", "true | false")
    levels: tuple[int, ...] = knob((30,), "subdomains per dimension at each level; several = multilevel", "non-empty list of integers >= 1", all_at_least(1))
    overlap: float = knob(1.9, "subdomain width / subdomain spacing", "number > 1", lambda v: v > 1.0)
    width: int = knob(16, "hidden units per layer of each subdomain network", "integer >= 1", at_least(1))
    depth: int = knob(2, "hidden layers of each subdomain network", "integer >= 1", at_least(1))
    activation: str = knob("tanh", "activation", " | ".join(ACTIVATIONS), ACTIVATIONS.__contains__)
    learning_rate: float = knob(1e-3, "peak learning rate of the first optimiser", "finite number > 0", positive)
    n_collocation: int = knob(3000, "collocation (training) points", "integer >= 2", at_least(2))
    steps_per_dispatch: int = knob(100, "optimiser steps fused per jitted call (also the checkpoint interval)", "integer >= 1", at_least(1))
    time_stages: int = knob(1, "causal time-marching stages for evolution problems (1 = train on all times at once)", "integer >= 1", at_least(1))
    marching_fraction: float = knob(0.5, "fraction of the budget (steps, or seconds if they run out first) spent marching; the rest trains on all times", "number in (0, 1]", lambda f: 0 < f <= 1)
    lbfgs_fraction: float = knob(0.0, "fraction of the budget (steps, or seconds if they run out first), at the end, taken by L-BFGS (zoom line search) after Adam", "number in [0, 1]", lambda f: 0 <= f <= 1)
    adapt_rounds: int = knob(
        0, "adaptive decomposition: times, evenly through the budget, that the finest level's highest-residual windows are split (0 = fixed)",
        "integer >= 0", at_least(0),
    )
    adapt_fraction: float = knob(0.2, "adaptive decomposition: share of the finest level's subdomains split each time", "number in (0, 1]", lambda f: 0 < f <= 1)
    window_motion: float = knob(
        0.0, "trainable windows: how far each window edge may move either way, as a share of its overlap beyond its own cell (0 = fixed windows)",
        "number in [0, 1)", lambda f: 0 <= f < 1,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_schwarz(self.time_stages, self.lbfgs_fraction)
        if self.coarse and not (self.schwarz and len(self.levels) >= 2):
            raise ParameterError(
                f"{self.name}: parameter 'coarse' = True needs a Schwarz optimiser ({' | '.join(SCHWARZ_OPTIMISERS)}) and a multilevel "
                f"FBPINN (levels with >= 2 entries); got optimiser {self.optimiser!r}, levels {list(self.levels)}"
            )
        if self.window_motion and (self.schwarz or self.adapt_rounds):
            raise ParameterError(
                f"{self.name}: parameter 'window_motion' = {self.window_motion} (trainable windows) needs fixed subdomain tables: "
                f"optimiser adam | muon and adapt_rounds = 0; got optimiser {self.optimiser!r}, adapt_rounds {self.adapt_rounds}"
            )

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        """Forward problems on a box; not periodic ones, whose windows would have to wrap around."""
        return isinstance(problem, ForwardProblem) and not any(p is not None for p in problem.periods or ())

    def decomposition(self, problem: ForwardProblem) -> list[Level]:
        """The regular levels; with trainable windows, each window at the widest it may become (the tables' supports)."""
        lower, upper = problem.bounds
        regular = [Level.regular(lower, upper, n, self.overlap) for n in self.levels]
        return [widest(lv, self.window_ratio) for lv in regular] if self.window_motion else regular

    @property
    def window_ratio(self) -> float:
        return room_ratio(self.window_motion, self.overlap)

    def partition(self, problem: ForwardProblem, device_count: int) -> Partition:
        """Every level's subdomains dealt to ``device_count`` devices."""
        return Partition.of(self.decomposition(problem), device_count)

    def networks(self, problem: ForwardProblem, seed: int) -> tuple[Network | MovableWindows, ...]:
        """One stack of subdomain networks per level (the recipe's architecture), each level seeded independently."""
        seeds = np.random.SeedSequence(seed).generate_state(len(self.levels))
        activation = ACTIVATIONS[self.activation]
        counts = [lv.n_subdomains for lv in self.decomposition(problem)]
        nets = tuple(self.recipe_network(problem, n, problem.in_dim, self.width, self.depth, activation, int(s)) for n, s in zip(counts, seeds))
        if not self.window_motion:
            return nets
        return tuple(MovableWindows.around(net, n, problem.in_dim, self.window_ratio) for net, n in zip(nets, counts))

    @staticmethod
    def sharded_networks(networks: tuple[Network, ...], partition: Partition) -> tuple[Network, ...]:
        """Per-level stacked ``networks`` rearranged into the partition's (N * per_device) blocks; dummies are zeros."""
        split = devices.split(devices.mesh(partition.count))
        return tuple(
            jax.tree.map(lambda a, b=blocks: jax.device_put(b.scatter(np.asarray(a), 0.0), split), net)
            for net, blocks in zip(networks, partition.blocks)
        )

    @staticmethod
    def gathered_networks(sharded: tuple[Network, ...], partition: Partition) -> tuple[Network, ...]:
        """The inverse of :meth:`sharded_networks`: each level's real subdomains' networks in subdomain order."""
        return tuple(jax.tree.map(lambda a, b=blocks: jnp.asarray(np.asarray(a)[b.rows]), net) for net, blocks in zip(sharded, partition.blocks))

    def training_task(self, problem: ForwardProblem, seed: int, x_test: Float[np.ndarray, "m d"], device_count: int = 1) -> TrainingTask:
        """Mean squared residual (scaled by the problem's residual scale) on the collocation
        points, with subdomains and points partitioned over ``device_count`` devices."""
        return self._training(problem, seed, x_test, device_count)[0]

    def _training(
        self, problem: ForwardProblem, seed: int, x_test: Float[np.ndarray, "m d"], device_count: int,
        levels: list[Level] | None = None, networks: tuple[Network, ...] | None = None,
    ) -> tuple[TrainingTask, PointLayout, Partition]:
        """The training task, the collocation points' layout and the partition; on ``levels`` from
        ``networks`` when given (an adapted decomposition), else the regular decomposition from fresh networks."""
        mesh = devices.mesh(device_count)
        split = devices.split(mesh)
        partition = Partition.of(levels or self.decomposition(problem), device_count)
        x_train = problem.collocation_points(self.n_collocation)
        train_layout = partition.layout(x_train)
        test_layout = partition.layout(x_test)
        if "rad" in self.ingredients(problem):
            raise ParameterError(f"{self.name}: adaptive sampling ('rad') is not available: resampled points would change the subdomain tables' shapes")
        terms = self.loss_terms(problem, seed)
        train_points = sharded_points(partition, train_layout, x_train, mesh, terms)
        test_points = sharded_points(partition, test_layout, x_test, mesh)
        test_order = jnp.asarray(test_layout.order())
        marching = TimeMarching.for_problem(problem, x_train, self.time_stages, self.marching_fraction, self.name, self.lbfgs_fraction)

        def schedule(step: int, progress: float, nets: tuple[Network, ...]) -> ShardedPoints:
            assert marching is not None
            weights = layout_weights(train_layout, marching.weights(progress))
            return train_points._replace(weights=weights)

        balancing = self.loss_balancing(problem, terms)
        ntk = balancing is not None and balancing.kind == "ntk"
        causal = terms is not None and terms.causal
        model = self.sharded_networks(networks or self.networks(problem, seed), partition)
        if self.schwarz:
            if terms is not None:
                raise ParameterError(f"{self.name}: optimiser {self.optimiser!r} minimises one mean square; drop the ingredients {sorted(self.ingredients(problem) & {'grad_norm', 'ntk', 'causal'})}")
            space = SubdomainSpace.build(problem, partition, eqx.partition(model, eqx.is_inexact_array)[1], x_train)
            optimiser = self.schwarz_optimiser(space, CoarseLevels(space.finest) if self.coarse else None)
        else:
            optimiser = self.first_optimiser(problem, self.learning_rate)
        task = TrainingTask(
            model=model,
            loss_fn=lambda nets, points: sharded_residual_loss(problem, mesh, nets, points, terms),
            data=train_points,
            predict_test=lambda nets: sharded_values(problem, mesh, nets, test_points, test_order),
            optimiser=optimiser,
            finisher=optax.lbfgs() if self.lbfgs_fraction > 0 else None,
            finisher_fraction=self.lbfgs_fraction,
            data_schedule=None if marching is None else schedule,
            placement=Placement(model=lambda tree: jax.device_put(tree, split), data=lambda tree: jax.device_put(tree, split)),
            balancing=balancing,
            balance_fn=(lambda nets, points: sharded_residual_loss(problem, mesh, nets, points, terms, probes=True)) if ntk else None,
            finisher_loss_fn=(lambda nets, points: sharded_residual_loss(problem, mesh, nets, points, terms.settled())) if causal else None,
        )
        return task, train_layout, partition

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, ForwardProblem)
        outcome, task, train_layout, partition, setup_s = self._train_in_phases(problem, budget, seed, evaluator, progress)
        mesh = devices.mesh(budget.devices)
        evaluate = jax.jit(lambda nets, points, order: sharded_values(problem, mesh, nets, points, order))

        def predict(x: Float[np.ndarray, "m d"]) -> Float[np.ndarray, "m out"]:
            layout = partition.layout(x)
            points = sharded_points(partition, layout, x, mesh)
            return np.asarray(evaluate(outcome.model, points, jnp.asarray(layout.order())))

        real = sum(
            int(np.prod(leaf.shape[1:])) * lv.n_subdomains
            for net, lv in zip(outcome.model, partition.levels)
            for leaf in jax.tree.leaves(eqx.filter(net, eqx.is_inexact_array))
        )
        return solve_result(outcome, setup_s, predict, {
            "n_params": real,  # the real subdomains' networks, not the dummies that pad the device blocks
            "n_subdomains": sum(lv.n_subdomains for lv in partition.levels),
            "active_pairs": train_layout.active_pairs,
            "devices": budget.devices,
            "ingredients": sorted(self.ingredients(problem)),
            **modelling_gap(problem),
            "subdomains_per_device": sum(b.per_device for b in partition.blocks),
            "halo_points": train_layout.halo_rows,
            "parallel_workers": max(lv.n_subdomains for lv in partition.levels),  # the cost model's P: a worker per finest subdomain
            "comm_bytes_per_step": sum(communication_per_step(task, budget.devices).values()),
            "decomposition": finest_decomposition(partition, self.gathered_networks(outcome.model, partition)),
        })

    def _train_in_phases(
        self, problem: ForwardProblem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn
    ) -> tuple[TrainOutcome, TrainingTask, PointLayout, Partition, float]:
        """Training on a fixed decomposition, or with ``adapt_rounds`` splits between equal shares of
        the budget: (merged outcome, last task, its layout, its partition, set-up seconds).
        Scoring and splitting subdomains is training time; building each phase's tables is set-up."""
        if self.adapt_rounds and self.ingredients(problem) & {"fourier", "modified_mlp", "pirate"}:
            raise ParameterError(f"{self.name}: adapt_rounds > 0 splits plain MLPs; drop the ingredients {sorted(self.ingredients(problem) & {'fourier', 'modified_mlp', 'pirate'})}")
        levels, networks = self.decomposition(problem), self.networks(problem, seed)
        x_train = problem.collocation_points(self.n_collocation)
        phases, outcomes, setup_s, between_s = self.adapt_rounds + 1, [], 0.0, []
        for phase in range(phases):
            t0 = time.perf_counter()
            task, layout, partition = self._training(problem, seed, evaluator.x_test, budget.devices, levels, networks)
            setup_s += time.perf_counter() - t0
            offset, share = budget.steps * phase // phases, budget.steps * (phase + 1) // phases - budget.steps * phase // phases
            outcome = train(
                task, steps=max(share, 1), steps_per_dispatch=self.steps_per_dispatch, evaluator=evaluator,
                progress=lambda done, total, post, o=offset: progress(o + done, budget.steps, post), max_seconds=budget.seconds / phases,
                measure_gradient=False,
            )
            outcomes.append(outcome)
            if phase == phases - 1 or outcome.status != "ok":
                break
            t0 = time.perf_counter()
            levels, networks = self._split(problem, partition, layout, x_train, outcome.model, levels)
            between_s.append(time.perf_counter() - t0)
        seconds_per_gradient = time_one_gradient(task, *eqx.partition(outcomes[-1].model, eqx.is_inexact_array))
        return dataclasses.replace(merged_outcomes(outcomes, between_s), seconds_per_gradient=seconds_per_gradient), task, layout, partition, setup_s

    def _split(
        self, problem: ForwardProblem, partition: Partition, layout: PointLayout, x_train: Float[np.ndarray, "n d"],
        model: tuple[Network, ...], levels: list[Level],
    ) -> tuple[list[Level], tuple[Network, ...]]:
        """The finest level with its highest-residual windows split, and the networks carried over."""
        mesh = devices.mesh(partition.count)
        points = sharded_points(partition, layout, x_train, mesh)
        r = np.asarray(jax.jit(lambda m: sharded_values(problem, mesh, m, points, jnp.asarray(layout.order()), residual=True))(model))
        finest = int(np.argmax([lv.n_subdomains for lv in levels]))
        energy = residual_energy(levels[finest], x_train, np.sum(r.astype(np.float64) ** 2, axis=1))
        new_level, parents = refined(levels[finest], energy, self.adapt_fraction, self.overlap)
        trained = self.gathered_networks(model, partition)
        nets = tuple(inherited(net, parents, levels[finest], new_level) if i == finest else net for i, net in enumerate(trained))
        return [new_level if i == finest else lv for i, lv in enumerate(levels)], nets


def finest_decomposition(partition: Partition, networks: tuple[Network, ...]) -> dict[str, list[list[float]]]:
    """The finest level's subdomains (centres and half-widths, as trained where the windows move), as the record keeps them to be drawn."""
    finest = int(np.argmax([lv.n_subdomains for lv in partition.levels]))
    level, net = partition.levels[finest], networks[finest]
    if isinstance(net, MovableWindows):
        level = moved_level(level, net)
    return {"centres": level.centres.tolist(), "half_widths": level.half_widths.tolist()}


def layout_weights(layout: PointLayout, weights: Float[np.ndarray, " n"]) -> Float[np.ndarray, "N P"]:
    """Per-point loss weights in the owned layout (0 on padding rows), on the host: the
    task's placement puts them on the devices."""
    return (layout.gather(np.asarray(weights, np.float32)) * layout.own_mask).astype(np.float32)

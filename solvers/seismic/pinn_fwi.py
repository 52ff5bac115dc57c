"""Physics-informed full-waveform inversion (Rasht-Behesht et al., JGR Solid Earth 2022).

Each test record is inverted on its own, from scratch, by two networks trained together:

* a wavefield network, u(x, z, t) = U (t / T)^2 NN_theta(x', z', t'), one output per shot
  (the shots are a fixed, small set: one output each shares the hidden features and lets a
  collocation point serve every shot for one forward pass; an input for the source's x would
  only ever be sampled at ``shots`` values). Inputs are scaled to [-1, 1]; U is the record's
  RMS, so the network's outputs are O(1). The factor (t / T)^2 makes u = u_t = 0 at t = 0
  exactly (a hard initial condition: one loss term and its weight fewer).
* a velocity network, c(x, z) = c_min + (c_max - c_min) sigmoid(logit(q(x, z)) + NN_phi(x', z')),
  q the prior scaled to (0, 1) (its logit bilinear between nodes). NN_phi's last layer starts at zero, so
  c starts exactly at the prior; whatever the weights, c stays inside ``VELOCITY_RANGE``.

Loss = data_weight L_data + pde_weight L_pde (+ velocity_regularisation times the mean square of NN_phi,
the velocity logit's change from the prior's, when asked for):

* L_data: mean square of (u - d) / U at a random batch of (receiver, recorded time) pairs,
  all shots at once, leaving out the traces next to their source (``Survey.trace_mask``); O(1) at the start.
* L_pde: mean square of the residual u_tt / c^2 - u_xx - u_zz - w(t) g_s(x, z), divided by
  omega_0^2 U / cbar^2 (omega_0 = 2 pi f_0, cbar the prior's mean), the size of u_tt / c^2 for
  the true wavefield, so the residual is O(1) where the wave is. g_s is a Gaussian of
  ``source_width`` cells about shot s's source node, of unit integral: it stands for the point
  source w(t) delta of the recorded data (the scheme in :mod:`parity.numerics.seismic_survey`).
  Collocation points are drawn afresh each step, uniformly in the model's box x [0, T], with a
  fraction ``source_fraction`` of them drawn about the sources (within a few source widths,
  any time), where the forcing is concentrated and uniform sampling would miss it.
  No boundary condition is imposed: the recorded data come from an unbounded (absorbing) medium,
  and leaving the box's edges free lets waves leave it.

The velocity network is held at the prior (learning rate 0) for the first ``velocity_delay``
of the steps, while the wavefield network fits the data and the physics of the prior; then
both train with Adam. Derivatives are forward-mode (jvp of jvp) in physical units.

Checkpoints: each model's velocity on the grid's nodes is kept every ``steps / checkpoints``
steps; checkpoint j scores all models' j-th velocities together, at the mean per-model training
seconds up to it. ``predict`` returns the final inversions of the test records it was solved on
(inverting other records is the solve itself: run the solver on them).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.ndimage import map_coordinates
from jaxtyping import Array, Float, PyTree

from parity.knobs import at_least, knob, positive
from parity.numerics.seismic_survey import Survey
from parity.problems.base import Problem
from parity.problems.seismic_2d import VELOCITY_RANGE, SeismicFWI2D
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult, Status
from parity.solvers.physics_informed.networks import StackedMLP
from parity.solvers.physics_informed.training import parameter_count
from parity.solvers.seismic.per_sample_inversion import aligned, memoised_predict

PROBABILITY_FLOOR = 1e-4
"""The prior scaled to (0, 1) is kept inside [floor, 1 - floor] before its logit."""
SOURCE_SPREAD = 3.0
"""Source-focused collocation points lie N(source, (SOURCE_SPREAD source_width)^2) about a source."""


def ricker(t: Float[Array, "..."], peak_frequency: float) -> Float[Array, "..."]:
    """The survey's Ricker wavelet (:func:`parity.numerics.seismic_survey.ricker`), in JAX."""
    arg = (jnp.pi * peak_frequency * (t - 1.0 / peak_frequency)) ** 2
    return (1.0 - 2.0 * arg) * jnp.exp(-arg)


def wave_residual(
    u: Callable[[Float[Array, "n 3"]], Float[Array, "n s"]],
    velocity: Callable[[Float[Array, "n 2"]], Float[Array, " n"]],
    source: Callable[[Float[Array, "n 3"]], Float[Array, "n s"]],
    points: Float[Array, "n 3"],
) -> Float[Array, "n s"]:
    """u_tt / c^2 - u_xx - u_zz - source at points (x, z, t), for pointwise ``u`` (forward-mode derivatives)."""

    def second(axis: int) -> Float[Array, "n s"]:
        direction = jnp.zeros_like(points).at[:, axis].set(1.0)
        first = lambda p: jax.jvp(u, (p,), (direction,))[1]  # noqa: E731
        return jax.jvp(first, (points,), (direction,))[1]

    c = velocity(points[:, :2])[:, None]
    return second(2) / c**2 - second(0) - second(1) - source(points)


class WavefieldNet(eqx.Module):
    """u / U = (t / T)^2 NN(x', z', t'): one output per shot, zero with its time derivative at t = 0."""

    mlp: StackedMLP
    box: tuple[float, float, float] = eqx.field(static=True)
    """(Lx, Lz, T)."""

    def __call__(self, points: Float[Array, "n 3"]) -> Float[Array, "n s"]:
        box = jnp.asarray(self.box, points.dtype)
        scaled = 2.0 * points / box - 1.0
        return (points[:, 2:3] / self.box[2]) ** 2 * self.mlp(scaled[None])[0]


class VelocityNet(eqx.Module):
    """c = c_min + (c_max - c_min) sigmoid(logit(q) + NN(x', z')), q the prior scaled to (0, 1)."""

    mlp: StackedMLP
    prior_logit: Float[Array, "nx nz"]
    spacing: float = eqx.field(static=True)
    extent: tuple[float, float] = eqx.field(static=True)
    bounds: tuple[float, float] = eqx.field(static=True)

    def correction(self, xz: Float[Array, "n 2"]) -> Float[Array, " n"]:
        """NN(x', z'): the change of the velocity's logit from the prior's."""
        extent = jnp.asarray(self.extent, xz.dtype)
        return self.mlp((2.0 * xz / extent - 1.0)[None])[0, :, 0]

    def __call__(self, xz: Float[Array, "n 2"]) -> Float[Array, " n"]:
        correction = self.correction(xz)
        nodes = xz / self.spacing
        logit = map_coordinates(jax.lax.stop_gradient(self.prior_logit), [nodes[:, 0], nodes[:, 1]], order=1, mode="nearest")
        low, high = self.bounds
        return low + (high - low) * jax.nn.sigmoid(logit + correction)


def velocity_network(prior: Float[np.ndarray, "nx nz"], spacing: float, width: int, depth: int, seed: int) -> VelocityNet:
    """The velocity network at the prior: its MLP's last layer is zero."""
    low, high = VELOCITY_RANGE
    q = np.clip((np.asarray(prior, np.float64) - low) / (high - low), PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    mlp = StackedMLP(1, (2, *[width] * depth, 1), jnp.tanh, seed=seed)
    mlp = eqx.tree_at(lambda m: (m.weights[-1], m.biases[-1]), mlp, (jnp.zeros_like(mlp.weights[-1]), jnp.zeros_like(mlp.biases[-1])))
    extent = ((prior.shape[0] - 1) * spacing, (prior.shape[1] - 1) * spacing)
    return VelocityNet(mlp, jnp.asarray(np.log(q / (1.0 - q)), jnp.float32), spacing, extent, VELOCITY_RANGE)


def node_points(shape: tuple[int, int], spacing: float) -> Float[np.ndarray, "n 2"]:
    """(x, z) of every node, x-major (reshapes to (nx, nz))."""
    x, z = np.meshgrid(np.arange(shape[0]) * spacing, np.arange(shape[1]) * spacing, indexing="ij")
    return np.stack([x.ravel(), z.ravel()], axis=1).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Inversion:
    velocities: list[np.ndarray]
    """The velocity on the nodes at step 0 and at every checkpoint reached."""
    seconds: list[float]
    """Training seconds up to each kept velocity."""
    losses: list[tuple[float, float, float]]
    """(total, data, pde): at the initial parameters (first step's batch) for step 0, then the mean over each chunk."""
    status: Status
    message: str


@dataclasses.dataclass(frozen=True)
class PINNInversion(Solver):
    name: ClassVar[str] = "pinn_fwi"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = ("physics-informed FWI: wavefield and velocity MLPs trained per record on data + wave-equation "
                                  "residual (Rasht-Behesht et al. 2022)")

    width: int = knob(64, "wavefield network: hidden units per layer", "integer >= 1", at_least(1))
    depth: int = knob(4, "wavefield network: hidden layers", "integer >= 1", at_least(1))
    velocity_width: int = knob(32, "velocity network: hidden units per layer", "integer >= 1", at_least(1))
    velocity_depth: int = knob(3, "velocity network: hidden layers", "integer >= 1", at_least(1))
    learning_rate: float = knob(1e-3, "Adam learning rate of the wavefield network", "finite number > 0", positive)
    velocity_learning_rate: float = knob(1e-4, "Adam learning rate of the velocity network", "finite number > 0", positive)
    velocity_delay: float = knob(0.5, "fraction of the steps, at the start, with the velocity held at the prior", "number in [0, 1)",
                                 lambda f: 0 <= f < 1)
    n_collocation: int = knob(1024, "PDE collocation points per step (drawn afresh)", "integer >= 1", at_least(1))
    source_fraction: float = knob(0.5, "fraction of the collocation points drawn about the sources", "number in [0, 1]",
                                  lambda f: 0 <= f <= 1)
    n_data: int = knob(1024, "(receiver, time) samples of the data term per step, all shots each", "integer >= 1", at_least(1))
    data_weight: float = knob(1.0, "weight of the data term (mean square / data RMS^2)", "number > 0", positive)
    pde_weight: float = knob(1.0, "weight of the PDE term (mean square / (omega_0^2 U / cbar^2)^2)", "number > 0", positive)
    velocity_regularisation: float = knob(0.1, "weight of the mean square of the velocity logit's change from the prior's "
                                          "(at the collocation points; 0: none)", "number >= 0", at_least(0))
    source_width: float = knob(1.5, "std of the Gaussian standing for the point source, grid cells", "number > 0", positive)
    checkpoints: int = knob(10, "velocity snapshots per model (evenly spaced in steps)", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, SeismicFWI2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, SeismicFWI2D)
        t0 = time.perf_counter()
        observations = np.asarray(evaluator.x_test)
        survey = problem.survey()
        prior = problem.prior_model()
        setup = _Setup(self, survey, prior, budget.steps, seed)
        setup_s = time.perf_counter() - t0
        compile_s = setup.compile()
        total = len(observations) * budget.steps
        progress(0, total, {})
        allowance = budget.seconds / len(observations)
        inversions = []
        for index, observed in enumerate(observations):
            inversions.append(setup.invert(observed, seed + 1000 * index, allowance,
                                           lambda k, post, i=index: progress(i * budget.steps + k, total, post)))
        t = time.perf_counter()
        trace = _trace(inversions, setup.marks, evaluator)
        eval_s = time.perf_counter() - t
        final = np.stack([inversion.velocities[-1] for inversion in inversions])
        statuses = [inversion.status for inversion in inversions]
        status: Status = "diverged" if "diverged" in statuses else "timeout" if "timeout" in statuses else "ok"
        message = "; ".join(f"model {i}: {inv.message}" for i, inv in enumerate(inversions) if inv.message)
        progress(total, total, {"rel_l2": trace[-1].metrics["rel_l2"]})
        per_model_s = float(np.mean([inversion.seconds[-1] for inversion in inversions]))
        first = [inv.losses[0] for inv in inversions if len(inv.losses) > 1]
        last = [inv.losses[-1] for inv in inversions if len(inv.losses) > 1]
        return SolveResult(
            status=status, trace=trace, trace_kind="iterative", predict=memoised_predict(observations, final, "PINN-FWI"),
            # the training *is* each model's inversion: a per-sample cost (solve_s), not a one-off one (train_s)
            timings={"setup_s": setup_s, "compile_s": compile_s, "solve_s": per_model_s * len(inversions),
                     "reconstruction_s": per_model_s, "eval_s": eval_s},
            info={"steps": budget.steps, "n_params": setup.n_params, "shots": survey.shots,
                  "data_loss_initial": float(np.mean([f[1] for f in first])) if first else float("nan"),
                  "data_loss_last_chunk": float(np.mean([f[1] for f in last])) if last else float("nan"),
                  "pde_loss_initial": float(np.mean([f[2] for f in first])) if first else float("nan"),
                  "pde_loss_last_chunk": float(np.mean([f[2] for f in last])) if last else float("nan")},
            message=message,
        )


class _Setup:
    """Networks, losses and compiled training chunks shared by every record's inversion."""

    def __init__(self, solver: PINNInversion, survey: Survey, prior: np.ndarray, steps: int, seed: int):
        self.solver, self.survey, self.prior, self.steps, self.seed = solver, survey, prior, steps, seed
        h = survey.spacing
        nx, nz = survey.shape
        self.box = ((nx - 1) * h, (nz - 1) * h, (survey.nt - 1) * survey.dt)
        self.interval = max(1, math.ceil(steps / solver.checkpoints))
        self.marks = list(range(self.interval, steps, self.interval)) + [steps]
        self.nodes = jnp.asarray(node_points(survey.shape, h))
        self.sources = jnp.asarray(np.asarray(survey.sources, np.float32) * h)  # (shots, 2) km
        self.receivers = jnp.asarray(np.asarray(survey.receivers, np.float32) * h)
        self.mask = jnp.asarray(survey.trace_mask().T, jnp.float32)  # (receivers, shots): no trace next to its source
        self.times = jnp.asarray(survey.times.astype(np.float32))
        self.sigma = solver.source_width * h
        omega = 2.0 * np.pi * survey.peak_frequency
        self.residual_scale = omega**2 / float(np.mean(prior)) ** 2  # times U: u_tt / c^2 of the true field, in units of U
        self.initial = (self.wavefield_net(), velocity_network(prior, h, solver.velocity_width, solver.velocity_depth, seed + 1))
        self.params, self.static = eqx.partition(self.initial, eqx.is_inexact_array)
        self.n_params = parameter_count(self.initial)
        delay = round(solver.velocity_delay * steps)
        velocity_rate = optax.join_schedules([optax.constant_schedule(0.0), optax.constant_schedule(solver.velocity_learning_rate)], [delay])
        self.optimiser = optax.multi_transform(
            {"u": optax.adam(solver.learning_rate), "c": optax.adam(velocity_rate)},
            (jax.tree.map(lambda _: "u", self.params[0]), jax.tree.map(lambda _: "c", self.params[1])),
        )
        self.executables: dict[int, Callable] = {}
        self.velocity_on_nodes = jax.jit(lambda p: eqx.combine(p, self.static)[1](self.nodes).reshape(survey.shape))

    def wavefield_net(self) -> WavefieldNet:
        s = self.solver
        return WavefieldNet(StackedMLP(1, (3, *[s.width] * s.depth, self.survey.shots), jnp.tanh, seed=self.seed), self.box)

    def source(self, points: Float[Array, "n 3"], scale: Float[Array, ""]) -> Float[Array, "n s"]:
        """w(t) g_s(x, z) / U for every shot s."""
        squared = jnp.sum((points[:, None, :2] - self.sources[None]) ** 2, axis=-1)
        g = jnp.exp(-squared / (2.0 * self.sigma**2)) / (2.0 * jnp.pi * self.sigma**2)
        return ricker(points[:, 2:3], self.survey.peak_frequency) * g / scale

    def losses(self, params: PyTree, key: Array, data: Float[Array, "s nt r"], scale: Float[Array, ""]) -> tuple[Array, tuple[Array, Array]]:
        """(weighted total, (data term, PDE term)); ``data`` is already divided by ``scale`` = U."""
        s = self.solver
        u_net, c_net = eqx.combine(params, self.static)
        k_r, k_t, k_u, k_s, k_shot, k_time = jax.random.split(key, 6)
        receiver = jax.random.randint(k_r, (s.n_data,), 0, self.receivers.shape[0])
        level = jax.random.randint(k_t, (s.n_data,), 0, self.times.shape[0])
        at = jnp.concatenate([self.receivers[receiver], self.times[level][:, None]], axis=1)
        data_term = jnp.mean(((u_net(at) - data[:, level, receiver].T) * self.mask[receiver]) ** 2)

        box = jnp.asarray(self.box, jnp.float32)
        n_source = round(s.source_fraction * s.n_collocation)
        uniform = jax.random.uniform(k_u, (s.n_collocation - n_source, 3)) * box
        shot = jax.random.randint(k_shot, (n_source,), 0, self.sources.shape[0])
        near_xz = self.sources[shot] + SOURCE_SPREAD * self.sigma * jax.random.normal(k_s, (n_source, 2))
        near = jnp.concatenate([jnp.clip(near_xz, 0.0, box[:2]), jax.random.uniform(k_time, (n_source, 1)) * box[2]], axis=1)
        points = jnp.concatenate([uniform, near], axis=0)
        r = wave_residual(u_net, c_net, lambda p: self.source(p, scale), points) / self.residual_scale
        pde_term = jnp.mean(r**2)
        total = s.data_weight * data_term + s.pde_weight * pde_term
        if s.velocity_regularisation > 0:
            total = total + s.velocity_regularisation * jnp.mean(c_net.correction(points[:, :2]) ** 2)
        return total, (data_term, pde_term)

    def chunk(self, length: int) -> Callable:
        """``length`` fused Adam steps, compiled once for every record (the data are an argument)."""
        if length not in self.executables:

            def one(carry: tuple[PyTree, PyTree], key: Array, data: Array, scale: Array) -> tuple[tuple[PyTree, PyTree], Array]:
                p, state = carry
                (loss, (d, r)), grads = jax.value_and_grad(self.losses, has_aux=True)(p, key, data, scale)
                updates, state = self.optimiser.update(grads, state, p)
                return (optax.apply_updates(p, updates), state), jnp.stack([loss, d, r])

            def run(p: PyTree, state: PyTree, key: Array, data: Array, scale: Array) -> tuple[PyTree, PyTree, Array]:
                (p, state), losses = jax.lax.scan(lambda c, k: one(c, k, data, scale), (p, state), jax.random.split(key, length))
                return p, state, losses

            state = self.optimiser.init(self.params)
            data = jnp.zeros(self.survey.data_shape, jnp.float32)
            self.executables[length] = jax.jit(run).lower(self.params, state, jax.random.key(0), data, jnp.float32(1.0)).compile()
        return self.executables[length]

    def compile(self) -> float:
        """Seconds to compile every chunk length and the node evaluation."""
        t = time.perf_counter()
        for length in sorted({b - a for a, b in zip([0, *self.marks[:-1]], self.marks, strict=True)}):
            self.chunk(length)
        self.velocity_on_nodes(self.params).block_until_ready()
        return time.perf_counter() - t

    def invert(self, observed: np.ndarray, seed: int, allowance: float, progress: Callable[[int, dict], None]) -> Inversion:
        """Train both networks on one record from scratch, keeping the velocity at every mark."""
        scale = float(np.sqrt(np.mean(np.square(observed))))
        data = jnp.asarray(observed / scale, jnp.float32)
        params, state = self.params, self.optimiser.init(self.params)
        velocities = [np.asarray(self.velocity_on_nodes(params), np.float64)]
        seconds, losses = [0.0], [(math.nan,) * 3]  # step 0's entry: the first chunk's first step, once known
        key = jax.random.key(seed)
        done, train_s = 0, 0.0
        for mark in self.marks:
            key, sub = jax.random.split(key)
            t = time.perf_counter()
            new_params, new_state, chunk_losses = self.chunk(mark - done)(params, state, sub, data, jnp.float32(scale))
            chunk_losses = np.asarray(chunk_losses)  # blocks
            train_s += time.perf_counter() - t
            if not np.all(np.isfinite(chunk_losses)):
                return Inversion(velocities, seconds, losses, "diverged", f"non-finite loss within steps {done}..{mark}")
            params, state, done = new_params, new_state, mark
            if len(losses) == 1:
                losses[0] = tuple(float(v) for v in chunk_losses[0])  # evaluated before the first update
            velocities.append(np.asarray(self.velocity_on_nodes(params), np.float64))
            seconds.append(train_s)
            losses.append(tuple(float(v) for v in chunk_losses.mean(axis=0)))
            progress(done, {"loss": losses[-1][0], "data": losses[-1][1], "pde": losses[-1][2]})
            if train_s > allowance and done < self.steps:
                return Inversion(velocities, seconds, losses, "timeout", f"time allowance of {allowance:g} s spent after {done} steps")
        return Inversion(velocities, seconds, losses, "ok", "")


def _trace(inversions: list[Inversion], marks: list[int], evaluator: Evaluator) -> list[Checkpoint]:
    """Checkpoint j: every model's j-th velocity (its last when it stopped earlier), scored together."""
    steps = [0, *marks]
    count = max(len(inversion.velocities) for inversion in inversions)
    trace = []
    for j in range(count):
        at = aligned([len(inversion.velocities) for inversion in inversions], j)
        velocities = np.stack([inversion.velocities[k] for inversion, k in zip(inversions, at, strict=True)])
        chunk = [inversion.losses[k] for inversion, k in zip(inversions, at, strict=True)]
        trace.append(Checkpoint(
            wall_s=float(np.mean([inversion.seconds[k] for inversion, k in zip(inversions, at, strict=True)])), step=steps[j],
            metrics=evaluator(velocities), loss=float(np.mean([c[0] for c in chunk])),
            details={"data_loss": float(np.mean([c[1] for c in chunk])), "pde_loss": float(np.mean([c[2] for c in chunk]))},
        ))
    return trace


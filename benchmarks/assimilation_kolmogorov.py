"""asv benchmarks for assimilation on 64^2 Kolmogorov flow (Frerix et al.'s setting): the unit cost of each method.

One test experiment of ``kolmogorov_assimilation_2d`` at its defaults (nu = 1e-2, 16 velocity
sensors, 10 snapshots 25 steps apart, 10 forecast cycles), everything compiled in ``setup``:

- ``FourDVarIteration``: one evaluation of the 4D-Var cost and its gradient (the model through
  the window and its adjoint by automatic differentiation), the unit an L-BFGS iteration costs
  about one of (a zoom line search sometimes takes more);
- ``EnsembleCycle``: one cycle of the local ensemble smoother with 32 members (forecast of
  every member, the local transforms, the smoother's update of the earlier cycles);
- ``PinnStep``: one Adam step of the vorticity-stream function PINN (4 x 64 tanh, 4096
  collocation points), as steps per second.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from parity.problems.kolmogorov_assimilation_2d import KolmogorovAssimilation2D
from parity.solvers.assimilation.ensemble_kalman import EnsembleTransformKF
from parity.solvers.assimilation.pinn_assimilation import PhysicsInformedAssimilation
from parity.solvers.assimilation.pinn_fields import StreamVorticityFit
from parity.solvers.assimilation.variational import background_factor, window_cost

PINN_STEPS = 20


def _problem() -> KolmogorovAssimilation2D:
    return KolmogorovAssimilation2D(n_validation=1, n_test=1)


class FourDVarIteration:
    """Seconds per 4D-Var cost-and-gradient evaluation over Frerix et al.'s window."""

    timeout = 600

    def setup(self) -> None:
        problem = _problem()
        observations = jnp.asarray(problem.experiments("test").observations[0], jnp.float32)
        factor = jnp.asarray(background_factor(problem, 1.0), jnp.float32)
        background = jnp.asarray(problem.prior[0], jnp.float32)
        weights = jnp.ones(len(observations))
        self.evaluate = jax.jit(jax.value_and_grad(
            lambda v: window_cost(v, background, factor, observations, weights, problem.model_step, problem.observe, problem.noise)))
        self.v = jnp.zeros(problem.state_size, jnp.float32)
        jax.block_until_ready(self.evaluate(self.v))

    def time_cost_and_gradient(self) -> None:
        jax.block_until_ready(self.evaluate(self.v))


class EnsembleCycle:
    """Seconds per cycle of the local ensemble smoother (N = 32, radius 4) over the window and the forecast."""

    timeout = 600

    def setup(self) -> None:
        self.problem = _problem()
        self.observations = self.problem.experiments("test").observations
        self.assimilate = EnsembleTransformKF(members=32, localisation=4.0).assimilator(self.problem, 1.1, 0)
        self.assimilate(self.observations)  # compile

    def time_window_and_forecast(self) -> None:
        self.assimilate(self.observations)

    def track_seconds_per_cycle(self) -> float:
        started = time.perf_counter()
        self.assimilate(self.observations)
        return (time.perf_counter() - started) / self.problem.scored_cycles

    track_seconds_per_cycle.unit = "s"  # type: ignore[attr-defined]


class PinnStep:
    """Adam steps per second of the vorticity-stream function PINN on one experiment."""

    timeout = 600

    def setup(self) -> None:
        problem = _problem()
        solver = PhysicsInformedAssimilation(width=64, depth=4, n_collocation=4096)
        fit = StreamVorticityFit.build(solver, problem, problem.experiments("test").observations, seed=0)
        optimiser = optax.adam(1e-3)
        self.net, self.state = fit.net, optimiser.init(eqx.filter(fit.net, eqx.is_array))
        self.run = fit.program(optimiser, line_search=False).lower(self.net, self.state, PINN_STEPS).compile()
        jax.block_until_ready(self.run(self.net, self.state, PINN_STEPS))

    def time_steps(self) -> None:
        jax.block_until_ready(self.run(self.net, self.state, PINN_STEPS))

    def track_steps_per_second(self) -> float:
        started = time.perf_counter()
        jax.block_until_ready(self.run(self.net, self.state, PINN_STEPS))
        return PINN_STEPS / (time.perf_counter() - started)

    track_steps_per_second.unit = "steps/s"  # type: ignore[attr-defined]


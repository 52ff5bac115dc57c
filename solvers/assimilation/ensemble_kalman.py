"""The ensemble transform Kalman filter (ETKF; Hunt, Kostelich & Szunyogh 2007), global or local (LETKF).

Each cycle forecasts every member through the model, then updates the ensemble in the span of
its anomalies A (N x n): with Y = A H^T the observed anomalies and R = noise^2 I,

    Pa = ((N - 1) I + Y R^-1 Y^T)^-1,   w = Pa Y R^-1 (y - H mean),   W = ((N - 1) Pa)^(1/2),

the analysis members are mean + (w + W_i) A: the symmetric square root keeps the mean and is
the square-root EnKF of Sakov & Oke's table. The analysis anomalies are then inflated by a
factor (DAPPER's convention), chosen on the validation experiments unless given (and at least
:data:`SPIN_UP_INFLATION` while the ensemble spins up from the climatology). With a
localisation radius the update is done per state variable with R^-1 tapered by the
Gaspari-Cohn function of the distance to each observation on the state's periodic grid (the
LETKF), so a small ensemble need not span the whole attractor.

On a window problem (an initial state from a window of observations, then a forecast) the same
filter runs over the window, and each cycle's transform is also applied to the ensembles of the
earlier cycles (per state variable when local: the no-cost ensemble Kalman smoother of Kalnay &
Yang 2010), so the estimate at every cycle of the window uses all of its observations, as
4D-Var's does; the forecast is the mean of the last analysis ensemble run on by the model.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import at_least, knob
from parity.problems.assimilation import AssimilationProblem
from parity.problems.base import Problem
from parity.solvers.assimilation.tuning import Assimilate, given_or_chosen, tuned_assimilation_solve
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult

INFLATIONS = (1.0, 1.01, 1.02, 1.03, 1.04, 1.06, 1.08, 1.1, 1.15, 1.2, 1.3, 1.5)
"""The validation search's candidates for the inflation factor."""
SPIN_UP_INFLATION = 1.1
"""The least inflation over the first half of the problem's unscored burn-in: an ensemble drawn from the
climatology collapses onto the truth's neighbourhood in a few cycles and, at a small tuned inflation, can
lose it there for good (filter divergence); once it tracks, the tuned value takes over."""


def gaspari_cohn(r: Float[Array, "..."]) -> Float[Array, "..."]:
    """Gaspari & Cohn's (1999) compactly supported fifth-order taper of r = distance / radius (zero past r = 2)."""
    r = jnp.abs(r)
    near = 1 - 5 / 3 * r**2 + 5 / 8 * r**3 + 1 / 2 * r**4 - 1 / 4 * r**5
    far = 4 - 5 * r + 5 / 3 * r**2 + 5 / 8 * r**3 - 1 / 2 * r**4 + 1 / 12 * r**5 - 2 / (3 * jnp.maximum(r, 1e-12))
    return jnp.where(r <= 1, near, jnp.where(r < 2, far, 0.0))


def transform(anomalies_obs: Float[Array, "N p"], innovation: Float[Array, " p"], precision: Float[Array, " p"]) -> tuple[Array, Array]:
    """ETKF weights (w, W) from the observed anomalies, y - H mean and the diagonal of R^-1 (possibly tapered)."""
    members = anomalies_obs.shape[0]
    scaled = anomalies_obs * precision
    eigenvalues, vectors = jnp.linalg.eigh((members - 1) * jnp.eye(members) + scaled @ anomalies_obs.T)
    mean_weights = vectors @ ((vectors.T @ (scaled @ innovation)) / eigenvalues)
    root = (vectors * jnp.sqrt((members - 1) / eigenvalues)) @ vectors.T
    return mean_weights, root


def analysis_transform(ensemble: Float[Array, "N n"], y: Float[Array, " p"], observe: Callable[[Array], Array], noise: float,
                       taper: Float[Array, "n p"] | None) -> Float[Array, "N N"] | Float[Array, "n N N"]:
    """T of the analysis, member a = mean + sum_b T[a, b] anomalies[b]: one T (global), or one per state variable (``taper``)."""
    mean = ensemble.mean(axis=0)
    anomalies_obs = observe(ensemble - mean)  # H is linear: the observed anomalies
    innovation = y - observe(mean)
    if taper is None:
        w, root = transform(anomalies_obs, innovation, jnp.full(y.shape, noise**-2))
        return w + root
    w, root = jax.vmap(lambda rho: transform(anomalies_obs, innovation, rho * noise**-2))(taper)  # (n, N), (n, N, N)
    return w[:, None, :] + root


def apply_transform(transform_: Float[Array, "N N"] | Float[Array, "n N N"], ensemble: Float[Array, "N n"],
                    inflation: Array | float = 1.0) -> Float[Array, "N n"]:
    """The ensemble transformed by T (an analysis now, or the same weights applied to an earlier ensemble: the smoother), then inflated."""
    mean = ensemble.mean(axis=0)
    anomalies = ensemble - mean
    update = transform_ @ anomalies if transform_.ndim == 2 else jnp.einsum("jab,bj->aj", transform_, anomalies)
    updated = mean + update
    new_mean = updated.mean(axis=0)
    return new_mean + inflation * (updated - new_mean)


def localisation_taper(problem: AssimilationProblem, radius: float) -> Float[Array, "n p"]:
    """The Gaspari-Cohn weight of each observed value for each state variable, by distance on the state's periodic grid."""
    shape = np.asarray(problem.state_shape)
    variables = np.stack(np.unravel_index(np.arange(problem.state_size), problem.state_shape), axis=-1)
    gap = np.abs(variables[:, None, :] - problem.observation_positions()[None, :, :])
    distance = np.sqrt(np.sum(np.minimum(gap, shape - gap) ** 2, axis=-1))
    return gaspari_cohn(jnp.asarray(distance / radius, jnp.float32))


@dataclasses.dataclass(frozen=True)
class EnsembleTransformKF(Solver):
    name: ClassVar[str] = "etkf"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = ("ensemble transform Kalman filter (square-root EnKF; LETKF with a localisation radius; over a window, the "
                                  "no-cost smoother), inflation tuned on validation")
    requires: ClassVar[str] = "an assimilation problem"

    members: int = knob(24, "ensemble size N (Sakov's square-root EnKF: 24)", "integer >= 2", at_least(2))
    inflation: float = knob(0.0, "multiplicative inflation of the analysis anomalies; 0 chooses it on validation", "0 or a number >= 1",
                            lambda value: value == 0 or value >= 1)
    localisation: float = knob(0.0, "Gaspari-Cohn half-width in grid points (LETKF); 0 = a global update", "number >= 0", at_least(0))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, AssimilationProblem)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AssimilationProblem)

        def tune() -> tuple[Assimilate, dict[str, object]]:
            return given_or_chosen("inflation", self.inflation, INFLATIONS, lambda value: self.assimilator(problem, value, seed), problem, progress)

        return tuned_assimilation_solve(problem, evaluator, progress, tune)

    def assimilator(self, problem: AssimilationProblem, inflation: float, seed: int) -> Assimilate:
        """The filter (smoother) with this inflation: each experiment starts from its own draw of the prior."""
        spin_up = np.arange(problem.observed_cycles) < problem.spin_up_cycles
        inflations = jnp.asarray(np.where(spin_up, max(inflation, SPIN_UP_INFLATION), inflation), jnp.float32)
        batched = _compiled_filter(self, problem)

        def assimilate(observations: np.ndarray) -> np.ndarray:
            keys = jax.random.split(jax.random.key(seed), len(observations))
            return np.asarray(batched(jnp.asarray(observations, jnp.float32), keys, inflations[: observations.shape[1]]), np.float64)

        return assimilate


@functools.lru_cache(maxsize=4)
def _compiled_filter(solver: EnsembleTransformKF, problem: AssimilationProblem) -> Callable[[Array, Array, Array], Array]:
    """The filter (or, on a window problem, the smoother and its forecast) over a batch of experiments, compiled once per
    solver and problem (the inflation is an argument)."""
    mean = jnp.asarray(problem.prior[0], jnp.float32)
    root = jnp.asarray(problem.prior_root, jnp.float32)
    taper = localisation_taper(problem, solver.localisation) if solver.localisation else None

    def update(ensemble: Array, y: Array) -> Array:
        return analysis_transform(ensemble, y, problem.observe, problem.noise, taper)

    def filter_run(ensemble: Array, observations: Float[Array, "k p"], inflations: Float[Array, " k"]) -> Float[Array, "k n"]:
        def cycle(ensemble: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
            y, inflation = inputs
            forecast = problem.model_step(ensemble)
            ensemble = apply_transform(update(forecast, y), forecast, inflation)
            return ensemble, ensemble.mean(axis=0)

        return jax.lax.scan(cycle, ensemble, (observations, inflations))[1]

    def smoother_run(ensemble: Array, observations: Float[Array, "c p"], inflations: Float[Array, " c"]) -> Float[Array, "k n"]:
        def cycle(carry: tuple[Array, Array], inputs: tuple[Array, Array, Array]) -> tuple[tuple[Array, Array], None]:
            ensemble, history = carry
            y, inflation, k = inputs
            weights = update(ensemble, y)
            history = jax.vmap(lambda past: apply_transform(weights, past))(history)
            ensemble = apply_transform(weights, ensemble, inflation)
            return (problem.model_step(ensemble), history.at[k].set(ensemble)), None

        cycles = len(observations)
        history = jnp.zeros((cycles, *ensemble.shape), ensemble.dtype)
        (forecast, history), _ = jax.lax.scan(cycle, (ensemble, history), (observations, inflations, jnp.arange(cycles)))
        later = jax.lax.scan(lambda members, _: (problem.model_step(members), members.mean(axis=0)), forecast, None,
                             length=problem.scored_cycles - cycles)[1]
        return jnp.concatenate([history.mean(axis=1), later])

    def run(observations: Float[Array, "c p"], key: Array, inflations: Float[Array, " c"]) -> Float[Array, "k n"]:
        ensemble = mean + jax.random.normal(key, (solver.members, len(mean))) @ root.T
        return (filter_run if problem.protocol == "filter" else smoother_run)(ensemble, observations, inflations)

    return jax.jit(jax.vmap(run, in_axes=(0, 0, None)))

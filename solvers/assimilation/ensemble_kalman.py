"""The ensemble transform Kalman filter (ETKF; Hunt, Kostelich & Szunyogh 2007), global or local (LETKF).

Each cycle forecasts every member through the model, then updates the ensemble in the span of
its anomalies A (N x n): with Y = A H^T the observed anomalies and R = noise^2 I,

    Pa = ((N - 1) I + Y R^-1 Y^T)^-1,   w = Pa Y R^-1 (y - H mean),   W = ((N - 1) Pa)^(1/2),

the analysis members are mean + (w + W_i) A: the symmetric square root keeps the mean and is
the square-root EnKF of Sakov & Oke's table. The analysis anomalies are then inflated by a
factor (DAPPER's convention), chosen on the validation experiments unless given (and at least
:data:`SPIN_UP_INFLATION` while the ensemble spins up from the climatology). With a
localisation radius the update is done per state variable with R^-1 tapered by the
Gaspari-Cohn function of the ring distance to each sensor (the LETKF), so a small ensemble
need not span the whole attractor.
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
from parity.solvers.assimilation.filtering import Assimilate, given_or_chosen, tuned_filter_solve
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


def analysis(ensemble: Float[Array, "N n"], y: Float[Array, " p"], observed: Array, noise: float, inflation: Array | float,
             taper: Float[Array, "n p"] | None) -> Float[Array, "N n"]:
    """The analysis ensemble (global when ``taper`` is None, else one local update per state variable)."""
    mean = ensemble.mean(axis=0)
    anomalies = ensemble - mean
    anomalies_obs = anomalies[:, observed]
    innovation = y - mean[observed]
    if taper is None:
        w, root = transform(anomalies_obs, innovation, jnp.full(y.shape, noise**-2))
        updated = mean + (w + root) @ anomalies
    else:
        w, root = jax.vmap(lambda rho: transform(anomalies_obs, innovation, rho * noise**-2))(taper)  # (n, N), (n, N, N)
        updated = mean + jnp.einsum("jab,bj->aj", w[:, None, :] + root, anomalies)
    new_mean = updated.mean(axis=0)
    return new_mean + inflation * (updated - new_mean)


@dataclasses.dataclass(frozen=True)
class EnsembleTransformKF(Solver):
    name: ClassVar[str] = "etkf"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "ensemble transform Kalman filter (square-root EnKF; LETKF with a localisation radius), inflation tuned on validation"
    requires: ClassVar[str] = "a filtering (cycled) assimilation problem"

    members: int = knob(24, "ensemble size N (Sakov's square-root EnKF: 24)", "integer >= 2", at_least(2))
    inflation: float = knob(0.0, "multiplicative inflation of the analysis anomalies; 0 chooses it on validation", "0 or a number >= 1",
                            lambda value: value == 0 or value >= 1)
    localisation: float = knob(0.0, "Gaspari-Cohn half-width in grid points (LETKF); 0 = a global update", "number >= 0", at_least(0))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, AssimilationProblem) and problem.protocol == "filter"

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AssimilationProblem)

        def tune() -> tuple[Assimilate, dict[str, object]]:
            return given_or_chosen("inflation", self.inflation, INFLATIONS, lambda value: self.assimilator(problem, value, seed), problem, progress)

        return tuned_filter_solve(problem, evaluator, progress, tune)

    def assimilator(self, problem: AssimilationProblem, inflation: float, seed: int) -> Assimilate:
        """The filter with this inflation: each experiment starts from its own draw of the climatology."""
        spin_up = np.arange(problem.cycles) < problem.burn_in // 2
        inflations = jnp.asarray(np.where(spin_up, max(inflation, SPIN_UP_INFLATION), inflation), jnp.float32)
        batched = _compiled_filter(self, problem)

        def assimilate(observations: np.ndarray) -> np.ndarray:
            keys = jax.random.split(jax.random.key(seed), len(observations))
            return np.asarray(batched(jnp.asarray(observations, jnp.float32), keys, inflations[: observations.shape[1]]), np.float64)

        return assimilate


@functools.lru_cache(maxsize=4)
def _compiled_filter(solver: EnsembleTransformKF, problem: AssimilationProblem) -> Callable[[Array, Array, Array], Array]:
    """The filter over a batch of experiments, compiled once per solver and problem (the inflation is an argument)."""
    mean, covariance = problem.prior
    root = jnp.asarray(np.linalg.cholesky(covariance + 1e-9 * np.eye(len(mean))), jnp.float32)
    observed = jnp.asarray(problem.observed())
    taper = None
    if solver.localisation:
        grid = np.arange(problem.state_size)
        gap = np.abs(grid[:, None] - problem.observed()[None, :])
        taper = gaspari_cohn(jnp.asarray(np.minimum(gap, problem.state_size - gap) / solver.localisation, jnp.float32))

    def run(observations: Float[Array, "k p"], key: Array, inflations: Float[Array, " k"]) -> Float[Array, "k n"]:
        ensemble = jnp.asarray(mean, jnp.float32) + jax.random.normal(key, (solver.members, len(mean))) @ root.T

        def cycle(ensemble: Array, inputs: tuple[Array, Array]) -> tuple[Array, Array]:
            y, inflation = inputs
            ensemble = analysis(problem.model_step(ensemble), y, observed, problem.noise, inflation, taper)
            return ensemble, ensemble.mean(axis=0)

        return jax.lax.scan(cycle, ensemble, (observations, inflations))[1]

    return jax.jit(jax.vmap(run, in_axes=(0, 0, None)))

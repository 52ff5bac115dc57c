"""Data assimilation: a model, noisy observations of its truth, and the state to estimate from them.

An assimilation problem is an observing-system simulation experiment. A truth runs through the
model and is observed every cycle through ``H`` (a subset of the state variables:
:meth:`AssimilationProblem.observed`) with Gaussian noise of standard deviation ``noise``. Every
method gets the same things: the model (:meth:`model_step`, in JAX, so it can be differentiated
and vmapped over ensembles), ``H``, the noise level, the observations and the prior
(:attr:`prior`: a mean and covariance every method starts from), and returns its estimate of
the state at every scored cycle. Experiments of the validation split (where methods tune an
inflation, a background weight) and of the test split come from disjoint seed streams.

Two protocols (:attr:`AssimilationProblem.protocol`):

- ``filter`` (cycled assimilation; Lorenz-96's standard check): every cycle is observed and
  scored, the estimate at cycle k may use the observations up to k, and the prior is the
  model's climatology (a long free run);
- ``window`` (a window of observations, then a forecast; Burgers, Kolmogorov flow): the first
  ``observed_cycles`` cycles are observed, the estimate covers them and the forecast cycles
  after them, and the prior is the distribution the truth's initial state is drawn from.

Each problem scores the estimates its own way (:meth:`AssimilationProblem.score`).
"""

from __future__ import annotations

import abc
import functools
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from jaxtyping import Array, Float

from parity.evaluation import Evaluator
from parity.knobs import ParameterError
from parity.problems.base import Problem

AssimilationSplit = Literal["validation", "test"]
Protocol = Literal["filter", "window"]
LAYOUTS = ("regular", "random")
"""Where sensors sit: equally spaced, or a fixed random subset."""
CYCLE_RMSE = "rmse_at_cycle_"
"""Prefix of a window problem's per-cycle RMSE metrics (the cycle's index follows)."""
SPLIT_STREAMS: dict[str, int] = {"validation": 1, "test": 2}
"""Seed stream of each split: experiment i of a split is drawn from ``(stream, i)``."""


def sensor_indices(sensors: int, size: int, layout: str, stream: int) -> np.ndarray:
    """The sorted state indices of ``sensors`` sensors among ``size`` variables: equally spaced, or a random subset fixed by ``stream``."""
    if layout == "regular":
        return np.unique(np.floor(np.arange(sensors) * size / max(sensors, 1)).astype(int))
    return np.sort(np.random.default_rng([stream, size, sensors]).choice(size, sensors, replace=False))


class Experiments(NamedTuple):
    """A split's experiments: the truth at the scored cycles and the observations of the observed ones."""

    truths: Float[np.ndarray, "m k n"]
    observations: Float[np.ndarray, "m c p"]


class AssimilationProblem(Problem):
    """Noisy partial observations of a model's truth, and the state to estimate from them."""

    kind = "assimilation"
    protocol: ClassVar[Protocol]
    default_metrics = ("rmse", "rel_l2")
    noise: float
    n_validation: int
    n_test: int

    @property
    @abc.abstractmethod
    def state_size(self) -> int:
        """Variables in the model's state."""

    @property
    @abc.abstractmethod
    def observed_cycles(self) -> int:
        """Cycles observed per experiment (the first ones)."""

    @property
    def scored_cycles(self) -> int:
        """Cycles estimated and scored per experiment: the observed ones, and for a window the forecast after them."""
        return self.observed_cycles

    @abc.abstractmethod
    def observed(self) -> np.ndarray:
        """The state variables at which ``H`` observes (sorted, at least one)."""

    @property
    def observation_size(self) -> int:
        """Values observed per cycle (one per observed variable unless :meth:`observe` reads more than one quantity there)."""
        return len(self.observed())

    @property
    def state_shape(self) -> tuple[int, ...]:
        """The grid the flattened state lives on (periodic along every axis): distances for localisation are measured on it."""
        return (self.state_size,)

    def observation_positions(self) -> Float[np.ndarray, "p d"]:
        """Each observed value's grid position on :attr:`state_shape` (the localisation's distances are to these)."""
        return np.stack(np.unravel_index(self.observed(), self.state_shape), axis=-1).astype(float)

    @property
    def spin_up_cycles(self) -> int:
        """Leading cycles in which an ensemble started from the prior is still spinning up (filters with an unscored burn-in)."""
        return 0

    @functools.cached_property
    def prior_root(self) -> Float[np.ndarray, "n n"]:
        """A square root L of the prior covariance (L L^T = C), computed once: a Cholesky factor, C regularised by 1e-9 of its trace."""
        return self.prior_root_factor()

    def prior_root_factor(self) -> Float[np.ndarray, "n n"]:
        """:attr:`prior_root`'s computation (a problem whose covariance has a known root overrides it)."""
        covariance = self.prior[1]
        return np.linalg.cholesky(covariance + 1e-9 * np.trace(covariance) * np.eye(len(covariance)))

    @abc.abstractmethod
    def model_step(self, x: Float[Array, "... n"]) -> Float[Array, "... n"]:
        """The model from one cycle to the next, in JAX (batched over leading axes)."""

    @abc.abstractmethod
    def truth_run(self, rng: np.random.Generator) -> Float[np.ndarray, "k n"]:
        """One experiment's truth at the scored cycles (float64)."""

    @abc.abstractmethod
    def prior_moments(self) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, "n n"]]:
        """Mean and covariance of the prior (computed once: :attr:`prior`)."""

    @abc.abstractmethod
    def score(self, estimates: Float[np.ndarray, "m k n"], truths: Float[np.ndarray, "m k n"]) -> dict[str, float]:
        """The problem's metrics of a split's estimates (``rmse`` among them)."""

    @functools.cached_property
    def prior(self) -> tuple[Float[np.ndarray, " n"], Float[np.ndarray, "n n"]]:
        """Mean and covariance every method starts from: the climatology of a filter, the initial states' distribution of a window."""
        return self.prior_moments()

    def observe(self, x: Any) -> Any:
        """H x, linear: the observed values of a state (NumPy or JAX, batched over leading axes)."""
        return x[..., self.observed()]

    def split_size(self, split: str) -> int:
        return {"validation": self.n_validation, "test": self.n_test}[self._check_split(split)]

    def experiments(self, split: str) -> Experiments:
        """The split's truths and noisy observations, simulated once per problem and split."""
        return _experiments(self, self._check_split(split))

    def check_observations(self, observations: np.ndarray) -> None:
        """Refuse observations a method cannot assimilate: the wrong shape or a non-finite value."""
        expected = (self.observed_cycles, self.observation_size)
        if observations.ndim != 3 or observations.shape[1:] != expected:
            raise ParameterError(f"{self.name}: observations of shape {observations.shape} cannot be assimilated; "
                                 f"allowed: (experiments, {expected[0]}, {expected[1]}) = (experiments, observed cycles, observed values)")
        bad = np.argwhere(~np.isfinite(observations))
        if len(bad):
            raise ParameterError(f"{self.name}: {len(bad)} observation(s) are not finite (first at experiment, cycle, sensor = "
                                 f"{tuple(int(i) for i in bad[0])}); allowed: finite values only (leave a missing sensor out of H)")

    def evaluator(self) -> Evaluator:
        test = self.experiments("test")
        return Evaluator(test.observations, test.truths, extra=self.score)

    hovmoller: ClassVar[bool] = True
    """Whether :meth:`picture` is a Hovmoller diagram (cycles down, variables across); a 2D state draws fields instead."""

    def picture(self, analyses: Float[np.ndarray, "k n"]) -> Float[np.ndarray, "a b"]:
        """One experiment's estimate as a Hovmoller diagram (cycles down, variables across)."""
        return np.asarray(analyses, dtype=np.float64)

    def _check_split(self, split: str) -> AssimilationSplit:
        if split not in SPLIT_STREAMS:
            raise ValueError(f"{self.name}: unknown split {split!r}; allowed: {', '.join(SPLIT_STREAMS)}")
        return split  # type: ignore[return-value]

    def _check_observed(self) -> None:
        """Called by subclasses once their knobs are set: H must pick at least one variable."""
        if len(self.observed()) == 0:
            raise ParameterError(f"{self.name}: the observation operator picks no state variable; "
                                 f"allowed: sensors between 1 and {self.state_size}")


class WindowAssimilation(AssimilationProblem):
    """The window protocol: the first ``window`` cycles observed (cycle 0 is t = 0), then ``forecast`` more estimated.

    Scores: ``rmse`` over the window's cycles (the analysis), ``initial_rel_l2`` of the state at
    t = 0, with a forecast ``forecast_rmse`` over its cycles and ``final_rel_l2`` at its last, and
    ``rmse_at_cycle_k`` at every scored cycle k (the error against lead time the report draws).
    """

    protocol: ClassVar[Protocol] = "window"
    window: int
    forecast: int

    @property
    def observed_cycles(self) -> int:
        return self.window

    @property
    def scored_cycles(self) -> int:
        return self.window + self.forecast

    def score(self, estimates: Float[np.ndarray, "m k n"], truths: Float[np.ndarray, "m k n"]) -> dict[str, float]:
        error = np.asarray(estimates, np.float64) - truths
        metrics = {
            "rmse": float(np.sqrt(np.mean(error[:, : self.window] ** 2))),
            "initial_rel_l2": float(np.mean(np.linalg.norm(error[:, 0], axis=-1) / np.linalg.norm(truths[:, 0], axis=-1))),
        }
        if self.forecast:
            metrics["forecast_rmse"] = float(np.sqrt(np.mean(error[:, self.window:] ** 2)))
            metrics["final_rel_l2"] = float(np.mean(np.linalg.norm(error[:, -1], axis=-1) / np.linalg.norm(truths[:, -1], axis=-1)))
        by_cycle = np.sqrt(np.mean(error**2, axis=(0, 2)))
        return metrics | {f"{CYCLE_RMSE}{k}": float(value) for k, value in enumerate(by_cycle)}


@functools.lru_cache(maxsize=8)
def _experiments(problem: AssimilationProblem, split: AssimilationSplit) -> Experiments:
    truths, observations = [], []
    for index in range(problem.split_size(split)):
        rng = np.random.default_rng([SPLIT_STREAMS[split], index])
        truth = problem.truth_run(rng)
        truths.append(truth)
        observed = problem.observe(truth[: problem.observed_cycles])
        observations.append(observed + problem.noise * rng.standard_normal(observed.shape))
    return Experiments(np.stack(truths), np.stack(observations))


class PeriodicPDE1D(abc.ABC):
    """A window problem whose model is a PDE in one periodic space dimension, for methods that take the equation itself (PINNs).

    Its state is the field on ``state_size`` equally spaced points of [0, period); cycle k is at time k * interval.
    """

    period: ClassVar[float]
    interval: float

    @abc.abstractmethod
    def pde_residual(self, u: Array, u_t: Array, u_x: Array, u_xx: Array) -> Array:
        """The equation's residual from the field and its derivatives at the same points."""

    @property
    @abc.abstractmethod
    def residual_scale(self) -> float:
        """Typical size of the residual's terms for a typical truth, so a loss on it is O(1)."""

    @property
    @abc.abstractmethod
    def field_scale(self) -> float:
        """Typical size of the field (the prior's standard deviation)."""


class VorticityWindow2D(abc.ABC):
    """A window problem whose model is a 2D vorticity equation on the periodic square [0, period)^2, for PINNs.

    Its state is the vorticity w on a ``grid`` x ``grid`` grid (x along the first axis), the velocity is
    (psi_y, -psi_x) with -lap psi = w, cycle k is at time k * interval, and its sensors measure the velocity
    (all u, then all v) or the vorticity at :meth:`sensor_points`.
    """

    period: ClassVar[float]
    grid: int
    interval: float
    observable: str

    @abc.abstractmethod
    def sensor_points(self) -> Float[np.ndarray, "s 2"]:
        """The sensors' (x, y)."""

    @abc.abstractmethod
    def vorticity_residual(self, w: Array, w_t: Array, w_x: Array, w_y: Array, w_lap: Array, u: Array, v: Array, y: Array) -> Array:
        """The vorticity equation's residual from the fields and derivatives at the same points."""

    @property
    @abc.abstractmethod
    def pinn_scales(self) -> dict[str, float]:
        """Typical sizes of the ``vorticity``, ``stream`` function, ``velocity`` and the ``residual``'s terms."""

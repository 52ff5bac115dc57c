"""Causal time marching for physics-informed training of evolution problems.

A PINN trained on all of space-time at once can fit a wrong late-time solution before
the early times, which determine it, are right. Time marching (Moseley et al.'s FBPINN
time scheduler; Wang et al.'s causal training) trains on a growing window [0, t_s]:
the first ``fraction`` of the training budget is split into ``stages`` equal parts and
stage s weights only collocation points with t <= (s + 1) / stages * T; the rest of the
budget uses every point. The budget is the steps or the seconds, whichever runs out first
(see :func:`.training.budget_progress`), so a time-budgeted run marches through every stage. In an FBPINN, subdomains ahead of the window then receive no
gradient, so they are switched on in causal order.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import ParameterError
from parity.problems.base import ForwardProblem


@dataclasses.dataclass(frozen=True)
class TimeMarching:
    times: Float[np.ndarray, " n"]
    """The time coordinate of each collocation point."""
    start: float
    end: float
    stages: int
    fraction: float

    @classmethod
    def for_problem(
        cls, problem: ForwardProblem, x_train: Float[np.ndarray, "n d"], stages: int, fraction: float, owner: str, lbfgs_fraction: float = 0.0
    ) -> TimeMarching | None:
        """The schedule for ``problem``, or None when ``stages`` is 1 (train on everything).

        Marching must end before L-BFGS starts: a line search needs one objective, and the
        marching window changes it between chunks.
        """
        if stages == 1:
            return None
        if fraction + lbfgs_fraction > 1:
            raise ParameterError(
                f"{owner}: parameters 'marching_fraction' = {fraction:g} and 'lbfgs_fraction' = {lbfgs_fraction:g} overlap; "
                "allowed: marching_fraction + lbfgs_fraction <= 1 (L-BFGS needs a fixed objective)"
            )
        if problem.time_axis is None:
            raise ParameterError(
                f"{owner}: parameter 'time_stages' = {stages} needs an evolution problem; "
                f"{problem.name!r} has no time axis (allowed: time_stages = 1)"
            )
        lower, upper = problem.bounds
        return cls(x_train[:, problem.time_axis], float(lower[problem.time_axis]), float(upper[problem.time_axis]), stages, fraction)

    def stage(self, progress: float) -> int:
        """The stage when ``progress`` (in [0, 1]) of the budget is spent; ``stages`` means marching is over."""
        return self.stages if progress >= self.fraction else int(progress * self.stages / self.fraction)

    def weights(self, progress: float) -> Float[np.ndarray, " n"]:
        """1 for the collocation points inside the window when ``progress`` of the budget is spent, else 0."""
        return self.window(self.times, progress)

    def window(self, times: Float[np.ndarray, " m"], progress: float) -> Float[np.ndarray, " m"]:
        """1 for ``times`` inside the window when ``progress`` of the budget is spent, else 0 (for redrawn points)."""
        stage = self.stage(progress)
        if stage >= self.stages:
            return np.ones_like(times, dtype=np.float32)
        horizon = self.start + (stage + 1) / self.stages * (self.end - self.start)
        return (times <= horizon).astype(np.float32)


def weighted_mean_square(residual: Float[Array, "n r"], weights: Float[Array, " n"], axis_name: str | None = None) -> Float[Array, ""]:
    """Mean of the squared residual over the points with weight 1.

    With ``axis_name`` (inside ``shard_map``), over the points of every device along that
    mesh axis: one ``psum`` of the two sums, whose transpose is the gradient's one all-reduce.
    """
    total, weight = jnp.sum(weights[:, None] * residual**2), jnp.sum(weights)
    if axis_name is not None:
        total, weight = jax.lax.psum((total, weight), axis_name)
    return total / (jnp.maximum(weight, 1.0) * residual.shape[1])

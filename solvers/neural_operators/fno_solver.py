"""The Fourier neural operator as a Parity solver, with the FNO paper's architectures and training recipe.

Architectures (Li et al. 2021, section 5): four Fourier layers, a 128-wide projection, and per
problem the paper's modes and width: 16 modes, width 64 for 1D Burgers; 12 modes, width 32
for Darcy; 12 modes, width 20 for the 2D+time Navier-Stokes network. For trajectories
(input and output channels are time frames) ``time_mode = autoregressive`` is the paper's
FNO-2D: the network maps the last ``input_channels`` frames to the next one and is rolled out
over the output frames, trained through the whole roll-out. ``direct`` maps input channels to
output channels in one pass (Burgers, Darcy).

``super_resolutions`` evaluates the trained network, unchanged, on the test instances given on
finer learning grids (the zero-shot super-resolution claim) and records each grid's error.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from parity.evaluation import Evaluator
from parity.knobs import ParameterError, at_least, knob
from parity.problems.base import Problem
from parity.problems.operator_learning import OperatorProblem, instance_errors
from parity.solvers.base import Budget, ProgressFn, SolveResult
from parity.solvers.neural_operators.fno import FourierNeuralOperator
from parity.solvers.neural_operators.training import OperatorLearner, train_operator

PAPER_SETTINGS: dict[str, tuple[int, int]] = {
    "burgers_operator_1d": (16, 64),
    "darcy_operator_2d": (12, 32),
    "navier_stokes_operator_2d": (12, 20),
}
"""(modes, width) of the FNO paper's network for each of its problems."""
FALLBACK_SETTINGS = {1: (16, 64), 2: (12, 32), 3: (8, 20)}
"""(modes, width) by spatial dimension for problems the paper did not have."""
TIME_MODES = ("direct", "autoregressive")
NON_PERIODIC_PADDING = 0.1
"""Zero-padding of the lifted field on a box, as a fraction of each axis (the FNO code pads 85 points by 9)."""


class Autoregressive(eqx.Module):
    """Roll a one-step network out over ``frames`` steps: each step sees the last ``window`` frames."""

    step: FourierNeuralOperator
    frames: int = eqx.field(static=True)

    def __call__(self, a: Float[Array, "window ..."]) -> Float[Array, "frames ..."]:
        def advance(window: Array, _: None) -> tuple[Array, Array]:
            frame = self.step(window)
            return jnp.concatenate([window[1:], frame]), frame[0]

        _, frames = jax.lax.scan(advance, a, None, length=self.frames)
        return frames


@dataclasses.dataclass(frozen=True)
class FNO(OperatorLearner):
    name: ClassVar[str] = "fno"
    description: ClassVar[str] = "Fourier neural operator (Li et al. 2021): the paper's architectures and training recipe"

    modes: int = knob(0, "Fourier modes kept per axis (0: the paper's for the problem, 16 in 1D and 12 in 2D)", "integer >= 0", at_least(0))
    width: int = knob(0, "channels of the Fourier layers (0: the paper's for the problem, 64 / 32 / 20)", "integer >= 0", at_least(0))
    layers: int = knob(4, "Fourier layers (the paper's 4)", "integer >= 1", at_least(1))
    projection: int = knob(128, "width of the pointwise projection MLP (the paper's 128)", "integer >= 1", at_least(1))
    time_mode: str = knob("direct", "direct: channels to channels in one pass; autoregressive: one frame at a time, rolled out (the paper's "
                          "FNO-2D for Navier-Stokes)", " | ".join(TIME_MODES), lambda v: v in TIME_MODES)
    super_resolutions: tuple[int, ...] = knob((), "finer learning grids to evaluate the trained network on, untrained there (zero-shot "
                                              "super-resolution)", "comma-separated integers >= 2 (or none)",
                                              lambda values: all(v >= 2 for v in values))

    def network(self, problem: OperatorProblem, key: PRNGKeyArray) -> eqx.Module:
        paper_modes, paper_width = PAPER_SETTINGS.get(problem.name, FALLBACK_SETTINGS[problem.spatial_dims])
        modes, width = self.modes or paper_modes, self.width or paper_width
        if any(2 * modes > n for n in problem.grid_shape):
            raise ParameterError(f"fno: {modes} modes per axis need a grid of at least {2 * modes} points; the learning grid is {problem.grid_shape}")
        padding = 0.0 if problem.periodic else NON_PERIODIC_PADDING
        if self.time_mode == "autoregressive":
            step = FourierNeuralOperator(problem.input_channels, 1, (modes,) * problem.spatial_dims, width, self.layers, self.projection,
                                         padding=padding, key=key)
            return Autoregressive(step, problem.output_channels)
        return FourierNeuralOperator(problem.input_channels, problem.output_channels, (modes,) * problem.spatial_dims, width, self.layers,
                                     self.projection, padding=padding, key=key)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, OperatorProblem)
        if self.super_resolutions and not hasattr(problem, "resolution"):
            raise ParameterError(f"fno: super_resolutions needs a problem with a resolution knob; {problem.name} has none")
        result = train_operator(problem, self, budget=budget, seed=seed, evaluator=evaluator, progress=progress)
        if result.predict is not None and self.super_resolutions:
            result.info["super_resolution"] = super_resolution(problem, result, self.super_resolutions)
        return result


def super_resolution(problem: OperatorProblem, result: SolveResult, resolutions: tuple[int, ...]) -> dict[str, dict[str, Any]]:
    """Per finer learning grid: the trained network's mean test error there and its inference seconds per instance."""
    assert result.predict is not None
    out = {}
    for resolution in resolutions:
        finer = dataclasses.replace(problem, resolution=resolution)  # type: ignore[type-var]
        test = finer.dataset("test")
        result.predict(test.inputs[:1])  # compiles for the new grid outside the timing
        started = time.perf_counter()
        prediction = result.predict(test.inputs)
        seconds = (time.perf_counter() - started) / len(test.inputs)
        out[str(resolution)] = {"rel_l2": float(np.mean(instance_errors(prediction, test.outputs))), "instance_s": seconds,
                                "data_s_per_instance": float(test.solve_s.mean())}
    return out

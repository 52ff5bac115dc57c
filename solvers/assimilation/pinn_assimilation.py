"""A physics-informed network fitted to the observations: the PINN's answer to a window problem.

Each test experiment gets its own network u(x, t) (tanh MLP on (cos x, sin x, t'), t' the time
scaled to [-1, 1], output times the prior's standard deviation: periodic in x by construction),
trained from scratch on (for a 1D PDE; a 2D vorticity problem gets the vorticity-stream function
PINN of :mod:`parity.solvers.assimilation.pinn_fields`, the same recipe)

    L = data_weight * mean over sensors and observed cycles of (u - y)^2 / field_scale^2
        + mean over collocation points of r(u)^2 / residual_scale^2,

r the problem's PDE residual (derivatives by forward-mode AD), the collocation points spread
over the window *and* the forecast period (a PINN forecasts by the physics alone past its data;
Du, Wang & Zaki 2022 found it fails just past the window when the physics stops there). The
networks of all experiments are stacked and trained in one program (their losses are
independent), with Adam and then L-BFGS for ``lbfgs_fraction`` of the steps, Raissi et al.'s
recipe. The PINN is given the same equation, observations and noise level as every method; it
does not use the prior covariance (its prior is its network and initialisation), which is the
method as published.

Checkpoints: every ``steps / checkpoints`` steps all experiments' estimates on the grid at the
scored cycles are scored together at the training seconds so far. ``predict`` returns the final
estimates of the test experiments it was trained on (assimilating other observations is a new
training run).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import ClassVar

import equinox as eqx
import numpy as np
import optax

from parity.knobs import at_least, knob
from parity.problems.assimilation import AssimilationProblem, PeriodicPDE1D, VorticityWindow2D
from parity.problems.base import Problem
from parity.solvers.assimilation.pinn_fields import FieldFit, ScalarFieldFit, StreamVorticityFit
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult
from parity.solvers.physics_informed.training import parameter_count


@dataclasses.dataclass(frozen=True)
class PhysicsInformedAssimilation(Solver):
    name: ClassVar[str] = "pinn_assimilation"
    family: ClassVar[str] = "sciml"
    description: ClassVar[str] = "PINN fitted to the observations and the PDE over the window and the forecast (Raissi et al.'s recipe)"
    requires: ClassVar[str] = "a window assimilation problem whose model is a periodic 1D PDE or a periodic 2D vorticity equation"

    width: int = knob(64, "hidden units per layer", "integer >= 1", at_least(1))
    depth: int = knob(4, "hidden layers", "integer >= 1", at_least(1))
    n_collocation: int = knob(4096, "collocation points over space x (window + forecast)", "integer >= 16", at_least(16))
    learning_rate: float = knob(1e-3, "Adam's learning rate (decayed tenfold over its steps)", "number > 0", lambda r: r > 0)
    lbfgs_fraction: float = knob(0.5, "fraction of the steps taken by L-BFGS after Adam", "number in [0, 1)", lambda f: 0 <= f < 1)
    data_weight: float = knob(1.0, "weight of the data misfit against the residual (0: the PINN without observations)", "number >= 0",
                              at_least(0))
    checkpoints: int = knob(10, "scored checkpoints over training", "integer >= 1", at_least(1))

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return (isinstance(problem, AssimilationProblem) and isinstance(problem, PeriodicPDE1D | VorticityWindow2D)
                and problem.protocol == "window")

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, AssimilationProblem)
        started = time.perf_counter()
        observations = np.asarray(evaluator.x_test)
        problem.check_observations(observations)
        fit: type[FieldFit] = ScalarFieldFit if isinstance(problem, PeriodicPDE1D) else StreamVorticityFit
        setup = fit.build(self, problem, observations, seed)
        setup_s = time.perf_counter() - started
        adam_steps = round(budget.steps * (1 - self.lbfgs_fraction))
        phases = [(optax.adam(optax.exponential_decay(self.learning_rate, max(adam_steps, 1), 0.1)), adam_steps, False),
                  (optax.lbfgs(), budget.steps - adam_steps, True)]
        marks = sorted({min(budget.steps, math.ceil(budget.steps * (j + 1) / self.checkpoints)) for j in range(self.checkpoints)})
        net, trace, train_s, compile_s, done, status = setup.net, [], 0.0, 0.0, 0, "ok"
        for optimiser, steps, line_search in phases:
            run, state, compiled = setup.program(optimiser, line_search), optimiser.init(eqx.filter(net, eqx.is_array)), {}
            while steps > 0 and status == "ok":
                chunk = min(steps, next(mark for mark in marks if mark > done) - done)
                if chunk not in compiled:  # compiled apart, so that training seconds are the steps' own
                    tick = time.perf_counter()
                    compiled[chunk] = run.lower(net, state, chunk).compile()
                    compile_s += time.perf_counter() - tick
                tick = time.perf_counter()
                net, state, loss = compiled[chunk](net, state, chunk)
                loss = float(loss)
                train_s += time.perf_counter() - tick
                done, steps = done + chunk, steps - chunk
                if not math.isfinite(loss):
                    status = "diverged"
                if done in marks or status != "ok":
                    trace.append(Checkpoint(wall_s=train_s, step=done, metrics=evaluator(setup.estimates(net)), loss=loss))
                    progress(done, budget.steps, {"rmse": trace[-1].metrics.get("rmse", math.nan), "loss": loss})
                if train_s > budget.seconds and done < budget.steps:
                    status = "timeout"
            if status != "ok":
                break
        final = setup.estimates(net)
        return SolveResult(
            status=status, trace=trace, trace_kind="iterative", predict=lambda _: final,
            timings={"setup_s": setup_s, "compile_s": compile_s, "train_s": train_s, "reconstruction_s": train_s / len(observations)},
            info={"steps": done, "n_params": parameter_count(net) // len(observations), "experiments": len(observations)},
            message="" if status == "ok" else f"stopped at step {done}: {status}",
        )



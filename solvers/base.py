"""What a solver is: configuration, budget, trace and result.

A solver is a frozen dataclass of its configuration knobs. ``solve`` receives the
problem, a budget, a seed and an :class:`Evaluator` that holds the problem's *test*
points: the solver reports test-set errors at its checkpoints through it and never
sees the reference solution itself. Failure is data: a diverged or crashed solve
returns a result with its status and the trace so far.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
from jaxtyping import Float

from parity.evaluation import Evaluator
from parity.knobs import Configurable
from parity.problems.base import Problem

Status = Literal["ok", "diverged", "timeout", "error"]


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much a solver may use: optimiser steps, wall seconds, devices."""

    steps: int = 10_000
    """Optimisation steps for iterative solvers. Classical solvers ignore it."""
    seconds: float = float("inf")
    """Wall-time limit for the solve itself; a solver stops at its next checkpoint past it."""
    devices: int = 1
    """JAX devices a SciML solver spreads over (a mesh of the first ``devices`` of
    ``jax.devices()``), or MPI ranks of a classical solver launched under ``mpiexec``."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"budget steps must be an integer >= 1; got {self.steps}")
        if not self.seconds > 0:
            raise ValueError(f"budget seconds must be > 0; got {self.seconds}")
        if self.devices < 1:
            raise ValueError(f"budget devices must be an integer >= 1; got {self.devices}")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """One point of a trace.

    For iterative solvers ``wall_s`` is cumulative training time (compile and
    evaluation excluded) at ``step``; for refinement sweeps each checkpoint is an
    independent solve at resolution ``step`` and ``wall_s`` is that solve's own time.
    """

    wall_s: float
    step: int
    metrics: dict[str, float]
    loss: float = float("nan")
    details: dict[str, float] = dataclasses.field(default_factory=dict)
    """Solver-specific breakdown of the checkpoint (assembly vs solve seconds, iterations...)."""

    def row(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "step": self.step, "loss": self.loss, **self.metrics, **self.details}


TraceKind = Literal["iterative", "refinement"]


@dataclasses.dataclass
class SolveResult:
    status: Status
    trace: list[Checkpoint]
    trace_kind: TraceKind
    predict: Callable[[Float[np.ndarray, "m d"]], Float[np.ndarray, "m out"]] | None
    timings: dict[str, float]
    """Seconds, kept apart: setup_s, compile_s, train_s (iterative) or solve_s (classical). Solvers that
    invert each test sample inside ``solve`` (FWI, PINN inversion) add ``reconstruction_s`` per sample,
    and their ``predict`` returns those inversions for the test observations instead of redoing them."""
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Solver facts worth recording: steps done, parameter count, resolution, ..."""
    message: str = ""
    pictures: dict[str, Float[np.ndarray, "h w"]] = dataclasses.field(default_factory=dict)
    """Extra images of the first test sample the store keeps beside its reconstruction (a sampler's per-pixel spread)."""


ProgressFn = Callable[[int, int, dict[str, float]], None]
"""``progress(done, total, postfix)``, called at checkpoints."""


class Solver(Configurable, abc.ABC):
    """A frozen dataclass of configuration knobs with a ``solve`` method."""

    name: ClassVar[str]
    family: ClassVar[Literal["sciml", "classical"]]
    description: ClassVar[str]
    deterministic: ClassVar[bool] = False
    """True when the seed cannot change the result (a sweep then runs one seed)."""
    mpi_parallel: ClassVar[bool] = False
    """True when ``solve`` distributes its work over the MPI ranks of an ``mpiexec`` launch."""
    multi_device: ClassVar[bool] = False
    """True when ``solve`` spreads its work over ``budget.devices`` JAX devices."""
    approach: ClassVar[str] = ""
    """How an inverse-problem solver brings in prior knowledge (classical, unrolled, diffusion, plug-and-play,
    post-processing, deep image prior): reports name the best method of each."""
    requires: ClassVar[str] = ""
    """What a problem must offer, said when ``supports`` refuses one."""

    @classmethod
    @abc.abstractmethod
    def supports(cls, problem: Problem) -> bool:
        """Whether this solver can solve ``problem`` (by the interfaces it implements)."""

    @abc.abstractmethod
    def solve(
        self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn
    ) -> SolveResult:
        """Solve, reporting test errors at checkpoints; never raise for divergence."""

"""asv benchmarks for the 1D multi-scale ODE (``MultiScale1D``, the FBPINN paper's problem).

Three questions:

* ``ClassicalSolve``: what a converged classical solve costs, and how accurate it is;
* ``TrainStep`` and ``TrainingThroughput``: how fast the physics-informed solvers train
  once compiled, and how long compiling takes;
* ``Accuracy``: what error the physics-informed solvers reach on a fixed step budget.

asv treats a smaller number as better for every benchmark, so only errors and seconds
are tracked here (never rates such as steps per second). Training is expensive, so
``TrainingThroughput`` and ``Accuracy`` share one ``setup_cache`` (the same function, so
asv runs it once for both): it trains every combination once, and the ``track_`` methods
only look the numbers up. The throughput is read off the first 500 steps of the
2000-step training, which are exactly a 500-step training (same seed, same compiled
dispatches of 100 steps, no step-dependent schedule at the defaults).

The long budget (10 000 steps, median over three seeds) runs only with
``PARITY_ASV_SLOW=1`` in the environment; otherwise those combinations are skipped and
show as ``n/a``.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from functools import partial

import jax

from parity.problems import MultiScale1D
from parity.solvers import FBPINN, PINN, Budget, Evaluator, SolveResult
from parity.solvers.pde.chebyshev import chebyshev_solution
from parity.solvers.pde.rk_ode import dop853_solution

from ._compilation_cache import cache_compilations

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"
"""Run the long training budget too (like SciPy's ``SCIPY_XSLOW``)."""

OMEGA2_SCIML: list[float] = [15.0, 30.0]
SCIML_SOLVERS: list[str] = ["pinn", "fbpinn", "fbpinn_multilevel"]

THROUGHPUT_STEPS = 500
"""Steps of the throughput measurement: five fused dispatches of 100 steps at the solvers' defaults."""

THROUGHPUT_SOURCE_STEPS = 2000
"""The budget whose seed-0 training also gives the throughput (its first ``THROUGHPUT_STEPS`` steps)."""

ACCURACY_SEEDS: dict[int, tuple[int, ...]] = {2000: (0,), 10_000: (0, 1, 2)}
"""Step budget -> training seeds. The long budget reports the median over three seeds.

Each budget always uses the same seeds, so a result keeps one meaning across runs.
"""

TARGET_REL_L2 = 1e-2
"""Error level of ``Accuracy.track_time_to_1e2``."""


def _quiet(done: int, total: int, postfix: dict[str, float]) -> None:
    """Progress callback that reports nothing (asv captures output anyway)."""


def _setup(omega2: float) -> tuple[MultiScale1D, Evaluator]:
    """The problem at scale ``omega2`` and an evaluator on its held-out test points."""
    problem = MultiScale1D(omega2=omega2)
    x_test = problem.test_points()
    return problem, Evaluator(x_test, problem.reference(x_test))


def _key(omega2: float, solver: str, steps: int | None = None) -> str:
    """Key of one combination in a ``setup_cache`` dict (plain strings pickle safely)."""
    return f"{omega2:g}/{solver}" if steps is None else f"{omega2:g}/{solver}/{steps}"


def chebyshev_degree(omega2: float) -> int:
    """A converged degree: at least 256, and about 8 per unit of omega2, as a power of two.

    omega2 = 15 and 30 give 256, omega2 = 60 gives 512; each reaches rel_l2 near 1e-11
    or below, so the classical cost is measured where the error is at its floor.
    """
    return 2 ** math.ceil(math.log2(max(256.0, 8.0 * omega2)))


def sciml_solver(name: str) -> PINN | FBPINN:
    """A physics-informed solver at its default knobs; the multilevel FBPINN has six levels."""
    if name == "pinn":
        return PINN()
    if name == "fbpinn":
        return FBPINN()
    if name == "fbpinn_multilevel":
        return FBPINN(levels=(1, 2, 4, 8, 16, 32))
    raise ValueError(f"unknown physics-informed solver {name!r}")


def warm_up_jax() -> None:
    """Run a tiny training so JAX's one-off start-up is not charged to the first combination."""
    problem = MultiScale1D(n_test=10)
    x_test = problem.test_points()
    tiny = PINN(width=4, depth=1, n_collocation=16, steps_per_dispatch=2)
    tiny.solve(problem, Budget(steps=2), 0, Evaluator(x_test, problem.reference(x_test)), _quiet)


def train(omega2: float, solver: str, steps: int, seed: int) -> SolveResult:
    """One training of ``solver`` on the problem at ``omega2`` for ``steps`` steps."""
    problem, evaluator = _setup(omega2)
    result = sciml_solver(solver).solve(problem, Budget(steps=steps), seed, evaluator, _quiet)
    if result.status != "ok":
        print(f"{_key(omega2, solver, steps)} seed {seed}: {result.status}: {result.message}", file=sys.stderr)
    return result


class ClassicalSolve:
    """Cost and error of one converged classical solve: the baseline the networks must beat.

    ``time_solve`` times one solve at a converged resolution (Chebyshev interpolation and
    integration, or both DOP853 marches), without evaluation on the test points.
    """

    params = ([15.0, 30.0, 60.0], ["chebyshev", "rk_ode"])
    param_names = ["omega2", "solver"]

    def setup(self, omega2: float, solver: str) -> None:
        self.problem, self.evaluator = _setup(omega2)
        if solver == "chebyshev":
            self.solve = partial(chebyshev_solution, self.problem, chebyshev_degree(omega2))
        else:
            self.solve = partial(dop853_solution, self.problem, 1e-10)

    def time_solve(self, omega2: float, solver: str) -> None:
        self.solve()

    def track_rel_l2(self, omega2: float, solver: str) -> float:
        return self.evaluator(self.solve()(self.evaluator.x_test))["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]


class TrainStep:
    """Wall time of 100 fused, compiled optimiser steps (one dispatch), compile excluded."""

    params = (OMEGA2_SCIML, SCIML_SOLVERS)
    param_names = ["omega2", "solver"]
    timeout = 300

    def setup(self, omega2: float, solver: str) -> None:
        cache_compilations()  # compilation is not timed here: load it from the disk cache
        problem, evaluator = _setup(omega2)
        task = sciml_solver(solver).training_task(problem, 0, evaluator.x_test)
        self.steps = task.compile_steps(100)
        self.params_, _, self.opt_state = task.initial_state()
        self.data = task.data
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))  # warm caches

    def time_100_steps(self, omega2: float, solver: str) -> None:
        jax.block_until_ready(self.steps(self.params_, self.opt_state, self.data))


def seconds_per_1000_steps(result: SolveResult, steps: int | None = None) -> float:
    """1000 x the median seconds per step over the fused dispatches of an iterative trace.

    A checkpoint's ``wall_s`` is cumulative training time (compile and evaluation
    excluded), so consecutive checkpoints time one dispatch each; the median over the
    dispatches shrugs off a one-off stall better than ``train_s / steps`` would. With
    ``steps``, only the dispatches within the first ``steps`` steps count.
    """
    points = [(p.step, p.wall_s) for p in result.trace if steps is None or p.step <= steps]
    per_step = [(w1 - w0) / (s1 - s0) for (s0, w0), (s1, w1) in zip(points, points[1:]) if s1 > s0]
    return 1000.0 * statistics.median(per_step) if per_step else math.nan


def _seconds_to_target(result: SolveResult) -> float:
    """Setup + compile + training seconds at the first checkpoint with rel_l2 <= 1e-2; inf if never."""
    for point in result.trace:
        if point.metrics["rel_l2"] <= TARGET_REL_L2:
            return result.timings["setup_s"] + result.timings["compile_s"] + point.wall_s
    return math.inf


def _finite_or_nan(value: float) -> float:
    """asv records NaN as a missing value (shown as n/a); it has no use for infinity."""
    return value if math.isfinite(value) else math.nan


def train_all(benchmark: object) -> dict[str, dict[str, float]]:
    """Every training of ``TrainingThroughput`` and ``Accuracy``, once, after a tiny warm-up training.

    Both classes' ``setup_cache`` is this function: asv keys a cache by the function's
    module and line, so it runs once per ``asv run`` and hands the dict to both. Keyed
    by ``omega2/solver`` (throughput and compile time, from the 2000-step seed-0
    training) and ``omega2/solver/steps`` (error and time to 1e-2 of each budget).
    """
    warm_up_jax()
    cache: dict[str, dict[str, float]] = {}
    for steps, seeds in ACCURACY_SEEDS.items():
        if steps > 2000 and not SLOW:
            continue
        for omega2 in OMEGA2_SCIML:
            for solver in SCIML_SOLVERS:
                errors, seconds = [], []
                for seed in seeds:
                    result = train(omega2, solver, steps, seed)
                    ok = result.status == "ok"
                    errors.append(result.trace[-1].metrics["rel_l2"] if ok else math.inf)
                    seconds.append(_seconds_to_target(result))
                    if steps == THROUGHPUT_SOURCE_STEPS and seed == 0:
                        cache[_key(omega2, solver)] = {
                            "seconds_per_1000_steps": seconds_per_1000_steps(result, THROUGHPUT_STEPS),
                            "compile_s": result.timings["compile_s"],
                        }
                cache[_key(omega2, solver, steps)] = {
                    "rel_l2": _finite_or_nan(statistics.median(errors)),
                    "time_to_1e2": _finite_or_nan(statistics.median(seconds)),
                }
    return cache


class TrainingThroughput:
    """Seconds per 1000 optimiser steps once compiled, and the ahead-of-time compile time.

    The solvers time training apart from compilation (``compile_s``) and from test-set
    evaluation, so one solve per combination gives both honestly; the throughput is the
    median over the five dispatches of 100 fused steps in its first 500 steps. The
    trainings are ``Accuracy``'s 2000-step ones (seed 0), run once in the shared
    ``setup_cache`` after a tiny warm-up training.
    """

    params = (OMEGA2_SCIML, SCIML_SOLVERS)
    param_names = ["omega2", "solver"]
    timeout = 3600 if SLOW else 900
    number = 1
    repeat = 1
    processes = 1  # the numbers come from the cache; more processes would only re-read it

    setup_cache = train_all  # the same function as Accuracy's: asv runs it once for both classes

    def track_seconds_per_1000_steps(self, cache: dict[str, dict[str, float]], omega2: float, solver: str) -> float:
        return cache[_key(omega2, solver)]["seconds_per_1000_steps"]

    track_seconds_per_1000_steps.unit = "seconds"  # type: ignore[attr-defined]

    def track_compile_seconds(self, cache: dict[str, dict[str, float]], omega2: float, solver: str) -> float:
        return cache[_key(omega2, solver)]["compile_s"]

    track_compile_seconds.unit = "seconds"  # type: ignore[attr-defined]


class Accuracy:
    """Test error after a fixed step budget, and the time to reach rel_l2 = 1e-2.

    The 2000-step budget trains seed 0; the 10 000-step budget (``PARITY_ASV_SLOW=1``
    only) reports the median over seeds 0, 1 and 2. A training that diverges counts as
    an infinite error, so it is ``n/a`` unless the other seeds carry the median.
    """

    params = (OMEGA2_SCIML, SCIML_SOLVERS, sorted(ACCURACY_SEEDS))
    param_names = ["omega2", "solver", "steps"]
    timeout = 3600 if SLOW else 900
    number = 1
    repeat = 1
    processes = 1  # the numbers come from the cache; more processes would only re-read it

    setup_cache = train_all  # shared with TrainingThroughput

    def setup(self, cache: dict[str, dict[str, float]], omega2: float, solver: str, steps: int) -> None:
        if _key(omega2, solver, steps) not in cache:
            raise NotImplementedError(f"the {steps}-step budget runs only with PARITY_ASV_SLOW=1")

    def track_rel_l2(self, cache: dict[str, dict[str, float]], omega2: float, solver: str, steps: int) -> float:
        return cache[_key(omega2, solver, steps)]["rel_l2"]

    track_rel_l2.unit = "relative L2 error"  # type: ignore[attr-defined]

    def track_time_to_1e2(self, cache: dict[str, dict[str, float]], omega2: float, solver: str, steps: int) -> float:
        return cache[_key(omega2, solver, steps)]["time_to_1e2"]

    track_time_to_1e2.unit = "seconds"  # type: ignore[attr-defined]

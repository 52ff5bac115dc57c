"""asv benchmarks: what the state-of-the-art PINN recipe costs per step against the plain network.

The recipes (:mod:`parity.solvers.physics_informed.recipes`) add an embedding, gated
layers, factorised weights, term-wise and causal losses, loss-weight updates and
adaptive resampling. Each of the last two runs every 500 steps (the defaults), so the
cost per step is read off a 1000-step training (two weight updates, one resampling), not
off fused dispatches that would miss them. All trainings share one ``setup_cache`` (run once);
``track_ms_per_step`` reports each, and ``track_cost_ratio`` the recipe's over the plain
network of the same width and depth, measured in the same process so shared-machine
noise mostly cancels (the issue's target: at most 1.5).
"""

from __future__ import annotations

from parity.problems import Burgers1D
from parity.problems.base import ForwardProblem
from parity.problems.lid_cavity_2d import LidDrivenCavity2D
from parity.solvers import PINN, Budget, Evaluator

from ._compilation_cache import cache_compilations

STEPS = 1000
PROBLEMS: dict[str, type[ForwardProblem]] = {"burgers_1d": Burgers1D, "lid_cavity_2d": LidDrivenCavity2D}
RECIPES = ["plain", "jaxpi", "pirate"]


def _quiet(*_: object) -> None:
    pass


def _train_ms_per_step(problem: ForwardProblem, recipe: str) -> float:
    solver = PINN(width=64, depth=4, n_collocation=2048, recipe=recipe)
    x = problem.test_points()[:200]
    result = solver.solve(problem, Budget(steps=STEPS), 0, Evaluator(x, problem.reference(x), problem.compared_outputs), _quiet)
    return 1000 * result.timings["train_s"] / result.info["steps"]


class RecipeCostPerStep:
    """Training milliseconds per step, width 64 x depth 4, 2048 points, Adam (1000 steps)."""

    params = (list(PROBLEMS), RECIPES)
    param_names = ["problem", "recipe"]
    timeout = 1200
    unit = "ms"

    def setup_cache(self) -> dict[tuple[str, str], float]:
        cache_compilations()
        return {(name, recipe): _train_ms_per_step(cls(), recipe) for name, cls in PROBLEMS.items() for recipe in RECIPES}

    def track_ms_per_step(self, costs: dict[tuple[str, str], float], problem: str, recipe: str) -> float:
        return costs[problem, recipe]

    def track_cost_ratio(self, costs: dict[tuple[str, str], float], problem: str, recipe: str) -> float:
        return costs[problem, recipe] / costs[problem, "plain"]

    track_cost_ratio.unit = "ratio"  # type: ignore[attr-defined]

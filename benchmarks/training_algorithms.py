"""asv benchmarks for Schwarz-preconditioned training: one outer iteration against one L-BFGS step.

On the FBPINN of the FBPINN paper (30 subdomains, w2 = 15), the seconds and the work (in
fine-gradient equivalents) of one outer iteration of each preconditioned optimiser, beside
one step of plain L-BFGS and of Adam (with fixed and with trainable windows): what a reader
needs to turn the training-algorithms study's iterations into seconds on this machine, and
what a parallel machine would save.
"""

from __future__ import annotations

import jax

from parity.problems import MultiScale1D
from parity.solvers import FBPINN

from ._compilation_cache import cache_compilations

OPTIMISERS = {
    "adam": {},
    "adam_trainable_windows": {"window_motion": 0.5},  # the tables hold the widest windows: more pairs per step
    "lbfgs": {"lbfgs_fraction": 1.0},
    "schwarz_additive": {"optimiser": "schwarz_additive"},
    "schwarz_additive_subspace": {"optimiser": "schwarz_additive", "combine": "subspace"},
    "schwarz_multiplicative": {"optimiser": "schwarz_multiplicative"},
    "two_level": {"optimiser": "schwarz_multiplicative", "coarse": True, "levels": (1, 2, 4, 8, 16, 32)},
}


class OuterIteration:
    """Ten fused outer iterations (Adam, L-BFGS: steps) after ten to warm up, compile excluded."""

    params = (list(OPTIMISERS),)
    param_names = ["optimiser"]
    timeout = 600

    def setup(self, optimiser: str) -> None:
        cache_compilations()
        problem = MultiScale1D(omega2=15.0)
        config = {"levels": (30,), **OPTIMISERS[optimiser]}
        task = FBPINN(**config).training_task(problem, 0, problem.test_points()[:100])
        finishing = optimiser == "lbfgs"
        self.steps = task.compile_steps(10, finishing)
        params, _, state = task.initial_state()
        state = task.finisher.init(params) if finishing else state
        params, state, _ = self.steps(params, state, task.data)  # past the first iterations' long line searches
        self.state = (params, state, task.data)
        jax.block_until_ready(self.steps(*self.state))

    def time_10_iterations(self, optimiser: str) -> None:
        jax.block_until_ready(self.steps(*self.state))

    def track_fine_gradients_per_iteration(self, optimiser: str) -> float:
        _, _, (_, costs) = self.steps(*self.state)
        return float(costs.fine_gradients.sum()) / 10

    track_fine_gradients_per_iteration.unit = "fine gradients"  # type: ignore[attr-defined]

    def track_synchronisations_per_iteration(self, optimiser: str) -> float:
        _, _, (_, costs) = self.steps(*self.state)
        return float(costs.global_evaluations.sum()) / 10

    track_synchronisations_per_iteration.unit = "all-reduces"  # type: ignore[attr-defined]

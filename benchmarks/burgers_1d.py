"""asv benchmarks for 1D viscous Burgers: PINN training steps, Adam against L-BFGS.

An L-BFGS step runs a zoom line search (several loss and gradient evaluations), so
its cost per step is what a reader needs to convert "steps" into seconds when
comparing Raissi et al.'s Adam-then-L-BFGS schedule with Adam alone.
"""

from __future__ import annotations

import jax

from parity.problems import Burgers1D
from parity.solvers import PINN

from ._compilation_cache import cache_compilations


class PINNTrainStep:
    """100 fused steps of the 8 x 20 PINN on 4096 Halton points, nu = 0.01 / pi."""

    params = (["adam", "lbfgs"],)
    param_names = ["optimiser"]
    timeout = 300

    def setup(self, optimiser: str) -> None:
        cache_compilations()
        problem = Burgers1D()
        solver = PINN(width=20, depth=8, n_collocation=4096, lbfgs_fraction=0.5)
        task = solver.training_task(problem, 0, problem.test_points()[:100])
        finishing = optimiser == "lbfgs"
        self.steps = task.compile_steps(100, finishing)
        params, _, opt_state = task.initial_state()
        self.state = (params, task.finisher.init(params) if finishing else opt_state, task.data)
        jax.block_until_ready(self.steps(*self.state))

    def time_100_steps(self, optimiser: str) -> None:
        jax.block_until_ready(self.steps(*self.state))

"""PINNs on the steady Navier-Stokes problems: the issue's bar on Kovasznay flow at small Re."""

from __future__ import annotations

import pytest
from conftest import silent

from parity.problems.kovasznay_2d import Kovasznay2D
from parity.solvers import PINN, Budget


@pytest.mark.slow
def test_pinn_reaches_one_percent_on_kovasznay_flow_at_small_reynolds_number() -> None:
    """Velocity relative L2 <= 1e-2 at Re = 40 on held-out points (600 Adam + 600 L-BFGS steps).

    One seed, because the budget leaves a tenfold margin: seeds 0 and 1 reach 8.8e-4 and
    1.1e-3 (2-core x86), so a processor that changes a seed's training path does not
    change the outcome.
    """
    problem = Kovasznay2D(re=40.0)
    result = PINN(width=50, depth=4, n_collocation=2048, lbfgs_fraction=0.5).solve(problem, Budget(steps=1200), 0, problem.evaluator(), silent)
    assert result.status == "ok"
    assert result.trace[-1].metrics["rel_l2"] <= 1e-2
    assert result.trace[0].metrics["rel_l2"] > 5e-2  # the lift alone (boundary data only) is far from the flow

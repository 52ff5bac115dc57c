"""Kovasznay flow: the exact steady Navier-Stokes solution behind a grid (Kovasznay 1948).

    u = 1 - e^(lambda x) cos(2 pi y),  v = lambda / (2 pi) e^(lambda x) sin(2 pi y),
    p = (1 - e^(2 lambda x)) / 2,  lambda = Re / 2 - sqrt(Re^2 / 4 + 4 pi^2),

on [-0.5, 1] x [-0.5, 1.5] with nu = 1 / Re, no body force and the exact velocity on the
boundary. The scale knob is the Reynolds number: at small Re the wake decays fast
(|lambda| large, steep exponentials); at large Re lambda ~ -4 pi^2 / Re and the flow
varies slowly in x, convection-dominated. The reference is
exact, so it judges both the finite-element solver and the PINNs without a solver in the loop.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from jaxtyping import Float

from parity.knobs import at_least, knob
from parity.problems.flow import FlowProblem


@dataclasses.dataclass(frozen=True)
class Kovasznay2D(FlowProblem):
    name: ClassVar[str] = "kovasznay_2d"
    description: ClassVar[str] = "steady Navier-Stokes, Kovasznay flow on [-0.5,1] x [-0.5,1.5] (Kovasznay 1948); exact reference, velocity compared"
    _test_seed: ClassVar[int] = 20_251_124

    re: float = knob(40.0, "Reynolds number (scale knob); nu = 1 / Re", "number in [1, 1e4]", lambda r: 1 <= r <= 1e4)
    n_test: int = knob(10_000, "number of held-out test points", "integer >= 10", at_least(10))

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 2"], Float[np.ndarray, " 2"]]:
        return np.array([-0.5, -0.5]), np.array([1.0, 1.5])

    @property
    def decay_rate(self) -> float:
        """lambda < 0: the wake's e-folding rate in x."""
        return self.re / 2 - math.sqrt(self.re**2 / 4 + 4 * math.pi**2)

    @property
    def residual_scale(self) -> float:
        """Size of the convective and viscous terms: wake amplitude A = e^(-lambda/2) at x = -0.5, wavenumber 2 pi."""
        amplitude = math.exp(-0.5 * self.decay_rate)
        return 2 * math.pi * amplitude * max(1.0, amplitude) + 4 * math.pi**2 * self.viscosity * amplitude

    def exact(self, x: Sequence[Any], xp: ModuleType) -> tuple[Any, Any, Any]:
        """(u, v, p) at ``x[0], x[1]``."""
        rate = self.decay_rate
        wake = xp.exp(rate * x[0])
        return (
            1.0 - wake * xp.cos(2 * xp.pi * x[1]),
            rate / (2 * xp.pi) * wake * xp.sin(2 * xp.pi * x[1]),
            0.5 * (1.0 - wake**2),
        )

    def velocity_boundary(self, x: Sequence[Any], xp: ModuleType) -> tuple[Any, Any]:
        u, v, _ = self.exact(x, xp)
        return u, v

    def reference(self, x: Float[np.ndarray, "n 2"]) -> Float[np.ndarray, "n 2"]:
        u, v, _ = self.exact((x[:, 0], x[:, 1]), np)
        return np.stack([u, v], axis=-1)

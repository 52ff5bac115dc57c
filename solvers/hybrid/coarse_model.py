"""The coarse scheme a hybrid corrects, as three differentiable maps: a frame into its state, one step, the state back.

* ``spectral``: the state is the dealiased rFFT coefficients; one ETDRK4 step
  (:mod:`parity.numerics.kolmogorov`).
* ``finite_volume``: the state is cell averages; one SSP-RK3 step of the second-order scheme
  (:mod:`parity.numerics.vorticity_fv`). A frame (point values of a band-limited field) and
  cell averages convert exactly through the cell-average filter.
* ``none``: no physics; the state is the frame and a "step" is the identity, so the network
  alone moves the state one frame interval (a pure learned emulator).

Every map works in float32 (or float64 under ``jax.enable_x64``, for gradient checks) and is
batched over leading axes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import ParameterError
from parity.numerics import kolmogorov, vorticity_fv
from parity.numerics.spectral import dealias_mask

BASES = ("spectral", "finite_volume", "none")
Values = Float[Array, "... n n"]


@dataclasses.dataclass(frozen=True)
class CoarseModel:
    """``base`` on an n x n grid with steps of ``dt``, ``steps_per_frame`` of them per frame interval."""

    base: str
    n: int
    flow: kolmogorov.KolmogorovFlow
    dt: float
    steps_per_frame: int

    @classmethod
    def build(cls, base: str, n: int, flow: kolmogorov.KolmogorovFlow, frame_interval: float, max_speed: float, cfl: float) -> CoarseModel:
        """The base at its CFL step (dt = cfl h / max_speed, or the finite-volume bound), rounded to divide the frame interval."""
        if base not in BASES:
            raise ParameterError(f"unknown base {base!r}; allowed: {', '.join(BASES)}")
        if base == "none":
            return cls(base, n, flow, frame_interval, 1)
        h = 2 * math.pi / n
        dt_max = cfl * h / max_speed if base == "spectral" else vorticity_fv.stable_step(n, max_speed, flow.nu, cfl)
        steps = math.ceil(frame_interval / dt_max - 1e-9)
        return cls(base, n, flow, frame_interval / steps, steps)

    def encode(self, values: Values) -> Array:
        if self.base == "spectral":
            return kolmogorov.to_coefficients(values) * self._keep
        if self.base == "finite_volume":
            return kolmogorov.to_grid(kolmogorov.to_coefficients(values) * self._cell_filter)
        return values

    def decode(self, state: Array) -> Values:
        if self.base == "spectral":
            return kolmogorov.to_grid(state)
        if self.base == "finite_volume":
            return kolmogorov.to_grid(vorticity_fv.point_coefficients(state, self.n))  # the reading the classical FV frames get
        return state

    def step(self, dtype: type) -> Callable[[Array], Array]:
        """One step of the scheme (identity for ``none``) in the given complex (spectral) or real dtype."""
        if self.base == "spectral":
            return kolmogorov.spectral_step(self.n, self.flow, self.dt, dtype)
        if self.base == "finite_volume":
            return vorticity_fv.fv_step(self.n, self.flow, self.dt)
        return lambda state: state

    def add(self, state: Array, tendency: Values) -> Array:
        """The state after ``dt`` x ``tendency`` (grid values) is added to it; spectral states keep their dealiased band."""
        if self.base == "spectral":
            return state + self.dt * kolmogorov.to_coefficients(tendency) * self._keep
        return state + self.dt * tendency

    @property
    def _keep(self) -> Float[np.ndarray, "n h"]:
        return dealias_mask(self.n, 2).astype(np.float32)

    @property
    def _cell_filter(self) -> Float[np.ndarray, "n h"]:
        return vorticity_fv.cell_average_factor(self.n, self.n).astype(np.float32)


def resample(values: Values, n: int) -> Values:
    """Grid values on an n x n grid, spectrally (truncation to |m| < n / 2 or zero-padding); jnp in, jnp out."""
    if values.shape[-1] == n:
        return values
    return kolmogorov.to_grid(kolmogorov.to_coefficients(jnp.asarray(values)), n)

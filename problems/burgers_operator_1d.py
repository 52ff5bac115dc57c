"""Viscous Burgers' equation as an operator to learn: u0 -> u(., 1) (Li et al. 2021, the FNO paper's section 5.1).

    u_t + (u^2 / 2)_x = nu u_xx  on the periodic unit interval,  u(x, 0) = u0(x),

with u0 drawn from N(0, 625 (-Delta + 25 I)^-2): the Fourier mode exp(2 pi i k x) has
standard deviation sigma_k = 25 / (4 pi^2 k^2 + 25), and the mean (k = 0) is zero, as in the
FNO data. An instance is its first :data:`SOURCE_MODES` modes' standard normal weights, so
the same instance exists on any grid (the zero-shot super-resolution test evaluates on finer
ones); the modes beyond carry less than 1e-5 of u0's amplitude.

The reference is the Fourier pseudo-spectral solver (2/3 dealiasing, ETDRK4 with the
viscous term exact) on ``reference_resolution`` points, its convergence tested against a
grid twice as fine. The classical side solves the same way from the learning-grid input at
coarser resolutions (:class:`CoarseSolvable`). Scale knobs: ``nu`` (the paper's is 0.1;
smaller makes steeper fronts), ``resolution`` and the split sizes.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from jaxtyping import Float

from parity.knobs import at_least, knob
from parity.numerics import spectral
from parity.problems.inverse import Split
from parity.problems.operator_learning import CoarseSolvable, OperatorProblem

SOURCE_MODES = 512
"""Fourier modes of an instance's initial value (sigma_512 / sigma_1 = 1.1e-5)."""
CFL = 0.5
"""Courant number of every solve, on its own grid: coarse grids take proportionally longer steps."""


def mode_std(k: Float[np.ndarray, " m"]) -> Float[np.ndarray, " m"]:
    """Standard deviation of u0's Fourier mode k (a complex coefficient, real and imaginary parts together)."""
    return 25.0 / (4 * np.pi**2 * k**2 + 25.0)


def initial_values(weights: Float[np.ndarray, "b 2 m"], n: int) -> Float[np.ndarray, "b n"]:
    """u0 on the periodic grid x_j = j / n from standard normal ``weights`` (real, imaginary) of modes 1..m.

    Modes the grid cannot hold (k >= n / 2) are dropped: a coarse grid sees a smoother u0.
    """
    m = min(weights.shape[-1], (n - 1) // 2)
    k = np.arange(1, m + 1)
    spectrum = np.zeros((len(weights), n // 2 + 1), dtype=complex)
    spectrum[:, 1 : m + 1] = mode_std(k) * (weights[:, 0, :m] + 1j * weights[:, 1, :m]) / np.sqrt(2)
    return np.fft.irfft(spectrum, n, axis=-1) * n


def resample(values: Float[np.ndarray, "b n"], n: int) -> Float[np.ndarray, "b m"]:
    """Periodic grid values on an n-point grid by trigonometric interpolation (truncation when coarser)."""
    n_from = values.shape[-1]
    keep = (min(n, n_from) - 1) // 2
    spectrum = np.zeros((len(values), n // 2 + 1), dtype=complex)
    spectrum[:, : keep + 1] = np.fft.rfft(values, axis=-1)[:, : keep + 1] / n_from
    return np.fft.irfft(spectrum, n, axis=-1) * n


@dataclasses.dataclass(frozen=True)
class BurgersOperator1D(OperatorProblem, CoarseSolvable):
    name: ClassVar[str] = "burgers_operator_1d"
    description: ClassVar[str] = "learn u0 -> u(., 1) for periodic viscous Burgers, u0 ~ N(0, 625(-Delta + 25 I)^-2) (FNO paper); spectral reference"
    spatial_dims: ClassVar[int] = 1
    input_channels: ClassVar[int] = 1
    output_channels: ClassVar[int] = 1
    periodic: ClassVar[bool] = True
    generation_batch: ClassVar[int] = 32

    nu: float = knob(0.1, "viscosity (scale knob; the FNO paper's is 0.1)", "number in [0.002, 1]", lambda v: 0.002 <= v <= 1)
    resolution: int = knob(1024, "points of the periodic learning grid (FNO trains at 256 to 8192)", "power of two in [32, 8192]",
                           lambda n: 32 <= n <= 8192 and n & (n - 1) == 0)
    n_train: int = knob(1000, "training instances (the FNO paper's 1000)", "integer >= 0", at_least(0))
    n_validation: int = knob(100, "validation instances (checkpoints are chosen on them)", "integer >= 1", at_least(1))
    n_test: int = knob(200, "held-out test instances (the FNO paper's 200)", "integer >= 1", at_least(1))

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return (self.resolution,)

    @property
    def reference_resolution(self) -> int:
        """Grid points of the reference solve: 256, doubled for each halving of nu below 0.01 (fronts of width ~nu).

        Measured on 8 instances (max over them of the relative L2 difference from a grid twice
        as fine): 4e-9 at nu = 0.1 and 2e-10 at nu = 0.01; 128 points would give 3e-8 and 2e-8.
        A finer reference would only inflate the data cost charged to the surrogates.
        """
        return 256 * 2 ** max(0, int(np.ceil(np.log2(0.01 / self.nu) - 1e-9)))

    @property
    def coarse_resolutions(self) -> tuple[int, ...]:
        return tuple(2**p for p in range(4, int(np.log2(self.reference_resolution)) + 1))

    def split_size(self, split: Split) -> int:
        return {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}[self._check_split(split)]

    def sample_source(self, rng: np.random.Generator) -> Float[np.ndarray, "2 m"]:
        return rng.standard_normal((2, SOURCE_MODES))

    def reference_solve(self, sources: Float[np.ndarray, "b 2 m"]) -> tuple[Float[np.ndarray, "b 1 n"], Float[np.ndarray, "b 1 n"]]:
        fine = self.reference_resolution
        u0 = initial_values(sources, fine)
        final = spectral.burgers_1d_batch(u0, self.nu, 1.0, 1.0, CFL)
        return resample(u0, self.resolution)[:, None], resample(final, self.resolution)[:, None]

    def solve_inputs(self, inputs: Float[np.ndarray, "b 1 n"], resolution: int) -> Float[np.ndarray, "b 1 n"]:
        """The spectral solver on ``resolution`` points from the learning-grid u0, interpolated back to the learning grid."""
        final = spectral.burgers_1d_batch(resample(inputs[:, 0], resolution), self.nu, 1.0, 1.0, CFL)
        return resample(final, self.resolution)[:, None]

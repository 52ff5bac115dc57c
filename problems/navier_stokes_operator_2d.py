"""The FNO paper's 2D Navier-Stokes operator (Li et al. 2021, section 5.3): vorticity history in, future out.

    w_t + u . grad w = nu lap w + f,   div u = 0,   -lap psi = w,   u = (psi_y, -psi_x)   on the unit torus,

with f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y)). The operator maps w at t = 1, ..., 10
(``input_steps`` frames) to w at t = 11, ..., T, on a 64 x 64 periodic grid (point values at
the nodes, as in the FNO datasets). The paper pairs nu = 1e-3, 1e-4, 1e-5 with T = 50, 30, 20.

The initial vorticity follows the FNO data code (``random_fields.py``, the 2020 version that
made the published data), not the paper's formula: each Fourier coefficient a_m of the real
field w0 = sum_m a_m exp(2 pi i m . x) has independent real and imaginary parts with standard
deviation sigma (4 pi^2 |m|^2 + tau^2)^(-alpha / 2), alpha = 2.5, tau = 7, sigma = tau^((2 alpha - 2) / 2)
= 7^(3/2), a_0 = 0 (the code takes the real part of an inverse FFT of complex white noise
scaled by sqrt(2) sigma (...)^(-alpha/2)). That is the covariance 2 7^3 (-lap + 49)^(-2.5),
not the paper's 7^(3/2) (-lap + 49)^(-2.5): the code's sigma scales the standard deviation.
An instance is these coefficients for |m| <= ``SOURCE_BAND`` (32); the modes beyond carry
0.8 % of w0's L2 norm and are damped within t = 1 at the larger viscosities.

The reference (:mod:`parity.numerics.forced_vorticity`) is pseudo-spectral with 2/3
dealiasing and ETDRK4 at a fixed step, solved from t = 0; a classical coarse solve
(:class:`CoarseSolvable`) restarts from the last input frame, w(10), on any grid.

Measured (relative L2 of the 64^2 output frames, max over 2-3 instances; 2-core CPU):

* nu = 1e-3 (T = 50), reference 128^2, dt = 1/32: vs 256^2 1e-15, vs dt = 1/64 6e-9 (64^2
  is already within 1.5e-9: the flow stays smooth; dt = 1/8 blows up). About 2-3 s per
  instance, so the 1000 training instances take about 45 minutes.
* nu = 1e-4 (T = 30), reference 128^2, dt = 1/128: vs 256^2 4.8e-4, vs dt = 1/256 2.6e-7.
  About 4.5 s per instance (75 minutes for 1000); 256^2 would take 40 s.
* nu = 1e-5 (T = 20), reference 256^2, dt = 1/256: NOT shown converged. 128^2 differs from
  256^2 by 2.9e-2; 512^2 (about 5 minutes an instance here) was not affordable to measure,
  so the reference's own error is unknown, likely about 1e-3 or more. About 35 s per
  instance (10 hours for 1000 on two cores; a GPU's job).

The dt of the reference is fixed per viscosity and sits within the advective stability
limit of ETDRK4 (max |u| + |v| grows to about 0.75 by T at nu = 1e-4); a reference that
still blows up raises rather than caching NaNs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
from jaxtyping import Complex, Float

from parity.knobs import ParameterError, at_least, knob
from parity.numerics import forced_vorticity
from parity.problems.inverse import Split
from parity.problems.operator_learning import CoarseSolvable, OperatorProblem

VISCOSITIES = (1e-3, 1e-4, 1e-5)
PAPER_FINAL_TIMES = {1e-3: 50, 1e-4: 30, 1e-5: 20}
SOURCE_BAND = 32
"""|m| <= SOURCE_BAND: the Fourier modes of w0 that define an instance."""
ALPHA, TAU = 2.5, 7.0
SIGMA = TAU ** ((2 * ALPHA - 2) / 2)
REFERENCE = {1e-3: (128, 1 / 32), 1e-4: (128, 1 / 128), 1e-5: (256, 1 / 256)}
"""nu -> (grid, time step) of the reference; see :meth:`NavierStokesOperator2D.reference_resolution`."""
COARSE_CFL = 0.5
"""dt = COARSE_CFL / (n max(|u| + |v|)) in coarse solves; ETDRK4's advective limit is about 1.3."""
SOURCE_GRID = 2 * SOURCE_BAND + 2
"""The smallest even grid that holds the band: sources are rFFT coefficients on it."""


def _std(k2: Float[np.ndarray, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """sigma (|k|^2 + tau^2)^(-alpha / 2) for 0 < |m| <= SOURCE_BAND (k = 2 pi m), else 0."""
    inside = (k2 > 0) & (k2 <= (2 * np.pi * SOURCE_BAND) ** 2 * (1 + 1e-12))
    return np.where(inside, SIGMA * (k2 + TAU**2) ** (-ALPHA / 2), 0.0)


def initial_std(n: int) -> Float[np.ndarray, "n h"]:
    """Standard deviation of the real (and of the imaginary) part of each w0 coefficient, rFFT layout."""
    kx, ky = forced_vorticity.wavenumbers(n)
    return _std(kx**2 + ky**2)


def sample_initial_vorticity(rng: np.random.Generator) -> Complex[np.ndarray, "n h"]:
    """rFFT coefficients (scaled by 1 / n^2, n = SOURCE_GRID) of one draw of w0.

    Complex white noise on the full FFT grid, made Hermitian by taking the real part of its
    field: a pair a_m, a_-m then gets independent real and imaginary parts of variance std^2.
    """
    k = 2 * np.pi * np.fft.fftfreq(SOURCE_GRID, 1.0 / SOURCE_GRID)
    std = _std(k[:, None] ** 2 + k[None, :] ** 2)
    noise = rng.standard_normal((2, SOURCE_GRID, SOURCE_GRID))
    field = np.real(np.fft.ifft2(math.sqrt(2) * std * (noise[0] + 1j * noise[1]))) * SOURCE_GRID**2
    return forced_vorticity.to_coefficients(field) * (initial_std(SOURCE_GRID) > 0)  # round-off outside the band dropped


def _viscosity_allowed(nu: float) -> bool:
    return any(math.isclose(nu, v, rel_tol=1e-9) for v in VISCOSITIES)


@dataclasses.dataclass(frozen=True)
class NavierStokesOperator2D(OperatorProblem, CoarseSolvable):
    name: ClassVar[str] = "navier_stokes_operator_2d"
    description: ClassVar[str] = "FNO's 2D Navier-Stokes: vorticity at t = 1..10 -> t = 11..T on the unit torus, forced; pseudo-spectral reference"
    spatial_dims: ClassVar[int] = 2
    periodic: ClassVar[bool] = True
    generation_batch: ClassVar[int] = 16

    nu: float = knob(1e-3, "viscosity (scale knob: 1e-3 laminar-ish, 1e-5 turbulent)", "1e-3, 1e-4 or 1e-5", _viscosity_allowed)
    final_time: int = knob(0, "final time T of the output frames; 0 = the paper's (50, 30, 20 for nu = 1e-3, 1e-4, 1e-5)", "0 or an integer > input_steps", at_least(0))
    input_steps: int = knob(10, "input frames: w at t = 1..input_steps", "integer in [1, 20]", lambda s: 1 <= s <= 20)
    resolution: int = knob(64, "learning grid points per side", "even integer in [16, 256]", lambda n: 16 <= n <= 256 and n % 2 == 0)
    n_train: int = knob(1000, "training instances (as in the paper)", "integer >= 0", at_least(0))
    n_validation: int = knob(50, "validation instances (checkpoints are chosen on them)", "integer >= 1", at_least(1))
    n_test: int = knob(200, "test instances (as in the paper)", "integer >= 1", at_least(1))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.horizon <= self.input_steps:
            raise ParameterError(
                f"{self.name}: parameter 'final_time' = {self.final_time} (T = {self.horizon}) leaves no output frame after "
                f"input_steps = {self.input_steps}; allowed: T > input_steps"
            )

    @property
    def horizon(self) -> int:
        """T: the final time, the knob's or the paper's for this viscosity."""
        return self.final_time or PAPER_FINAL_TIMES[self._viscosity_key]

    @property
    def _viscosity_key(self) -> float:
        return min(VISCOSITIES, key=lambda v: abs(math.log(v / self.nu)))

    @property
    def input_channels(self) -> int:  # type: ignore[override]
        return self.input_steps

    @property
    def output_channels(self) -> int:  # type: ignore[override]
        return self.horizon - self.input_steps

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return (self.resolution, self.resolution)

    @property
    def reference_resolution(self) -> int:
        """Grid points per side of the reference: 128 at nu = 1e-3 and 1e-4, 256 at 1e-5 (measured by doubling; module notes)."""
        return REFERENCE[self._viscosity_key][0]

    @property
    def reference_step(self) -> float:
        """The reference's fixed time step."""
        return REFERENCE[self._viscosity_key][1]

    def split_size(self, split: Split) -> int:
        return {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}[self._check_split(split)]

    def sample_source(self, rng: np.random.Generator) -> Complex[np.ndarray, "n h"]:
        return sample_initial_vorticity(rng)

    def reference_solve(self, sources: Complex[np.ndarray, "b n h"]) -> tuple[Float[np.ndarray, "b cin n n"], Float[np.ndarray, "b cout n n"]]:
        inputs, outputs = self.solve_sources(sources, self.reference_resolution, self.reference_step)
        if not (np.isfinite(inputs).all() and np.isfinite(outputs).all()):
            raise FloatingPointError(f"{self.name}: the reference blew up at nu = {self.nu:g} (dt = {self.reference_step:g}); lower the step")
        return inputs, outputs

    def solve_sources(self, sources: Complex[np.ndarray, "b n h"], n: int, dt_max: float) -> tuple[Float[np.ndarray, "b cin n n"], Float[np.ndarray, "b cout n n"]]:
        """Input and output frames from w0 (``sources``), solved on an n x n grid with steps of at most ``dt_max``."""
        w0 = forced_vorticity.resize(sources, n)
        frames = forced_vorticity.solve(w0, self.nu, dt_max, self.horizon, self.resolution)
        return frames[:, : self.input_steps], frames[:, self.input_steps :]

    @property
    def coarse_resolutions(self) -> tuple[int, ...]:
        return tuple(n for n in (16, 24, 32, 48, 64, 96, 128, 192, 256) if n <= self.reference_resolution)

    def solve_inputs(self, inputs: Float[np.ndarray, "b cin n n"], resolution: int) -> Float[np.ndarray, "b cout n n"]:
        """From the last input frame on the learning grid, solved to T on a ``resolution`` grid.

        The frame is spectrally truncated (coarser grids) or zero-padded (finer) and then
        cut to the 2/3 band; the step follows the CFL rule dt = 0.5 / (n max(|u| + |v|)) at
        the start, over the batch. The first call per (resolution, batch size) compiles.
        """
        w = forced_vorticity.resize(forced_vorticity.to_coefficients(np.asarray(inputs[:, -1], np.float64)), resolution)
        dt_max = COARSE_CFL / (resolution * max(forced_vorticity.max_speed(w), 1e-12))
        return forced_vorticity.solve(w, self.nu, dt_max, self.output_channels, self.resolution)

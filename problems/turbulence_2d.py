"""Decaying 2D turbulence in vorticity-stream form (McWilliams 1984-like), periodic box.

    w_t + psi_y w_x - psi_x w_y = nu lap w,   lap psi = -w   on [0, 2 pi)^2 x [0, T],

from a seeded random vorticity whose energy spectrum E(k) ~ k^4 exp(-2 (k / k0)^2) peaks
at k0 and is cut off at 3 k0 (where it has fallen to 1e-5 of its peak), with unit rms
velocity sqrt(<u^2 + v^2>) = 1. The scale knob is the Reynolds number Re = 1 / nu (unit
velocity, unit length). Eddies merge, the enstrophy cascades to small scales and is
dissipated there; the flow is chaotic, so a prediction decorrelates from the reference
once its errors have grown, which the extra metrics measure.

The reference is the pseudo-spectral solver of :mod:`parity.numerics.spectral` on a
grid chosen by :meth:`DecayingTurbulence2D.reference_resolution` (checked by doubling
in the tests), cached on disk as its Fourier coefficients at the test times, so it
evaluates exactly anywhere in space at those times.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from parity.cache import cached_arrays
from parity.knobs import ParameterError, at_least, knob
from parity.numerics.spectral import energy_spectra, evaluate_2d, resample_2d, vorticity_2d, wavenumbers_2d
from parity.problems.base import ForwardProblem, PointwiseFn, Snapshot
from parity.problems.derivatives import partial, second_partial
from parity.problems.halton import halton
from parity.problems.spectral_capability import PeriodicVorticity2D

_COLLOCATION_SEED = 11
CORRELATION_THRESHOLD = 0.9
"""Pearson correlation below which a prediction counts as decorrelated from the reference."""


@dataclasses.dataclass(frozen=True)
class DecayingTurbulence2D(ForwardProblem, PeriodicVorticity2D):
    name: ClassVar[str] = "turbulence_2d"
    description: ClassVar[str] = "decaying 2D turbulence, w_t + J(psi, w) = lap w / Re on [0,2pi)^2 x [0,T]; pseudo-spectral reference"
    in_dim: ClassVar[int] = 3
    out_dim: ClassVar[int] = 2
    time_axis: ClassVar[int | None] = 2
    compared_outputs: ClassVar[tuple[int, ...] | None] = (0,)
    """Outputs are (w, psi); errors compare the vorticity w (psi is fixed by w up to a constant)."""
    periods: ClassVar[tuple[float | None, ...]] = (2 * math.pi, 2 * math.pi, None)
    residual_names: ClassVar[tuple[str, ...]] = ("vorticity transport", "stream-function Poisson")
    """Period of each input (None: not periodic), so networks can embed x and y periodically."""

    reynolds: float = knob(1000.0, "Reynolds number 1 / nu at unit rms velocity and unit length (scale knob)", "number in [100, 1e5]", lambda r: 100 <= r <= 1e5)
    k0: int = knob(4, "wavenumber of the initial energy spectrum's peak", "integer in [1, 16]", lambda k: 1 <= k <= 16)
    duration: float = knob(1.0, "final time T (the initial eddy turnover time 1 / w_rms is about 1 / (1.1 k0))", "number in (0, 10]", lambda t: 0 < t <= 10)
    flow_seed: int = knob(0, "seed of the initial vorticity's random phases", "integer >= 0", at_least(0))
    test_cells: int = knob(64, "test grid points per side (periodic grid)", "integer >= 8", at_least(8))
    test_times: int = knob(8, "test snapshots, equally spaced in (0, T]", "integer >= 1", at_least(1))
    reference_n: int = knob(0, "grid of the reference solve; 0 = the rule of reference_resolution()", "0 or an integer >= 32", lambda n: n == 0 or n >= 32)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reference_n and self.reference_n <= 3 * self.initial_band:
            raise ParameterError(
                f"{self.name}: parameter 'reference_n' = {self.reference_n} cannot hold the initial band |k| <= {self.initial_band}; "
                f"allowed: 0 or an integer > {3 * self.initial_band}"
            )

    @property
    def viscosity(self) -> float:
        return 1.0 / self.reynolds

    @property
    def initial_band(self) -> int:
        return 3 * self.k0

    # --- the initial vorticity: a short Fourier series -----------------------------------------

    @functools.cached_property
    def _initial_modes(self) -> Complex[np.ndarray, "n h"]:
        """rFFT coefficients (divided by n^2) of w(., 0) on the smallest even grid that holds the band."""
        n = 2 * self.initial_band + 2
        kx, ky = np.meshgrid(np.fft.fftfreq(n, 1.0 / n), np.fft.fftfreq(n, 1.0 / n), indexing="ij")
        k = np.hypot(kx, ky)
        energy = k**4 * np.exp(-2 * (k / self.k0) ** 2)  # shell energy E(k); per mode |w|^2 ~ k E(k)
        amplitude = np.where((k > 0) & (k <= self.initial_band), np.sqrt(k * energy), 0.0)
        phases = np.exp(2j * np.pi * np.random.default_rng(self.flow_seed).random(amplitude.shape))
        kx, ky = wavenumbers_2d(n)
        band = np.hypot(kx, ky) <= self.initial_band  # drops the FFTs' round-off outside the band
        coefficients = band * np.fft.rfft2(np.real(np.fft.ifft2(amplitude * phases))) / n**2  # real part: Hermitian symmetry
        k2 = np.where(kx**2 + ky**2 == 0, 1.0, kx**2 + ky**2)
        weights = np.where(ky == 0, 1.0, 2.0)
        mean_speed_squared = float(np.sum(weights * np.abs(coefficients) ** 2 / k2))  # <u^2 + v^2> by Parseval
        return coefficients / math.sqrt(mean_speed_squared)

    def initial_coefficients(self, n: int) -> Complex[np.ndarray, "n h"]:
        if n <= 3 * self.initial_band:
            raise ValueError(f"{self.name}: a grid of n = {n} cannot hold the initial band |k| <= {self.initial_band} dealiased; allowed: n > {3 * self.initial_band}")
        return resample_2d(self._initial_modes, n)

    def initial_vorticity(self, x: Float[Array, " n"], y: Float[Array, " n"]) -> Float[Array, " n"]:
        """w(x, y, 0) in JAX, as its Fourier series (a few hundred modes)."""
        coefficients = self._initial_modes
        n = coefficients.shape[0]
        kx, ky = (np.broadcast_to(k, coefficients.shape) for k in wavenumbers_2d(n))
        nonzero = np.abs(coefficients) > 0
        weight = np.where(ky[nonzero] == 0, 1.0, 2.0)
        re, im = weight * coefficients[nonzero].real, weight * coefficients[nonzero].imag
        phase = x[:, None] * kx[nonzero] + y[:, None] * ky[nonzero]
        return jnp.cos(phase) @ re - jnp.sin(phase) @ im

    # --- what solvers see -------------------------------------------------------------------

    @property
    def bounds(self) -> tuple[Float[np.ndarray, " 3"], Float[np.ndarray, " 3"]]:
        return np.zeros(3), np.array([2 * math.pi, 2 * math.pi, self.duration])

    @property
    def snapshot_times(self) -> tuple[float, ...]:
        return tuple(self.duration * (i + 1) / self.test_times for i in range(self.test_times))

    @property
    def residual_scale(self) -> float:
        return float(self.k0**2)  # |u . grad w| ~ U k0 w_rms with U = 1, w_rms ~ k0

    def residual(self, u: PointwiseFn, x: Float[Array, "n 3"]) -> Float[Array, "n 2"]:
        """[w_t + psi_y w_x - psi_x w_y - nu lap w,  k0 (lap psi + w)]; the second row scaled to the first's size."""

        def vorticity(x_: Float[Array, "n 3"]) -> Float[Array, "n 1"]:
            return u(x_)[:, 0:1]

        def stream(x_: Float[Array, "n 3"]) -> Float[Array, "n 1"]:
            return u(x_)[:, 1:2]

        w, w_x, w_xx = second_partial(vorticity, x, 0)
        _, w_y, w_yy = second_partial(vorticity, x, 1)
        _, w_t = partial(vorticity, x, 2)
        _, psi_x, psi_xx = second_partial(stream, x, 0)
        _, psi_y, psi_yy = second_partial(stream, x, 1)
        transport = w_t + psi_y * w_x - psi_x * w_y - self.viscosity * (w_xx + w_yy)
        return jnp.concatenate([transport, self.k0 * (psi_xx + psi_yy + w)], axis=1)

    def ansatz(self, x: Float[Array, "n 3"], raw: Float[Array, "n 2"]) -> Float[Array, "n 2"]:
        # The initial vorticity exactly; psi is left free (the Poisson row of the residual ties it to w).
        w0 = self.initial_vorticity(x[:, 0], x[:, 1])[:, None]
        return jnp.concatenate([w0 + x[:, 2:3] * raw[:, 0:1], raw[:, 1:2]], axis=1)

    def collocation_points(self, n: int) -> Float[np.ndarray, "n 3"]:
        """Scrambled Halton points in the space-time box: low discrepancy, disjoint from the test grid."""
        return halton(3, n, seed=_COLLOCATION_SEED) * self.bounds[1]

    def test_points(self) -> Float[np.ndarray, "m 3"]:
        """The periodic test grid (x varies slowest, t fastest) at each snapshot time."""
        axis = 2 * np.pi * np.arange(self.test_cells) / self.test_cells
        x, y, t = np.meshgrid(axis, axis, np.asarray(self.snapshot_times), indexing="ij")
        return np.stack([x, y, t], axis=-1).reshape(-1, 3)

    def snapshot(self) -> Snapshot:
        return Snapshot.grid((0.0, 2 * math.pi), (0.0, 2 * math.pi), f"vorticity at t = {self.duration:g}", self.duration)

    def spectrum(self, picture: Float[np.ndarray, "side side"]) -> tuple[Float[np.ndarray, " k"], Float[np.ndarray, " k"]]:
        """E(k) of the pictured vorticity; the snapshot grid repeats x = 2 pi and y = 2 pi, which are dropped."""
        energy = energy_spectra(picture[:-1, :-1])
        return np.arange(1, len(energy) + 1, dtype=float), energy

    # --- metrics on the test grid -------------------------------------------------------------

    def extra_metrics(self, u: Float[np.ndarray, "m 1"], u_ref: Float[np.ndarray, "m 1"]) -> dict[str, float]:
        """Spectrum error and decorrelation of the vorticity on the test grid.

        * ``spectrum_error``: relative L2 error of the shell-summed kinetic energy spectrum
          E(k) = sum_{|k| in shell} |w_hat|^2 / (2 |k|^2) at the final time T, where the
          cascade is most developed (a field can have a good rel_l2 early and the wrong
          small scales late).
        * ``correlation_final``: Pearson correlation of w and w_ref at T.
        * ``decorrelation_time``: the first test time at which the correlation falls below
          0.9; a prediction that never does gets T (1 + 1 / test_times), one test-time
          spacing past T (higher is better here, unlike the errors).
        """
        shape = (self.test_cells, self.test_cells, self.test_times)
        w, w_ref = u.reshape(shape), u_ref.reshape(shape)
        correlation = np.array([np.corrcoef(w[..., j].ravel(), w_ref[..., j].ravel())[0, 1] for j in range(self.test_times)])
        below = np.flatnonzero(~(correlation >= CORRELATION_THRESHOLD))  # NaN (a constant field) counts as decorrelated
        times = np.asarray(self.snapshot_times)
        spectrum, spectrum_ref = energy_spectra(w[..., -1]), energy_spectra(w_ref[..., -1])
        return {
            "spectrum_error": float(np.linalg.norm(spectrum - spectrum_ref) / np.linalg.norm(spectrum_ref)),
            "correlation_final": float(correlation[-1]),
            "decorrelation_time": float(times[below[0]]) if below.size else self.duration * (1 + 1 / self.test_times),
        }

    # --- the reference ------------------------------------------------------------------------

    def reference_resolution(self) -> int:
        """The reference grid: ``reference_n`` if set, else N = 512 (Re k0 / 4000)^(1/2) rounded up to a power of two.

        The enstrophy cascade ends at the Kraichnan wavenumber k_d ~ (beta / nu^3)^(1/6),
        with beta ~ w_rms^3 the enstrophy dissipation rate and w_rms ~ k0 at unit velocity,
        i.e. k_d ~ (k0 Re)^(1/2); the rule keeps the largest resolved wavenumber N / 3 at
        about 2.5 k_d (k_d ~ 66 at Re = 1000, k0 = 4). Measured on the test grid at T,
        Re = 1000, k0 = 4: the rule's N = 512 differs from N = 1024 by 5e-5 relative, N = 256
        by 5e-3; the time step (CFL 0.5) contributes 5e-7. At Re = 250, k0 = 1 the rule is
        generous (4e-10 under doubling, tests/test_spectral.py).
        """
        if self.reference_n:
            return self.reference_n
        wanted = 512 * math.sqrt(self.reynolds * self.k0 / 4000)
        return max(2 ** math.ceil(math.log2(wanted)), 2 ** math.ceil(math.log2(3 * self.initial_band + 1)))

    def reference(self, x: Float[np.ndarray, "n 3"]) -> Float[np.ndarray, "n 1"]:
        """w at points whose times are snapshot times (or 0), exactly in space."""
        stored = self._reference
        out = np.empty(len(x))
        for t in np.unique(x[:, 2]):
            match = np.flatnonzero(np.isclose(stored["times"], t, rtol=0, atol=1e-12 * self.duration))
            if match.size == 0:
                raise ValueError(f"{self.name}: the reference is stored at t in {{0, {', '.join(f'{s:g}' for s in self.snapshot_times)}}}; got t = {t!r}")
            rows = x[:, 2] == t
            out[rows] = evaluate_2d(stored["coefficients"][match[0]], x[rows, 0], x[rows, 1])
        return out[:, None]

    @functools.cached_property
    def _reference(self) -> dict[str, np.ndarray]:
        key = {**self.params(), "reference_n": self.reference_resolution()}
        return cached_arrays(f"{self.name}-reference", key, self._reference_solve)

    def _reference_solve(self) -> dict[str, np.ndarray]:
        n = self.reference_resolution()
        run = vorticity_2d(self.initial_coefficients(n), self.viscosity, self.duration, self.test_times, cfl=0.5)
        compact = 2 * ((n - 1) // 3) + 2  # the smallest even grid that holds the dealiased band
        return {"times": run.times, "coefficients": np.stack([resample_2d(c, compact) for c in run.coefficients])}

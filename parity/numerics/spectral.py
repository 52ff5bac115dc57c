"""Fourier pseudo-spectral time stepping for periodic problems (JAX, float64).

Two equations, both written as  d(u_hat)/dt = L u_hat + N(u_hat)  in Fourier space:

* 1D viscous Burgers  u_t + (u^2 / 2)_x = nu u_xx  on a periodic interval. On [-1, 1) the
  Raissi initial value -sin(pi x) is odd and 2-periodic, and Burgers' equation keeps
  both symmetries, so u(-1, t) = u(1, t) = 0 holds for all t: the periodic solution *is*
  the Dirichlet one of :class:`parity.problems.burgers_1d.Burgers1D`.
* 2D incompressible vorticity  w_t + u . grad w = nu lap w  on [0, 2 pi)^2, with
  u = (psi_y, -psi_x) and lap psi = -w.

The products are formed on the grid with the 2/3 rule (modes |m| <= (N - 1) / 3 kept),
so the semi-discrete system is the exact Galerkin truncation: it conserves energy (and,
in 2D, enstrophy) when nu = 0. Time stepping is ETDRK4 (Cox & Matthews 2002) with the
phi-functions by the contour integrals of Kassam & Trefethen (2005): the viscous part
is integrated exactly, so a lone Fourier mode decays as exp(-nu k^2 t) to round-off.
The whole time loop is one jitted ``lax.scan``; everything runs in float64 inside a
``jax.enable_x64`` context, leaving the rest of the suite in float32.

Solutions are kept as Fourier coefficients, which interpolate exactly (trigonometric
interpolation) at any point: references and coarse solves compare on any grid.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

CONTOUR_POINTS = 32
"""Points on the Kassam-Trefethen contour; 32 gives the phi-functions to round-off."""

Field = Complex[Array, "..."]
Nonlinear = Callable[[Field], Field]


@dataclasses.dataclass(frozen=True)
class SpectralRun:
    """Fourier coefficients at the saved times and what the run cost.

    ``coefficients[j]`` are the (r)FFT coefficients divided by the number of grid points,
    so that u(x) = sum_m c_m exp(i k_m (x - origin)) over the full set of modes.
    """

    times: Float[np.ndarray, " s"]
    coefficients: Complex[np.ndarray, "s ..."]
    rates: Complex[np.ndarray, "s ..."]
    """d(coefficients)/dt from the equation, for Hermite interpolation in time."""
    n: int
    dt: float
    steps: int
    compile_s: float
    run_s: float


def dealias_mask(n: int, dims: int) -> np.ndarray:
    """The 2/3 rule on the rFFT layout: True where every |m| <= (n - 1) // 3."""
    keep = (n - 1) // 3
    full = np.abs(np.fft.fftfreq(n, 1.0 / n)) <= keep
    half = np.fft.rfftfreq(n, 1.0 / n) <= keep
    if dims == 1:
        return half
    return full[:, None] & half[None, :]


def etdrk4_coefficients(linear: np.ndarray, dt: float) -> tuple[np.ndarray, ...]:
    """E, E/2, Q, f1, f2, f3 of ETDRK4 for the diagonal operator ``linear`` (real, <= 0).

    The phi-functions are means over a circle of radius 1 around each dt * L, which
    avoids the cancellation of their Taylor-unfriendly closed forms near L = 0.
    """
    hl = dt * linear[..., None]
    roots = np.exp(1j * np.pi * (np.arange(1, CONTOUR_POINTS + 1) - 0.5) / CONTOUR_POINTS)
    lr = hl + roots
    q = dt * np.real(np.mean((np.exp(lr / 2) - 1) / lr, axis=-1))
    f1 = dt * np.real(np.mean((-4 - lr + np.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3, axis=-1))
    f2 = dt * np.real(np.mean((2 + lr + np.exp(lr) * (lr - 2)) / lr**3, axis=-1))
    f3 = dt * np.real(np.mean((-4 - 3 * lr - lr**2 + np.exp(lr) * (4 - lr)) / lr**3, axis=-1))
    return np.exp(dt * linear), np.exp(dt * linear / 2), q, f1, f2, f3


def etdrk4_step(nonlinear: Nonlinear, coefficients: tuple[Array, ...]) -> Callable[[Field], Field]:
    e, e2, q, f1, f2, f3 = coefficients

    def step(v: Field) -> Field:
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        return e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc

    return step


def _integrate(
    v0: np.ndarray, linear: np.ndarray, nonlinear: Nonlinear, dt: float, saves: int, steps_per_save: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Coefficients and their rates at the ``saves`` + 1 save times; compile and run seconds.

    Must be called inside ``jax.enable_x64``.
    """
    coefficients = tuple(jnp.asarray(c) for c in etdrk4_coefficients(linear, dt))
    step = etdrk4_step(nonlinear, coefficients)
    lin = jnp.asarray(linear)

    def run(v: Field) -> tuple[Field, Field]:
        def interval(state: Field, _: None) -> tuple[Field, Field]:
            state = jax.lax.fori_loop(0, steps_per_save, lambda _, s: step(s), state)
            return state, state

        _, later = jax.lax.scan(interval, v, None, length=saves)
        states = jnp.concatenate([v[None], later])
        return states, lin * states + jax.vmap(nonlinear)(states)

    start = time.perf_counter()
    compiled = jax.jit(run).lower(jnp.asarray(v0)).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    states, rates = jax.block_until_ready(compiled(jnp.asarray(v0)))
    run_s = time.perf_counter() - start
    return np.asarray(states), np.asarray(rates), compile_s, run_s


def _steps(duration: float, saves: int, dt_max: float) -> tuple[int, float]:
    """Steps per save interval and the step that divides it evenly, at most ``dt_max``."""
    per_save = max(1, math.ceil(duration / saves / dt_max - 1e-9))
    return per_save, duration / saves / per_save


def burgers_1d(
    u0: Float[np.ndarray, " n"], nu: float, period: float, duration: float, saves: int, cfl: float
) -> SpectralRun:
    """Burgers' equation from grid values ``u0`` (x_j = origin + j period / n) to ``duration``.

    dt = cfl * dx / max|u0| (max|u| cannot grow, by the maximum principle), shortened so
    that ``saves`` equal intervals hold whole steps.
    """
    n = len(u0)
    k = 2 * np.pi / period * np.fft.rfftfreq(n, 1.0 / n)
    mask = dealias_mask(n, 1)
    per_save, dt = _steps(duration, saves, cfl * period / n / max(float(np.max(np.abs(u0))), 1e-12))
    with jax.enable_x64(True):
        ik, keep = jnp.asarray(1j * k), jnp.asarray(mask)

        def nonlinear(v: Field) -> Field:
            u = jnp.fft.irfft(v, n) * n
            return jnp.where(keep, -0.5 * ik * jnp.fft.rfft(u * u) / n, 0)

        v0 = np.fft.rfft(u0) / n * mask
        states, rates, compile_s, run_s = _integrate(v0, -nu * k**2, nonlinear, dt, saves, per_save)
    return SpectralRun(np.linspace(0, duration, saves + 1), states, rates, n, dt, saves * per_save, compile_s, run_s)


def energy_spectra(w: Float[np.ndarray, "... n n"]) -> Float[np.ndarray, "... s"]:
    """Shell-summed kinetic energy of vorticity fields on a periodic square grid (the last two axes).

    E(k) = sum |w_hat|^2 / (2 |k|^2) over shells |k| in (k - 1/2, k + 1/2], k = 1..n/2, for each field of the leading axes.
    """
    n = w.shape[-1]
    w_hat = np.fft.fft2(w) / n**2
    kx, ky = np.meshgrid(np.fft.fftfreq(n, 1.0 / n), np.fft.fftfreq(n, 1.0 / n), indexing="ij")
    k = np.hypot(kx, ky)
    shell = np.rint(k).astype(int).ravel()
    weight = np.where(k > 0, 1 / (2 * np.where(k > 0, k, 1.0) ** 2), 0.0).ravel()
    energy = (np.abs(w_hat) ** 2).reshape(*w.shape[:-2], -1) * weight
    summed = np.stack([np.bincount(shell, row) for row in energy.reshape(-1, n * n)])
    return summed.reshape(*w.shape[:-2], -1)[..., 1 : n // 2 + 1]


def wavenumbers_2d(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer wavenumbers (kx, ky) of the rFFT layout on [0, 2 pi)^2, broadcastable."""
    return np.fft.fftfreq(n, 1.0 / n)[:, None], np.fft.rfftfreq(n, 1.0 / n)[None, :]


def velocity_2d[C: (np.ndarray, Array)](w_hat: C) -> tuple[C, C]:
    """Grid velocity (u, v) = (psi_y, -psi_x) from rFFT vorticity coefficients (scaled by 1 / n^2; NumPy or JAX, batched over
    leading axes)."""
    xp = np if isinstance(w_hat, np.ndarray) else jnp
    n = w_hat.shape[-2]
    kx, ky = wavenumbers_2d(n)
    psi = w_hat / np.where(kx**2 + ky**2 == 0, 1.0, kx**2 + ky**2)
    return xp.fft.irfft2(1j * ky * psi, (n, n)) * n * n, xp.fft.irfft2(-1j * kx * psi, (n, n)) * n * n


def vorticity_2d(w0_hat: Complex[np.ndarray, "n h"], nu: float, duration: float, saves: int, cfl: float) -> SpectralRun:
    """The vorticity equation from rFFT coefficients ``w0_hat`` (scaled by 1 / n^2) to ``duration``.

    dt = cfl * dx / max(|u| + |v|) at t = 0; decaying turbulence does not speed up much,
    and ``cfl`` <= 0.5 leaves ETDRK4 a factor two of stability margin for what it does.
    """
    n = w0_hat.shape[0]
    kx, ky = wavenumbers_2d(n)
    k2 = kx**2 + ky**2
    mask = dealias_mask(n, 2)
    u, v = velocity_2d(w0_hat)
    per_save, dt = _steps(duration, saves, cfl * 2 * np.pi / n / max(float(np.max(np.abs(u) + np.abs(v))), 1e-12))
    with jax.enable_x64(True):
        ikx, iky = jnp.asarray(1j * kx), jnp.asarray(1j * ky)
        inverse_k2, keep = jnp.asarray(1.0 / np.where(k2 == 0, 1.0, k2) * (k2 > 0)), jnp.asarray(mask)

        def grid(c: Field) -> Array:
            return jnp.fft.irfft2(c, (n, n)) * n * n

        def nonlinear(w: Field) -> Field:
            psi = w * inverse_k2
            advection = grid(iky * psi) * grid(ikx * w) - grid(ikx * psi) * grid(iky * w)
            return jnp.where(keep, -jnp.fft.rfft2(advection) / (n * n), 0)

        states, rates, compile_s, run_s = _integrate(w0_hat * mask, -nu * k2, nonlinear, dt, saves, per_save)
    return SpectralRun(np.linspace(0, duration, saves + 1), states, rates, n, dt, saves * per_save, compile_s, run_s)


def _weights(n: int) -> np.ndarray:
    """Multiplicity of rFFT modes in a real field: 1 for m = 0 and m = n / 2, else 2."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def evaluate_1d(
    coefficients: Complex[np.ndarray, "p h"], n: int, x: Float[np.ndarray, " p"], period: float, chunk: int = 2048
) -> Float[np.ndarray, " p"]:
    """Row p of ``coefficients`` (one rFFT per point, scaled by 1 / n) at the offset x[p] from the origin."""
    k = 2 * np.pi / period * np.fft.rfftfreq(n, 1.0 / n)
    weights = _weights(n)
    out = np.empty(len(x))
    for start in range(0, len(x), chunk):
        part = slice(start, start + chunk)
        phase = np.exp(1j * np.outer(x[part], k))
        out[part] = np.real(np.sum(coefficients[part] * phase * weights, axis=1))
    return out


def evaluate_2d(
    coefficients: Complex[np.ndarray, "n h"], x: Float[np.ndarray, " p"], y: Float[np.ndarray, " p"], chunk: int = 4096
) -> Float[np.ndarray, " p"]:
    """The real field of rFFT ``coefficients`` (scaled by 1 / n^2) on [0, 2 pi)^2 at (x, y), exactly.

    Sums over kx once per distinct x, then over ky per point: cheap on the tensor grids
    that test sets and pictures use, exact at scattered points too.
    """
    n = coefficients.shape[0]
    kx, ky = (k.ravel() for k in wavenumbers_2d(n))
    columns, which = np.unique(x, return_inverse=True)
    partial_sums = np.exp(1j * np.outer(columns, kx)) @ coefficients * _weights(n)
    out = np.empty(len(x))
    for start in range(0, len(x), chunk):
        part = slice(start, start + chunk)
        out[part] = np.real(np.sum(partial_sums[which[part]] * np.exp(1j * np.outer(y[part], ky)), axis=1))
    return out


def interpolate_in_time(run: SpectralRun, t: Float[np.ndarray, " p"]) -> Complex[np.ndarray, "p ..."]:
    """Coefficients at times ``t`` by cubic Hermite interpolation between saved states.

    The rates come from the equation itself, so the error is O(dt_save^4 |d^4 c / dt^4|)
    and exact at the saved times.
    """
    spacing = run.times[1] - run.times[0]
    j = np.clip(np.searchsorted(run.times, t, side="right") - 1, 0, len(run.times) - 2)
    s = ((t - run.times[j]) / spacing).reshape(-1, *([1] * (run.coefficients.ndim - 1)))
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    c, r = run.coefficients, run.rates
    return h00 * c[j] + h10 * spacing * r[j] + h01 * c[j + 1] + h11 * spacing * r[j + 1]


def resample_2d(coefficients: Complex[np.ndarray, "n h"], n: int) -> Complex[np.ndarray, "n2 h2"]:
    """The same band-limited field in the rFFT layout of an n x n grid (modes |m| < n / 2 kept).

    Exact for fields whose modes lie below both grids' Nyquist wavenumbers, as
    dealiased fields do: it zero-pads or drops zeros.
    """
    n_from = coefficients.shape[0]
    keep = (min(n, n_from) - 1) // 2
    rows = np.fft.fftfreq(n, 1.0 / n).astype(int)
    rows = rows[np.abs(rows) <= keep]
    out = np.zeros((n, n // 2 + 1), dtype=complex)
    out[rows % n, : keep + 1] = coefficients[rows % n_from, : keep + 1]
    return out


def burgers_1d_batch(u0: Float[np.ndarray, "b n"], nu: float, period: float, duration: float, cfl: float) -> Float[np.ndarray, "b n"]:
    """Burgers' equation for a batch of periodic initial values on one grid: the grid values at ``duration``.

    One step size serves the batch (the CFL rule on its largest |u0|), and the step count
    is rounded up to a multiple of :data:`STEP_BUCKET`, so batches of one shape share one
    compiled program: generating a dataset compiles once, not once per batch.
    """
    n = u0.shape[-1]
    k = 2 * np.pi / period * np.fft.rfftfreq(n, 1.0 / n)
    dt_max = cfl * period / n / max(float(np.max(np.abs(u0))), 1e-12)
    steps = STEP_BUCKET * math.ceil(duration / dt_max / STEP_BUCKET)
    coefficients = etdrk4_coefficients(-nu * k**2, duration / steps)
    with jax.enable_x64(True):
        final = _burgers_march(n, steps)(jnp.asarray(np.fft.rfft(u0, axis=-1) * dealias_mask(n, 1)), jnp.asarray(k),
                                          tuple(jnp.asarray(c) for c in coefficients))
        return np.fft.irfft(np.asarray(final), n, axis=-1)


STEP_BUCKET = 64
"""Step counts are multiples of this, so that batches with similar CFL steps reuse a compiled march."""


@functools.lru_cache(maxsize=16)
def _burgers_march(n: int, steps: int) -> Callable[[Field, Array, tuple[Array, ...]], Field]:
    """The jitted ``steps``-step ETDRK4 march of a batch of rFFT coefficients (one compile per n, steps, batch shape)."""

    def march(v0: Field, k: Array, coefficients: tuple[Array, ...]) -> Field:
        step = etdrk4_step(burgers_nonlinear(n, 1j * k), coefficients)
        return jax.lax.fori_loop(0, steps, lambda _, v: step(v), v0)

    return jax.jit(march)


def burgers_nonlinear(n: int, ik: Array | np.ndarray) -> Callable[[Field], Field]:
    """-(u^2 / 2)_x of Burgers' equation, dealiased by the 2/3 rule, on NumPy-convention rFFT coefficients of an n-point grid
    (batched over leading axes); ``ik`` is i times the wavenumbers, in the working precision."""
    keep = dealias_mask(n, 1)

    def nonlinear(v: Field) -> Field:
        u = jnp.fft.irfft(v, n, axis=-1)
        return jnp.where(keep, -0.5 * ik * jnp.fft.rfft(u * u, axis=-1), 0)

    return nonlinear

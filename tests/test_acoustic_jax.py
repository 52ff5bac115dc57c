"""The JAX wave solver: its gradient (Taylor test, checkpointing), reciprocity, and the physics it models."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from parity.numerics import acoustic_jax
from parity.numerics.seismic_survey import Survey, ricker, stable_dt, surface_survey
from parity.numerics.taylor import taylor_rates

C_MAX = 3.5
SHAPE = (40, 30)


def small_survey() -> Survey:
    return surface_survey(SHAPE, 0.01, shots=2, receivers=20, peak_frequency=10.0, duration=0.4, c_max=C_MAX,
                          absorbing_cells=10)


def layered(depth_scale: float) -> np.ndarray:
    """2 km/s at the surface to 2.8 km/s at depth across a smooth step 0.15 km down."""
    z = 0.01 * np.arange(SHAPE[1])
    return np.broadcast_to(2.0 + 0.8 / (1.0 + np.exp(-(z - 0.15) / depth_scale)), SHAPE).copy()


def smooth_random(seed: int, amplitude: float) -> np.ndarray:
    field = gaussian_filter(np.random.default_rng(seed).standard_normal(SHAPE), 4.0)
    return amplitude * field / np.abs(field).max()


@pytest.fixture(scope="module")
def inversion() -> dict[str, np.ndarray]:
    """A smooth start, its misfit and gradient against a sharper layered truth, in float64."""
    survey = small_survey()
    with jax.enable_x64(True):
        observed = acoustic_jax.shot_records(jnp.asarray(layered(0.01)), survey, C_MAX)
        start = jnp.asarray(layered(0.05))
        value, gradient = acoustic_jax.misfit_and_gradient(start, observed, survey, C_MAX)
        return {"observed": np.asarray(observed), "start": np.asarray(start), "value": np.asarray(value),
                "gradient": np.asarray(gradient)}


def test_gradient_passes_the_taylor_test(inversion: dict[str, np.ndarray]) -> None:
    """J(v + eps dv) - J(v) falls like eps, and like eps^2 once eps <g, dv> is taken off."""
    survey = small_survey()
    direction = smooth_random(0, 0.2)
    slope = float(np.sum(inversion["gradient"] * direction))
    assert abs(slope) > 1e-3 * float(inversion["value"])
    with jax.enable_x64(True):
        observed = jnp.asarray(inversion["observed"])
        first_rates, second_rates = taylor_rates(
            lambda v: float(acoustic_jax.misfit(jnp.asarray(v), observed, survey, C_MAX)), inversion["start"], direction,
            float(inversion["value"]), inversion["gradient"], 0.01 / 2.0 ** np.arange(5),
        )
    assert np.all((first_rates > 1.8) & (first_rates < 2.2)), first_rates
    assert np.all((second_rates > 3.5) & (second_rates < 4.5)), second_rates


def test_checkpointing_leaves_the_gradient_unchanged(inversion: dict[str, np.ndarray]) -> None:
    """Recomputing segments reruns the same arithmetic, so any segment length gives the stored-history gradient."""
    survey = small_survey()
    with jax.enable_x64(True):
        observed, start = jnp.asarray(inversion["observed"]), jnp.asarray(inversion["start"])
        for segment in (7, survey.nt):  # 280 steps: 40 segments of 7; then no checkpoints at all
            value, gradient = acoustic_jax.misfit_and_gradient(start, observed, survey, C_MAX, segment=segment)
            assert float(value) == pytest.approx(float(inversion["value"]), rel=1e-13)
            np.testing.assert_allclose(np.asarray(gradient), inversion["gradient"],
                                       atol=1e-12 * np.abs(inversion["gradient"]).max(), rtol=0)


def test_records_are_reciprocal_in_a_heterogeneous_medium() -> None:
    """Swapping source and receiver gives the same trace, to rounding.

    The scheme is M+ u^{n+1} - 2 M u^n + M- u^{n-1} = dt^2 (L u^n + s^n) with M = diag(m),
    M+- = M (1 +- eta dt / 2) and L symmetric (the zero halo truncates a symmetric stencil), so
    its z-transform M (z - 2 + 1/z) + (eta M dt / 2)(z - 1/z) - dt^2 L is a symmetric matrix for
    every z: the discrete Green's function is symmetric, sponge and all.
    """
    near, far = [5, 3], [33, 24]
    survey = Survey(shape=SHAPE, spacing=0.01, dt=stable_dt(C_MAX, 0.01, 8), nt=300, sources=np.array([near, far]),
                    receivers=np.array([far, near]), peak_frequency=10.0, absorbing_cells=10)
    velocity = 2.5 + smooth_random(1, 0.6)
    with jax.enable_x64(True):
        records = np.asarray(acoustic_jax.shot_records(jnp.asarray(velocity), survey, C_MAX))
    forward, backward = records[0, :, 0], records[1, :, 1]
    assert np.abs(forward).max() > 1e-2
    np.testing.assert_allclose(forward, backward, atol=1e-12 * np.abs(forward).max(), rtol=0)


def free_space(distance: float, times: np.ndarray, velocity: float, peak_frequency: float) -> np.ndarray:
    """u_tt = c^2 lap u + c^2 w delta in the unbounded plane: with s = (r/c) cosh(theta) in the
    2D Green's function's convolution, u(r, t) = 1/(2 pi) int_0^{acosh(ct/r)} w(t - (r/c) cosh theta) dtheta."""
    field = np.zeros_like(times)
    later = times > distance / velocity
    top = np.arccosh(velocity * times[later] / distance)
    nodes, weights = np.polynomial.legendre.leggauss(200)
    theta = 0.5 * top[:, None] * (nodes + 1.0)
    field[later] = 0.5 * top * (ricker(times[later, None] - distance / velocity * np.cosh(theta), peak_frequency) @ weights)
    return field / (2.0 * np.pi)


def test_matches_the_free_space_field_and_the_sponge_absorbs() -> None:
    """In a homogeneous medium the direct wave is the 2D Green's function convolved with the wavelet,
    and the sponge takes the energy out: late in the record there is far less than in a box without one."""
    velocity, spacing, frequency, size, centre = 2.0, 0.01, 10.0, 81, 40
    offsets = np.array([[10, 0], [20, 0], [15, 15]])
    dt = stable_dt(velocity, spacing, 8)
    survey = Survey(shape=(size, size), spacing=spacing, dt=dt, nt=int(np.ceil(1.5 / dt)) + 1,
                    sources=np.array([[centre, centre]]), receivers=centre + offsets, peak_frequency=frequency,
                    absorbing_cells=20)
    model = jnp.full((size, size), velocity, jnp.float32)
    records = np.asarray(acoustic_jax.shot_records(model, survey, velocity))[0]
    assert records.dtype == np.float32
    for trace, offset in zip(records.T, offsets, strict=True):
        distance = spacing * np.hypot(*offset)
        direct = survey.times < distance / velocity + 0.25  # before the sponge's echo arrives
        exact = free_space(distance, survey.times[direct], velocity, frequency)
        error = np.linalg.norm(trace[direct] - exact) / np.linalg.norm(exact)
        assert error < 0.03, (distance, error)
    late = survey.times > 1.0
    boxed = np.asarray(acoustic_jax.shot_records(model, survey, 0.0))[0]  # c_max = 0: no sponge, a closed box
    assert np.sum(records[late] ** 2) < 0.02 * np.sum(boxed[late] ** 2)

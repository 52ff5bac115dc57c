"""Kolmogorov flow: the metrics on known answers, the data, both classical schemes and the learned correction."""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import silent

from parity.knobs import ParameterError
from parity.problems.kolmogorov_2d import Kolmogorov2D, correlation, crossing_time
from parity.solvers import Budget
from parity.solvers.hybrid.calibration import Calibration
from parity.solvers.hybrid.coarse_model import resample
from parity.solvers.hybrid.learned_correction import Hybrid, LearnedCorrection
from parity.solvers.hybrid.periodic_cnn import PeriodicCNN
from parity.solvers.pde.coarse_grid import CoarseGrid

SMALL = Kolmogorov2D(resolution=32, reference_n=64, horizon=1.0, burn_in=2.0, n_train=2, n_validation=1, n_test=2)


def test_crossing_time_interpolates_between_frames_and_is_none_when_never_crossed() -> None:
    times = 0.1 * np.arange(1, 11)
    assert crossing_time(1 - times / 4, times, 0.95) == pytest.approx(0.2)  # 0.95 exactly at a frame
    assert crossing_time(1 - times**2, times, 0.95) == pytest.approx(0.22)  # between t = 0.2 (0.96) and 0.3 (0.91)
    assert crossing_time(np.full(10, 0.99), times, 0.95) is None


def test_metrics_on_known_answers() -> None:
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2, SMALL.output_channels, 32, 32))
    same = SMALL.extra_metrics(reference, reference)
    assert same["corr_time_095"] == same["corr_time_080"] == SMALL.horizon and same["censored"] == 2
    assert same["spectrum_error"] == 0 and same["rel_l2_t1"] == 0
    flipped = SMALL.extra_metrics(-reference, reference)  # correlation -1 from the first frame: crossed at 0.1 (1 - 0.95) / 2
    assert flipped["corr_time_095"] == pytest.approx(0.0025) and flipped["corr_time_080"] == pytest.approx(0.01)
    assert flipped["spectrum_error"] == pytest.approx(0, abs=1e-12)  # the same spectrum: statistics, not phases
    blown_up = np.full_like(reference, np.nan)
    assert np.all(correlation(blown_up, reference) == -1)


def test_splits_are_disjoint_deterministic_and_shaped() -> None:
    train, validation, test = (SMALL.dataset(split) for split in ("train", "validation", "test"))
    assert train.inputs.shape == (2, 1, 64, 64) and test.outputs.shape == (2, 10, 32, 32) and validation.outputs.shape == (1, 10, 32, 32)
    starts = np.concatenate([train.inputs, validation.inputs, test.inputs])[:, 0].reshape(5, -1)
    assert np.min([np.linalg.norm(a - b) for i, a in enumerate(starts) for b in starts[i + 1 :]]) > 1.0
    again = dataclasses.replace(SMALL, n_test=1).dataset("test")
    np.testing.assert_array_equal(again.outputs[0], test.outputs[0])  # a smaller split is a prefix of a larger one
    assert test.solve_s.min() > 0


def test_both_schemes_converge_to_the_reference_and_the_spectral_one_reproduces_it() -> None:
    test = SMALL.dataset("test")
    errors = {}
    for scheme in SMALL.coarse_schemes:
        result = CoarseGrid(scheme=scheme, resolutions=(16, 32, 48)).solve(SMALL, Budget(), 0, SMALL.evaluator(), silent)
        errors[scheme] = [point.metrics["rel_l2_t1"] for point in result.trace]
        assert result.info["scheme"] == scheme
    for scheme, values in errors.items():
        assert values[0] > 1.2 * values[1] > 1.44 * values[2], (scheme, values)
    same_grid = SMALL.solve_inputs_with("spectral", test.inputs, SMALL.reference_resolution)  # float32 against the float64 reference
    assert np.max(np.abs(same_grid - test.outputs)) < 1e-3 * np.max(np.abs(test.outputs))


def test_bad_input_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(ParameterError, match="allowed: 1000 or 4000"):
        Kolmogorov2D(reynolds=2000)
    with pytest.raises(ParameterError, match="not a whole number of frame_interval"):
        Kolmogorov2D(horizon=1.05)
    with pytest.raises(ParameterError, match="not finer than the learning grid"):
        Kolmogorov2D(resolution=64, reference_n=64)
    with pytest.raises(ParameterError, match="unknown scheme 'lattice_boltzmann'; allowed: spectral, finite_volume"):
        CoarseGrid(scheme="lattice_boltzmann").solve(SMALL, Budget(), 0, SMALL.evaluator(), silent)
    with pytest.raises(ParameterError, match=r"finer than the learning grid 32"):
        LearnedCorrection(grid=64).coarse_model(SMALL)
    with pytest.raises(ParameterError, match="longer than a trajectory's 10"):
        LearnedCorrection(grid=16, unroll=11, width=2, depth=2).solve(SMALL, Budget(steps=1), 0, SMALL.evaluator(), silent)


@pytest.mark.parametrize("base", ["spectral", "finite_volume"])
def test_an_untrained_hybrid_is_its_coarse_solver(base: str) -> None:
    """The correction's last layer starts at zero: the rollout is the classical scheme's, to float32 round-off."""
    test = SMALL.dataset("test")
    model = LearnedCorrection(base=base, grid=32).coarse_model(SMALL)
    hybrid = Hybrid(PeriodicCNN(1, 1, 4, 2, 3, key=jax.random.key(0)), model, 5.0)
    start = resample(jnp.asarray(test.inputs[:, 0]), 32)
    rolled = np.asarray(jax.jit(lambda a: hybrid.rollout(a, SMALL.output_channels, 32))(start))
    classical = SMALL.solve_inputs_with(base, test.inputs, 32)
    assert np.max(np.abs(rolled - classical)) < 1e-4 * np.max(np.abs(classical))


@pytest.mark.parametrize("base", ["spectral", "finite_volume", "none"])
def test_the_gradient_through_an_unrolled_rollout_matches_finite_differences(base: str) -> None:
    model = LearnedCorrection(base=base, grid=16).coarse_model(SMALL)
    start = np.asarray(resample(jnp.asarray(SMALL.dataset("test").inputs[:1, 0], jnp.float32), 16))
    with jax.enable_x64(True):
        network = PeriodicCNN(1, 1, 4, 2, 3, key=jax.random.key(1))
        network = jax.tree.map(lambda a: jax.random.normal(jax.random.key(2), a.shape, jnp.float64) * 0.1 if eqx.is_inexact_array(a) else a,
                               network)
        params, static = eqx.partition(network, eqx.is_inexact_array)
        direction = jax.tree.map(lambda a: jax.random.normal(jax.random.key(3), a.shape, a.dtype), params)

        def loss(p: object) -> jax.Array:
            hybrid = Hybrid(eqx.combine(p, static), model, 5.0)
            return jnp.mean(hybrid.rollout(jnp.asarray(start, jnp.float64), 3, 16) ** 2)

        gradient = jax.grad(loss)(params)
        analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(gradient), jax.tree.leaves(direction), strict=True))
        step = 1e-6
        shifted = [jax.tree.map(lambda p, d, s=s: p + s * step * d, params, direction) for s in (1, -1)]
        numeric = (loss(shifted[0]) - loss(shifted[1])) / (2 * step)
    assert float(abs(analytic - numeric)) < 1e-6 * float(abs(numeric)), (float(analytic), float(numeric))


def test_a_trained_correction_lengthens_the_coarse_solvers_correlation_time_over_seeds() -> None:
    """16^2 pseudo-spectral against a 64^2 reference: 150 steps of solver-in-the-loop training on two trajectories.

    Measured (2-core CPU): the coarse solver keeps a correlation of 0.8 for 0.59 time units; the hybrids for 0.75-0.76.
    """
    problem = dataclasses.replace(SMALL, n_train=2)
    coarse = CoarseGrid(scheme="spectral", resolutions=(16,)).solve(problem, Budget(), 0, problem.evaluator(), silent).trace[0].metrics
    learner = LearnedCorrection(base="spectral", grid=16, width=8, depth=3, unroll=2, checkpoint_every=150)
    trained = [learner.solve(problem, Budget(steps=150), seed, problem.evaluator(), silent).trace[-1].metrics for seed in range(3)]
    times = [metrics["corr_time_080"] for metrics in trained]
    assert min(times) > 1.1 * coarse["corr_time_080"] and np.median(times) > 1.15 * coarse["corr_time_080"], (coarse["corr_time_080"], times)
    assert max(metrics["rel_l2"] for metrics in trained) < coarse["rel_l2"]


def test_a_calibrated_drag_approaches_the_true_one_as_the_grid_resolves_the_flow() -> None:
    """The least-squares drag absorbs the coarse grid's error: measured 0.29 on 32^2 and 0.14 on 64^2 (true 0.1)."""
    problem = Kolmogorov2D(resolution=64, reference_n=128, horizon=1.0, burn_in=2.0, n_train=1, n_validation=1, n_test=1)
    fitted = [Calibration(scheme="spectral", grid=grid, unroll=10).solve(problem, Budget(), 0, problem.evaluator(), silent).info["fitted_drag"]
              for grid in (32, 64)]
    assert abs(fitted[1] - 0.1) < 0.6 * abs(fitted[0] - 0.1) and 0.05 < fitted[1] < 0.2, fitted


def test_the_periodic_convolution_is_a_circular_convolution() -> None:
    network = PeriodicCNN(2, 3, 4, 2, 3, key=jax.random.key(0))
    layer = network.layers[0]
    x = jax.random.normal(jax.random.key(1), (9, 9, 2))
    kernel = layer.weight.reshape(3, 3, 2, 4)  # copy (a, b) = x[i - a, j - b] with a, b = 1, 0, -1: a correlation kernel
    padded = jnp.pad(x, ((1, 1), (1, 1), (0, 0)), mode="wrap")
    expected = jax.lax.conv_general_dilated(padded[None], kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))[0]
    np.testing.assert_allclose(layer(x), expected + layer.bias, rtol=1e-5, atol=1e-5)
    shifted = jnp.roll(x, (2, 5), axis=(0, 1))  # translation-equivariant on the torus
    np.testing.assert_allclose(network(jnp.moveaxis(shifted, -1, 0)), jnp.roll(network(jnp.moveaxis(x, -1, 0)), (2, 5), axis=(1, 2)), atol=1e-6)
    assert float(jnp.abs(network.layers[-1].weight).max()) == 0  # the correction starts at zero


def test_equal_accuracy_ratios_interpolate_in_log_grid_and_bound_outside_the_sweep() -> None:
    from parity.report.trajectories import equal_accuracy_ratios

    rows = [("finite_volume", 64, 1.0), ("finite_volume", 128, 2.0), ("finite_volume", 256, 4.0),
            ("spectral", 32, 3.0), ("spectral", 64, 2.0), ("spectral", 128, 5.0), ("spectral", 256, 8.0)]
    points = pd.DataFrame([{"setting": "", "label": scheme, "scheme": scheme, "resolution": grid, "corr_time_095": time, "horizon": 8.0}
                           for scheme, grid, time in rows])
    ratios = equal_accuracy_ratios(points).set_index("spectral")
    assert ratios.loc[64, "ratio"] == "2.0×" and ratios.loc[32, "ratio"] == f"{math.sqrt(128 * 256) / 32:.1f}×"
    assert ratios.loc[128, "matched"].startswith("> 256²") and 256 not in ratios.index  # 256² never decorrelated: no time to match

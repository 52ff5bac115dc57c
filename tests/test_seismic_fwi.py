"""Seismic FWI: Devito's adjoint-state gradient, the JAX solver against Devito, and FWI itself."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from parity.knobs import ParameterError
from parity.numerics import acoustic_jax, velocity_models
from parity.numerics.seismic_devito import SeismicModeller
from parity.numerics.seismic_survey import surface_survey
from parity.numerics.taylor import taylor_rates
from parity.problems.seismic_2d import SeismicFWI2D
from parity.solvers.seismic.fwi import FullWaveformInversion, lowpass
from parity.solvers.seismic.starting_model import StartingModel

SHAPE, H, C_MAX = (40, 30), 0.01, 3.5


def small_survey(shots: int = 2):
    return surface_survey(SHAPE, H, shots=shots, receivers=20, peak_frequency=10.0, duration=0.4, c_max=C_MAX, absorbing_cells=10)


def layered(contrast: float = 0.8) -> np.ndarray:
    z = H * np.arange(SHAPE[1])[None, :] + np.zeros((SHAPE[0], 1))
    return 2.0 + contrast * (z > 0.12) + 0.5 * contrast * (z > 0.22)


@pytest.fixture(scope="module")
def modeller64() -> SeismicModeller:
    return SeismicModeller(small_survey(), C_MAX, dtype=np.float64)


def test_devito_gradient_passes_taylor_test(modeller64: SeismicModeller) -> None:
    """|J(c + e dc) - J(c)| falls as e, |J(c + e dc) - J(c) - e <g, dc>| as e^2: the gradient is exact."""
    observed = modeller64.shot_records(layered())
    start = gaussian_filter(layered(), 3.0, mode="nearest")
    misfit, gradient = modeller64.misfit_and_gradient(start, observed)
    direction = gaussian_filter(np.random.default_rng(0).standard_normal(SHAPE), 3.0)
    direction *= 0.01 / np.abs(direction).max()
    first_rates, second_rates = taylor_rates(lambda c: modeller64.misfit_and_gradient(c, observed)[0], start, direction,
                                             misfit, gradient, 2.0 ** -np.arange(0, 5))
    assert np.all((first_rates > 1.7) & (first_rates < 2.3)), first_rates
    assert np.all((second_rates > 3.7) & (second_rates < 4.3)), second_rates


@pytest.mark.parametrize("model", ["homogeneous", "layered"])
def test_jax_and_devito_records_agree(modeller64: SeismicModeller, model: str) -> None:
    """Same scheme, same stencil, same sponge: the two solvers' shot records agree to 1e-6 of the peak (float64)."""
    velocity = np.full(SHAPE, 2.5) if model == "homogeneous" else layered()
    devito = modeller64.shot_records(velocity)
    with jax.enable_x64(True):
        records = np.asarray(acoustic_jax.shot_records(jnp.asarray(velocity), modeller64.survey, C_MAX))
    assert np.abs(devito).max() > 1e-3  # the waves reached the receivers
    assert np.max(np.abs(records - devito)) < 1e-6 * np.abs(devito).max()


def test_jax_and_devito_gradients_agree(modeller64: SeismicModeller) -> None:
    """Autodiff through the JAX time loop and Devito's discrete adjoint give the same dJ/dc."""
    observed = modeller64.shot_records(layered())
    start = gaussian_filter(layered(), 3.0, mode="nearest")
    misfit, gradient = modeller64.misfit_and_gradient(start, observed)
    with jax.enable_x64(True):
        value, jax_gradient = acoustic_jax.misfit_and_gradient(jnp.asarray(start), jnp.asarray(observed), modeller64.survey, C_MAX)
    assert float(value) == pytest.approx(misfit, rel=1e-5)  # Devito writes its stencil weights with 9 digits
    assert np.linalg.norm(np.asarray(jax_gradient) - gradient) < 1e-5 * np.linalg.norm(gradient)


def test_lowpass_is_self_adjoint_and_passes_low_frequencies() -> None:
    rng = np.random.default_rng(1)
    dt, n = 1e-3, 1000
    filter_ = lowpass(dt, cutoff=10.0)
    a, b = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    assert np.sum(filter_(a) * b) == pytest.approx(np.sum(a * filter_(b)), rel=1e-10)
    t = dt * np.arange(n)
    slow, fast = np.sin(2 * np.pi * 3 * t)[:, None], np.sin(2 * np.pi * 40 * t)[:, None]
    assert np.abs(filter_(slow) - slow)[250:-250].max() < 0.01
    assert np.abs(filter_(fast))[250:-250].max() < 0.01


def test_fwi_halves_the_velocity_error_from_a_smoothed_start() -> None:
    """A small layered model, data from a 2x finer grid (no inverse crime), 5 shots at 15 Hz, start smoothed by 8 cells.

    8 cells (80 m) is below half the shortest wavelength here (~100 m at 15 Hz), so the layers'
    edges must come from the waveforms; the solver's default three-band continuation is run.
    """
    survey = surface_survey(SHAPE, H, shots=5, receivers=40, peak_frequency=15.0, duration=0.6, c_max=C_MAX, absorbing_cells=10)
    model = velocity_models.random_model("flat_layers", np.random.default_rng(3), ((SHAPE[0] - 1) * H, (SHAPE[1] - 1) * H), (1.5, C_MAX))
    truth = model.grid(SHAPE, H)
    fine = SeismicModeller(survey.refined(2), C_MAX)
    observed = fine.shot_records(model.grid(fine.survey.shape, H / 2))[:, ::2]
    start = velocity_models.smoothed(truth, 8.0)
    inversion = FullWaveformInversion(iterations=15).invert(SeismicModeller(survey, C_MAX), start, observed, 15.0, lambda k: None)
    before = np.linalg.norm(start - truth)
    after = np.linalg.norm(inversion.velocities[-1] - truth)
    assert after < 0.5 * before, (before, after)
    assert inversion.solves[-1] > 0 and inversion.seconds[-1] > 0


def test_problem_splits_are_disjoint_and_data_come_from_the_finer_grid() -> None:
    """The inversion grid's records differ from the observed (2x finer) ones by its discretisation error.

    Where a misfit looks (traces ``near_offset`` or more from their source) that error is second
    order (time steps and spacing halve together; the space stencil is 8th order): the difference
    to 2x finer data is 4x the one between 2x and 4x finer data (4.3 measured), and 2e-3 of the
    data. A time or receiver misalignment between the grids would leave a first-order or constant
    part and break the ratio. The traces at a source's own node differ by ~19 % on every refinement:
    they sample the 2D source's log-singular near field, which no grid resolves (why they are masked).
    """
    sizes = {"model_size": 24, "shots": 2, "receivers": 12, "duration": 0.3, "noise": 0.0, "n_train": 2, "n_validation": 1, "n_test": 1}
    problem = SeismicFWI2D(**sizes)
    train, test = problem.dataset("train"), problem.dataset("test")
    assert train.observations.shape == (2, *problem.survey().data_shape)
    assert not np.allclose(train.truths[0], test.truths[0])
    assert np.all((train.truths >= 1.5) & (train.truths <= 4.5))
    coarse = problem.modeller().shot_records(test.truths[0])
    finer = SeismicFWI2D(**sizes, refinement=4).dataset("test")
    np.testing.assert_array_equal(finer.truths[0], test.truths[0])
    mask = problem.survey().trace_mask()[:, None, :]
    scale = np.linalg.norm(mask * finer.observations[0])
    to_finer = np.linalg.norm(mask * (coarse - test.observations[0])) / scale
    finer_to_finest = np.linalg.norm(mask * (test.observations[0] - finer.observations[0])) / scale
    assert to_finer < 5e-3 and 3.0 < to_finer / finer_to_finest < 5.5, (to_finer, finer_to_finest)
    jax_records = np.asarray(problem.operator().forward(jnp.asarray(test.truths[0], jnp.float32)))
    assert np.max(np.abs(jax_records - coarse)) < 1e-4 * np.abs(coarse).max()  # the operator learned methods see is Devito's
    assert np.allclose(problem.prior_model()[:1], problem.prior_model())  # laterally constant


def test_problem_rejects_more_shots_than_surface_nodes() -> None:
    with pytest.raises(ParameterError, match="shots = 30 must be at most model_size = 24"):
        SeismicFWI2D(model_size=24, shots=30)
    with pytest.raises(ParameterError, match="family"):
        SeismicFWI2D(family="salt")


@pytest.fixture(scope="module")
def tiny_problem() -> SeismicFWI2D:
    return SeismicFWI2D(model_size=24, shots=2, receivers=12, duration=0.3, family="flat_layers", n_train=16, n_validation=4, n_test=2)


def test_learned_fwi_keeps_its_best_validation_stage(tiny_problem: SeismicFWI2D) -> None:
    """Zero-initialised stages start at the prior; greedy training never ends worse than it on validation."""
    from parity.solvers.base import Budget
    from parity.solvers.seismic.learned_fwi import LearnedFWI, _gradient_fn, _invert

    evaluator = tiny_problem.evaluator()
    result = LearnedFWI(stages=2, width=8, validate_every=10).solve(tiny_problem, Budget(steps=60), 0, evaluator, lambda *_: None)
    assert result.status == "ok" and len(result.trace) == 2
    assert result.info["wave_solves_per_model"] == 2 * tiny_problem.shots * 2
    validation = tiny_problem.dataset("validation")
    prior = np.repeat(tiny_problem.prior_model()[None], len(validation.truths), axis=0)
    assert result.predict is not None
    recovered = result.predict(validation.observations)
    assert np.all((recovered >= 1.5) & (recovered <= 4.5))
    assert np.mean((recovered - validation.truths) ** 2) <= np.mean((prior - validation.truths) ** 2) * (1 + 1e-4)
    untrained = _invert([], jnp.asarray(tiny_problem.prior_model()), validation.observations, _gradient_fn(tiny_problem))
    assert np.allclose(untrained, prior)


def test_fwi_through_the_harness_records_quality_cost_and_wave_solves(tiny_problem: SeismicFWI2D, tmp_path) -> None:
    from parity.harness.run import Case, run_case
    from parity.harness.store import Store
    from parity.solvers.base import Budget

    record = run_case(Case(tiny_problem, FullWaveformInversion(iterations=3), seed=0, budget=Budget(steps=1)), Store(tmp_path))
    assert record["status"] == "ok", record["message"]
    baseline = run_case(Case(tiny_problem, StartingModel(), seed=0, budget=Budget(steps=1)), Store(tmp_path))
    assert baseline["rel_l2"] == pytest.approx(tiny_problem.evaluator()(np.stack([tiny_problem.prior_model()] * tiny_problem.n_test))["rel_l2"])
    assert record["rel_l2"] < baseline["rel_l2"] and record["metrics"]["data_misfit"] < baseline["metrics"]["data_misfit"]
    assert 0 < record["metrics"]["data_misfit"] < 1 and record["reconstruction_s"] > 0
    assert record["info"]["wave_solves_per_model"] >= 2 * tiny_problem.shots * 3 * len(FullWaveformInversion().bands)


@pytest.mark.slow
def test_learned_fwi_beats_the_starting_model_on_test_models() -> None:
    """Trained on 16 flat-layer models, scored on 8 held-out ones, seeds 0-2 (3 stages, 600 Adam steps).

    Measured on a 2-core x86: velocity rel L2 0.1626, 0.1616, 0.1597 against the start's 0.1771
    (0.91x in the median; the claim asks for 0.95x, and every seed below the start), and the
    relative misfit of the reconstructions' own records to the test data 0.31, 0.32, 0.30 against
    the start's 0.60 (claimed: under 0.7x). The stages are trained on velocity error alone, so
    the data fit is an independent check that they move the models the way the physics does.
    """
    from parity.solvers.base import Budget, Evaluator
    from parity.solvers.seismic.learned_fwi import LearnedFWI

    problem = SeismicFWI2D(model_size=24, shots=2, receivers=12, duration=0.3, family="flat_layers", n_train=16, n_validation=4, n_test=8)
    test = problem.dataset("test")
    evaluator = Evaluator(test.observations, test.truths)  # velocity metrics only: no Devito run per checkpoint
    start = StartingModel().solve(problem, Budget(steps=1), 0, evaluator, lambda *_: None)
    start_models = start.predict(test.observations)
    start_error, start_misfit = start.trace[-1].metrics["rel_l2"], problem.extra_metrics(start_models, test.truths)["data_misfit"]
    errors, misfits = [], []
    for seed in (0, 1, 2):
        result = LearnedFWI(stages=3, width=8, validate_every=10).solve(problem, Budget(steps=600), seed, evaluator, lambda *_: None)
        assert result.status == "ok" and result.predict is not None
        errors.append(result.trace[-1].metrics["rel_l2"])
        misfits.append(problem.extra_metrics(result.predict(test.observations), test.truths)["data_misfit"])
    assert max(errors) < start_error and np.median(errors) < 0.95 * start_error, (errors, start_error)
    assert max(misfits) < 0.7 * start_misfit, (misfits, start_misfit)

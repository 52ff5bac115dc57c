"""The FNO paper's 2D Darcy problem: its random coefficient, its FEM reference and the classical coarse solves."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from parity.knobs import ParameterError
from parity.numerics.darcy_fem import DarcyFEM
from parity.problems.darcy_operator_2d import REFERENCE_DEGREE, DarcyOperator2D, cosines, gaussian_field, learning_nodes, pixel_breaks
from parity.problems.operator_learning import OperatorData, instance_errors

SMALL = DarcyOperator2D(n_train=2, n_validation=1, n_test=2)


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, OperatorData]]:
    """The small problem's three splits, solved once into a private cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PARITY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield {split: SMALL.dataset(split) for split in ("train", "validation", "test")}


def sources(stream: int, count: int) -> np.ndarray:
    return np.stack([SMALL.sample_source(np.random.default_rng([stream, i])) for i in range(count)])


def test_the_coefficient_takes_the_two_values_and_both_occur() -> None:
    pixels = DarcyOperator2D(a_high=5.0, a_low=2.0).pixel_coefficient(sources(0, 4))
    assert pixels.shape == (4, 421, 421)
    for instance in pixels:
        assert set(np.unique(instance)) == {2.0, 5.0}
        assert 0.05 < np.mean(instance == 5.0) < 0.95


def test_the_random_field_has_the_stated_mode_variances() -> None:
    """Projected back on the cosines, mode (k1, k2) varies as 3^2 (pi^2 |k|^2 + 9)^-2 and the mean mode is absent."""
    modes = 6
    projector = np.linalg.inv(cosines())[:modes]
    coefficients = np.concatenate([projector @ gaussian_field(sources(stream, 50)) @ projector.T for stream in range(7, 11)])
    k1, k2 = np.meshgrid(np.arange(modes), np.arange(modes), indexing="ij")
    expected = 9.0 / (np.pi**2 * (k1**2 + k2**2) + 9.0) ** 2
    assert np.abs(coefficients[:, 0, 0]).max() < 1e-10
    ratio = (coefficients**2).mean(axis=0).ravel()[1:] / expected.ravel()[1:]
    assert np.abs(ratio - 1).max() < 0.45  # 200 samples: each ratio has a standard deviation of 0.1
    assert abs(ratio.mean() - 1) < 0.1


def test_fem_solves_the_constant_coefficient_problem_at_rate_two() -> None:
    """-laplace(u) = 1 on the unit square, against its sine series, at points off the mesh vertices."""
    points = learning_nodes(10)
    m = np.arange(1, 1200, 2)
    sx, sy = np.sin(np.pi * points[:, :1] * m), np.sin(np.pi * points[:, 1:] * m)
    weights = 16.0 / (np.pi**4 * m[:, None] * m[None, :] * (m[:, None] ** 2 + m[None, :] ** 2))
    exact = np.einsum("pm,mn,pn->p", sx, weights, sy)
    errors = []
    for cells in (16, 32, 64):
        fem = DarcyFEM.build(np.linspace(0.0, 1.0, cells + 1), 1, points)
        errors.append(np.linalg.norm(fem.solve(np.ones((1, len(fem.cell_centres))))[0] - exact) / np.linalg.norm(exact))
    rates = np.log2(np.array(errors[:-1]) / errors[1:])
    assert errors[-1] < 1e-3
    assert np.all(rates > 1.8), (errors, rates)


def test_the_reference_is_converged_under_mesh_refinement(splits: dict[str, OperatorData]) -> None:
    """Every pixel cut into 2 x 2 changes u on the learning grid by < 3e-4 (measured 1.8e-4), a tenth of the FNO paper's error."""
    fine = DarcyFEM.build(pixel_breaks(2), REFERENCE_DEGREE, learning_nodes(SMALL.resolution), "cg_gamg", rtol=1e-8)
    index = np.rint(fine.cell_centres * 420).astype(int)
    refined = fine.solve(SMALL.pixel_coefficient(sources(2, 1))[:, index[:, 0], index[:, 1]])
    assert instance_errors(splits["test"].outputs[:1], refined.reshape(1, 1, 85, 85))[0] < 3e-4


def test_a_coarser_learning_grid_holds_the_same_instance(splits: dict[str, OperatorData]) -> None:
    """The zero-shot super-resolution premise: at 43 nodes a and u are the 85-node grid's every other node."""
    coarse_inputs, coarse_outputs = DarcyOperator2D(resolution=43).reference_solve(sources(2, 1))
    np.testing.assert_array_equal(coarse_inputs, splits["test"].inputs[:1, :, ::2, ::2])
    np.testing.assert_allclose(coarse_outputs, splits["test"].outputs[:1, :, ::2, ::2], rtol=1e-6, atol=1e-12)


def test_splits_are_disjoint_seeded_and_fields_on_the_grid(splits: dict[str, OperatorData]) -> None:
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    assert train.inputs.shape == (2, 1, 85, 85) and train.outputs.shape == (2, 1, 85, 85)
    np.testing.assert_array_equal(train.inputs[:, 0], SMALL.pixel_coefficient(sources(0, 2))[:, ::5, ::5])
    everything = np.concatenate([train.inputs, validation.inputs, test.inputs]).reshape(5, -1)
    assert len(np.unique(everything, axis=0)) == 5
    boundary = np.concatenate([test.outputs[..., 0, :], test.outputs[..., -1, :], test.outputs[..., :, 0], test.outputs[..., :, -1]], axis=-1)
    assert np.abs(boundary).max() < 1e-12 and np.all(test.outputs[..., 1:-1, 1:-1] > 0)
    assert np.all(train.solve_s > 0)


def test_coarse_solves_approach_the_reference(splits: dict[str, OperatorData]) -> None:
    """From the 85-node input the errors fall with the mesh until the input's information floor (~0.4 %)."""
    test = splits["test"]
    errors = [instance_errors(SMALL.solve_inputs(test.inputs, cells), test.outputs).max() for cells in (8, 32, 128)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-2


@pytest.mark.parametrize("overrides", [{"resolution": 64}, {"a_low": 0.0}, {"n_test": 0}])
def test_bad_knobs_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        DarcyOperator2D(**overrides)

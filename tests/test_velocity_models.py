"""Seeded velocity-model families: determinism, range, each family's character, grids, priors."""

from __future__ import annotations

import numpy as np
import pytest

from parity.numerics import velocity_models as vm

EXTENT = (0.69, 0.69)  # OpenFWI's 70 x 70 nodes at 10 m
SHAPE, H = (70, 70), 0.01
SEEDS = range(8)


def _grid(family: str, seed: int) -> tuple[vm.VelocityModel, np.ndarray]:
    model = vm.random_model(family, np.random.default_rng(seed), EXTENT)
    return model, model.grid(SHAPE, H)


@pytest.mark.parametrize("family", [*vm.FAMILIES, "mixed"])
def test_same_seed_same_model_and_range_respected(family: str) -> None:
    for seed in SEEDS:
        model, grid = _grid(family, seed)
        again, grid_again = _grid(family, seed)
        assert model == again
        np.testing.assert_array_equal(grid, grid_again)
        assert grid.shape == SHAPE
        assert grid.min() >= 1.5 and grid.max() <= 4.5
    narrow = vm.random_model(family, np.random.default_rng(0), EXTENT, velocity_range=(2.0, 3.0)).grid(SHAPE, H)
    assert narrow.min() >= 2.0 and narrow.max() <= 3.0


def test_different_seeds_differ() -> None:
    grids = [_grid("curved_layers", seed)[1] for seed in SEEDS]
    assert all(not np.array_equal(grids[0], other) for other in grids[1:])


@pytest.mark.parametrize("family", vm.FAMILIES)
def test_fine_grid_at_even_nodes_is_the_coarse_grid(family: str) -> None:
    for seed in SEEDS:
        model, coarse = _grid(family, seed)
        fine = model.grid((2 * SHAPE[0] - 1, 2 * SHAPE[1] - 1), H / 2)
        np.testing.assert_array_equal(fine[::2, ::2], coarse)


def test_flat_layers_are_constant_along_x_and_mostly_increase() -> None:
    increasing = 0
    for seed in SEEDS:
        model, grid = _grid("flat_layers", seed)
        np.testing.assert_array_equal(grid, np.broadcast_to(grid[:1], grid.shape))
        assert isinstance(model.medium, vm.Layers) and 2 <= len(model.medium.velocities) <= 5
        assert np.all(np.diff(model.medium.depths) >= vm.MIN_THICKNESS * EXTENT[1] - 1e-12)
        increasing += bool(np.all(np.diff(model.medium.velocities) > 0))
    assert increasing >= len(SEEDS) // 2


def test_curved_layers_vary_along_x_without_crossing() -> None:
    x = np.linspace(0, EXTENT[0], 301)
    for seed in SEEDS:
        model, grid = _grid("curved_layers", seed)
        assert np.ptp(grid, axis=0).max() > 0  # some depth is not constant along x
        assert isinstance(model.medium, vm.Layers)
        interfaces = model.medium.interfaces(x)
        assert np.all(np.diff(interfaces, axis=0) > 0)  # ordered at every x: no crossing
        assert np.ptp(interfaces, axis=1).max() <= 2 * (1 + vm.CURVATURE_SPREAD) * vm.MAX_CURVATURE * EXTENT[1]
        # a column reads the layers top to bottom: the velocities take at most one step back
        assert max(np.sum(np.diff(column) < 0) for column in grid) <= 1


def test_fault_is_a_lateral_jump_along_one_line() -> None:
    x = np.arange(SHAPE[0]) * H
    z = np.arange(SHAPE[1]) * H
    flat_seen = 0
    for seed in range(20):
        model, grid = _grid("fault", seed)
        assert model.fault is not None and 45 <= model.fault.dip_degrees <= 80
        assert 0.05 * EXTENT[1] <= abs(model.fault.throw) <= 0.20 * EXTENT[1]
        hanging = model.fault.hanging(x[:, None], z[None, :])
        crosses = hanging[1:] != hanging[:-1]  # neighbours in x on either side of the line
        jumps = np.diff(grid, axis=0) != 0
        assert np.any(jumps & crosses)  # some row jumps where it crosses the fault
        assert np.all(np.sum(crosses, axis=0) <= 1)  # a straight line: at most one crossing per row
        if isinstance(model.medium, vm.Layers) and not model.medium.amplitudes:
            flat_seen += 1
            assert not np.any(jumps & ~crosses)  # flat layers: the fault is the only lateral jump
    assert flat_seen >= 3


def test_anomalies_are_smooth_unlike_layers() -> None:
    def steepest(grid: np.ndarray, h: float) -> float:
        return max(np.abs(np.diff(grid, axis=0)).max(), np.abs(np.diff(grid, axis=1)).max()) / h

    for seed in SEEDS:
        model, grid = _grid("anomaly", seed)
        fine = model.grid((2 * SHAPE[0] - 1, 2 * SHAPE[1] - 1), H / 2)
        assert isinstance(model.medium, vm.Anomalies) and 1 <= len(model.medium.amplitudes) <= 3
        assert steepest(fine, H / 2) < 1.2 * steepest(grid, H)  # a smooth gradient converges with h...
        layered = vm.random_model("flat_layers", np.random.default_rng(seed), EXTENT)
        layered_coarse, layered_fine = layered.grid(SHAPE, H), layered.grid(fine.shape, H / 2)
        assert steepest(layered_fine, H / 2) > 1.8 * steepest(layered_coarse, H)  # ...a jump's doubles
        assert steepest(grid, H) < steepest(layered_coarse, H)


def test_mixed_draws_several_families() -> None:
    rng = np.random.default_rng(0)
    families = {vm.random_model("mixed", rng, EXTENT).family for _ in range(40)}
    assert families == set(vm.FAMILIES)


def test_unknown_family_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="flat_layers") as error:
        vm.random_model("marmousi", np.random.default_rng(0), EXTENT)
    assert all(name in str(error.value) for name in (*vm.FAMILIES, "mixed"))


def test_smoothing_keeps_the_mean_and_reduces_total_variation() -> None:
    def total_variation(grid: np.ndarray) -> float:
        return float(np.abs(np.diff(grid, axis=0)).sum() + np.abs(np.diff(grid, axis=1)).sum())

    for family in vm.FAMILIES:
        _, grid = _grid(family, 3)
        smooth = vm.smoothed(grid, 4.0)
        assert smooth.shape == grid.shape
        assert smooth.mean() == pytest.approx(grid.mean(), rel=0.02)
        assert total_variation(smooth) < total_variation(grid)


def test_depth_profile_prior_is_laterally_constant_mean_profile() -> None:
    models = np.stack([_grid("mixed", seed)[1] for seed in SEEDS])
    prior = vm.depth_profile_prior(models)
    assert prior.shape == SHAPE
    np.testing.assert_array_equal(prior, np.broadcast_to(prior[:1], SHAPE))
    np.testing.assert_allclose(prior[0], models.mean(axis=(0, 1)))
    with pytest.raises(ValueError):
        vm.depth_profile_prior(models[0])

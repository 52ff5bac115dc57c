"""FBPINN domain decompositions: partition of unity and pair selection."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from parity.solvers.physics_informed.decomposition import Level, window
from parity.solvers.physics_informed.fbpinn_partition import Blocks, Partition


@pytest.mark.parametrize(("per_dim", "overlap", "dim"), [(30, 1.9, 1), (1, 1.9, 1), (7, 2.99, 1), (4, 1.5, 2)])
def test_normalised_windows_sum_to_one(per_dim: int, overlap: float, dim: int, rng: np.random.Generator) -> None:
    lower, upper = -np.pi * np.ones(dim), 2.0 * np.ones(dim)
    level = Level.regular(lower, upper, per_dim, overlap)
    x = rng.uniform(lower, upper, size=(4000, dim))
    local = (x[None] - level.centres[:, None]) / level.half_widths[:, None]
    weights = np.asarray(window(jnp.asarray(local)))  # (subdomains, points)
    normalised = weights / weights.sum(axis=0, keepdims=True)
    np.testing.assert_allclose(normalised.sum(axis=0), 1.0, rtol=1e-6)
    assert level.n_subdomains == per_dim**dim


def test_window_is_the_papers_cosine_bump() -> None:
    x = jnp.array([[-1.0], [-0.5], [0.0], [0.5], [1.0], [1.5]])
    np.testing.assert_allclose(np.asarray(window(x)), [0.0, 0.25, 1.0, 0.25, 0.0, 0.0], atol=1e-7)


def test_pairs_are_only_points_inside_each_support(rng: np.random.Generator) -> None:
    level = Level.regular(np.array([-2 * np.pi]), np.array([2 * np.pi]), 30, 1.9)
    x = np.linspace(-2 * np.pi, 2 * np.pi, 3000)[:, None]
    index, mask = (np.asarray(a) for a in level.pairs(x))
    active = int(mask.sum())
    assert active < 0.1 * 30 * 3000  # far fewer than all point-subdomain combinations
    assert 1.8 * 3000 < active < 2.0 * 3000  # each point lies in about `overlap` supports
    for s in range(30):
        members = index[s, mask[s] > 0]
        inside = np.abs(x[:, 0] - level.centres[s, 0]) < level.half_widths[s, 0]
        np.testing.assert_array_equal(np.sort(members), np.flatnonzero(inside))


def test_uncovered_points_are_an_error() -> None:
    level = Level(np.array([[0.0]]), np.array([[1.0]]))
    with pytest.raises(ValueError, match="uncovered"):
        level.pairs(np.array([[0.5], [3.0]]))


@pytest.mark.parametrize(("n_subdomains", "count"), [(30, 1), (30, 4), (30, 8), (1, 3), (7, 3), (225, 8)])
def test_blocks_are_balanced_contiguous_and_padded(n_subdomains: int, count: int) -> None:
    blocks = Blocks.balanced(n_subdomains, count)
    sizes = np.bincount(blocks.device, minlength=count)
    assert sizes.max() - sizes.min() <= 1 and blocks.per_device == max(-(-n_subdomains // count), 1)
    assert np.all(np.diff(blocks.device) >= 0)  # contiguous runs in row-major order
    assert np.unique(blocks.rows).size == n_subdomains and blocks.real.sum() == n_subdomains
    if count == 1:
        np.testing.assert_array_equal(blocks.rows, np.arange(n_subdomains))  # one device: today's layout


@pytest.mark.parametrize(("per_dim", "count", "dim"), [((30,), 1, 1), ((30,), 4, 1), ((1, 5, 15), 8, 1), ((30,), 3, 1), ((1, 4), 4, 2), ((3, 6), 8, 2)])
def test_point_layout_tables(per_dim: tuple[int, ...], count: int, dim: int, rng: np.random.Generator) -> None:
    """Every point is owned once; each device's local table (own + received halo) holds
    exactly its subdomains' pairs, as the single-device :meth:`Level.pairs` finds them."""
    lower, upper = -np.ones(dim), 2.0 * np.ones(dim)
    levels = [Level.regular(lower, upper, n, 1.9) for n in per_dim]
    partition = Partition.of(levels, count)
    x = rng.uniform(lower, upper, size=(1001, dim))
    layout = partition.layout(x)
    own = layout.own_index[layout.own_mask > 0]
    np.testing.assert_array_equal(np.sort(own), np.arange(x.shape[0]))
    np.testing.assert_array_equal(layout.own_index.reshape(-1)[layout.order()], np.arange(x.shape[0]))
    assert layout.halo_rows >= 1 and np.all(layout.send_mask[np.arange(count), np.arange(count)] == 0)
    if count == 1:
        assert layout.halo_points == 0
    for b in range(count):
        received = [layout.own_index[a][layout.send_index[a, b]] for a in range(count)]  # global ids of b's halo rows
        table = np.concatenate([layout.own_index[b], *received])
        for level, blocks, index, mask in zip(levels, partition.blocks, layout.pair_index, layout.pair_mask):
            expected = np.asarray(level.pairs(x).index), np.asarray(level.pairs(x).mask)
            for s in np.flatnonzero(blocks.device == b):
                k = blocks.slot[s]
                found = table[index[b, k][mask[b, k] > 0]]
                np.testing.assert_array_equal(found, expected[0][s][expected[1][s] > 0])
            dummies = np.setdiff1d(np.arange(blocks.per_device), blocks.slot[blocks.device == b])
            assert np.all(mask[b, dummies] == 0)


def test_one_device_layout_is_the_single_device_pairs(rng: np.random.Generator) -> None:
    level = Level.regular(np.array([-2 * np.pi]), np.array([2 * np.pi]), 30, 1.9)
    x = np.linspace(-2 * np.pi, 2 * np.pi, 3000)[:, None]
    layout = Partition.of([level], 1).layout(x)
    pairs = level.pairs(x)
    np.testing.assert_array_equal(layout.own_index[0], np.arange(3000))
    np.testing.assert_array_equal(layout.pair_index[0][0], np.asarray(pairs.index))
    np.testing.assert_array_equal(layout.pair_mask[0][0], np.asarray(pairs.mask))


def test_uncovered_points_are_an_error_in_the_device_layout() -> None:
    partition = Partition.of([Level(np.array([[0.0]]), np.array([[1.0]]))], 2)
    with pytest.raises(ValueError, match="uncovered"):
        partition.layout(np.array([[0.5], [3.0]]))

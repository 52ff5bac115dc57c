"""FBPINN domain decompositions: partition of unity and pair selection."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from parity.solvers.decomposition import Level, window


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

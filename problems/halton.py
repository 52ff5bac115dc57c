"""Scrambled Halton points, kept in the disk cache once drawn.

SciPy draws them, but ``from scipy.stats import qmc`` imports the whole of
``scipy.stats``: about half a second of every PINN run's process, more than drawing
the points. The points are a fixed function of their dimension, count and seed, so a
run loads them from :func:`parity.cache.cached_arrays` when an earlier one drew them,
and only the first run pays the import.
"""

from __future__ import annotations

import numpy as np

from parity.cache import cached_arrays


def halton(dims: int, n: int, *, seed: int | None = None, rng: int | None = None) -> np.ndarray:
    """``qmc.Halton(d=dims, scramble=True, seed=seed | rng=rng).random(n)``: ``n`` points in [0, 1)^dims.

    ``seed`` and ``rng`` are SciPy's two seeding keywords, which scramble differently
    (``seed`` through a legacy ``RandomState``); give exactly one, as the points' first
    caller did, so that every set of points stays the one committed records trained on.
    """
    if (seed is None) == (rng is None):
        raise ValueError("halton takes exactly one of seed= (SciPy's legacy seeding) and rng= (a Generator's seed)")
    keyword = {"seed": seed} if seed is not None else {"rng": rng}

    def draw() -> dict[str, np.ndarray]:
        from scipy.stats import qmc

        return {"points": qmc.Halton(d=dims, scramble=True, **keyword).random(n)}

    return cached_arrays("halton", {"dims": dims, "n": n, **keyword}, draw)["points"]

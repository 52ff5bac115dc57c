"""What a problem is: the interfaces every problem plugin implements.

Problems describe *what* is solved and never import a solver. A forward problem gives
its PDE residual in JAX for a pointwise batched function ``u`` (each output row depends
only on the same input row), so any PINN-style solver can differentiate it with
forward-mode JVPs (see :mod:`parity.problems.derivatives`), whatever the network is.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from jaxtyping import Array, Float

from parity.evaluation import Evaluator
from parity.knobs import Configurable

if TYPE_CHECKING:  # imported where used: it loads scipy.interpolate, which no other problem needs
    from parity.numerics.acoustic_fd import AcousticSetup

PointwiseFn = Callable[[Float[Array, "n d"]], Float[Array, "n out"]]
"""A batched function whose row i depends only on input row i."""


class Problem(Configurable, abc.ABC):
    """A frozen, hashable benchmark task; its dataclass fields are its scale knobs."""

    name: ClassVar[str]
    kind: ClassVar[Literal["forward", "inverse", "operator", "assimilation"]]
    description: ClassVar[str]
    default_metrics: ClassVar[tuple[str, ...]]


class ForwardProblem(Problem):
    """A PDE/ODE on a box with a known (analytic or cached converged) reference."""

    kind = "forward"
    default_metrics = ("rel_l2", "norm_l1")
    in_dim: ClassVar[int]
    out_dim: ClassVar[int]
    time_axis: ClassVar[int | None] = None
    """Index of the time coordinate for evolution problems (solvers may march along it)."""
    periods: ClassVar[tuple[float | None, ...] | None] = None
    """Per input axis, the period of a periodic coordinate (None: not periodic). A periodic
    box has no boundary condition to impose, so networks take (cos, sin) of such inputs
    and are periodic by construction."""
    compared_outputs: ClassVar[tuple[int, ...] | None] = None
    """The outputs the reference gives and errors compare (e.g. velocity, not pressure); None = all."""
    residual_names: ClassVar[tuple[str, ...]] = ("residual",)
    """A name for each column of :meth:`residual` (its equations)."""

    @property
    @abc.abstractmethod
    def bounds(self) -> tuple[Float[np.ndarray, " d"], Float[np.ndarray, " d"]]:
        """Lower and upper corners of the space(-time) box."""

    @abc.abstractmethod
    def residual(self, u: PointwiseFn, x: Float[Array, "n d"]) -> Float[Array, "n r"]:
        """PDE residual of ``u`` at ``x``; zero for the exact solution."""

    @abc.abstractmethod
    def ansatz(self, x: Float[Array, "n d"], raw: Float[Array, "n out"]) -> Float[Array, "n out"]:
        """Map a network output to a function that satisfies the boundary conditions exactly."""

    def ansatz_gap(self) -> dict[str, Any] | None:
        """How far the problem :meth:`ansatz` poses is from this one, when it is not exact: ``{"rel_l2", "what"}``.

        A solver with this ansatz records it as ``info["modelling_gap"]``, the floor of its score.
        """
        return None

    @abc.abstractmethod
    def reference(self, x: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "n out"]:
        """The reference solution at ``x`` (float64)."""

    @abc.abstractmethod
    def collocation_points(self, n: int) -> Float[np.ndarray, "n d"]:
        """Training points; deterministic so that runs differ only by their seed."""

    @abc.abstractmethod
    def test_points(self) -> Float[np.ndarray, "m d"]:
        """Held-out evaluation points, disjoint from every collocation set."""

    @property
    def residual_scale(self) -> float:
        """Typical size of the residual's terms, so losses are O(1) at any scale knob."""
        return 1.0

    def loss_terms(self, x: Float[np.ndarray, "n d"]) -> dict[str, Float[np.ndarray, "n r"]]:
        """The loss's terms at points ``x``: for each, which (point, residual column) entries it holds (1 or 0).

        Solvers that weight terms apart (loss balancing, causal weighting) read them; the
        default is one term per equation (residual column). A problem whose residual means
        different conditions at different points (a boundary condition on the box's sides)
        splits the points too.
        """
        columns = np.eye(len(self.residual_names), dtype=np.float32)
        return {name: np.broadcast_to(columns[c], (len(x), len(columns))).copy() for c, name in enumerate(self.residual_names)}

    def extra_metrics(self, u: Float[np.ndarray, "m c"], u_ref: Float[np.ndarray, "m c"]) -> dict[str, float]:
        """Problem-specific errors of the compared outputs on the test points (none by default)."""
        return {}

    def evaluator(self) -> Evaluator:
        """The errors every solver reports: on the held-out test points, against the reference."""
        x_test = self.test_points()
        return Evaluator(x_test, self.reference(x_test), self.compared_outputs, self.extra_metrics)

    def picture(self, values: Float[np.ndarray, "m c"], snapshot: Snapshot) -> Float[np.ndarray, "side side"]:
        """The scalar a report pictures, from the compared outputs on the snapshot grid."""
        return values[:, 0].reshape(snapshot.shape)

    def spectrum(self, picture: Float[np.ndarray, "side side"]) -> tuple[Float[np.ndarray, " k"], Float[np.ndarray, " k"]] | None:
        """(wavenumbers, energy spectrum) of a pictured field, for problems where spectra matter."""
        return None

    def snapshot(self) -> Snapshot | None:
        """A 2D picture of the solution for reports: a regular grid over a 2D box, else None."""
        if self.in_dim != 2:
            return None
        lower, upper = self.bounds
        return Snapshot.grid((lower[0], upper[0]), (lower[1], upper[1]), "")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Points of a regular ``shape`` grid (x varies along axis 0) and what the picture shows."""

    points: Float[np.ndarray, "m d"]
    shape: tuple[int, int]
    extent: tuple[float, float, float, float]
    """x_min, x_max, y_min, y_max."""
    caption: str

    @classmethod
    def grid(cls, x_range: tuple[float, float], y_range: tuple[float, float], caption: str, *fixed: float, side: int = 129) -> Snapshot:
        """A side x side grid in (x, y), with further coordinates (a time) held at ``fixed``."""
        x, y = np.meshgrid(np.linspace(*x_range, side), np.linspace(*y_range, side), indexing="ij")
        columns = [x.ravel(), y.ravel(), *[np.full(x.size, value) for value in fixed]]
        return cls(np.stack(columns, axis=-1), (side, side), (*map(float, x_range), *map(float, y_range)), caption)


class SourceODE1D(abc.ABC):
    """Capability of problems of the form du/dx = f(x) on [a, b] with u(x0) = u0.

    Classical quadrature / spectral solvers need the source itself, not a residual.
    """

    @abc.abstractmethod
    def source(self, x: Float[np.ndarray, " n"]) -> Float[np.ndarray, " n"]:
        """f(x), vectorised, float64."""

    @property
    @abc.abstractmethod
    def anchor(self) -> tuple[float, float]:
        """(x0, u0): the point where the solution is pinned."""


class DirichletPoisson(abc.ABC):
    """Capability of problems of the form -laplace(u) - k^2 u = f in the box, u = g on its boundary.

    k = 0 (the default) is Poisson's equation; k > 0 is Helmholtz, whose operator is
    indefinite once k^2 exceeds the first Dirichlet eigenvalue.

    f and g are written once against an array module ``xp`` (``numpy``, ``jax.numpy`` or
    ``ufl``: all three have ``sin``, ``cos``, ``exp`` and ``pi``), so a finite-element
    solver gets exact UFL expressions and never a sampled approximation of the data.
    """

    @abc.abstractmethod
    def poisson_source(self, x: Sequence[Any], xp: ModuleType) -> Any:
        """f at coordinates ``x[0], x[1], ...``."""

    @abc.abstractmethod
    def dirichlet_value(self, x: Sequence[Any], xp: ModuleType) -> Any:
        """g at boundary coordinates ``x[0], x[1], ...``."""

    def wavenumber_squared(self) -> float:
        """k^2 of the zeroth-order term; 0 for Poisson."""
        return 0.0


class AcousticWave(abc.ABC):
    """Capability of problems u_tt = c(x, y)^2 laplace(u) + g(x, y) w(t) from rest, in free space.

    The physical box is ``bounds`` (x, y, t); the medium is continued constantly beyond
    it. Coefficients are written against an array module ``xp`` (numpy or jax.numpy).
    """

    @abc.abstractmethod
    def velocity(self, x: Any, y: Any, xp: ModuleType) -> Any:
        """c(x, y) inside the box."""

    @abc.abstractmethod
    def source_space(self, x: Any, y: Any, xp: ModuleType) -> Any:
        """g(x, y); negligible on and beyond the box's boundary."""

    @abc.abstractmethod
    def source_time(self, t: Any, xp: ModuleType) -> Any:
        """w(t); negligible for t <= 0."""

    @property
    @abc.abstractmethod
    def snapshot_times(self) -> tuple[float, ...]:
        """Times at which solutions are compared (equally spaced, the last one is T)."""

    def finite_difference_setup(self) -> AcousticSetup:
        """The simulation this problem asks a finite-difference solver for, over its (x, y) box."""
        assert isinstance(self, ForwardProblem), f"{type(self).__name__} must be a ForwardProblem to have a box"
        lower, upper = self.bounds
        if np.any(lower[:2] != 0):
            raise ValueError(f"{self.name}: the finite-difference box must start at the origin; got lower corner {lower[:2]}")
        from parity.numerics.acoustic_fd import AcousticSetup

        return AcousticSetup(
            velocity=lambda x, y: self.velocity(x, y, np), source_space=lambda x, y: self.source_space(x, y, np),
            source_time=lambda t: self.source_time(t, np), extent=(float(upper[0]), float(upper[1])),
            snapshot_times=self.snapshot_times,
        )

"""Seismic modelling and the adjoint-state FWI gradient on Devito: the classical engine.

The forward operator runs the scheme of :mod:`parity.numerics.seismic_survey` for one shot
and keeps every time level (the gradient needs them; 141^2 nodes x 900 levels is 70 MB in
float32). The adjoint operator runs the *exact discrete adjoint* of that scheme: with
u^{n+1} = F_n(u^n, u^{n-1}; m), the Lagrange multipliers lambda^n = dJ/du^n satisfy a
recursion which, written for q^n = lambda^n / (m (1 + eta dt / 2)), is the forward scheme
run backwards in time with the residual d^n - d_obs^n injected at the receivers. Then

    dJ/dm = -sum_n q^{n+1} ((1 + eta dt/2) u^{n+1} - 2 u^n + (1 - eta dt/2) u^{n-1}),

so the gradient passes a Taylor test to second order (see the tests), and dJ/dc =
-2 / c^3 dJ/dm, folded from the absorbing layer onto the model's edges, as the padding
copies edge values outwards. Shots run one after the other through one compiled pair
of operators; OpenMP threads share each shot's grid.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from jaxtyping import Float

from parity.numerics.seismic_survey import Survey

LANGUAGE = "openmp"

DataFilter = Callable[[np.ndarray], np.ndarray]
"""A self-adjoint linear map on one shot's (nt, receivers) record."""


@dataclasses.dataclass
class Solves:
    """What the inversion spent in wave solves."""

    forward: int = 0
    adjoint: int = 0
    seconds: float = 0.0


@dataclasses.dataclass
class SeismicModeller:
    """Compiled Devito forward and adjoint operators for one survey geometry, and a solve counter.

    ``c_max`` fixes the sponge (see ``Survey.damping``); ``dtype`` is float32 for speed or
    float64 for gradient tests.
    """

    survey: Survey
    c_max: float
    dtype: type = np.float32
    solves: Solves = dataclasses.field(default_factory=Solves)
    compile_s: float = 0.0
    _fields: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        t0 = time.perf_counter()
        self._fields = _build(self.survey, self.c_max, np.dtype(self.dtype).type)
        self.compile_s = time.perf_counter() - t0

    def shot_records(self, velocity: Float[np.ndarray, "nx nz"]) -> Float[np.ndarray, "shots nt receivers"]:
        """d for every shot: forward solves only."""
        self._set_velocity(velocity)
        return np.stack([self._forward(shot) for shot in range(self.survey.shots)])

    def misfit_and_gradient(
        self, velocity: Float[np.ndarray, "nx nz"], observed: Float[np.ndarray, "shots nt receivers"],
        data_filter: DataFilter | None = None,
    ) -> tuple[float, Float[np.ndarray, "nx nz"]]:
        """J = 1/2 ||P M (d(c) - d_obs)||^2 over all shots, and dJ/dc: one forward and one adjoint solve per shot.

        M keeps the traces of ``Survey.trace_mask`` (it commutes with P, which acts along time).

        ``data_filter`` is P, a self-adjoint linear map on a shot's (nt, receivers) record (a
        zero-phase low-pass for frequency continuation); the adjoint source is then P P r.
        """
        if observed.shape != self.survey.data_shape:
            raise ValueError(f"observed data must have shape {self.survey.data_shape} (shots, nt, receivers), got {observed.shape}")
        self._set_velocity(velocity)
        f = self._fields
        f["grad"].data[:] = 0.0
        misfit, mask = 0.0, self.survey.trace_mask()
        for shot in range(self.survey.shots):
            residual = (self._forward(shot) - observed[shot]).astype(np.float64) * mask[shot]
            if data_filter is not None:
                residual = data_filter(residual)
            misfit += 0.5 * float(np.sum(residual**2))
            self._adjoint(residual if data_filter is None else data_filter(residual))
        gradient_m = -np.asarray(f["grad"].data, dtype=np.float64) / self.survey.dt**2  # q was injected scaled by dt^2
        padded_velocity = self.survey.pad(velocity).astype(np.float64)
        return misfit, _fold_padding(gradient_m * (-2.0 / padded_velocity**3), self.survey.absorbing_cells)

    def _set_velocity(self, velocity: Float[np.ndarray, "nx nz"]) -> None:
        if velocity.shape != self.survey.shape:
            raise ValueError(f"velocity must have the survey's shape {self.survey.shape}, got {velocity.shape}")
        if not np.all(np.isfinite(velocity)) or np.any(velocity <= 0) or np.max(velocity) > self.c_max * (1 + 1e-6):
            raise ValueError(f"velocity must be positive, finite and at most c_max = {self.c_max} km/s (the time step's bound)")
        self._fields["m"].data[:] = self.survey.pad(velocity) ** -2.0

    def illumination(self, velocity: Float[np.ndarray, "nx nz"]) -> Float[np.ndarray, "nx nz"]:
        """sum over shots and time of u^2 on the model: the diagonal pseudo-Hessian FWI preconditions with
        (Shin et al. 2001); one forward solve per shot."""
        self._set_velocity(velocity)
        total = np.zeros(self.survey.padded_shape)
        for shot in range(self.survey.shots):
            self._forward(shot)
            total += np.einsum("txz,txz->xz", self._fields["u"].data, self._fields["u"].data, dtype=np.float64)
        cells = self.survey.absorbing_cells
        return total[cells:-cells, cells:-cells]

    def _forward(self, shot: int) -> Float[np.ndarray, "nt receivers"]:
        f, survey = self._fields, self.survey
        f["src"].coordinates.data[:] = survey.spacing * np.asarray(survey.sources[shot], dtype=float)
        f["u"].data[:] = 0.0
        t0 = time.perf_counter()
        with _quiet():
            f["forward"].apply(time_m=1, time_M=survey.nt - 2, dt=survey.dt)
        self.solves.seconds += time.perf_counter() - t0
        self.solves.forward += 1
        ix, iz = survey.receiver_nodes().T
        return np.array(f["u"].data[: survey.nt, ix, iz])

    def _adjoint(self, residual: Float[np.ndarray, "nt receivers"]) -> None:
        """Accumulate this shot's gradient of J with respect to m (times -dt^2) into ``grad``."""
        f, survey = self._fields, self.survey
        f["residual"].data[:] = 0.0
        f["residual"].data[1:] = residual  # injected at iteration t into q^{t-1}
        f["q"].data[:] = 0.0
        t0 = time.perf_counter()
        with _quiet():
            f["adjoint"].apply(time_m=2, time_M=survey.nt, dt=survey.dt)
        self.solves.seconds += time.perf_counter() - t0
        self.solves.adjoint += 1


def _build(survey: Survey, c_max: float, dtype: type) -> dict[str, Any]:
    """Grid, fields and the two JIT-compiled operators."""
    from devito import Eq, Function, Grid, Operator, SparseTimeFunction, TimeFunction, switchconfig

    h, nbl = survey.spacing, survey.absorbing_cells
    shape = survey.padded_shape
    grid = Grid(shape=shape, extent=tuple((n - 1) * h for n in shape), origin=(-nbl * h, -nbl * h), dtype=dtype)
    m = Function(name="m", grid=grid, space_order=1)
    eta = Function(name="eta", grid=grid, space_order=1)
    eta.data[:] = survey.damping(c_max)
    grad = Function(name="grad", grid=grid, space_order=0)
    # one level past the record, always zero, so the adjoint sweep can pair q^t with u^t for t = nt - 1
    u = TimeFunction(name="u", grid=grid, time_order=2, space_order=survey.space_order, save=survey.nt + 1)
    q = TimeFunction(name="q", grid=grid, time_order=2, space_order=survey.space_order)
    src = SparseTimeFunction(name="src", grid=grid, npoint=1, nt=survey.nt + 1)  # every time series as long as u
    src.data[: survey.nt, 0] = survey.wavelet
    rx = survey.spacing * np.asarray(survey.receivers, dtype=float)
    residual = SparseTimeFunction(name="residual", grid=grid, npoint=rx.shape[0], nt=survey.nt + 1, coordinates=rx)
    dt = grid.stepping_dim.spacing
    ahead, behind = 1 + eta * dt / 2, 1 - eta * dt / 2
    forward = [
        Eq(u.forward, (2 * u - behind * u.backward + dt**2 * u.laplace / m) / ahead),
        src.inject(field=u.forward, expr=src * dt**2 / (h**2 * m * ahead)),
    ]
    time_dim = grid.time_dim
    u_two_back = u._subs(time_dim, time_dim - 2 * time_dim.spacing)
    adjoint = [
        Eq(q.backward, (2 * q - behind * q.forward + dt**2 * q.laplace / m) / ahead),
        residual.inject(field=q.backward, expr=residual * dt**2 / (m * ahead)),
        Eq(grad, grad + q * (ahead * u - 2 * u.backward + behind * u_two_back)),
    ]
    with _quiet(), switchconfig(language=LANGUAGE):
        operators = {"forward": Operator(forward, name="FWIForward"), "adjoint": Operator(adjoint, name="FWIAdjoint")}
        for op in operators.values():
            op.cfunction  # compile now, so solve times are stepping alone
    return {"m": m, "grad": grad, "u": u, "q": q, "src": src, "residual": residual, **operators}


def _quiet() -> Any:
    from devito import switchconfig

    return switchconfig(log_level="WARNING")


def _fold_padding(padded: Float[np.ndarray, "px pz"], cells: int) -> Float[np.ndarray, "nx nz"]:
    """The adjoint of edge padding: each layer node's value is added to the edge node it copies."""
    folded = padded.copy()
    for axis in (0, 1):
        folded = np.moveaxis(folded, axis, 0)
        folded[cells] += folded[:cells].sum(axis=0)
        folded[-cells - 1] += folded[-cells:].sum(axis=0)
        folded = np.moveaxis(folded[cells:-cells], 0, axis)
    return folded


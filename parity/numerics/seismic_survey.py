"""The discrete seismic experiment that both FWI wave solvers (Devito and JAX) run.

Units are km, s and km/s. A velocity model c is an (nx, nz) array on the nodes of a grid
with spacing h (x across, z down, the surface at z = 0). Around it lies an absorbing layer
of ``absorbing_cells`` nodes a side, where the velocity is the nearest edge value. Both
solvers advance the damped wave equation

    m (u_tt + eta u_t) = lap_h u + s,      m = 1 / c^2,

with the same scheme, so that their wavefields agree to rounding:

    u^{n+1} = (2 u^n - (1 - eta dt / 2) u^{n-1} + dt^2 (lap_h u^n + s^n) / m) / (1 + eta dt / 2),

u^0 = u^1 = 0, for n = 1 .. nt - 2; lap_h is the central difference of ``space_order``
(Devito's stencil), and eta the sponge's damping rate, 1/s (zero inside the model). The source
s^n = w(t_n) / h^2 sits on the source's node; the shot record is d^n_r = u^n at receiver r's
node, n = 0 .. nt - 1. Sources and receivers lie on nodes, so no interpolation enters.
The data misfit of a shot gather is J = 1/2 sum (d - d_obs)^2 over the traces ``trace_mask``
keeps (not those next to their source).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from jaxtyping import Float, Int

SPACE_ORDERS = (2, 4, 6, 8, 10, 12)
COURANT_MARGIN = 0.9
"""Largest courant number used / the leapfrog's limit for the stencil."""
SPONGE_DECAY = 3.0
"""A wave crossing the layer and back is damped by about exp(-SPONGE_DECAY) (at c_max). Stronger
damping reflects more off the layer's ramp: with 30 cells at 10 m, 10 Hz, c = 2 km/s and
c_max = 4.5, the echo is 1.8% of the direct wave's peak (7% of the records' L2 norm) at 3,
2.8% at 6 and 6% with 20 cells at 8 (measured against a layer too far away to echo in 1 s)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Survey:
    """Grid, time axis, acquisition and wavelet of one seismic experiment.

    Compared and hashed by identity (it holds arrays), so it can be a static field of a JAX module.
    """

    shape: tuple[int, int]
    """Nodes of the model, (nx, nz)."""
    spacing: float
    """h, km."""
    dt: float
    """Time step, s."""
    nt: int
    """Time levels recorded, t_n = n dt, n = 0 .. nt - 1."""
    sources: Int[np.ndarray, "shots 2"]
    """(ix, iz) node of each shot's source."""
    receivers: Int[np.ndarray, "receivers 2"]
    """(ix, iz) node of each receiver; every shot records on all of them."""
    peak_frequency: float
    """Of the Ricker wavelet w, Hz."""
    absorbing_cells: int
    space_order: int = 8
    near_offset: float = 2.0
    """Traces recorded closer than this many cells to their shot's source are left out of every misfit:
    they sample the source's log-singular near field, which no grid resolves (at the source node the
    records of a 2x finer grid differ by ~17%, two cells away by 0.2%)."""

    def __post_init__(self) -> None:
        if self.space_order not in SPACE_ORDERS:
            raise ValueError(f"space_order must be one of {SPACE_ORDERS}, got {self.space_order}")
        for name, nodes in (("sources", self.sources), ("receivers", self.receivers)):
            nodes = np.asarray(nodes)
            if nodes.ndim != 2 or nodes.shape[1] != 2 or nodes.shape[0] == 0:
                raise ValueError(f"{name} must be a non-empty (n, 2) array of (ix, iz) nodes, got shape {nodes.shape}")
            if np.any(nodes < 0) or np.any(nodes >= np.asarray(self.shape)):
                raise ValueError(f"{name} must lie on the model's nodes, 0 <= (ix, iz) < {self.shape}")

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (self.shape[0] + 2 * self.absorbing_cells, self.shape[1] + 2 * self.absorbing_cells)

    @property
    def shots(self) -> int:
        return int(self.sources.shape[0])

    @property
    def data_shape(self) -> tuple[int, int, int]:
        """A shot gather: (shots, nt, receivers)."""
        return (self.shots, self.nt, int(self.receivers.shape[0]))

    @property
    def times(self) -> Float[np.ndarray, " nt"]:
        return self.dt * np.arange(self.nt)

    @property
    def wavelet(self) -> Float[np.ndarray, " nt"]:
        """w(t_n)."""
        return ricker(self.times, self.peak_frequency)

    def refined(self, factor: int) -> Survey:
        """The same experiment on a grid ``factor`` times finer in space and time.

        Nodes, the layer's width and the time axis scale so that level ``factor * n`` of the
        fine survey is level n of this one and every source and receiver is on the same spot.
        """
        if factor < 1:
            raise ValueError(f"refinement factor must be an integer >= 1, got {factor}")
        return dataclasses.replace(
            self, shape=tuple((n - 1) * factor + 1 for n in self.shape), spacing=self.spacing / factor, dt=self.dt / factor,
            nt=(self.nt - 1) * factor + 1, sources=np.asarray(self.sources) * factor, receivers=np.asarray(self.receivers) * factor,
            absorbing_cells=self.absorbing_cells * factor, near_offset=self.near_offset * factor,
        )

    def pad(self, model: Float[np.ndarray, "nx nz"]) -> Float[np.ndarray, "px pz"]:
        """The model over the absorbing layer too, each layer node taking the nearest edge value."""
        return np.pad(np.asarray(model), self.absorbing_cells, mode="edge")

    def damping(self, c_max: float) -> Float[np.ndarray, "px pz"]:
        """eta on the padded grid: a C2 ramp s - sin(2 pi s) / (2 pi) into the layer, summed over x and z.

        Its peak, 2 SPONGE_DECAY c_max / width, damps a wave crossing the layer and back at
        c_max by about exp(-SPONGE_DECAY) (the ramp's mean is 1/2). ``c_max`` is a property of
        the survey's velocity bounds, not of a model, so eta does not change during an inversion.
        """
        width = self.absorbing_cells * self.spacing
        profiles = []
        for n in self.shape:
            index = np.arange(n + 2 * self.absorbing_cells) - self.absorbing_cells
            depth = np.clip(np.maximum(-index, index - (n - 1)) / self.absorbing_cells, 0.0, 1.0)
            profiles.append(2 * SPONGE_DECAY * c_max / width * (depth - np.sin(2 * np.pi * depth) / (2 * np.pi)))
        return profiles[0][:, None] + profiles[1][None, :]

    def trace_mask(self) -> Float[np.ndarray, "shots receivers"]:
        """1 for the traces a misfit uses, 0 for those within ``near_offset`` of their source."""
        cells = np.linalg.norm(np.asarray(self.sources)[:, None, :] - np.asarray(self.receivers)[None, :, :], axis=-1)
        return (cells >= self.near_offset - 1e-9).astype(float)

    def source_nodes(self) -> Int[np.ndarray, "shots 2"]:
        """Sources on the padded grid."""
        return np.asarray(self.sources) + self.absorbing_cells

    def receiver_nodes(self) -> Int[np.ndarray, "receivers 2"]:
        """Receivers on the padded grid."""
        return np.asarray(self.receivers) + self.absorbing_cells


def laplacian_weights(space_order: int) -> Float[np.ndarray, " half_plus_one"]:
    """Central second-difference weights a_0 .. a_{order/2} (times h^2), Devito's and Fornberg's."""
    half = space_order // 2
    weights = [2.0 * (-1) ** (j + 1) * math.factorial(half) ** 2 / (j**2 * math.factorial(half - j) * math.factorial(half + j))
               for j in range(1, half + 1)]
    return np.array([-2.0 * sum(weights), *weights])


def stable_dt(c_max: float, spacing: float, space_order: int, courant: float = COURANT_MARGIN) -> float:
    """``courant`` times the largest stable leapfrog step for the stencil in 2D.

    Stability asks dt^2 c^2 / h^2 times the 2D stencil's largest symbol to be <= 4.
    """
    a = laplacian_weights(space_order)
    symbol = -(a[0] + 2 * sum(a[j] * (-1) ** j for j in range(1, len(a))))  # per axis, at the Nyquist mode
    return courant * spacing / c_max * math.sqrt(4.0 / (2.0 * symbol))


def ricker(times: Float[np.ndarray, " nt"], peak_frequency: float) -> Float[np.ndarray, " nt"]:
    """The Ricker wavelet of peak frequency f0 (Hz), delayed by 1 / f0 so it starts near zero."""
    arg = (np.pi * peak_frequency * (times - 1.0 / peak_frequency)) ** 2
    return (1.0 - 2.0 * arg) * np.exp(-arg)


def surface_survey(
    shape: tuple[int, int], spacing: float, *, shots: int, receivers: int, peak_frequency: float, duration: float,
    c_max: float, absorbing_cells: int = 30, space_order: int = 8, depth_cells: int = 1,
) -> Survey:
    """Sources and receivers spread evenly across the surface, ``depth_cells`` below it, recording for ``duration`` s."""
    nx = shape[0]
    if not 1 <= shots <= nx or not 1 <= receivers <= nx:
        raise ValueError(f"shots and receivers must be between 1 and the {nx} surface nodes, got {shots} and {receivers}")
    steps = math.ceil(duration / stable_dt(c_max, spacing, space_order))
    source_x = np.round(np.linspace(0, nx - 1, shots + 2)[1:-1]).astype(int) if shots > 1 else np.array([nx // 2])
    receiver_x = np.round(np.linspace(0, nx - 1, receivers)).astype(int)
    return Survey(
        shape=shape, spacing=spacing, dt=duration / steps, nt=steps + 1,
        sources=np.stack([source_x, np.full_like(source_x, depth_cells)], axis=1),
        receivers=np.stack([receiver_x, np.full_like(receiver_x, depth_cells)], axis=1),
        peak_frequency=peak_frequency, absorbing_cells=absorbing_cells, space_order=space_order,
    )

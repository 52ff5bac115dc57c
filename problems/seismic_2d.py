"""2D acoustic full-waveform inversion: recover a velocity model from surface shot records.

Ground truths are seeded velocity models of OpenFWI-like families (flat or curved
layers, a fault, smooth anomalies; :mod:`parity.numerics.velocity_models`) on an
``model_size``^2 grid at 10 m. Shots and receivers lie evenly along the surface; the
source is a Ricker wavelet. The observed data are simulated by Devito on a grid
``refinement`` times finer in space and time (the continuous model sampled at its own
resolution), then read at the inversion grid's time levels and corrupted by white
Gaussian noise of ``noise`` times the records' RMS: no method profits from the inverse
crime. Every method starts from the same prior, the depth profile of the mean training
model, which uses no test information.

Scale knobs: ``shots``, ``receivers`` (fewer observations), ``frequency`` (peak, Hz) and
``model_size``. Metrics: velocity relative L2, MAE (km/s), SSIM, PSNR, and the relative
data misfit of the reconstruction's own records (Devito on the inversion grid).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.knobs import ParameterError, at_least, knob
from parity.numerics import acoustic_jax, image_quality, velocity_models
from parity.numerics.seismic_devito import SeismicModeller
from parity.numerics.seismic_survey import Survey, surface_survey
from parity.operators import MeasurementOperator
from parity.problems.base import Snapshot
from parity.problems.inverse import InverseProblem, Split

SPACING = 0.01
"""Grid spacing of the inversion grid, km (OpenFWI's 10 m)."""
VELOCITY_RANGE = (1.5, 4.5)
"""km/s; the upper bound also fixes the time step and the sponge."""
ABSORBING_CELLS = 30
"""Sponge width, nodes a side (see ``seismic_survey.SPONGE_DECAY`` for its echo)."""
PRIOR_MODELS = 200
"""Training-stream models whose mean depth profile is every method's starting model."""
FAMILIES = (*velocity_models.FAMILIES, "mixed")


class SeismicOperator(MeasurementOperator):
    """F(c): the shot records of a velocity model, by the differentiable JAX solver (nonlinear in c)."""

    survey: Survey = eqx.field(static=True)
    image_shape: tuple[int, int]
    data_shape: tuple[int, ...]
    complex_valued: bool = False

    def __init__(self, survey: Survey):
        self.survey = survey
        self.image_shape = survey.shape
        self.data_shape = survey.data_shape

    def forward(self, image: Float[Array, "nx nz"]) -> Float[Array, "shots nt receivers"]:
        return acoustic_jax.shot_records(jnp.asarray(image), self.survey, VELOCITY_RANGE[1])


@dataclasses.dataclass(frozen=True)
class SeismicFWI2D(InverseProblem):
    name: ClassVar[str] = "seismic_fwi_2d"
    description: ClassVar[str] = ("2D acoustic FWI of OpenFWI-like velocity models from surface shot records, "
                                  "observed data from Devito on a finer grid")
    default_metrics: ClassVar[tuple[str, ...]] = ("rel_l2", "mae", "ssim", "data_misfit")
    linear: ClassVar[bool] = False
    picture_colormap: ClassVar[str] = "viridis"
    picture_from_zero: ClassVar[bool] = False
    data_range_convention: ClassVar[str] = (
        "SSIM and PSNR use each true model's own velocity range, max - min; MAE is in km/s; the data misfit is "
        "|F(c) - d_obs| / |d_obs| with F Devito on the inversion grid"
    )

    model_size: int = knob(70, "nodes per side of the inversion grid, at 10 m (OpenFWI: 70)", "integer in [16, 256]", lambda n: 16 <= n <= 256)
    shots: int = knob(5, "sources along the surface (scale knob)", "integer in [1, model_size]", at_least(1))
    receivers: int = knob(70, "receivers along the surface (scale knob)", "integer in [2, model_size]", at_least(2))
    frequency: float = knob(15.0, "Ricker peak frequency, Hz (OpenFWI: 15; scale knob)", "number in [2, 30]", lambda f: 2 <= f <= 30)
    duration: float = knob(1.0, "recording time, s", "number in (0, 4]", lambda t: 0 < t <= 4)
    noise: float = knob(0.01, "Gaussian noise std as a fraction of each gather's RMS", "number in [0, 1]", lambda s: 0 <= s <= 1)
    family: str = knob("mixed", "velocity-model family", " | ".join(FAMILIES), FAMILIES.__contains__)
    refinement: int = knob(2, "observed data are simulated on a grid this many times finer (1 commits the inverse crime)", "integer in [1, 4]", lambda r: 1 <= r <= 4)
    n_train: int = knob(200, "training models (learned methods fit on them)", "integer >= 0", at_least(0))
    n_validation: int = knob(10, "validation models (checkpoints and settings are chosen on them)", "integer >= 1", at_least(1))
    n_test: int = knob(10, "held-out test models (scores)", "integer >= 1", at_least(1))

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("shots", "receivers"):
            if getattr(self, name) > self.model_size:
                raise ParameterError(f"{self.name}: {name} = {getattr(self, name)} must be at most model_size = {self.model_size}")

    @property
    def image_size(self) -> int:
        return self.model_size

    @property
    def extent(self) -> tuple[float, float]:
        """(Lx, Lz), km."""
        side = (self.model_size - 1) * SPACING
        return side, side

    def split_size(self, split: Split) -> int:
        return {"train": self.n_train, "validation": self.n_validation, "test": self.n_test}[self._check_split(split)]

    def survey(self) -> Survey:
        """The experiment on the inversion grid (what every method models)."""
        return _survey(self.model_size, self.shots, self.receivers, self.frequency, self.duration, 1)

    def operator(self) -> SeismicOperator:
        return SeismicOperator(self.survey())

    def modeller(self) -> SeismicModeller:
        """Devito's compiled forward and adjoint on the inversion grid (shared by the FWI solver and the data misfit)."""
        return _modeller(self.model_size, self.shots, self.receivers, self.frequency, self.duration, 1)

    def simulate(self, rng: np.random.Generator) -> tuple[Float[np.ndarray, "nx nz"], Float[np.ndarray, "shots nt receivers"]]:
        model = self._model(rng)
        fine = _modeller(self.model_size, self.shots, self.receivers, self.frequency, self.duration, self.refinement)
        r = self.refinement
        shape = ((self.model_size - 1) * r + 1,) * 2
        clean = fine.shot_records(model.grid(shape, SPACING / r))[:, ::r].astype(np.float64)
        noisy = clean + self.noise * np.sqrt(np.mean(clean**2)) * rng.standard_normal(clean.shape)
        return model.grid((self.model_size,) * 2, SPACING), noisy

    def _model(self, rng: np.random.Generator) -> velocity_models.VelocityModel:
        return velocity_models.random_model(self.family, rng, self.extent, VELOCITY_RANGE)

    def prior_model(self) -> Float[np.ndarray, "nx nz"]:
        """Every method's starting model: the mean depth profile of models from the *train* seed stream."""
        return _prior(self.model_size, self.family, self.extent)

    def extra_metrics(self, reconstructions: np.ndarray, truths: np.ndarray) -> dict[str, float]:
        """Image metrics of the velocity models, MAE (km/s) and the relative data misfit of the test records."""
        observations = self.dataset("test").observations
        if len(reconstructions) != len(observations):
            raise ValueError(f"{self.name}: expected {len(observations)} test reconstructions, got {len(reconstructions)}")
        modeller = self.modeller()
        mask = modeller.survey.trace_mask()[:, None, :]  # the traces every misfit uses: none next to its source
        clipped = np.clip(reconstructions, *VELOCITY_RANGE)  # the modeller's time step holds up to the range's top
        misfits = [np.linalg.norm(mask * (modeller.shot_records(c) - d)) / np.linalg.norm(mask * d)
                   for c, d in zip(clipped, observations, strict=True)]
        return {**image_quality.mean_metrics(reconstructions, truths),
                "mae": float(np.mean(np.abs(reconstructions - truths))), "data_misfit": float(np.mean(misfits))}

    def picture(self, reconstruction: np.ndarray) -> Float[np.ndarray, "nx nz"]:
        """Depth runs down the picture: z is flipped so the surface row is drawn on top."""
        return np.asarray(reconstruction)[:, ::-1]

    def snapshot(self) -> Snapshot:
        lx, lz = self.extent
        return Snapshot(np.empty((0, 2)), (self.model_size,) * 2, (0.0, lx, -lz, 0.0), "first test model, km/s")


@functools.lru_cache(maxsize=8)
def _survey(model_size: int, shots: int, receivers: int, frequency: float, duration: float, refinement: int) -> Survey:
    survey = surface_survey(
        (model_size, model_size), SPACING, shots=shots, receivers=receivers, peak_frequency=frequency, duration=duration,
        c_max=VELOCITY_RANGE[1], absorbing_cells=ABSORBING_CELLS,
    )
    return survey.refined(refinement)


@functools.lru_cache(maxsize=4)
def _modeller(model_size: int, shots: int, receivers: int, frequency: float, duration: float, refinement: int) -> SeismicModeller:
    return SeismicModeller(_survey(model_size, shots, receivers, frequency, duration, refinement), VELOCITY_RANGE[1])


@functools.lru_cache(maxsize=4)
def _prior(model_size: int, family: str, extent: tuple[float, float]) -> Float[np.ndarray, "nx nz"]:
    models = [velocity_models.random_model(family, np.random.default_rng([0, i]), extent, VELOCITY_RANGE).grid((model_size,) * 2, SPACING)
              for i in range(PRIOR_MODELS)]
    return velocity_models.depth_profile_prior(np.stack(models))

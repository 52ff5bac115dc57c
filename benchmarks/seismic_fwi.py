"""asv benchmarks for seismic FWI: the Devito and JAX wave solvers, and one learned-FWI stage.

The issue's target case: a 101 x 101 model at 10 m (a linear velocity gradient from 1.5 to
4.5 km/s), 9 shots and 101 receivers on the surface, a 10 Hz Ricker wavelet, 1 s of data
(903 time steps), space order 8, a 30-node sponge. One misfit + gradient is one forward and
one adjoint solve per shot. Compilation happens in ``setup`` (Devito's JIT, XLA's), so the
timed functions are the time stepping alone; ``track_*`` record the JAX gradient's
compiled temporary memory with and without checkpointing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from parity.numerics import acoustic_jax
from parity.numerics.seismic_devito import SeismicModeller
from parity.numerics.seismic_survey import surface_survey

SHAPE, SPACING, C_MAX = (101, 101), 0.01, 4.5


def _case() -> tuple:
    survey = surface_survey(SHAPE, SPACING, shots=9, receivers=101, peak_frequency=10.0, duration=1.0, c_max=C_MAX)
    depth = SPACING * np.arange(SHAPE[1])[None, :] + np.zeros((SHAPE[0], 1))
    truth = 1.5 + 3.0 * depth / depth.max()
    start = 1.5 + 2.7 * depth / depth.max()
    return survey, truth, start


class DevitoFWI:
    """Devito forward modelling and adjoint-state gradient, float32, OpenMP on the machine's cores."""

    timeout = 600

    def setup(self) -> None:
        survey, truth, self.start = _case()
        self.modeller = SeismicModeller(survey, C_MAX)
        self.observed = self.modeller.shot_records(truth)
        self.modeller.misfit_and_gradient(self.start, self.observed)  # first applies load the compiled code

    def time_forward(self) -> None:
        self.modeller.shot_records(self.start)

    def time_misfit_and_gradient(self) -> None:
        self.modeller.misfit_and_gradient(self.start, self.observed)


class JaxFWI:
    """The differentiable JAX solver on the same case: vmapped shots, checkpointed time loop (or not)."""

    params = (["sqrt", "off"],)
    param_names = ["checkpointing"]
    timeout = 600

    def setup(self, checkpointing: str) -> None:
        survey, truth, start = _case()
        self.segment = None if checkpointing == "sqrt" else survey.nt
        self.survey, self.start = survey, jnp.asarray(start, jnp.float32)
        self.observed = jax.block_until_ready(acoustic_jax.shot_records(jnp.asarray(truth, jnp.float32), survey, C_MAX))
        jax.block_until_ready(self._gradient())
        jax.block_until_ready(acoustic_jax.shot_records(self.start, survey, C_MAX))

    def _gradient(self) -> tuple:
        return acoustic_jax.misfit_and_gradient(self.start, self.observed, self.survey, C_MAX, segment=self.segment)

    def time_forward(self, checkpointing: str) -> None:
        jax.block_until_ready(acoustic_jax.shot_records(self.start, self.survey, C_MAX))

    def time_misfit_and_gradient(self, checkpointing: str) -> None:
        jax.block_until_ready(self._gradient())

    def track_gradient_temporary_mb(self, checkpointing: str) -> float:
        """XLA's temporary buffers for one misfit + gradient: what checkpointing saves."""
        acquisition = acoustic_jax.Acquisition.from_survey(self.survey, C_MAX, self.segment)
        compiled = jax.jit(jax.value_and_grad(acoustic_jax.misfit_with_acquisition)).lower(self.start, self.observed, acquisition).compile()
        return compiled.memory_analysis().temp_size_in_bytes / 2**20

    track_gradient_temporary_mb.unit = "MB"  # type: ignore[attr-defined]

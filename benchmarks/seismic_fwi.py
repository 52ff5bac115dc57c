"""asv benchmarks for seismic FWI: the Devito and JAX wave solvers, and one learned-FWI stage.

The issue's target case: a 101 x 101 model at 10 m (a linear velocity gradient from 1.5 to
4.5 km/s), 9 shots and 101 receivers on the surface, a 10 Hz Ricker wavelet, 1 s of data
(903 time steps), space order 8, a 30-node sponge. One misfit + gradient is one forward and
one adjoint solve per shot. Compilation happens in ``setup`` (Devito's JIT, XLA's), so the
timed functions are the time stepping alone; ``track_*`` record the JAX gradient's
compiled temporary memory with and without checkpointing.

asv runs every benchmark (and parameter combination) in a process of its own, so each
class computes what its benchmarks share once, in ``setup_cache`` (the observed data,
and for JAX the compiled gradient's memory), and each timed benchmark has its own
``setup`` attribute that compiles and runs only what it times. That setup keeps its
objects in the module-level ``_live`` dict: the process holds one benchmark, and a
benchmark's own ``setup`` is called without the instance.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parity.numerics import acoustic_jax
from parity.numerics.seismic_devito import SeismicModeller
from parity.numerics.seismic_survey import surface_survey

from ._compilation_cache import cache_compilations

SHAPE, SPACING, C_MAX = (101, 101), 0.01, 4.5

_live: dict[str, Any] = {}
"""What the running benchmark's own setup prepared (one benchmark per process)."""


def _case() -> tuple:
    survey = surface_survey(SHAPE, SPACING, shots=9, receivers=101, peak_frequency=10.0, duration=1.0, c_max=C_MAX)
    depth = SPACING * np.arange(SHAPE[1])[None, :] + np.zeros((SHAPE[0], 1))
    truth = 1.5 + 3.0 * depth / depth.max()
    start = 1.5 + 2.7 * depth / depth.max()
    return survey, truth, start


def _prepare_devito(cache: dict[str, np.ndarray]) -> None:
    """The modeller (its operators compiled, or loaded from Devito's disk cache) and the models."""
    survey, _, start = _case()
    _live.update(modeller=SeismicModeller(survey, C_MAX), start=start, observed=cache["observed"])


def _prepare_devito_forward(cache: dict[str, np.ndarray]) -> None:
    _prepare_devito(cache)
    _live["modeller"].shot_records(_live["start"])  # the first apply loads the compiled code


def _prepare_devito_gradient(cache: dict[str, np.ndarray]) -> None:
    _prepare_devito(cache)
    _live["modeller"].misfit_and_gradient(_live["start"], _live["observed"])  # loads both operators


class DevitoFWI:
    """Devito forward modelling and adjoint-state gradient, float32, OpenMP on the machine's cores."""

    timeout = 600

    def setup_cache(self) -> dict[str, np.ndarray]:
        """The observed data (9 forward solves in the true model), shared by both benchmarks."""
        survey, truth, _ = _case()
        return {"observed": SeismicModeller(survey, C_MAX).shot_records(truth)}

    def time_forward(self, cache: dict[str, np.ndarray]) -> None:
        _live["modeller"].shot_records(_live["start"])

    time_forward.setup = _prepare_devito_forward  # type: ignore[attr-defined]

    def time_misfit_and_gradient(self, cache: dict[str, np.ndarray]) -> None:
        _live["modeller"].misfit_and_gradient(_live["start"], _live["observed"])

    time_misfit_and_gradient.setup = _prepare_devito_gradient  # type: ignore[attr-defined]


def _segment(survey: Any, checkpointing: str) -> int | None:
    """The JAX solver's checkpoint segment: its default (sqrt(nt)) or the whole time loop (none)."""
    return None if checkpointing == "sqrt" else survey.nt


def _prepare_jax(cache: dict[str, Any], checkpointing: str) -> None:
    cache_compilations()  # not in setup_cache, which reads the compiled gradient's memory
    survey, _, start = _case()
    _live.update(survey=survey, segment=_segment(survey, checkpointing), start=jnp.asarray(start, jnp.float32), observed=jnp.asarray(cache["observed"]))


def _jax_forward() -> jax.Array:
    return acoustic_jax.shot_records(_live["start"], _live["survey"], C_MAX)


def _jax_gradient() -> tuple:
    return acoustic_jax.misfit_and_gradient(_live["start"], _live["observed"], _live["survey"], C_MAX, segment=_live["segment"])


def _prepare_jax_forward(cache: dict[str, Any], checkpointing: str) -> None:
    _prepare_jax(cache, checkpointing)
    jax.block_until_ready(_jax_forward())  # compiles


def _prepare_jax_gradient(cache: dict[str, Any], checkpointing: str) -> None:
    _prepare_jax(cache, checkpointing)
    jax.block_until_ready(_jax_gradient())  # compiles


class JaxFWI:
    """The differentiable JAX solver on the same case: vmapped shots, checkpointed time loop (or not)."""

    params = (["sqrt", "off"],)
    param_names = ["checkpointing"]
    timeout = 600

    def setup_cache(self) -> dict[str, Any]:
        """The observed data (JAX forward in the true model) and each gradient's compiled temporary memory."""
        survey, truth, start = _case()
        observed = jax.block_until_ready(acoustic_jax.shot_records(jnp.asarray(truth, jnp.float32), survey, C_MAX))
        start_j = jnp.asarray(start, jnp.float32)
        temporary_mb = {}
        for checkpointing in self.params[0]:
            acquisition = acoustic_jax.Acquisition.from_survey(survey, C_MAX, _segment(survey, checkpointing))
            compiled = jax.jit(jax.value_and_grad(acoustic_jax.misfit_with_acquisition)).lower(start_j, observed, acquisition).compile()
            temporary_mb[checkpointing] = compiled.memory_analysis().temp_size_in_bytes / 2**20
        return {"observed": np.asarray(observed), "temporary_mb": temporary_mb}

    def time_forward(self, cache: dict[str, Any], checkpointing: str) -> None:
        jax.block_until_ready(_jax_forward())

    time_forward.setup = _prepare_jax_forward  # type: ignore[attr-defined]

    def time_misfit_and_gradient(self, cache: dict[str, Any], checkpointing: str) -> None:
        jax.block_until_ready(_jax_gradient())

    time_misfit_and_gradient.setup = _prepare_jax_gradient  # type: ignore[attr-defined]

    def track_gradient_temporary_mb(self, cache: dict[str, Any], checkpointing: str) -> float:
        """XLA's temporary buffers for one misfit + gradient: what checkpointing saves."""
        return cache["temporary_mb"][checkpointing]

    track_gradient_temporary_mb.unit = "MB"  # type: ignore[attr-defined]

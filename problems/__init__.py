"""Problem plugins and the interfaces they implement.

Names are imported on first use: a run imports its own problem's module alone (the
acoustic wave's, for one, pulls in SciPy's statistics).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parity.problems.acoustic_wave_2d import AcousticWave2D
    from parity.problems.base import AcousticWave, DirichletPoisson, ForwardProblem, PointwiseFn, Problem, SourceODE1D
    from parity.problems.burgers_1d import Burgers1D
    from parity.problems.helmholtz_2d import Helmholtz2D
    from parity.problems.multiscale_1d import MultiScale1D
    from parity.problems.poisson_multiscale_2d import MultiScalePoisson2D

_EXPORTS = {
    "AcousticWave": "base", "DirichletPoisson": "base", "ForwardProblem": "base", "PointwiseFn": "base", "Problem": "base",
    "SourceODE1D": "base", "AcousticWave2D": "acoustic_wave_2d", "Burgers1D": "burgers_1d", "Helmholtz2D": "helmholtz_2d",
    "MultiScale1D": "multiscale_1d", "MultiScalePoisson2D": "poisson_multiscale_2d",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

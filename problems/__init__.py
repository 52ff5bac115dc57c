"""Problem plugins and the interfaces they implement."""

from parity.problems.acoustic_wave_2d import AcousticWave2D
from parity.problems.base import AcousticWave, DirichletPoisson, ForwardProblem, PointwiseFn, Problem, SourceODE1D
from parity.problems.burgers_1d import Burgers1D
from parity.problems.helmholtz_2d import Helmholtz2D
from parity.problems.multiscale_1d import MultiScale1D
from parity.problems.poisson_multiscale_2d import MultiScalePoisson2D

__all__ = [
    "AcousticWave",
    "AcousticWave2D",
    "Burgers1D",
    "DirichletPoisson",
    "ForwardProblem",
    "Helmholtz2D",
    "MultiScale1D",
    "MultiScalePoisson2D",
    "PointwiseFn",
    "Problem",
    "SourceODE1D",
]

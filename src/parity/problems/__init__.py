"""Problem plugins and the interfaces they implement."""

from parity.problems.base import DirichletPoisson, ForwardProblem, PointwiseFn, Problem, SourceODE1D
from parity.problems.multiscale_1d import MultiScale1D
from parity.problems.poisson_multiscale_2d import MultiScalePoisson2D

__all__ = [
    "DirichletPoisson",
    "ForwardProblem",
    "MultiScale1D",
    "MultiScalePoisson2D",
    "PointwiseFn",
    "Problem",
    "SourceODE1D",
]

"""Problem plugins and the interfaces they implement."""

from parity.problems.base import ForwardProblem, PointwiseFn, Problem, SourceODE1D
from parity.problems.multiscale_1d import MultiScale1D

__all__ = ["ForwardProblem", "MultiScale1D", "PointwiseFn", "Problem", "SourceODE1D"]

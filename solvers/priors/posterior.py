"""The data side of every learned-prior solver: a linear operator's misfit, gradient and proximal map on real images.

The operator is normalised to unit norm (A / ||A||, data y / ||A||), so guidance steps,
proximal weights and the tuned grids mean the same for CT and MRI at any size. Images
are real (the phantoms are), data may be complex (MRI): the gradient of
1/2 |A x - y|^2 over real x is Re A^H (A x - y), and the normal operator Re A^H A is
symmetric positive semi-definite, so conjugate gradients solve the proximal map.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Inexact

from parity.operators import ImagingOperator, operator_norm
from parity.problems.inverse import InverseProblem
from parity.solvers.reconstruction.learned_reconstruction import NormalisedOperator


class DataTerm(eqx.Module):
    """1/2 |A x - y|^2 for one real image x and one observation y, both in unit-norm units."""

    operator: NormalisedOperator

    def __init__(self, operator: ImagingOperator, norm: float):
        self.operator = NormalisedOperator(operator, norm)

    @classmethod
    def of(cls, operator: ImagingOperator) -> DataTerm:
        """The data term of ``operator`` scaled by its measured norm."""
        return cls(operator, operator_norm(operator))

    def for_test(self, problem: InverseProblem) -> DataTerm:
        """The data term of ``problem.test_operator()``: this one unless a shift measures the test split with fewer observations."""
        test_operator = problem.test_operator()
        return self if test_operator is self.operator.operator else DataTerm.of(test_operator)

    def scaled(self, observation: Inexact[Array, "..."]) -> Inexact[Array, "..."]:
        """A raw observation in the unit-norm operator's units."""
        return observation * self.operator.scale

    def residual(self, image: Float[Array, "h w"], observation: Inexact[Array, "..."]) -> Inexact[Array, "..."]:
        return self.operator.forward(image) - observation

    def gradient(self, image: Float[Array, "h w"], observation: Inexact[Array, "..."]) -> Float[Array, "h w"]:
        return self.operator.adjoint(self.residual(image, observation)).real

    def start(self, observation: Inexact[Array, "..."]) -> Float[Array, "h w"]:
        """The pseudo-inverse (FBP, zero-filled), real part: where plug-and-play iterations begin."""
        return self.operator.pseudo_inverse(observation).real

    def proximal(self, centre: Float[Array, "h w"], observation: Inexact[Array, "..."], weight: Float[Array, ""] | float,
                 iterations: int) -> Float[Array, "h w"]:
        """argmin_x 1/2 |A x - y|^2 + weight/2 |x - centre|^2, by ``iterations`` conjugate-gradient steps from ``centre``."""
        def normal(x: Array) -> Array:
            return self.operator.adjoint(self.operator.forward(x)).real + weight * x

        rhs = self.operator.adjoint(observation).real + weight * centre
        solution, _ = jax.scipy.sparse.linalg.cg(normal, rhs, x0=centre, maxiter=iterations, tol=0.0)
        return solution

    def misfit(self, image: Float[Array, "h w"], observation: Inexact[Array, "..."]) -> Float[Array, ""]:
        """|A x - y|, the norm DPS divides its guidance by."""
        residual = self.residual(image, observation)
        return jnp.sqrt(jnp.sum((residual * jnp.conj(residual)).real))

"""Learned gradient descent (Adler & Öktem 2017, "Solving ill-posed inverse problems using iterative deep neural networks").

From the pseudo-inverse, ``iterations`` unrolled steps x <- x + dx, where one CNN shared by
all steps maps [x, A^H(Ax - y), grad R(x), memory] to [dx, new memory], R a smoothed total
variation (the paper's inputs: iterate, data-fit gradient, regulariser gradient, memory).
The operator is normalised to unit norm, so the data-fit gradient is A^H(Ax - y) / ||A||^2
and O(1) for any operator.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact

from parity.knobs import at_least, knob
from parity.numerics import tv
from parity.operators import ImagingOperator
from parity.solvers.reconstruction.learned_reconstruction import ConvNet, LearnedReconstruction, field_channels, from_channels, to_channels


class GradientUnroll(eqx.Module):
    """The unrolled scheme; its update network starts at zero, so the untrained model returns the pseudo-inverse."""

    update: ConvNet
    iterations: int = eqx.field(static=True)
    memory: int = eqx.field(static=True)

    def __call__(self, observation: Inexact[Array, "..."], operator: ImagingOperator) -> Inexact[Array, "h w"]:
        c = field_channels(operator)
        x = operator.pseudo_inverse(observation)
        memory = jnp.zeros((self.memory, *operator.image_shape), jnp.float32)
        for _ in range(self.iterations):  # unrolled: XLA's CPU backend runs convolutions in a loop body ~15x slower
            gradient = operator.adjoint(operator.forward(x) - observation)
            out = self.update(jnp.concatenate([to_channels(x), to_channels(gradient), to_channels(smoothed_tv_gradient(x)), memory]))
            x, memory = x + from_channels(out[:c], operator.complex_valued), out[c:]
        return x


def smoothed_tv_gradient(image: Inexact[Array, "h w"], smoothing: float = 0.05) -> Inexact[Array, "h w"]:
    """The gradient of sum sqrt(|grad x|^2 + eps^2): TV's descent direction, smooth where grad x = 0 (images span ~[0, 1])."""
    field = tv.gradient(image)
    return tv.gradient_adjoint(field / jnp.sqrt(jnp.sum((field * jnp.conj(field)).real, axis=0) + smoothing**2))


@dataclasses.dataclass(frozen=True)
class LearnedGradientDescent(LearnedReconstruction):
    """Trained with Adam (beta2 = 0.99) by default, the authors' later choice for learned primal-dual,
    so that the two unrolled methods differ only in their architecture; ``optimiser=rmsprop`` is the 2017 paper's."""

    name: ClassVar[str] = "learned_gd"
    approach: ClassVar[str] = "unrolled"
    description: ClassVar[str] = "learned gradient descent: unrolled data-fit gradient steps with one shared CNN (Adler & Öktem 2017)"

    iterations: int = knob(10, "unrolled gradient steps", "integer >= 1", at_least(1))
    memory: int = knob(5, "memory channels carried between steps", "integer >= 0", at_least(0))
    channels: int = knob(32, "channels of the CNN's hidden layers", "integer >= 1", at_least(1))
    layers: int = knob(3, "3x3 convolution layers of the CNN", "integer >= 2", at_least(2))

    def network(self, operator: ImagingOperator, rng: np.random.Generator) -> GradientUnroll:
        c = field_channels(operator)
        update = ConvNet(3 * c + self.memory, c + self.memory, self.channels, self.layers, 2, rng, final_scale=0.0)
        return GradientUnroll(update, self.iterations, self.memory)

"""Learned primal-dual reconstruction (Adler & Öktem 2018, "Learned primal-dual reconstruction").

Primal (image-space) and dual (data-space) memories, each ``memory`` images of the
operator's field, are updated alternately for ``iterations`` steps by CNNs with weights of
their own per step: the dual block sees [h, A f^(2), y], the primal block [f, A^H h^(1)];
the reconstruction is f^(1). Data arrays (a sinogram, k-space) are images to the dual CNN
(1D data get 1D convolutions). A and y are divided by ||A||, as in the paper.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Inexact

from parity.knobs import at_least, knob
from parity.operators import ImagingOperator
from parity.solvers.reconstruction.learned_reconstruction import ConvNet, LearnedReconstruction, field_channels, from_channels, to_channels

STARTS = ("zero", "pseudo_inverse")


class PrimalDualUnroll(eqx.Module):
    """The unrolled scheme, one primal and one dual CNN per iteration."""

    primal: tuple[ConvNet, ...]
    dual: tuple[ConvNet, ...]
    memory: int = eqx.field(static=True)
    start: str = eqx.field(static=True)

    def __call__(self, observation: Inexact[Array, "..."], operator: ImagingOperator) -> Inexact[Array, "h w"]:
        c = field_channels(operator)
        complex_valued = operator.complex_valued
        data = to_channels(observation)
        if self.start == "zero":
            f = jnp.zeros((self.memory * c, *operator.image_shape), jnp.float32)
        else:
            f = jnp.tile(to_channels(operator.pseudo_inverse(observation)), (self.memory, 1, 1))
        h = jnp.zeros((self.memory * c, *operator.data_shape), jnp.float32)
        for primal, dual in zip(self.primal, self.dual, strict=True):  # unrolled: XLA's CPU backend runs loop bodies ~15x slower
            evaluated = to_channels(operator.forward(from_channels(f[c : 2 * c], complex_valued)))
            h = h + dual(jnp.concatenate([h, evaluated, data]))
            back_projected = to_channels(operator.adjoint(from_channels(h[:c], complex_valued)))
            f = f + primal(jnp.concatenate([f, back_projected]))
        return from_channels(f[:c], complex_valued)


@dataclasses.dataclass(frozen=True)
class LearnedPrimalDual(LearnedReconstruction):
    name: ClassVar[str] = "learned_pd"
    approach: ClassVar[str] = "unrolled"
    description: ClassVar[str] = "learned primal-dual: unrolled primal and dual CNN updates, unshared per iteration (Adler & Öktem 2018)"

    iterations: int = knob(10, "unrolled primal-dual iterations (each with its own CNNs)", "integer >= 1", at_least(1))
    memory: int = knob(5, "images of the operator's field in each memory (output: primal image 1; A reads image 2)", "integer >= 2", at_least(2))
    channels: int = knob(32, "channels of each CNN's hidden layers", "integer >= 1", at_least(1))
    layers: int = knob(3, "3x3 convolution layers of each CNN", "integer >= 2", at_least(2))
    start: str = knob(
        "zero", "initial primal memory: zero (the paper) or the pseudo-inverse in every image", " | ".join(STARTS), STARTS.__contains__
    )

    def network(self, operator: ImagingOperator, rng: np.random.Generator) -> PrimalDualUnroll:
        c = field_channels(operator)
        width = self.memory * c
        primal = tuple(ConvNet(width + c, width, self.channels, self.layers, 2, rng) for _ in range(self.iterations))
        dual = tuple(ConvNet(width + 2 * c, width, self.channels, self.layers, len(operator.data_shape), rng) for _ in range(self.iterations))
        return PrimalDualUnroll(primal, dual, self.memory, self.start)

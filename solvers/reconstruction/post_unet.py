"""Post-processing with a U-Net: FBP + U-Net for CT (Jin et al. 2017), zero-filled + U-Net for MRI.

The operator's pseudo-inverse x0 (FBP with the Hann filter for CT, the zero-filled inverse
FFT for MRI, complex as two channels) is corrected by a U-Net, x = x0 + U(x0): residual
learning, as Jin et al., since x0 already holds the low frequencies and the network need only
remove streaks or aliasing. The measured data enter through x0 only, unlike the unrolled
learned GD and PD. Baguer, Leuschner & Schmidt (2020) benchmarked it as dival's FBPUNet:
29.36 dB PSNR on dival's ellipses at 128^2. The U-Net is this package's
(:mod:`parity.solvers.priors.unet`: residual blocks, average pooling), not dival's own.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import numpy as np
from jaxtyping import Array, Inexact

from parity.knobs import at_least, knob
from parity.operators import ImagingOperator
from parity.solvers.priors.unet import UNet, check_divisible
from parity.solvers.reconstruction.learned_reconstruction import LearnedReconstruction, field_channels, from_channels, to_channels


class PostProcessor(eqx.Module):
    """x0 + U(x0); the U-Net's head starts at zero, so the untrained model returns the pseudo-inverse."""

    unet: UNet

    def __call__(self, observation: Inexact[Array, "..."], operator: ImagingOperator) -> Inexact[Array, "h w"]:
        x0 = operator.pseudo_inverse(observation)
        return x0 + from_channels(self.unet(to_channels(x0)), operator.complex_valued)


@dataclasses.dataclass(frozen=True)
class PostProcessingUNet(LearnedReconstruction):
    """Widths ``channels * (1, 2, 2, ...)``: doubled once, then held, so that each extra level widens the
    receptive field (what streaks spanning the image need) at a constant cost in parameters, not a fourfold one."""

    name: ClassVar[str] = "post_unet"
    approach: ClassVar[str] = "post-processing"
    description: ClassVar[str] = "FBP / zero-filled reconstruction corrected by a residual U-Net (Jin et al. 2017; dival's FBPUNet)"

    channels: int = knob(32, "channels of the U-Net's first level (twice as many below it)", "integer >= 1", at_least(1))
    levels: int = knob(3, "resolution levels of the U-Net (image_size must be divisible by 2^(levels - 1))", "integer >= 1", at_least(1))

    def network(self, operator: ImagingOperator, rng: np.random.Generator) -> PostProcessor:
        for side in sorted(set(operator.image_shape)):
            check_divisible(side, self.levels, self.name)
        c = field_channels(operator)
        multipliers = (1, *(2,) * (self.levels - 1))
        return PostProcessor(UNet(c, c, self.channels, multipliers, rng, conditioned=False, final_scale=0.0))

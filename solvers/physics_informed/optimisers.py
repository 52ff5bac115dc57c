"""First-order optimisers of the physics-informed solvers, with the recipe's learning-rate schedule.

``muon`` (optax.contrib; Jordan et al. 2024) orthogonalises the momentum of each weight
matrix by Newton-Schulz iterations, a cheap stand-in for the Shampoo/SOAP
preconditioners recent PINN work uses (Wang et al. 2025), which no well-kept JAX library
provides yet. Stacked weights [networks, fan_in, fan_out] are orthogonalised per network;
biases and other parameters get Adam inside the same transformation.
"""

from __future__ import annotations

import jax
import optax
from jaxtyping import Array
from optax.contrib import MuonDimensionNumbers, muon

OPTIMISERS = ("adam", "muon")


def learning_rate_schedule(peak: float, warmup_steps: int = 0, decay_steps: int = 0, decay_rate: float = 1.0) -> optax.ScalarOrSchedule:
    """``peak`` after a linear warm-up from 0 over ``warmup_steps``, times ``decay_rate`` every ``decay_steps`` after it."""
    if warmup_steps == 0 and decay_rate == 1.0:
        return peak
    return optax.warmup_exponential_decay_schedule(0.0, peak, max(warmup_steps, 1), max(decay_steps, 1), decay_rate)


def _matrix_axes(leaf: Array) -> MuonDimensionNumbers | None:
    """Stacked weight matrices (networks, fan_in > 1, fan_out) are orthogonalised; the rest go to Adam."""
    return MuonDimensionNumbers(reduction_axis=1, output_axis=2) if leaf.ndim == 3 and leaf.shape[1] > 1 else None


def build_optimiser(name: str, rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
    if name == "adam":
        return optax.adam(rate)
    if name == "muon":
        return muon(rate, muon_weight_dimension_numbers=lambda params: jax.tree.map(_matrix_axes, params))
    raise ValueError(f"optimiser {name!r} is not allowed; allowed: {' | '.join(OPTIMISERS)}")

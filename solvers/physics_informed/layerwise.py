"""A plain MLP's layers in overlapping groups, as the local spaces of Schwarz-preconditioned L-BFGS.

Kopaničáková, Kothari, Karniadakis & Krause (SISC 2024) decompose a PINN's parameters by
layers: group g holds ``size`` consecutive layers and neighbouring groups share
``overlap`` of them. A group's local problem is the whole loss with the other layers
frozen; additive corrections are averaged on the shared layers. Each group's worker holds
every point, so a local evaluation costs one fine gradient and no synchronisation.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from parity.knobs import ParameterError
from parity.solvers.physics_informed.costs import StepCost
from parity.solvers.physics_informed.networks import StackedMLP
from parity.solvers.physics_informed.schwarz import Objective, lbfgs_steps


def layer_groups(layers: int, groups: int, overlap: int) -> tuple[tuple[int, ...], ...]:
    """``groups`` runs of consecutive layers covering ``layers`` layers, neighbours sharing at least ``overlap``."""
    if not 1 <= groups <= layers:
        raise ParameterError(f"layer-wise Schwarz: layer_groups = {groups} is not allowed for a network of {layers} layers; allowed: 1..{layers}")
    allowed = [o for o in range(layers) if groups == 1 or _spread(layers, groups, o) is not None]
    if overlap not in allowed:
        raise ParameterError(
            f"layer-wise Schwarz: layer_overlap = {overlap} is not allowed with {groups} groups of {layers} layers; allowed: {min(allowed)}..{max(allowed)}"
        )
    size = layers if groups == 1 else math.ceil((layers + (groups - 1) * overlap) / groups)
    return tuple(tuple(range(s, s + size)) for s in _spread(layers, groups, overlap) or (0,))


def _spread(layers: int, groups: int, overlap: int) -> list[int] | None:
    """The groups' first layers, evenly spread; None when they would not all differ."""
    size = math.ceil((layers + (groups - 1) * overlap) / groups)
    starts = [round(g * (layers - size) / max(groups - 1, 1)) for g in range(groups)]
    return starts if size <= layers and len(set(starts)) == groups else None


@dataclasses.dataclass(frozen=True)
class LayerSpace:
    """Overlapping groups of a :class:`StackedMLP`'s layers (weight, bias and scale of a layer move together)."""

    groups: tuple[tuple[int, ...], ...]

    @classmethod
    def build(cls, params: PyTree, groups: int, overlap: int) -> LayerSpace:
        if not isinstance(params, StackedMLP):
            raise ParameterError(f"layer-wise Schwarz needs the plain MLP; got {type(params).__name__} (drop the recipe's architecture ingredients)")
        return cls(layer_groups(len(params.weights), groups, overlap))

    @property
    def colours(self) -> Sequence[Sequence[int]]:
        """Groups in turn: every group's loss is the whole loss, so no two may move together."""
        return [[g] for g in range(len(self.groups))]

    @staticmethod
    def layers(params: StackedMLP, members: Sequence[int]) -> tuple[PyTree, ...]:
        scales = params.log_scales or (None,) * len(params.weights)
        return tuple((params.weights[i], params.biases[i], scales[i]) for i in members)

    @staticmethod
    def with_layers(params: StackedMLP, members: Sequence[int], values: Sequence[PyTree]) -> StackedMLP:
        weights, biases = list(params.weights), list(params.biases)
        scales = list(params.log_scales) if params.log_scales is not None else None
        for i, (w, b, s) in zip(members, values):
            weights[i], biases[i] = w, b
            if scales is not None:
                scales[i] = s
        params = eqx.tree_at(lambda m: (m.weights, m.biases), params, (tuple(weights), tuple(biases)))
        return params if scales is None else eqx.tree_at(lambda m: m.log_scales, params, tuple(scales))

    def solve(self, params: PyTree, objective: Objective, members: Sequence[int], steps: int) -> tuple[list[PyTree], StepCost]:
        corrections, cost, critical = [], StepCost.zero(), jnp.zeros(())
        for g in members:
            layers = self.groups[g]
            start = self.layers(params, layers)
            x, evaluations, _, _, diverged = lbfgs_steps(lambda v, ls=layers: objective(self.with_layers(params, ls, v)), start, steps)
            corrections.append(jax.tree.map(jnp.subtract, x, start))
            cost = cost + StepCost(evaluations, jnp.zeros(()), jnp.zeros(()), diverged.astype(jnp.float32))
            critical = jnp.maximum(critical, evaluations)
        return corrections, cost._replace(critical_local_gradients=critical)

    def apply(self, params: PyTree, corrections: list[PyTree], members: Sequence[int], weights: Float[Array, " m"]) -> PyTree:
        """Each layer moves by its groups' weighted corrections averaged over the groups (among ``members``) that share it."""
        sharing = Counter(i for g in members for i in self.groups[g])
        for k, g in enumerate(members):
            layers = self.groups[g]
            moved = tuple(
                jax.tree.map(lambda a, c, n=sharing[i]: a + (weights[k] / n).astype(a.dtype) * c, layer, correction)
                for i, layer, correction in zip(layers, self.layers(params, layers), corrections[k])
            )
            params = self.with_layers(params, layers, moved)
        return params

    def average_weights(self, members: Sequence[int]) -> Float[Array, " m"]:
        """Ones: :meth:`apply` already averages on shared layers."""
        return jnp.ones(len(members), jnp.float32)

"""Decompositions that adapt to the solution: split the windows where the residual concentrates.

A fixed regular decomposition spends as many subdomains on a smooth region as on a sharp
layer. Here, between phases of training, each finest-level subdomain is scored by the
squared residual its window carries (weighted by its partition-of-unity share), and the
highest-scoring ``fraction`` are each split into 2^d children of half the spacing, with
the same overlap ratio. A child starts as its parent's network seen through the child's
own input scaling (its first layer absorbs the change of centre and width), so the model
is nearly unchanged by a split and training resumes where it was.
"""

from __future__ import annotations

import dataclasses
import itertools

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float, Int

from parity.knobs import ParameterError
from parity.solvers.physics_informed.decomposition import Level
from parity.solvers.physics_informed.networks import StackedMLP
from parity.solvers.physics_informed.training import COST_AXES, TrainOutcome
from parity.solvers.timing import CompileTimes


def partition_of_unity(level: Level, x: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "s n"]:
    """The level's normalised windows at the points (NumPy, float64)."""
    local = np.clip((x[None] - level.centres[:, None]) / level.half_widths[:, None], -1.0, 1.0)
    weights = np.prod(((1.0 + np.cos(np.pi * local)) / 2.0) ** 2, axis=-1)
    return weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-300)


def residual_energy(level: Level, x: Float[np.ndarray, "n d"], residual_squared: Float[np.ndarray, " n"]) -> Float[np.ndarray, " s"]:
    """Each subdomain's share of the squared residual: sum over points of its window weight times r^2."""
    return partition_of_unity(level, x) @ residual_squared


def refined(level: Level, energy: Float[np.ndarray, " s"], fraction: float, overlap: float) -> tuple[Level, Int[np.ndarray, " t"]]:
    """The level with its highest-energy ``fraction`` of subdomains (at least one) split into 2^d
    children each, and every new subdomain's parent; subdomains are ordered by centre so that
    device blocks stay compact."""
    count = max(1, round(fraction * level.n_subdomains))
    split = set(np.argsort(-energy, kind="stable")[:count].tolist())
    dims = level.centres.shape[1]
    offsets = np.array(list(itertools.product((-1.0, 1.0), repeat=dims)))
    centres, widths, parents = [], [], []
    for s in range(level.n_subdomains):
        if s in split:
            quarter = level.half_widths[s] / (2.0 * overlap)  # a quarter of the parent's spacing
            for offset in offsets:
                centres.append(level.centres[s] + offset * quarter)
                widths.append(level.half_widths[s] / 2.0)
                parents.append(s)
        else:
            centres.append(level.centres[s])
            widths.append(level.half_widths[s])
            parents.append(s)
    centres_a, widths_a, parents_a = np.array(centres), np.array(widths), np.array(parents)
    order = np.lexsort(centres_a.T[::-1])
    return Level(centres_a[order], widths_a[order]), parents_a[order]


def inherited(network: StackedMLP, parents: Int[np.ndarray, " t"], old: Level, new: Level) -> StackedMLP:
    """Each new subdomain's network: its parent's, with the first layer rewritten so that on the
    child's inputs (x - mu_c) / sigma_c it computes what the parent computed on (x - mu_p) / sigma_p."""
    if not isinstance(network, StackedMLP):
        raise ParameterError(
            f"adaptive decomposition needs the plain MLP in every subdomain; got {type(network).__name__} (drop the recipe's architecture ingredients)"
        )
    copied = eqx.tree_at(lambda m: m.weights, network, tuple(jnp.asarray(np.asarray(w)[parents]) for w in network.weights))
    copied = eqx.tree_at(lambda m: m.biases, copied, tuple(jnp.asarray(np.asarray(b)[parents]) for b in network.biases))
    if network.log_scales is not None:
        copied = eqx.tree_at(lambda m: m.log_scales, copied, tuple(jnp.asarray(np.asarray(s)[parents]) for s in network.log_scales))
    ratio = new.half_widths / old.half_widths[parents]  # (t, d)
    shift = (new.centres - old.centres[parents]) / old.half_widths[parents]  # (t, d)
    v = np.asarray(copied.weights[0], np.float64)  # (t, d, width): V, or W when not factorised
    scale = np.ones((v.shape[0], 1, v.shape[2])) if copied.log_scales is None else np.exp(np.asarray(copied.log_scales[0], np.float64))
    bias = np.asarray(copied.biases[0], np.float64) + np.einsum("td,tdw->tw", shift, scale * v)[:, None, :]
    weight = ratio[:, :, None] * v
    copied = eqx.tree_at(lambda m: m.weights, copied, (jnp.asarray(weight, jnp.float32), *copied.weights[1:]))
    return eqx.tree_at(lambda m: m.biases, copied, (jnp.asarray(bias, jnp.float32), *copied.biases[1:]))


def merged_outcomes(outcomes: list[TrainOutcome], between_s: list[float]) -> TrainOutcome:
    """The phases' outcomes as one training: steps, seconds and costs run on across phases, and the
    seconds spent splitting between phases (``between_s``) count as training time."""
    last = outcomes[-1]
    if len(outcomes) == 1:
        return last
    trace, steps, wall, costs = [], 0, 0.0, dict.fromkeys(last.costs, 0.0)
    for k, outcome in enumerate(outcomes):
        for point in outcome.trace:
            details = {**point.details, **{name: costs[name] + point.details.get(name, 0.0) for name in COST_AXES}}
            trace.append(dataclasses.replace(point, step=steps + point.step, wall_s=wall + point.wall_s, details=details))
        steps += outcome.steps_done
        wall += outcome.train_s + (between_s[k] if k < len(between_s) else 0.0)
        costs = {name: total + outcome.costs.get(name, 0.0) for name, total in costs.items()}
    compile_times = CompileTimes(*(sum(getattr(o.compile_times, f) for o in outcomes) for f in ("cold_s", "spent_s", "hits")))
    return dataclasses.replace(
        last, trace=trace, steps_done=steps, compile_times=compile_times, train_s=wall, eval_s=sum(o.eval_s for o in outcomes),
        costs=costs, finisher_step=None,
        message=phases_message(outcomes, steps),
    )


def phases_message(outcomes: list[TrainOutcome], steps: int) -> str:
    """The phases' messages as one: a phase's own time budget (its share) is the run's, said once."""
    budget = "stopped by the time budget"
    others = [o.message for o in outcomes if o.message and not o.message.startswith(budget)]
    if outcomes[-1].message.startswith(budget):
        others.append(f"{budget} after {steps} steps ({len(outcomes)} phases between splits, each its share of the time)")
    return "; ".join(dict.fromkeys(others))

"""Total-variation regularised reconstruction by PDHG (Chambolle-Pock), and validation-set weight selection.

``tv_reconstruct`` solves  min_x 0.5 |A x - y|^2 + weight * TV(x)  (+ the indicator of x >= 0 for
real operators when asked), with the isotropic TV of forward differences (Neumann boundary:
the last difference along an axis is zero). For complex images the per-pixel norm runs over the
real and imaginary parts of both differences. The splitting is K = [A; grad] with the data
term's and the TV term's convex conjugates handled by their proxes (a shrink for the quadratic,
a per-pixel projection onto the ball of radius ``weight`` for TV) and the primal prox a clamp
or the identity. Every piece is jnp, so the whole loop jits; the weight is a traced argument,
so one compilation serves a whole weight search.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Inexact

from parity.numerics import image_quality
from parity.operators import ImagingOperator
from parity.operators import operator_norm as power_norm

GRADIENT_NORM_SQUARED = 8.0
"""||grad||^2 <= 8 for 2D forward differences (4 per axis): bounds ||K||^2 <= ||A||^2 + 8."""

RATIO_BOUNDS = (1e-6, 1e6)
"""Clip of the primal/dual step ratio tau / sigma, guarding weight -> 0 and a blank image."""

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def gradient(image: Inexact[Array, "h w"]) -> Inexact[Array, "2 h w"]:
    """Forward differences along both axes, zero in the last row/column (Neumann)."""
    dx = jnp.concatenate([image[1:] - image[:-1], jnp.zeros_like(image[:1])], axis=0)
    dy = jnp.concatenate([image[:, 1:] - image[:, :-1], jnp.zeros_like(image[:, :1])], axis=1)
    return jnp.stack([dx, dy])


def gradient_adjoint(field: Inexact[Array, "2 h w"]) -> Inexact[Array, "h w"]:
    """grad^T q = -div q, the exact adjoint of :func:`gradient` (the last row/column of q is ignored)."""
    qx, qy = field[0, :-1], field[1, :, :-1]
    zx, zy = jnp.zeros_like(qx[:1]), jnp.zeros_like(qy[:, :1])
    tx = jnp.concatenate([zx, qx], axis=0) - jnp.concatenate([qx, zx], axis=0)
    ty = jnp.concatenate([zy, qy], axis=1) - jnp.concatenate([qy, zy], axis=1)
    return tx + ty


def total_variation(image: Inexact[Array, "h w"]) -> Float[Array, ""]:
    """Isotropic TV: the sum over pixels of the l2 norm of the (complex) gradient."""
    return jnp.sum(jnp.sqrt(jnp.sum(jnp.abs(gradient(image)) ** 2, axis=0)))


def tv_objective(
    operator: ImagingOperator, data: Inexact[Array, "..."], image: Inexact[Array, "h w"], weight: float
) -> Float[Array, ""]:
    """0.5 |A x - y|^2 + weight * TV(x): what PDHG minimises (tests check that it does)."""
    misfit = operator.forward(image) - data
    return 0.5 * jnp.sum(jnp.abs(misfit) ** 2) + weight * total_variation(image)


def _project_ball(field: Inexact[Array, "2 h w"], radius: Float[Array, ""]) -> Inexact[Array, "2 h w"]:
    """Per-pixel projection onto {|q| <= radius}: the prox of the TV term's conjugate."""
    norm = jnp.sqrt(jnp.sum(jnp.abs(field) ** 2, axis=0))
    return field / jnp.maximum(1.0, norm / radius)


def _pdhg(
    operator: ImagingOperator,
    data: Inexact[Array, "..."],
    weight: Float[Array, ""],
    x0: Inexact[Array, "h w"],
    norm: Float[Array, ""],
    iterations: int,
    nonnegative: bool,
) -> Inexact[Array, "h w"]:
    """Chambolle-Pock with theta = 1 and tau * sigma * ||K||^2 = 0.99^2 (see :func:`tv_reconstruct`)."""
    clamp = nonnegative and not operator.complex_valued
    scale = jnp.sqrt(jnp.mean(jnp.abs(operator.pseudo_inverse(data)) ** 2))
    ratio = jnp.clip(scale / weight, *RATIO_BOUNDS)
    step = 0.99 / jnp.sqrt(norm**2 + GRADIENT_NORM_SQUARED)
    tau, sigma = step * jnp.sqrt(ratio), step / jnp.sqrt(ratio)
    primal = jnp.maximum(x0, 0.0) if clamp else x0
    dual_data = jnp.zeros_like(operator.forward(primal))
    dual_tv = jnp.zeros_like(gradient(primal))

    def iterate(_: int, state: tuple[Array, ...]) -> tuple[Array, ...]:
        x, x_bar, p, q = state
        p = (p + sigma * (operator.forward(x_bar) - data)) / (1.0 + sigma)
        q = _project_ball(q + sigma * gradient(x_bar), weight)
        x_new = x - tau * (operator.adjoint(p) + gradient_adjoint(q))
        x_new = jnp.maximum(x_new, 0.0) if clamp else x_new
        return x_new, 2.0 * x_new - x, p, q

    x, *_ = jax.lax.fori_loop(0, iterations, iterate, (primal, primal, dual_data, dual_tv))
    return x


@eqx.filter_jit
def _pdhg_batch(
    operator: ImagingOperator,
    data: Inexact[Array, "b ..."],
    weight: Float[Array, ""],
    x0: Inexact[Array, "b h w"],
    norm: Float[Array, ""],
    iterations: int,
    nonnegative: bool,
) -> Inexact[Array, "b h w"]:
    run = lambda y, start: _pdhg(operator, y, weight, start, norm, iterations, nonnegative)  # noqa: E731
    return jax.vmap(run)(data, x0)


def tv_reconstruct_batch(
    operator: ImagingOperator,
    data_batch: Inexact[Array, "b ..."],
    weight: float,
    iterations: int,
    nonnegative: bool = False,
    x0_batch: Inexact[Array, "b h w"] | None = None,
    operator_norm: float | None = None,
) -> Inexact[Array, "b h w"]:
    """PDHG-TV for a stack of observations, jitted once per (operator structure, shapes, iterations).

    ``weight``, ``operator_norm``, the operator's arrays and the data are traced, so a weight
    search reuses one compilation. ``x0_batch`` defaults to the pseudo-inverse (FBP, zero-filled
    FFT), which starts PDHG close; ``operator_norm`` defaults to a power-iteration estimate
    (pass it when calling repeatedly). ``nonnegative`` is ignored for complex operators.
    """
    data_batch = jnp.asarray(data_batch)
    if x0_batch is None:
        x0_batch = jax.vmap(operator.pseudo_inverse)(data_batch)
    norm = power_norm(operator) if operator_norm is None else operator_norm
    return _pdhg_batch(
        operator,
        data_batch,
        jnp.asarray(weight, jnp.float32),
        jnp.asarray(x0_batch),
        jnp.asarray(norm, jnp.float32),
        int(iterations),
        bool(nonnegative),
    )


def tv_reconstruct(
    operator: ImagingOperator,
    data: Inexact[Array, "..."],
    weight: float,
    iterations: int,
    nonnegative: bool = False,
    x0: Inexact[Array, "h w"] | None = None,
    operator_norm: float | None = None,
) -> Inexact[Array, "h w"]:
    """argmin_x 0.5 |A x - y|^2 + weight * TV(x) (x >= 0 if ``nonnegative`` and A is real), by PDHG.

    Steps satisfy tau * sigma * ||K||^2 = 0.99^2 with ||K||^2 <= ||A||^2 + 8, and the ratio
    tau / sigma = rms(pseudo-inverse) / weight balances the two distances PDHG's bound
    charges, |x0 - x*| / tau and |q0 - q*| / sigma: the image lives on its intensity scale,
    the TV dual in the ball of radius ``weight``. The ratio is invariant under rescaling
    (y, x, weight) together. Measured on 4x MRI of Shepp-Logan, it reaches the converged PSNR
    in about 300 iterations for weights 1e-3 .. 1e-1, where tau = sigma needs over 1000.
    """
    start = None if x0 is None else jnp.asarray(x0)[None]
    batch = tv_reconstruct_batch(operator, jnp.asarray(data)[None], weight, iterations, nonnegative, start, operator_norm)
    return batch[0]


def choose_weight(
    reconstruct: Callable[[float], Inexact[np.ndarray, "n h w"]],
    truths: Float[np.ndarray, "n h w"],
    candidates: Sequence[float],
    refinements: int = 6,
) -> tuple[float, dict[float, float]]:
    """The weight of best mean validation PSNR: the coarse ``candidates``, then a golden-section refinement.

    The golden section runs in log-weight over the bracket between the best candidate's
    neighbours (assuming PSNR is unimodal there) for ``refinements`` more evaluations.
    Reconstructions may be complex (their magnitude is scored, as reports show them).
    Returns the best weight and the table weight -> mean PSNR of every evaluation, sorted.
    """
    grid = sorted(float(w) for w in candidates)
    if not grid or grid[0] <= 0:
        raise ValueError(f"candidates must be a non-empty list of positive weights; got {list(candidates)}")
    table: dict[float, float] = {}

    def score(weight: float) -> float:
        if weight not in table:
            table[weight] = _mean_psnr(reconstruct(weight), truths)
        return table[weight]

    scores = [score(w) for w in grid]
    best = int(np.argmax(scores))
    if len(grid) > 1:
        low, high = math.log(grid[max(best - 1, 0)]), math.log(grid[min(best + 1, len(grid) - 1)])
        _golden_section(lambda log_weight: score(math.exp(log_weight)), low, high, refinements)
    best_weight = max(table, key=table.__getitem__)
    return best_weight, dict(sorted(table.items()))


def _golden_section(score: Callable[[float], float], low: float, high: float, evaluations: int) -> None:
    """Maximise ``score`` on [low, high] by golden section for ``evaluations`` calls (``score`` keeps the record)."""
    left, right = high - GOLDEN * (high - low), low + GOLDEN * (high - low)
    left_score, right_score = score(left), score(right)
    for _ in range(evaluations - 2):
        if left_score >= right_score:
            high, right, right_score = right, left, left_score
            left = high - GOLDEN * (high - low)
            left_score = score(left)
        else:
            low, left, left_score = left, right, right_score
            right = low + GOLDEN * (high - low)
            right_score = score(right)


def _mean_psnr(reconstructions: Inexact[np.ndarray, "n h w"], truths: Float[np.ndarray, "n h w"]) -> float:
    pictures = np.abs(reconstructions) if np.iscomplexobj(reconstructions) else np.asarray(reconstructions)
    return float(np.mean([image_quality.psnr(r, t) for r, t in zip(pictures.astype(np.float64), truths, strict=True)]))

"""A differentiable 2D acoustic wave solver in JAX, for full-waveform inversion.

It runs the scheme of :mod:`parity.numerics.seismic_survey` (the same one the Devito solver
runs, so the two agree to rounding), written in jnp so that ``jax.grad`` differentiates the
shot records with respect to the velocity. That lets learned methods backpropagate through
the physics, and it runs on GPUs, where Devito's GPU path is not on PyPI.

The misfit's gradient is reverse-mode autodiff through the time loop, which is the adjoint-state
method done by the compiler: the backward pass is the adjoint wave equation run back in time,
and it needs the forward wavefield at every step. Storing all of them costs nt grids per shot;
``segment`` trades that for recomputation (see :func:`_propagate`).

The update, with e = eta dt / 2 and the weights a_j of ``laplacian_weights`` (times h^2), is

    u^{n+1} = (2 u^n - (1 - e) u^{n-1}) / (1 + e) + C (sum_j a_j shifts of u^n + w(t_n) delta_source),
    C = (c dt / h)^2 / (1 + e),

which is the survey's formula with dt^2 / (m h^2) folded into one field C, computed once per
model. The source is a one-hot grid times w(t_n) rather than a scatter, so each step compiles
to one fused pass over the grid plus the receivers' gather (a scatter costs ~20% more on CPU).
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Scalar

from parity.numerics.seismic_survey import Survey, laplacian_weights


class Acquisition(eqx.Module):
    """A survey as the solver sees it: arrays on the padded grid, and the scalars as static fields.

    ``Survey`` holds numpy arrays, so it cannot key a compilation cache; this module can (equinox
    hashes the static fields and traces the arrays), and one compilation serves every model and
    every survey with the same shapes, spacing, time step and stencil.
    """

    damping: Float[Array, "px pz"]
    wavelet: Float[Array, " nt"]
    sources: Int[Array, "shots 2"]
    receivers: Int[Array, "receivers 2"]
    mask: Float[Array, "shots receivers"]
    """The traces a misfit uses (``Survey.trace_mask``)."""
    spacing: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    absorbing_cells: int = eqx.field(static=True)
    weights: tuple[float, ...] = eqx.field(static=True)
    segment: int = eqx.field(static=True)
    """Time steps per checkpointed segment; at least the step count turns checkpointing off."""

    @classmethod
    def from_survey(cls, survey: Survey, c_max: float, segment: int | None = None) -> Acquisition:
        """``c_max`` fixes the sponge (not the model, so eta stays put during an inversion);
        ``segment`` defaults to ceil(sqrt(nt - 2)), the memory-optimal length for one level of checkpoints."""
        steps = survey.nt - 2
        if segment is None:
            segment = max(1, math.ceil(math.sqrt(steps)))
        if segment < 1:
            raise ValueError(f"segment must be a positive number of time steps, got {segment}")
        return cls(
            damping=jnp.asarray(survey.damping(c_max)), wavelet=jnp.asarray(survey.wavelet),
            sources=jnp.asarray(survey.source_nodes()), receivers=jnp.asarray(survey.receiver_nodes()),
            mask=jnp.asarray(survey.trace_mask(), jnp.float32),
            spacing=float(survey.spacing), dt=float(survey.dt), absorbing_cells=int(survey.absorbing_cells),
            weights=tuple(float(a) for a in laplacian_weights(survey.space_order)), segment=int(segment),
        )


def shot_records(
    velocity: Float[Array, "nx nz"], survey: Survey, c_max: float, *, segment: int | None = None,
) -> Float[Array, "shots nt receivers"]:
    """d^n_r = u^n at every receiver for every shot, in the velocity's precision."""
    return _shot_records(velocity, Acquisition.from_survey(survey, c_max, segment))


def misfit(
    velocity: Float[Array, "nx nz"], observed: Float[Array, "shots nt receivers"], survey: Survey, c_max: float,
    *, segment: int | None = None,
) -> Scalar:
    """J = 1/2 sum over shots, times and the traces of ``Survey.trace_mask`` of (d - d_obs)^2."""
    return _misfit(velocity, observed, Acquisition.from_survey(survey, c_max, segment))


def misfit_and_gradient(
    velocity: Float[Array, "nx nz"], observed: Float[Array, "shots nt receivers"], survey: Survey, c_max: float,
    *, segment: int | None = None,
) -> tuple[Scalar, Float[Array, "nx nz"]]:
    """J and dJ/dc on the model's nodes; the sponge's share folds onto the edges through the padding."""
    return _misfit_and_gradient(velocity, observed, Acquisition.from_survey(survey, c_max, segment))


def misfit_with_acquisition(velocity: Float[Array, "nx nz"], observed: Float[Array, "shots nt receivers"], acquisition: Acquisition) -> Scalar:
    """J for a prepared :class:`Acquisition`: for callers that jit, vmap or lower the misfit themselves."""
    return _misfit(velocity, observed, acquisition)


@eqx.filter_jit
def _shot_records(velocity: Float[Array, "nx nz"], acquisition: Acquisition) -> Float[Array, "shots nt receivers"]:
    dtype = velocity.dtype
    padded = jnp.pad(velocity, acquisition.absorbing_cells, mode="edge")
    e = acquisition.damping.astype(dtype) * (acquisition.dt / 2)
    decay = (1 - e) / (1 + e)
    gain = 2 / (1 + e)
    courant = (padded * (acquisition.dt / acquisition.spacing)) ** 2 / (1 + e)  # C: Courant number squared
    wavelet = acquisition.wavelet.astype(dtype)[1:-1]

    def shot(source: Int[Array, "2"]) -> Float[Array, "nt receivers"]:
        spike = jnp.zeros_like(gain).at[source[0], source[1]].set(1)
        return _propagate(gain, decay, courant, spike, wavelet, acquisition)

    return jax.vmap(shot)(acquisition.sources)


@eqx.filter_jit
def _misfit(velocity: Float[Array, "nx nz"], observed: Float[Array, "shots nt receivers"], acquisition: Acquisition) -> Scalar:
    residual = _shot_records(velocity, acquisition) - observed.astype(velocity.dtype)
    return 0.5 * jnp.sum((residual * acquisition.mask[:, None, :].astype(velocity.dtype)) ** 2)


_misfit_and_gradient = eqx.filter_jit(jax.value_and_grad(_misfit))


def _propagate(
    gain: Float[Array, "px pz"], decay: Float[Array, "px pz"], courant: Float[Array, "px pz"],
    spike: Float[Array, "px pz"], wavelet: Float[Array, " steps"], acquisition: Acquisition,
) -> Float[Array, "nt receivers"]:
    """March one shot through the nt - 2 steps and record the receivers.

    Checkpointing: the steps run in segments of ``segment``; each is a ``jax.checkpoint``ed
    inner scan, so the forward pass keeps only the pair (u^{n-1}, u^n) entering every segment
    (2 ceil(steps / segment) grids) and the backward pass recomputes one segment at a time,
    holding its per-step residual, lap u^n (``segment`` grids). With segment ~ sqrt(steps) that
    is ~3 sqrt(nt) grids instead of nt, for one extra forward pass. Steps beyond the last full
    segment run as one shorter checkpointed segment.
    """
    rx, rz = acquisition.receivers[:, 0], acquisition.receivers[:, 1]

    def step(state: tuple[Array, Array], amplitude: Scalar) -> tuple[tuple[Array, Array], Float[Array, " receivers"]]:
        previous, current = state
        update = gain * current - decay * previous + courant * (_stencil(current, acquisition.weights) + amplitude * spike)
        return (current, update), update[rx, rz]

    def run(state: tuple[Array, Array], amplitudes: Float[Array, " n"]) -> tuple[tuple[Array, Array], Float[Array, "n receivers"]]:
        return jax.lax.scan(step, state, amplitudes)

    steps = wavelet.shape[0]
    zeros = jnp.zeros_like(gain)
    state = (zeros, zeros)
    if acquisition.segment >= steps:
        _, traces = run(state, wavelet)
    else:
        segment = jax.checkpoint(run, prevent_cse=False)
        full = steps - steps % acquisition.segment
        state, traces = jax.lax.scan(segment, state, wavelet[:full].reshape(-1, acquisition.segment))
        traces = traces.reshape(full, -1)
        if full < steps:
            traces = jnp.concatenate([traces, segment(state, wavelet[full:])[1]])
    return jnp.concatenate([jnp.zeros((2, traces.shape[1]), traces.dtype), traces])


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _stencil(field: Float[Array, "px pz"], weights: tuple[float, ...]) -> Float[Array, "px pz"]:
    """h^2 lap_h u: a sum of shifted slices of u padded with the zero halo.

    Its vjp is itself: the stencil is symmetric and the zero halo truncates it symmetrically, so
    the matrix is its own transpose. Saying so halves the gradient's time against autodiff's
    transpose of the pad-and-slice chain, which XLA fuses poorly.
    """
    half = len(weights) - 1
    halo = jnp.pad(field, half)
    nx, nz = field.shape
    total = (2 * weights[0]) * field
    for j in range(1, half + 1):
        total = total + weights[j] * (
            halo[half + j:half + j + nx, half:half + nz] + halo[half - j:half - j + nx, half:half + nz]
            + halo[half:half + nx, half + j:half + j + nz] + halo[half:half + nx, half - j:half - j + nz]
        )
    return total


def _stencil_forward(field: Float[Array, "px pz"], weights: tuple[float, ...]) -> tuple[Float[Array, "px pz"], None]:
    return _stencil(field, weights), None


def _stencil_backward(weights: tuple[float, ...], _: None, cotangent: Float[Array, "px pz"]) -> tuple[Float[Array, "px pz"]]:
    return (_stencil(cotangent, weights),)


_stencil.defvjp(_stencil_forward, _stencil_backward)

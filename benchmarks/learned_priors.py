"""asv benchmarks for one diffusion-posterior-sampling step on CT: the denoiser, its gradient and the operator.

``DPSStep`` times one guided step of ``dps`` (a denoiser call, its vector-Jacobian product and a
forward and adjoint projection) on one 64 x 64 or 128 x 128 image with 30 angles, beside its
parts: the denoiser alone and the operator's round trip. The prior is the default one (32
channels, 3 levels), untrained: a step costs the same whatever the weights.

``DPSStepSpeed`` sets that step beside one step of DeepInverse's ``deepinv.sampling.DPS``
(PyTorch) on the same CPU, in the same process: its own sampler (VP schedule, DDPM ancestral
solver, Chung et al.'s guidance |y - A D(x)| through the denoiser), its parallel-beam
``Tomography`` (30 angles over [0, pi), unit norm) and Parity's prior rebuilt in PyTorch
(:func:`torch_prior`: the same layers and parameter count, EDM preconditioning, wrapped as a
deepinv ``Denoiser``). Its step is the sampler's own: ``DPS.solver.step`` on ``DPS.posterior``, what
its sampling loop runs once per noise level. Both sides are float32, take the gradient only with
respect to the image, and run on every core this process may use (JAX's XLA CPU thread pool
sizes itself so; PyTorch is set to the same count). Compare them on an otherwise idle machine: beside another
job PyTorch's OpenMP threads wait on each other and its times swing tenfold, where JAX's barely move (seen on
2 shared cores; pinned to one core, both were steady). PyTorch and ``deepinv`` are the optional
extra ``peers`` (``pip install -e ".[peers]"``); without them the PyTorch side is skipped.

``track_seconds_per_step`` reports each; ``track_parity_over_deepinv`` the ratio of seconds (the
issue's target: at most 1), once per size, in the Parity column. Whatever needs the missing peers
is skipped in setup (asv's ``NotImplementedError``, shown as n/a), so a run without them exits 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from parity.problems.ct_2d import ParallelBeamCT2D
from parity.solvers.priors.denoiser import SIGMA_DATA, Denoiser, PriorConfig
from parity.solvers.priors.dps import guided_step
from parity.solvers.priors.posterior import DataTerm
from parity.solvers.priors.sampling import compiled_step
from parity.solvers.priors.unet import EMBEDDING, UNet

from ._compilation_cache import cache_compilations

if TYPE_CHECKING:
    import torch

IMAGE_SIZES = [64, 128]
ANGLES = 30
SIGMA, SIGMA_NEXT = 0.5, 0.4
"""The noise levels (image units) of the timed Parity step; a step costs the same at any."""
STEPS = 20
IMPLEMENTATIONS = ["parity (JAX)", "deepinv (PyTorch)"]
PEERS_MISSING = "PyTorch and deepinv are not installed (the optional extra 'peers')"

Step = Callable[[], object]
"""One sampler step, run to completion."""


def _problem(image_size: int) -> tuple[DataTerm, Denoiser, jax.Array, jax.Array]:
    """The unit-norm CT data term, the default untrained prior, a random image and its data."""
    operator = ParallelBeamCT2D(image_size=image_size, angles=ANGLES).operator()
    data = DataTerm.of(operator)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((1, image_size, image_size)), jnp.float32)
    return data, Denoiser(PriorConfig().network()), x, jnp.asarray(jax.vmap(data.operator.forward)(x))


def _parity_dps_step(data: DataTerm, denoiser: Denoiser, x: jax.Array, y: jax.Array) -> Step:
    step = compiled_step(guided_step(denoiser, data, 1.0), 1, data, np.dtype(np.float32))
    arguments = (x, y, jnp.float32(SIGMA), jnp.float32(SIGMA_NEXT), jax.random.key(0), jnp.float32(1.0))
    return lambda: jax.block_until_ready(step(*arguments))


def parity_step(image_size: int) -> Step:
    """Parity's DPS step (``dps.guided_step``, compiled) on one image."""
    return _parity_dps_step(*_problem(image_size))


def torch_prior(network: UNet) -> torch.nn.Module:
    """``network`` rebuilt in PyTorch inside ``Denoiser``'s EDM preconditioning, as a deepinv ``Denoiser``.

    The layers of ``unet.UNet``: 3x3 'same' convolutions, residual blocks x + conv(silu(conv(silu(x)) + shift)) with a 1x1
    projection where the width changes, 2x2 average pooling, nearest-neighbour upsampling, concatenated skips, the noise
    level's Fourier features through a two-layer MLP. Fresh weights, the head zeroed like Parity's untrained one.
    """
    import torch
    from deepinv.models import Denoiser as DeepinvDenoiser
    from torch import nn
    from torch.nn.functional import avg_pool2d, interpolate, silu

    class Block(nn.Module):
        def __init__(self, n_in: int, n_out: int):
            super().__init__()
            self.first, self.second = nn.Conv2d(n_in, n_out, 3, padding=1), nn.Conv2d(n_out, n_out, 3, padding=1)
            self.skip = nn.Conv2d(n_in, n_out, 1) if n_in != n_out else nn.Identity()
            self.shift = nn.Linear(EMBEDDING, n_out)

        def forward(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
            h = self.first(silu(z)) + self.shift(embedding)[:, :, None, None]
            return self.skip(z) + self.second(silu(h))

    class Prior(DeepinvDenoiser):
        def __init__(self, widths: list[int]):
            super().__init__()
            self.stem = nn.Conv2d(1, widths[0], 3, padding=1)
            self.down = nn.ModuleList(Block(w_prev, w) for w_prev, w in zip([widths[0], *widths[:-1]], widths, strict=True))
            self.middle = Block(widths[-1], widths[-1])
            self.up = nn.ModuleList(Block(w + w_skip, w_skip) for w, w_skip in zip([widths[-1], *widths[:0:-1]], widths[::-1], strict=True))
            self.head = nn.Conv2d(widths[0], 1, 3, padding=1)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            self.embed = nn.Sequential(nn.Linear(EMBEDDING, EMBEDDING), nn.SiLU(), nn.Linear(EMBEDDING, EMBEDDING))
            self.frequencies = nn.Parameter(4.0 * torch.randn(EMBEDDING // 2))

        def network(self, z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
            angles = 2 * torch.pi * self.frequencies * noise[:, None]
            embedding = self.embed(torch.cat([angles.sin(), angles.cos()], dim=1))
            h, skips = self.stem(z), []
            for level, block in enumerate(self.down):
                h = block(h, embedding)
                skips.append(h)
                if level < len(self.down) - 1:
                    h = avg_pool2d(h, 2)
            h = self.middle(h, embedding)
            for level, block in enumerate(self.up):
                if level > 0:
                    h = interpolate(h, scale_factor=2, mode="nearest")
                h = block(torch.cat([h, skips.pop()], dim=1), embedding)
            return self.head(silu(h))

        def forward(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
            """``Denoiser.__call__`` on a batch: image units outside (deepinv's [0, 1] convention too), z = 2x - 1 inside."""
            s = (2 * torch.as_tensor(sigma, dtype=x.dtype)).expand(len(x))
            scale = (s**2 + SIGMA_DATA**2).sqrt()[:, None, None, None]
            c_skip, c_out, c_in = SIGMA_DATA**2 / scale**2, s[:, None, None, None] * SIGMA_DATA / scale, 1 / scale
            z = 2 * x - 1
            return (c_skip * z + c_out * self.network(c_in * z, s.log() / 4) + 1) / 2

    return Prior([block.second.weight.shape[0] for block in network.down]).eval().requires_grad_(False)


def deepinv_step(image_size: int) -> Step | None:
    """One step of deepinv's ``DPS`` sampler on one image, or None when PyTorch or deepinv is missing."""
    try:
        import torch
        from deepinv.physics import Tomography
        from deepinv.sampling import DPS
    except ImportError:
        return None
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    physics = Tomography(ANGLES, image_size, normalize=True)
    sampler = DPS(torch_prior(PriorConfig().network()), dtype=torch.float32)
    x, y = torch.randn(1, 1, image_size, image_size), physics.A(torch.rand(1, 1, image_size, image_size))
    middle = len(sampler.solver.timesteps) // 2  # a step costs the same anywhere on the schedule
    t, t_next = sampler.solver.timesteps[middle], sampler.solver.timesteps[middle + 1]
    return lambda: sampler.solver.step(sampler.posterior, t, t_next, x, y=y, physics=physics)


def seconds_per_step(step: Step, warm_up: int = 3) -> float:
    """The median of ``STEPS`` timed steps after ``warm_up`` untimed ones."""
    for _ in range(warm_up):
        step()
    times = []
    for _ in range(STEPS):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


class DPSStep:
    """One image, 30 angles, the default prior network."""

    params = (IMAGE_SIZES,)
    param_names = ["image_size"]
    timeout = 300

    def setup(self, image_size: int) -> None:
        self.data, self.denoiser, self.x, self.y = _problem(image_size)
        self.step = _parity_dps_step(self.data, self.denoiser, self.x, self.y)
        self.denoise = jax.jit(jax.vmap(lambda x: self.denoiser(x, jnp.float32(SIGMA))))
        self.round_trip = jax.jit(jax.vmap(self.data.gradient))
        self.step()
        jax.block_until_ready((self.denoise(self.x), self.round_trip(self.x, self.y)))

    def time_dps_step(self, image_size: int) -> None:
        self.step()

    def time_denoiser(self, image_size: int) -> None:
        jax.block_until_ready(self.denoise(self.x))

    def time_operator_round_trip(self, image_size: int) -> None:
        jax.block_until_ready(self.round_trip(self.x, self.y))


def _ratio_setup(seconds: dict[tuple[int, str], float | None], image_size: int, implementation: str) -> None:
    """Skip the ratio without the PyTorch side, and in the PyTorch column, which would repeat it (asv calls this without the instance)."""
    if seconds[image_size, IMPLEMENTATIONS[1]] is None:
        raise NotImplementedError(PEERS_MISSING)
    if implementation != IMPLEMENTATIONS[0]:
        raise NotImplementedError("the ratio is reported once, in the Parity column")


class DPSStepSpeed:
    """Seconds per DPS step, Parity's against deepinv's, one image, 30 angles, on this machine's CPU (or default JAX device)."""

    params = (IMAGE_SIZES, IMPLEMENTATIONS)
    param_names = ("image_size", "implementation")
    timeout = 1200
    unit = "seconds"

    def setup_cache(self) -> dict[tuple[int, str], float | None]:
        cache_compilations()
        seconds: dict[tuple[int, str], float | None] = {}
        for implementation, build in zip(IMPLEMENTATIONS, (parity_step, deepinv_step), strict=True):  # each side's runs together
            for image_size in IMAGE_SIZES:
                step = build(image_size)
                seconds[image_size, implementation] = None if step is None else seconds_per_step(step)
        return seconds

    def setup(self, seconds: dict[tuple[int, str], float | None], image_size: int, implementation: str) -> None:
        if seconds[image_size, implementation] is None:
            raise NotImplementedError(PEERS_MISSING)

    def track_seconds_per_step(self, seconds: dict[tuple[int, str], float | None], image_size: int, implementation: str) -> float:
        return float(seconds[image_size, implementation])  # type: ignore[arg-type]

    def track_parity_over_deepinv(self, seconds: dict[tuple[int, str], float | None], image_size: int, implementation: str) -> float:
        return float(seconds[image_size, IMPLEMENTATIONS[0]]) / float(seconds[image_size, IMPLEMENTATIONS[1]])  # type: ignore[arg-type]

    track_parity_over_deepinv.setup = _ratio_setup  # type: ignore[attr-defined]  # after the class's setup
    track_parity_over_deepinv.unit = "ratio"  # type: ignore[attr-defined]

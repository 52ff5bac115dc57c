"""asv benchmarks for Kolmogorov flow: seconds per simulated time unit of each scheme and of the hybrids.

``TimeUnit`` times one simulated time unit (10 frames) of one trajectory, float32, at the
CFL step of each model on 64^2 and 256^2, compilation in ``setup``: the two classical schemes,
each with Kochkov's correction network (6 layers of 64 channels, untrained: the cost does not
depend on the weights), and the network alone stepping frame by frame (the learned
emulator); the network's cases on 256^2 only with ``PARITY_ASV_SLOW=1``. ``NetworkShare.track_share`` is the network's fraction of a hybrid's time, the two
measured side by side in one process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from parity.numerics import kolmogorov
from parity.problems.kolmogorov_2d import CFL, MAX_SPEED
from parity.solvers.hybrid.coarse_model import CoarseModel
from parity.solvers.hybrid.learned_correction import Hybrid
from parity.solvers.hybrid.periodic_cnn import PeriodicCNN

SLOW: bool = os.environ.get("PARITY_ASV_SLOW", "") == "1"
GRIDS = [64, 256]
NETWORK_GRIDS = [64, *([256] if SLOW else [])]
"""Grids the network runs on: a 6 x 64 CNN step on 256^2 takes about a second on 2 CPU cores (1200 steps per time unit)."""
MODELS = ["spectral", "finite_volume", "spectral + CNN", "finite_volume + CNN", "CNN emulator"]
FRAME_INTERVAL = 0.1


def rollout(model: str, n: int) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    """The jitted one-time-unit rollout of ``model`` on an n x n grid, compiled, and a start state (random vorticity)."""
    base = {"spectral": "spectral", "finite_volume": "finite_volume", "CNN emulator": "none"}[model.split(" + ")[0]]
    coarse = CoarseModel.build(base, n, kolmogorov.KolmogorovFlow(), FRAME_INTERVAL, MAX_SPEED, CFL)
    frames = round(1 / FRAME_INTERVAL)
    start = jnp.asarray(np.random.default_rng(0).standard_normal((1, n, n)), jnp.float32)
    if "CNN" in model:
        hybrid = Hybrid(PeriodicCNN(1, 1, 64, 6, 3, key=jax.random.key(0)), coarse, 5.0)
        run = jax.jit(lambda a: hybrid.rollout(a, frames, n))
    else:  # the scheme's own steps, nothing of the hybrid's machinery
        step = coarse.step(jnp.complex64 if base == "spectral" else jnp.float32)

        def scheme(a: jax.Array) -> jax.Array:
            state = jax.lax.fori_loop(0, frames * coarse.steps_per_frame, lambda _, s: step(s), coarse.encode(a))
            return coarse.decode(state)

        run = jax.jit(scheme)
    jax.block_until_ready(run(start))
    return run, start


class TimeUnit:
    """Seconds per simulated time unit and trajectory (float32, CFL 0.5 at speed 7)."""

    params = (MODELS, GRIDS)
    param_names = ["model", "n"]
    timeout = 900

    def setup(self, model: str, n: int) -> None:
        if "CNN" in model and n not in NETWORK_GRIDS:
            raise NotImplementedError(f"{model} on {n}^2 runs only with PARITY_ASV_SLOW=1")  # asv: skipped
        self.run, self.start = rollout(model, n)

    def time_one_time_unit(self, model: str, n: int) -> None:
        jax.block_until_ready(self.run(self.start))


class NetworkShare:
    """The network's share of a hybrid's seconds: 1 - scheme alone / scheme + network, median of 3 of each."""

    params = (["spectral", "finite_volume"], NETWORK_GRIDS)
    param_names = ["scheme", "n"]
    timeout = 900

    def track_share(self, scheme: str, n: int) -> float:
        seconds = {}
        for model in (scheme, f"{scheme} + CNN"):
            run, start = rollout(model, n)
            times = []
            for _ in range(3):
                began = time.perf_counter()
                jax.block_until_ready(run(start))
                times.append(time.perf_counter() - began)
            seconds[model] = float(np.median(times))
        return 1 - seconds[scheme] / seconds[f"{scheme} + CNN"]

    track_share.unit = "fraction"  # type: ignore[attr-defined]

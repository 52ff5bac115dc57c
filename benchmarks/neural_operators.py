"""asv benchmarks: FNO training steps per second, Parity's (JAX) against the ``neuraloperator`` package's (PyTorch).

Both train the same network on the same CPU in the same process: four Fourier layers with the
same modes and width, a 128-wide projection, grid coordinates appended to the input, Adam with
weight decay 1e-4, the relative L2 loss, batches of 20 random fields: the FNO paper's 1D Burgers
network (1024 points, 16 modes, width 64) and its 2D one (64 x 64, 12 modes, width 32).
``neuraloperator`` (2.0) is built without its per-block channel MLPs (the original FNO has
none) and with ``n_modes`` = 2 m, which keeps the same Fourier modes; it lifts with a two-layer
MLP where Parity lifts with one linear layer: the only difference in the networks, and it
costs PyTorch a little. PyTorch and
``neuraloperator`` are the optional extra ``peers`` (``pip install -e ".[peers]"``); without
them the PyTorch side is skipped.

``track_steps_per_second`` reports each; ``track_jax_over_torch`` the ratio (issue 17's target:
at least 1), once per network, in the JAX column. Whatever needs the missing peers is skipped in
setup (asv's ``NotImplementedError``, shown as n/a), so a run without them exits 0.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from parity.solvers.neural_operators.fno import FourierNeuralOperator
from parity.solvers.neural_operators.training import relative_l2

from ._compilation_cache import cache_compilations

SETTINGS = {"1d": ((1024,), 16, 64), "2d": ((64, 64), 12, 32)}
"""grid, modes per axis, width."""
BATCH, LAYERS, PROJECTION = 20, 4, 128
STEPS = 30
IMPLEMENTATIONS = ["parity (JAX)", "neuraloperator (PyTorch)"]
PEERS_MISSING = "PyTorch and neuraloperator are not installed (the optional extra 'peers')"


def _median_step_seconds(step: object, warm_up: int = 3) -> float:
    for _ in range(warm_up):
        step()  # type: ignore[operator]
    times = []
    for _ in range(STEPS):
        started = time.perf_counter()
        step()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def jax_steps_per_second(grid: tuple[int, ...], modes: int, width: int) -> float:
    model = FourierNeuralOperator(1, 1, (modes,) * len(grid), width, LAYERS, PROJECTION, key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    transform = optax.chain(optax.add_decayed_weights(1e-4), optax.adam(1e-3))
    state = transform.init(params)
    rng = np.random.default_rng(0)
    a, u = (jnp.asarray(rng.standard_normal((BATCH, 1, *grid)), jnp.float32) for _ in range(2))

    @jax.jit
    def train_step(p: eqx.Module, s: optax.OptState) -> tuple[eqx.Module, optax.OptState, jax.Array]:
        loss, grads = jax.value_and_grad(lambda q: jnp.mean(relative_l2(jax.vmap(eqx.combine(q, static))(a), u)))(p)
        updates, s = transform.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    carry = [params, state]

    def step() -> None:
        carry[0], carry[1], loss = train_step(carry[0], carry[1])
        loss.block_until_ready()

    return 1.0 / _median_step_seconds(step)


def torch_steps_per_second(grid: tuple[int, ...], modes: int, width: int) -> float | None:
    """The ``neuraloperator`` FNO's training steps per second, or None when PyTorch or the package is missing."""
    try:
        import torch
        from neuralop.models import FNO
    except ImportError:
        return None
    torch.manual_seed(0)
    model = FNO(n_modes=(2 * modes,) * len(grid), in_channels=1, out_channels=1, hidden_channels=width, n_layers=LAYERS,
                projection_channel_ratio=PROJECTION // width, use_channel_mlp=False)  # n_modes counts +-m: 2 m keeps Parity's m
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    a, u = torch.randn(BATCH, 1, *grid), torch.randn(BATCH, 1, *grid)

    def step() -> None:
        optimiser.zero_grad()
        difference = (model(a) - u).reshape(BATCH, -1)
        loss = torch.mean(torch.linalg.norm(difference, dim=1) / torch.linalg.norm(u.reshape(BATCH, -1), dim=1))
        loss.backward()
        optimiser.step()

    return 1.0 / _median_step_seconds(step)


def _ratio_setup(speeds: dict[tuple[str, str], float | None], network: str, implementation: str) -> None:
    """Skip the ratio without the PyTorch side, and in the PyTorch column, which would repeat it.

    asv skips a benchmark only when its setup raises ``NotImplementedError``; raised in the
    benchmark itself it counts as a failure and the run exits 2. asv calls this without the instance.
    """
    if speeds[network, IMPLEMENTATIONS[1]] is None:
        raise NotImplementedError(PEERS_MISSING)
    if implementation != IMPLEMENTATIONS[0]:
        raise NotImplementedError("the ratio is reported once, in the JAX column")


class FNOTrainingSpeed:
    """FNO training steps per second on this machine's CPU (or default JAX device), batch 20."""

    params = (list(SETTINGS), IMPLEMENTATIONS)
    param_names = ("network", "implementation")
    timeout = 1200
    unit = "steps/s"

    def setup_cache(self) -> dict[tuple[str, str], float | None]:
        cache_compilations()
        speeds: dict[tuple[str, str], float | None] = {}
        for name, (grid, modes, width) in SETTINGS.items():
            speeds[name, IMPLEMENTATIONS[0]] = jax_steps_per_second(grid, modes, width)
            speeds[name, IMPLEMENTATIONS[1]] = torch_steps_per_second(grid, modes, width)
        return speeds

    def setup(self, speeds: dict[tuple[str, str], float | None], network: str, implementation: str) -> None:
        if speeds[network, implementation] is None:
            raise NotImplementedError(PEERS_MISSING)

    def track_steps_per_second(self, speeds: dict[tuple[str, str], float | None], network: str, implementation: str) -> float:
        return float(speeds[network, implementation])  # type: ignore[arg-type]

    def track_jax_over_torch(self, speeds: dict[tuple[str, str], float | None], network: str, implementation: str) -> float:
        return float(speeds[network, IMPLEMENTATIONS[0]]) / float(speeds[network, IMPLEMENTATIONS[1]])  # type: ignore[arg-type]

    track_jax_over_torch.setup = _ratio_setup  # type: ignore[attr-defined]  # after the class's setup
    track_jax_over_torch.unit = "ratio"  # type: ignore[attr-defined]

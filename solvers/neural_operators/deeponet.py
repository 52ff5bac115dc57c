"""DeepONet (Lu et al. 2021, Nature Machine Intelligence): u(y) = sum_k b_k(a) t_k(y) + bias, as a Parity solver.

The branch network reads the input field at fixed sensors (every k-th learning-grid point along
each axis, at most ``sensors`` per axis, all input channels: the "unstacked" DeepONet with one
fully connected branch) and gives the coefficients b_k; the trunk network reads an output coordinate y and gives the basis t_k(y).
Each output channel has its own ``basis`` coefficients and basis functions (the multiple-output
DeepONet of Lu et al. 2022). The sensors are the learning grid, so unlike the FNO it cannot be
evaluated on a finer input grid.

Training is the shared recipe of :mod:`parity.solvers.neural_operators.training` (Adam with
staircase halving, relative L2 loss, best validation checkpoint); Lu et al. train with Adam at
1e-3 too, on a mean squared error. Networks: ``depth`` hidden layers of ``width`` for branch and
trunk alike, tanh; inputs and outputs scaled pointwise by the train split's statistics.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from parity.knobs import at_least, knob
from parity.problems.operator_learning import OperatorProblem
from parity.solvers.neural_operators.training import OperatorLearner

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu, "gelu": jax.nn.gelu}


class DeepOperatorNetwork(eqx.Module):
    """``(in_channels, *grid) -> (out_channels, *grid)``: branch coefficients times trunk basis at the grid's points."""

    branch: eqx.nn.MLP
    trunk: eqx.nn.MLP
    bias: Float[Array, " cout"]
    points: Float[Array, "m dims"]
    basis: int = eqx.field(static=True)
    strides: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, grid: tuple[int, ...], periodic: bool, width: int, depth: int, basis: int,
                 activation: str, sensors_per_axis: int, *, key: PRNGKeyArray) -> None:
        branch_key, trunk_key = jax.random.split(key)
        act = ACTIVATIONS[activation]
        self.strides = tuple(max(1, -(-n // sensors_per_axis)) for n in grid)
        sensors = in_channels * int(np.prod([len(range(0, n, s)) for n, s in zip(grid, self.strides, strict=True)]))
        self.branch = eqx.nn.MLP(sensors, out_channels * basis, width, depth, activation=act, key=branch_key)
        self.trunk = eqx.nn.MLP(len(grid), out_channels * basis, width, depth, activation=act, final_activation=act, key=trunk_key)
        self.bias = jnp.zeros(out_channels)
        axes = [np.arange(n) / (n if periodic else n - 1) for n in grid]
        self.points = jnp.asarray(np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(grid)), jnp.float32)
        self.basis = basis

    def __call__(self, a: Float[Array, "cin ..."]) -> Float[Array, "cout ..."]:
        channels = self.bias.shape[0]
        sensed = a[(slice(None), *(slice(None, None, s) for s in self.strides))]
        coefficients = self.branch(sensed.ravel()).reshape(channels, self.basis)
        functions = jax.vmap(self.trunk)(self.points).reshape(-1, channels, self.basis)  # independent of a: computed once per batch
        u = jnp.einsum("ck,mck->cm", coefficients, functions) / np.sqrt(self.basis) + self.bias[:, None]
        return u.reshape(channels, *a.shape[1:])


@dataclasses.dataclass(frozen=True)
class DeepONet(OperatorLearner):
    name: ClassVar[str] = "deeponet"
    description: ClassVar[str] = "DeepONet (Lu et al. 2021): fully connected branch on the grid's values, trunk on coordinates"

    width: int = knob(128, "units per hidden layer of the branch and trunk networks", "integer >= 1", at_least(1))
    depth: int = knob(4, "hidden layers of the branch and trunk networks", "integer >= 1", at_least(1))
    basis: int = knob(128, "basis functions per output channel", "integer >= 1", at_least(1))
    activation: str = knob("tanh", "activation of both networks", " | ".join(ACTIVATIONS), ACTIVATIONS.__contains__)
    sensors: int = knob(128, "most sensors per axis the branch reads (every k-th grid point; on Burgers, 1000 instances, 2000 steps: "
                        "4.8e-2 from 128 sensors against 0.19 from all 1024)", "integer >= 2", at_least(2))
    normalise: str = knob("pointwise", "scale inputs and outputs pointwise by the train split's mean and std (on Burgers, 256 instances, "
                          "1000 steps: 0.064 against 0.24 without)", "auto | pointwise | none", lambda v: v in ("auto", "pointwise", "none"))

    def network(self, problem: OperatorProblem, key: PRNGKeyArray) -> eqx.Module:
        return DeepOperatorNetwork(problem.input_channels, problem.output_channels, problem.grid_shape, problem.periodic, self.width, self.depth,
                                   self.basis, self.activation, self.sensors, key=key)

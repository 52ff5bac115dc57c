"""An FBPINN's subdomains as the local spaces of Schwarz-preconditioned L-BFGS (:mod:`.schwarz`).

Subdomain j's local problem is the loss on the training points inside its window, with
every other network frozen: u there is the windowed sum over the subdomains whose
supports meet j's (its neighbours, on every level), so a local evaluation costs the
window's share of the points, and all subdomains' local solves run as one ``vmap``.
The loss is normalised by the whole point count, so a local loss's gradient is the
global gradient's block for that subdomain.

Only the finest level's subdomains are local spaces; a multilevel FBPINN's coarser
levels form the two-level method's coarse space (:class:`CoarseLevels`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PyTree

from parity.problems.base import ForwardProblem
from parity.solvers.physics_informed.costs import StepCost
from parity.solvers.physics_informed.decomposition import Level, window
from parity.solvers.physics_informed.fbpinn_partition import Partition
from parity.solvers.physics_informed.schwarz import Objective, lbfgs_steps


class WindowTables(NamedTuple):
    """Per finest subdomain: its window's points and, per level, its neighbours (all padded, masks 0 on padding)."""

    x: Float[Array, "J slots d"]
    mask: Float[Array, "J slots"]
    neighbour_rows: tuple[Int[Array, "J K"], ...]
    neighbour_mask: tuple[Float[Array, "J K"], ...]
    centres: tuple[Float[Array, "J K d"], ...]
    half_widths: tuple[Float[Array, "J K d"], ...]
    position: Int[Array, " J"]
    """Where the subdomain itself sits among its finest-level neighbours."""


def neighbours(level: Level, centre: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """The level's subdomains whose supports meet the box ``centre +- half_width``."""
    return np.flatnonzero(np.all(np.abs(level.centres - centre) < level.half_widths + half_width, axis=1))


def colouring(level: Level) -> list[list[int]]:
    """Greedy colouring of the subdomains: two whose supports meet never share a colour."""
    colour = np.full(level.n_subdomains, -1)
    for j in range(level.n_subdomains):
        taken = {int(colour[i]) for i in neighbours(level, level.centres[j], level.half_widths[j]) if colour[i] >= 0}
        colour[j] = next(c for c in range(len(taken) + 1) if c not in taken)
    return [np.flatnonzero(colour == c).tolist() for c in range(int(colour.max()) + 1)]


@dataclasses.dataclass(frozen=True)
class SubdomainSpace:
    """The finest level's subdomains as local spaces (see the module's docstring)."""

    problem: ForwardProblem
    static: PyTree
    """The networks' non-array parts (``eqx.partition``), to rebuild a level's networks from parameters."""
    finest: int
    rows: Int[np.ndarray, " J"]
    """Each finest subdomain's row in the stacked (device-blocked) layout."""
    tables: WindowTables
    share: Float[np.ndarray, " J"]
    """Each window's share of the training points: a local evaluation's cost in fine gradients."""
    n_points: int
    multiplicity: int
    """The most finest-level windows that cover one training point."""
    groups: tuple[tuple[int, ...], ...]

    @classmethod
    def build(cls, problem: ForwardProblem, partition: Partition, static: PyTree, x_train: Float[np.ndarray, "n d"]) -> SubdomainSpace:
        levels = partition.levels
        finest = int(np.argmax([lv.n_subdomains for lv in levels]))
        fine = levels[finest]
        inside = fine.support(x_train)
        slots = int(inside.sum(axis=1).max())
        x = np.zeros((fine.n_subdomains, slots, x_train.shape[1]), np.float32)
        mask = np.zeros((fine.n_subdomains, slots), np.float32)
        for j in range(fine.n_subdomains):
            members = np.flatnonzero(inside[j])
            x[j, : members.size], mask[j, : members.size] = x_train[members], 1.0
            x[j, members.size :] = x_train[members[0] if members.size else 0]  # padding repeats a real point, so its residual is finite
        lists = [[neighbours(lv, fine.centres[j], fine.half_widths[j]) for j in range(fine.n_subdomains)] for lv in levels]
        rows, nmask, centres, widths = [], [], [], []
        for lv, blocks, per_level in zip(levels, partition.blocks, lists):
            k = max(len(n) for n in per_level)
            index = np.zeros((fine.n_subdomains, k), np.int64)
            valid = np.zeros((fine.n_subdomains, k), np.float32)
            for j, found in enumerate(per_level):
                index[j, : found.size], valid[j, : found.size] = found, 1.0
            rows.append(jnp.asarray(blocks.rows[index], jnp.int32))
            nmask.append(jnp.asarray(valid))
            centres.append(jnp.asarray(lv.centres[index], jnp.float32))
            widths.append(jnp.asarray(lv.half_widths[index], jnp.float32))
        position = np.array([int(np.flatnonzero(found == j)[0]) for j, found in enumerate(lists[finest])])
        tables = WindowTables(jnp.asarray(x), jnp.asarray(mask), tuple(rows), tuple(nmask), tuple(centres), tuple(widths), jnp.asarray(position, jnp.int32))
        return cls(
            problem, static, finest, partition.blocks[finest].rows, tables, inside.sum(axis=1) / len(x_train), len(x_train),
            int(inside.sum(axis=0).max()), tuple(tuple(c) for c in colouring(fine)),
        )

    @property
    def colours(self) -> Sequence[Sequence[int]]:
        return self.groups

    def local_loss(self, theta: PyTree, params: PyTree, table: WindowTables) -> Float[Array, ""]:
        """Subdomain ``table``'s window loss with its finest network's parameters set to ``theta``."""

        def u(x: Float[Array, "P d"]) -> Float[Array, "P out"]:
            total = 0.0
            for level, (level_params, level_static) in enumerate(zip(params, self.static)):
                chosen = jax.tree.map(lambda a, r=table.neighbour_rows[level]: a[r], level_params)
                if level == self.finest:
                    chosen = jax.tree.map(lambda a, t: a.at[table.position].set(t), chosen, theta)
                net = eqx.combine(chosen, level_static)
                x_local = (x[None] - table.centres[level][:, None]) / table.half_widths[level][:, None]  # (K, P, d)
                weight = window(x_local) * table.neighbour_mask[level][:, None]
                numerator = jnp.sum(weight[..., None] * net(x_local), axis=0)
                denominator = jnp.sum(weight, axis=0)
                total = total + numerator / jnp.where(denominator > 0, denominator, 1.0)[:, None]
            return self.problem.ansatz(x, total)

        r = self.problem.residual(u, table.x) / self.problem.residual_scale
        return jnp.sum(table.mask[:, None] * r**2) / (self.n_points * r.shape[1])

    def solve(self, params: PyTree, objective: Objective, members: Sequence[int], steps: int) -> tuple[PyTree, StepCost]:
        rows = jnp.asarray(self.rows[list(members)])
        tables = jax.tree.map(lambda a: a[np.asarray(members)], self.tables)
        start = jax.tree.map(lambda a: a[rows], params[self.finest])

        def one(theta: PyTree, table: WindowTables) -> tuple[PyTree, Array, Array]:
            x, evaluations, _, _, diverged = lbfgs_steps(lambda t: self.local_loss(t, params, table), theta, steps)
            return jax.tree.map(jnp.subtract, x, theta), evaluations, diverged

        corrections, evaluations, failed = jax.vmap(one)(start, tables)
        work = evaluations * jnp.asarray(self.share[list(members)], jnp.float32)
        return corrections, StepCost(jnp.sum(work), jnp.zeros(()), jnp.max(work), jnp.sum(failed).astype(jnp.float32))

    def apply(self, params: PyTree, corrections: PyTree, members: Sequence[int], weights: Float[Array, " m"]) -> PyTree:
        rows = jnp.asarray(self.rows[list(members)])

        def add(a: Array, c: Array) -> Array:
            return a.at[rows].add(weights.reshape(-1, *([1] * (c.ndim - 1))).astype(a.dtype) * c)

        level = jax.tree.map(add, params[self.finest], corrections)
        return tuple(level if i == self.finest else p for i, p in enumerate(params))

    def average_weights(self, members: Sequence[int]) -> Float[Array, " m"]:
        """1 / (the most windows covering a point): the partition-of-unity counterpart of averaging
        corrections where windows overlap (each subdomain's parameters are its own)."""
        return jnp.full(len(members), 1.0 / self.multiplicity, jnp.float32)


@dataclasses.dataclass(frozen=True)
class CoarseLevels:
    """Every level but the finest, as the two-level method's coarse space."""

    finest: int

    def select(self, params: PyTree) -> PyTree:
        return tuple(p for i, p in enumerate(params) if i != self.finest)

    def replace(self, params: PyTree, coarse: PyTree) -> PyTree:
        rest = iter(coarse)
        return tuple(p if i == self.finest else next(rest) for i, p in enumerate(params))

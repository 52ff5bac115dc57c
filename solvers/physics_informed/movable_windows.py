"""Trainable FBPINN windows: each subdomain's window edges move and stretch during training.

Each window's lower and upper edge, per dimension, is a trained parameter that may move
up to ``room`` either way from where the regular decomposition put it, through a tanh
(the raw parameter 0 is the regular window). The point tables are built once, for the
widest window each subdomain can become (half-width ``h + room``), so a window never
reaches a point its table lacks; ``room`` is at most ``h - spacing / 2``, so a window
always covers its own cell and the windows never leave a point uncovered (the partition
of unity stays defined). The network of a subdomain sees its point in the moved window's
own coordinates, as the FBPINN normalises them.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.solvers.physics_informed.architectures import Network
from parity.solvers.physics_informed.decomposition import Level


def room_ratio(motion: float, overlap: float) -> float:
    """``room / (h + room)`` for edges that move ``motion`` of the overlap beyond a window's own cell.

    With spacing d, h = overlap d / 2 and room = motion (h - d / 2) = motion (overlap - 1) d / 2.
    """
    room = motion * (overlap - 1.0)
    return room / (overlap + room)


def widest(level: Level, ratio: float) -> Level:
    """The level with every window at the widest it may become (the tables' supports)."""
    return dataclasses.replace(level, half_widths=level.half_widths / (1.0 - ratio))


class MovableWindows(eqx.Module):
    """A level's stacked networks with each window's edges as parameters (see the module's docstring)."""

    net: Network
    edges: Float[Array, "k d 2"]
    """Raw lower and upper edge parameters; 0 = the regular window."""
    ratio: float = eqx.field(static=True)
    """``room / (h + room)``: the motion allowed, as a share of the widest half-width."""

    @classmethod
    def around(cls, net: Network, n_subdomains: int, dim: int, ratio: float) -> MovableWindows:
        return cls(net, jnp.zeros((n_subdomains, dim, 2), jnp.float32), ratio)

    def __call__(self, x_local: Float[Array, "k slots d"]) -> Float[Array, "k slots out"]:
        return self.net(x_local)

    def geometry(self, centres: Float[Array, "k d"], widest_half_widths: Float[Array, "k d"]) -> tuple[Float[Array, "k d"], Float[Array, "k d"]]:
        """The moved windows' centres and half-widths, from the regular centres and the widest half-widths."""
        room = self.ratio * widest_half_widths
        lower = centres - widest_half_widths + room * (1.0 + jnp.tanh(self.edges[..., 0]))
        upper = centres + widest_half_widths - room * (1.0 - jnp.tanh(self.edges[..., 1]))
        return (lower + upper) / 2.0, (upper - lower) / 2.0


def moved_level(level: Level, windows: MovableWindows) -> Level:
    """``level`` (the tables' widest windows) with the trained windows' centres and half-widths."""
    centres, half_widths = windows.geometry(jnp.asarray(level.centres, jnp.float32), jnp.asarray(level.half_widths, jnp.float32))
    return Level(np.asarray(centres, np.float64), np.asarray(half_widths, np.float64))

"""How an FBPINN is split over devices: which device holds which subdomain and point.

Subdomains of every level are dealt to the devices in balanced contiguous blocks of the
regular decomposition's row-major order, so a device holds a spatially compact block;
each device's block is padded to ``ceil(S / N)`` with dummy subdomains that no point
lies in. A point is *owned* by the device holding the finest level's subdomain whose
centre is nearest. A device also needs the points that lie in its subdomains' windows
but are owned elsewhere (its *halo*): their owners send their coordinates, and the
device sends its networks' contributions at them back.

Everything here is NumPy, computed once per point set: a :class:`PointLayout` holds, per
device, the index tables that the sharded evaluation in :mod:`parity.solvers.physics_informed.fbpinn`
reads. Every table has a leading device axis of length N.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Bool, Float, Int

from parity.solvers.physics_informed.decomposition import Level


@dataclasses.dataclass(frozen=True)
class Blocks:
    """The subdomains of one level dealt to ``count`` devices.

    ``device[s]`` holds subdomain s at position ``slot[s]`` of its block; the stacked,
    sharded layout has ``count * per_device`` networks, and subdomain s sits at row
    ``device[s] * per_device + slot[s]`` (:attr:`rows`).
    """

    device: Int[np.ndarray, " s"]
    slot: Int[np.ndarray, " s"]
    count: int
    per_device: int

    @classmethod
    def balanced(cls, n_subdomains: int, count: int) -> Blocks:
        sizes = np.full(count, n_subdomains // count)
        sizes[: n_subdomains % count] += 1  # block sizes differ by at most one
        device = np.repeat(np.arange(count), sizes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        slot = np.arange(n_subdomains) - starts[device]
        return cls(device, slot, count, max(int(sizes.max()), 1))

    @property
    def rows(self) -> Int[np.ndarray, " s"]:
        return self.device * self.per_device + self.slot

    @property
    def real(self) -> Bool[np.ndarray, " rows"]:
        """Which rows of the stacked layout hold a real subdomain (the others are dummies)."""
        mask = np.zeros(self.count * self.per_device, dtype=bool)
        mask[self.rows] = True
        return mask

    def scatter(self, values: np.ndarray, fill: float) -> np.ndarray:
        """Per-subdomain ``values`` (s, ...) laid out as (count * per_device, ...), dummies = ``fill``."""
        out = np.full((self.count * self.per_device, *values.shape[1:]), fill, dtype=values.dtype)
        out[self.rows] = values
        return out


@dataclasses.dataclass(frozen=True)
class Partition:
    """All levels' subdomains over ``count`` devices, and the owner rule for points."""

    levels: tuple[Level, ...]
    blocks: tuple[Blocks, ...]
    count: int

    @classmethod
    def of(cls, levels: list[Level] | tuple[Level, ...], count: int) -> Partition:
        return cls(tuple(levels), tuple(Blocks.balanced(lv.n_subdomains, count) for lv in levels), count)

    def geometry(self) -> tuple[tuple[Float[np.ndarray, "rows d"], Float[np.ndarray, "rows d"]], ...]:
        """Per level, (centres, half-widths) in the stacked layout; dummies get centre 0, half-width 1."""
        return tuple(
            (b.scatter(lv.centres.astype(np.float32), 0.0), b.scatter(lv.half_widths.astype(np.float32), 1.0))
            for lv, b in zip(self.levels, self.blocks)
        )

    def owners(self, x: Float[np.ndarray, "n d"]) -> Int[np.ndarray, " n"]:
        """The device holding the finest level's subdomain with the nearest centre, per point."""
        finest = int(np.argmax([lv.n_subdomains for lv in self.levels]))
        centres = self.levels[finest].centres
        nearest = np.empty(x.shape[0], dtype=np.int64)
        chunk = max(1, 2**22 // max(centres.shape[0], 1))
        for start in range(0, x.shape[0], chunk):
            d2 = ((x[start : start + chunk, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
            nearest[start : start + chunk] = np.argmin(d2, axis=1)
        return self.blocks[finest].device[nearest]

    def layout(self, x: Float[np.ndarray, "n d"]) -> PointLayout:
        return PointLayout.build(self, np.asarray(x, dtype=np.float64))


@dataclasses.dataclass(frozen=True)
class PointLayout:
    """Index tables of one point set over N devices (P owned rows, H halo rows per peer).

    Device b's *local table* is its own points (rows 0..P-1) followed by the halo points
    every device a sends it (rows P + a*H .. P + (a+1)*H - 1); the pair tables of its
    subdomains index into that table of length P + N*H.
    """

    own_index: Int[np.ndarray, "N P"]
    """Global index of each owned row (0 on padding rows)."""
    own_mask: Float[np.ndarray, "N P"]
    send_index: Int[np.ndarray, "N N H"]
    """``send_index[a, b]``: rows of a's own points that lie in device b's windows (0 on padding)."""
    send_mask: Float[np.ndarray, "N N H"]
    pair_index: tuple[Int[np.ndarray, "N per_device slots"], ...]
    """Per level: local-table rows of the points in each of the device's subdomains' support."""
    pair_mask: tuple[Float[np.ndarray, "N per_device slots"], ...]
    n_points: int

    @property
    def count(self) -> int:
        return self.own_index.shape[0]

    @property
    def own_rows(self) -> int:
        return self.own_index.shape[1]

    @property
    def halo_rows(self) -> int:
        return self.send_index.shape[2]

    @property
    def halo_points(self) -> int:
        """Point copies actually sent per evaluation (padding excluded)."""
        return int(self.send_mask.sum())

    @property
    def active_pairs(self) -> int:
        return int(sum(float(m.sum()) for m in self.pair_mask))

    def gather(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Per-point ``values`` (n, ...) in the owned layout (N, P, ...); padding rows = ``fill``."""
        out = np.asarray(values)[self.own_index]
        mask = self.own_mask.reshape(self.own_mask.shape + (1,) * (out.ndim - 2)) > 0
        return np.where(mask, out, fill).astype(out.dtype)

    def order(self) -> Int[np.ndarray, " n"]:
        """Rows of the flattened (N * P) owned layout holding points 0..n-1, in that order."""
        flat = np.full(self.n_points, -1, dtype=np.int64)
        device, row = np.nonzero(self.own_mask)
        flat[self.own_index[device, row]] = device * self.own_rows + row
        return flat

    def coordinates(self, x: Float[np.ndarray, "n d"]) -> Float[np.ndarray, "N P d"]:
        """Owned coordinates; a padding row repeats its device's first point (so the
        residual there is finite), or the first point overall when a device owns none."""
        x = np.asarray(x)
        first = np.where(self.own_mask[:, :1] > 0, self.own_index[:, :1], 0)  # (N, 1)
        index = np.where(self.own_mask > 0, self.own_index, first)
        return x[index]

    @classmethod
    def build(cls, partition: Partition, x: Float[np.ndarray, "n d"]) -> PointLayout:
        count, n = partition.count, x.shape[0]
        owner = partition.owners(x)
        owned = [np.flatnonzero(owner == a) for a in range(count)]  # ascending global order
        rows = max(max(o.size for o in owned), 1)
        own_index = np.zeros((count, rows), dtype=np.int32)
        own_mask = np.zeros((count, rows), dtype=np.float32)
        position = np.empty(n, dtype=np.int64)  # row of each point in its owner's table
        for a, o in enumerate(owned):
            own_index[a, : o.size] = o
            own_mask[a, : o.size] = 1.0
            position[o] = np.arange(o.size)

        # Which points each device's subdomains need, per level and overall.
        inside = [lv.support(x) for lv in partition.levels]  # (S_l, n) bool each
        if not all(members.any(axis=0).all() for members in inside):  # every level is a partition of unity
            raise ValueError("decomposition leaves points uncovered; increase the overlap")
        needed = np.zeros((count, n), dtype=bool)
        for members, blocks in zip(inside, partition.blocks):
            for b in range(count):
                needed[b] |= members[blocks.device == b].any(axis=0)

        # Halo: a's points in b's windows, a != b.
        halo = [[np.flatnonzero(needed[b] & (owner == a)) if a != b else np.zeros(0, dtype=np.int64) for b in range(count)] for a in range(count)]
        width = max(max((h.size for row in halo for h in row), default=0), 1)
        send_index = np.zeros((count, count, width), dtype=np.int32)
        send_mask = np.zeros((count, count, width), dtype=np.float32)
        for a in range(count):
            for b in range(count):
                h = halo[a][b]
                send_index[a, b, : h.size] = position[h]
                send_mask[a, b, : h.size] = 1.0

        # Pair tables: each device's subdomains' members, as rows of its local table.
        pair_index, pair_mask = [], []
        for members, blocks in zip(inside, partition.blocks):
            lists: list[list[np.ndarray]] = [[np.zeros(0, dtype=np.int64)] * blocks.per_device for _ in range(count)]
            for b in range(count):
                local = np.full(n, -1, dtype=np.int64)
                local[owned[b]] = np.arange(owned[b].size)
                for a in range(count):
                    local[halo[a][b]] = rows + a * width + np.arange(halo[a][b].size)
                for s in np.flatnonzero(blocks.device == b):
                    found = local[np.flatnonzero(members[s])]
                    assert np.all(found >= 0), "a subdomain's point missing from its device's table"
                    lists[b][blocks.slot[s]] = found
            slots = max(max(f.size for per in lists for f in per), 1)
            index = np.zeros((count, blocks.per_device, slots), dtype=np.int32)
            mask = np.zeros((count, blocks.per_device, slots), dtype=np.float32)
            for b in range(count):
                for k, found in enumerate(lists[b]):
                    index[b, k, : found.size] = found
                    mask[b, k, : found.size] = 1.0
            pair_index.append(index)
            pair_mask.append(mask)
        return cls(own_index, own_mask, send_index, send_mask, tuple(pair_index), tuple(pair_mask), n)

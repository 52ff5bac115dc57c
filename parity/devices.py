"""The devices a JAX computation is spread over: meshes, shardings and what they cost.

Every multi-device solver uses a one-axis mesh named :data:`AXIS` over the first
``count`` of ``jax.devices()``, so one code path runs on one device or many. On a CPU,
XLA shows several devices only when ``--xla_force_host_platform_device_count`` is in
``XLA_FLAGS`` before JAX starts: :func:`request_host_devices` sets it (``parity run
--devices N`` calls it first thing). Such devices share the host's cores: they check
that sharded code is correct, and say nothing about speed-up.

Nothing here imports JAX at module import, so the CLI can set flags before JAX starts.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from jax.sharding import Mesh, NamedSharding

AXIS = "devices"
"""Name of the mesh axis that subdomains, collocation points and batches are split over."""

_HOST_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def request_host_devices(count: int) -> None:
    """Ask XLA for at least ``count`` CPU devices, if JAX has not started yet.

    Only the CPU platform reads the flag, so it is harmless on a GPU machine. Once JAX is
    imported the device list is fixed; :func:`mesh` then says clearly if it is too short.
    """
    if count <= 1 or "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    match = re.search(rf"{_HOST_DEVICE_FLAG}=(\d+)", flags)
    if match and int(match.group(1)) >= count:
        return
    flags = re.sub(rf"\s*{_HOST_DEVICE_FLAG}=\d+", "", flags)
    os.environ["XLA_FLAGS"] = f"{flags} {_HOST_DEVICE_FLAG}={count}".strip()


def mesh(count: int) -> Mesh:
    """A one-axis mesh over the first ``count`` devices; a clear error when there are fewer."""
    import jax
    from jax.sharding import Mesh

    if count < 1:
        raise ValueError(f"device count must be an integer >= 1; got {count}")
    available = jax.devices()
    if count > len(available):
        hint = (
            f" On a CPU, start Python with XLA_FLAGS={_HOST_DEVICE_FLAG}={count} (parity run --devices {count} sets it)."
            if available[0].platform == "cpu" else ""
        )
        raise ValueError(f"{count} devices requested, but JAX sees {len(available)} ({available[0].device_kind}).{hint}")
    return Mesh(available[:count], (AXIS,))


def split(device_mesh: Mesh) -> NamedSharding:
    """Arrays split along their leading axis over the mesh."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(device_mesh, PartitionSpec(AXIS))


def replicated(device_mesh: Mesh) -> NamedSharding:
    """Arrays held whole on every device of the mesh."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(device_mesh, PartitionSpec())


def padded_size(n: int, count: int) -> int:
    """The smallest multiple of ``count`` that holds ``n`` items."""
    return math.ceil(n / count) * count


def pad_rows(rows: np.ndarray, count: int) -> np.ndarray:
    """``rows`` padded along the leading axis to a multiple of ``count`` with copies of the first row.

    The copies are real entries (finite residuals, valid indices); :func:`pad_weights`
    gives them weight 0, so a mean over the padded data is the mean over the real rows.
    """
    extra = padded_size(len(rows), count) - len(rows)
    return np.concatenate([rows, np.repeat(rows[:1], extra, axis=0)]) if extra else rows


def pad_weights(weights: np.ndarray, count: int) -> np.ndarray:
    """Weights padded to a multiple of ``count`` with zeros: the rows :func:`pad_rows` adds do not count."""
    extra = padded_size(len(weights), count) - len(weights)
    return np.concatenate([weights, np.zeros(extra, weights.dtype)]) if extra else weights


def is_simulated(backend: str, devices_in_process: int) -> bool:
    """Several CPU devices in one process are XLA's simulation: they share the same cores.

    (One CPU device per process of a multi-host job is a real host, or at least a real process.)
    """
    return backend == "cpu" and devices_in_process > 1


_COLLECTIVES = ("all-reduce", "all-gather", "all-to-all", "reduce-scatter", "collective-permute")
_COLLECTIVE = re.compile(r"=\s*(?P<result>.*?)\s(?P<op>" + "|".join(_COLLECTIVES) + r")(?:-start)?\(")
_ARRAY = re.compile(r"\b(?P<dtype>pred|[subfc]\d+|bf16|f8e\w+)\[(?P<dims>[\d,]*)\]")
_BITS = {"pred": 8, "bf16": 16}


def collective_bytes(hlo_text: str) -> dict[str, int]:
    """Bytes each device receives per execution of an optimised HLO module, by collective.

    Counts the result buffers of every collective in the module's text (as from
    ``compiled.as_text()``); an op inside a loop body is counted once, so measure a
    program that runs one step.
    """
    totals = dict.fromkeys(_COLLECTIVES, 0)
    for line in hlo_text.splitlines():
        match = _COLLECTIVE.search(line)
        if match is None:
            continue
        for array in _ARRAY.finditer(match.group("result")):
            dtype, dims = array.group("dtype"), array.group("dims")
            bits = _BITS.get(dtype) or int(re.sub(r"\D", "", dtype.split("e")[0]) or 8)
            totals[match.group("op")] += math.prod(int(d) for d in dims.split(",") if d) * bits // 8
    return {op: size for op, size in totals.items() if size}


def flops(compiled: Any) -> float | None:
    """XLA's floating-point operation count for one execution of a compiled program on one device.

    A loop body (``lax.scan``, ``fori_loop``) is counted once, whatever its trip count, so a
    program of L fused optimiser steps counts one step; None where the backend counts nothing.
    """
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    value = (cost or {}).get("flops")
    return float(value) if value is not None and value > 0 else None


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> dict[str, Any]:
    """Join a multi-host JAX job; with no arguments, JAX reads Slurm's or Open MPI's environment.

    Returns the process facts a record keeps: this process's index and the job's sizes.
    """
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU hosts talk over TCP; GPUs use NCCL regardless
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
    return {"process_index": jax.process_index(), "process_count": jax.process_count(), "global_devices": jax.device_count()}

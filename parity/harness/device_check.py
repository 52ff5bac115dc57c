"""The device check: what each SciML solver's training step achieves on this machine's accelerator.

Per solver (PINN, FBPINN and multilevel FBPINN on the 1D multi-scale and the (2+1)D wave
problem; learned gradient descent on CT; the FNO on 2D Navier–Stokes; the denoising prior of the
learned-prior solvers, trained inside a plug-and-play case on CT) one short training
is run as an ordinary sweep case, each in its own process, into a record store: its
steps per second, XLA's FLOP count of one step (``info.flops_per_step``) and the peak
device memory (``peak_device_mb``, where the backend reports it) are in the record. With
several GPUs one strong-scaling point follows: the (2+1)D FBPINN on all of them.

Two profiles: ``gpu`` sizes the networks and batches as the benchmarks run them and fits
8 minutes on one H100/H200 (data and references included); ``tiny`` runs the same
solvers at toy sizes on a CPU in about a minute, so the path is tested on any machine
(a 2-device point on XLA's simulated devices stands in for the scaling point there).
Accuracy is not the point of either: the trainings are far too short to converge.
``parity device-check`` (and ``scripts/gpu-check``) runs it and writes the report
(:mod:`parity.report.device_check`).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from parity.harness import registry
from parity.harness.run import Case
from parity.harness.store import Store
from parity.harness.sweep import Sweep, run_sweep
from parity.solvers.base import Budget

NAME = "gpu_check"

# One row per solver: (label, problem, problem knobs, solver, solver knobs, steps).
Row = tuple[str, str, dict[str, Any], str, dict[str, Any], int]

_WAVE_GPU = {"frequency": 2.0}
_CT_GPU = {"image_size": 128, "angles": 30, "n_train": 64, "n_validation": 8, "n_test": 8}
_NS_GPU = {"resolution": 64, "n_train": 40, "n_validation": 10, "n_test": 10}

PROFILES: dict[str, list[Row]] = {
    "gpu": [
        ("PINN 4x64, 1D", "multiscale_1d", {}, "pinn", {"n_collocation": 3000, "steps_per_dispatch": 500}, 5000),
        ("FBPINN 30 subdomains, 1D", "multiscale_1d", {}, "fbpinn", {"levels": [30], "steps_per_dispatch": 500}, 5000),
        ("FBPINN multilevel 1-32, 1D", "multiscale_1d", {}, "fbpinn", {"levels": [1, 2, 4, 8, 16, 32], "steps_per_dispatch": 500}, 5000),
        ("PINN 4x64, wave (2+1)D", "acoustic_wave_2d", _WAVE_GPU, "pinn", {"n_collocation": 8192, "steps_per_dispatch": 250}, 2000),
        ("FBPINN 4x4x4, wave (2+1)D", "acoustic_wave_2d", _WAVE_GPU, "fbpinn",
         {"levels": [4], "width": 32, "n_collocation": 8192, "steps_per_dispatch": 250}, 2000),
        ("FBPINN multilevel 1-4, wave (2+1)D", "acoustic_wave_2d", _WAVE_GPU, "fbpinn",
         {"levels": [1, 2, 4], "width": 32, "n_collocation": 8192, "steps_per_dispatch": 250}, 2000),
        ("learned GD, CT 128x128, batch 32", "ct_2d", _CT_GPU, "learned_gd", {"batch_size": 32, "checkpoint_every": 300}, 300),
        ("FNO-2D, NS 64x64, batch 20", "navier_stokes_operator_2d", _NS_GPU, "fno", {"checkpoint_every": 300}, 300),
        ("denoising prior U-Net 64 ch, CT 128x128, batch 32", "ct_2d", {**_CT_GPU, "n_train": 256}, "pnp_admm",
         {"prior_channels": 64, "prior_levels": 4, "prior_batch": 32, "prior_steps": 1000, "weight": 0.04, "iterations": 5}, 1),
    ],
    "tiny": [
        ("PINN 2x16, 1D", "multiscale_1d", {"n_test": 200}, "pinn", {"width": 16, "depth": 2, "n_collocation": 200}, 200),
        ("FBPINN 4 subdomains, 1D", "multiscale_1d", {"n_test": 200}, "fbpinn", {"levels": [4], "n_collocation": 200}, 200),
        ("FBPINN multilevel 1-4, 1D", "multiscale_1d", {"n_test": 200}, "fbpinn", {"levels": [1, 2, 4], "n_collocation": 200}, 200),
        ("PINN 2x16, wave (2+1)D", "acoustic_wave_2d", {"frequency": 1.0, "test_cells": 8, "test_times": 2}, "pinn",
         {"width": 16, "depth": 2, "n_collocation": 256}, 100),
        ("FBPINN 2x2x2, wave (2+1)D", "acoustic_wave_2d", {"frequency": 1.0, "test_cells": 8, "test_times": 2}, "fbpinn",
         {"levels": [2], "width": 8, "n_collocation": 256}, 100),
        ("FBPINN multilevel 1-2, wave (2+1)D", "acoustic_wave_2d", {"frequency": 1.0, "test_cells": 8, "test_times": 2}, "fbpinn",
         {"levels": [1, 2], "width": 8, "n_collocation": 256}, 100),
        ("learned GD, CT 32x32", "ct_2d", {"image_size": 32, "angles": 10, "n_train": 8, "n_validation": 4, "n_test": 4}, "learned_gd",
         {"iterations": 2, "channels": 8, "batch_size": 4, "checkpoint_every": 20}, 20),
        ("FNO-2D, NS 16x16", "navier_stokes_operator_2d", {"resolution": 16, "final_time": 12, "n_train": 4, "n_validation": 2, "n_test": 2}, "fno",
         {"modes": 4, "width": 8, "projection": 16, "batch_size": 2, "checkpoint_every": 10}, 10),
        ("denoising prior U-Net 8 ch, CT 32x32", "ct_2d", {"image_size": 32, "angles": 10, "n_train": 16, "n_validation": 4, "n_test": 4},
         "pnp_admm", {"prior_channels": 8, "prior_batch": 4, "prior_steps": 20, "weight": 0.04, "iterations": 2}, 1),
    ],
}
SCALED = {"gpu": 4, "tiny": 4}
"""Which row of each profile is repeated on all devices for the strong-scaling point (the (2+1)D FBPINN)."""
TIMEOUT_S = {"gpu": 150.0, "tiny": 300.0}
"""Per case: a GPU case that takes longer than this has gone wrong (the profile fits 8 minutes in all)."""


def cases(profile: str, devices: int) -> list[Case]:
    """The profile's cases, plus the strong-scaling point on ``devices`` devices when there are several."""
    if profile not in PROFILES:
        raise ValueError(f"unknown device-check profile {profile!r}; allowed: {', '.join(PROFILES)}")
    rows = PROFILES[profile]
    out = [_case(row, 1) for row in rows]
    if devices > 1:
        out.append(_case(rows[SCALED[profile]], devices))
    return out


def _case(row: Row, devices: int) -> Case:
    label, problem, problem_knobs, solver, solver_knobs, steps = row
    return Case(
        registry.problem_class(problem).from_overrides(problem_knobs),
        registry.solver_class(solver).from_overrides(solver_knobs),
        seed=0,
        budget=Budget(steps=steps, devices=devices),
        label=label if devices == 1 else f"{label}, {devices} devices",
        scaling="strong" if devices > 1 else "",
    )


def accelerator() -> tuple[str, int]:
    """The JAX backend and its device count, asked of a child process.

    Asking here would start the backend in this process, which on a GPU reserves most of
    its memory for the rest of the check and leaves the cases too little.
    """
    probe = "import jax; print(jax.default_backend(), jax.device_count())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    backend, count = done.stdout.split()[-2:]
    return backend, int(count)


def run(profile: str, store: Store, devices: int, *, quiet: bool = False) -> list[dict[str, Any]]:
    """Run the profile's unfinished cases into ``store`` (a rerun resumes) and return the records of all of them."""
    check = cases(profile, devices)
    sweep = Sweep(NAME, f"device check, {profile} profile", tuple(check), TIMEOUT_S[profile])
    run_sweep(sweep, store, quiet=quiet)
    keys = {case.key() for case in check}
    latest: dict[str, dict[str, Any]] = {}
    for record in sorted(store.raw_records(quiet=True), key=lambda r: r["created_utc"]):
        if record["case_key"] in keys:
            latest[record["case_key"]] = record
    return [latest[case.key()] for case in check if case.key() in latest]

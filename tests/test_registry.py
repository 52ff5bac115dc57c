"""Plugins: built-ins and third-party packages register the same way; broken ones are skipped."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import parity.numerics
from parity.harness import registry

PLUGIN = '''
import dataclasses
from typing import ClassVar
from parity.problems import MultiScale1D
from parity.problems.base import ForwardProblem


@dataclasses.dataclass(frozen=True)
class ShiftedWave(MultiScale1D):
    name: ClassVar[str] = "shifted_wave"


class NotAProblem:
    pass
'''

ENTRY_POINTS = """
[parity.problems]
shifted_wave = thirdparty_plugin:ShiftedWave
broken = thirdparty_missing_module:Thing
imposter = thirdparty_plugin:NotAProblem
"""


@pytest.fixture
def third_party_package(tmp_path: Path) -> Iterator[Path]:
    """An installed-looking distribution: a module plus its .dist-info with entry points."""
    (tmp_path / "thirdparty_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "thirdparty_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(tmp_path))
    registry.refresh()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("thirdparty_plugin", None)
    registry.refresh()


def test_builtins_register_through_entry_points() -> None:
    assert list(registry.problems()) == ["acoustic_wave_2d", "burgers_1d", "burgers_assimilation_1d", "burgers_operator_1d", "ct_2d", "darcy_operator_2d",
                                         "helmholtz_2d", "kolmogorov_2d", "kolmogorov_assimilation_2d", "kovasznay_2d", "lid_cavity_2d", "lorenz96", "mri_2d", "multiscale_1d",
                                         "navier_stokes_operator_2d", "poisson_multiscale_2d", "seismic_fwi_2d", "turbulence_2d"]
    assert set(registry.solvers()) == {
        "calibration", "chebyshev", "climatology", "coarse_grid", "deeponet", "devito", "diffpir", "dip_tv", "dps", "etkf", "fbp", "fbpinn", "fem",
        "fem_ns", "fno", "four_d_var", "fwi", "learned_correction", "learned_fwi", "learned_gd", "learned_pd", "odil", "pinn", "pinn_assimilation",
        "pinn_fwi", "pnp_admm", "post_unet", "rk_ode", "spectral", "starting_model", "three_d_var", "tv", "wcrr", "zero_filled"}
    assert registry.solvers_for(registry.problem_class("acoustic_wave_2d")()) == ["devito", "fbpinn", "pinn"]
    assert registry.solvers_for(registry.problem_class("helmholtz_2d")()) == ["fbpinn", "fem", "pinn"]
    assert registry.solvers_for(registry.problem_class("burgers_1d")()) == ["fbpinn", "pinn", "spectral"]
    assert registry.solvers_for(registry.problem_class("lid_cavity_2d")()) == ["fbpinn", "fem_ns", "pinn"]
    assert registry.solvers_for(registry.problem_class("turbulence_2d")()) == ["pinn", "spectral"]  # periodic: no FBPINN
    assert registry.solvers_for(registry.problem_class("ct_2d")()) == ["diffpir", "dip_tv", "dps", "fbp", "learned_gd", "learned_pd", "pnp_admm",
                                                                          "post_unet", "tv", "wcrr"]
    assert registry.solvers_for(registry.problem_class("mri_2d")()) == ["diffpir", "dip_tv", "dps", "learned_gd", "learned_pd", "pnp_admm",
                                                                           "post_unet", "tv", "wcrr", "zero_filled"]
    assert registry.solvers_for(registry.problem_class("seismic_fwi_2d")()) == ["fwi", "learned_fwi", "pinn_fwi", "starting_model"]  # nonlinear: no TV
    for operator_problem in ("burgers_operator_1d", "navier_stokes_operator_2d", "darcy_operator_2d"):
        assert registry.solvers_for(registry.problem_class(operator_problem)()) == ["coarse_grid", "deeponet", "fno"]
    assert registry.solvers_for(registry.problem_class("kolmogorov_2d")()) == ["calibration", "coarse_grid", "learned_correction"]  # inputs on a finer grid
    assert registry.solvers_for(registry.problem_class("lorenz96")()) == ["climatology", "etkf", "four_d_var", "three_d_var"]
    assert registry.solvers_for(registry.problem_class("burgers_assimilation_1d")()) == ["climatology", "etkf", "four_d_var", "odil", "pinn_assimilation"]
    assert registry.solvers_for(registry.problem_class("kolmogorov_assimilation_2d")()) == ["climatology", "etkf", "four_d_var", "pinn_assimilation"]
    problem = registry.problem_class("multiscale_1d")()
    assert registry.solvers_for(problem) == ["chebyshev", "fbpinn", "pinn", "rk_ode"]


def test_third_party_plugin_is_first_class_and_broken_ones_are_skipped(
    third_party_package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = registry.problems()
    assert "shifted_wave" in problems and "multiscale_1d" in problems
    assert "broken" not in problems and "imposter" not in problems
    assert "fbpinn" in registry.solvers_for(problems["shifted_wave"]())
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("parity: skipped plugin 'broken' (thirdparty_missing_module:Thing): ModuleNotFoundError") for line in err)
    assert any(line.startswith("parity: skipped plugin 'imposter'") and "not a Problem subclass" in line for line in err)
    assert len(err) == 2  # one line per bad plugin


def test_unknown_names_list_what_exists() -> None:
    with pytest.raises(registry.UnknownNameError, match=r"unknown solver 'lattice_boltzmann'; available: calibration, chebyshev, climatology, coarse_grid, "
                       r"deeponet, devito, diffpir, dip_tv, dps, etkf, fbp, fbpinn, fem, fem_ns, fno, four_d_var, fwi, learned_correction, learned_fwi, "
                       r"learned_gd, learned_pd, odil, pinn, pinn_assimilation, pinn_fwi, pnp_admm, post_unet, rk_ode, spectral, starting_model, three_d_var, tv, "
                       r"wcrr, zero_filled"):
        registry.solver_class("lattice_boltzmann")


def test_every_numerics_module_imports_first_in_a_fresh_interpreter() -> None:
    """``import parity`` no longer imports the problems first, so a cycle through them shows here."""
    names = [f"parity.numerics.{m.name}" for m in pkgutil.iter_modules(parity.numerics.__path__)]
    launched = {name: subprocess.Popen([sys.executable, "-c", f"import {name}"], stderr=subprocess.PIPE, text=True) for name in names}
    failed = {name: process.communicate(timeout=300)[1].strip().splitlines()[-1:] for name, process in launched.items()}
    assert {name: error for name, error in failed.items() if launched[name].returncode} == {}

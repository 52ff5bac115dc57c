"""What a whole ``parity run`` process pays besides training: imports, compilations, the final evaluation.

Speed itself is measured in ``benchmarks/overhead.py``; these tests check the mechanisms
that keep it small, and that none of them changes what a record says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import silent

from parity.harness import registry
from parity.problems import MultiScale1D
from parity.solvers import FBPINN, PINN, Budget, Evaluator, Solver

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
"""JAX's event for every program XLA compiles."""

_compilations: list[str] = []
jax.monitoring.register_event_duration_secs_listener(lambda event, _seconds, **_: _compilations.append(event) if event == BACKEND_COMPILE else None)


def test_looking_up_one_plugin_imports_no_other() -> None:
    """A forward SciML run loads neither pandas (it writes a record, it reads none) nor SciPy's statistics, integrators or splines, scikit-image, DOLFINx or Devito."""
    script = (
        "import json, sys\n"
        "import parity.cli, parity.harness.run\n"
        "from parity.harness import registry\n"
        "registry.problem_class('multiscale_1d'); registry.solver_class('fbpinn')\n"
        "heavy = ('pandas', 'scipy.stats', 'scipy.integrate', 'scipy.interpolate', 'skimage', 'dolfinx', 'devito', 'matplotlib',\n"
        "         'parity.problems.acoustic_wave_2d', 'parity.problems.burgers_1d', 'parity.solvers.pde.fem_poisson')\n"
        "print(json.dumps([name for name in heavy if name in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout) == []


def test_collocation_points_are_scipys_halton_points_and_a_rerun_loads_them_without_scipy_stats(cache_dir: dict[str, str]) -> None:
    """The cached points are SciPy's, bit for bit, under both seeding keywords; a run that finds them cached skips ``scipy.stats``."""
    script = (
        "import json, sys\n"
        "import numpy as np\n"
        "from parity.problems.burgers_1d import Burgers1D\n"
        "from parity.problems.turbulence_2d import DecayingTurbulence2D\n"
        "points = {'burgers': Burgers1D().collocation_points(300).tolist(), 'turbulence': DecayingTurbulence2D().collocation_points(200).tolist()}\n"
        "print(json.dumps({'points': points, 'scipy.stats': 'scipy.stats' in sys.modules}))\n"
    )
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120, env=cache_dir).stdout)
            for _ in range(2)]
    from scipy.stats import qmc

    burgers = qmc.scale(qmc.Halton(d=2, scramble=True, rng=np.random.default_rng(7)).random(300), [-1.0, 0.0], [1.0, 1.0])
    turbulence = qmc.Halton(d=3, scramble=True, seed=11).random(200) * np.array([2 * np.pi, 2 * np.pi, 1.0])
    for run in runs:
        assert np.array_equal(run["points"]["burgers"], burgers) and np.array_equal(run["points"]["turbulence"], turbulence)
    assert runs[0]["scipy.stats"] and not runs[1]["scipy.stats"]


def test_an_unknown_name_still_lists_every_plugin() -> None:
    with pytest.raises(registry.UnknownNameError, match=r"unknown problem 'nope'; available: acoustic_wave_2d, burgers_1d, .*multiscale_1d"):
        registry.problem_class("nope")
    assert registry.problem_class("multiscale_1d") is MultiScale1D
    assert registry.solver_class("pinn") is PINN


@pytest.mark.parametrize("solver", [PINN(width=8, depth=1, n_collocation=64, steps_per_dispatch=10),
                                    FBPINN(levels=(4,), width=4, depth=1, n_collocation=64, steps_per_dispatch=10)],
                         ids=["pinn", "fbpinn"])
def test_the_final_prediction_on_the_test_points_reuses_the_checkpoints_program(solver: Solver) -> None:
    """No compilation after training for the test points, and the record's errors are the last checkpoint's, exactly."""
    problem = MultiScale1D(n_test=500)
    x_test = problem.test_points()
    evaluator = Evaluator(x_test, problem.reference(x_test))
    result = solver.solve(problem, Budget(steps=30), 0, evaluator, silent)
    assert result.predict is not None
    before = len(_compilations)
    values = result.predict(x_test)
    again = result.predict(x_test.copy())  # equal points, another array: the same program
    assert len(_compilations) == before
    assert evaluator(values) == result.trace[-1].metrics
    np.testing.assert_array_equal(again, values)
    elsewhere = result.predict(x_test[:100])  # other points: the solver's general prediction, compiled for them
    assert len(_compilations) > before
    np.testing.assert_allclose(elsewhere, values[:100], rtol=1e-5, atol=1e-6)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {**os.environ, "PARITY_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}


def _run(env: dict[str, str], store: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    command = [sys.executable, "-m", "parity", "run", "multiscale_1d", "--solver", "fbpinn", "--set", "levels=8", "--set", "width=8",
               "--steps", "200", "--store", str(store), "--quiet", "--json", *extra]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True, timeout=300, env=env).stdout)


def test_programs_from_the_compilation_cache_keep_their_compile_seconds(cache_dir: dict[str, str], tmp_path: Path) -> None:
    """A rerun loads its programs from the cache: it says so, and its compile seconds stay those of compiling them."""
    off = _run(cache_dir, tmp_path / "store", "--no-compilation-cache")
    first = _run(cache_dir, tmp_path / "store")
    second = _run(cache_dir, tmp_path / "store")
    assert off["info"]["compile_cache"] == "off" and off["compile_s"] == off["compile_spent_s"]
    assert first["info"]["compile_cache"] == "miss" and first["compile_s"] == first["compile_spent_s"]
    assert second["info"]["compile_cache"] == "hit"
    assert second["compile_s"] == first["compile_s"]  # read back from beside the cache, not re-measured
    assert second["compile_spent_s"] < second["compile_s"]
    assert off["rel_l2"] == first["rel_l2"] == second["rel_l2"]  # a loaded program computes what a compiled one does

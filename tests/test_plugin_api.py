"""The plugin recipe, as a user follows it: the README's section, parity.api, examples/plugin, and the moved paths.

The example plugin is pip-installed into a fresh virtual environment that sees the installed
Parity, then listed, run and reported through the CLI, beside copies of the committed store
and reports; the README's plugin section names only what imports; every old module path a
plugin could have used still imports, warns and gives the same module.
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pytest

from parity import moved
from parity.harness.store import Store

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"
SECTION = "## Adding a problem or solver from your own package"


def _cli(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(python), "-m", "parity", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"parity {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment that sees the installed Parity (through a .pth file), with the example plugin pip-installed."""
    venv = tmp_path_factory.mktemp("plugin_venv")
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # addsitedir, not a bare path: Parity's own editable-install .pth files in that directory must run too.
    (site / "parity_base.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    source = tmp_path_factory.mktemp("plugin_source") / "plugin"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir", str(source)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    return python


def test_the_example_plugin_is_listed_run_and_reported_through_the_cli(plugin_python: Path, tmp_path: Path) -> None:
    listing = _cli(plugin_python, "list", cwd=tmp_path)
    assert "skipped plugin" not in listing.stderr
    heat = listing.stdout[listing.stdout.index("heat_1d"):]
    assert "crank_nicolson" in heat and "heat_pinn" in heat

    store = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "poisson_2d", store)  # the plugin's records go beside committed ones
    committed = len(Store(store).raw_records())
    _cli(plugin_python, "run", "heat_1d", "--solver", "crank_nicolson", "--set", "resolutions=8,16,32,64,128",
         "--store", str(store), "--quiet", cwd=tmp_path)
    _cli(plugin_python, "run", "heat_1d", "--solver", "heat_pinn", "--steps", "600", "--store", str(store), "--quiet", cwd=tmp_path)

    records = {r["solver"]: r for r in Store(store).raw_records() if r["problem"] == "heat_1d"}
    assert len(Store(store).raw_records()) == committed + 2 and set(records) == {"crank_nicolson", "heat_pinn"}
    assert all(r["status"] == "ok" for r in records.values())
    curve = Store(store).trace(records["crank_nicolson"])
    n, error = np.sqrt(curve["step"].to_numpy()), curve["rel_l2"].to_numpy()
    orders = np.log(error[:-1] / error[1:]) / np.log(n[1:] / n[:-1])
    assert np.all(np.abs(orders - 2.0) < 0.15), f"Crank-Nicolson should converge at second order; observed {orders}"
    assert error[-1] < 3e-4, error
    assert records["heat_pinn"]["rel_l2"] < 2e-2  # measured: 1.7e-3 to 2.0e-3 at 600 steps, seeds 0-2

    reports = tmp_path / "reports"
    for verdict in (ROOT / "reports").glob("*/verdict.json"):  # the committed reports, as the index reads them
        (reports / verdict.parent.name).mkdir(parents=True)
        shutil.copy(verdict, reports / verdict.parent.name)
    _cli(plugin_python, "report", "--store", str(store), "--problem", "heat_1d", "--name", "heat_1d", "--reports-dir", str(reports), cwd=tmp_path)
    report = (reports / "heat_1d" / "index.md").read_text()
    assert "crank_nicolson" in report and "heat_pinn" in report
    _cli(plugin_python, "report", "--index-only", "--reports-dir", str(reports), cwd=tmp_path)
    index = (reports / "index.md").read_text()
    assert "heat_1d/index.md" in index and "poisson_2d/index.md" in index


def test_the_pinn_of_the_example_reaches_a_sane_error_over_seeds() -> None:
    """The SciML solver, in process (the example's package on sys.path): each of three seeds well below 1e-2."""
    sys.path.insert(0, str(PLUGIN))
    try:
        from parity.api import Budget
        from parity_heat_example.heat import Heat1D
        from parity_heat_example.heat_pinn import HeatPINN
    finally:
        sys.path.remove(str(PLUGIN))
    problem = Heat1D(n_test=500)
    errors = [HeatPINN().solve(problem, Budget(steps=400), seed, problem.evaluator(), lambda *_: None).trace[-1].metrics["rel_l2"]
              for seed in range(3)]
    assert max(errors) < 1e-2, errors


def _plugin_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:] if end < 0 else text[start:end]


def test_every_dotted_name_the_readme_plugin_section_mentions_imports() -> None:
    names = sorted(set(re.findall(r"`(parity(?:\.\w+)+)", _plugin_section())))
    assert "parity.api" in names
    missing = []
    for name in names:
        module, _, attribute = name.rpartition(".")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the section names old paths on purpose; their warnings are tested below
            try:
                importlib.import_module(name)
            except ModuleNotFoundError:
                if not hasattr(importlib.import_module(module), attribute):
                    missing.append(name)
    assert not missing, f"the README's plugin section names what does not import: {missing}"


def test_every_class_the_readme_plugin_section_names_is_in_parity_api() -> None:
    import builtins

    import parity.api

    classes = set(re.findall(r"`([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)[`(]", _plugin_section())) - set(dir(builtins))
    assert {"ForwardProblem", "Solver", "TrainingTask", "TrainingRecipe"} <= classes
    assert sorted(classes - set(parity.api.__all__)) == []


def test_the_example_plugin_imports_only_from_parity_api() -> None:
    imported = {m for path in PLUGIN.rglob("*.py") for m in re.findall(r"^\s*(?:from|import) (parity\S*)", path.read_text(), re.M)}
    assert {m for m in imported if not m.startswith("parity_heat_example")} == {"parity.api"}


def test_the_public_api_names_resolve_and_nothing_inside_parity_imports_it() -> None:
    api = importlib.import_module("parity.api")
    assert all(hasattr(api, name) for name in api.__all__) and len(set(api.__all__)) == len(api.__all__)
    unlisted = [name for name in api.__all__ if not re.search(rf"``{name}\b", api.__doc__ or "")]
    assert unlisted == [], "the module docstring lists every public name by its role"
    users = [str(path.relative_to(ROOT)) for folder in ("parity", "problems", "solvers") for path in (ROOT / folder).rglob("*.py")
             if path != ROOT / "parity" / "api.py" and _imports_api(path)]
    assert users == [], "parity.api is a facade for plugins: importing it inside Parity would load everything for every command"


def _imports_api(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(alias.name == "parity.api" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module == "parity.api" or (node.module == "parity" and any(a.name == "api" for a in node.names))):
            return True
    return False


@pytest.fixture
def forget_old_paths() -> None:
    """Old paths imported by earlier tests would be served from sys.modules, without the warning under test."""
    for old in moved.MODULES:
        sys.modules.pop(old, None)
        package, _, name = old.rpartition(".")
        if package in sys.modules:
            vars(sys.modules[package]).pop(name, None)  # the import system binds a loaded submodule on its package


@pytest.mark.usefixtures("forget_old_paths")
@pytest.mark.parametrize("old", sorted(moved.MODULES))
def test_an_old_module_path_imports_the_new_module_with_a_warning(old: str) -> None:
    new = moved.MODULES[old]
    with pytest.warns(DeprecationWarning, match=re.escape(new)):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__.name == new and module.__name__ == new  # the module keeps its own identity


@pytest.mark.usefixtures("forget_old_paths")
def test_the_forms_a_plugin_used_still_work() -> None:
    with pytest.warns(DeprecationWarning, match=r"parity\.solvers\.refinement moved to parity\.solvers\.pde\.refinement") as caught:
        from parity.solvers.refinement import refinement_sweep
    assert caught[0].filename == __file__  # attributed to the importing line, where the fix goes
    from parity.solvers.pde.refinement import refinement_sweep as new_sweep

    assert refinement_sweep is new_sweep
    with pytest.warns(DeprecationWarning, match="parity.solvers.physics_informed.training"):
        import parity.solvers.training as training
    assert training is sys.modules["parity.solvers.physics_informed.training"]
    import parity.solvers

    with pytest.warns(DeprecationWarning, match="parity.solvers.physics_informed.pinn"):
        assert parity.solvers.pinn.PINN is parity.solvers.PINN  # attribute access, as the old package's import gave
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("parity.solvers.no_such_module")


@pytest.mark.parametrize("module, names", sorted(moved.RENAMED.items()))
def test_a_renamed_name_still_imports_under_its_old_name_with_a_warning(module: str, names: dict[str, str]) -> None:
    for old, new in names.items():
        with pytest.warns(DeprecationWarning, match=re.escape(f"{module}.{new}")):
            value = getattr(importlib.import_module(module), old)
        assert value is getattr(importlib.import_module(module), new)


@pytest.mark.parametrize("module, names", sorted(moved.NAMES.items()))
def test_a_name_that_left_its_module_still_imports_from_it_with_a_warning(module: str, names: dict[str, str]) -> None:
    for name, new in names.items():
        with pytest.warns(DeprecationWarning, match=re.escape(f"{new}.{name}")):
            value = getattr(importlib.import_module(module), name)
        assert value is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError), warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(importlib.import_module(module), "no_such_name")

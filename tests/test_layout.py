"""The repository's layout: top-level problems/ and solvers/ installed as parity.problems and parity.solvers.

The import names must resolve wherever a user or a tool imports them: a fresh
interpreter inside the checkout (where the harness folder ``parity/`` comes first on
``sys.path``) and outside it, and through the plain directory on ``sys.path`` that
static tools read. Imports must also keep flowing one way.
"""

from __future__ import annotations

import ast
import re
import json
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"parity": ROOT / "parity", "parity.problems": ROOT / "problems", "parity.solvers": ROOT / "solvers"}
PROBE = """
import json, parity.problems.base, parity.problems.inverse, parity.solvers.base, parity.harness.run, parity.cli
import parity.solvers.physics_informed.training, parity.solvers.pde.refinement, parity.solvers.reconstruction.fbp
import parity.solvers.seismic.fwi
mods = [parity.problems.base, parity.solvers.base, parity.solvers.physics_informed.training, parity.solvers.pde.refinement,
        parity.solvers.reconstruction.fbp, parity.solvers.seismic.fwi, parity.harness.run, parity.cli]
print(json.dumps({m.__name__: __import__("os").path.realpath(m.__file__) for m in mods}))
"""


@pytest.mark.parametrize("where", ["checkout", "elsewhere"])
def test_import_names_resolve_to_the_top_level_folders(where: str, tmp_path: Path) -> None:
    cwd = ROOT if where == "checkout" else tmp_path
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, capture_output=True, text=True, timeout=300, check=True).stdout
    files = {name: Path(path) for name, path in json.loads(out.splitlines()[-1]).items()}
    assert files["parity.problems.base"] == ROOT / "problems" / "base.py"
    assert files["parity.solvers.base"] == ROOT / "solvers" / "base.py"
    assert files["parity.solvers.physics_informed.training"] == ROOT / "solvers" / "physics_informed" / "training.py"
    assert files["parity.solvers.seismic.fwi"] == ROOT / "solvers" / "seismic" / "fwi.py"
    assert files["parity.harness.run"] == ROOT / "parity" / "harness" / "run.py"


def test_the_installed_tree_is_a_plain_directory_static_tools_can_read() -> None:
    """mypy and pyright follow .pth directories, not import hooks: the editable install must be one."""
    site = Path(sysconfig.get_paths()["purelib"])
    entries = [Path(line.strip()) for pth in site.glob("__editable__*parity*.pth") for line in pth.read_text().splitlines()]
    trees = [entry for entry in entries if (entry / "parity").is_dir()]
    if not trees:
        pytest.skip("Parity is not installed editable in strict mode here (scripts/setup does that)")
    tree = trees[0] / "parity"
    assert (tree / "py.typed").exists()
    assert (tree / "problems" / "base.py").resolve() == ROOT / "problems" / "base.py"
    assert (tree / "solvers" / "physics_informed" / "pinn.py").resolve() == ROOT / "solvers" / "physics_informed" / "pinn.py"


def test_every_package_folder_is_declared_for_the_wheel() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join((name, *init.parent.relative_to(folder).parts))
        for name, folder in FOLDERS.items() for init in folder.rglob("__init__.py")
    }
    assert found == declared


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _offenders(files: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {str(f.relative_to(ROOT)): sorted(n for n in _imports(f) if n.startswith(forbidden)) for f in files}
    return {name: bad for name, bad in found.items() if bad}


def test_numerics_and_operators_import_no_problem_or_solver() -> None:
    files = [*(ROOT / "parity" / "numerics").glob("*.py"), ROOT / "parity" / "operators.py"]
    assert _offenders(files, ("parity.problems", "parity.solvers")) == {}


def test_problems_import_no_solver_and_nothing_below_the_cli_imports_it() -> None:
    assert _offenders(list((ROOT / "problems").rglob("*.py")), ("parity.solvers", "parity.harness", "parity.report")) == {}
    below_cli = [f for f in (ROOT / "parity").rglob("*.py") if f.name not in ("cli.py", "__main__.py")]
    assert _offenders(below_cli, ("parity.cli",)) == {}


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", ["README.md", "reports/index.md"])
def test_every_link_of_the_front_pages_names_a_committed_file(page: str) -> None:
    """A link to a report or store that git ignores works here and is broken in every clone."""
    targets = sorted({m for m in LINK.findall((ROOT / page).read_text()) if "://" not in m})
    assert targets, f"{page} links nothing"
    missing = [t for t in targets if not (ROOT / page).parent.joinpath(t).exists()]
    assert not missing, f"{page} links files that are not there: {missing}"
    if (ROOT / ".git").exists():
        paths = [str((ROOT / page).parent.joinpath(t).resolve().relative_to(ROOT)) for t in targets]
        ignored = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True).stdout.split()
        assert not ignored, f"{page} links files that git ignores, so clones lack them: {ignored}"

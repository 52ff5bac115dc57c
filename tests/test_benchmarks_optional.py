"""The asv suite without the optional peers (the extra ``peers``: PyTorch, ``neuraloperator`` and ``deepinv``).

asv counts a benchmark as skipped only when its setup raises ``NotImplementedError``; any other
error, or a ``NotImplementedError`` from the benchmark itself, is a failure and ``asv run`` exits 2.
The benchmarks are driven here through asv's own discovery and setup calls, as ``asv run`` does,
with the peers made unimportable.
"""

from __future__ import annotations

import ast
import importlib.abc
import itertools
import math
import sys
import tomllib
from pathlib import Path

import pytest
from asv_runner.discovery import disc_benchmarks

REPOSITORY = Path(__file__).resolve().parent.parent
BENCHMARKS = REPOSITORY / "benchmarks"
PEER_MODULES = {"torch": "torch", "neuraloperator": "neuralop", "deepinv": "deepinv"}
"""The extra ``peers``' distributions and the modules they install."""
JAX_SPEED, TORCH_SPEED = 8.0, 2.0
"""Stand-in steps per second: the JAX training is not what these tests are about."""
PARITY_SECONDS, DEEPINV_SECONDS = 0.02, 0.05
"""Stand-in seconds per DPS step."""


class _Absent(importlib.abc.MetaPathFinder):
    """Finds the peers nowhere, as an environment without them would.

    (A ``None`` entry in ``sys.modules`` would not do: SciPy takes any ``torch`` key there for PyTorch.)
    """

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name.split(".")[0] in PEER_MODULES.values():
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _without_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the peers unimportable and every benchmarks module import afresh."""
    monkeypatch.setattr(sys, "meta_path", [_Absent(), *sys.meta_path])
    fresh = set(PEER_MODULES.values()) | {"benchmarks"}
    for name in [name for name in sys.modules if name.split(".")[0] in fresh]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(REPOSITORY))


def _imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_peers_listed_here_are_the_projects_optional_extra() -> None:
    extras = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    distributions = {requirement.split(">")[0].split("=")[0].split("<")[0].strip() for requirement in extras["peers"]}
    assert distributions == set(PEER_MODULES)


def test_only_neural_operators_and_learned_priors_use_a_peer() -> None:
    """So the FNO and DPS tests below cover every benchmark that could miss one."""
    users = {path.name for path in BENCHMARKS.glob("*.py") if _imported_modules(path) & set(PEER_MODULES.values())}
    assert users == {"neural_operators.py", "learned_priors.py"}


def test_every_benchmark_module_imports_without_the_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_peers(monkeypatch)
    found = {benchmark.name.split(".")[0] for benchmark in disc_benchmarks(str(BENCHMARKS))}
    assert found == {path.stem for path in BENCHMARKS.glob("*.py") if not path.stem.startswith("_")}


def _outcomes(monkeypatch: pytest.MonkeyPatch, benchmark_class: str, stubs: dict[str, object]) -> dict[tuple[str, ...], float | None]:
    """Each benchmark of ``benchmark_class`` (``module.Class``): its value per (benchmark, *parameters), None where asv skips it.

    The module's functions named in ``stubs`` are replaced; the rest really run, without the peers.
    """
    _without_peers(monkeypatch)
    benchmarks = [b for b in disc_benchmarks(str(BENCHMARKS)) if b.name.startswith(f"{benchmark_class}.")]
    module = sys.modules[f"benchmarks.{benchmark_class.split('.')[0]}"]
    monkeypatch.setattr(module, "cache_compilations", lambda: None)  # leaves this process's JAX settings alone
    for name, stub in stubs.items():
        monkeypatch.setattr(module, name, stub)
    outcomes: dict[tuple[str, ...], float | None] = {}
    cache = benchmarks[0].do_setup_cache()
    for benchmark in benchmarks:
        benchmark.set_cache(cache)
        for index, labels in enumerate(itertools.product(*benchmark.params)):  # asv's order; labels are reprs
            benchmark.set_param_idx(index)
            skipped = benchmark.do_setup()  # True: NotImplementedError in a setup; anything else raises here
            outcomes[(benchmark.name.split(".")[-1], *(label.strip("'") for label in labels))] = None if skipped else benchmark.do_run()
    return outcomes


def _fno_outcomes(monkeypatch: pytest.MonkeyPatch, torch_speed: float | None) -> dict[tuple[str, ...], float | None]:
    """The FNO benchmarks' outcomes; the torch side really runs (and finds the peers missing) unless ``torch_speed`` stands in for it."""
    stubs: dict[str, object] = {"jax_steps_per_second": lambda *setting: JAX_SPEED}
    if torch_speed is not None:
        stubs["torch_steps_per_second"] = lambda *setting: torch_speed
    return _outcomes(monkeypatch, "neural_operators.FNOTrainingSpeed", stubs)


def test_fno_benchmarks_are_skipped_in_setup_without_the_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = _fno_outcomes(monkeypatch, torch_speed=None)
    ran = {key: value for key, value in outcomes.items() if value is not None}
    assert set(ran) == {("track_steps_per_second", network, "parity (JAX)") for network in ("1d", "2d")}
    assert all(value == JAX_SPEED for value in ran.values())
    assert len(outcomes) == 8  # 2 benchmarks x 2 networks x 2 implementations, the rest skipped


def test_fno_ratio_runs_once_per_network_with_the_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The skip above is the peers' absence, not a benchmark that never runs."""
    outcomes = _fno_outcomes(monkeypatch, torch_speed=TORCH_SPEED)
    for network in ("1d", "2d"):
        assert outcomes["track_steps_per_second", network, "neuraloperator (PyTorch)"] == TORCH_SPEED
        assert math.isclose(outcomes["track_jax_over_torch", network, "parity (JAX)"], JAX_SPEED / TORCH_SPEED)
        assert outcomes["track_jax_over_torch", network, "neuraloperator (PyTorch)"] is None


def _dps_outcomes(monkeypatch: pytest.MonkeyPatch, deepinv_seconds: float | None) -> dict[tuple[str, ...], float | None]:
    """The DPS comparison's outcomes, each stand-in step returning its seconds.

    The deepinv side really builds without the peers (and finds them missing) unless ``deepinv_seconds`` stands in for it.
    """
    stubs: dict[str, object] = {"parity_step": lambda image_size: lambda: PARITY_SECONDS, "seconds_per_step": lambda step: step()}
    if deepinv_seconds is not None:
        stubs["deepinv_step"] = lambda image_size: lambda: deepinv_seconds
    return _outcomes(monkeypatch, "learned_priors.DPSStepSpeed", stubs)


def test_dps_peer_benchmarks_are_skipped_in_setup_without_the_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = _dps_outcomes(monkeypatch, deepinv_seconds=None)
    ran = {key: value for key, value in outcomes.items() if value is not None}
    assert set(ran) == {("track_seconds_per_step", size, "parity (JAX)") for size in ("64", "128")}
    assert all(value == PARITY_SECONDS for value in ran.values())
    assert len(outcomes) == 8  # 2 benchmarks x 2 sizes x 2 implementations, the rest skipped


def test_dps_ratio_runs_once_per_size_with_the_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The skip above is the peers' absence, not a benchmark that never runs."""
    outcomes = _dps_outcomes(monkeypatch, deepinv_seconds=DEEPINV_SECONDS)
    for size in ("64", "128"):
        assert outcomes["track_seconds_per_step", size, "deepinv (PyTorch)"] == DEEPINV_SECONDS
        assert math.isclose(outcomes["track_parity_over_deepinv", size, "parity (JAX)"], PARITY_SECONDS / DEEPINV_SECONDS)
        assert outcomes["track_parity_over_deepinv", size, "deepinv (PyTorch)"] is None

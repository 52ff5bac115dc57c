"""Parametric problems for operator learning: a family of instances, each an input field and its solution.

An operator-learning problem owns three disjoint splits of instances, as an inverse problem
does: ``train`` (surrogates fit on it), ``validation`` (checkpoints are chosen on it) and
``test`` (the harness scores on it). Instance ``i`` of a split is drawn from its own seed
stream ``(split, i)``, so the splits cannot share an instance and a smaller split is a
prefix of a larger one. Each instance is solved by the problem's classical reference at a
resolution shown converged (``reference_resolution``), and the seconds that took are kept
with the data: training data is a cost a surrogate must be charged for.

Fields live on the problem's *learning grid* (``grid_shape``), channels first:
``inputs[i]`` is ``(input_channels, *grid_shape)`` and ``outputs[i]`` is
``(output_channels, *grid_shape)``; a problem whose inputs carry more than the learning grid
holds (an initial state at the reference's resolution, which finer classical solves start
from) gives them on ``input_grid_shape``. Through the harness the evaluator's "points" are the test
inputs and its reference the test outputs; errors are per instance, ``rel_l2`` being the mean
over the test instances of ``|u - u*|_2 / |u*|_2`` (the operator-learning literature's figure).

Problems that a classical method can solve from the same input at a chosen resolution (a
coarser grid, a coarser mesh) implement :class:`CoarseSolvable`; a refinement sweep of such
solves is the classical side of "same accuracy, how fast?".
"""

from __future__ import annotations

import abc
import functools
import time
from typing import ClassVar, NamedTuple

import numpy as np
from jaxtyping import Float

from parity import cache
from parity.evaluation import Evaluator
from parity.knobs import ParameterError
from parity.problems.base import Problem, Snapshot
from parity.problems.inverse import SPLITS, Split


class OperatorData(NamedTuple):
    inputs: Float[np.ndarray, "n cin *grid"]
    """Input fields on the learning grid (float32)."""
    outputs: Float[np.ndarray, "n cout *grid"]
    """The reference's solutions on the learning grid (float32)."""
    solve_s: Float[np.ndarray, " n"]
    """Seconds the reference took per instance (a batch's time shared among its instances)."""


class OperatorProblem(Problem):
    """A parametric PDE: seeded splits of (input field, reference solution) pairs on a grid."""

    kind = "operator"
    default_metrics = ("rel_l2",)
    spatial_dims: ClassVar[int]
    input_channels: ClassVar[int]
    output_channels: ClassVar[int]
    periodic: ClassVar[bool]
    """Whether the grid is periodic (nodes x_j = j / n) or spans a closed box (x_j = j / (n - 1))."""
    _split_streams: ClassVar[dict[Split, int]] = {"train": 0, "validation": 1, "test": 2}
    generation_batch: ClassVar[int] = 16
    """Instances the reference solves at once (vectorised); their time is shared equally."""
    data_version: ClassVar[int] = 1
    """Bump when the sampling or the reference changes, so cached datasets are solved afresh."""

    @property
    @abc.abstractmethod
    def grid_shape(self) -> tuple[int, ...]:
        """The learning grid: the shape every input and output channel has."""

    @property
    def input_grid_shape(self) -> tuple[int, ...]:
        """The grid of the input fields: the learning grid unless the problem says otherwise."""
        return self.grid_shape

    @property
    @abc.abstractmethod
    def reference_resolution(self) -> int:
        """Cells per unit length at which the reference solves (its convergence is tested)."""

    @abc.abstractmethod
    def split_size(self, split: Split) -> int:
        """How many instances ``split`` holds."""

    @abc.abstractmethod
    def sample_source(self, rng: np.random.Generator) -> np.ndarray:
        """What defines one instance (random initial condition or coefficient), drawn from ``rng``.

        Its shape and values must not depend on the learning grid, so that the same instance
        can be given on a finer grid (the zero-shot super-resolution test).
        """

    @abc.abstractmethod
    def reference_solve(self, sources: np.ndarray) -> tuple[Float[np.ndarray, "b cin *grid"], Float[np.ndarray, "b cout *grid"]]:
        """Inputs and outputs of a batch of instances on the learning grid, solved at ``reference_resolution``."""

    def dataset(self, split: Split) -> OperatorData:
        """The ``split``'s instances, deterministic (instance i comes from the seed stream (split, i))."""
        return _dataset(self, split)

    def data_seconds(self, *splits: Split) -> float:
        """What solving the given splits' instances cost the reference, in seconds."""
        return float(sum(self.dataset(split).solve_s.sum() for split in splits))

    def extra_metrics(self, u: np.ndarray, u_ref: np.ndarray) -> dict[str, float]:
        """The relative L2 error of the worst test instance and the global (pooled) one."""
        errors = instance_errors(u, u_ref)
        pooled = float(np.linalg.norm(u - u_ref) / np.linalg.norm(u_ref))
        return {"worst_rel_l2": float(errors.max()), "pooled_rel_l2": pooled}

    def evaluator(self) -> Evaluator:
        """Test inputs in, solutions scored per instance against the reference's."""
        test = self.dataset("test")
        return Evaluator(test.inputs, test.outputs, None, self.extra_metrics, per_sample=True)

    def snapshot(self) -> Snapshot | None:
        """Operator problems picture their first test instance themselves (no points to evaluate)."""
        return None

    def _check_split(self, split: str) -> Split:
        if split not in SPLITS:
            raise ValueError(f"{self.name}: unknown split {split!r}; allowed: {', '.join(SPLITS)}")
        return split  # type: ignore[return-value]


class CoarseSolvable(abc.ABC):
    """Capability of operator problems whose reference can also solve from the learning-grid input at any resolution."""

    coarse_schemes: ClassVar[tuple[str, ...]] = ("reference",)
    """The classical schemes the problem can solve its inputs with; the first is its reference's."""

    def scheme_resolutions(self, scheme: str) -> tuple[int, ...]:
        """The default refinement sweep of ``scheme`` (a problem with one scheme: :attr:`coarse_resolutions`)."""
        self.check_scheme(scheme)
        return self.coarse_resolutions

    def solve_inputs_with(self, scheme: str, inputs: np.ndarray, resolution: int) -> np.ndarray:
        """:meth:`solve_inputs` by the named scheme; problems with several schemes override this."""
        self.check_scheme(scheme)
        return self.solve_inputs(inputs, resolution)

    def check_scheme(self, scheme: str) -> None:
        if scheme not in self.coarse_schemes:
            raise ParameterError(f"{getattr(self, 'name', type(self).__name__)}: unknown scheme {scheme!r}; allowed: {', '.join(self.coarse_schemes)}")

    @property
    @abc.abstractmethod
    def coarse_resolutions(self) -> tuple[int, ...]:
        """The default refinement sweep of a classical solver, coarsest first, up to the reference's."""

    @abc.abstractmethod
    def solve_inputs(self, inputs: Float[np.ndarray, "b cin *grid"], resolution: int) -> Float[np.ndarray, "b cout *grid"]:
        """Outputs on the learning grid from learning-grid inputs, solved at ``resolution``."""


def instance_errors(u: np.ndarray, u_ref: np.ndarray) -> Float[np.ndarray, " n"]:
    """Each instance's relative L2 error |u_i - u*_i| / |u*_i| (instances along the first axis)."""
    diff = (np.asarray(u, np.float64) - u_ref).reshape(len(u_ref), -1)
    return np.linalg.norm(diff, axis=1) / np.linalg.norm(np.asarray(u_ref, np.float64).reshape(len(u_ref), -1), axis=1)


@functools.lru_cache(maxsize=8)
def _dataset(problem: OperatorProblem, split: str) -> OperatorData:
    """The split, solved batch by batch; each batch is cached on disk with its solve time.

    Caching by batch lets every case of a sweep reuse the data, a larger split (an n_train
    sweep) reuse a smaller one's batches, and an interrupted generation resume.
    """
    from tqdm import tqdm

    split = problem._check_split(split)
    size, batch = problem.split_size(split), problem.generation_batch
    key = {k: v for k, v in problem.params().items() if k not in ("n_train", "n_validation", "n_test")}
    parts = []
    starts = tqdm(range(0, size, batch), desc=f"solving {problem.name} {split}", unit="batch", leave=False, dynamic_ncols=True,
                  disable=None)  # a bar with ETA on a terminal: a split takes minutes
    for start in starts:
        stop = min(start + batch, size)
        chunk_key = {**key, "split": split, "start": start, "stop": stop, "data_version": problem.data_version}
        parts.append(cache.cached_arrays(f"{problem.name}-{split}", chunk_key, functools.partial(_solve_batch, problem, split, start, stop)))
    if not parts:
        return OperatorData(np.zeros((0, problem.input_channels, *problem.input_grid_shape), np.float32),
                            np.zeros((0, problem.output_channels, *problem.grid_shape), np.float32), np.zeros(0))
    return OperatorData(*(np.concatenate([part[name] for part in parts]) for name in ("inputs", "outputs", "solve_s")))


def _solve_batch(problem: OperatorProblem, split: Split, start: int, stop: int) -> dict[str, np.ndarray]:
    """Instances start..stop-1 of ``split`` solved by the reference, timed (sampling excluded)."""
    sources = np.stack([problem.sample_source(np.random.default_rng([problem._split_streams[split], i])) for i in range(start, stop)])
    began = time.perf_counter()
    inputs, outputs = problem.reference_solve(sources)
    seconds = (time.perf_counter() - began) / (stop - start)
    return {"inputs": np.asarray(inputs, np.float32), "outputs": np.asarray(outputs, np.float32), "solve_s": np.full(stop - start, seconds)}


def trivial_baselines(problem: OperatorProblem) -> dict[str, float]:
    """Mean test error of the predictions that need no solver: a surrogate must beat both.

    ``mean_field`` predicts the train split's mean output for every instance; ``persistence``
    predicts that the last input channel (the initial value, the last input frame) stays as it is.
    """
    train, test = problem.dataset("train"), problem.dataset("test")
    mean_field = np.broadcast_to(train.outputs.mean(axis=0), test.outputs.shape)
    persistence = np.broadcast_to(test.inputs[:, -1:], test.outputs.shape)
    return {"mean_field": float(instance_errors(mean_field, test.outputs).mean()),
            "persistence": float(instance_errors(persistence, test.outputs).mean())}

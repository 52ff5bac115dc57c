"""Zero-filled inverse FFT: the MRI baseline every learned method starts from (nothing to tune)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from parity.problems.base import Problem
from parity.problems.mri_2d import CartesianMRI2D
from parity.solvers.base import Budget, Evaluator, ProgressFn, Solver, SolveResult
from parity.numerics import mri
from parity.solvers.reconstruction.classical_reconstruction import Reconstruct, in_chunks, tuned_solve


@dataclasses.dataclass(frozen=True)
class ZeroFilled(Solver):
    name: ClassVar[str] = "zero_filled"
    approach: ClassVar[str] = "classical"
    family: ClassVar[str] = "classical"
    description: ClassVar[str] = "zero-filled inverse FFT of the sampled k-space (magnitude)"
    deterministic: ClassVar[bool] = True

    @classmethod
    def supports(cls, problem: Problem) -> bool:
        return isinstance(problem, CartesianMRI2D)

    def solve(self, problem: Problem, budget: Budget, seed: int, evaluator: Evaluator, progress: ProgressFn) -> SolveResult:
        assert isinstance(problem, CartesianMRI2D)
        return tuned_solve(problem, evaluator, progress, lambda: (_reconstructor, {}))


def _reconstructor(operator: mri.CartesianFourier) -> Reconstruct:
    batched = jax.jit(jax.vmap(lambda kspace: jnp.abs(operator.pseudo_inverse(kspace))))
    return lambda observations: in_chunks(batched, observations, chunk=16)

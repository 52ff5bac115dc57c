"""Parity's public extension API: the one module a plugin imports from.

The names below are stable: when one moves inside Parity, its old path keeps working
with a ``DeprecationWarning`` (:mod:`parity.moved`) and this module keeps exporting it.
``examples/plugin`` is a plugin package written against this module alone, and CI
installs and runs it. Nothing inside Parity imports this facade, so ``import parity``
and the CLI never pay for it.

Problems (what is solved)
    ``Problem``, ``ForwardProblem`` (a PDE on a box with a reference), ``InverseProblem``
    (an operator and seeded data splits), ``OperatorProblem`` (a parametric family for
    surrogate learning).
Capabilities (mixed into a problem; a solver asks for them with ``isinstance``)
    ``SourceODE1D``, ``DirichletPoisson``, ``AcousticWave``, ``SteadyIncompressibleFlow``,
    ``PeriodicBurgers1D``, ``PeriodicVorticity2D``, ``CoarseSolvable``.
Writing a problem
    ``PointwiseFn``, ``partial`` and ``second_partial`` (derivatives of a batched ``u`` by
    JVPs), ``Snapshot`` (the picture a report draws), ``MeasurementOperator`` and
    ``ImagingOperator`` (an inverse problem's forward map).
Knobs (typed, validated settings of problems and solvers)
    ``knob(default, doc, allowed, check)``, the checks ``positive``, ``at_least``,
    ``all_at_least``, and ``ParameterError``.
Solvers: what ``solve(problem, budget, seed, evaluator, progress)`` receives and returns
    ``Solver``, ``Budget``, ``Evaluator``, ``ProgressFn``, ``Checkpoint``, ``SolveResult``,
    ``Status``.
Classical solvers: an error-versus-cost curve
    ``refinement_sweep(resolutions, solve_at, cost_of, budget, evaluator, progress)``.
Physics-informed solvers: the shared training loop
    ``TrainingTask`` (what to minimise), ``train`` (how: fused, compiled ahead of time,
    timed apart), ``TrainOutcome``, ``solve_result`` (its ``SolveResult``).
Physics-informed recipe ingredients
    ``TrainingRecipe`` (the whole recipe as knobs a solver inherits), ``build_network``
    (MLP, modified MLP, PirateNet; Fourier features, weight factorisation),
    ``build_optimiser``, ``learning_rate_schedule``, ``LossTerms`` (term-wise and causal
    losses), ``LossBalancing``, ``ResidualAdaptiveSampling``, ``TimeMarching``,
    ``weighted_mean_square``.
Physics-informed training algorithms
    ``SchwarzLBFGS`` (Schwarz-preconditioned L-BFGS over any ``LocalSpace`` of the
    parameters, an ``OuterOptimiser`` a ``TrainingTask`` takes as its optimiser), ``StepCost``
    (what a step costs: fine gradients, synchronisations, critical local work).
Learned solvers trained on pairs: the supervised loop
    ``fit`` (minibatches, best validation checkpoint, time budget, divergence as status),
    ``SupervisedRun``, ``Step``.
"""

from __future__ import annotations

from parity.knobs import ParameterError, all_at_least, at_least, knob, positive
from parity.operators import ImagingOperator, MeasurementOperator
from parity.problems.base import AcousticWave, DirichletPoisson, ForwardProblem, PointwiseFn, Problem, Snapshot, SourceODE1D
from parity.problems.derivatives import partial, second_partial
from parity.problems.flow import SteadyIncompressibleFlow
from parity.problems.inverse import InverseProblem
from parity.problems.operator_learning import CoarseSolvable, OperatorProblem
from parity.problems.spectral_capability import PeriodicBurgers1D, PeriodicVorticity2D
from parity.solvers.base import Budget, Checkpoint, Evaluator, ProgressFn, Solver, SolveResult, Status
from parity.solvers.pde.refinement import refinement_sweep
from parity.solvers.physics_informed.adaptive_sampling import ResidualAdaptiveSampling
from parity.solvers.physics_informed.architectures import build_network
from parity.solvers.physics_informed.balancing import LossBalancing
from parity.solvers.physics_informed.costs import StepCost
from parity.solvers.physics_informed.loss_terms import LossTerms
from parity.solvers.physics_informed.optimisers import build_optimiser, learning_rate_schedule
from parity.solvers.physics_informed.recipes import TrainingRecipe
from parity.solvers.physics_informed.schedule import TimeMarching, weighted_mean_square
from parity.solvers.physics_informed.schwarz import LocalSpace, SchwarzLBFGS
from parity.solvers.physics_informed.training import OuterOptimiser, TrainingTask, TrainOutcome, solve_result, train
from parity.solvers.supervised import Step, SupervisedRun, fit

__all__ = [
    # problems
    "Problem", "ForwardProblem", "InverseProblem", "OperatorProblem",
    # capabilities
    "SourceODE1D", "DirichletPoisson", "AcousticWave", "SteadyIncompressibleFlow", "PeriodicBurgers1D", "PeriodicVorticity2D",
    "CoarseSolvable",
    # writing a problem
    "PointwiseFn", "partial", "second_partial", "Snapshot", "MeasurementOperator", "ImagingOperator",
    # knobs
    "knob", "positive", "at_least", "all_at_least", "ParameterError",
    # solvers
    "Solver", "Budget", "Evaluator", "ProgressFn", "Checkpoint", "SolveResult", "Status",
    # classical
    "refinement_sweep",
    # physics-informed
    "TrainingTask", "train", "TrainOutcome", "solve_result",
    "TrainingRecipe", "build_network", "build_optimiser", "learning_rate_schedule", "LossTerms", "LossBalancing",
    "ResidualAdaptiveSampling", "TimeMarching", "weighted_mean_square",
    "SchwarzLBFGS", "LocalSpace", "OuterOptimiser", "StepCost",
    # supervised
    "fit", "SupervisedRun", "Step",
]

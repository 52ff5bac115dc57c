"""The training loop shared by physics-informed solvers.

A solver describes *what* to minimise as a :class:`TrainingTask`; this module decides
*how*: the whole optimiser step is jitted and ``steps_per_dispatch`` steps are fused into
one ``lax.scan`` so Python dispatch does not dominate small networks. Compilation is
done ahead of time (``lower().compile()``) and timed apart from training; evaluation on
the test points between dispatches is timed apart too and excluded from the trace.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PyTree

from parity import devices as parity_devices
from parity.solvers.base import Checkpoint, Evaluator, ProgressFn, SolveResult, Status
from parity.solvers.physics_informed.balancing import LossBalancing
from parity.solvers.physics_informed.costs import StepCost, line_search_evaluations
from parity.solvers.timing import CompileTimes

if TYPE_CHECKING:
    from parity.problems.base import ForwardProblem

LossFn = Callable[[PyTree, PyTree], Float[Array, ""]]
PredictFn = Callable[[PyTree], Float[Array, "m out"]]


def _unchanged(tree: PyTree) -> PyTree:
    return tree


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a training's arrays live, as functions that put them on devices.

    The default leaves everything on the default device. A multi-device solver shards
    the model (FBPINN: subdomain networks) and/or the data (collocation points), and the
    compiled steps then run where their inputs are: XLA adds the communication.
    """

    model: Callable[[PyTree], PyTree] = _unchanged
    """Applied to the trainable parameters; the optimiser state follows them."""
    data: Callable[[PyTree], PyTree] = _unchanged
    """Applied to every ``data`` the loss is given (also those of a data schedule)."""


@runtime_checkable
class OuterOptimiser(Protocol):
    """An optimiser whose step is more than an update from one gradient (Schwarz-preconditioned
    L-BFGS, :mod:`.schwarz`): it evaluates the loss itself and says what the step cost."""

    def init(self, params: PyTree) -> PyTree: ...

    def step(self, params: PyTree, state: PyTree, objective: Callable[[PyTree], Float[Array, ""]]) -> tuple[PyTree, PyTree, Array, StepCost]: ...


@dataclasses.dataclass(frozen=True)
class TrainingTask:
    """What a physics-informed solver minimises, and how it predicts on the test points."""

    model: PyTree
    loss_fn: LossFn
    """``loss_fn(model, data)``: the loss, or with ``balancing`` the vector of its terms' losses."""
    data: PyTree
    """Arrays the loss reads (collocation points, point-subdomain pairs): arguments, not constants."""
    predict_test: PredictFn
    optimiser: optax.GradientTransformation | OuterOptimiser
    finisher: optax.GradientTransformationExtraArgs | None = None
    """A line-search optimiser (L-BFGS) for the last ``finisher_fraction`` of the budget,
    started afresh from the first optimiser's parameters (Raissi et al.'s Adam-then-L-BFGS)."""
    finisher_fraction: float = 0.0
    data_schedule: Callable[[int, float, PyTree], PyTree] | None = None
    """``(step, progress, model) -> data`` when the data change during training (time
    marching by ``progress``, see :func:`budget_progress`; adaptive resampling every so many
    steps); same shapes as ``data``, so nothing recompiles."""
    placement: Placement = Placement()
    balancing: LossBalancing | None = None
    """Weights of the loss's terms, updated during the first optimiser's steps and frozen for the finisher."""
    balance_fn: LossFn | None = None
    """``(model, data) -> per-term values`` whose gradients set the weights (see :mod:`.balancing`); default ``loss_fn``."""
    finisher_loss_fn: LossFn | None = None
    """The finisher's loss when ``loss_fn`` moves with the parameters in a way a line search cannot
    follow (causal weights, recomputed from the residual at every evaluation); default ``loss_fn``."""

    def data_at(self, step: int, progress: float, model: PyTree) -> PyTree:
        return self.placement.data(self.data if self.data_schedule is None else self.data_schedule(step, progress, model))

    def initial_state(self) -> tuple[PyTree, PyTree, PyTree]:
        """(trainable parameters, the rest of the model, optimiser state), placed on their devices.

        With balancing, the optimiser state is ``(optax state, term weights, steps taken)``.
        """
        params, static = eqx.partition(self.model, eqx.is_inexact_array)
        params = self.placement.model(params)
        return params, static, self.optimiser_state(self.optimiser, params)

    def optimiser_state(self, optimiser: optax.GradientTransformation | OuterOptimiser, params: PyTree) -> PyTree:
        if isinstance(optimiser, OuterOptimiser) and self.balancing is not None:
            raise ValueError("an outer optimiser (Schwarz-preconditioned L-BFGS) cannot balance loss terms; drop the balancing ingredient")
        state = jax.jit(optimiser.init)(params)  # jit: the state is sharded like the parameters
        return state if self.balancing is None else (state, self.balancing.initial(), jnp.zeros((), jnp.int32))

    def weighted_loss(self, terms: Float[Array, "*terms"], weights: Float[Array, " T"] | None) -> Float[Array, ""]:
        """The sum of the terms' losses, weighted when balanced (a plain loss is its own sum)."""
        return jnp.sum(terms) if weights is None else jnp.sum(weights * terms)

    def first_finisher_step(self, steps: int) -> int:
        """The step at which the finisher takes over if the steps run out first (``steps`` when there is none)."""
        if self.finisher is None:
            return steps
        return steps - round(self.finisher_fraction * steps)

    def finishing(self, done: int, steps: int, progress: float) -> bool:
        """Whether the finisher has the next chunk: its share of the steps or of the seconds has come."""
        return self.finisher is not None and (done >= self.first_finisher_step(steps) or progress >= 1 - self.finisher_fraction)

    def compile_steps(self, length: int, finishing: bool = False) -> Callable[[PyTree, PyTree, PyTree], tuple[PyTree, PyTree, tuple[Array, StepCost]]]:
        """``length`` fused optimiser steps, compiled: ``(params, opt_state, data) -> (params, opt_state, (losses, costs))``."""
        return self.lower_steps(length, finishing).compile()

    def lower_steps(self, length: int, finishing: bool = False) -> jax.stages.Lowered:
        """``length`` fused optimiser steps, lowered for the task's arrays (see :meth:`compile_steps`)."""
        params, static, opt_state = self.initial_state()
        if finishing:
            assert self.finisher is not None
            opt_state = self.optimiser_state(self.finisher, params)
        balancing = self.balancing

        def one_step(carry: tuple[PyTree, PyTree], _: None, data: PyTree) -> tuple[tuple[PyTree, PyTree], tuple[Array, StepCost]]:
            p, state = carry
            s, weights, count = state if balancing is not None else (state, None, None)
            if balancing is not None and not finishing:  # the finisher's line search needs a fixed objective
                balance_fn = self.balance_fn or self.loss_fn
                weights = balancing.maybe_update(count, weights, lambda p_: balance_fn(eqx.combine(p_, static), data), p)

            loss_fn = (self.finisher_loss_fn or self.loss_fn) if finishing else self.loss_fn

            def objective(p_: PyTree) -> Float[Array, ""]:
                return self.weighted_loss(loss_fn(eqx.combine(p_, static), data), weights)

            if isinstance(self.optimiser, OuterOptimiser) and not finishing:
                p, s, loss, cost = self.optimiser.step(p, s, objective)
                return (p, s), (loss, cost)
            if finishing:
                assert self.finisher is not None
                loss, grads = optax.value_and_grad_from_state(objective)(p, state=s)  # reuses the line search's last evaluation
                updates, s = self.finisher.update(grads, s, p, value=loss, grad=grads, value_fn=objective)
                cost = StepCost.global_only(line_search_evaluations(s))  # the first step's own evaluation is not counted
            else:
                loss, grads = jax.value_and_grad(objective)(p)
                updates, s = self.optimiser.update(grads, s, p)
                cost = StepCost.global_only(1.0)
            return (optax.apply_updates(p, updates), s if balancing is None else (s, weights, count + 1)), (loss, cost)

        def steps(p: PyTree, s: PyTree, data: PyTree) -> tuple[PyTree, PyTree, tuple[Array, StepCost]]:
            (p, s), outputs = jax.lax.scan(lambda c, x: one_step(c, x, data), (p, s), None, length=length)
            return p, s, outputs

        return jax.jit(steps).lower(params, opt_state, self.data_at(0, 0.0, eqx.combine(params, static)))


@dataclasses.dataclass
class TrainOutcome:
    model: PyTree
    status: Status
    trace: list[Checkpoint]
    steps_done: int
    compile_times: CompileTimes
    train_s: float
    eval_s: float
    message: str = ""
    loss_weights: list[float] | None = None
    """The balanced terms' final weights."""
    finisher_step: int | None = None
    """The step at which the finisher took over; None if it never did."""
    flops_per_step: float | None = None
    """XLA's count for one optimiser step (of the first phase), per device (see :func:`parity.devices.flops`)."""
    predict_test: Callable[[], np.ndarray] | None = None
    """The final model's values on ``x_test``, by the program compiled for the checkpoints."""
    x_test: np.ndarray | None = None
    """The test points the checkpoints evaluate (the evaluator's)."""
    costs: dict[str, float] = dataclasses.field(default_factory=dict)
    """The steps' summed :class:`StepCost` (fine gradients, global evaluations, critical local work, local failures)."""
    seconds_per_gradient: float = float("nan")
    """One value-and-gradient of the whole loss at the final parameters, median of ten, measured after training."""

    @property
    def compile_s(self) -> float:
        """Seconds to compile the training's programs from scratch (see :class:`CompileTimes`)."""
        return self.compile_times.cold_s


def budget_progress(done: int, steps: int, train_s: float, max_seconds: float) -> float:
    """The share of the budget spent: of the steps or of the training seconds, whichever is further along.

    Phases scheduled by it (time marching, the finisher) all happen in a time-budgeted run
    too, which a schedule by steps alone would cut off after its first phase.
    """
    return min(1.0, max(done / steps, train_s / max_seconds))


def train(
    task: TrainingTask,
    *,
    steps: int,
    steps_per_dispatch: int,
    evaluator: Evaluator,
    progress: ProgressFn,
    max_seconds: float = math.inf,
    measure_gradient: bool = True,
) -> TrainOutcome:
    """Minimise the task's loss for ``steps`` steps, checkpointing after every dispatch.

    With a finisher, the last part of the budget is done by it: of the steps, or of the
    seconds if they run out first (chunks never straddle a switch by steps). A non-finite
    loss stops training with status ``diverged`` (the last finite parameters are kept); a
    time budget (``max_seconds`` of training) ends it at the next dispatch past it, with
    status ``ok``: like the steps, it is the budget the run was given (equal-time comparisons).
    With ``measure_gradient`` one whole-loss gradient is timed at the end (the cost model's unit);
    a caller that trains in phases times it once, after the last (:func:`time_one_gradient`).
    """
    params, static, opt_state = task.initial_state()
    compiled: dict[tuple[int, bool], Any] = {}
    compile_times = CompileTimes()
    switch = task.first_finisher_step(steps)

    def steps_executable(length: int, finishing: bool) -> Any:
        if (length, finishing) not in compiled:
            compiled[length, finishing] = compile_times.compile(lambda: task.lower_steps(length, finishing))
        return compiled[length, finishing]

    if switch > 0:
        steps_executable(min(steps_per_dispatch, switch), False)
    if switch < steps:
        steps_executable(min(steps_per_dispatch, steps - switch), True)
    flops_per_step = parity_devices.flops(next(iter(compiled.values())))  # a fused chunk counts its scan body once: one step
    evaluate = compile_times.compile(lambda: jax.jit(lambda p: task.predict_test(eqx.combine(p, static))).lower(params))

    costs = dict.fromkeys(StepCost._fields, 0.0)

    def checkpoint(step: int, wall: float, loss: float) -> tuple[Checkpoint, float]:
        t = time.perf_counter()
        metrics = evaluator(np.asarray(evaluate(params)))
        details = {name: costs[name] for name in COST_AXES}
        return Checkpoint(wall_s=wall, step=step, metrics=metrics, loss=loss, details=details), time.perf_counter() - t

    first, eval_s = checkpoint(0, 0.0, float("nan"))
    trace = [first]
    progress(0, steps, {})
    status: Status = "ok"
    message = ""
    done, train_s, finisher_step = 0, 0.0, None
    while done < steps:
        progress_now = budget_progress(done, steps, train_s, max_seconds)
        if finisher_step is None and task.finishing(done, steps, progress_now):
            assert task.finisher is not None
            finisher_step, finisher_state = done, task.optimiser_state(task.finisher, params)
            opt_state = finisher_state if task.balancing is None else (finisher_state[0], *opt_state[1:])  # the weights carry over
        finishing = finisher_step is not None
        length = min(steps_per_dispatch, (steps if finishing else switch) - done)
        executable = steps_executable(length, finishing)  # a shorter last chunk compiles once, counted as compile time
        t = time.perf_counter()
        data = task.data_at(done, progress_now, eqx.combine(params, static))
        new_params, new_state, (losses, step_costs) = executable(params, opt_state, data)
        losses = np.asarray(losses)  # blocks until the chunk is finished
        train_s += time.perf_counter() - t
        if not np.all(np.isfinite(losses)):
            status, message = "diverged", f"non-finite loss within steps {done}..{done + length}"
            break
        params, opt_state, done = new_params, new_state, done + length
        costs = {name: costs[name] + value for name, value in step_costs.totals().items()}
        point, dt = checkpoint(done, train_s, float(losses[-1]))
        eval_s += dt
        trace.append(point)
        progress(done, steps, {"loss": point.loss, "rel_l2": point.metrics["rel_l2"]})
        if train_s > max_seconds and done < steps:
            message = f"stopped by the time budget of {max_seconds:g} s after {done} steps"  # a budget met, like the steps
            break
    if costs["local_failures"] > 0:
        message = "; ".join(filter(None, [message, f"{costs['local_failures']:g} local solves ended non-finite; their corrections were dropped"]))
    return TrainOutcome(
        model=eqx.combine(params, static),
        status=status,
        trace=trace,
        steps_done=done,
        compile_times=compile_times,
        train_s=train_s,
        eval_s=eval_s,
        message=message,
        loss_weights=None if task.balancing is None else [float(w) for w in opt_state[1]],
        finisher_step=finisher_step,
        flops_per_step=flops_per_step,
        predict_test=lambda: np.asarray(evaluate(params)),
        x_test=evaluator.x_test,
        costs=costs,
        seconds_per_gradient=time_one_gradient(task, params, static) if measure_gradient else float("nan"),
    )


COST_AXES = ("fine_gradients", "global_evaluations", "critical_local_gradients")
"""The cost counters each checkpoint carries, cumulative (see :mod:`.costs`)."""


def time_one_gradient(task: TrainingTask, params: PyTree, static: PyTree) -> float:
    """Median seconds of ten whole-loss value-and-gradient evaluations after a first (the unit of the cost
    model). Its compilation is a measurement's, not the training's, so no record's compile seconds count it."""
    data = task.placement.data(task.data)
    loss_fn = task.finisher_loss_fn or task.loss_fn
    program = jax.jit(jax.value_and_grad(lambda p, d: jnp.sum(loss_fn(eqx.combine(p, static), d)))).lower(params, data).compile()
    jax.block_until_ready(program(params, data))
    seconds = []
    for _ in range(10):
        t = time.perf_counter()
        jax.block_until_ready(program(params, data))
        seconds.append(time.perf_counter() - t)
    return float(np.median(seconds))


def modelling_gap(problem: ForwardProblem) -> dict[str, Any]:
    """``{"modelling_gap": ...}`` when the problem's hard-constraint ansatz poses a nearby problem instead of it, else ``{}``.

    Problems say so by :meth:`parity.problems.base.ForwardProblem.ansatz_gap`.
    """
    gap = problem.ansatz_gap()
    return {} if gap is None else {"modelling_gap": gap}


def solve_result(
    outcome: TrainOutcome, setup_s: float, predict: Callable[[Any], Any], info: dict[str, Any]
) -> SolveResult:
    """The solver-facing result of a training, with its timings kept apart.

    Its ``predict`` on the test points runs the program compiled for the checkpoints, so
    the harness's final evaluation neither recompiles nor counts a compilation as inference.
    """
    return SolveResult(
        status=outcome.status,
        trace=outcome.trace,
        trace_kind="iterative",
        predict=reusing_test_program(outcome, predict),
        timings={
            "setup_s": setup_s, "compile_s": outcome.compile_s, "compile_spent_s": outcome.compile_times.spent_s,
            "train_s": outcome.train_s, "eval_s": outcome.eval_s,
        },
        info={
            "compile_cache": outcome.compile_times.cache_state(),
            "steps": outcome.steps_done, "n_params": parameter_count(outcome.model),
            **({} if outcome.loss_weights is None else {"loss_weights": outcome.loss_weights}),
            **({} if outcome.finisher_step is None else {"finisher_step": outcome.finisher_step}),
            **({} if outcome.flops_per_step is None else {"flops_per_step": outcome.flops_per_step}),
            "costs": outcome.costs, "seconds_per_gradient": outcome.seconds_per_gradient, **info,
        },
        message=outcome.message,
    )


def reusing_test_program(outcome: TrainOutcome, predict: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``predict``, except on the outcome's test points, whose values come from its compiled test-point program."""
    test_program, x_test = outcome.predict_test, outcome.x_test
    if test_program is None or x_test is None:
        return predict

    def values(x: Any) -> Any:
        if x is x_test or (np.shape(x) == np.shape(x_test) and np.array_equal(x, x_test)):
            return test_program()
        return predict(x)

    return values


def communication_per_step(task: TrainingTask, devices: int) -> dict[str, int]:
    """Bytes each device receives per optimiser step, by collective, read from a compiled one-step program.

    It is what XLA chose to send (:func:`parity.devices.collective_bytes`), not a model of
    it. One device exchanges nothing, and the extra compilation can cost seconds, so
    ``devices = 1`` gives ``{}`` without compiling.
    """
    if devices == 1:
        return {}
    return parity_devices.collective_bytes(task.compile_steps(1).as_text())


def parameter_count(model: PyTree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))

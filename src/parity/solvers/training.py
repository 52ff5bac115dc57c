"""The training loop shared by physics-informed solvers.

The whole optimiser step is jitted and ``steps_per_dispatch`` steps are fused into one
``lax.scan``, so Python dispatch does not dominate small networks. Compilation is done
ahead of time (``lower().compile()``) and timed apart from training; evaluation on the
test points between dispatches is timed apart too and excluded from the trace's clock.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np
import optax
from jaxtyping import Array, Float, PyTree

from parity.solvers.base import Checkpoint, Evaluator, ProgressFn, Status

LossFn = Callable[[PyTree, PyTree], Float[Array, ""]]
PredictFn = Callable[[PyTree], Float[Array, "m out"]]


@dataclasses.dataclass
class TrainOutcome:
    model: PyTree
    status: Status
    trace: list[Checkpoint]
    steps_done: int
    compile_s: float
    train_s: float
    eval_s: float
    message: str = ""


def train(
    model: PyTree,
    loss_fn: LossFn,
    predict_test: PredictFn,
    data: PyTree,
    optimiser: optax.GradientTransformation,
    *,
    steps: int,
    steps_per_dispatch: int,
    evaluator: Evaluator,
    progress: ProgressFn,
    max_seconds: float = math.inf,
) -> TrainOutcome:
    """Minimise ``loss_fn(model, data)`` for ``steps`` steps, checkpointing every dispatch.

    ``predict_test(model)`` returns the prediction on the evaluator's test points.
    A non-finite loss stops training with status ``diverged``; the time budget stops it
    at the next dispatch boundary with status ``timeout``.
    """
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt_state = optimiser.init(params)

    def run_chunk(params: PyTree, opt_state: PyTree, data: PyTree, length: int) -> tuple[PyTree, PyTree, Array]:
        def one_step(carry: tuple[PyTree, PyTree], _: None) -> tuple[tuple[PyTree, PyTree], Array]:
            p, s = carry
            loss, grads = jax.value_and_grad(lambda p_: loss_fn(eqx.combine(p_, static), data))(p)
            updates, s = optimiser.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(one_step, (params, opt_state), None, length=length)
        return params, opt_state, losses

    t0 = time.perf_counter()
    compiled: dict[int, Any] = {}

    def chunk_executable(length: int) -> Any:
        if length not in compiled:
            fn = jax.jit(lambda p, s, d: run_chunk(p, s, d, length))
            compiled[length] = fn.lower(params, opt_state, data).compile()
        return compiled[length]

    chunk_executable(min(steps_per_dispatch, steps))
    evaluate = jax.jit(lambda p: predict_test(eqx.combine(p, static))).lower(params).compile()
    compile_s = time.perf_counter() - t0

    def checkpoint(step: int, wall: float, loss: float) -> tuple[Checkpoint, float]:
        t = time.perf_counter()
        metrics = evaluator(np.asarray(evaluate(params)))
        return Checkpoint(wall_s=wall, step=step, metrics=metrics, loss=loss), time.perf_counter() - t

    first, eval_s = checkpoint(0, 0.0, float("nan"))
    trace = [first]
    progress(0, steps, {})
    status: Status = "ok"
    message = ""
    done, train_s = 0, 0.0
    while done < steps:
        length = min(steps_per_dispatch, steps - done)
        executable = chunk_executable(length)
        t = time.perf_counter()
        new_params, new_state, losses = executable(params, opt_state, data)
        last_loss = float(losses[-1])  # blocks until the chunk is finished
        train_s += time.perf_counter() - t
        if not np.all(np.isfinite(np.asarray(losses))):
            status, message = "diverged", f"non-finite loss within steps {done}..{done + length}"
            break
        params, opt_state, done = new_params, new_state, done + length
        point, dt = checkpoint(done, train_s, last_loss)
        eval_s += dt
        trace.append(point)
        progress(done, steps, {"loss": last_loss, "rel_l2": point.metrics["rel_l2"]})
        if train_s > max_seconds and done < steps:
            status, message = "timeout", f"time budget of {max_seconds:g} s spent after {done} steps"
            break
    return TrainOutcome(
        model=eqx.combine(params, static),
        status=status,
        trace=trace,
        steps_done=done,
        compile_s=compile_s,
        train_s=train_s,
        eval_s=eval_s,
        message=message,
    )


def parameter_count(model: PyTree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))

"""The supervised training loop that learned reconstructors and neural operators share.

Both fit a network to a problem's *train* split in minibatches and return the checkpoint that
scores best on the *validation* split, so the test split is only ever scored. What differs
between them (the network, the loss, the compiled step, what a checkpoint measures) comes in
as closures; what they must agree on lives here once: every step is timed and the clock stops
at the budget's seconds, a non-finite loss stops training with status ``diverged``, and
checkpoints are taken outside the training clock.

Batches are index arrays into a train split held on the devices, so a step's inputs never
change shape and nothing recompiles; on several devices each batch is padded to a multiple of
their count and the padding masked out of the loss.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

from parity import devices as device_mesh
from parity.solvers.base import Budget, Checkpoint, ProgressFn, SolveResult, Status

Step = Callable[[PyTree, PyTree, np.ndarray], tuple[PyTree, PyTree, Array]]
"""``(params, optimiser state, batch indices) -> (params, optimiser state, loss)``."""


def minibatches(n: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index batches of a fresh permutation per epoch (an epoch's remainder is dropped)."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n - size + 1, size):
            yield order[start : start + size].astype(np.int32)


def padded_batch(indices: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``indices`` padded to a multiple of ``count`` (with copies of the first), and the mask that is 0 on the padding."""
    mask = device_mesh.pad_weights(np.ones(len(indices), np.float32), count)
    return device_mesh.pad_rows(np.asarray(indices, np.int32), count), mask


def masked_mean(values: Float[Array, "b ..."], mask: Float[Array, " b"]) -> Float[Array, ""]:
    """The mean over the samples with mask 1 (and over every other axis)."""
    per_sample = jnp.sum(values.reshape(len(values), -1), axis=1) / np.prod(values.shape[1:])
    return jnp.sum(mask * per_sample) / jnp.sum(mask)


@dataclasses.dataclass
class SupervisedRun:
    """How a run of :func:`fit` ended, and what it kept."""

    status: Status
    message: str
    steps: int
    train_s: float
    eval_s: float
    trace: list[Checkpoint]
    best_params: PyTree
    best: Checkpoint

    def result(self, predict: Callable[[PyTree, Any], Any], one_off: dict[str, float], info: dict[str, Any]) -> SolveResult:
        """The solver's result: the best checkpoint's ``predict``, the one-off seconds beside training's, ``info`` after the run's own."""
        from parity.solvers.physics_informed.training import parameter_count

        return SolveResult(
            status=self.status,
            trace=self.trace,
            trace_kind="iterative",
            predict=lambda inputs: predict(self.best_params, inputs),
            timings={**one_off, "train_s": self.train_s, "eval_s": self.eval_s},
            info={"steps": self.steps, "n_params": parameter_count(self.best_params), "best_step": self.best.step, **info},
            message=self.message,
        )


def fit(
    step: Step,
    params: PyTree,
    opt_state: PyTree,
    checkpoint: Callable[[PyTree, int, float, float], Checkpoint],
    validation_loss: Callable[[Checkpoint], float],
    *,
    n_train: int,
    batch_size: int,
    budget: Budget,
    seed: int,
    checkpoint_every: int,
    progress: ProgressFn,
) -> SupervisedRun:
    """Run ``step`` on minibatches of ``n_train`` instances for ``budget.steps`` steps or ``budget.seconds``.

    ``checkpoint(params, step, train_seconds, mean_loss)`` scores the parameters at step 0,
    every ``checkpoint_every`` steps and at the end; the parameters whose checkpoint has the
    lowest ``validation_loss`` are kept. Minibatches are drawn from the seed's own stream.
    """
    t = time.perf_counter()
    first = checkpoint(params, 0, 0.0, float("nan"))
    eval_s = time.perf_counter() - t
    trace, best_params, best = [first], params, first
    progress(0, budget.steps, {})
    sampler = minibatches(n_train, batch_size, np.random.default_rng([seed, 1]))
    status: Status = "ok"
    message, done, train_s, losses = "", 0, 0.0, []
    while done < budget.steps:
        t = time.perf_counter()
        new_params, new_state, loss = step(params, opt_state, next(sampler))
        loss = float(loss)  # blocks until the step is finished
        train_s += time.perf_counter() - t
        if not np.isfinite(loss):
            status, message = "diverged", f"non-finite loss at step {done + 1}"
            break
        params, opt_state, done = new_params, new_state, done + 1
        losses.append(loss)
        out_of_time = train_s > budget.seconds and done < budget.steps
        if done % checkpoint_every == 0 or done == budget.steps or out_of_time:
            t = time.perf_counter()
            point = checkpoint(params, done, train_s, float(np.mean(losses)))
            eval_s += time.perf_counter() - t
            trace.append(point)
            losses = []
            if validation_loss(point) < validation_loss(best):
                best_params, best = params, point
            progress(done, budget.steps, {"loss": point.loss, **point.details})
        if out_of_time:
            status, message = "timeout", f"time budget of {budget.seconds:g} s spent after {done} steps"
            break
    return SupervisedRun(status, message, done, train_s, eval_s, trace, best_params, best)

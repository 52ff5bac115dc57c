"""What every prior trained once per phantom distribution shares: the fit, its validation, and a cache keyed on the truths.

The denoising prior and the ridge regulariser both learn from the problem's *train* truths
alone (never an observation), so one trained model serves every operator and noise level
of a phantom distribution. Both are scored by denoising PSNR on the first validation truths
(fixed noise, so checkpoints compare), keep their best checkpoint, and are cached under a
key made of the truths themselves and their knobs, with their training seconds stored
beside the weights so every later user is charged them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

from parity import cache
from parity.knobs import Configurable
from parity.numerics import image_quality
from parity.problems.inverse import InverseProblem
from parity.solvers import supervised
from parity.solvers.base import Budget, Checkpoint, ProgressFn

Model = TypeVar("Model", bound=eqx.Module)

VALIDATION_IMAGES = 16
Step = Callable[[PyTree, PyTree, Array, Array], tuple[PyTree, PyTree, Array]]
"""(params, optimiser state, minibatch indices, key) -> (params, state, loss), compiled."""


@dataclasses.dataclass(frozen=True)
class TrainedOnce(Generic[Model]):
    model: Model
    train_s: float
    """Seconds the training took when it ran (stored with the weights, charged to every user)."""
    steps: int
    n_train: int
    parameters: int
    validation_psnr: dict[str, float]
    """Denoising PSNR (dB) on validation truths per noise level, of the kept checkpoint."""
    from_cache: bool
    flops_per_step: float
    """XLA's count for one training step (NaN for a model cached before it was recorded)."""


def trained_once(name: str, skeleton: Model, train: np.ndarray, config: Configurable, sigmas: tuple[float, ...],
                 fit: Callable[[PyTree, PyTree], tuple[Model, supervised.SupervisedRun, float | None]],
                 score: Callable[[Model], dict[str, float]]) -> TrainedOnce[Model]:
    """``skeleton`` trained on ``train``: from the disk cache, or ``fit(params, static)`` now (then scored at ``sigmas`` and cached)."""
    digest = hashlib.sha256(np.ascontiguousarray(train, np.float32).tobytes()).hexdigest()[:16]
    params, static = eqx.partition(skeleton, eqx.is_inexact_array)
    trained_now = []

    def train_now() -> dict[str, np.ndarray]:
        trained_now.append(True)
        model, run, flops = fit(params, static)
        scores = score(model)
        leaves = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
        return {**{f"leaf{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)},
                "train_s": np.float64(run.train_s), "steps": np.int64(run.steps), "flops_per_step": np.float64(flops or np.nan),
                "sigmas": np.asarray(sigmas), "psnr": np.asarray([scores[str(s)] for s in sigmas])}

    arrays = cache.cached_arrays(name, {"truths": digest, "shape": list(train.shape), **config.params()}, train_now)
    leaves = [jnp.asarray(arrays[f"leaf{i}"]) for i in range(len(jax.tree.leaves(params)))]
    model = eqx.combine(jax.tree.unflatten(jax.tree.structure(params), leaves), static)
    return TrainedOnce(model, float(arrays["train_s"]), int(arrays["steps"]), len(train), sum(int(leaf.size) for leaf in leaves),
                       {f"{s:g}": float(p) for s, p in zip(arrays["sigmas"], arrays["psnr"], strict=True)}, not trained_now,
                       float(arrays.get("flops_per_step", np.nan)))


def train_truths(problem: InverseProblem, solver: str, what: str) -> np.ndarray:
    """The train truths ``what`` learns from, refusing a problem whose train split is empty."""
    truths = problem.dataset("train").truths
    if len(truths) == 0:
        raise ValueError(f"{solver}: the {what} trains on the train split's truths; {problem.name}'s train split is empty (set n_train >= 1)")
    return truths


def fit_best(step: Step, params: PyTree, opt_state: PyTree, score: Callable[[PyTree], dict[str, float]], *, n_train: int, batch: int,
             steps: int, seed: int, progress: ProgressFn, what: str) -> supervised.SupervisedRun:
    """``steps`` of ``step`` on minibatches of the truths, keeping the checkpoint (every fifth of the run) with the best mean
    validation denoising PSNR; a non-finite loss stops it with an error naming ``what``."""
    key = jax.random.key(seed)
    counter = iter(range(1 << 62))

    def checkpoint(p: PyTree, done: int, wall: float, loss: float) -> Checkpoint:
        return Checkpoint(wall_s=wall, step=done, metrics={}, loss=loss, details={"validation_psnr": float(np.mean(list(score(p).values())))})

    run = supervised.fit(
        lambda p, s, indices: step(p, s, jnp.asarray(indices), jax.random.fold_in(key, next(counter))),
        params, opt_state, checkpoint, lambda point: -point.details["validation_psnr"],
        n_train=n_train, batch_size=batch, budget=Budget(steps=steps), seed=seed, checkpoint_every=max(1, steps // 5), progress=progress,
    )
    if run.status != "ok":
        raise FloatingPointError(f"training the {what} stopped: {run.message}")
    return run


def denoising_psnr(denoise: Callable[[Float[Array, "b h w"], Float[Array, ""]], Float[Array, "b h w"]], validation: np.ndarray,
                   sigmas: tuple[float, ...]) -> dict[str, float]:
    """Mean denoising PSNR per noise level on the first validation truths, with the same noise every call."""
    truths = np.asarray(validation[:VALIDATION_IMAGES], np.float32)
    rng = np.random.default_rng(12345)
    scores = {}
    for sigma in sigmas:
        noisy = truths + sigma * rng.standard_normal(truths.shape).astype(np.float32)
        denoised = np.asarray(denoise(jnp.asarray(noisy), jnp.float32(sigma)))
        scores[str(sigma)] = float(np.mean([image_quality.psnr(d, t) for d, t in zip(denoised, truths, strict=True)]))
    return scores

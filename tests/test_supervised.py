"""The shared supervised loop: best-validation checkpoint kept, divergence and time-outs recorded, every instance visited."""

import numpy as np
import pytest

from parity.solvers.base import Budget, Checkpoint
from parity.solvers.supervised import fit, minibatches


def descent(p: float, s: int, indices: np.ndarray) -> tuple[float, int, float]:
    """A 'step' that halves the parameter and reports it as the loss."""
    return p / 2, s + 1, p / 2


def at(p: float, step: int, wall: float, loss: float) -> Checkpoint:
    """A checkpoint whose validation error is smallest where the parameter is nearest 1/8."""
    return Checkpoint(wall_s=wall, step=step, metrics={"rel_l2": p}, loss=loss, details={"validation": abs(p - 0.125)})


def run(step=descent, steps: int = 6, seconds: float = float("inf")):  # noqa: ANN001, ANN201
    return fit(step, 1.0, 0, at, lambda point: point.details["validation"], n_train=10, batch_size=4,
               budget=Budget(steps=steps, seconds=seconds), seed=0, checkpoint_every=1, progress=lambda *args: None)


def test_the_best_validation_checkpoint_is_kept_not_the_last() -> None:
    result = run()
    assert result.status == "ok" and result.steps == 6
    assert [point.step for point in result.trace] == list(range(7))
    assert result.best.step == 3 and result.best_params == 0.125


def test_a_non_finite_loss_stops_training_as_diverged_and_keeps_what_was_finished() -> None:
    def blows_up(p: float, s: int, indices: np.ndarray) -> tuple[float, int, float]:
        return (p / 2, s + 1, p / 2) if s < 2 else (np.nan, s + 1, np.nan)

    result = run(blows_up)
    assert result.status == "diverged" and "step 3" in result.message
    assert result.steps == 2 and result.best_params == 0.25


def test_the_time_budget_stops_training_at_a_checkpoint() -> None:
    result = run(steps=1000, seconds=1e-12)
    assert result.status == "timeout" and result.steps == 1
    assert result.trace[-1].step == 1


@pytest.mark.parametrize("n, size", [(10, 4), (20, 20), (7, 1)])
def test_each_epoch_visits_distinct_instances(n: int, size: int) -> None:
    batches = minibatches(n, size, np.random.default_rng(0))
    epoch = np.concatenate([next(batches) for _ in range(n // size)])
    assert len(np.unique(epoch)) == len(epoch) == (n // size) * size
    assert epoch.min() >= 0 and epoch.max() < n

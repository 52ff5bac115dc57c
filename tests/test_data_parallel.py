"""Data-parallel training (PINN, learned gradient descent, FNO) gives one result on 1 to 8 devices.

JAX fixes its device list when it starts, so one subprocess with eight simulated CPU
devices trains each case on meshes of N devices and prints JSON; the tests compare N > 1
with N = 1. The PINN runs on N = 1, 2, 3, 4, 8 with 1001 collocation points, the learned
gradient descent (whose compilation is slower) on N = 1, 3, 8 with batches of 5, so the
weight-0 padding and the masked mean are exercised, down to devices that hold only padding.
The PINN with the jaxpi recipe (term-wise loss, gradient-norm weights, adaptive resampling)
runs on the three-term Kovasznay flow on N = 1 and 3.

Tolerance: the runs differ only in how XLA splits and orders the float32 sums over points
(or samples) and adds the all-reduced partial gradients: a change of a few float32 ulps
(~1e-7 relative) per step, which Adam does not damp. The runs here end within 3e-7 of N = 1
in loss and prediction. ``RTOL`` = 5e-5 leaves two orders of margin for other CPUs and XLA
versions, and still catches real errors: one padding point counted in the PINN's loss
changes it by ~1e-3, a padded sample in the batch mean by ~20%, a lost shard by O(1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

COUNTS = (1, 2, 3, 4, 8)
GD_COUNTS = (1, 3, 8)
RTOL = 5e-5
PINN_KNOBS = {"width": 32, "depth": 3, "n_collocation": 1001, "steps_per_dispatch": 50}
PINN_STEPS = 300
GD_BATCH = 5  # divides by none of 2, 3, 4, 8
GD_STEPS = 30
RECIPE_COUNTS = (1, 3)
RECIPE_KNOBS = {**PINN_KNOBS, "recipe": "jaxpi", "balance_every": 50, "rad_every": 100}
FNO_COUNTS = (1, 3)
FNO_PROBLEM = {"resolution": 64, "n_train": 16, "n_validation": 4, "n_test": 7}
FNO_KNOBS = {"modes": 8, "width": 8, "batch_size": 5, "checkpoint_every": 10}
FNO_STEPS = 30


def _silent(done: int, total: int, postfix: dict[str, float]) -> None:
    return None


def _worker() -> None:
    """Runs in the subprocess: every case on every device count, as JSON on stdout."""
    from test_learned_reconstruction import TINY, ToyInverse

    from parity.problems import MultiScale1D
    from parity.problems.burgers_operator_1d import BurgersOperator1D
    from parity.problems.kovasznay_2d import Kovasznay2D
    from parity.solvers import PINN, Budget, Evaluator
    from parity.solvers.neural_operators.fno_solver import FNO
    from parity.solvers.physics_informed.training import parameter_count
    from parity.solvers.reconstruction.learned_gd import LearnedGradientDescent

    problem = MultiScale1D()
    x = problem.test_points()
    evaluator = Evaluator(x, problem.reference(x))
    toy = ToyInverse()
    toy_evaluator = toy.evaluator()
    flow = Kovasznay2D()
    flow_evaluator = flow.evaluator()
    operator_problem = BurgersOperator1D(**FNO_PROBLEM)
    operator_evaluator = operator_problem.evaluator()
    out: dict[str, dict] = {}
    for count in COUNTS:
        pinn = PINN(**PINN_KNOBS)
        result = pinn.solve(problem, Budget(steps=PINN_STEPS, devices=count), 0, evaluator, _silent)
        out[str(count)] = {
            "pinn_status": result.status,
            "pinn_losses": [c.loss for c in result.trace[1:]],
            "pinn_prediction": np.asarray(result.predict(x[::50]))[:, 0].tolist(),
            "pinn_params": parameter_count(pinn.network(problem, 0)),
            "pinn_comm_bytes": result.info["comm_bytes_per_step"],
            "pinn_devices": result.info["devices"],
        }
        if count in RECIPE_COUNTS:
            recipe = PINN(**RECIPE_KNOBS).solve(flow, Budget(steps=PINN_STEPS, devices=count), 0, flow_evaluator, _silent)
            out[str(count)] |= {
                "recipe_status": recipe.status,
                "recipe_losses": [c.loss for c in recipe.trace[1:]],
                "recipe_weights": recipe.info["loss_weights"],
            }
        if count in FNO_COUNTS:
            fno = FNO(**FNO_KNOBS).solve(operator_problem, Budget(steps=FNO_STEPS, devices=count), 0, operator_evaluator, _silent)
            out[str(count)] |= {
                "fno_status": fno.status,
                "fno_devices": fno.info["devices"],
                "fno_losses": [c.loss for c in fno.trace[1:]],
                "fno_prediction": np.asarray(fno.predict(operator_evaluator.x_test)).ravel()[::16].tolist(),
            }
        if count in GD_COUNTS:
            gd = LearnedGradientDescent(**{**TINY, "batch_size": GD_BATCH, "checkpoint_every": 5})
            learned = gd.solve(toy, Budget(steps=GD_STEPS, devices=count), 0, toy_evaluator, _silent)
            out[str(count)] |= {
                "gd_status": learned.status,
                "gd_devices": learned.info["devices"],
                "gd_losses": [c.loss for c in learned.trace[1:]],
                "gd_prediction": np.asarray(learned.predict(toy.dataset("test").observations[:3])).ravel().tolist(),
            }
    print(json.dumps(out))


@pytest.fixture(scope="module")
def runs() -> dict[int, dict]:
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={max(COUNTS)}".strip(), "JAX_PLATFORMS": "cpu"}
    with tempfile.TemporaryDirectory() as cache:
        env["PARITY_CACHE_DIR"] = cache
        done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stderr[-4000:]
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


@pytest.mark.parametrize("count", COUNTS[1:])
def test_pinn_trains_the_same_on_every_device_count(runs: dict[int, dict], count: int) -> None:
    one, many = runs[1], runs[count]
    assert many["pinn_status"] == one["pinn_status"] == "ok"
    assert many["pinn_devices"] == count
    assert len(many["pinn_losses"]) == PINN_STEPS // PINN_KNOBS["steps_per_dispatch"]
    np.testing.assert_allclose(many["pinn_losses"], one["pinn_losses"], rtol=RTOL)
    np.testing.assert_allclose(many["pinn_prediction"], one["pinn_prediction"], rtol=RTOL, atol=RTOL * np.max(np.abs(one["pinn_prediction"])))


def test_pinn_recipe_trains_the_same_on_three_devices(runs: dict[int, dict]) -> None:
    """Balancing's per-term gradients and the resampling's residuals run sharded too."""
    one, many = runs[1], runs[3]
    assert many["recipe_status"] == one["recipe_status"] == "ok"
    assert len(one["recipe_weights"]) == 3 and max(one["recipe_weights"]) > 1.5  # the terms were reweighted
    np.testing.assert_allclose(many["recipe_weights"], one["recipe_weights"], rtol=10 * RTOL)
    np.testing.assert_allclose(many["recipe_losses"], one["recipe_losses"], rtol=10 * RTOL)


@pytest.mark.parametrize("count", GD_COUNTS[1:])
def test_learned_gd_trains_the_same_on_every_device_count(runs: dict[int, dict], count: int) -> None:
    one, many = runs[1], runs[count]
    assert many["gd_status"] == one["gd_status"] == "ok"
    assert many["gd_devices"] == count
    assert len(many["gd_losses"]) == GD_STEPS // 5
    np.testing.assert_allclose(many["gd_losses"], one["gd_losses"], rtol=RTOL)
    np.testing.assert_allclose(many["gd_prediction"], one["gd_prediction"], rtol=RTOL, atol=RTOL * np.max(np.abs(one["gd_prediction"])))


def test_pinn_communicates_one_gradient_per_step(runs: dict[int, dict]) -> None:
    """One device sends nothing; more all-reduce the gradient once per step, whatever their number.

    The loss's two scalar sums (squared residuals, weights) are the only other traffic.
    """
    assert runs[1]["pinn_comm_bytes"] == 0
    gradient_bytes = 4 * runs[1]["pinn_params"]
    for count in COUNTS[1:]:
        assert runs[count]["pinn_comm_bytes"] == gradient_bytes + 2 * 4


def test_padding_is_weightless() -> None:
    """The helpers that pad points and batches to a multiple of the device count."""
    import jax.numpy as jnp

    from parity.devices import pad_rows, pad_weights
    from parity.solvers.supervised import masked_mean, padded_batch

    x = np.arange(10.0).reshape(5, 2)
    assert pad_rows(x, 1) is x and pad_weights(np.ones(5), 1).tolist() == [1.0] * 5
    np.testing.assert_array_equal(pad_rows(x, 4), np.concatenate([x, [x[0]] * 3]))
    assert pad_weights(np.array([1.0, 0.0, 1.0], np.float32), 4).tolist() == [1.0, 0.0, 1.0, 0.0]
    indices, mask = padded_batch(np.array([7, 3, 5], np.int32), 2)
    assert indices.tolist() == [7, 3, 5, 7] and mask.tolist() == [1.0, 1.0, 1.0, 0.0]
    values = jnp.asarray(np.random.default_rng(0).uniform(size=(4, 3, 2)), jnp.float32)
    np.testing.assert_allclose(masked_mean(values, jnp.asarray(mask)), np.mean(np.asarray(values)[:3]), rtol=1e-6)


if __name__ == "__main__":
    _worker()


def test_fno_trains_the_same_on_three_devices(runs: dict[int, dict]) -> None:
    """Batches of 5 over 3 devices: padding masked out of the mean relative error, the gradient all-reduced."""
    one, many = runs[1], runs[3]
    assert many["fno_status"] == one["fno_status"] == "ok" and many["fno_devices"] == 3
    assert len(one["fno_losses"]) == FNO_STEPS // FNO_KNOBS["checkpoint_every"]
    np.testing.assert_allclose(many["fno_losses"], one["fno_losses"], rtol=10 * RTOL)
    np.testing.assert_allclose(many["fno_prediction"], one["fno_prediction"], rtol=10 * RTOL, atol=10 * RTOL * np.max(np.abs(one["fno_prediction"])))

"""What training costs on more than one axis: work, synchronisations and a modelled parallel time.

Wall seconds on one machine hide what a decomposition-preconditioned optimiser is for:
its local solves run side by side on P workers and need no global reduction. So every
training step also counts

- **fine gradients**: value-and-gradient evaluations in whole-loss equivalents; a local
  evaluation on a subdomain's window counts its share of the training points;
- **global evaluations**: evaluations of the whole loss, each one all-reduce of the loss
  and its gradient in a multi-device run (the synchronisations);
- **critical local gradients**: the local work on the critical path when every subdomain
  has a worker of its own (the slowest subdomain of each parallel sweep), in fine gradients;
- **local failures**: local solves that ended non-finite, whose corrections were dropped.

From them the reports model the time on P workers (``parity.report.training_costs``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PyTree


class StepCost(NamedTuple):
    """One step's costs (see the module's docstring); each a scalar array, summed over steps."""

    fine_gradients: Float[Array, ""]
    global_evaluations: Float[Array, ""]
    critical_local_gradients: Float[Array, ""]
    local_failures: Float[Array, ""]

    @classmethod
    def global_only(cls, evaluations: Array | float) -> StepCost:
        """The cost of ``evaluations`` whole-loss evaluations and nothing local."""
        n = jnp.asarray(evaluations, jnp.float32)
        return cls(n, n, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))

    @classmethod
    def zero(cls) -> StepCost:
        return cls.global_only(0.0)

    def __add__(self, other: StepCost) -> StepCost:  # type: ignore[override]
        return StepCost(*(a + b for a, b in zip(self, other)))

    def totals(self) -> dict[str, float]:
        """Summed over any leading step axis, as plain numbers keyed by field name."""
        return {name: float(jnp.sum(value)) for name, value in zip(self._fields, self)}


def line_search_evaluations(state: PyTree) -> Array:
    """Value-and-gradient evaluations of the zoom line search in an optax L-BFGS state's last step."""
    return jnp.asarray(optax.tree_utils.tree_get(state, "num_linesearch_steps"), jnp.float32)

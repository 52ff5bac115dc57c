"""What solvers that invert each test sample on its own share (FWI, PINN inversion).

They have no training to amortise: the inversion of a sample *is* the solve. ``solve``
inverts the test observations, keeping each sample's iterates at checkpoints, and the trace
scores all samples' j-th iterates together; ``predict`` hands back the finished inversions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from jaxtyping import Float


def aligned(counts: Sequence[int], j: int) -> list[int]:
    """Each sample's index of its j-th kept iterate, or of its last when it kept fewer (it stopped early)."""
    return [min(j, count - 1) for count in counts]


def memoised_predict(observations: np.ndarray, inversions: Float[np.ndarray, "n nx nz"], method: str) -> Callable[[np.ndarray], np.ndarray]:
    """``predict`` for the observations ``solve`` inverted; any others raise (inverting them is a new solve)."""
    def predict(x: np.ndarray) -> np.ndarray:
        if not np.array_equal(np.asarray(x), observations, equal_nan=True):  # data with gaps (NaN) are still the same data
            raise ValueError(f"this {method} result holds the inversions of the test observations only; run the solver on new data")
        return inversions
    return predict

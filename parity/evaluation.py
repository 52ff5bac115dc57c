"""Errors of a prediction against the reference on a problem's held-out test points.

It lives apart from both problems and solvers: a problem decides *what* is compared
(which outputs, which extra metrics), a solver only calls the evaluator at its
checkpoints and never sees the reference itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jaxtyping import Float

ExtraMetrics = Callable[[Float[np.ndarray, "m out"], Float[np.ndarray, "m out"]], dict[str, float]]
"""``extra(prediction, reference)`` -> further named errors (spectra, correlations, ...)."""


class Evaluator:
    """rel_l2, norm_l1 and max_abs of the compared outputs, plus a problem's own metrics."""

    def __init__(
        self,
        x_test: Float[np.ndarray, "m d"],
        u_ref: Float[np.ndarray, "m out"],
        outputs: Sequence[int] | None = None,
        extra: ExtraMetrics | None = None,
        per_sample: bool = False,
    ):
        """``outputs``: the prediction's columns the reference gives (all when None). ``per_sample``: rel_l2 is
        the mean over the first axis of each sample's own relative error (operator learning's convention)."""
        self.x_test = x_test
        self._u_ref = np.asarray(u_ref, dtype=np.float64)
        self._outputs = None if outputs is None else list(outputs)
        self._extra = extra
        self._per_sample = per_sample
        self._ref_norm = float(np.linalg.norm(self._u_ref))
        self._ref_std = float(np.std(self._u_ref))

    def compared(self, u_pred: Any) -> Float[np.ndarray, "m out"]:
        """The prediction's compared outputs, shaped like the reference."""
        u = np.asarray(u_pred, dtype=np.float64)
        if self._outputs is not None:
            u = u.reshape(len(self._u_ref), -1)[:, self._outputs]
        return u.reshape(self._u_ref.shape)

    def __call__(self, u_pred: Any) -> dict[str, float]:
        """rel_l2 = |u - u*|_2 / |u*|_2 (per sample, then averaged, if so built);  norm_l1 = mean|u - u*| / std(u*) (FBPINN paper)."""
        u = self.compared(u_pred)
        diff = u - self._u_ref
        if self._per_sample:
            flat = len(diff), -1
            rel_l2 = float(np.mean(np.linalg.norm(diff.reshape(flat), axis=1) / np.linalg.norm(self._u_ref.reshape(flat), axis=1)))
        else:
            rel_l2 = float(np.linalg.norm(diff) / self._ref_norm)
        metrics = {
            "rel_l2": rel_l2,
            "norm_l1": float(np.mean(np.abs(diff)) / self._ref_std),
            "max_abs": float(np.max(np.abs(diff))),
        }
        if self._extra is not None and np.all(np.isfinite(u)):
            metrics.update(self._extra(u, self._u_ref))
        return metrics

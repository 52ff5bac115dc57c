"""The Taylor test of a gradient: the remainder of the first-order expansion must fall as eps^2.

For a misfit J with gradient g at x and a direction d, |J(x + eps d) - J(x)| falls like eps
and |J(x + eps d) - J(x) - eps <g, d>| like eps^2 when g is exact; halving eps divides them
by 2 and 4. A wrong gradient (a missing term, a sign, an adjoint that is not one) leaves
the second remainder falling like eps, rate 2.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from jaxtyping import Float


def taylor_rates(
    misfit: Callable[[Float[np.ndarray, "..."]], float],
    x: Float[np.ndarray, "..."],
    direction: Float[np.ndarray, "..."],
    value: float,
    gradient: Float[np.ndarray, "..."],
    epsilons: Float[np.ndarray, " k"],
) -> tuple[Float[np.ndarray, " k-1"], Float[np.ndarray, " k-1"]]:
    """Ratios of successive remainders (zeroth and first order) over ``epsilons``, each half the last: ~2 and ~4 when exact."""
    slope = float(np.sum(gradient * direction))
    first, second = [], []
    for eps in epsilons:
        change = misfit(x + eps * direction) - value
        first.append(abs(change))
        second.append(abs(change - eps * slope))
    return np.divide(first[:-1], first[1:]), np.divide(second[:-1], second[1:])

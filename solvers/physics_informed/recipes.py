"""Named training recipes: which state-of-the-art ingredients a physics-informed solver uses.

A recipe is a set of ingredients; a solver's ``add`` and ``drop`` knobs change the set,
which is how an ablation removes one ingredient at a time from a recipe. Each
ingredient's own settings (Fourier scale, causal tolerance, ...) are ordinary knobs.

``jaxpi`` follows Wang et al. 2023 ("An expert's guide to training physics-informed
neural networks", the jaxpi code's defaults): random Fourier features, a modified MLP
with random weight factorisation, gradient-norm loss balancing, causal weighting in time,
and learning-rate warm-up then exponential decay. jaxpi draws a fresh uniform batch
every step; here a fixed-size point set is redrawn by residual-based adaptive sampling
(RAD) instead, so ``rad`` is part of the recipe. ``pirate`` is the same with PirateNet
residual blocks (Wang et al. 2024) in place of the modified MLP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import optax
from jaxtyping import Array

from parity.knobs import Configurable, ParameterError, at_least, knob, positive
from parity.problems.base import ForwardProblem
from parity.solvers.physics_informed.architectures import Network, build_network
from parity.solvers.physics_informed.balancing import LossBalancing
from parity.solvers.physics_informed.loss_terms import LossTerms
from parity.solvers.physics_informed.optimisers import OPTIMISERS, build_optimiser, learning_rate_schedule

INGREDIENTS: dict[str, str] = {
    "fourier": "random Fourier feature embedding of the inputs",
    "modified_mlp": "modified MLP: two encoders gate every hidden layer (Wang, Teng & Perdikaris 2021)",
    "pirate": "PirateNet: gated residual blocks that open from zero (Wang et al. 2024)",
    "rwf": "random weight factorisation of every dense layer (Wang et al. 2022)",
    "grad_norm": "loss terms weighted to equal gradient norms, every balance_every steps",
    "ntk": "loss terms weighted by their NTK traces, every balance_every steps",
    "causal": "causal weighting of the residual in time (evolution problems)",
    "rad": "residual-based adaptive resampling of the points, every rad_every steps",
    "lr_schedule": "learning-rate warm-up, then exponential decay",
}

_JAXPI = frozenset({"fourier", "modified_mlp", "rwf", "grad_norm", "causal", "rad", "lr_schedule"})
RECIPES: dict[str, frozenset[str]] = {
    "plain": frozenset(),
    "jaxpi": _JAXPI,
    "pirate": (_JAXPI - {"modified_mlp"}) | {"pirate"},
}

_EXCLUSIVE = (frozenset({"modified_mlp", "pirate"}), frozenset({"grad_norm", "ntk"}))


def ingredients(owner: str, recipe: str, add: tuple[str, ...], drop: tuple[str, ...], problem: ForwardProblem) -> frozenset[str]:
    """The recipe's ingredients with ``add`` and ``drop`` applied, checked against each other and the problem.

    A recipe's ``causal`` is left out on a steady problem (nothing to be causal in); an
    explicitly added one is an error there.
    """
    if recipe not in RECIPES:
        raise ParameterError(f"{owner}: parameter 'recipe' = {recipe!r} is not allowed; allowed: {' | '.join(RECIPES)}")
    for knob_name, names in (("add", add), ("drop", drop)):
        unknown = sorted(set(names) - set(INGREDIENTS))
        if unknown:
            raise ParameterError(f"{owner}: parameter {knob_name!r} has unknown ingredient(s) {unknown}; allowed: {', '.join(INGREDIENTS)}")
    chosen = (RECIPES[recipe] - set(drop)) | set(add)
    for pair in _EXCLUSIVE:
        if pair <= chosen:
            raise ParameterError(f"{owner}: ingredients {' and '.join(sorted(pair))} exclude each other; choose one (use 'drop')")
    if problem.time_axis is None and "causal" in chosen:
        if "causal" in add:
            raise ParameterError(f"{owner}: ingredient 'causal' needs an evolution problem; {problem.name!r} has no time axis")
        chosen = chosen - {"causal"}
    return frozenset(chosen)


@dataclasses.dataclass(frozen=True)
class TrainingRecipe(Configurable):
    """The recipe knobs a physics-informed solver shares, and what they build.

    Each ingredient's settings are used only when the ingredient is chosen. The defaults
    are jaxpi's, except the periods: jaxpi trains 10^5 steps or more on a GPU, a run here
    10^3 to 10^4 on two CPU cores, so warm-up (jaxpi: 5000 steps), decay (every 2000), loss
    weights and resampling (every 1000) come several times sooner.
    """

    optimiser: str = knob("adam", "first optimiser", " | ".join(OPTIMISERS), OPTIMISERS.__contains__)
    recipe: str = knob("plain", "named set of training ingredients (see parity.solvers.physics_informed.recipes)", " | ".join(RECIPES), RECIPES.__contains__)
    add: tuple[str, ...] = knob((), "ingredients added to the recipe", ", ".join(INGREDIENTS), lambda names: set(names) <= set(INGREDIENTS))
    drop: tuple[str, ...] = knob((), "ingredients removed from the recipe (ablation)", ", ".join(INGREDIENTS), lambda names: set(names) <= set(INGREDIENTS))
    fourier_scale: float = knob(1.0, "fourier: standard deviation of the random frequencies (inputs scaled to [-1, 1])", "finite number > 0", positive)
    fourier_features: int = knob(
        0, "fourier: random frequencies, the embedding has twice as many features; 0 = width // 2, an embedding as wide as a hidden layer (as jaxpi)",
        "integer >= 0", at_least(0),
    )
    rwf_mean: float = knob(1.0, "rwf: mean of the log scale factors", "finite number")
    rwf_std: float = knob(0.1, "rwf: standard deviation of the log scale factors", "number >= 0", at_least(0))
    balance_every: int = knob(500, "grad_norm / ntk: steps between weight updates", "integer >= 1", at_least(1))
    balance_momentum: float = knob(0.9, "grad_norm / ntk: weight given to the old weights at an update", "number in [0, 1)", lambda m: 0 <= m < 1)
    causal_chunks: int = knob(16, "causal: time chunks", "integer >= 2", at_least(2))
    causal_tolerance: float = knob(1.0, "causal: epsilon of the weights exp(-epsilon * earlier loss)", "finite number > 0", positive)
    rad_every: int = knob(500, "rad: steps between resamplings", "integer >= 1", at_least(1))
    rad_pool: int = knob(8, "rad: candidate pool size, in training sets", "integer >= 2", at_least(2))
    rad_k: float = knob(1.0, "rad: exponent of the residual in the density", "number >= 0", at_least(0))
    rad_c: float = knob(1.0, "rad: uniform share added to the density", "number >= 0", at_least(0))
    warmup_steps: int = knob(200, "lr_schedule: linear warm-up steps", "integer >= 0", at_least(0))
    decay_steps: int = knob(1000, "lr_schedule: steps per decay", "integer >= 1", at_least(1))
    decay_rate: float = knob(0.9, "lr_schedule: factor per decay_steps", "number in (0, 1]", lambda r: 0 < r <= 1)

    def ingredients(self, problem: ForwardProblem) -> frozenset[str]:
        return ingredients(self.name, self.recipe, self.add, self.drop, problem)

    def recipe_network(
        self, problem: ForwardProblem, n_nets: int, n_in: int, width: int, depth: int, activation: Callable[[Array], Array], seed: int
    ) -> Network:
        """``n_nets`` stacked networks with the chosen architecture, embedding and factorisation."""
        chosen = self.ingredients(problem)
        architecture = "pirate" if "pirate" in chosen else "modified_mlp" if "modified_mlp" in chosen else "mlp"
        return build_network(
            architecture, n_nets, n_in, width, depth, problem.out_dim, activation, seed=seed,
            fourier=(self.fourier_scale, self.fourier_features or max(1, width // 2)) if "fourier" in chosen else None,
            factorisation=(self.rwf_mean, self.rwf_std) if "rwf" in chosen else None,
        )

    def first_optimiser(self, problem: ForwardProblem, peak: float) -> optax.GradientTransformation:
        scheduled = "lr_schedule" in self.ingredients(problem)
        rate = learning_rate_schedule(peak, self.warmup_steps, self.decay_steps, self.decay_rate) if scheduled else peak
        return build_optimiser(self.optimiser, rate)

    def loss_terms(self, problem: ForwardProblem, seed: int) -> LossTerms | None:
        """The term-wise loss when an ingredient weighs terms apart (balancing, causality); else None (one mean square)."""
        chosen = self.ingredients(problem)
        if not chosen & {"grad_norm", "ntk", "causal"}:
            return None
        return LossTerms.for_problem(problem, self.causal_chunks if "causal" in chosen else 1, self.causal_tolerance, seed)

    def loss_balancing(self, problem: ForwardProblem, terms: LossTerms | None) -> LossBalancing | None:
        chosen = self.ingredients(problem)
        if not chosen & {"grad_norm", "ntk"}:
            return None
        assert terms is not None
        return LossBalancing("ntk" if "ntk" in chosen else "grad_norm", len(terms.names), self.balance_every, self.balance_momentum)

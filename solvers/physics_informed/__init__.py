"""Physics-informed solvers: networks trained on a PDE's residual.

``pinn`` (one network) and ``fbpinn`` (finite-basis PINN: windowed subdomain networks,
one or several levels), with the machinery they share: the training loop that keeps
*what* is minimised (``training.TrainingTask``) apart from *how* (``training.train``),
time marching and the weighted mean square (``schedule``), stacked networks
(``networks``, ``architectures``), domain decomposition (``decomposition``) and its split
over devices (``fbpinn_partition``); and the training recipe's ingredients, which both
solvers take through ``recipes.TrainingRecipe``: term-wise and causal losses
(``loss_terms``), loss balancing (``balancing``), adaptive resampling
(``adaptive_sampling``) and optimisers with their schedule (``optimisers``).
"""

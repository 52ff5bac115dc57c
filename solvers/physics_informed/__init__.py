"""Physics-informed solvers: networks trained on a PDE's residual.

``pinn`` (one network) and ``fbpinn`` (finite-basis PINN: windowed subdomain networks,
one or several levels), with the machinery they share: the training loop that keeps
*what* is minimised (``training.TrainingTask``) apart from *how* (``training.train``),
time marching and the weighted mean square (``schedule``), stacked networks
(``networks``), domain decomposition (``decomposition``) and its split over devices
(``fbpinn_partition``).
"""

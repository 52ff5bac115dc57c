"""Seismic full-waveform inversion: velocity models from surface records, one inversion per model.

Adjoint-state FWI on Devito (``fwi``), learned gradient descent on the JAX wave solver's
misfit gradient (``learned_fwi``), the PINN inversion (``pinn_fwi``), the shared prior as a
baseline (``starting_model``), and what per-model inversions share (``per_sample_inversion``).
"""

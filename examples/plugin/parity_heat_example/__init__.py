"""An example Parity plugin: the 1D heat equation (``heat``), a Crank-Nicolson refinement sweep
(``crank_nicolson``) and a PINN on Parity's shared training loop (``heat_pinn``), all written
against :mod:`parity.api` alone and registered in this package's ``pyproject.toml``."""

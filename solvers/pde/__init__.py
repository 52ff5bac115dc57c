"""Classical PDE and ODE solvers, each a refinement sweep (``refinement``) to convergence.

Chebyshev series (``chebyshev``), SciPy's adaptive Runge-Kutta (``rk_ode``), DOLFINx finite
elements for Poisson / Helmholtz (``fem_poisson``) and Navier-Stokes (``fem_navier_stokes``),
Devito finite differences for the wave equation (``devito_wave``) and the JAX Fourier
pseudo-spectral solver (``spectral``).
"""

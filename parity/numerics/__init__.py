"""Numerical kernels shared by solvers and by problems' reference solutions."""

"""Hybrid solvers: networks that help a classical scheme (learned corrections trained through the solver)."""

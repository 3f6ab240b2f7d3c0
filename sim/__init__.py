"""Competitive-landscape Monte Carlo simulator for the CAR-T cell-therapy market."""

__version__ = "0.1.0"

"""Sampling: how each draw's inputs are made from its uniforms.

rng (counter-based uniforms per draw and input name) -> designs (plain Monte Carlo, Latin
hypercube, Sobol) -> correlation (rank correlation between named inputs) -> tables (values
from uniforms through each distribution's inverse CDF).
"""

from __future__ import annotations


def warm_up_sampling() -> None:
    """Load the sampling layer's compiled kernels from numba's cache (a worker's start-up)."""
    import numpy as np

    from sim.sampling.rng import hashed_uniforms
    from sim.sampling.tables import table_interp

    hashed_uniforms(np.zeros((1, 2), np.uint64), np.uint64(1), np.uint64(2), np.empty(1))
    i = np.array([0, 1], dtype=np.int64)
    table_interp(np.ones(1), np.array([0.0, 1.0]), np.ones(2), i, np.empty(1))

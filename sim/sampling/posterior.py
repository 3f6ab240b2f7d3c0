"""Each draw's particle of a fitted posterior (sim.scenario.posterior): its own counter-based
uniform picks it by weight, so results are the same for any number of workers and scenarios
sharing the posterior stay paired."""

from __future__ import annotations

import numpy as np

from sim.sampling.rng import uniforms
from sim.scenario.posterior import PARTICLE_INPUT, read_posterior


def posterior_pins(path: str, sha256: str, names: tuple[str, ...], keys: np.ndarray) -> dict[str, np.ndarray]:
    """Each draw's particle's quantiles, by input name (the Sampler's pinned uniforms)."""
    u, cum = read_posterior(path, sha256, names)
    pick = np.minimum(np.searchsorted(cum, uniforms(keys, PARTICLE_INPUT), side="right"), len(cum) - 1)
    return {n: np.ascontiguousarray(u[pick, k]) for k, n in enumerate(names)}

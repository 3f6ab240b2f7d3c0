"""Root seeds: one place that turns what users pass into the integer every draw's key derives from."""

from __future__ import annotations

import numpy as np


def normalize_seed(seed: int | np.random.SeedSequence | None) -> int:
    """One place that turns what users pass into an integer root seed; None means fresh entropy."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.entropy)  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)

"""The per-draw cohort engine: the batch engine's fluid patient flow, one draw at a time.

It is `BatchSim` run with a batch of size one in a Python loop. Its results are identical
to the batch engine's (draw i's inputs depend only on (seed, i)); it exists as the
"obvious" implementation the batch engine is benchmarked against
(benchmarks/compare_engines.py).
"""

from __future__ import annotations

import numpy as np

from sim.engine.batch import BatchSim
from sim.engine.outputs import BatchOutput, concat_outputs
from sim.engine.structure import Structure
from sim.sampling.designs import Design


def simulate_cohort(structure: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                    pinned: dict[str, np.ndarray] | None = None) -> BatchOutput:
    """The batch engine one draw at a time (same results, no vectorisation across draws)."""
    ids = np.asarray(draw_ids, dtype=np.int64)
    outs = []
    for k, i in enumerate(ids.tolist()):
        pin = {n: v[k:k + 1] for n, v in pinned.items()} if pinned else None
        outs.append(BatchSim(structure, seed, np.array([i]), design, pin).run())
    return concat_outputs(outs)

"""The per-draw cohort engine: the batch engine's fluid patient flow, one draw at a time.

It is `BatchSim` run with a batch of size one in a Python loop. Its results are identical
to the batch engine's (draw i's inputs depend only on (seed, i)); it exists as the
"obvious" implementation the batch engine is benchmarked against
(benchmarks/compare_engines.py), and `concat_outputs` is shared with the patient engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.engine.batch import BatchOutput, BatchSim
from sim.engine.structure import Structure
from sim.sampling.designs import Design


def concat_outputs(outs: Sequence[BatchOutput]) -> BatchOutput:
    """Stack per-draw (or per-batch) outputs along the draw axis.

    Event and input records are created lazily by the engine (an event nobody waits for and
    that never fires in a draw may have no record), so keys are unioned and missing values
    are NaN.
    """
    if not outs:
        raise ValueError("concat_outputs needs at least one output")

    def stack(name: str) -> dict[str, np.ndarray]:
        keys = list(getattr(outs[0], name))
        return {k: np.concatenate([getattr(o, name)[k] for o in outs], axis=0) for k in keys}

    def union(name: str) -> dict[str, np.ndarray]:
        keys: list[str] = []
        for o in outs:
            keys += [k for k in getattr(o, name) if k not in keys]
        res = {}
        for k in keys:
            parts = []
            for o in outs:
                d = getattr(o, name)
                parts.append(d[k] if k in d else np.full(len(o.draw_ids), np.nan))
            res[k] = np.concatenate(parts, axis=0)
        return res

    return BatchOutput(
        lanes=stack("lanes"),
        cells=stack("cells"),
        companies=stack("companies"),
        draw_ids=np.concatenate([o.draw_ids for o in outs]),
        events=union("events"),
        inputs=union("inputs"),
    )


def simulate_cohort(st: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                    pinned: dict[str, np.ndarray] | None = None) -> BatchOutput:
    """The batch engine one draw at a time (same results, no vectorisation across draws)."""
    ids = np.asarray(draw_ids, dtype=np.int64)
    outs = []
    for k, i in enumerate(ids.tolist()):
        pin = {n: v[k:k + 1] for n, v in pinned.items()} if pinned else None
        outs.append(BatchSim(st, seed, np.array([i]), design, pin).run())
    return concat_outputs(outs)

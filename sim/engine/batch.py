"""The batch engine: a batch of draws simulated at once, as a fluid patient flow.

A `BatchMarket` samples the batch's inputs and puts its events on a simpy calendar (one timeout
per month with something to apply); one flow process advances the patient flow of every draw
each month, at t + 0.5 after the month's events: by default in compiled passes
(sim.engine.compiled), or with the readable numpy version of the same month (`kernel="numpy"`,
the compiled flow's oracle in the tests). No individual patients are simulated here; the
patient-level engine (sim.engine.patient) is built from the same market.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from sim.engine.compiled import CompiledFlow
from sim.engine.flow import Flow, accumulators
from sim.engine.market import BatchMarket
from sim.engine.outputs import BatchOutput, batch_output, derive_compiled, derive_numpy
from sim.engine.structure import Structure
from sim.sampling.designs import Design
from sim.vocab import KERNELS


class BatchSim:
    """One batch of draws of a scenario: market, calendar and the monthly flow."""

    def __init__(self, structure: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                 pinned: dict[str, np.ndarray] | None = None, kernel: str = "compiled",
                 out_dtype: Any = np.float64) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, not {kernel!r}")
        self.kernel = kernel
        self.out_dtype = out_dtype  # of the results; float32 when they are only written (the runner)
        self.structure = structure
        self.market = BatchMarket(structure, seed, draw_ids, design, pinned)

    def _flow(self, acc: dict[str, np.ndarray]) -> Generator[simpy.Event, Any, None]:
        env = self.market.calendar.env
        yield env.timeout(0.5)
        flow = CompiledFlow(self.market) if self.kernel == "compiled" else Flow(self.market)
        for t in range(self.structure.T):
            flow.month(t, acc)
            yield env.timeout(1)

    def run(self) -> BatchOutput:
        """Simulate the batch and return its results."""
        market = self.market
        acc = accumulators(market)
        market.schedule()
        if self.structure.L:
            market.calendar.env.process(self._flow(acc))
        market.calendar.run()
        derive = derive_compiled if self.kernel == "compiled" else derive_numpy
        return batch_output(market, derive(market, acc, self.out_dtype))


def simulate_batch(structure: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                   pinned: dict[str, np.ndarray] | None = None, kernel: str = "compiled",
                   out_dtype: Any = np.float64) -> BatchOutput:
    """The results of draws `draw_ids` of a scenario (see BatchSim)."""
    return BatchSim(structure, seed, draw_ids, design, pinned, kernel, out_dtype).run()

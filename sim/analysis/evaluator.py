"""Draws of a scenario evaluated in memory, reduced to one output: what sensitivity and
convergence analyses ask for, many times over, without writing results folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.engine.batch import simulate_batch
from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure, build_structure
from sim.errors import ScenarioError, did_you_mean
from sim.results.folder import memory_results
from sim.scenario import LoadedScenario, Scenario, load_scenario


@dataclass
class Measure:
    """The output analysed: `metric` summed over `group` of grouping `by` (after `filters`)."""

    metric: str = "revenue"
    by: str = "total"
    group: str | None = None
    filters: dict[str, list[str]] | None = None
    freq: str | None = None

    def describe(self) -> str:
        """The measure for titles and files, e.g. 'revenue (Carvykti, region=China)'."""
        flt = "".join(f", {k}={'/'.join(v)}" for k, v in (self.filters or {}).items())
        return f"{self.metric} ({self.group or 'total'}{flt})"


def as_scenario(scenario: str | Path | LoadedScenario | Scenario) -> Scenario:
    """A validated Scenario from a path, a loaded scenario or a Scenario."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, LoadedScenario):
        return scenario.scenario
    return load_scenario(scenario).scenario


@dataclass
class Evaluator:
    """Runs draws of one scenario in memory and returns one output per draw and period."""

    scenario: Scenario
    output: Measure = field(default_factory=lambda: Measure())
    seed: int = 0
    batch_size: int | None = None

    def __post_init__(self) -> None:
        from sim.runner.batches import default_batch_size

        self.structure: Structure = build_structure(self.scenario)
        self.batch_size = self.batch_size or default_batch_size(self.structure, 100_000, 1)
        probe = self._simulate(np.arange(2), None)
        groups, self.periods, _ = self._group(probe)
        out = self.output
        if out.group is None:
            if len(groups) != 1:
                raise ScenarioError(f"grouping by {out.by} gives {len(groups)} groups; choose one with "
                                    f"--group ({', '.join(groups)})")
            out.group = groups[0]
        elif out.group not in groups:
            raise ScenarioError(f"--group {out.group!r} is not a {out.by} of scenario "
                                f"'{self.scenario.name}'{did_you_mean(out.group, groups)}; "
                                f"choose one of {', '.join(groups)}")
        self.group_index = groups.index(out.group)

    def _simulate(self, draw_ids: np.ndarray, pinned: dict[str, np.ndarray] | None) -> BatchOutput:
        return simulate_batch(self.structure, self.seed, draw_ids, None, pinned)

    def _group(self, out: BatchOutput) -> tuple[list[str], list[str], np.ndarray]:
        o = self.output
        return memory_results(self.structure, out).grouped(o.metric, o.by, filters=o.filters, freq=o.freq)

    def period_index(self, period: str | None) -> int:
        """Index of a period label (None: the last)."""
        from sim.results.folder import period_index

        return period_index(self.periods, period)

    def run(self, draw_ids: np.ndarray, pinned: dict[str, np.ndarray | float] | None = None
            ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(output (n, periods), recorded uncertain inputs {name: (n,)}) for the given draws.

        `pinned` maps input names to uniforms, one per draw (or a scalar for all draws).
        """
        ids = np.asarray(draw_ids, dtype=np.int64)
        n = ids.size
        pins = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in (pinned or {}).items()}
        ys, rec = [], []
        bs = int(self.batch_size or n)
        for a in range(0, n, bs):
            sl = slice(a, min(a + bs, n))
            out = self._simulate(ids[sl], {k: np.ascontiguousarray(v[sl]) for k, v in pins.items()})
            ys.append(self._group(out)[2][:, self.group_index, :])
            rec.append(out.inputs)
        y = np.concatenate(ys, axis=0) if ys else np.zeros((0, len(self.periods)))
        names = list(rec[0]) if rec else []
        inputs = {k: np.concatenate([r[k] for r in rec]) for k in names}
        return y, inputs

    def uncertain_inputs(self, n: int = 8) -> list[str]:
        """Names of the uncertain inputs, from a dry run of `n` draws (engine order)."""
        return list(self._simulate(np.arange(n), None).inputs)



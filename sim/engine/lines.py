"""Patients flowing between lines of therapy, and launch boluses, as extra eligible patients.

A line flow (`indications.<earlier>.feeds.<later>`) links the earlier line's cell to the later
line's cell in each region where both have a market: each month the later cell's eligible
patients change by (relapse - standard_of_care) x the patients infused in the earlier cell
`lag` months before (a lag of at least one month, so the month's order does not matter). A
bolus adds a market's prevalent patients, spread over its months from the market's first
launch. Eligible patients never fall below zero (the patients a flow would take beyond that
are not taken). The flow records each month's infused patients of the earlier cells; the
patient-level engine records its own counts instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.engine.formulas import whole_months

if TYPE_CHECKING:
    from sim.engine.inputs import Sampler
    from sim.engine.market import BatchMarket
    from sim.engine.structure import Structure


@dataclass
class LineLink:
    """One region's flow from an earlier line's cell to a later line's cell."""

    source: int
    target: int
    coef: np.ndarray  # (draws,) relapse - standard_of_care
    lag: np.ndarray  # (draws,) whole months, at least 1


@dataclass
class BolusSpec:
    """A market's prevalent patients at its first launch."""

    cell: int
    per_month: np.ndarray  # (draws,)
    months: np.ndarray  # (draws,) whole months


def sample_lines(structure: Structure, sampler: Sampler) -> tuple[list[LineLink], list[BolusSpec]]:
    """The line flows and boluses of a batch (sampled last, after every other input)."""
    scn = structure.scenario
    cell_ix = {c: k for k, c in enumerate(structure.cells)}
    links: list[LineLink] = []
    for i, ind in scn.indications.items():
        for later, feed in ind.feeds.items():
            base = f"indications.{i}.feeds.{later}"
            coef = sampler.value(feed.relapse, base + ".relapse") - sampler.value(feed.standard_of_care,
                                                                                    base + ".standard_of_care")
            lag = np.maximum(whole_months(sampler.value(feed.lag_months, base + ".lag_months")), 1).astype(np.int64)
            for r in ind.markets:
                if r in scn.indications[later].markets:
                    links.append(LineLink(cell_ix[(r, i)], cell_ix[(r, later)], coef, lag))
    boluses: list[BolusSpec] = []
    for i, ind in scn.indications.items():
        for r, mk in ind.markets.items():
            if mk.bolus is not None:
                base = f"indications.{i}.markets.{r}.bolus"
                n = sampler.value(mk.bolus.patients, base + ".patients")
                months = np.maximum(whole_months(sampler.value(mk.bolus.months, base + ".months")), 1)
                boluses.append(BolusSpec(cell_ix[(r, i)], n / months, months.astype(np.int64)))
    return links, boluses


class LineFlows:
    """Each month's extra eligible patients per cell (C, draws), from line flows and boluses."""

    def __init__(self, market: BatchMarket) -> None:
        structure, p = market.structure, market.params
        self.market = market
        self.links, self.boluses = p.line_links, p.boluses
        self.active = bool(self.links or self.boluses)
        self.extra = np.zeros((structure.C, market.size))
        sources = sorted({k.source for k in self.links})
        self.source_lanes = {c: np.flatnonzero(structure.lane_cell == c) for c in sources}
        self.history = {c: np.zeros((structure.T, market.size)) for c in sources}  # infused per month
        self.cell_segs = {b.cell: np.flatnonzero(structure.seg_cell == b.cell) for b in self.boluses}
        self.draws = np.arange(market.size)

    def update(self, t: int) -> None:
        """Month t's extra eligible patients (history up to month t - 1 is recorded)."""
        if not self.active:
            return
        extra, t0 = self.extra, self.market.state.t0
        extra[...] = 0.0
        for b in self.boluses:
            segs = self.cell_segs[b.cell]
            first = t0[:, segs].min(axis=1) if segs.size else np.full(self.draws.size, np.inf)
            on = (t >= first) & (t < first + b.months)
            extra[b.cell] += np.where(on, b.per_month, 0.0)
        for k in self.links:
            back = t - k.lag
            ok = back >= 0
            past = self.history[k.source][np.maximum(back, 0), self.draws]
            extra[k.target] += np.where(ok, k.coef * past, 0.0)

    def record(self, t: int, infused: np.ndarray) -> None:
        """Month t's infused patients per lane (L, draws) of the earlier lines' cells."""
        for c, lanes in self.source_lanes.items():
            self.history[c][t] = infused[lanes].sum(axis=0)

    def eligible(self, elig: np.ndarray) -> np.ndarray:
        """The month's eligible patients (C, draws) with the extra ones, never below zero."""
        return np.maximum(elig + self.extra, 0.0) if self.active else elig

"""The static shape of a scenario: lanes (product x region x indication), cells
(region x indication), periods. Computed once per process and shared by all batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.periods import month_ordinal, period_labels
from sim.scenario.schema import Scenario


@dataclass(frozen=True)
class Structure:
    """Names and index arrays of everything a scenario simulates (see the module docstring)."""

    scenario: Scenario
    start: int
    T: int
    freq: str
    period_of_month: np.ndarray
    periods: list[str]
    regions: list[str]
    indications: list[str]
    products: list[str]
    companies: list[str]
    targets: list[str]
    cells: list[tuple[str, str]]
    cell_region: np.ndarray
    lanes: list[tuple[str, str, str]]
    lane_cell: np.ndarray
    lane_product: np.ndarray
    lane_region: np.ndarray
    seg_starts: np.ndarray  # first lane of each segment (cells that have lanes)
    seg_cell: np.ndarray  # cell of each segment
    lane_seg: np.ndarray
    channels: list[list[str]]  # per region, channel names
    K: int
    company_products: list[tuple[str, str]]  # (company, product) rows of the company table

    @property
    def NP(self) -> int:
        """Number of reporting periods."""
        return len(self.periods)

    @property
    def L(self) -> int:
        """Number of lanes (product x region x indication)."""
        return len(self.lanes)

    @property
    def seg_bounds(self) -> np.ndarray:
        """seg_starts followed by L: segment s is lanes seg_bounds[s] .. seg_bounds[s + 1] - 1."""
        return np.r_[self.seg_starts, self.L].astype(np.int64)

    @property
    def C(self) -> int:
        """Number of cells (region x indication)."""
        return len(self.cells)


def build_structure(scn: Scenario, freq: str | None = None) -> Structure:
    """The structure of a scenario, reported at `freq` (default: the scenario's output frequency)."""
    start = month_ordinal(scn.start)
    T = month_ordinal(scn.end) - start + 1
    freq = freq or scn.output.frequency
    pom, labels = period_labels(start, T, freq)
    regions = list(scn.regions)
    inds = list(scn.indications)
    cells = [(r, i) for i in inds for r in scn.indications[i].markets]
    cells.sort(key=lambda c: (regions.index(c[0]), inds.index(c[1])))
    cell_ix = {c: k for k, c in enumerate(cells)}
    products = list(scn.products)
    lanes = [
        (p, r, i)
        for p, prod in scn.products.items()
        for r, pr in prod.regions.items()
        for i in pr.launches
    ]
    lanes.sort(key=lambda x: (cell_ix[(x[1], x[2])], products.index(x[0])))
    lane_cell = np.array([cell_ix[(r, i)] for _, r, i in lanes], dtype=np.int64)
    seg_starts, seg_cell = [], []
    for k, c in enumerate(lane_cell.tolist()):
        if k == 0 or c != lane_cell[k - 1]:
            seg_starts.append(k)
            seg_cell.append(c)
    lane_seg = np.cumsum(np.r_[0, np.diff(lane_cell) != 0]).astype(np.int64) if lanes else np.zeros(0, np.int64)
    companies: list[str] = []
    cps: list[tuple[str, str]] = []
    for p, prod in scn.products.items():
        for c in [prod.company] + [d.partner for d in prod.deals]:
            if c not in companies:
                companies.append(c)
            if (c, p) not in cps:
                cps.append((c, p))
    for ev in scn.events.values():
        for c in (getattr(ev, "payer", None), getattr(ev, "payee", None)):
            if c is not None:
                if c not in companies:
                    companies.append(c)
                if (c, "-") not in cps:
                    cps.append((c, "-"))
    targets = sorted({p.target for p in scn.products.values()})
    channels = [list(scn.regions[r].payers) for r in regions]
    return Structure(
        scenario=scn,
        start=start,
        T=T,
        freq=freq,
        period_of_month=pom,
        periods=labels,
        regions=regions,
        indications=inds,
        products=products,
        companies=companies,
        targets=targets,
        cells=cells,
        cell_region=np.array([regions.index(r) for r, _ in cells], dtype=np.int64),
        lanes=lanes,
        lane_cell=lane_cell,
        lane_product=np.array([products.index(p) for p, _, _ in lanes], dtype=np.int64),
        lane_region=np.array([regions.index(r) for _, r, _ in lanes], dtype=np.int64),
        seg_starts=np.array(seg_starts, dtype=np.int64),
        seg_cell=np.array(seg_cell, dtype=np.int64),
        lane_seg=lane_seg,
        channels=channels,
        K=max(len(c) for c in channels),
        company_products=cps,
    )

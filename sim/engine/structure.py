"""The static shape of a scenario: lanes (product x region x indication), cells
(region x indication), segments, periods. Computed once per process and shared by all batches.

A segment is the lanes of one cell that share a choice nest: the whole cell, or, where the
indication has a nested `choice`, the cell's products of one class (modality). Lanes are sorted
by cell, class, then product, so a segment's lanes and a cell's segments are consecutive."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.periods import month_ordinal, period_labels
from sim.scenario.schema import MODALITIES, Scenario


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
    seg_starts: np.ndarray  # first lane of each segment (a cell's lanes, or those of one class in it)
    seg_cell: np.ndarray  # cell of each segment
    lane_seg: np.ndarray
    seg_class: list[str]  # the class of each segment ("" where the indication has no nested choice)
    cell_starts: np.ndarray  # first lane of each cell that has lanes
    cell_of_group: np.ndarray  # those cells
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
    def S(self) -> int:
        """Number of segments."""
        return len(self.seg_starts)

    @property
    def cell_bounds(self) -> np.ndarray:
        """cell_starts followed by L: the lanes of cell cell_of_group[g] are cell_bounds[g] ..."""
        return np.r_[self.cell_starts, self.L].astype(np.int64)

    @property
    def nested(self) -> bool:
        """Whether some indication has a nested choice (an outside option and classes)."""
        return any(self.seg_class)

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
    def klass(p: str, i: str) -> str:
        return scn.products[p].modality if scn.indications[i].choice is not None else ""

    lanes.sort(key=lambda x: (cell_ix[(x[1], x[2])], MODALITIES.index(klass(x[0], x[2])) if klass(x[0], x[2]) else -1,
                              products.index(x[0])))
    lane_cell = np.array([cell_ix[(r, i)] for _, r, i in lanes], dtype=np.int64)
    keys = [(c, klass(p, i)) for c, (p, _, i) in zip(lane_cell.tolist(), lanes, strict=True)]
    seg_starts, seg_cell, seg_class, cell_starts = [], [], [], []
    for k, key in enumerate(keys):
        if k == 0 or key != keys[k - 1]:
            seg_starts.append(k)
            seg_cell.append(key[0])
            seg_class.append(key[1])
        if k == 0 or key[0] != keys[k - 1][0]:
            cell_starts.append(k)
    lane_seg = (np.cumsum(np.r_[0, [keys[k] != keys[k - 1] for k in range(1, len(keys))]]).astype(np.int64)
                if lanes else np.zeros(0, np.int64))
    companies: list[str] = []
    cps: list[tuple[str, str]] = []
    for p, prod in scn.products.items():
        for c in [prod.company] + [d.partner for d in prod.deals]:
            if c not in companies:
                companies.append(c)
            if (c, p) not in cps:
                cps.append((c, p))
    for ev in scn.events.values():
        for who in (getattr(ev, "payer", None), getattr(ev, "payee", None)):
            if who is not None:
                if who not in companies:
                    companies.append(who)
                if (who, "-") not in cps:
                    cps.append((who, "-"))
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
        seg_class=seg_class,
        cell_starts=np.array(cell_starts, dtype=np.int64),
        cell_of_group=lane_cell[np.array(cell_starts, dtype=np.int64)] if lanes else np.zeros(0, np.int64),
        channels=channels,
        K=max(len(c) for c in channels),
        company_products=cps,
    )

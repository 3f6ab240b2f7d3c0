"""A results folder, read: its metadata, its tidy tables and per-draw metric arrays.

A folder holds parts/{lanes,cells,companies,events,inputs}-NNNNNN.parquet (one per batch, see
sim.results.parts), summary.csv, scenario.yaml (the merged scenario), charts/*.png and
metadata.json, written last: a folder without it is incomplete.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure
from sim.errors import ScenarioError
from sim.periods import coarser_label_of, label_frequency
from sim.results.grouping import grouped, item_labels
from sim.results.parts import OLD_PART_LAYOUT, PART_LAYOUT
from sim.vocab import CELL_METRICS, COMPANY_METRICS, LANE_METRICS, PART_TABLES, TABLES
from sim.vocab import metric as metric_info

if TYPE_CHECKING:  # pandas is imported where frames are built: workers never need it
    import pandas as pd


class Results:
    """Read-only view of a results folder, aggregating with numpy over draws."""

    def __init__(self, path: str | Path, meta: dict[str, Any] | None = None,
                 arrays: dict[str, dict[str, np.ndarray]] | None = None) -> None:
        self.path = Path(path)
        self._arrays = arrays  # an in-memory batch's (draw, item, period) arrays instead of files
        if meta is None:
            mfile = self.path / "metadata.json"
            if not mfile.exists():
                hint = " (a '.partial' folder is an interrupted run)" if self.path.name.endswith(".partial") else ""
                raise ScenarioError(f"{self.path} is not a complete results folder: metadata.json is missing{hint}")
            meta = json.loads(mfile.read_text())
        self.meta = meta
        s = meta["structure"]
        self.periods: list[str] = s["periods"]
        self.lanes: list[tuple[str, str, str]] = [tuple(x) for x in s["lanes"]]
        self.cells: list[tuple[str, str]] = [tuple(x) for x in s["cells"]]
        self.company_products: list[tuple[str, str]] = [tuple(x) for x in s["company_products"]]
        self.product_company: dict[str, str] = s["product_company"]
        self.product_target: dict[str, str] = s["product_target"]
        self.product_modality: dict[str, str] = s.get("product_modality", {})
        self.frequency: str = meta["frequency"]
        self.scenario: str = meta["scenario"]
        self.part_layout: str = meta.get("part_layout", OLD_PART_LAYOUT)
        if self.part_layout not in (PART_LAYOUT, OLD_PART_LAYOUT):
            raise ScenarioError(f"{self.path}: unknown part_layout {self.part_layout!r} in metadata.json "
                                f"(written by a newer version of cart-sim?)")
        self._cache: dict[tuple[str, str, str], np.ndarray] = {}  # (table, metric, dtype)

    def n_items(self, table: str) -> int:
        """How many items (lanes, cells or company-product rows) a table has per draw and period."""
        return {"lanes": len(self.lanes), "cells": len(self.cells), "companies": len(self.company_products)}[table]

    # ---------------------------------------------------------------- raw tables
    def files(self, table: str) -> list[Path]:
        """The part files of a table, in batch order."""
        files = sorted((self.path / "parts").glob(f"{table}-*.parquet"))
        if not files:
            raise ScenarioError(f"{self.path}: no {table} parts found")
        return files

    def table(self, table: str = "lanes", columns: list[str] | None = None) -> pd.DataFrame:
        """The tidy table (one row per draw x period x item, in that order whatever the batches
        and the parts' layout) as a DataFrame with categorical labels."""
        if table not in PART_TABLES:
            raise ScenarioError(f"unknown table {table!r}; expected one of {', '.join(PART_TABLES)}")
        parts = [pq.read_table(f, columns=columns) for f in self.files(table)]
        whole = pa.concat_tables(parts)
        if table in TABLES and self.part_layout == PART_LAYOUT:
            # part k's row j * B_k + b (block j = period x item, draw b) goes to row
            # (draw_k + b) * J + j of the draw-major table
            J = len(self.periods) * self.n_items(table)
            sizes = np.array([t.num_rows // J for t in parts], dtype=np.int64)
            first = np.r_[0, np.cumsum(sizes)[:-1]]
            dest = np.concatenate([((d0 + np.arange(n))[None, :] * J + np.arange(J)[:, None]).reshape(-1)
                                   for d0, n in zip(first, sizes, strict=True)]) if parts else np.zeros(0, np.int64)
            order = np.empty_like(dest)
            order[dest] = np.arange(dest.size)
            whole = whole.take(pa.array(order))
        return whole.to_pandas()

    def array(self, metric: str, table: str = "lanes", dtype: Any = np.float64) -> np.ndarray:
        """(draws, periods, items) for one metric, draws in ascending order (stored as float32;
        float64 by default so sums over items are exact to float64)."""
        if self._arrays is not None:
            return np.asarray(self._arrays[table][metric], dtype=dtype).transpose(0, 2, 1)
        key = (table, metric, np.dtype(dtype).str)
        if key not in self._cache:
            sizes = self._part_draws(table)
            out = np.empty((sum(sizes), len(self.periods), self.n_items(table)), dtype=dtype)
            pos = 0  # filled part by part: no concatenated copies
            for part in self.part_arrays(metric, table):
                out[pos:pos + part.shape[0]] = part
                pos += part.shape[0]
            pa.default_memory_pool().release_unused()
            self._cache[key] = out
        return self._cache[key]

    def _part_draws(self, table: str) -> list[int]:
        """How many draws each part file of a table holds."""
        per_draw = len(self.periods) * self.n_items(table)
        return [pq.ParquetFile(f).metadata.num_rows // per_draw for f in self.files(table)]

    def part_arrays(self, metric: str, table: str = "lanes") -> Iterator[np.ndarray]:
        """(draws, periods, items) float32 views of one metric, one part (batch) at a time, in
        draw order: what reads a whole run in bounded memory. An in-memory batch is one part."""
        if self._arrays is not None:
            yield np.asarray(self._arrays[table][metric]).transpose(0, 2, 1)
            return
        n_items, NP = self.n_items(table), len(self.periods)
        for f, n in zip(self.files(table), self._part_draws(table), strict=True):
            col = pq.read_table(f, columns=[metric]).column(0).to_numpy()
            if self.part_layout == PART_LAYOUT:
                yield col.reshape(NP, n_items, n).transpose(2, 0, 1)
            else:
                yield col.reshape(n, NP, n_items)

    @property
    def draws(self) -> np.ndarray:
        """The draw ids held, in order."""
        per_draw = len(self.periods) * len(self.cells)
        out = []
        for f in self.files("cells"):
            d = pq.read_table(f, columns=["draw"]).column(0).to_numpy()
            out.append(d[:d.size // per_draw] if self.part_layout == PART_LAYOUT else d[::per_draw])
        return np.concatenate(out)

    # ---------------------------------------------------------------- grouping
    def labels(self, table: str, by: str) -> list[str]:
        """Each item's group when `table` is grouped `by` (see sim.results.grouping)."""
        return item_labels(self, table, by)

    @staticmethod
    def table_for(metric: str) -> str:
        """The table a metric is read from by default."""
        return metric_info(metric).tables[0]

    def grouped(self, metric: str, by: str = "total", filters: dict[str, list[str]] | None = None,
                freq: str | None = None, table: str | None = None,
                ) -> tuple[list[str], list[str], np.ndarray]:
        """Per-draw sums by group and period, in float64: (groups, periods, array (draws, groups,
        periods)). summary.csv sums groups its own way (`summary.item_rows`), in a fixed order per draw."""
        return grouped(self, metric, by, filters, freq, table)


def period_index(periods: list[str], period: str | None) -> int:
    """Index of a period label (None = the last period), with a clear error for unknown labels."""
    if period is None:
        return len(periods) - 1
    period = str(period)
    if period not in periods:
        from sim.errors import did_you_mean

        freq = coarser_label_of(period, periods)
        hint = f"; add --freq {freq} to report {period} from these {label_frequency(periods[-1])}ly results" \
            if freq else ""
        raise ScenarioError(f"--period {period!r} is not a reported period{did_you_mean(period, periods)}; "
                            f"periods run {periods[0]}..{periods[-1]}{hint}")
    return periods.index(period)


def structure_meta(structure: Structure) -> dict[str, Any]:
    """The structure's names as metadata.json records them (a Results folder is read from them)."""
    scn = structure.scenario
    return {
        "periods": structure.periods,
        "regions": structure.regions,
        "indications": structure.indications,
        "products": structure.products,
        "lanes": [list(x) for x in structure.lanes],
        "cells": [list(x) for x in structure.cells],
        "company_products": [list(x) for x in structure.company_products],
        "product_company": {p: scn.products[p].company for p in structure.products},
        "product_target": {p: scn.products[p].target for p in structure.products},
        "product_modality": {p: scn.products[p].modality for p in structure.products},
        "region_currency": {r: scn.regions[r].currency for r in structure.regions},
        "lane_metrics": list(LANE_METRICS),
        "cell_metrics": list(CELL_METRICS),
        "company_metrics": list(COMPANY_METRICS),
    }


def memory_results(structure: Structure, out: BatchOutput, currency: str | None = None) -> Results:
    """A Results view over one in-memory batch, so grouping is the same code as for folders."""
    meta = {"structure": structure_meta(structure), "frequency": structure.freq, "scenario": structure.scenario.name,
            "reporting_currency": currency or structure.scenario.reporting_currency}
    return Results(Path("<memory>"), meta=meta, arrays={"lanes": out.lanes, "cells": out.cells,
                                                         "companies": out.companies})

"""Results: tidy parquet tables written batch by batch, and readers that aggregate them.

A results folder holds parts/{lanes,cells,companies}-NNNNNN.parquet (one per batch, rows
ordered period, item, draw: the engine's memory order, written without a transpose; folders
of version 0.1 are ordered draw, period, item, see PART_LAYOUT), summary.csv, scenario.yaml (the merged scenario),
charts/*.png and metadata.json, written last: a folder without it is incomplete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure
from sim.errors import ScenarioError
from sim.io import atomic_npy, atomic_write

if TYPE_CHECKING:  # pandas is imported where frames are built: workers never need it (~0.2 s)
    import pandas as pd

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
STOCK_METRICS = {"waiting"}
TABLES = ("lanes", "cells", "companies")
GROUPINGS = ("total", "product", "target", "region", "indication", "company", "modality", "lane")


PART_LAYOUT = "period,item,draw"  # row order of the lanes/cells/companies parts (metadata.json)
OLD_PART_LAYOUT = "draw,period,item"  # results folders written before part_layout was recorded


def _arrow(x: np.ndarray) -> pa.Array:
    """An arrow array over a numpy array's memory. Not pa.array(): its checks for pandas types
    import pandas (~0.2 s) in every worker, which otherwise never needs it."""
    x = np.ascontiguousarray(x).reshape(-1)
    return pa.Array.from_buffers(pa.from_numpy_dtype(x.dtype), x.size, [None, pa.py_buffer(x)])


def _strings(values: list[str]) -> pa.Array:
    data = [v.encode() for v in values]
    offsets = np.r_[0, np.cumsum([len(b) for b in data], dtype=np.int64)].astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def _dict_col(indices: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    """A label column: the smallest integer index type (int8 for any scenario of a normal size)."""
    itype = np.int8 if len(values) <= 127 else np.int16 if len(values) <= 32767 else np.int32
    return pa.DictionaryArray.from_arrays(_arrow(indices.astype(itype)), _strings(values))


def _table(st: Structure, draw_ids: np.ndarray, items: dict[str, tuple[np.ndarray, list[str]]],
           metrics: dict[str, np.ndarray]) -> pa.Table:
    """Rows in PART_LAYOUT order, so each metric column is its (period, item, draw) array as the
    engine holds it (a view, no copy). Columns are declared non-null: parquet then writes no
    definition levels."""
    B, NP = draw_ids.size, st.NP
    X = next(iter(metrics.values())).shape[1]
    cols: dict[str, Any] = {
        "draw": _arrow(np.tile(draw_ids.astype(np.int32), NP * X)),
        "period": _dict_col(np.repeat(np.arange(NP), X * B), st.periods),
    }
    for name, (idx, values) in items.items():
        cols[name] = _dict_col(np.tile(np.repeat(np.asarray(idx), B), NP), values)
    for m, arr in metrics.items():  # (draw, item, period) views of (period, item, draw) arrays
        cols[m] = _arrow(np.ascontiguousarray(arr.transpose(2, 1, 0), dtype=np.float32))
    return _non_null_table(cols)


def _non_null_table(cols: dict[str, pa.Array]) -> pa.Table:
    schema = pa.schema([pa.field(k, v.type, nullable=False) for k, v in cols.items()])
    return pa.Table.from_arrays(list(cols.values()), schema=schema)


def _item_columns(st: Structure, table: str) -> dict[str, tuple[np.ndarray, list[str]]]:
    """The label columns of one table's items: index into the label list, and the list."""
    scn = st.scenario
    comps = st.companies
    if table == "lanes":
        return {
            "region": (st.lane_region, st.regions),
            "indication": (np.array([st.indications.index(i) for _, _, i in st.lanes]), st.indications),
            "product": (st.lane_product, st.products),
            "target": (np.array([st.targets.index(scn.products[p].target) for p, _, _ in st.lanes]), st.targets),
            "company": (np.array([comps.index(scn.products[p].company) for p, _, _ in st.lanes]), comps),
        }
    if table == "cells":
        return {
            "region": (st.cell_region, st.regions),
            "indication": (np.array([st.indications.index(i) for _, i in st.cells]), st.indications),
        }
    cp_products = st.products + ["-"]
    return {
        "company": (np.array([comps.index(c) for c, _ in st.company_products]), comps),
        "product": (np.array([cp_products.index(p) for _, p in st.company_products]), cp_products),
    }


PART_TABLES = ("lanes", "cells", "companies", "events", "inputs")


def batch_table(st: Structure, out: BatchOutput, name: str) -> pa.Table:
    """One of the five tables of a batch (lanes, cells, companies, events, inputs)."""
    if name in ("lanes", "cells", "companies"):
        return _table(st, out.draw_ids, _item_columns(st, name), getattr(out, name))
    cols = getattr(out, name)
    return pa.Table.from_arrays(
        [_arrow(out.draw_ids.astype(np.int32)), *(_arrow(np.asarray(cols[k], dtype=np.float64)) for k in sorted(cols))],
        names=["draw", *sorted(cols)])


LABEL_COLUMNS = ["period", "region", "indication", "product", "target", "company"]


def _write_parquet(table: pa.Table, where: Any) -> None:
    # dictionary-encode only the label columns: trying it on float columns costs 4x the write time;
    # lz4 writes the floats ~25 % faster than zstd level 1 for ~20 % larger files (cart_2022)
    labels = [c for c in LABEL_COLUMNS if c in table.column_names]
    pq.write_table(table, where, compression="lz4", use_dictionary=labels or False, write_statistics=False)


def write_tables(tables: dict[str, bytes], parts: Path, index: int) -> None:
    """Write one batch's files (as bytes, from a remote worker), each atomically; 'inputs' last,
    so its presence marks the batch done."""
    for name in (AGGREGATES, *PART_TABLES):
        data = tables[name]
        path = aggregate_file(parts, index) if name == AGGREGATES else parts / f"{name}-{index:06d}.parquet"
        atomic_write(path, lambda tmp, b=data: Path(tmp).write_bytes(b))


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    _write_parquet(table, sink)
    return sink.getvalue().to_pybytes()


def batch_done(parts: Path, index: int) -> bool:
    return all((parts / f"{name}-{index:06d}.parquet").exists() for name in PART_TABLES)


def batch_files(st: Structure, out: BatchOutput) -> dict[str, bytes]:
    """Everything one batch writes, as file contents: for shipping from a remote (dask) worker."""
    files = {AGGREGATES: aggregates_bytes(batch_aggregates(st, out))}
    for name in PART_TABLES:
        files[name] = _parquet_bytes(batch_table(st, out, name))
    return files


def write_batch(st: Structure, out: BatchOutput, parts: Path, index: int) -> None:
    """Write one batch: the summary aggregates, then each table built, written and freed in
    turn (memory holds one table at a time), 'inputs' last to mark the batch done."""
    atomic_npy(aggregate_file(parts, index), batch_aggregates(st, out))  # freed once written
    for name in PART_TABLES:
        table = batch_table(st, out, name)
        atomic_write(parts / f"{name}-{index:06d}.parquet", lambda tmp, t=table: _write_parquet(t, tmp))
        del table


def period_index(periods: list[str], period: str | None) -> int:
    """Index of a period label (None = the last period), with a clear error for unknown labels."""
    if period is None:
        return len(periods) - 1
    period = str(period)
    if period not in periods:
        from sim.errors import did_you_mean

        raise ScenarioError(f"--period {period!r} is not a reported period{did_you_mean(period, periods)}; "
                            f"periods run {periods[0]}..{periods[-1]}")
    return periods.index(period)


def convert_period(label: str, freq: str) -> str:
    """A stored period label expressed at a coarser frequency."""
    year = label[:4]
    if freq == "year":
        return year
    if freq == "quarter":
        if "Q" in label:
            return label
        if "-" in label:
            return f"{year}Q{(int(label[5:7]) - 1) // 3 + 1}"
    if freq == "month" and "-" in label:
        return label
    raise ScenarioError(f"results are stored by {'quarter' if 'Q' in label else 'year'}; cannot report by {freq}")


class Results:
    """Read-only view of a results folder, aggregating with numpy over draws."""

    def __init__(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        if meta is None:
            mfile = self.path / "metadata.json"
            if not mfile.exists():
                hint = " (a '.partial' folder is an interrupted run)" if self.path.name.endswith(".partial") else ""
                raise ScenarioError(f"{self.path} is not a complete results folder: metadata.json is missing{hint}")
            meta = json.loads(mfile.read_text())
        self.meta = meta
        s = meta["structure"]
        self.periods: list[str] = s["periods"]
        self.lanes: list[tuple[str, str, str]] = [tuple(x) for x in s["lanes"]]  # type: ignore[misc]
        self.cells: list[tuple[str, str]] = [tuple(x) for x in s["cells"]]  # type: ignore[misc]
        self.company_products: list[tuple[str, str]] = [tuple(x) for x in s["company_products"]]  # type: ignore[misc]
        self.product_company: dict[str, str] = s["product_company"]
        self.product_target: dict[str, str] = s["product_target"]
        self.product_modality: dict[str, str] = s.get("product_modality", {})
        self.frequency: str = meta["frequency"]
        self.scenario: str = meta["scenario"]
        self.part_layout: str = meta.get("part_layout", OLD_PART_LAYOUT)
        if self.part_layout not in (PART_LAYOUT, OLD_PART_LAYOUT):
            raise ScenarioError(f"{self.path}: unknown part_layout {self.part_layout!r} in metadata.json "
                                f"(written by a newer version of cart-sim?)")
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    # ---------------------------------------------------------------- raw tables
    def _files(self, table: str) -> list[Path]:
        files = sorted((self.path / "parts").glob(f"{table}-*.parquet"))
        if not files:
            raise ScenarioError(f"{self.path}: no {table} parts found")
        return files

    def table(self, table: str = "lanes", columns: list[str] | None = None) -> pd.DataFrame:
        """The tidy table (one row per draw x period x item, in that order whatever the batches
        and the parts' layout) as a DataFrame with categorical labels."""
        if table not in TABLES + ("events", "inputs"):
            raise ScenarioError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
        parts = [pq.read_table(f, columns=columns) for f in self._files(table)]
        whole = pa.concat_tables(parts)
        if table in TABLES and self.part_layout == PART_LAYOUT:
            # part k's row j * B_k + b (block j = period x item, draw b) goes to row
            # (draw_k + b) * J + j of the draw-major table
            J = len(self.periods) * len(self._labels(table, "total"))
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
        key = (table, metric, np.dtype(dtype).str)
        if key not in self._cache:
            n_items = {"lanes": len(self.lanes), "cells": len(self.cells), "companies": len(self.company_products)}[table]
            files = self._files(table)
            NP = len(self.periods)
            sizes = [pq.ParquetFile(f).metadata.num_rows // (NP * n_items) for f in files]  # draws
            out = np.empty((sum(sizes), NP, n_items), dtype=dtype)  # filled part by part: no concatenated copies
            pos = 0
            for f, n in zip(files, sizes, strict=True):
                col = pq.read_table(f, columns=[metric]).column(0).to_numpy()
                if self.part_layout == PART_LAYOUT:
                    out[pos:pos + n] = col.reshape(NP, n_items, n).transpose(2, 0, 1)
                else:
                    out[pos:pos + n] = col.reshape(n, NP, n_items)
                pos += n
            pa.default_memory_pool().release_unused()
            self._cache[key] = out
        return self._cache[key]

    @property
    def draws(self) -> np.ndarray:
        per_draw = len(self.periods) * len(self.cells)
        out = []
        for f in self._files("cells"):
            d = pq.read_table(f, columns=["draw"]).column(0).to_numpy()
            out.append(d[:d.size // per_draw] if self.part_layout == PART_LAYOUT else d[::per_draw])
        return np.concatenate(out)

    # ---------------------------------------------------------------- grouping
    def _labels(self, table: str, by: str) -> list[str]:
        if table == "lanes":
            p = [x[0] for x in self.lanes]
            m = {
                "total": ["total"] * len(p),
                "product": p,
                "region": [x[1] for x in self.lanes],
                "indication": [x[2] for x in self.lanes],
                "target": [self.product_target[x] for x in p],
                "company": [self.product_company[x] for x in p],
                "modality": [self.product_modality.get(x, "") for x in p],
                "lane": ["/".join(x) for x in self.lanes],
            }
        elif table == "cells":
            m = {"total": ["total"] * len(self.cells), "region": [c[0] for c in self.cells],
                 "indication": [c[1] for c in self.cells], "lane": ["/".join(c) for c in self.cells]}
        else:
            m = {"total": ["total"] * len(self.company_products),
                 "company": [c for c, _ in self.company_products],
                 "product": [p for _, p in self.company_products]}
        if by not in m:
            raise ScenarioError(f"cannot group {table} results by {by!r}; choose one of {', '.join(m)}")
        return m[by]

    def _mask(self, table: str, filters: dict[str, list[str]] | None) -> np.ndarray:
        n = len(self._labels(table, "total"))
        mask = np.ones(n, dtype=bool)
        for key, allowed in (filters or {}).items():
            labels = self._labels(table, key)
            known = set(labels)
            bad = [a for a in allowed if a not in known]
            if bad:
                from sim.errors import did_you_mean

                raise ScenarioError(f"filter {key}={bad[0]!r} matches nothing{did_you_mean(bad[0], known)}")
            mask &= np.isin(labels, allowed)
        return mask

    @staticmethod
    def table_for(metric: str) -> str:
        from sim.vocab import CELL_METRICS, COMPANY_METRICS, LANE_METRICS

        if metric in LANE_METRICS:
            return "lanes"
        if metric in CELL_METRICS:
            return "cells"
        if metric in COMPANY_METRICS:
            return "companies"
        raise ScenarioError(
            f"unknown metric {metric!r}; lanes: {', '.join(LANE_METRICS)}; cells: {', '.join(CELL_METRICS)}; "
            f"companies: {', '.join(COMPANY_METRICS)}")

    def grouped(self, metric: str, by: str = "total", filters: dict[str, list[str]] | None = None,
                freq: str | None = None, table: str | None = None,
                ) -> tuple[list[str], list[str], np.ndarray]:
        """Per-draw sums by group and period, in float64: (groups, periods, array (draws, groups,
        periods)). summary.csv sums groups its own way (`item_rows`), in a fixed order per draw."""
        if table is None:
            table = "companies" if by == "company" and metric in ("revenue", "gross_profit") else self.table_for(metric)
            if table == "companies" and metric not in ("revenue", "gross_profit", "royalty", "deal_payments", "income"):
                table = "lanes"
        arr = self.array(metric, table)
        gp = group_plan(self, metric, by, filters, table)
        groups = gp.groups
        N, NPd, I = arr.shape
        onehot = np.zeros((I, len(groups)))
        onehot[gp.order, np.repeat(np.arange(len(groups)), np.diff(np.r_[gp.starts, gp.order.size]))] = 1.0
        g = (arr.reshape(N * NPd, I) @ onehot).reshape(N, NPd, len(groups)).transpose(0, 2, 1)
        periods = self.periods
        freq = freq or self.frequency
        if freq != self.frequency:
            new = [convert_period(p, freq) for p in periods]
            out_periods = list(dict.fromkeys(new))
            idx = np.array([out_periods.index(p) for p in new])
            if metric in STOCK_METRICS:
                last = [max(k for k, x in enumerate(idx) if x == j) for j in range(len(out_periods))]
                g = g[:, :, last]
            else:
                agg = np.zeros(g.shape[:2] + (len(out_periods),))
                for j in range(len(out_periods)):
                    agg[:, :, j] = g[:, :, idx == j].sum(axis=2)
                g = agg
            periods = out_periods
        return groups, periods, g


@dataclass(frozen=True)
class GroupPlan:
    """Which stored items add up to each group: `order` lists the kept items group by group,
    `starts` where each group begins in it."""

    by: str
    metric: str
    table: str
    groups: list[str]
    order: np.ndarray
    starts: np.ndarray


def group_plan(res: Results, metric: str, by: str, filters: dict[str, list[str]] | None = None,
               table: str | None = None) -> GroupPlan:
    if table is None:
        table = res.table_for(metric)
    labels = res._labels(table, by)
    mask = res._mask(table, filters)
    groups = sorted({lab for lab, k in zip(labels, mask, strict=True) if k})
    gi = {g: k for k, g in enumerate(groups)}
    kept = [k for k, keep in enumerate(mask) if keep]
    order = np.array(sorted(kept, key=lambda k: gi[labels[k]]), dtype=np.int64)
    gidx = np.array([gi[labels[k]] for k in order], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, gidx[1:] != gidx[:-1]]) if order.size else np.zeros(0, np.int64)
    return GroupPlan(by, metric, table, groups, order, starts.astype(np.int64))


def group_rows(xt: np.ndarray, gp: GroupPlan, out: np.ndarray | None = None, col0: int = 0) -> np.ndarray:
    """Stored values laid out by `draws_last` -> rows (group * periods + period, draws) float32.

    Summed in float64 in one fixed order per group (compiled loop), so a draw's sums do not
    depend on which draws share its batch or array, unlike a BLAS product."""
    from sim.engine.kernels import group_rows as kernel

    NP, N = xt.shape[0], xt.shape[2]
    if out is None:
        out = np.empty((len(gp.groups) * NP, N), dtype=np.float32)
    kernel(xt, gp.order, gp.starts, out, col0)
    return out


def draws_last(x: np.ndarray) -> np.ndarray:
    """(draws, periods, items) -> contiguous (periods, items, draws) float32, the kernel's layout."""
    return np.ascontiguousarray(x.transpose(1, 2, 0), dtype=np.float32)


def summarize(arr: np.ndarray, with_se: bool = False, overwrite: bool = False) -> dict[str, np.ndarray]:
    """Mean, sd, standard error of the mean and percentiles over draws (axis 0); with_se adds
    the Monte Carlo standard errors of P10, P50 and P90 (from order-statistic 95 % intervals).

    float32 (the stored results): one compiled pass per item picks the ~20 order statistics
    needed out of its draws (sim.engine.kernels.row_stats), no full sort. Otherwise one sorted
    copy; percentiles and order statistics are lookups. `overwrite`: arr may be used as scratch."""
    arr = np.asarray(arr)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    n = arr.shape[0]
    rest = arr.shape[1:]
    flat = arr.reshape(n, -1) if arr.flags.c_contiguous else arr.transpose(*range(1, arr.ndim), 0).reshape(-1, n).T
    x = flat.T  # (items, draws)
    want: dict[str, tuple[int, int, float]] = {}  # statistic -> (rank a, rank b, weight of b)
    for p in PERCENTILES:  # linear interpolation, as numpy's default percentile
        h = (n - 1) * p / 100.0
        lo = int(np.floor(h))
        want[f"p{p}"] = (lo, min(lo + 1, n - 1), h - lo)
    if with_se and n >= 2:
        from sim.convergence import order_statistic_ranks

        for p in (10, 50, 90):
            a, b = order_statistic_ranks(n, p / 100.0)
            want[f"se_p{p}"] = (int(np.clip(a, 0, n - 1)), int(np.clip(b, 0, n - 1)), -1.0)
    ranks = np.array(sorted({r for a, b, _ in want.values() for r in (a, b)}), dtype=np.int64)
    if x.dtype == np.float32:
        from sim.engine.kernels import row_stats

        out = {"mean": np.empty(x.shape[0]), "sd": np.empty(x.shape[0])}
        at = np.empty((x.shape[0], ranks.size))
        row_stats(np.ascontiguousarray(x), ranks, out["mean"], out["sd"], at)
    else:
        if overwrite and x.flags.c_contiguous:
            x.sort(axis=1)  # the caller's scratch array: sort in place, no copy
        else:
            x = np.sort(x, axis=1)
        out = {"mean": x.mean(axis=1), "sd": x.std(axis=1, ddof=1) if n > 1 else np.zeros(x.shape[0])}
        at = x[:, ranks]
    col = {int(r): k for k, r in enumerate(ranks)}
    out["se_mean"] = out["sd"] / np.sqrt(n)
    z = 1.959963984540054
    for name, (a, b, w) in want.items():
        va, vb = at[:, col[a]], at[:, col[b]]
        out[name] = va + w * (vb - va) if w >= 0 else (vb - va) / (2 * z)
    if with_se and n < 2:
        for p in (10, 50, 90):
            out[f"se_p{p}"] = np.full(x.shape[0], np.inf)
    return {k: v.reshape(rest) for k, v in out.items()}


SUMMARY_PLAN: list[tuple[str, str]] = [
    *[(by, m) for by in ("total", "product", "target", "region", "indication")
      for m in ("demand", "infused", "dropped", "waiting", "revenue", "gross_profit", "company_revenue")],
    *[("lane", m) for m in ("infused", "revenue")],
    *[(by, m) for by in ("total", "region", "indication") for m in ("eligible", "addressable", "untreated")],
    *[("company", m) for m in ("revenue", "gross_profit", "royalty", "deal_payments", "income")],
]


COARSER = {"month": ("quarter", "year"), "quarter": ("year",), "year": ()}


@dataclass(frozen=True)
class Coarse:
    """A coarser frequency of the stored periods: flows add up the stored periods of each coarse
    period (they start at `starts`), stocks take its last stored period (`last`)."""

    labels: list[str]
    starts: np.ndarray
    last: np.ndarray


def coarser_periods(periods: list[str], frequency: str) -> list[Coarse]:
    out = []
    for freq in COARSER[frequency]:
        new = [convert_period(p, freq) for p in periods]
        labels = list(dict.fromkeys(new))
        starts = np.array([new.index(lab) for lab in labels], dtype=np.int64)
        last = np.r_[starts[1:], len(periods)] - 1
        out.append(Coarse(labels, starts, last))
    return out


@dataclass(frozen=True)
class SummaryItem:
    """One (grouping, metric) of summary.csv: rows row0 .. row0 + nrows of the per-batch aggregate
    arrays: group-major rows of the stored periods, then of each coarser frequency's periods
    (quarters and years of a monthly run), so summary.csv reports years whatever is stored."""

    gp: GroupPlan
    row0: int
    nrows: int
    stored: list[str]  # the stored periods' labels
    coarse: list[Coarse]


def summary_layout(res: Results, plan: list[tuple[str, str]] | None = None) -> list[SummaryItem]:
    coarse = coarser_periods(res.periods, res.frequency)
    n_periods = len(res.periods) + sum(len(c.labels) for c in coarse)
    items, row = [], 0
    for by, metric in plan or SUMMARY_PLAN:
        gp = group_plan(res, metric, by, table="companies" if by == "company" else None)
        n = len(gp.groups) * n_periods
        items.append(SummaryItem(gp, row, n, res.periods, coarse))
        row += n
    return items


def item_rows(xt: np.ndarray, it: SummaryItem, out: np.ndarray | None = None) -> np.ndarray:
    """An item's rows for the draws of `xt` (stored values laid out by `draws_last`): the same
    function on the same float32 values in the workers and in a re-summary, hence equal bits."""
    G, NP, n = len(it.gp.groups), xt.shape[0], xt.shape[2]
    if out is None:
        out = np.empty((it.nrows, n), dtype=np.float32)
    fine = group_rows(xt, it.gp, out[:G * NP])
    pos = G * NP
    f3 = fine.reshape(G, NP, n)
    for c in it.coarse:
        if it.gp.metric in STOCK_METRICS:
            rows = f3[:, c.last, :]
        else:  # months added in order, in float64, per (group, draw)
            rows = np.add.reduceat(f3.astype(np.float64), c.starts, axis=1).astype(np.float32)
        out[pos:pos + rows.shape[0] * rows.shape[1]] = rows.reshape(-1, n)
        pos += rows.shape[0] * rows.shape[1]
    return out


AGGREGATES = "summary"  # parts/summary-NNNNNN.npy: (rows of summary_layout, draws of the batch), float32


def aggregate_file(parts: Path, index: int) -> Path:
    return parts / f"{AGGREGATES}-{index:06d}.npy"


_LAYOUTS: dict[int, tuple[Structure, list[SummaryItem]]] = {}


def batch_aggregates(st: Structure, out: BatchOutput) -> np.ndarray:
    """The group sums summary.csv needs, for one batch: computed by the worker that holds the
    batch in memory, so the summary reads ~1/10 of the data and does no grouping."""
    if id(st) not in _LAYOUTS or _LAYOUTS[id(st)][0] is not st:
        from sim.runner import structure_meta

        meta = {"structure": structure_meta(st), "frequency": st.freq, "scenario": st.scenario.name}
        _LAYOUTS[id(st)] = (st, summary_layout(Results(Path("."), meta=meta)))
    layout = _LAYOUTS[id(st)][1]
    B = out.draw_ids.size
    rows = np.empty((layout[-1].row0 + layout[-1].nrows if layout else 0, B), dtype=np.float32)
    current, xt = None, None
    for it in sorted(layout, key=lambda it: (it.gp.table, it.gp.metric)):  # one stored metric at a time
        if (it.gp.table, it.gp.metric) != current:  # float32, exactly as the parquet parts hold it
            current = (it.gp.table, it.gp.metric)
            xt = draws_last(getattr(out, it.gp.table)[it.gp.metric].transpose(0, 2, 1))
        item_rows(xt, it, rows[it.row0:it.row0 + it.nrows])
    return rows


def aggregates_bytes(rows: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, rows, allow_pickle=False)
    return buf.getvalue()


SUMMARY_ROWS = 256  # aggregate rows per summary task: 10 MB of float32 at 10,000 draws


def _read_rows(path: str, row0: int, nrows: int) -> np.ndarray:
    """Rows row0..row0+nrows of a 2-D C-order .npy file, read by byte range: a memory map's
    pages would count in the reading worker's memory until it is closed."""
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        if fortran or len(shape) != 2 or row0 + nrows > shape[0]:
            raise ScenarioError(f"{path}: not the summary aggregates this run expects (shape {shape})")
        fh.seek(fh.tell() + row0 * shape[1] * dtype.itemsize)
        data = np.fromfile(fh, dtype=dtype, count=nrows * shape[1])
    if data.size != nrows * shape[1]:
        raise ScenarioError(f"{path}: truncated summary aggregates")
    return data.reshape(nrows, shape[1])


def _item_stats(files: list[str], row0: int, nrows: int) -> dict[str, np.ndarray]:
    """Statistics of aggregate rows row0..row0+nrows (part of one summary item) over the draws
    of every batch's aggregate file."""
    x = np.concatenate([_read_rows(f, row0, nrows) for f in files], axis=1)
    return summarize(x.T, with_se=True, overwrite=True)


def _summary_stats(res: Results, plan: list[tuple[str, str]] | None, workers: int,
                   executor: Any) -> list[tuple[SummaryItem, dict[str, np.ndarray]]]:
    """Each summary item with its statistics, in layout order. From the workers' aggregate files
    when every batch has one (spread over `executor`, e.g. the run's warm workers, or over
    `workers` new processes); otherwise grouped here from the parquet parts. Both give the
    same numbers: the sums are the same function of the same float32 values."""
    layout = summary_layout(res, plan)
    parts = res.path / "parts"
    batches = res._files("inputs")
    files = [aggregate_file(parts, int(f.stem.rsplit("-", 1)[1])) for f in batches]
    # the workers' files hold the default plan's rows: another plan is grouped from the parts
    if plan is None and layout and all(f.exists() for f in files):
        names = [str(f) for f in files]
        # items split into tasks of at most SUMMARY_ROWS rows: bounded memory, even load
        args = [(names, r, min(SUMMARY_ROWS, it.row0 + it.nrows - r)) for it in layout
                for r in range(it.row0, it.row0 + it.nrows, SUMMARY_ROWS)]
        if executor is not None:
            stats = list(executor.map(_item_stats, *zip(*args, strict=True)))
        elif workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            from sim.runner import _keep_freed_memory

            with ProcessPoolExecutor(max_workers=workers, initializer=_keep_freed_memory) as pool:
                stats = list(pool.map(_item_stats, *zip(*args, strict=True)))
        else:
            stats = [_item_stats(*a) for a in args]
        out, k = [], 0
        for it in layout:  # join each item's tasks again
            n = -(-it.nrows // SUMMARY_ROWS)
            out.append((it, {key: np.concatenate([s[key] for s in stats[k:k + n]]) for key in stats[k]}))
            k += n
        return out
    by_k: dict[int, dict[str, np.ndarray]] = {}
    current = None
    for k in sorted(range(len(layout)), key=lambda k: (layout[k].gp.metric, layout[k].gp.table)):
        it = layout[k]
        if (it.gp.table, it.gp.metric) != current:  # one stored metric in memory at a time
            current = (it.gp.table, it.gp.metric)
            xt = draws_last(res.array(it.gp.metric, it.gp.table, np.float32))
            res._cache.clear()
        g = item_rows(xt, it)  # (rows, draws)
        by_k[k] = summarize(g.T, with_se=True, overwrite=True)
        del g
    res._cache.clear()
    return [(layout[k], by_k[k]) for k in range(len(layout))]


def _item_labels(it: SummaryItem) -> tuple[np.ndarray, np.ndarray]:
    """Group and period of each of an item's rows, in the order of item_rows."""
    G = len(it.gp.groups)
    blocks = [it.stored] + [c.labels for c in it.coarse]
    return (np.concatenate([np.repeat(it.gp.groups, len(b)) for b in blocks]),
            np.concatenate([np.tile(b, G) for b in blocks]))


def summary_frame(res: Results, plan: list[tuple[str, str]] | None = None, workers: int = 1,
                  executor: Any = None) -> pd.DataFrame:
    """summary.csv as a frame, at full precision."""
    import pandas as pd

    frames = []
    for it, stats in _summary_stats(res, plan, workers, executor):
        groups, periods = _item_labels(it)
        frames.append(pd.DataFrame({"level": it.gp.by, "group": groups, "period": periods, "metric": it.gp.metric,
                                    **{k: v.reshape(-1) for k, v in stats.items()}}))
    return pd.concat(frames, ignore_index=True)


def _csv_field(text: str) -> str:
    """A text field as the csv module (and so pandas) writes it with "\\n" line ends: quoted only
    when it holds the delimiter, a quote or a line end."""
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def summary_text(res: Results, workers: int = 1, executor: Any = None) -> str:
    """summary.csv: the columns of summary_frame, numbers as "%.6g", NaN empty (as pandas writes
    them). Formatted here: 4x faster than DataFrame.to_csv, and a run needs no pandas (~0.3 s)."""
    items = _summary_stats(res, None, workers, executor)
    if not items:
        return ""
    lines = [",".join(["level", "group", "period", "metric", *items[0][1]]) + "\n"]
    for it, stats in items:
        groups, periods = _item_labels(it)
        by, metric = _csv_field(it.gp.by), _csv_field(it.gp.metric)
        rows = np.column_stack([v.reshape(-1) for v in stats.values()]).tolist()
        for g, p, row in zip(groups.tolist(), periods.tolist(), rows, strict=True):
            lines.append(f"{by},{_csv_field(g)},{_csv_field(p)},{metric},"
                         + ",".join(["" if v != v else f"{v:.6g}" for v in row]) + "\n")
    return "".join(lines)


def write_summary(res: Results, path: Path, workers: int = 1, executor: Any = None) -> Path:
    from sim.io import atomic_text

    return atomic_text(path, summary_text(res, workers, executor))

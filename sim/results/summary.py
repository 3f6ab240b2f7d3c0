"""summary.csv: mean, sd and percentiles of every (grouping, metric, period), with their error.

The worker that holds a batch in memory adds up its groups (`batch_aggregates`, written as
parts/summary-NNNNNN.npy), so the summary reads ~1/10 of the data and does no grouping; the
same function on the same float32 values re-summarises a folder from its parts, with equal
bits. A monthly or quarterly run also reports quarters and years.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure
from sim.errors import ScenarioError
from sim.io import atomic_text
from sim.periods import Coarse, coarser_periods
from sim.processes import keep_freed_memory
from sim.results.folder import Results, structure_meta
from sim.results.grouping import GroupPlan, draws_last, group_plan, group_rows
from sim.results.stats import summarize
from sim.vocab import STOCK_METRICS

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_PLAN: list[tuple[str, str]] = [
    *[(by, m) for by in ("total", "product", "target", "region", "indication")
      for m in ("demand", "infused", "dropped", "waiting", "revenue", "gross_profit", "company_revenue")],
    *[("lane", m) for m in ("infused", "revenue")],
    *[(by, m) for by in ("total", "region", "indication") for m in ("eligible", "addressable", "untreated")],
    *[("company", m) for m in ("revenue", "gross_profit", "royalty", "deal_payments", "income")],
]


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
    """The summary's items and where each one's rows start in the aggregate arrays."""
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
    """The summary aggregates of batch `index`."""
    return parts / f"{AGGREGATES}-{index:06d}.npy"


_LAYOUTS: dict[int, tuple[Structure, list[SummaryItem]]] = {}


def batch_aggregates(structure: Structure, out: BatchOutput) -> np.ndarray:
    """The group sums summary.csv needs, for one batch: computed by the worker that holds the
    batch in memory, so the summary reads ~1/10 of the data and does no grouping."""
    if id(structure) not in _LAYOUTS or _LAYOUTS[id(structure)][0] is not structure:
        meta = {"structure": structure_meta(structure), "frequency": structure.freq, "scenario": structure.scenario.name}
        _LAYOUTS[id(structure)] = (structure, summary_layout(Results(Path("."), meta=meta)))
    layout = _LAYOUTS[id(structure)][1]
    B = out.draw_ids.size
    rows = np.empty((layout[-1].row0 + layout[-1].nrows if layout else 0, B), dtype=np.float32)
    current, xt = None, None
    for it in sorted(layout, key=lambda it: (it.gp.table, it.gp.metric)):  # one stored metric at a time
        if (it.gp.table, it.gp.metric) != current:  # float32, exactly as the parquet parts hold it
            current = (it.gp.table, it.gp.metric)
            xt = draws_last(getattr(out, it.gp.table)[it.gp.metric].transpose(0, 2, 1))
        assert xt is not None
        item_rows(xt, it, rows[it.row0:it.row0 + it.nrows])
    return rows


def aggregates_bytes(rows: np.ndarray) -> bytes:
    """The aggregates as .npy file contents (for shipping from a remote worker)."""
    import io

    buf = io.BytesIO()
    np.save(buf, rows, allow_pickle=False)
    return buf.getvalue()


SUMMARY_ROWS = 256  # aggregate rows per summary task: bounded memory per task (256 x draws x 4 bytes)


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
    batches = res.files("inputs")
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

            with ProcessPoolExecutor(max_workers=workers, initializer=keep_freed_memory) as pool:
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
    """A text field as the csv module (and so pandas) writes it with line-feed line ends: quoted only
    when it holds the delimiter, a quote or a line end."""
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def summary_text(res: Results, workers: int = 1, executor: Any = None) -> str:
    """summary.csv: the columns of summary_frame, numbers as "%.6g", NaN empty (as pandas writes
    them). Formatted here: faster than DataFrame.to_csv, and a run needs no pandas."""
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
    """Write summary.csv atomically."""
    return atomic_text(path, summary_text(res, workers, executor))

"""Parquet parts: one batch's tables as arrow tables over the engine's arrays, and their bytes.

Rows are in PART_LAYOUT order (period, item, draw: the engine's memory order), so each metric
column is its array as the engine holds it, written without a transpose; label columns are
int8 dictionaries and columns are declared non-null.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure

PART_LAYOUT = "period,item,draw"  # row order of the lanes/cells/companies parts (metadata.json)
OLD_PART_LAYOUT = "draw,period,item"  # results folders written before part_layout was recorded


def _arrow(x: np.ndarray) -> pa.Array:
    """An arrow array over a numpy array's memory. Not pa.array(): its checks for pandas types
    import pandas in every worker, which otherwise never needs it."""
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


def _table(structure: Structure, draw_ids: np.ndarray, items: dict[str, tuple[np.ndarray, list[str]]],
           metrics: dict[str, np.ndarray]) -> pa.Table:
    """Rows in PART_LAYOUT order, so each metric column is its (period, item, draw) array as the
    engine holds it (a view, no copy). Columns are declared non-null: parquet then writes no
    definition levels."""
    B, NP = draw_ids.size, structure.NP
    X = next(iter(metrics.values())).shape[1]
    cols: dict[str, Any] = {
        "draw": _arrow(np.tile(draw_ids.astype(np.int32), NP * X)),
        "period": _dict_col(np.repeat(np.arange(NP), X * B), structure.periods),
    }
    for name, (idx, values) in items.items():
        cols[name] = _dict_col(np.tile(np.repeat(np.asarray(idx), B), NP), values)
    for m, arr in metrics.items():  # (draw, item, period) views of (period, item, draw) arrays
        cols[m] = _arrow(np.ascontiguousarray(arr.transpose(2, 1, 0), dtype=np.float32))
    return _non_null_table(cols)


def _non_null_table(cols: dict[str, pa.Array]) -> pa.Table:
    schema = pa.schema([pa.field(k, v.type, nullable=False) for k, v in cols.items()])
    return pa.Table.from_arrays(list(cols.values()), schema=schema)


def _item_columns(structure: Structure, table: str) -> dict[str, tuple[np.ndarray, list[str]]]:
    """The label columns of one table's items: index into the label list, and the list."""
    scn = structure.scenario
    comps = structure.companies
    if table == "lanes":
        return {
            "region": (structure.lane_region, structure.regions),
            "indication": (np.array([structure.indications.index(i) for _, _, i in structure.lanes]), structure.indications),
            "product": (structure.lane_product, structure.products),
            "target": (np.array([structure.targets.index(scn.products[p].target) for p, _, _ in structure.lanes]), structure.targets),
            "company": (np.array([comps.index(scn.products[p].company) for p, _, _ in structure.lanes]), comps),
        }
    if table == "cells":
        return {
            "region": (structure.cell_region, structure.regions),
            "indication": (np.array([structure.indications.index(i) for _, i in structure.cells]), structure.indications),
        }
    cp_products = structure.products + ["-"]
    return {
        "company": (np.array([comps.index(c) for c, _ in structure.company_products]), comps),
        "product": (np.array([cp_products.index(p) for _, p in structure.company_products]), cp_products),
    }


def batch_table(structure: Structure, out: BatchOutput, name: str) -> pa.Table:
    """One of the five tables of a batch (lanes, cells, companies, events, inputs)."""
    if name in ("lanes", "cells", "companies"):
        return _table(structure, out.draw_ids, _item_columns(structure, name), getattr(out, name))
    cols = getattr(out, name)
    return pa.Table.from_arrays(
        [_arrow(out.draw_ids.astype(np.int32)), *(_arrow(np.asarray(cols[k], dtype=np.float64)) for k in sorted(cols))],
        names=["draw", *sorted(cols)])


LABEL_COLUMNS = ["period", "region", "indication", "product", "target", "company"]


def write_parquet(table: pa.Table, where: Any) -> None:
    """A table as parquet (lz4; only the label columns dictionary-encoded)."""
    # dictionary-encode only the label columns: trying it on float columns costs 4x the write time;
    # lz4 writes the floats faster than zstd level 1 for somewhat larger files (benchmarks/README.md)
    labels = [c for c in LABEL_COLUMNS if c in table.column_names]
    pq.write_table(table, where, compression="lz4", use_dictionary=labels or False, write_statistics=False)


def parquet_bytes(table: pa.Table) -> bytes:
    """A table's parquet file contents."""
    sink = pa.BufferOutputStream()
    write_parquet(table, sink)
    return sink.getvalue().to_pybytes()



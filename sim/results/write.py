"""Writing a batch into a results folder's parts/: its summary aggregates and five tables.

Each file is written atomically; 'inputs' last, so its presence marks the batch done.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure
from sim.io import atomic_npy, atomic_write
from sim.results.parts import batch_table, parquet_bytes, write_parquet
from sim.results.summary import AGGREGATES, aggregate_file, aggregates_bytes, batch_aggregates
from sim.vocab import PART_TABLES


def write_tables(tables: dict[str, bytes], parts: Path, index: int) -> None:
    """Write one batch's files (as bytes, from a remote worker), each atomically; 'inputs' last,
    so its presence marks the batch done."""
    for name in (AGGREGATES, *PART_TABLES):
        data = tables[name]
        path = aggregate_file(parts, index) if name == AGGREGATES else parts / f"{name}-{index:06d}.parquet"
        atomic_write(path, _bytes_writer(data))


def _bytes_writer(data: bytes) -> Callable[[str], object]:
    return lambda tmp: Path(tmp).write_bytes(data)


def _parquet_writer(table: pa.Table) -> Callable[[str], object]:
    return lambda tmp: write_parquet(table, tmp)


def batch_done(parts: Path, index: int) -> bool:
    """Whether every table of batch `index` has been written."""
    return all((parts / f"{name}-{index:06d}.parquet").exists() for name in PART_TABLES)


def batch_files(structure: Structure, out: BatchOutput) -> dict[str, bytes]:
    """Everything one batch writes, as file contents: for shipping from a remote (dask) worker."""
    files = {AGGREGATES: aggregates_bytes(batch_aggregates(structure, out))}
    for name in PART_TABLES:
        files[name] = parquet_bytes(batch_table(structure, out, name))
    return files


def write_batch(structure: Structure, out: BatchOutput, parts: Path, index: int) -> None:
    """Write one batch: the summary aggregates, then each table built, written and freed in
    turn (memory holds one table at a time), 'inputs' last to mark the batch done."""
    atomic_npy(aggregate_file(parts, index), batch_aggregates(structure, out))  # freed once written
    for name in PART_TABLES:
        table = batch_table(structure, out, name)
        atomic_write(parts / f"{name}-{index:06d}.parquet", _parquet_writer(table))
        del table



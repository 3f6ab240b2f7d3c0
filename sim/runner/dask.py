"""Batches over a dask.distributed cluster (`--executor dask`, `--cluster tcp://HOST:PORT`).

Workers compute and return each batch's files as bytes; this process writes them, so a
remote cluster needs no shared file system. Results are bit-identical to a local run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.runner.batches import BatchTask
from sim.runner.tasks import run_task_remote
from sim.scenario import LoadedScenario


def check_address(cluster: str | None) -> None:
    """A scheduler address, checked before anything starts."""
    if cluster is not None and not re.match(r"^(tcp|tls|ucx|inproc|ws|wss)://[^/\s]+$", cluster):
        raise ScenarioError(f"--cluster expects a scheduler address like tcp://HOST:8786, got {cluster!r}")


def connect(cluster: str | None, workers: int) -> tuple[Any, Any]:
    """A client of the scheduler at `cluster`, or of a local cluster of `workers` processes
    (returned second, to close after the client)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ScenarioError("the dask executor needs the optional extra: pip install '.[dask]'") from None
    if cluster is None:
        local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address=":0")
        return Client(local), local
    try:
        return Client(cluster, timeout=30), None
    except (OSError, ValueError, TimeoutError) as exc:
        raise ScenarioError(f"cannot reach the dask scheduler at {cluster}: {exc}") from None


def run_dask(todo: list[BatchTask], seed: int, design: str, draws: int, engine: str,
             loaded: LoadedScenario, freq: str | None, parts: Path, cluster: str | None,
             workers: int, bar: Any) -> None:
    """Distribute batches over a cluster (a local one of `workers` processes if no address)."""
    from distributed import as_completed as dask_completed

    from sim.results.write import write_tables

    client, local = connect(cluster, workers)
    try:
        futs = [client.submit(run_task_remote, t, seed, design, draws, engine, loaded.data, loaded.sha256, freq,
                              pure=False)
                for t in todo]
        for fut in dask_completed(futs):
            index, n, tables = fut.result()
            write_tables(tables, parts, index)
            futs.remove(fut)
            fut.release()  # the cluster can drop the batch's bytes once written
            bar.update(n)
    finally:
        client.close()
        if local is not None:
            local.close()

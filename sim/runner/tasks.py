"""What a worker process does with a batch: build the structure once, simulate, write or ship.

The structure and the sampling design are cached per process (keyed by the scenario's hash),
not rebuilt for every batch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure, build_structure
from sim.runner.batches import BatchTask

_WORKER: dict[Any, Any] = {}  # this process's structures and designs


def structure_for(scenario_data: dict[str, Any], sha256: str, freq: str | None) -> Structure:
    """The structure of a scenario, built once per process (keyed by the loader's scenario hash)."""
    from sim.scenario.schema import Scenario

    key = ("structure", sha256, freq)
    if key not in _WORKER:
        _WORKER[key] = build_structure(Scenario.model_validate(scenario_data), freq)
    return _WORKER[key]


def simulate(structure: Structure, seed: int, task: BatchTask, design: str, draws: int, engine: str) -> BatchOutput:
    """One batch's BatchOutput, with the design object cached per process."""
    from sim.sampling.correlation import design_for

    key = ("design", design, draws, seed, id(structure))
    if key not in _WORKER:
        _WORKER[key] = design_for(structure.scenario, design, draws, seed)
    ids = np.arange(task.start, task.stop)
    if engine == "patient":
        from sim.engine.patient import simulate_patient

        return simulate_patient(structure, seed, ids, _WORKER[key])
    if engine == "cohort":
        from sim.engine.cohort import simulate_cohort

        return simulate_cohort(structure, seed, ids, _WORKER[key])
    # imported here: a pool's parent never loads the kernels (numba)
    from sim.engine.batch import simulate_batch

    # results only go to float32 files from here: keep them float32 (half the memory per batch)
    return simulate_batch(structure, seed, ids, _WORKER[key], out_dtype=np.float32)


def run_task(task: BatchTask, seed: int, parts_dir: str, design: str, draws: int, engine: str = "batch",
             structure: Structure | None = None, scenario: tuple[dict[str, Any], str, str | None] | None = None
             ) -> tuple[int, int, float]:
    """One batch, simulated and written; in a worker, the structure is built from `scenario`
    (data, hash, frequency) on its first batch."""
    from sim.results.write import write_batch

    t0 = time.perf_counter()
    if structure is None:
        assert scenario is not None
        structure = structure_for(*scenario)
    out = simulate(structure, seed, task, design, draws, engine)
    write_batch(structure, out, Path(parts_dir), task.index)
    return task.index, task.stop - task.start, time.perf_counter() - t0


def run_task_remote(task: BatchTask, seed: int, design: str, draws: int, engine: str,
                    scenario_data: dict[str, Any], sha256: str, freq: str | None
                    ) -> tuple[int, int, dict[str, bytes]]:
    """For dask: compute on the worker, return the files' bytes; the client writes them."""
    from sim.results.write import batch_files

    structure = structure_for(scenario_data, sha256, freq)
    out = simulate(structure, seed, task, design, draws, engine)
    return task.index, task.stop - task.start, batch_files(structure, out)

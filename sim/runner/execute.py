"""Run a scenario's draws and write a results folder.

Draws go in batches over worker processes (or a dask cluster); each batch is written to
`<out>.partial/parts/` as it finishes, so memory stays bounded and an interrupted run can be
resumed exactly. When all batches are in, summary.csv (and charts, if asked) are written,
then metadata.json, last, and the folder is renamed to `<out>`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import as_completed, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.engine.structure import Structure, build_structure
from sim.errors import ScenarioError
from sim.io import atomic_json, atomic_text
from sim.periods import check_frequency
from sim.results.folder import Results, structure_meta
from sim.results.parts import PART_LAYOUT
from sim.results.summary import AGGREGATES, write_summary
from sim.results.write import batch_done
from sim.runner.batches import BatchTask, default_batch_size, plan_batches
from sim.runner.dask import check_address
from sim.runner.folders import final_folder, prepare_partial, replace_folder
from sim.runner.interrupt import CheckedBar, Interrupts
from sim.runner.pool import WorkerPool
from sim.runner.progress import progress as progress_bar
from sim.runner.tasks import run_task
from sim.sampling.seeds import normalize_seed
from sim.scenario import LoadedScenario, load_scenario
from sim.version import __version__
from sim.vocab import DESIGNS, ENGINES, EXECUTORS

ChartHook = Callable[[Results, Path], object]  # draws a finished run's charts into a folder


@dataclass(frozen=True)
class RunOptions:
    """How a run is made (all checked by `run`)."""

    draws: int
    seed: int
    workers: int
    batch_size: int | None
    freq: str | None
    progress: bool
    force: bool
    design: str
    engine: str
    resume: bool
    cluster: str | None
    executor: str
    summarize: bool
    charts: ChartHook | None


def check_options(draws: int, workers: int, freq: str | None, design: str, engine: str, executor: str,
                  batch_size: int | None, cluster: str | None) -> None:
    """The run's options, checked before any work (the command line checks them before starting workers)."""
    if draws < 1:
        raise ScenarioError(f"--draws must be at least 1, got {draws}")
    if workers < 1:
        raise ScenarioError(f"--workers must be at least 1, got {workers}")
    check_frequency(freq)
    if design not in DESIGNS:
        raise ScenarioError(f"--design must be one of {', '.join(DESIGNS)}, got {design!r}")
    if engine not in ENGINES:
        raise ScenarioError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if executor not in EXECUTORS:
        raise ScenarioError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if batch_size is not None and batch_size < 1:
        raise ScenarioError(f"--batch-size must be at least 1, got {batch_size}")
    check_address(cluster)


def cap_workers(workers: int) -> int:
    """Local worker processes beyond the CPUs only cost memory (each loads the engine): capped,
    with a warning (results do not depend on the number of workers)."""
    cpus = os.cpu_count() or 1
    if workers > cpus:
        print(f"warning: --workers {workers} is more than the {cpus} CPU(s) here; using {cpus}", file=sys.stderr)
        return cpus
    return workers


def run_scenario(
    scenario: str | Path | LoadedScenario,
    *,
    draws: int = 1000,
    seed: int | None = 0,
    out: str | Path | None = None,
    workers: int = 1,
    batch_size: int | None = None,
    freq: str | None = None,
    progress: bool = False,
    force: bool = False,
    design: str = "mc",
    engine: str = "batch",
    resume: bool = False,
    cluster: str | None = None,
    executor: str = "local",
    summarize: bool = True,
    charts: ChartHook | None = None,
    pool: WorkerPool | None = None,
) -> Path:
    """Run a scenario and write a results folder; return its path.

    Batches are written to `<out>.partial/` as they finish; the folder is renamed to
    `<out>` only when complete. `resume=True` completes an interrupted run, computing
    only the missing batches (the result equals an uninterrupted run). `pool`: worker processes
    started earlier (the command line starts them before reading the scenario); by default a
    pool of `workers` is started here, before the scenario is loaded, and closed at the end.
    `charts`: draws the finished run's charts (sim.plots.fan.default_charts; the runner draws none).
    """
    check_options(draws, workers, freq, design, engine, executor, batch_size, cluster)
    if cluster is not None:
        executor = "dask"
    workers = cap_workers(workers) if executor == "local" and pool is None else workers
    try:
        root_seed = normalize_seed(seed)
    except ValueError as exc:
        raise ScenarioError(f"--seed: {exc}") from None
    own = None
    if pool is not None:
        workers = pool.size
    elif workers > 1 and executor == "local":
        pool = own = WorkerPool(workers)
    opts = RunOptions(draws, root_seed, workers, batch_size, freq, progress, force, design, engine, resume,
                      cluster, executor, summarize, charts)
    try:
        loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
        return _run(loaded, out, opts, pool)
    finally:
        if own is not None:
            own.close()


def _run(loaded: LoadedScenario, out: str | Path | None, opts: RunOptions, pool: WorkerPool | None) -> Path:
    structure = build_structure(loaded.scenario, opts.freq)
    final = final_folder(loaded.scenario.name, out, opts.resume, opts.force)
    partial = final.with_name(final.name + ".partial")
    parts = partial / "parts"
    batch_size = opts.batch_size
    if batch_size is None and opts.engine == "patient":  # slow: small batches keep the progress bar moving
        batch_size = max(1, min(10, opts.draws // (4 * opts.workers)))
    spec: dict[str, Any] = {"scenario_sha256": loaded.sha256, "seed": opts.seed, "draws": opts.draws,
            "batch_size": batch_size or default_batch_size(structure, opts.draws, opts.workers),
            "design": opts.design, "engine": opts.engine, "frequency": structure.freq, "part_layout": PART_LAYOUT}
    spec = prepare_partial(partial, spec, resume=opts.resume, force=opts.force, keep_batch_size=batch_size is None)
    atomic_json(partial / "run.json", spec)
    tasks = plan_batches(opts.draws, spec["batch_size"])
    todo = [t for t in tasks if not batch_done(parts, t.index)]
    t_start = time.perf_counter()
    _simulate(loaded, structure, tasks, todo, parts, opts, pool)
    sim_seconds = time.perf_counter() - t_start
    meta = _metadata(loaded, structure, spec, len(tasks), len(todo), opts)
    n_done = sum(t.stop - t.start for t in todo)
    meta["timing"] = {"simulate_and_write_seconds": round(sim_seconds, 4),
                      "draws_per_second": round(n_done / sim_seconds, 1) if sim_seconds > 0 and n_done else None}
    _finish(loaded, partial, meta, opts, pool)
    meta["timing"]["total_seconds"] = round(time.perf_counter() - t_start, 4)
    atomic_json(partial / "metadata.json", meta)
    replace_folder(partial, final)
    return final


def _simulate(loaded: LoadedScenario, structure: Structure, tasks: list[BatchTask], todo: list[BatchTask], parts: Path,
              opts: RunOptions, pool: WorkerPool | None) -> None:
    """Every batch still to do, with a progress bar; an error leaves what is worth resuming."""
    shown = progress_bar(opts.draws, opts.progress)
    shown.update(sum(t.stop - t.start for t in tasks if t not in todo))
    try:
        with Interrupts() as interrupts:
            bar = CheckedBar(shown, interrupts)
            if opts.executor == "dask":
                from sim.runner.dask import run_dask

                run_dask(todo, opts.seed, opts.design, opts.draws, opts.engine, loaded, opts.freq, parts,
                         opts.cluster, opts.workers, bar)
            elif opts.workers == 1:
                for task in todo:
                    _, n, _ = run_task(task, opts.seed, str(parts), opts.design, opts.draws, opts.engine, structure)
                    bar.update(n)
            else:
                assert pool is not None
                _on_pool(pool, todo, parts, opts, (loaded.data, loaded.sha256, opts.freq), bar)
    except ScenarioError:
        shown.close()
        if not any(batch_done(parts, t.index) for t in tasks):  # nothing worth resuming: leave no trace
            shutil.rmtree(parts.parent, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        shown.close()
        done = sum(batch_done(parts, t.index) for t in tasks)
        print(f"\ninterrupted: {done} of {len(tasks)} batches are saved in {parts.parent} (incomplete); "
              f"re-run with --resume to finish", file=sys.stderr)
        raise
    finally:
        shown.close()


def _on_pool(pool: WorkerPool, todo: list[BatchTask], parts: Path, opts: RunOptions,
             scenario_key: tuple[dict[str, Any], str, str | None], bar: Any) -> None:
    futs = [pool.executor.submit(run_task, t, opts.seed, str(parts), opts.design, opts.draws, opts.engine, None,
                                 scenario_key) for t in todo]
    try:
        for f in as_completed(futs):
            _, n, _ = f.result()
            bar.update(n)
    finally:  # on an error or Ctrl-C, batches not yet started are dropped
        for f in futs:
            f.cancel()
        wait(futs)


def _metadata(loaded: LoadedScenario, structure: Structure, spec: dict[str, Any], n_tasks: int, n_todo: int,
              opts: RunOptions) -> dict[str, Any]:
    scn = loaded.scenario
    return {
        "status": "complete",
        "scenario": scn.name,
        "scenario_file": loaded.path,
        "scenario_files": list(loaded.files),
        "scenario_sha256": loaded.sha256,
        "seed": opts.seed,
        "draws": opts.draws,
        "batch_size": spec["batch_size"],
        "batches": n_tasks,
        "batches_resumed": n_tasks - n_todo,
        "workers": opts.workers,
        "executor": opts.executor,
        "design": opts.design,
        "engine": opts.engine,
        "frequency": structure.freq,
        "part_layout": PART_LAYOUT,
        "start": scn.start,
        "end": scn.end,
        "reporting_currency": scn.reporting_currency,
        "package_version": __version__,
        "python": sys.version.split()[0],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "timing": {},
        "structure": structure_meta(structure),
    }


def _finish(loaded: LoadedScenario, partial: Path, meta: dict[str, Any], opts: RunOptions,
            pool: WorkerPool | None) -> None:
    """The merged scenario, summary.csv and charts; the summary's intermediate files removed."""
    atomic_text(partial / "scenario.yaml", yaml.safe_dump(loaded.data, sort_keys=False, allow_unicode=True))
    if opts.summarize:
        t1 = time.perf_counter()
        # from the workers' per-batch group sums; each process holds one summary item at a time
        write_summary(Results(partial, meta=meta), partial / "summary.csv",
                      executor=pool.executor if pool is not None and opts.executor == "local" else None)
        meta["timing"]["summary_seconds"] = round(time.perf_counter() - t1, 4)
    if opts.charts is not None:
        t1 = time.perf_counter()
        opts.charts(Results(partial, meta=meta), partial / "charts")
        meta["timing"]["charts_seconds"] = round(time.perf_counter() - t1, 4)
    for f in (partial / "parts").glob(f"{AGGREGATES}-*.npy"):  # intermediate: summary.csv holds what they were for
        f.unlink()

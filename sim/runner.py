"""Monte Carlo runner: draws in batches, batches over worker processes, results streamed
to disk batch by batch (memory stays bounded), metadata written last."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim import __version__
from sim.engine.batch import simulate_batch
from sim.engine.structure import Structure, build_structure
from sim.errors import ScenarioError
from sim.io import atomic_json, atomic_text
from sim.sampling.rng import normalize_seed
from sim.scenario import LoadedScenario, load_scenario
from sim.vocab import CELL_METRICS, COMPANY_METRICS, LANE_METRICS

DEFAULT_BATCH_ELEMENTS = 1_800_000  # per-draw (lanes x periods + lanes x channels x 4) held per batch: ~840 draws of cart_2022, ~400 MB per worker


@dataclass(frozen=True)
class BatchTask:
    index: int
    start: int
    stop: int


def default_batch_size(st: Structure, draws: int, workers: int) -> int:
    per_draw = max(1, st.L * st.NP + st.L * st.K * 4)
    size = max(50, min(5000, DEFAULT_BATCH_ELEMENTS // per_draw))
    # give every worker at least two batches when there is enough work
    if workers > 1 and draws > 2 * workers * 50:
        size = min(size, max(50, -(-draws // (2 * workers))))
    if workers > 1:  # whole rounds of equal batches (but in tiny runs): no worker idles while another runs a last one
        n = -(-draws // size)
        size = -(-draws // (-(-n // workers) * workers))
    return int(max(1, min(size, draws)))


def plan_batches(draws: int, batch_size: int) -> list[BatchTask]:
    return [BatchTask(k, s, min(s + batch_size, draws)) for k, s in enumerate(range(0, draws, batch_size))]


# Worker-side cache: the structure is built once per process, not once per batch.
_WORKER: dict[Any, Any] = {}
ENGINES = ("batch", "patient", "cohort")


def _warm_worker() -> None:
    """Worker start-up: everything a batch and the summary import or load, done while the
    parent is still reading and validating the scenario (see WorkerPool)."""
    _keep_freed_memory()
    from scipy import special  # noqa: F401  (affordability curves, sampling)

    import sim.results  # noqa: F401  (pyarrow)
    from sim.engine.kernels import warm_up

    warm_up()


class WorkerPool:
    """The local worker processes of run(). Started before the scenario is read, so that each
    worker's imports and numba's loading of the compiled kernels (~0.5 s) overlap the parent's
    loading and validation; the summary then runs in the same warm processes."""

    def __init__(self, workers: int) -> None:
        self.size = workers
        self.executor = ProcessPoolExecutor(max_workers=workers, initializer=_warm_worker)
        self.executor.submit(int)  # the first task starts every (forked) worker now

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _keep_freed_memory() -> None:
    """Let glibc keep freed batch arrays for the next batch instead of unmapping them.

    By default every array over 128 kB-32 MB is its own mmap, returned to the system when freed,
    so each batch faults its ~100 MB of arrays in again page by page (slow in virtual machines,
    and two workers faulting at once slow each other). Measured on cart_2022: 3x fewer page
    faults. A worker's peak memory is unchanged (it reaches the same peak every batch)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum
        libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc (e.g. musl): keep the defaults
        pass


def _structure_for(scenario_data: dict[str, Any], sha256: str, freq: str | None) -> Structure:
    """The structure of a scenario, built once per process (keyed by the loader's scenario hash)."""
    from sim.scenario.schema import Scenario

    key = ("st", sha256, freq)
    if key not in _WORKER:
        _WORKER[key] = build_structure(Scenario.model_validate(scenario_data), freq)
    return _WORKER[key]


def simulate(st: Structure, seed: int, task: BatchTask, design: str, draws: int, engine: str) -> Any:
    """One batch's BatchOutput, with the design object cached per process."""
    from sim.sampling.correlation import design_for

    key = ("design", design, draws, seed, id(st))
    if key not in _WORKER:
        _WORKER[key] = design_for(st.scenario, design, draws, seed)
    ids = np.arange(task.start, task.stop)
    if engine == "patient":
        from sim.engine.patient import simulate_patient

        return simulate_patient(st, seed, ids, _WORKER[key])
    if engine == "cohort":
        from sim.engine.cohort import simulate_cohort

        return simulate_cohort(st, seed, ids, _WORKER[key])
    # results only go to float32 files from here: keep them float32 (half the memory per batch)
    return simulate_batch(st, seed, ids, _WORKER[key], out_dtype=np.float32)


def _run_task(task: BatchTask, seed: int, parts_dir: str, design: str, draws: int, engine: str = "batch",
              st: Structure | None = None, scenario: tuple[dict[str, Any], str, str | None] | None = None
              ) -> tuple[int, int, float]:
    """One batch, simulated and written; in a worker, the structure is built from `scenario`
    (data, hash, frequency) on its first batch."""
    from sim.results import write_batch

    t0 = time.perf_counter()
    if st is None:
        assert scenario is not None
        st = _structure_for(*scenario)
    out = simulate(st, seed, task, design, draws, engine)
    write_batch(st, out, Path(parts_dir), task.index)
    return task.index, task.stop - task.start, time.perf_counter() - t0


def _run_task_remote(task: BatchTask, seed: int, design: str, draws: int, engine: str,
                     scenario_data: dict[str, Any], sha256: str, freq: str | None
                     ) -> tuple[int, int, dict[str, bytes]]:
    """For dask: compute on the worker, return parquet bytes; the client writes them."""
    from sim.results import batch_files

    st = _structure_for(scenario_data, sha256, freq)
    out = simulate(st, seed, task, design, draws, engine)
    return task.index, task.stop - task.start, batch_files(st, out)


def default_out_dir(scenario_name: str, name: str | None = None, root: str | Path = "outputs") -> Path:
    stamp = name or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / scenario_name / stamp


def latest_partial(scenario_name: str, root: str | Path = "outputs") -> Path | None:
    """The most recent interrupted run of a scenario (for --resume without --out)."""
    cands = sorted(Path(root, scenario_name).glob("*.partial"), key=lambda p: p.stat().st_mtime)
    return cands[-1].with_name(cands[-1].name.removesuffix(".partial")) if cands else None


def run(
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
    charts: bool = False,
    pool: WorkerPool | None = None,
) -> Path:
    """Run a scenario and write a results folder; return its path.

    Batches are written to `<out>.partial/` as they finish; the folder is renamed to
    `<out>` only when complete. `resume=True` completes an interrupted run, computing
    only the missing batches (the result equals an uninterrupted run). `pool`: worker processes
    started earlier (the command line starts them before reading the scenario); by default a
    pool of `workers` is started here, before the scenario is loaded, and closed at the end.
    """
    from sim.vocab import DESIGNS

    if draws < 1:
        raise ScenarioError(f"--draws must be at least 1, got {draws}")
    if workers < 1:
        raise ScenarioError(f"--workers must be at least 1, got {workers}")
    if freq is not None and freq not in ("month", "quarter", "year"):
        raise ScenarioError(f"--freq must be month, quarter or year, got {freq!r}")
    if design not in DESIGNS:
        raise ScenarioError(f"--design must be one of {', '.join(DESIGNS)}, got {design!r}")
    if engine not in ENGINES:
        raise ScenarioError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if executor not in ("local", "dask"):
        raise ScenarioError(f"--executor must be local or dask, got {executor!r}")
    if cluster is not None:
        executor = "dask"
    if batch_size is not None and batch_size < 1:
        raise ScenarioError(f"--batch-size must be at least 1, got {batch_size}")
    if cluster is not None and not re.match(r"^(tcp|tls|ucx|inproc|ws|wss)://[^/\s]+$", cluster):
        raise ScenarioError(f"--cluster expects a scheduler address like tcp://HOST:8786, got {cluster!r}")
    try:
        root_seed = normalize_seed(seed)
    except ValueError as exc:
        raise ScenarioError(f"--seed: {exc}") from None
    own = None
    if pool is not None:
        workers = pool.size
    elif workers > 1 and executor == "local":
        pool = own = WorkerPool(workers)
    try:
        loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
        return _run(loaded, draws=draws, root_seed=root_seed, out=out, workers=workers, batch_size=batch_size,
                    freq=freq, progress=progress, force=force, design=design, engine=engine, resume=resume,
                    cluster=cluster, executor=executor, summarize=summarize, charts=charts, pool=pool)
    finally:
        if own is not None:
            own.close()


def _run(loaded: LoadedScenario, *, draws: int, root_seed: int, out: str | Path | None, workers: int,
         batch_size: int | None, freq: str | None, progress: bool, force: bool, design: str, engine: str,
         resume: bool, cluster: str | None, executor: str, summarize: bool, charts: bool,
         pool: WorkerPool | None) -> Path:
    from sim.results import PART_LAYOUT, batch_done

    scn = loaded.scenario
    st = build_structure(scn, freq)
    if out is None and resume:
        out = latest_partial(scn.name)
        if out is None:
            raise ScenarioError(f"--resume: no interrupted run of '{scn.name}' under outputs/{scn.name}/")
    final = Path(out) if out is not None else default_out_dir(scn.name)
    if final.exists() and not force:
        raise ScenarioError(f"results folder {final} already exists; choose another --out/--name or pass --force")
    partial = final.with_name(final.name + ".partial")
    parts = partial / "parts"
    if batch_size is None and engine == "patient":  # slow: small batches keep the progress bar moving
        batch_size = max(1, min(10, draws // (4 * workers)))
    bs = batch_size or default_batch_size(st, draws, workers)
    spec = {"scenario_sha256": loaded.sha256, "seed": root_seed, "draws": draws, "batch_size": bs,
            "design": design, "engine": engine, "frequency": st.freq, "part_layout": PART_LAYOUT}
    if partial.exists():
        if not resume and not force:
            raise ScenarioError(
                f"an interrupted run exists at {partial}; pass --resume to complete it or --force to start over")
        if resume:
            old = _read_json(partial / "run.json")
            if old is not None:
                if batch_size is None:
                    bs = old.get("batch_size", bs)
                    spec["batch_size"] = bs
                diff = {k: (old.get(k), v) for k, v in spec.items() if old.get(k) != v}
                if diff:
                    raise ScenarioError(f"--resume: the interrupted run at {partial} differs in "
                                        + ", ".join(f"{k} (was {a}, now {b})" for k, (a, b) in diff.items()))
        else:
            shutil.rmtree(partial)
    elif resume:
        raise ScenarioError(f"--resume: nothing to resume at {partial}")
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"cannot create the results folder {partial}: {exc.strerror or exc}") from None
    for junk in parts.glob(".*.tmp"):  # half-written files of a killed run
        junk.unlink()
    atomic_json(partial / "run.json", spec)
    tasks = plan_batches(draws, bs)
    todo = [t for t in tasks if not batch_done(parts, t.index)]
    t_start = time.perf_counter()
    bar = _progress(draws, progress)
    bar.update(sum(t.stop - t.start for t in tasks if t not in todo))
    try:
        if executor == "dask":
            _run_dask(todo, root_seed, design, draws, engine, loaded, freq, parts, cluster, workers, bar)
        elif workers == 1:
            for task in todo:
                _, n, _ = _run_task(task, root_seed, str(parts), design, draws, engine, st)
                bar.update(n)
        else:
            assert pool is not None
            scenario_key = (loaded.data, loaded.sha256, freq)
            futs = [pool.executor.submit(_run_task, t, root_seed, str(parts), design, draws, engine, None,
                                         scenario_key) for t in todo]
            try:
                for f in as_completed(futs):
                    _, n, _ = f.result()
                    bar.update(n)
            finally:  # on an error or Ctrl-C, batches not yet started are dropped
                for f in futs:
                    f.cancel()
                wait(futs)
    except ScenarioError:
        bar.close()
        if not any(batch_done(parts, t.index) for t in tasks):  # nothing worth resuming: leave no trace
            shutil.rmtree(partial, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        bar.close()
        done = sum(batch_done(parts, t.index) for t in tasks)
        print(f"\ninterrupted: {done} of {len(tasks)} batches are saved in {partial} (incomplete); "
              f"re-run with --resume to finish", file=sys.stderr)
        raise
    finally:
        bar.close()
    sim_seconds = time.perf_counter() - t_start
    n_done = sum(t.stop - t.start for t in todo)
    meta = {
        "status": "complete",
        "scenario": scn.name,
        "scenario_file": loaded.path,
        "scenario_files": list(loaded.files),
        "scenario_sha256": loaded.sha256,
        "seed": root_seed,
        "draws": draws,
        "batch_size": bs,
        "batches": len(tasks),
        "batches_resumed": len(tasks) - len(todo),
        "workers": workers,
        "executor": executor,
        "design": design,
        "engine": engine,
        "frequency": st.freq,
        "part_layout": PART_LAYOUT,
        "start": scn.start,
        "end": scn.end,
        "reporting_currency": scn.reporting_currency,
        "package_version": __version__,
        "python": sys.version.split()[0],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "timing": {"simulate_and_write_seconds": round(sim_seconds, 4),
                   "draws_per_second": round(n_done / sim_seconds, 1) if sim_seconds > 0 and n_done else None},
        "structure": structure_meta(st),
    }
    atomic_text(partial / "scenario.yaml", yaml.safe_dump(loaded.data, sort_keys=False, allow_unicode=True))
    if summarize:
        from sim.results import Results, write_summary

        t1 = time.perf_counter()
        # from the workers' per-batch group sums; each process holds one summary item at a time
        write_summary(Results(partial, meta=meta), partial / "summary.csv",
                      executor=pool.executor if pool is not None and executor == "local" else None)
        meta["timing"]["summary_seconds"] = round(time.perf_counter() - t1, 4)
    if charts:
        from sim.plots import default_charts
        from sim.results import Results

        t1 = time.perf_counter()
        default_charts(Results(partial, meta=meta), partial / "charts")
        meta["timing"]["charts_seconds"] = round(time.perf_counter() - t1, 4)
    from sim.results import AGGREGATES

    for f in parts.glob(f"{AGGREGATES}-*.npy"):  # intermediate: summary.csv holds what they were for
        f.unlink()
    meta["timing"]["total_seconds"] = round(time.perf_counter() - t_start, 4)
    atomic_json(partial / "metadata.json", meta)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    return final


def _read_json(path: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_dask(todo: list[BatchTask], seed: int, design: str, draws: int, engine: str,
              loaded: LoadedScenario, freq: str | None, parts: Path, cluster: str | None,
              workers: int, bar: Any) -> None:
    """Distribute batches over a dask.distributed cluster; this process writes the results."""
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ScenarioError("the dask executor needs the optional extra: pip install '.[dask]'") from None
    from sim.results import write_tables

    local = None
    if cluster is None:
        local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address=":0")
        client = Client(local)
    else:
        try:
            client = Client(cluster, timeout=30)
        except (OSError, ValueError, TimeoutError) as exc:
            raise ScenarioError(f"cannot reach the dask scheduler at {cluster}: {exc}") from None
    try:
        futs = [client.submit(_run_task_remote, t, seed, design, draws, engine, loaded.data, loaded.sha256, freq,
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


def structure_meta(st: Structure) -> dict[str, Any]:
    scn = st.scenario
    return {
        "periods": st.periods,
        "regions": st.regions,
        "indications": st.indications,
        "products": st.products,
        "lanes": [list(x) for x in st.lanes],
        "cells": [list(x) for x in st.cells],
        "company_products": [list(x) for x in st.company_products],
        "product_company": {p: scn.products[p].company for p in st.products},
        "product_target": {p: scn.products[p].target for p in st.products},
        "product_modality": {p: scn.products[p].modality for p in st.products},
        "region_currency": {r: scn.regions[r].currency for r in st.regions},
        "lane_metrics": list(LANE_METRICS),
        "cell_metrics": list(CELL_METRICS),
        "company_metrics": list(COMPANY_METRICS),
    }


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="draw", desc="simulating", file=sys.stderr)

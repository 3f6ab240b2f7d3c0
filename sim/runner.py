"""Monte Carlo runner: draws in batches, batches over worker processes, results streamed
to disk batch by batch (memory stays bounded), metadata written last."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim import __version__
from sim.engine.batch import CELL_METRICS, COMPANY_METRICS, LANE_METRICS, simulate_batch
from sim.engine.structure import Structure, build_structure
from sim.errors import ScenarioError
from sim.io import atomic_json, atomic_text
from sim.rng import normalize_seed
from sim.scenario import LoadedScenario, load_scenario

DEFAULT_BATCH_ELEMENTS = 4_000_000  # draws x lanes x periods held per batch


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
    return int(min(size, draws))


def plan_batches(draws: int, batch_size: int) -> list[BatchTask]:
    return [BatchTask(k, s, min(s + batch_size, draws)) for k, s in enumerate(range(0, draws, batch_size))]


# Worker-side cache: the structure is built once per process, not once per batch.
_WORKER: dict[str, Any] = {}


def _worker_init(scenario_data: dict[str, Any], freq: str | None) -> None:
    from sim.scenario.schema import Scenario

    _WORKER["st"] = build_structure(Scenario.model_validate(scenario_data), freq)


def _run_task(task: BatchTask, seed: int, parts_dir: str, design: str, draws: int,
              st: Structure | None = None) -> tuple[int, int, float]:
    from sim.results import write_batch
    from sim.sampling import make_design

    t0 = time.perf_counter()
    st = st or _WORKER["st"]
    key = ("design", design, draws, seed)
    if key not in _WORKER:
        _WORKER[key] = make_design(design, draws, seed)
    out = simulate_batch(st, seed, np.arange(task.start, task.stop), _WORKER[key])
    write_batch(st, out, Path(parts_dir), task.index)
    return task.index, task.stop - task.start, time.perf_counter() - t0


def default_out_dir(scenario_name: str, name: str | None = None, root: str | Path = "outputs") -> Path:
    stamp = name or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / scenario_name / stamp


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
    summarize: bool = True,
    charts: bool = False,
) -> Path:
    """Run a scenario and write a results folder; return its path."""
    loaded = scenario if isinstance(scenario, LoadedScenario) else load_scenario(scenario)
    if draws < 1:
        raise ScenarioError(f"--draws must be at least 1, got {draws}")
    if workers < 1:
        raise ScenarioError(f"--workers must be at least 1, got {workers}")
    if freq is not None and freq not in ("month", "quarter", "year"):
        raise ScenarioError(f"--freq must be month, quarter or year, got {freq!r}")
    from sim.sampling import DESIGNS

    if design not in DESIGNS:
        raise ScenarioError(f"--design must be one of {', '.join(DESIGNS)}, got {design!r}")
    root_seed = normalize_seed(seed)
    scn = loaded.scenario
    st = build_structure(scn, freq)
    final = Path(out) if out is not None else default_out_dir(scn.name)
    if final.exists() and not force:
        raise ScenarioError(f"results folder {final} already exists; choose another --out/--name or pass --force")
    partial = final.with_name(final.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    parts = partial / "parts"
    parts.mkdir(parents=True)
    bs = batch_size or default_batch_size(st, draws, workers)
    tasks = plan_batches(draws, bs)
    t_start = time.perf_counter()
    bar = _progress(draws, progress)
    try:
        if workers == 1:
            for task in tasks:
                _, n, _ = _run_task(task, root_seed, str(parts), design, draws, st)
                bar.update(n)
        else:
            with ProcessPoolExecutor(
                max_workers=workers, initializer=_worker_init, initargs=(loaded.data, freq)
            ) as pool:
                futs = [pool.submit(_run_task, t, root_seed, str(parts), design, draws) for t in tasks]
                for f in as_completed(futs):
                    _, n, _ = f.result()
                    bar.update(n)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted: partial results are in {partial} (not a complete run)", file=sys.stderr)
        raise
    finally:
        bar.close()
    sim_seconds = time.perf_counter() - t_start
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
        "workers": workers,
        "design": design,
        "frequency": st.freq,
        "start": scn.start,
        "end": scn.end,
        "reporting_currency": scn.reporting_currency,
        "package_version": __version__,
        "python": sys.version.split()[0],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "timing": {"simulate_and_write_seconds": round(sim_seconds, 4),
                   "draws_per_second": round(draws / sim_seconds, 1) if sim_seconds > 0 else None},
        "structure": structure_meta(st),
    }
    atomic_text(partial / "scenario.yaml", yaml.safe_dump(loaded.data, sort_keys=False, allow_unicode=True))
    if summarize:
        from sim.results import Results, write_summary

        t1 = time.perf_counter()
        write_summary(Results(partial, meta=meta), partial / "summary.csv")
        meta["timing"]["summary_seconds"] = round(time.perf_counter() - t1, 4)
    if charts:
        from sim.plots import default_charts

        t1 = time.perf_counter()
        from sim.results import Results

        default_charts(Results(partial, meta=meta), partial / "charts")
        meta["timing"]["charts_seconds"] = round(time.perf_counter() - t1, 4)
    meta["timing"]["total_seconds"] = round(time.perf_counter() - t_start, 4)
    atomic_json(partial / "metadata.json", meta)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    return final


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

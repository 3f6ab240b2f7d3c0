"""`sim run SCENARIO`: run a scenario's Monte Carlo draws and write a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.vocab import DESIGNS, ENGINES, EXECUTORS, FREQUENCIES


def cmd_run(args: argparse.Namespace) -> int:
    """Run the scenario (workers started before it is read), then print the headline figures."""
    import json

    from sim.api import run
    from sim.runner import WorkerPool
    from sim.runner.execute import cap_workers, check_options
    from sim.runner.folders import default_out_dir
    from sim.scenario import load_scenario

    # options are checked, and workers capped at the CPUs, before any worker starts
    check_options(args.draws, args.workers, args.freq, args.design, args.engine, args.executor, args.batch_size,
                  args.cluster)
    if args.name is not None:
        from sim.io import check_component

        check_component(args.name, "--name")
    # the workers start (and load numba's kernels) while this process reads the scenario
    local = args.workers > 1 and args.executor == "local" and args.cluster is None
    pool = WorkerPool(cap_workers(args.workers)) if local else None
    try:
        loaded = load_scenario(args.file)
        for w in loaded.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if args.out:
            out: Path | None = Path(args.out)
        elif args.name or not args.resume:
            out = default_out_dir(loaded.scenario.name, args.name)
        else:
            out = None  # --resume picks the latest interrupted run
        path = run(loaded, draws=args.draws, seed=args.seed, out=out, workers=args.workers,
                   batch_size=args.batch_size, freq=args.freq, progress=not args.quiet, force=args.force,
                   design=args.design, engine=args.engine, resume=args.resume, executor=args.executor,
                   cluster=args.cluster, charts=not args.no_charts, pool=pool)
    finally:
        if pool is not None:
            pool.close()
    meta = json.loads((path / "metadata.json").read_text())
    t = meta["timing"]
    print(f"results: {path}")
    rate = f"{t['draws_per_second']:.0f} draws/s" if t.get("draws_per_second") else "all batches resumed"
    print(f"  {args.draws} draws, seed {meta['seed']}, {meta['workers']} worker(s): "
          f"simulate+write {t['simulate_and_write_seconds']:.2f} s ({rate}), total {t['total_seconds']:.2f} s")
    _print_headline(path)
    return 0


def _print_headline(path: Path) -> None:
    """Net revenue in the last period: the total (saying what it holds), CAR-T only and each
    other modality beside it when the scenario mixes CAR-T with other products, then each product."""
    import numpy as np
    import pandas as pd

    from sim.results import Results
    from sim.results.modality import (
        car_t_filters,
        mixed_total,
        period_totals,
        total_modalities,
        total_name,
    )
    from sim.vocab import is_car_t, modality_label

    df = pd.read_csv(path / "summary.csv", dtype={"period": str})
    last = df["period"].iloc[-1] if len(df) else None
    sel = df[(df.level.isin(["total", "product"])) & (df.metric == "revenue") & (df.period == last)]
    if sel.empty:
        return
    res = Results(path)
    mixed = mixed_total(res)

    def name(level: str, group: str) -> str:  # what a total holds; in a mixed market, what a non-CAR-T product is
        if level == "total":
            return total_name(res)
        mod = res.product_modality.get(group, "")
        return f"{group} ({modality_label(mod)})" if mixed and mod and not is_car_t(mod) else group

    lines = [(name(r["level"], r["group"]), r["p50"], r["p10"], r["p90"]) for _, r in sel.iterrows()]
    if mixed:  # CAR-T only and each other modality, per draw, after the total
        others = [m for m in total_modalities(res) if not is_car_t(m)]
        sets = [car_t_filters(res), *({"modality": [m]} for m in others)]
        sums = period_totals(res, "revenue", str(last), sets)
        labels = ["  CAR-T only", *(f"  {modality_label(m)}" for m in others)]
        at = 1 + int(np.flatnonzero(sel.level.to_numpy() == "total")[0])
        lines[at:at] = [(lab, *np.percentile(x, [50, 10, 90])) for lab, x in zip(labels, sums, strict=True)]
    width = max(28, *(len(g) + 2 for g, *_ in lines))
    print(f"  net revenue in {last} (median [P10-P90]):")
    for g, q50, q10, q90 in lines:
        print(f"    {g:<{width}} {q50 / 1e6:>10,.0f}M  [{q10 / 1e6:,.0f}M - {q90 / 1e6:,.0f}M]")


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    r = sub.add_parser("run", help="run a scenario's Monte Carlo draws and write results")
    r.add_argument("file")
    r.add_argument("--draws", type=int, default=1000)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", help="results folder (default outputs/<scenario>/<name or timestamp>)")
    r.add_argument("--name", help="run name used in the default results folder")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--batch-size", type=int, default=None)
    r.add_argument("--freq", choices=FREQUENCIES, default=None,
                   help="reporting period stored (default: the scenario's output.frequency, year)")
    r.add_argument("--design", choices=DESIGNS, default="mc",
                   help="sampling design: plain Monte Carlo, Latin hypercube or scrambled Sobol")
    r.add_argument("--force", action="store_true", help="replace an existing results folder")
    r.add_argument("--resume", action="store_true",
                   help="complete an interrupted run (same --out/--name; default: the latest one)")
    r.add_argument("--engine", choices=ENGINES, default="batch",
                   help="batch: vectorised fluid flow (default); patient: per-patient simpy oracle (slow); "
                        "cohort: the batch flow one draw at a time (for benchmarks)")
    r.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local process pool (default) or dask.distributed")
    r.add_argument("--cluster", help="dask scheduler address tcp://HOST:PORT (implies --executor dask)")
    r.add_argument("--no-charts", action="store_true")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

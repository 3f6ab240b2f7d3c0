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
    from sim.runner.folders import default_out_dir
    from sim.scenario import load_scenario

    # the workers start (and load numba's kernels) while this process reads the scenario
    local = args.workers > 1 and args.executor == "local" and args.cluster is None
    pool = WorkerPool(args.workers) if local else None
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
    import pandas as pd

    df = pd.read_csv(path / "summary.csv", dtype={"period": str})
    last = df["period"].iloc[-1] if len(df) else None
    sel = df[(df.level.isin(["total", "product"])) & (df.metric == "revenue") & (df.period == last)]
    if sel.empty:
        return
    print(f"  net revenue in {last} (median [P10-P90]):")
    for _, r in sel.iterrows():
        print(f"    {r['group']:<28} {r['p50'] / 1e6:>10,.0f}M  [{r['p10'] / 1e6:,.0f}M - {r['p90'] / 1e6:,.0f}M]")


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

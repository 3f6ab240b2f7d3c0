"""Command line: `sim validate | run | plot fan | summary`.

User mistakes (ScenarioError) print one clear paragraph and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError


def _filters(items: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or []:
        if "=" not in item:
            raise ScenarioError(f"--filter expects KEY=VALUE[,VALUE...], e.g. region=US,EU; got {item!r}")
        k, v = item.split("=", 1)
        out.setdefault(k.strip(), []).extend(x.strip() for x in v.split(",") if x.strip())
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    from sim.engine.structure import build_structure
    from sim.scenario import load_scenario
    from sim.scenario.dists import is_uncertain

    bad = 0
    for f in args.files:
        try:
            loaded = load_scenario(f)
        except ScenarioError as exc:
            print(exc.render(), file=sys.stderr)
            bad += 1
            continue
        st = build_structure(loaded.scenario)
        n_unc = _count_uncertain(loaded.scenario, is_uncertain)
        print(f"ok: {f}: scenario '{loaded.scenario.name}', {len(st.products)} products, "
              f"{len(st.regions)} regions, {len(st.indications)} indications, {st.L} launches "
              f"(product x region x indication), {len(loaded.scenario.events)} events, "
              f"{n_unc} uncertain inputs, {st.start // 12}-{st.start % 12 + 1:02d}..{loaded.scenario.end}")
    return 2 if bad else 0


def _count_uncertain(obj: Any, pred: Any) -> int:
    from pydantic import BaseModel

    if pred(obj):
        return 1
    if isinstance(obj, BaseModel):
        return sum(_count_uncertain(getattr(obj, k), pred) for k in type(obj).model_fields)
    if isinstance(obj, dict):
        return sum(_count_uncertain(v, pred) for v in obj.values())
    if isinstance(obj, list):
        return sum(_count_uncertain(v, pred) for v in obj)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
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


def cmd_plot_fan(args: argparse.Namespace) -> int:
    from sim.plots import load_actuals, plot_fan, save_figure
    from sim.results import Results

    res = Results(args.results)
    actuals = load_actuals(args.actuals, args.by) if args.actuals else None
    bands = tuple(int(b) for b in args.bands.split(","))
    if any(not 0 < b < 100 for b in bands):
        raise ScenarioError(f"--bands must be percentages between 0 and 100, got {args.bands}")
    fig = plot_fan(res, args.metric, args.by, filters=_filters(args.filter), freq=args.freq,
                   actuals=actuals, bands=bands)
    out = Path(args.out) if args.out else res.path / "charts" / f"fan_{args.metric}_{args.by}_{args.freq or res.frequency}.png"
    save_figure(fig, out)
    print(f"wrote {out}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from sim.results import Results, summarize

    res = Results(args.results)
    groups, periods, arr = res.grouped(args.metric, args.by, filters=_filters(args.filter), freq=args.freq)
    stats = summarize(arr)
    cols = ["mean", "p5", "p10", "p50", "p90", "p95"]
    print(f"{args.metric} by {args.by} ({res.scenario}, {arr.shape[0]} draws)")
    print(f"{'group':<24}{'period':<9}" + "".join(f"{c:>14}" for c in cols))
    for g_i, g in enumerate(groups):
        for p_i, p in enumerate(periods):
            if args.period and p != args.period:
                continue
            print(f"{g:<24}{p:<9}" + "".join(f"{stats[c][g_i, p_i]:>14,.0f}" for c in cols))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from sim import __version__

    ap = argparse.ArgumentParser(prog="sim", description="CAR-T competitive-landscape Monte Carlo simulator")
    ap.add_argument("--version", action="version", version=f"sim {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)

    v = sub.add_parser("validate", help="check scenario files and list every problem")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)

    r = sub.add_parser("run", help="run a scenario's Monte Carlo draws and write results")
    r.add_argument("file")
    r.add_argument("--draws", type=int, default=1000)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", help="results folder (default outputs/<scenario>/<name or timestamp>)")
    r.add_argument("--name", help="run name used in the default results folder")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--batch-size", type=int, default=None)
    r.add_argument("--freq", choices=["month", "quarter", "year"], default=None,
                   help="reporting period stored (default: the scenario's output.frequency, year)")
    r.add_argument("--design", choices=["mc", "lhs", "sobol"], default="mc",
                   help="sampling design: plain Monte Carlo, Latin hypercube or scrambled Sobol")
    r.add_argument("--force", action="store_true", help="replace an existing results folder")
    r.add_argument("--resume", action="store_true",
                   help="complete an interrupted run (same --out/--name; default: the latest one)")
    r.add_argument("--engine", choices=["batch", "patient", "cohort"], default="batch",
                   help="batch: vectorised fluid flow (default); patient: per-patient simpy oracle (slow); "
                        "cohort: the batch flow one draw at a time (for benchmarks)")
    r.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local process pool (default) or dask.distributed")
    r.add_argument("--cluster", help="dask scheduler address tcp://HOST:PORT (implies --executor dask)")
    r.add_argument("--no-charts", action="store_true")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    p = sub.add_parser("plot", help="charts from a results folder")
    psub = p.add_subparsers(dest="plot", required=True)
    f = psub.add_parser("fan", help="fan chart: median and graded percentile bands")
    f.add_argument("results")
    f.add_argument("--metric", default="revenue")
    f.add_argument("--by", default="total", choices=["total", "product", "target", "region", "indication", "company", "modality", "lane"])
    f.add_argument("--filter", action="append", help="KEY=V1,V2 (e.g. region=China); repeatable")
    f.add_argument("--freq", choices=["month", "quarter", "year"], default=None)
    f.add_argument("--actuals", help="CSV of observed values to overlay as points")
    f.add_argument("--bands", default="50,80,90")
    f.add_argument("--out", help="PNG path (default: RESULTS/charts/...)")
    f.set_defaults(func=cmd_plot_fan)

    s = sub.add_parser("summary", help="print percentiles of a metric from a results folder")
    s.add_argument("results")
    s.add_argument("--metric", default="revenue")
    s.add_argument("--by", default="total")
    s.add_argument("--filter", action="append")
    s.add_argument("--freq", choices=["month", "quarter", "year"], default=None)
    s.add_argument("--period", default=None)
    s.set_defaults(func=cmd_summary)
    for mod in EXTRA_COMMANDS:
        _register_extra(sub, mod)
    return ap


# Commands living in their own modules; each module defines register(subparsers), which adds
# a sub-parser with set_defaults(func=...). Imported lazily so start-up stays fast.
EXTRA_COMMANDS: list[str] = ["sim.commands.analysis", "sim.commands.report", "sim.commands.calibrate"]


def _register_extra(sub: Any, module: str) -> None:
    import importlib

    importlib.import_module(module).register(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ScenarioError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`sim backtest --origin SCENARIO@YYYY-MM ... --actuals CSV`: how well would the tool have forecast?

For each origin: fit `--inputs` on the actuals of the years complete by then (sim fit, optional),
run the (fitted) scenario forward, and score every later reported product-year of a product
selling at the origin against the forecast and naive baselines (sim.analysis.backtest). Writes
`scores.csv` (one row per product-year), `summary.csv`, `backtest.png` and each origin's fit and
run under the backtest folder (default outputs/backtest-<timestamp>).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MARKER = ".sim-backtest"


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    p = sub.add_parser("backtest", help="rolling-origin backtest: fit before each origin, score the years after",
                       description="Fit on the actuals before each origin, forecast, and score the held-back "
                                   "actuals (coverage, PIT, CRPS) against naive baselines.")
    p.add_argument("--origin", action="append", required=True, metavar="SCENARIO@YYYY-MM",
                   help="a scenario as known at a month (repeatable), e.g. scenarios/cart_2022.yaml@2020-12")
    p.add_argument("--actuals", required=True, help="CSV: product, year, net_sales_usd_m[, quality]")
    p.add_argument("--inputs", action="append", default=None, metavar="PATTERN",
                   help="inputs to fit before each origin (as sim fit); without: the scenario's priors")
    p.add_argument("--draws", type=int, default=1000, help="draws of each forecast (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fits and the forecasts (default 0)")
    p.add_argument("--population", type=int, default=500, help="fit particles per generation (default 500)")
    p.add_argument("--generations", type=int, default=6, help="fit generations at most (default 6)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--out", default=None, help="backtest folder (default outputs/backtest-<timestamp>)")
    p.add_argument("--force", action="store_true", help="replace a backtest folder (only one sim backtest wrote)")
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    import shutil

    import pandas as pd

    from sim.analysis.backtest import parse_origin, summary
    from sim.cli.common import stamp
    from sim.errors import ScenarioError
    from sim.io import atomic_write

    origins = [parse_origin(o) for o in args.origin]
    if args.draws < 2:
        raise ScenarioError(f"--draws must be at least 2, got {args.draws}")
    try:
        import pyabc  # noqa: F401
        import scoringrules  # noqa: F401
    except ImportError:
        raise ScenarioError("sim backtest needs pyabc and scoringrules: pip install -e '.[fit]'") from None
    out = Path(args.out) if args.out else Path("outputs") / f"backtest-{stamp()}"
    from sim.runner.folders import is_ours

    if out.exists() or out.is_symlink():
        if not args.force or not is_ours(out, MARKER):
            raise ScenarioError(f"{out} exists; {'use --force to replace it' if not args.force else 'it is not a backtest folder (no ' + MARKER + '): left untouched'}")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("a backtest folder written by sim backtest\n")
    all_scores, fans, actuals = [], {}, None
    for origin in origins:
        scores, fan, actuals = _one_origin(origin, args, out / origin.month)
        all_scores.append(scores)
        fans[origin.month] = fan
    scores = pd.concat(all_scores, ignore_index=True)
    if scores.empty:
        raise ScenarioError("no product selling at an origin has actuals after it: nothing to score")
    table = summary(scores)
    atomic_write(out / "scores.csv", lambda tmp: scores.to_csv(tmp, index=False))
    atomic_write(out / "summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    from sim.plots.backtest import chart

    assert actuals is not None
    chart(out / "backtest.png", scores, fans, actuals)
    _print(table)
    print(f"backtest: {out} (scores.csv, summary.csv, backtest.png)")
    return 0


def _one_origin(origin: Any, args: argparse.Namespace, folder: Path) -> tuple[Any, dict, Any]:
    import pandas as pd

    from sim.analysis.backtest import score_origin
    from sim.analysis.fit import load_target
    from sim.api import run
    from sim.cli.fit import fit_scenario
    from sim.engine.structure import build_structure
    from sim.results import Results
    from sim.scenario import load_scenario

    loaded = load_scenario(origin.scenario)
    structure = build_structure(loaded.scenario, "year")
    target = load_target(args.actuals, structure)
    actuals = pd.DataFrame({"product": target.product, "year": [int(y) for y in target.period], "value": target.value})
    scenario: Any = loaded
    print(f"origin {origin.month}: {origin.scenario}", file=sys.stderr)
    if args.inputs:
        patterns = [p.strip() for item in args.inputs for p in item.split(",") if p.strip()]
        fit_args = argparse.Namespace(population=args.population, generations=args.generations, alpha=0.5,
                                      min_epsilon=0.0, seed=args.seed, until=origin.month, workers=args.workers)
        fit_scenario(loaded, args.actuals, patterns, fit_args, folder / "fit")
        scenario = folder / "fit" / "fitted.yaml"
    path = run(scenario, draws=args.draws, seed=args.seed, out=folder / "run", workers=args.workers, freq="year",
               charts=False)
    groups, periods, arr = Results(path).grouped("revenue", by="product", freq="year")
    fan = {g: {per: arr[:, k, j] for j, per in enumerate(periods)} for k, g in enumerate(groups)}
    return score_origin(origin, fan, actuals), fan, actuals


def _print(table: Any) -> None:
    print(f"{'origin':<9}{'product-years':>14}{'P10-P90':>9}{'P5-P95':>8}   scaled CRPS: {'model':>7}"
          f"{'persist.':>9}{'trend':>7}{'Bass':>7}")
    for _, r in table.iterrows():
        print(f"{r['origin']:<9}{int(r['product_years']):>14}{100 * r['cover_p10_p90']:>8.0f}%{100 * r['cover_p5_p95']:>7.0f}%"
              f"{'':>16}{r['scaled_crps']:>7.3f}{r['scaled_crps_persistence']:>9.3f}{r['scaled_crps_trend']:>7.3f}"
              f"{r['scaled_crps_bass']:>7.3f}")

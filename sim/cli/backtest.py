"""`sim backtest --origin SCENARIO@YYYY-MM ... --actuals CSV`: how well would the tool have forecast?

For each origin: fit `--inputs` on the actuals of the years complete by then (sim fit, optional),
run the (fitted) scenario forward, and score every later reported product-year of a product
selling at the origin against the forecast and naive baselines (sim.analysis.backtest). Writes
`scores.csv` (one row per product-year), `summary.csv`, `backtest.png` and each origin's fit and
run under the backtest folder (default outputs/backtest-<timestamp>).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

MARKER = ".sim-backtest"


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    p = sub.add_parser("backtest", help="rolling-origin backtest: fit before each origin, score the years after",
                       description="Fit on the actuals before each origin, forecast, and score the held-back "
                                   "actuals (coverage, PIT, CRPS) against naive baselines.")
    p.add_argument("--origin", action="append", required=True, metavar="SCENARIO[@YYYY-MM]",
                   help="a scenario as known at a month (repeatable), e.g. scenarios/cart_asof_2020-12.yaml "
                        "(its as_of month) or scenarios/cart_2022.yaml@2020-12 (in-sample: it knows later facts)")
    p.add_argument("--actuals", required=True, help="CSV: product, year, net_sales_usd_m[, quality]")
    p.add_argument("--inputs", action="append", default=None, metavar="PATTERN",
                   help="inputs to fit before each origin (as sim fit); without: the scenario's priors")
    p.add_argument("--discrepancy", default=None, metavar="SCALES",
                   help="model-discrepancy scales to try, e.g. 0,0.1,0.2: each origin is fitted and scored "
                        "with each, and the scale of lowest scaled CRPS is chosen (default: the scenarios' own)")
    p.add_argument("--draws", type=int, default=1000, help="draws of each forecast (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fits and the forecasts (default 0)")
    p.add_argument("--population", type=int, default=500, help="fit particles per generation (default 500)")
    p.add_argument("--generations", type=int, default=6, help="fit generations at most (default 6)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="run the fits and forecasts on the dask cluster at tcp://HOST:PORT (needs '.[dask]')")
    p.add_argument("--out", default=None, help="backtest folder (default outputs/backtest-<timestamp>)")
    p.add_argument("--force", action="store_true", help="replace a backtest folder (only one sim backtest wrote)")
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    import shutil

    import pandas as pd

    from sim.analysis.backtest import parse_origin, score_origin, summary
    from sim.cli.common import stamp
    from sim.errors import ScenarioError
    from sim.io import atomic_write

    scales = _scales(args.discrepancy)
    from sim.runner.dask import check_address

    check_address(args.cluster)
    if args.draws < 2:
        raise ScenarioError(f"--draws must be at least 2, got {args.draws}")
    try:
        import pyabc  # noqa: F401
        import scoringrules  # noqa: F401
    except ImportError:
        raise ScenarioError("sim backtest needs pyabc and scoringrules: pip install -e '.[fit]'") from None
    origins = _resolve_origins([parse_origin(o) for o in args.origin])  # every origin checked before writing
    out = Path(args.out) if args.out else Path("outputs") / f"backtest-{stamp()}"
    from sim.runner.folders import is_ours

    if out.exists() or out.is_symlink():
        if not args.force or not is_ours(out, MARKER):
            raise ScenarioError(f"{out} exists; {'use --force to replace it' if not args.force else 'it is not a backtest folder (no ' + MARKER + '): left untouched'}")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("a backtest folder written by sim backtest\n")
    all_scores, fans, actuals = [], {}, None
    for origin, loaded in origins:
        scenario, actuals = _fit_origin(origin, loaded, args, out / origin.month)
        for scale in scales:
            fan = _forecast(scenario, origin, args, out / origin.month, scale)
            all_scores.append(score_origin(origin, fan, actuals).assign(discrepancy=scale))
            fans[(scale, origin.month)] = fan
    scores = pd.concat(all_scores, ignore_index=True)
    if scores.empty:
        raise ScenarioError("no product selling at an origin has actuals after it: nothing to score")
    table = summary(scores)
    chosen = table.loc[table["chosen"], "discrepancy"].iloc[0] if "chosen" in table else None
    shown = scores if chosen is None else scores[scores["discrepancy"] == chosen]
    atomic_write(out / "scores.csv", lambda tmp: scores.to_csv(tmp, index=False))
    atomic_write(out / "summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    from sim.plots.backtest import chart

    assert actuals is not None
    chart(out / "backtest.png", shown, {m: f for (sc, m), f in fans.items() if sc == chosen or chosen is None},
          actuals, "" if chosen is None else f"model-discrepancy scale {chosen:g}, chosen by the backtest")
    _print(table)
    if chosen is not None and len(scales) > 1:
        crps = table.loc[table["origin"] == table["origin"].iloc[-1], "scaled_crps"]
        why = ("all scales score the same: the forecasts do not depend on it" if crps.nunique() == 1
               else "lowest mean scaled CRPS over the origins")
        print(f"discrepancy scale chosen: {chosen:g} ({why}; the chart shows its forecasts)")
    print(f"backtest: {out} (scores.csv, summary.csv, backtest.png)")
    return 0


def _scales(text: str | None) -> list[float | None]:
    """--discrepancy 0,0.1,0.2 -> the scales (None: each scenario's own discrepancy)."""
    from sim.errors import ScenarioError

    if text is None:
        return [None]
    try:
        scales = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ScenarioError(f"--discrepancy expects scales separated by commas, e.g. 0,0.1,0.2; got {text!r}") from None
    if not scales or any(not 0.0 <= x <= 2.0 for x in scales) or len(set(scales)) < len(scales):
        raise ScenarioError(f"--discrepancy expects distinct scales between 0 and 2, e.g. 0,0.1,0.2; got {text!r}")
    out: list[float | None] = list(sorted(scales))
    return out


def _resolve_origins(origins: list[Any]) -> list[tuple[Any, Any]]:
    """Each origin with its month (from the scenario's as_of when not given) and its loaded
    scenario; two origins of one month are refused (their folders and table rows would clash)."""
    from sim.errors import ScenarioError
    from sim.scenario import load_scenario

    out = []
    for origin in origins:
        loaded = load_scenario(origin.scenario)
        out.append((origin.known_as_of(loaded.scenario.as_of), loaded))
    months = [o.month for o, _ in out]
    twice = sorted({m for m in months if months.count(m) > 1})
    if twice:
        raise ScenarioError(f"--origin: two origins at {', '.join(twice)}; give each origin its own month")
    return out


def _fit_origin(origin: Any, loaded: Any, args: argparse.Namespace, folder: Path) -> tuple[Any, Any]:
    """The scenario to forecast from (fitted on the actuals complete by the origin when --inputs
    are given) and the actuals as a table."""
    import pandas as pd

    from sim.analysis.fit import load_target
    from sim.cli.common import split_list
    from sim.cli.fit import fit_scenario
    from sim.engine.structure import build_structure

    target = load_target(args.actuals, build_structure(loaded.scenario, "year"))
    actuals = pd.DataFrame({"product": target.product, "year": [int(y) for y in target.period], "value": target.value})
    print(f"origin {origin.month}: {origin.scenario}", file=sys.stderr)
    if origin.in_sample:
        known = f"as of {origin.as_of}" if origin.as_of else "with no as_of month"
        print(f"warning: {origin.scenario} is a scenario {known}, so it may know launches and sales after "
              f"the origin {origin.month}: its scores are in-sample, not forecast skill", file=sys.stderr)
    if not args.inputs:
        return loaded, actuals
    fit_args = argparse.Namespace(population=args.population, generations=args.generations, alpha=0.5,
                                  min_epsilon=0.0, seed=args.seed, until=origin.month, workers=args.workers,
                                  cluster=args.cluster)
    fit_scenario(loaded, args.actuals, split_list(args.inputs), fit_args, folder / "fit")
    return folder / "fit" / "fitted.yaml", actuals


def _forecast(scenario: Any, origin: Any, args: argparse.Namespace, folder: Path, scale: float | None
              ) -> dict[str, dict[str, Any]]:
    """Draws of each product's yearly revenue from the (fitted) scenario, with the discrepancy
    scale replaced when one is given (the fit is shared: the walk starts at the origin month, so
    it does not touch the sales fitted on)."""
    from sim.api import run
    from sim.results import Results

    if scale is not None:
        import yaml

        folder = folder / f"d{scale!r}"
        folder.mkdir(parents=True, exist_ok=True)
        base = scenario.path if hasattr(scenario, "path") else scenario
        variant = folder / "scenario.yaml"
        body = {"extends": os.path.relpath(Path(base).resolve(), folder.resolve()), "name": f"backtest-d{scale!r}",
                "discrepancy": {"scale": scale, "start": origin.month}}  # the walk starts at the origin
        variant.write_text(f"# {origin.scenario} with the model-discrepancy scale {scale!r} from {origin.month} "
                           "(written by sim backtest)\n" + yaml.safe_dump(body, sort_keys=False))
        scenario = variant
        print(f"  forecast with discrepancy scale {scale:g}", file=sys.stderr)
    path = run(scenario, draws=args.draws, seed=args.seed, out=folder / "run", workers=args.workers, freq="year",
               cluster=args.cluster, charts=False)
    groups, periods, arr = Results(path).grouped("revenue", by="product", freq="year")
    return {g: {per: arr[:, k, j] for j, per in enumerate(periods)} for k, g in enumerate(groups)}


def _print(table: Any) -> None:
    print(f"{'origin':<9}{'':<11}{'product-years':>14}{'P10-P90':>9}{'P5-P95':>8}   scaled CRPS: {'model':>7}"
          f"{'persist.':>9}{'trend':>7}{'Bass':>7}")
    for _, r in table.iterrows():
        if "discrepancy" in r and (r["origin"] == table["origin"].iloc[0]):
            print(f"discrepancy scale {r['discrepancy']:g}{' (chosen)' if r['chosen'] else ''}:")
        kind = "(in-sample)" if r["in_sample"] else ""
        print(f"{r['origin']:<9}{kind:<11}{int(r['product_years']):>14}{100 * r['cover_p10_p90']:>8.0f}%"
              f"{100 * r['cover_p5_p95']:>7.0f}%"
              f"{'':>16}{r['scaled_crps']:>7.3f}{r['scaled_crps_persistence']:>9.3f}{r['scaled_crps_trend']:>7.3f}"
              f"{r['scaled_crps_bass']:>7.3f}")

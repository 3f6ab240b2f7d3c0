"""`sim plot fan RESULTS`: charts from a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.cli.common import parse_filters
from sim.errors import ScenarioError
from sim.vocab import FREQUENCIES, GROUPINGS


def cmd_plot_fan(args: argparse.Namespace) -> int:
    """Draw a fan chart of a results folder into a PNG."""
    from sim.analysis.actuals import load_actuals
    from sim.plots.base import save_figure
    from sim.plots.fan import plot_fan
    from sim.results import Results

    res = Results(args.results)
    actuals = load_actuals(args.actuals, args.by) if args.actuals else None
    bands = tuple(int(b) for b in args.bands.split(","))
    if any(not 0 < b < 100 for b in bands):
        raise ScenarioError(f"--bands must be percentages between 0 and 100, got {args.bands}")
    fig = plot_fan(res, args.metric, args.by, filters=parse_filters(args.filter), freq=args.freq,
                   actuals=actuals, bands=bands)
    out = Path(args.out) if args.out else res.path / "charts" / f"fan_{args.metric}_{args.by}_{args.freq or res.frequency}.png"
    save_figure(fig, out)
    print(f"wrote {out}")
    return 0


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    p = sub.add_parser("plot", help="charts from a results folder")
    psub = p.add_subparsers(dest="plot", required=True)
    f = psub.add_parser("fan", help="fan chart: median and graded percentile bands")
    f.add_argument("results")
    f.add_argument("--metric", default="revenue")
    f.add_argument("--by", default="total", choices=GROUPINGS)
    f.add_argument("--filter", action="append", help="KEY=V1,V2 (e.g. region=China); repeatable")
    f.add_argument("--freq", choices=FREQUENCIES, default=None)
    f.add_argument("--actuals", help="CSV of observed values to overlay as points")
    f.add_argument("--bands", default="50,80,90")
    f.add_argument("--out", help="PNG path (default: RESULTS/charts/...)")
    f.set_defaults(func=cmd_plot_fan)

"""`sim summary RESULTS`: percentiles of a metric from a results folder, as a table."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.common import parse_filters
from sim.vocab import FREQUENCIES, GROUPINGS


def cmd_summary(args: argparse.Namespace) -> int:
    """Print a metric's mean and percentiles by group and period."""
    from sim.results import Results, summarize
    from sim.results.folder import period_index

    res = Results(args.results)
    groups, periods, arr = res.grouped(args.metric, args.by, filters=parse_filters(args.filter), freq=args.freq)
    shown = range(len(periods)) if args.period is None else [period_index(periods, args.period)]
    stats = summarize(arr)
    cols = ["mean", "p5", "p10", "p50", "p90", "p95"]
    print(f"{args.metric} by {args.by} ({res.scenario}, {arr.shape[0]} draws)")
    print(f"{'group':<24}{'period':<9}" + "".join(f"{c:>14}" for c in cols))
    for g_i, g in enumerate(groups):
        for p_i in shown:
            p = periods[p_i]
            print(f"{g:<24}{p:<9}" + "".join(f"{stats[c][g_i, p_i]:>14,.0f}" for c in cols))
    return 0


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    s = sub.add_parser("summary", help="print percentiles of a metric from a results folder")
    s.add_argument("results")
    s.add_argument("--metric", default="revenue")
    s.add_argument("--by", default="total", choices=GROUPINGS)
    s.add_argument("--filter", action="append")
    s.add_argument("--freq", choices=FREQUENCIES, default=None)
    s.add_argument("--period", default=None)
    s.set_defaults(func=cmd_summary)

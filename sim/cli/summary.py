"""`sim summary RESULTS`: percentiles of a metric from a results folder, as a table."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli.common import parse_filters
from sim.vocab import FREQUENCIES, GROUPINGS


def cmd_summary(args: argparse.Namespace) -> int:
    """Print a metric's mean and percentiles by group and period. A total says what it holds
    ("total (CAR-T + bispecific)") and is followed by its CAR-T-only rows when it mixes CAR-T
    with other products; modalities are spelt out ("bispecific antibody")."""
    import numpy as np

    from sim.results import Results, summarize
    from sim.results.folder import period_index
    from sim.results.modality import car_t_total, group_name, mixed_total

    res = Results(args.results)
    filters = parse_filters(args.filter)
    groups, periods, arr = res.grouped(args.metric, args.by, filters=filters, freq=args.freq)
    shown = range(len(periods)) if args.period is None else [period_index(periods, args.period)]
    names = [group_name(res, args.by, g, args.metric, filters) for g in groups]
    if args.by == "total" and mixed_total(res, args.metric, filters):
        _, cart = car_t_total(res, args.metric, filters, args.freq)
        arr = np.concatenate([arr, cart[:, None, :]], axis=1)
        names.append("CAR-T only")
    stats = summarize(arr)
    cols = ["mean", "p5", "p10", "p50", "p90", "p95"]
    width = max(24, *(len(n) + 2 for n in names)) if names else 24
    print(f"{args.metric} by {args.by} ({res.scenario}, {arr.shape[0]} draws)")
    print(f"{'group':<{width}}{'period':<9}" + "".join(f"{c:>16}" for c in cols))
    for g_i, g in enumerate(names):
        for p_i in shown:
            p = periods[p_i]
            print(f"{g:<{width}}{p:<9}" + "".join(f"{stats[c][g_i, p_i]:>16,.0f}" for c in cols))
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

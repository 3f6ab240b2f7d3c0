"""`sim calibrate RESULTS --actuals CSV`: report how many actuals sit inside the P10-P90 band."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    p = sub.add_parser("calibrate", help="coverage of observed actuals by a run's percentile band")
    p.add_argument("results")
    p.add_argument("--actuals", required=True, help="CSV: product, year, net_sales_usd_m (or group, period, value)")
    p.add_argument("--metric", default="revenue")
    p.add_argument("--by", default="product")
    p.add_argument("--band", default="10,90", help="lower,upper percentiles (default 10,90)")
    p.add_argument("--years", default=None, help="FIRST,LAST calendar years to check (default: all)")
    p.add_argument("--out", help="write the table as CSV")
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from sim.analysis.calibration import coverage
    from sim.errors import ScenarioError
    from sim.results import Results
    from sim.vocab import is_money

    try:
        lo, hi = (float(x) for x in args.band.split(","))
        years = tuple(int(x) for x in args.years.split(",")) if args.years else None
    except ValueError:
        raise ScenarioError(f"--band expects LO,HI and --years FIRST,LAST; got {args.band!r}, {args.years!r}") from None
    if not 0 <= lo < hi <= 100:
        raise ScenarioError(f"--band LO,HI needs 0 <= LO < HI <= 100 (percentiles), got {args.band!r}")
    if years is not None and (len(years) != 2 or years[0] > years[1]):
        raise ScenarioError(f"--years FIRST,LAST needs FIRST <= LAST, got {args.years!r}")
    df = coverage(Results(args.results), args.actuals, metric=args.metric, by=args.by, band=(lo, hi),
                  years=years)
    inside = int(df["inside"].sum())
    scale = 1e6 if is_money(args.metric) else 1.0
    unit = "M" if scale == 1e6 else ""
    print(f"{args.by:<26}{'year':<7}{'actual':>10}{f'P{lo:g}':>10}{'P50':>10}{f'P{hi:g}':>10}  inside  pctile")
    for _, r in df.iterrows():
        print(f"{r[args.by]:<26}{r['period']:<7}{r['actual'] / scale:>9,.1f}{unit}{r[f'p{lo:g}'] / scale:>9,.1f}{unit}"
              f"{r['p50'] / scale:>9,.1f}{unit}{r[f'p{hi:g}'] / scale:>9,.1f}{unit}  {'yes' if r['inside'] else 'NO':<6}"
              f"  {r['percentile_of_actual']:5.1f}")
    print(f"{inside} of {len(df)} actuals inside the P{lo:g}-P{hi:g} band ({100 * inside / len(df):.0f} %)")
    if args.out:
        from sim.io import atomic_write

        atomic_write(args.out, lambda tmp: df.to_csv(tmp, index=False))
    return 0 if inside == len(df) else 1

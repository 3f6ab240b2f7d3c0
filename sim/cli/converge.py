"""`sim converge SCENARIO`: add batches of draws until a percentile's relative error is small."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.cli.common import (
    add_output_args,
    check_positive,
    fmt_value,
    is_money,
    parse_filters,
    stamp,
)


def cmd_converge(args: argparse.Namespace) -> int:
    """Add batches until converged; exit 1 if --max-draws is reached first."""
    from sim.analysis.convergence import converge
    from sim.report.folders import write_convergence
    from sim.scenario import load_scenario

    check_positive("--batch", args.batch)
    check_positive("--max-draws", args.max_draws)
    loaded = load_scenario(args.file)
    out = Path(args.out) if args.out else Path("outputs") / loaded.scenario.name / f"converge-{stamp()}"
    money = is_money(args.metric)
    qn = f"P{round(100 * args.quantile)}"

    def progress(row: dict[str, Any]) -> None:
        if not args.quiet:
            print(f"  {row['draws']:>8} draws: {qn} {fmt_value(row['estimate'], money)} ± {fmt_value(row['se'], money)} "
                  f"(relative SE {100 * row['rel_se']:.3g} %)", file=sys.stderr)

    res = converge(loaded, metric=args.metric, by=args.by, group=args.group, filters=parse_filters(args.filter),
                   freq=args.freq, period=args.period, until_se=args.until_se, batch=args.batch,
                   max_draws=args.max_draws, seed=args.seed, q=args.quantile, method=args.method,
                   progress=progress)
    write_convergence(res, out)
    last = res.history.iloc[-1]
    state = "converged" if res.converged else f"NOT converged within --max-draws {args.max_draws}"
    print(f"{qn} of {args.metric} in {res.period}: {fmt_value(last['estimate'], money)} ± {fmt_value(last['se'], money)} "
          f"(relative SE {100 * last['rel_se']:.3g} %, target {100 * args.until_se:g} %): {state} "
          f"after {res.draws} draws")
    print(f"  `sim run {args.file} --draws {res.draws} --seed {args.seed}` reproduces these draws exactly")
    if args.save_results:
        from sim.api import run

        path = run(loaded, draws=res.draws, seed=args.seed, out=out / "results", force=True)
        print(f"  results: {path}")
    print(f"wrote {out / 'convergence.csv'} and {out / 'convergence.png'}")
    return 0 if res.converged else 1


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    v = sub.add_parser(
        "converge", help="add batches of draws until a percentile's relative standard error is small",
        description="Runs batches of draws (ids continuing, so the draws equal one run of the final size) "
                    "until the relative SE of the output's percentile is below --until-se. "
                    "Exit status 1 if --max-draws is reached first.")
    v.add_argument("file")
    add_output_args(v)
    v.add_argument("--until-se", type=float, default=0.01, help="target relative SE (0.01 = 1 %%)")
    v.add_argument("--batch", type=int, default=500)
    v.add_argument("--max-draws", type=int, default=100_000)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--quantile", type=float, default=0.5, help="percentile tracked, as a fraction (default median)")
    v.add_argument("--method", choices=["order", "batch"], default="order",
                   help="SE of the percentile: order-statistic interval or batch means")
    v.add_argument("--save-results", action="store_true", help="also write a results folder of the final draws")
    v.add_argument("--out", help="output folder (default outputs/<scenario>/converge-<timestamp>)")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=cmd_converge)

"""`sim sensitivity SCENARIO`: which uncertain inputs matter (tornado, rank correlations, Sobol)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.cli.common import add_output_args, fmt_value, parse_filters, stamp
from sim.errors import ScenarioError


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """Run the analyses, print the strongest inputs, write the folder."""
    from sim.analysis.sensitivity import sensitivity
    from sim.report.folders import write_sensitivity
    from sim.scenario import load_scenario

    if args.draws < 2:
        raise ScenarioError(f"--draws must be at least 2, got {args.draws}")
    if args.sobol_n and (args.sobol_n < 2 or args.sobol_n & (args.sobol_n - 1)):
        raise ScenarioError(f"--sobol-n must be a power of 2 (e.g. 256) or 0 to skip Sobol, got {args.sobol_n}")
    loaded = load_scenario(args.file)
    out = Path(args.out) if args.out else Path("outputs") / loaded.scenario.name / f"sensitivity-{stamp()}"
    rep = sensitivity(loaded, metric=args.metric, by=args.by, group=args.group, filters=parse_filters(args.filter),
                      freq=args.freq, period=args.period, draws=args.draws, seed=args.seed,
                      sobol_n=args.sobol_n or None)
    files = write_sensitivity(rep, out, top=args.top)
    money = rep.money
    base = rep.tornado["base_median"].iloc[0] if len(rep.tornado) else float("nan")
    print(f"sensitivity of {rep.output} in {rep.period} ({loaded.scenario.name}, {args.draws} draws, "
          f"seed {args.seed}, {len(rep.inputs)} uncertain inputs); median {fmt_value(base, money)}")
    if not rep.inputs:
        print("  the scenario has no uncertain inputs")
    else:
        top = rep.top(args.top)
        has_sobol = "ST" in top.columns
        print(f"  {'input':<56}{'P10 → P90':>26}{'swing':>12}{'spearman':>10}" + (f"{'S1':>7}{'ST':>7}" if has_sobol else ""))
        for r in top.itertuples():
            rng = f"{r.value_low_text} → {r.value_high_text}"
            line = f"  {r.input[-55:]:<56}{rng[-25:]:>26}{fmt_value(r.swing, money):>12}{r.spearman:>10.2f}"
            if has_sobol:
                line += f"{r.S1:>7.2f}{r.ST:>7.2f}"
            print(line)
    print(f"wrote {len(files)} files in {out}")
    return 0


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    s = sub.add_parser(
        "sensitivity", help="which uncertain inputs matter: tornado, rank correlations, Sobol, over time",
        description="Tornado (each input pinned at P10 / P90, others sampled with one seed), Spearman rank "
                    "correlations, Sobol first-order and total indices (SALib) and rank sensitivity over time.")
    s.add_argument("file")
    add_output_args(s)
    s.add_argument("--draws", type=int, default=500, help="draws per tornado arm and for the rank correlations")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--sobol-n", type=int, default=256,
                   help="Saltelli base sample (power of 2; cost N x (inputs + 2) draws); 0 skips Sobol")
    s.add_argument("--top", type=int, default=15, help="inputs shown in charts and printed")
    s.add_argument("--out", help="output folder (default outputs/<scenario>/sensitivity-<timestamp>)")
    s.set_defaults(func=cmd_sensitivity)

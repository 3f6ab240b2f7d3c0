"""`sim compare A B ...`: scenarios (run now, one seed) or results folders, draw by draw."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.cli.common import (
    add_output_args,
    check_positive,
    fmt_value,
    is_money,
    parse_filters,
    stamp,
)
from sim.errors import ScenarioError
from sim.vocab import DESIGNS

if TYPE_CHECKING:
    import pandas as pd


def cmd_compare(args: argparse.Namespace) -> int:
    """Run or read the inputs, compare them with the first, print the table, write the folder."""
    from sim.analysis.compare import load_comparison
    from sim.report.folders import write_comparison

    if len(args.inputs) < 2:
        raise ScenarioError("compare needs at least two scenario files or results folders")
    check_positive("--draws", args.draws)
    check_positive("--workers", args.workers)
    paths = [Path(x) for x in args.inputs]
    for p in paths:
        if not p.exists():
            raise ScenarioError(f"not found: {p} (give scenario YAML files or results folders)")
    folders = [p for p in paths if p.is_dir()]
    for f in folders:
        if not (f / "metadata.json").exists():
            raise ScenarioError(f"{f} is not a complete results folder: metadata.json is missing")
    draws, seed, design = _pairing_settings(args, folders)
    out = Path(args.out) if args.out else Path("outputs") / "compare" / stamp()
    if (out / "comparison.csv").exists() and not args.force:
        raise ScenarioError(f"{out} already holds a comparison; choose another --out or pass --force")
    if design == "sobol":
        print("warning: Sobol designs pair only inputs the scenarios ask for in the same order; "
              "use mc or lhs for paired comparisons", file=sys.stderr)
    results = _results(args, paths, out, draws, seed, design)
    import warnings

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        cmp = load_comparison(results, args.metric, args.by, filters=parse_filters(args.filter), freq=args.freq)
    for note in cmp.notes:
        print(f"warning: {note}", file=sys.stderr)
    df, files = write_comparison(cmp, out, args.period)
    per = df["period"].iloc[0] if len(df) else ""
    kind = "paired (common random numbers)" if cmp.paired else "UNPAIRED (independent draws)"
    print(f"{args.metric} by {args.by} in {per}: {', '.join(cmp.labels)}; differences vs {cmp.labels[0]}, {kind}")
    print(format_table(df, money=is_money(args.metric), names=cmp.names))
    print(f"wrote {out / 'comparison.csv'} and {len(files) - 1} chart(s) in {out}")
    return 0


def _pairing_settings(args: argparse.Namespace, folders: list[Path]) -> tuple[int, int, str]:
    """Draws, seed and design: as asked, else the first results folder's (runs made now pair
    with it), else 1000, 0 and mc."""
    import json

    draws, seed, design = args.draws, args.seed, args.design
    if folders:
        meta = json.loads((folders[0] / "metadata.json").read_text())
        draws = draws if draws is not None else int(meta["draws"])
        seed = seed if seed is not None else int(meta["seed"])
        design = design if design is not None else meta.get("design", "mc")
    return (draws if draws is not None else 1000, seed if seed is not None else 0, design or "mc")


def _results(args: argparse.Namespace, paths: list[Path], out: Path, draws: int, seed: int, design: str) -> list[Path]:
    """The results folders compared: those given, and a run of each scenario file under out/runs/."""
    from sim.api import run
    from sim.scenario import load_scenario

    results: list[Path] = []
    used: set[str] = set()
    for p in paths:
        if p.is_dir():
            results.append(p)
            continue
        loaded = load_scenario(p)
        name = loaded.scenario.name
        label = name if name not in used else f"{name}-{p.stem}"
        k = 2
        while label in used:
            label, k = f"{name}-{k}", k + 1
        used.add(label)
        if not args.quiet:
            print(f"running {p} ({draws} draws, seed {seed}, {design}) ...", file=sys.stderr)
        results.append(run(loaded, draws=draws, seed=seed, out=out / "runs" / label, workers=args.workers,
                           design=design, force=args.force))
    return results


def format_table(df: pd.DataFrame, money: bool = True, names: dict[str, str] | None = None) -> str:
    """The comparison table for the terminal, one block per group (headed by `names`, the groups
    as people read them: "total (CAR-T + bispecific)")."""
    lines = []
    paired = bool(df["paired"].iloc[0]) if len(df) else True
    head = (f"{'scenario':<28}{'median':>11}{'P10 - P90':>24}   {'diff median':>11}{'diff P10 - P90':>26}"
            f"{'P(>base)':>10}{'P(<base)':>10}")
    for group, sub in df.groupby("group", sort=False):
        lines.append(f"{(names or {}).get(str(group), group)} in {sub['period'].iloc[0]}"
                     f"{'' if paired else '  [UNPAIRED]'}")
        lines.append("  " + head)
        for r in sub.itertuples():
            band = f"{fmt_value(r.p10, money)} - {fmt_value(r.p90, money)}"
            if r.role == "baseline":
                tail = f"   {'(baseline)':>11}"
            else:
                dband = f"{fmt_value(r.diff_p10, money)} - {fmt_value(r.diff_p90, money)}"
                tail = (f"   {fmt_value(r.diff_median, money):>11}{dband:>26}"
                        f"{r.p_greater:>10.2f}{r.p_less:>10.2f}")
            lines.append(f"  {str(r.scenario)[:27]:<28}{fmt_value(r.median, money):>11}{band:>24}{tail}")
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    c = sub.add_parser(
        "compare", help="compare scenarios draw by draw (paired differences, P(B > A))",
        description="Run scenario files with one seed (common random numbers) or read results folders, "
                    "and compare each with the first: medians, P10-P90, paired differences, P(B > A).")
    c.add_argument("inputs", nargs="+", metavar="SCENARIO_OR_RESULTS",
                   help="scenario YAML files (run now) and/or results folders; the first is the baseline")
    c.add_argument("--draws", type=int, default=None, help="draws per scenario (default 1000, or the first results folder's)")
    c.add_argument("--seed", type=int, default=None, help="seed shared by all runs (default 0, or the first results folder's)")
    c.add_argument("--design", choices=DESIGNS, default=None, help="sampling design (default mc)")
    add_output_args(c, group=False)
    c.add_argument("--out", help="output folder (default outputs/compare/<timestamp>)")
    c.add_argument("--workers", type=int, default=1)
    c.add_argument("--force", action="store_true", help="replace existing runs / comparison in --out")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_compare)

"""`sim compare`, `sim sensitivity` and `sim converge`: analysis sub-commands.

Registered by sim.cli through EXTRA_COMMANDS; each handler returns an exit code and
raises ScenarioError for user mistakes (the CLI prints it and exits 2).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError

GROUPINGS = ["total", "product", "target", "region", "indication", "company", "modality", "lane"]


def _filters(items: list[str] | None) -> dict[str, list[str]]:
    from sim.cli import _filters as parse

    return parse(items)


def _stamp() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _output_args(p: argparse.ArgumentParser, group: bool = True) -> None:
    p.add_argument("--metric", default="revenue", help="metric to analyse (default revenue)")
    p.add_argument("--by", default="total", choices=GROUPINGS, help="grouping of the metric")
    if group:
        p.add_argument("--group", default=None, help="the group analysed when --by is not total (e.g. a product)")
    p.add_argument("--filter", action="append", help="KEY=V1,V2 (e.g. region=China); repeatable")
    p.add_argument("--freq", choices=["month", "quarter", "year"], default=None)
    p.add_argument("--period", default=None, help="period analysed, e.g. 2030 (default: the last)")


def _money(metric: str) -> bool:
    from sim.plots import MONEY

    return metric in MONEY


def _fmt(v: float, money: bool) -> str:
    from sim.compare import _fmt as f

    return f(v, money)


def _check_positive(name: str, v: int | None) -> None:
    if v is not None and v < 1:
        raise ScenarioError(f"{name} must be at least 1, got {v}")


# ---------------------------------------------------------------------------- compare
def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from sim.api import run
    from sim.compare import format_table, load_comparison, write_comparison
    from sim.scenario import load_scenario

    if len(args.inputs) < 2:
        raise ScenarioError("compare needs at least two scenario files or results folders")
    _check_positive("--draws", args.draws)
    _check_positive("--workers", args.workers)
    paths = [Path(x) for x in args.inputs]
    for p in paths:
        if not p.exists():
            raise ScenarioError(f"not found: {p} (give scenario YAML files or results folders)")
    folders = [p for p in paths if p.is_dir()]
    for f in folders:
        if not (f / "metadata.json").exists():
            raise ScenarioError(f"{f} is not a complete results folder: metadata.json is missing")
    draws, seed, design = args.draws, args.seed, args.design
    if folders:  # runs made now pair with the given folders by default
        meta = json.loads((folders[0] / "metadata.json").read_text())
        draws = draws if draws is not None else int(meta["draws"])
        seed = seed if seed is not None else int(meta["seed"])
        design = design if design is not None else meta.get("design", "mc")
    draws = draws if draws is not None else 1000
    seed = seed if seed is not None else 0
    design = design or "mc"
    out = Path(args.out) if args.out else Path("outputs") / "compare" / _stamp()
    if (out / "comparison.csv").exists() and not args.force:
        raise ScenarioError(f"{out} already holds a comparison; choose another --out or pass --force")
    if design == "sobol":
        print("warning: Sobol designs pair only inputs the scenarios ask for in the same order; "
              "use mc or lhs for paired comparisons", file=sys.stderr)
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
    import warnings

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        cmp = load_comparison(results, args.metric, args.by, filters=_filters(args.filter), freq=args.freq)
    for note in cmp.notes:
        print(f"warning: {note}", file=sys.stderr)
    df, files = write_comparison(cmp, out, args.period)
    per = df["period"].iloc[0] if len(df) else ""
    kind = "paired (common random numbers)" if cmp.paired else "UNPAIRED (independent draws)"
    print(f"{args.metric} by {args.by} in {per}: {', '.join(cmp.labels)}; differences vs {cmp.labels[0]}, {kind}")
    print(format_table(df, money=_money(args.metric)))
    print(f"wrote {out / 'comparison.csv'} and {len(files) - 1} chart(s) in {out}")
    return 0


# ---------------------------------------------------------------------------- sensitivity
def cmd_sensitivity(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario
    from sim.sensitivity import sensitivity

    if args.draws < 2:
        raise ScenarioError(f"--draws must be at least 2, got {args.draws}")
    if args.sobol_n and (args.sobol_n < 2 or args.sobol_n & (args.sobol_n - 1)):
        raise ScenarioError(f"--sobol-n must be a power of 2 (e.g. 256) or 0 to skip Sobol, got {args.sobol_n}")
    loaded = load_scenario(args.file)
    out = Path(args.out) if args.out else Path("outputs") / loaded.scenario.name / f"sensitivity-{_stamp()}"
    rep = sensitivity(loaded, metric=args.metric, by=args.by, group=args.group, filters=_filters(args.filter),
                      freq=args.freq, period=args.period, draws=args.draws, seed=args.seed,
                      sobol_n=args.sobol_n or None, out=out, top=args.top)
    money = _money(args.metric)
    base = rep.tornado["base_median"].iloc[0] if len(rep.tornado) else float("nan")
    print(f"sensitivity of {rep.output} in {rep.period} ({loaded.scenario.name}, {args.draws} draws, "
          f"seed {args.seed}, {len(rep.inputs)} uncertain inputs); median {_fmt(base, money)}")
    if not rep.inputs:
        print("  the scenario has no uncertain inputs")
    else:
        top = rep.top(args.top)
        has_sobol = "ST" in top.columns
        print(f"  {'input':<56}{'P10 → P90':>26}{'swing':>12}{'spearman':>10}" + (f"{'S1':>7}{'ST':>7}" if has_sobol else ""))
        for r in top.itertuples():
            rng = f"{r.value_low_text} → {r.value_high_text}"
            line = f"  {r.input[-55:]:<56}{rng[-25:]:>26}{_fmt(r.swing, money):>12}{r.spearman:>10.2f}"
            if has_sobol:
                line += f"{r.S1:>7.2f}{r.ST:>7.2f}"
            print(line)
    print(f"wrote {len(rep.files)} files in {out}")
    return 0


# ---------------------------------------------------------------------------- converge
def cmd_converge(args: argparse.Namespace) -> int:
    from sim.convergence import converge
    from sim.scenario import load_scenario

    _check_positive("--batch", args.batch)
    _check_positive("--max-draws", args.max_draws)
    loaded = load_scenario(args.file)
    out = Path(args.out) if args.out else Path("outputs") / loaded.scenario.name / f"converge-{_stamp()}"
    money = _money(args.metric)
    qn = f"P{round(100 * args.quantile)}"

    def progress(row: dict[str, Any]) -> None:
        if not args.quiet:
            print(f"  {row['draws']:>8} draws: {qn} {_fmt(row['estimate'], money)} ± {_fmt(row['se'], money)} "
                  f"(relative SE {100 * row['rel_se']:.3g} %)", file=sys.stderr)

    res = converge(loaded, metric=args.metric, by=args.by, group=args.group, filters=_filters(args.filter),
                   freq=args.freq, period=args.period, until_se=args.until_se, batch=args.batch,
                   max_draws=args.max_draws, seed=args.seed, q=args.quantile, method=args.method,
                   out=out, progress=progress)
    last = res.history.iloc[-1]
    state = "converged" if res.converged else f"NOT converged within --max-draws {args.max_draws}"
    print(f"{qn} of {args.metric} in {res.period}: {_fmt(last['estimate'], money)} ± {_fmt(last['se'], money)} "
          f"(relative SE {100 * last['rel_se']:.3g} %, target {100 * args.until_se:g} %): {state} "
          f"after {res.draws} draws")
    print(f"  `sim run {args.file} --draws {res.draws} --seed {args.seed}` reproduces these draws exactly")
    if args.save_results:
        from sim.api import run

        path = run(loaded, draws=res.draws, seed=args.seed, out=out / "results", force=True)
        print(f"  results: {path}")
    print(f"wrote {out / 'convergence.csv'} and {out / 'convergence.png'}")
    return 0 if res.converged else 1


# ---------------------------------------------------------------------------- registration
def register(sub: Any) -> None:
    c = sub.add_parser(
        "compare", help="compare scenarios draw by draw (paired differences, P(B > A))",
        description="Run scenario files with one seed (common random numbers) or read results folders, "
                    "and compare each with the first: medians, P10-P90, paired differences, P(B > A).")
    c.add_argument("inputs", nargs="+", metavar="SCENARIO_OR_RESULTS",
                   help="scenario YAML files (run now) and/or results folders; the first is the baseline")
    c.add_argument("--draws", type=int, default=None, help="draws per scenario (default 1000, or the first results folder's)")
    c.add_argument("--seed", type=int, default=None, help="seed shared by all runs (default 0, or the first results folder's)")
    c.add_argument("--design", choices=["mc", "lhs", "sobol"], default=None, help="sampling design (default mc)")
    _output_args(c, group=False)
    c.add_argument("--out", help="output folder (default outputs/compare/<timestamp>)")
    c.add_argument("--workers", type=int, default=1)
    c.add_argument("--force", action="store_true", help="replace existing runs / comparison in --out")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_compare)

    s = sub.add_parser(
        "sensitivity", help="which uncertain inputs matter: tornado, rank correlations, Sobol, over time",
        description="Tornado (each input pinned at P10 / P90, others sampled with one seed), Spearman rank "
                    "correlations, Sobol first-order and total indices (SALib) and rank sensitivity over time.")
    s.add_argument("file")
    _output_args(s)
    s.add_argument("--draws", type=int, default=500, help="draws per tornado arm and for the rank correlations")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--sobol-n", type=int, default=256,
                   help="Saltelli base sample (power of 2; cost N x (inputs + 2) draws); 0 skips Sobol")
    s.add_argument("--top", type=int, default=15, help="inputs shown in charts and printed")
    s.add_argument("--out", help="output folder (default outputs/<scenario>/sensitivity-<timestamp>)")
    s.set_defaults(func=cmd_sensitivity)

    v = sub.add_parser(
        "converge", help="add batches of draws until a percentile's relative standard error is small",
        description="Runs batches of draws (ids continuing, so the draws equal one run of the final size) "
                    "until the relative SE of the output's percentile is below --until-se. "
                    "Exit status 1 if --max-draws is reached first.")
    v.add_argument("file")
    _output_args(v)
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

"""`sim fit SCENARIO --actuals CSV --inputs PATTERN...`: fit uncertain inputs to reported sales.

Writes a fit folder (default outputs/<scenario>/fit-<name or timestamp>): `posterior.csv` (one row
per particle: weight, each input's value and quantile), `generations.csv`, `fit.json` (inputs,
priors, settings, the actuals' hash), `prior_posterior.png`, and `fitted.yaml`, a scenario that
extends the original and draws the fitted inputs from the posterior (`sim run` it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

MARKER = "fit.json"
PARTIAL = ".sim-fit-partial"  # marks a fit folder still being written (only sim fit removes one)


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    p = sub.add_parser("fit", help="fit uncertain inputs to reported sales (ABC-SMC); needs pip install -e '.[fit]'",
                       description="Likelihood-free Bayesian calibration (ABC-SMC) of chosen uncertain inputs "
                                   "against reported sales per product-year; the scenario's distributions are "
                                   "the priors.")
    p.add_argument("file", help="scenario YAML")
    p.add_argument("--actuals", required=True, help="CSV: product, year, net_sales_usd_m[, quality]")
    p.add_argument("--inputs", action="append", required=True, metavar="PATTERN",
                   help="field paths of the inputs to fit, with * wildcards, e.g. 'indications.*.uptake.*' "
                        "(repeatable or comma-separated)")
    p.add_argument("--until", default=None, help="use only actuals up to this month, YYYY-MM (default: all)")
    p.add_argument("--population", type=int, default=1000, help="particles per generation (default 1000)")
    p.add_argument("--generations", type=int, default=8, help="at most this many generations (default 8)")
    p.add_argument("--alpha", type=float, default=0.5,
                   help="each tolerance is this quantile of the previous distances (default 0.5)")
    p.add_argument("--min-epsilon", type=float, default=0.0, help="stop at this tolerance (default 0)")
    p.add_argument("--seed", type=int, default=0, help="fit seed: the same seed gives the same posterior (default 0)")
    p.add_argument("--workers", type=int, default=1, help="processes simulating each batch (default 1)")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="simulate each generation's batches on the dask cluster at tcp://HOST:PORT "
                        "(needs '.[dask]'; the same posterior as locally)")
    p.add_argument("--name", default=None, help="fit folder name under outputs/<scenario>/ (default fit-<timestamp>)")
    p.add_argument("--out", default=None, help="fit folder (default outputs/<scenario>/<name>)")
    p.add_argument("--force", action="store_true", help="replace an existing fit folder (only one sim fit wrote)")
    p.set_defaults(func=_cmd)


def _check(args: argparse.Namespace) -> None:
    from sim.errors import ScenarioError
    from sim.periods import month_ordinal

    for name in ("population", "generations", "workers"):
        if getattr(args, name) < (2 if name == "population" else 1):
            raise ScenarioError(f"--{name} must be at least {2 if name == 'population' else 1}, got {getattr(args, name)}")
    from sim.runner.dask import check_address

    check_address(getattr(args, "cluster", None))
    if not 0.0 < args.alpha < 1.0:
        raise ScenarioError(f"--alpha must lie strictly between 0 and 1, got {args.alpha}")
    if args.until is not None:
        try:
            month_ordinal(args.until)
        except ValueError:
            raise ScenarioError(f"--until expects a month as YYYY-MM, got {args.until!r}") from None


def _cmd(args: argparse.Namespace) -> int:
    from sim.cli.common import stamp
    from sim.errors import ScenarioError
    from sim.runner.folders import default_out_dir
    from sim.scenario import load_scenario

    _check(args)
    try:
        import pyabc  # noqa: F401
    except ImportError:
        raise ScenarioError("sim fit needs pyabc: pip install -e '.[fit]'") from None
    loaded = load_scenario(args.file)
    out = Path(args.out) if args.out else default_out_dir(loaded.scenario.name, args.name or f"fit-{stamp()}")
    _refuse_existing(out, args.force)
    from sim.cli.common import split_list

    patterns = split_list(args.inputs)
    result, meta = fit_scenario(loaded, args.actuals, patterns, args, out)
    print(f"fit: {out}  ({result.stopped}; final tolerance {result.generations[-1].epsilon:.3g}, "
          f"ESS {result.generations[-1].ess:.0f} of {len(result.weights)})")
    print(f"  run the fitted scenario: sim run {out / 'fitted.yaml'} --draws 2000 --seed 1")
    return 0


def fit_scenario(loaded: Any, actuals: str, patterns: list[str], args: argparse.Namespace, out: Path) -> tuple[Any, dict]:
    """Fit, then write the fit folder (built beside it and renamed when complete)."""
    import time

    from sim.analysis.fit import FitSettings, Simulator, abc_smc, load_target, select_inputs
    from sim.engine.structure import build_structure
    from sim.scenario.inputs import input_names, scenario_inputs

    structure = build_structure(loaded.scenario, "year")
    target = load_target(actuals, structure, args.until)
    names = select_inputs(input_names(loaded.scenario), patterns)
    specs = dict(scenario_inputs(loaded.scenario))
    settings = FitSettings(population=args.population, generations=args.generations, alpha=args.alpha,
                           min_epsilon=args.min_epsilon, seed=args.seed)
    print(f"fitting {len(names)} input(s) to {len(target.value)} product-years of {target.path}"
          f"{f' (up to {args.until})' if args.until else ''}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}",
          file=sys.stderr)
    t0 = time.perf_counter()
    sim = Simulator(loaded.data, loaded.sha256, names, target, args.seed, args.workers, getattr(args, "cluster", None))
    try:
        result = abc_smc(sim, target, names, settings, _progress)
    finally:
        sim.close()
    meta = {"scenario": loaded.path, "scenario_sha256": loaded.sha256, "inputs": names,
            "priors": {n: _spec_text(specs[n]) for n in names}, "actuals": target.path,
            "actuals_sha256": target.sha256, "until": args.until, "product_years": len(target.value),
            "settings": vars(settings), "workers": args.workers, "stopped": result.stopped,
            "seconds": round(time.perf_counter() - t0, 2),
            "observation_error": "log-normal, sd 0.05 for reported and 0.15 for approximate figures"}
    write_fit(out, loaded, result, specs, meta)
    return result, meta


def _progress(g: Any) -> None:
    eps = "inf" if g.epsilon == float("inf") else f"{g.epsilon:.3g}"
    print(f"  generation {g.t}: tolerance {eps}, acceptance {100 * g.acceptance:.1f} %, ESS {g.ess:.0f}, "
          f"{g.simulations:,} simulations, {g.seconds:.1f} s", file=sys.stderr, flush=True)


def _spec_text(spec: Any) -> str:
    return spec.model_dump_json() if hasattr(spec, "model_dump_json") else repr(spec)


def _refuse_existing(out: Path, force: bool) -> None:
    from sim.errors import ScenarioError
    from sim.runner.folders import is_ours

    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ScenarioError(f"--out {out} exists and is not a folder; choose another --out")
    if out.exists():
        if not force:
            raise ScenarioError(f"fit folder {out} exists; use --force to replace it, or another --name")
        if not is_ours(out, MARKER):
            raise ScenarioError(f"--force: {out} is not a fit folder (no {MARKER}); it was left untouched")


def write_fit(out: Path, loaded: Any, result: Any, specs: dict[str, Any], meta: dict[str, Any]) -> None:
    """The fit folder, written as <out>.partial and renamed over any older fit in one step."""
    import json

    import pandas as pd
    import yaml

    from sim.analysis.fit import posterior_table
    from sim.errors import ScenarioError
    from sim.runner.folders import is_ours, replace_folder

    tmp = out.with_name(out.name + ".partial")
    if tmp.exists() or tmp.is_symlink():  # an interrupted fit's, or not ours
        if not is_ours(tmp, PARTIAL):
            raise ScenarioError(f"{tmp} exists and was not written by sim fit; move it away and fit again")
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / PARTIAL).write_text("a fit folder being written by sim fit\n")
    posterior_table(result, specs).to_csv(tmp / "posterior.csv", index=False)
    pd.DataFrame([vars(g) for g in result.generations]).to_csv(tmp / "generations.csv", index=False)
    _chart(tmp / "prior_posterior.png", result, specs)
    rel = os.path.relpath(Path(loaded.path).resolve(), out.resolve())
    fitted = {"extends": rel, "name": loaded.scenario.name,
              "description": f"{loaded.scenario.name} with {len(result.names)} input(s) fitted by sim fit",
              "posterior": {"file": "posterior.csv", "inputs": list(result.names)}}
    (tmp / "fitted.yaml").write_text("# written by sim fit: the original scenario, its fitted inputs drawn "
                                     "jointly from the posterior\n" + yaml.safe_dump(fitted, sort_keys=False))
    (tmp / MARKER).write_text(json.dumps(meta, indent=2, default=str))
    (tmp / PARTIAL).unlink()
    replace_folder(tmp, out, MARKER)


def _chart(path: Path, result: Any, specs: dict[str, Any]) -> None:
    """Prior and posterior of each fitted input (weighted histograms of their values)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from sim.sampling.tables import sample

    k = len(result.names)
    cols = min(k, 3)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    grid = (np.arange(4000) + 0.5) / 4000
    for j, name in enumerate(result.names):
        ax = axes[j // cols][j % cols]
        prior = sample(specs[name], grid)
        post = sample(specs[name], result.u[:, j])
        lo, hi = float(np.min(prior)), float(np.max(prior))
        bins = np.linspace(lo, hi, 31) if hi > lo else 10
        ax.hist(prior, bins=bins, density=True, color="0.8", label="prior")
        ax.hist(post, bins=bins, weights=result.weights, density=True, color="tab:blue", alpha=0.75, label="posterior")
        ax.set_title(_short(name), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_yticks([])
    for j in range(k, rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.suptitle("Fitted inputs: prior (grey) and posterior (blue)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[-4:]) if len(name) > 48 else name

"""`sim report RESULTS [--compare OTHER]`: a self-contained HTML report of a results folder.

Registered by sim.cli through EXTRA_COMMANDS; the handler returns an exit code and raises
ScenarioError for user mistakes (the CLI prints it and exits 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError


def _results_folder(p: str, what: str) -> Path:
    path = Path(p)
    if not path.exists():
        raise ScenarioError(f"{what} not found: {path} (give a results folder written by `sim run`)")
    if not path.is_dir():
        raise ScenarioError(f"{what} {path} is a file; give a results folder written by `sim run`")
    if not (path / "metadata.json").exists():
        hint = " (a '.partial' folder is an interrupted run)" if path.name.endswith(".partial") else ""
        raise ScenarioError(f"{path} is not a complete results folder: metadata.json is missing{hint}")
    return path


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report of a results folder."""
    from sim.report import report_summary, write_report

    res = _results_folder(args.results, "results folder")
    other = _results_folder(args.compare, "--compare folder") if args.compare else None
    if other is not None and other.resolve() == res.resolve():
        raise ScenarioError("--compare names the same results folder as RESULTS; give another run")
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".html", ".htm") and not out.is_dir():
        raise ScenarioError(f"--out should be an .html file (or a folder), got {out}")
    if args.top < 1:
        raise ScenarioError(f"--top must be at least 1, got {args.top}")
    path = write_report(res, out, other, top=args.top)
    s = report_summary(path)
    print(f"wrote {path} ({s['bytes'] / 1e6:.1f} MB, {s['images']} charts, {s['sections']} sections)")
    return 0


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    r = sub.add_parser(
        "report", help="write a self-contained HTML report of a results folder",
        description="Writes one HTML page (charts embedded, no external files) with the scenario's "
                    "assumptions, key numbers, fan charts by product/target/region, share over time, "
                    "a tornado of the inputs driving revenue and, with --compare, a comparison.")
    r.add_argument("results", help="results folder written by `sim run`")
    r.add_argument("--compare", metavar="OTHER", help="another results folder to compare with (RESULTS is the baseline)")
    r.add_argument("--out", help="HTML file to write (default RESULTS/report.html)")
    r.add_argument("--top", type=int, default=12, help="inputs shown in the tornado (default 12)")
    r.set_defaults(func=cmd_report)

"""Option helpers shared by the commands: filters, the output being analysed, checks."""

from __future__ import annotations

import argparse
import datetime as dt

from sim.errors import ScenarioError
from sim.formats import fmt_value
from sim.vocab import FREQUENCIES, GROUPINGS, is_money

__all__ = ["add_output_args", "check_positive", "fmt_value", "is_money", "parse_filters", "split_list", "stamp"]


def parse_filters(items: list[str] | None) -> dict[str, list[str]]:
    """--filter KEY=V1,V2 (repeatable) as {key: [values]}."""
    out: dict[str, list[str]] = {}
    for item in items or []:
        if "=" not in item:
            raise ScenarioError(f"--filter expects KEY=VALUE[,VALUE...], e.g. region=US,EU; got {item!r}")
        k, v = item.split("=", 1)
        out.setdefault(k.strip(), []).extend(x.strip() for x in v.split(",") if x.strip())
    return out


def split_list(items: list[str] | None) -> list[str]:
    """A repeatable option whose values may also be comma-separated, as one list."""
    return [x.strip() for item in items or [] for x in item.split(",") if x.strip()]


def stamp() -> str:
    """A timestamp for default output folders."""
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def add_output_args(p: argparse.ArgumentParser, group: bool = True) -> None:
    """--metric, --by, --group, --filter, --freq, --period: the output a command analyses."""
    p.add_argument("--metric", default="revenue", help="metric to analyse (default revenue)")
    p.add_argument("--by", default="total", choices=GROUPINGS, help="grouping of the metric")
    if group:
        p.add_argument("--group", default=None, help="the group analysed when --by is not total (e.g. a product)")
    p.add_argument("--filter", action="append", help="KEY=V1,V2 (e.g. region=China); repeatable")
    p.add_argument("--freq", choices=FREQUENCIES, default=None)
    p.add_argument("--period", default=None, help="period analysed, e.g. 2030 (default: the last)")


def check_positive(name: str, v: int | None) -> None:
    """An option that must be at least 1 (None: not given)."""
    if v is not None and v < 1:
        raise ScenarioError(f"{name} must be at least 1, got {v}")

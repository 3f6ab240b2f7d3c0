"""Observed values (e.g. reported sales) to set beside a run: fan-chart overlays, calibration."""

from __future__ import annotations

from pathlib import Path

from sim.errors import ScenarioError


def load_actuals(path: str | Path, by: str) -> dict[str, dict[str, float]]:
    """Actuals CSV -> {group: {period: value}}. Accepts the shared sales file layout
    (product, year, net_sales_usd_m) or generic (group, period, value)."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ScenarioError(f"actuals file not found: {p}", file=str(p))
    df = pd.read_csv(p)
    key = by if by in df.columns else ("group" if "group" in df.columns else None)
    if key is None:
        raise ScenarioError(f"actuals file has no '{by}' or 'group' column (columns: {', '.join(df.columns)})", file=str(p))
    pcol = "period" if "period" in df.columns else "year"
    if pcol not in df.columns:
        raise ScenarioError("actuals file needs a 'year' or 'period' column", file=str(p))
    if "net_sales_usd_m" in df.columns:
        vals = df["net_sales_usd_m"].astype(float) * 1e6
    elif "value" in df.columns:
        vals = df["value"].astype(float)
    else:
        raise ScenarioError("actuals file needs a 'value' or 'net_sales_usd_m' column", file=str(p))
    out: dict[str, dict[str, float]] = {}
    for g, per, v in zip(df[key].astype(str), df[pcol].astype(str), vals, strict=True):
        name = g.split(" (")[0].strip()
        out.setdefault(name, {})
        out[name][per] = out[name].get(per, 0.0) + float(v)
    return out

"""Observed values (e.g. reported sales) to set beside a run: fan-chart overlays, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.errors import ScenarioError
from sim.io import read_text_file


def load_actuals(path: str | Path, by: str) -> dict[str, dict[str, float]]:
    """Actuals CSV -> {group: {period: value}}. Accepts the shared sales file layout
    (product, year, net_sales_usd_m) or generic (group, period, value)."""
    import pandas as pd

    p = Path(path)
    read_text_file(p, "actuals")
    try:
        df = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the actuals as CSV ({type(exc).__name__}); expected a header such as "
                            "product,year,net_sales_usd_m and one row per group and period", file=str(p)) from None
    if df.empty:
        raise ScenarioError("the actuals file has a header but no rows", file=str(p))
    key = by if by in df.columns else ("group" if "group" in df.columns else None)
    if key is None:
        raise ScenarioError(f"actuals file has no '{by}' or 'group' column (columns: {', '.join(df.columns)})", file=str(p))
    pcol = "period" if "period" in df.columns else "year"
    if pcol not in df.columns:
        raise ScenarioError("actuals file needs a 'year' or 'period' column", file=str(p))
    vcol = "net_sales_usd_m" if "net_sales_usd_m" in df.columns else ("value" if "value" in df.columns else None)
    if vcol is None:
        raise ScenarioError("actuals file needs a 'value' or 'net_sales_usd_m' column", file=str(p))
    nums = pd.to_numeric(df[vcol], errors="coerce")
    bad = df.index[nums.isna() | ~np.isfinite(nums.fillna(0.0))]
    if len(bad):
        n = int(bad[0])
        raise ScenarioError(f"row {n + 2}: {vcol} must be a number, got {df[vcol].iloc[n]!r}", file=str(p))
    vals = nums.astype(float) * (1e6 if vcol == "net_sales_usd_m" else 1.0)
    out: dict[str, dict[str, float]] = {}
    for g, per, v in zip(df[key].astype(str), df[pcol].astype(str), vals, strict=True):
        name = g.split(" (")[0].strip()
        out.setdefault(name, {})
        out[name][per] = out[name].get(per, 0.0) + float(v)
    return out

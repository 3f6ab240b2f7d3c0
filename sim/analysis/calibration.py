"""Calibration check: do observed actuals sit inside a run's central band?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.actuals import load_actuals
from sim.errors import ScenarioError, did_you_mean


def coverage(results: Any, actuals_csv: str | Path, *, metric: str = "revenue", by: str = "product",
             band: tuple[float, float] = (10, 90), years: tuple[int, int] | None = None) -> pd.DataFrame:
    """One row per (group, period) with an actual value: the run's band, median, and whether
    the actual lies inside [P_lo, P_hi]. Groups in the actuals but not in the run are errors."""
    actuals = load_actuals(actuals_csv, by)
    groups, periods, arr = results.grouped(metric, by, freq="year")
    rows = []
    for g, series in sorted(actuals.items()):
        if g not in groups:
            raise ScenarioError(f"actuals name '{g}' is not a {by} of this run{did_you_mean(g, groups)}",
                                file=str(actuals_csv))
        k = groups.index(g)
        for per, value in sorted(series.items()):
            if per not in periods:
                continue
            if years is not None and not years[0] <= int(per[:4]) <= years[1]:
                continue
            x = arr[:, k, periods.index(per)]
            lo, med, hi = np.percentile(x, [band[0], 50, band[1]])
            rows.append({by: g, "period": per, "actual": value, f"p{band[0]:g}": lo, "p50": med,
                         f"p{band[1]:g}": hi, "inside": bool(lo <= value <= hi),
                         "percentile_of_actual": float((x < value).mean() * 100)})
    if not rows:
        raise ScenarioError("no actual falls in the run's periods", file=str(actuals_csv))
    return pd.DataFrame(rows)

"""Rolling-origin backtests: fit on the actuals before an origin, forecast, score on those after.

For each origin (a scenario and a month), the chosen inputs are fitted (sim.analysis.fit) on the
actuals of the years complete by the origin, the fitted scenario is run forward, and each later
reported product-year of a product already selling at the origin is scored: whether it lies in
the P10-P90 and P5-P95 bands, its PIT (the share of draws below it), and the CRPS of the draws
(scoringrules), also scaled by the actual. Naive baselines forecast the same product-years from
the product's sales up to the origin: persistence of the last year, the linear trend of the last
two years, and a Bass curve (p = 0.03, q = 0.4 per year from the first year with sales, its
market size fitted by least squares); their CRPS is the absolute error of the point forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

BASS_P, BASS_Q = 0.03, 0.4
BASELINES = ("persistence", "trend", "bass")


@dataclass(frozen=True)
class BacktestOrigin:
    """A backtest origin: the scenario as known then, and the month."""

    scenario: str
    month: str  # YYYY-MM ("" until read from the scenario's as_of)
    as_of: str | None = None  # what the scenario knows dates from (None: not stated)

    @property
    def in_sample(self) -> bool:
        """Whether the scenario may know what came after the origin (its as_of is later or not stated)."""
        from sim.periods import month_ordinal

        return self.as_of is None or month_ordinal(self.as_of) > month_ordinal(self.month)

    def known_as_of(self, as_of: str | None) -> BacktestOrigin:
        """This origin with the scenario's as_of, which is also the month when none was given."""
        from sim.errors import ScenarioError

        month = self.month or as_of
        if not month:
            raise ScenarioError(f"--origin {self.scenario}: the scenario states no as_of month; "
                                "give one as SCENARIO@YYYY-MM")
        return BacktestOrigin(self.scenario, month, as_of)

    @property
    def year(self) -> int:
        """The last complete year of actuals at the origin."""
        return int(self.month[:4]) if self.month[5:] == "12" else int(self.month[:4]) - 1


def parse_origin(text: str) -> BacktestOrigin:
    """SCENARIO@YYYY-MM, or SCENARIO alone for the month of its as_of."""
    from sim.errors import ScenarioError
    from sim.periods import month_ordinal

    path, sep, month = text.rpartition("@")
    if not sep:
        return BacktestOrigin(text, "")
    if not path:
        raise ScenarioError(f"--origin expects SCENARIO@YYYY-MM (e.g. scenarios/cart_2022.yaml@2020-12) or a "
                            f"scenario with as_of, got {text!r}")
    try:
        month_ordinal(month)
    except ValueError:
        raise ScenarioError(f"--origin {text!r}: the month must be YYYY-MM") from None
    return BacktestOrigin(path, month)


def _bass_share(t: np.ndarray) -> np.ndarray:
    """Share of the market adopting in year t (t = 0 the first year) of a Bass curve."""
    def F(x: np.ndarray) -> np.ndarray:
        e = np.exp(-(BASS_P + BASS_Q) * x)
        return (1 - e) / (1 + (BASS_Q / BASS_P) * e)

    return F(t + 1.0) - F(t)


def baselines(history: dict[int, float], years: list[int]) -> dict[str, dict[int, float]]:
    """Point forecasts of each naive baseline for `years` from a product's yearly sales so far."""
    past = sorted(history)
    last = history[past[-1]]
    out: dict[str, dict[int, float]] = {b: {} for b in BASELINES}
    prev = history[past[-2]] if len(past) > 1 else last
    first = min(y for y in past if history[y] > 0) if any(history[y] > 0 for y in past) else past[0]
    t_past = np.array([y - first for y in past if y >= first], dtype=float)
    s_past = np.array([history[y] for y in past if y >= first])
    shares = _bass_share(t_past)
    m = float((shares * s_past).sum() / max((shares ** 2).sum(), 1e-300))
    for y in years:
        h = y - past[-1]
        out["persistence"][y] = last
        out["trend"][y] = max(last + (last - prev) * h, 0.0)
        out["bass"][y] = m * float(_bass_share(np.array([y - first], dtype=float))[0])
    return out


def score_origin(origin: BacktestOrigin, draws_by_product: dict[str, dict[str, np.ndarray]], actuals: pd.DataFrame
                 ) -> pd.DataFrame:
    """One row per scored product-year (see the module docstring)."""
    import scoringrules as sr

    rows = []
    for prod, sub in actuals.groupby("product"):
        hist = {int(y): float(v) for y, v in zip(sub["year"], sub["value"], strict=True) if int(y) <= origin.year}
        fut = {int(y): float(v) for y, v in zip(sub["year"], sub["value"], strict=True) if int(y) > origin.year}
        if not hist or not fut or hist.get(origin.year, 0.0) <= 0 or prod not in draws_by_product:
            continue  # scored: products selling in the origin's year, in the years after it
        naive = baselines(hist, sorted(fut))
        for y, actual in sorted(fut.items()):
            ens = draws_by_product[prod].get(str(y))
            if ens is None:
                continue
            p5, p10, p90, p95 = np.percentile(ens, [5, 10, 90, 95])
            crps = float(sr.crps_ensemble(np.array([actual]), ens[None, :])[0])
            row: dict[str, Any] = {
                "origin": origin.month, "scenario": origin.scenario, "in_sample": origin.in_sample,
                "product": prod, "year": y,
                "horizon": y - origin.year, "actual": actual, "p10": p10, "p50": float(np.median(ens)), "p90": p90,
                "in_p10_p90": bool(p10 <= actual <= p90), "in_p5_p95": bool(p5 <= actual <= p95),
                "pit": float((ens < actual).mean()), "crps": crps, "scaled_crps": crps / actual}
            for b in BASELINES:
                row[f"{b}"] = naive[b][y]
                row[f"scaled_crps_{b}"] = abs(naive[b][y] - actual) / actual
            rows.append(row)
    return pd.DataFrame(rows)


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per discrepancy scale tried (if any), per origin and all origins together: product-years,
    coverage, mean scaled CRPS of the model and the baselines; `chosen` marks the scale whose mean
    scaled CRPS over all origins is lowest (CRPS is a proper score: it rewards calibration and
    sharpness together)."""
    if "discrepancy" not in scores or scores["discrepancy"].isna().all():
        return _summary(scores)
    parts = [_summary(df).assign(discrepancy=s) for s, df in scores.groupby("discrepancy", sort=True)]
    table = pd.concat(parts, ignore_index=True)
    overall = table[table["origin"] == "all"] if (table["origin"] == "all").any() else table
    best = overall.loc[overall["scaled_crps"].idxmin(), "discrepancy"]
    table["chosen"] = table["discrepancy"] == best
    return table[["discrepancy", *[c for c in table.columns if c != "discrepancy"]]]


def _summary(scores: pd.DataFrame) -> pd.DataFrame:
    def agg(df: pd.DataFrame) -> dict[str, Any]:
        out: dict[str, Any] = {"in_sample": bool(df["in_sample"].any()), "product_years": len(df),
                               "cover_p10_p90": df["in_p10_p90"].mean(),
                               "cover_p5_p95": df["in_p5_p95"].mean(), "scaled_crps": df["scaled_crps"].mean()}
        for b in BASELINES:
            out[f"scaled_crps_{b}"] = df[f"scaled_crps_{b}"].mean()
        return out

    rows = [{"origin": o, **agg(df)} for o, df in scores.groupby("origin")]
    if scores["origin"].nunique() > 1:
        rows.append({"origin": "all", **agg(scores)})
    return pd.DataFrame(rows)

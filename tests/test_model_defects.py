"""The market-model defects of issue 12, each with the test that would have caught it: a later
indication's price, self-pay affordability, first-come-first-served capacity, month rounding
of uncertain dates and lags, upfront dates, capacity expansions, a lag without a parent, and
periods that are not stored."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import base_scenario, load_dict, simulate

from sim.errors import ScenarioError

N = 100_000


def month_index(ym: str, start: str = "2020-01") -> int:
    y, m = map(int, ym.split("-"))
    y0, m0 = map(int, start.split("-"))
    return (y - y0) * 12 + (m - m0)


def _dated_events(tmp_path):
    d = base_scenario()
    d["end"] = "2025-12"
    d["events"] = {
        "first": {"type": "price_change", "product": "A", "region": "US", "change": 0.0,
                  "date": {"dist": "uniform", "min": "2022-12", "max": "2023-06"}},
        "second": {"type": "price_change", "product": "A", "region": "US", "change": 0.0,
                   "after": "first", "lag_months": {"dist": "uniform", "min": 6, "max": 12}},
    }
    return simulate(load_dict(tmp_path, d), N, seed=3)[1]


def test_uncertain_dates_and_lags_cover_the_whole_range_with_the_stated_mean(tmp_path) -> None:
    # D4: months were floored: 2023-06 and a 12-month lag never came, every date ~half a month early
    out = _dated_events(tmp_path)
    first, second = out.events["event:first"], out.events["event:second"]
    lo, hi = month_index("2022-12"), month_index("2023-06")
    assert first.min() == lo and first.max() == hi
    assert set(np.unique(first)) == set(range(lo, hi + 1))
    se = (hi - lo) / np.sqrt(12 * N)
    assert abs(first.mean() - (lo + hi) / 2) < 4 * se + 1e-9
    lag = second - first
    assert lag.min() == 6 and lag.max() == 12
    assert abs(lag.mean() - 9.0) < 4 * 6 / np.sqrt(12 * N) + 1e-9

"""Months and reporting periods: one integer calendar for every layer.

Months are ordinals (months since year 0) so date arithmetic is integer; reporting periods
are labels '2023', '2023Q1' or '2023-01'.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.vocab import FREQUENCIES

_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
FIRST_YEAR, LAST_YEAR = 1900, 2200
COARSER = {f: FREQUENCIES[k + 1:] for k, f in enumerate(FREQUENCIES)}  # the frequencies coarser than each


def month_ordinal(value: Any) -> int:
    """'YYYY-MM' (or a date) -> months since year 0."""
    if isinstance(value, _dt.date):
        return value.year * 12 + value.month - 1
    if isinstance(value, str):
        m = _MONTH_RE.match(value.strip())
        if m:
            year, month = int(m.group(1)), int(m.group(2))
            if 1 <= month <= 12 and FIRST_YEAR <= year <= LAST_YEAR:
                return year * 12 + month - 1
    raise ValueError(f"expected a month as 'YYYY-MM' (e.g. '2023-06'), got {value!r}")


def ordinal_to_str(ordinal: int) -> str:
    """The 'YYYY-MM' of a month ordinal."""
    return f"{ordinal // 12:04d}-{ordinal % 12 + 1:02d}"


def period_labels(start: int, months: int, freq: str) -> tuple[np.ndarray, list[str]]:
    """Each simulated month's reporting period, and the periods' labels."""
    labels: list[str] = []
    idx = np.empty(months, dtype=np.int64)
    for t in range(months):
        y, m = divmod(start + t, 12)
        lab = {"year": f"{y}", "quarter": f"{y}Q{m // 3 + 1}", "month": f"{y}-{m + 1:02d}"}[freq]
        if not labels or labels[-1] != lab:
            labels.append(lab)
        idx[t] = len(labels) - 1
    return idx, labels


def check_frequency(freq: str | None, option: str = "--freq") -> None:
    """A clear error for a frequency that is not one of FREQUENCIES (None: the stored one)."""
    if freq is not None and freq not in FREQUENCIES:
        from sim.errors import ScenarioError

        raise ScenarioError(f"{option} must be {', '.join(FREQUENCIES[:-1])} or {FREQUENCIES[-1]}, got {freq!r}")


def convert_period(label: str, freq: str) -> str:
    """A stored period label expressed at a coarser frequency."""
    year = label[:4]
    if freq == "year":
        return year
    if freq == "quarter":
        if "Q" in label:
            return label
        if "-" in label:
            return f"{year}Q{(int(label[5:7]) - 1) // 3 + 1}"
    if freq == "month" and "-" in label:
        return label
    from sim.errors import ScenarioError

    raise ScenarioError(f"results are stored by {'quarter' if 'Q' in label else 'year'}; cannot report by {freq}")


@dataclass(frozen=True)
class Coarse:
    """A coarser frequency of the stored periods: flows add up the stored periods of each coarse
    period (they start at `starts`), stocks take its last stored period (`last`)."""

    labels: list[str]
    starts: np.ndarray
    last: np.ndarray


def coarser_periods(periods: list[str], frequency: str) -> list[Coarse]:
    """Every frequency coarser than the stored one, as groups of the stored periods."""
    out = []
    for freq in COARSER[frequency]:
        new = [convert_period(p, freq) for p in periods]
        labels = list(dict.fromkeys(new))
        starts = np.array([new.index(lab) for lab in labels], dtype=np.int64)
        last = np.r_[starts[1:], len(periods)] - 1
        out.append(Coarse(labels, starts, last))
    return out


def label_frequency(label: str) -> str:
    """The frequency a stored period label is at: 2030-06 month, 2030Q2 quarter, 2030 year."""
    return "quarter" if "Q" in label else "month" if "-" in label else "year"


def coarser_label_of(period: str, periods: list[str]) -> str | None:
    """The coarser frequency at which `period` is one of the stored periods' labels, if any."""
    for freq in COARSER[label_frequency(periods[-1])]:
        if period in {convert_period(p, freq) for p in periods}:
            return freq
    return None


def period_x(label: str) -> float:
    """Mid-point of a period in fractional years, for plotting."""
    y = int(label[:4])
    if "Q" in label:
        return y + (int(label[-1]) - 1) / 4 + 0.125
    if "-" in label:
        return y + (int(label[5:7]) - 1) / 12 + 1 / 24
    return y + 0.5

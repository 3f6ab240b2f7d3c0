"""Numbers and input values written for people: terminal tables, charts, the report.

One place for how money, counts, parameters and sampled inputs are shown, so every output
says 1.54B or 2023-06 or "fires" the same way.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

DATE_SUFFIXES = (".date", "upfront_date")  # inputs that are months (ordinals)
GATE_SUFFIX = ".fires"  # yes/no gates of launches and events that may not happen


def scale_suffix(x: float) -> tuple[float, str]:
    """X in thousands, millions or billions with its suffix (k, M, B), for short money labels."""
    a = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return x / div, suffix
    return x, ""


def fmt_value(v: float, money: bool) -> str:
    """A statistic: money as 1.54B / 212.3M, other values to 4 significant digits."""
    if not math.isfinite(v):
        return "-"
    if money:
        x, suffix = scale_suffix(v)
        if suffix:
            return f"{x:,.{2 if suffix == 'B' else 1}f}{suffix}"
    return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def fmt_money(v: float) -> str:
    """Money, short (1.54B)."""
    return fmt_value(float(v), True)


def fmt_count(v: float) -> str:
    """A number of patients: whole above 100, else 3 significant digits."""
    if not math.isfinite(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def fmt_number(v: Any) -> str:
    """A parameter or sampled value: thousands separators, 4 significant digits."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | float) or hasattr(v, "dtype"):
        x = float(v)
        if not math.isfinite(x):
            return "–"
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 1e3:
            return f"{x:,.0f}"
        return f"{x:.4g}"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def is_gate(name: str) -> bool:
    """Whether an input is the yes/no gate of a launch or event."""
    return name.endswith(GATE_SUFFIX)


def is_date_input(name: str) -> bool:
    """Whether an input is a month."""
    return name.endswith(DATE_SUFFIXES)


def fmt_input(name: str, v: float, *, short: bool = False) -> str:
    """A sampled input's value: months as YYYY-MM, gates as fires / does not fire, numbers by
    `fmt_number` (`short`: 4 significant digits, and a missing value as Python prints it)."""
    from sim.periods import ordinal_to_str

    if not math.isfinite(v):
        return str(v) if short else "–"
    if is_gate(name):
        return "fires" if v >= 0.5 else "does not fire"
    if is_date_input(name):
        return ordinal_to_str(int(math.floor(v)))
    return f"{v:.4g}" if short else fmt_number(v)

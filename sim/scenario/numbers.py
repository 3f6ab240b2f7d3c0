"""Numbers in a scenario: a plain number or a distribution mapping, checked against what the
field means (a fraction, money, a count of patients, a month).

The field types at the end (Fraction, Money, Count, ...) are what the schema's fields accept:
a number in range, or a distribution whose whole support is in range.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator

from sim.periods import month_ordinal
from sim.scenario.dists import DIST_TYPES, Bernoulli, Choice, Distribution, Fixed, Normal


def _fmt_bound(x: float) -> str:
    return f"{x:g}"


def parse_dist(value: dict[str, Any], *, dates: bool = False) -> Distribution:
    """Build a distribution from its mapping; date parameters become month ordinals."""
    from pydantic import ValidationError

    from sim.errors import did_you_mean

    kind = value.get("dist")
    if kind is not None and not isinstance(kind, str):
        raise ValueError(f"'dist' must be a name (one of {', '.join(sorted(DIST_TYPES))}), got {kind!r}")
    if kind is None:
        raise ValueError(
            f"a distribution needs a 'dist' key (one of {', '.join(sorted(DIST_TYPES))}), got keys {sorted(value)}"
        )
    if kind not in DIST_TYPES:
        raise ValueError(
            f"unknown distribution {kind!r}{did_you_mean(kind, DIST_TYPES)}; expected one of {', '.join(sorted(DIST_TYPES))}"
        )
    data = dict(value)
    if dates:
        for key in ("value", "min", "mode", "max", "mean", "median"):
            if key in data and data[key] is not None:
                data[key] = float(month_ordinal(data[key]))
        if kind == "choice" and isinstance(data.get("values"), list):
            data["values"] = [float(month_ordinal(v)) for v in data["values"]]
        if kind in ("normal",) and "sd" in data:
            data["sd"] = float(data["sd"])  # sd of a date is in months
    try:
        return DIST_TYPES[kind].model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                fields = set(DIST_TYPES[kind].model_fields) - {"dist"}
                msg = f"unknown key for a {kind} distribution{did_you_mean(loc, fields)}; allowed: {', '.join(sorted(fields))}"
            msgs.append(f"{loc}: {msg}" if loc else msg)
        raise ValueError("; ".join(msgs)) from None


def parse_number(value: Any, lo: float = -math.inf, hi: float = math.inf, what: str = "a number",
                 lo_open: bool = False) -> float | Distribution:
    """Accept a plain number or a distribution mapping whose support lies in [lo, hi]
    ((lo, hi] with lo_open, where a continuous distribution may touch lo with zero mass)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {what} or a distribution mapping, got {value!r}")
    if isinstance(value, str):
        # YAML 1.1 reads 350e6 as text; accept numeric text so users need not write 350.0e+6.
        try:
            value = float(value.replace("_", ""))
        except (ValueError, OverflowError):
            raise ValueError(f"expected {what} or a distribution mapping, got text {value!r}") from None
    if isinstance(value, int | float):
        try:
            x = float(value)
        except OverflowError:
            raise ValueError(f"expected a finite number, got a number with {len(str(value))} digits") from None
        if not math.isfinite(x):
            raise ValueError(f"expected a finite number, got {value!r}")
        if x < lo or x > hi or (lo_open and x <= lo):
            raise ValueError(f"expected {what} in {'(' if lo_open else '['}{_fmt_bound(lo)}, {_fmt_bound(hi)}], got {value!r}")
        return x
    if isinstance(value, Distribution):
        d = value
    elif isinstance(value, dict):
        d = parse_dist(value)
    else:
        raise ValueError(f"expected {what} or a distribution mapping like {{dist: pert, min: .., mode: .., max: ..}}, got {value!r}")
    s_lo, s_hi = shown_lo, shown_hi = d.support()
    # an unbounded tail counts up to the most extreme value the sampler can draw (u within 1e-15 of 0 or 1)
    if math.isinf(s_lo):
        s_lo = float(d.ppf(np.array([1e-15]))[0])
    if math.isinf(s_hi):
        s_hi = float(d.ppf(np.array([1 - 1e-15]))[0])
    atom_at_lo = isinstance(d, Fixed | Choice | Bernoulli) and s_lo <= lo
    if s_lo < lo or s_hi > hi or (lo_open and atom_at_lo):
        raise ValueError(
            f"this {d.dist} distribution can take values in [{_fmt_bound(shown_lo)}, {_fmt_bound(shown_hi)}] "
            f"but {what} must lie in {'(' if lo_open else '['}{_fmt_bound(lo)}, {_fmt_bound(hi)}]"
            + (" (truncate it with min/max)" if isinstance(d, Normal) else "")
        )
    return d


def parse_date(value: Any) -> float | Distribution:
    """A month 'YYYY-MM' or a distribution over months (params given as 'YYYY-MM')."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, dict):
        return parse_dist(value, dates=True)
    return float(month_ordinal(value))


def _num(lo: float = -math.inf, hi: float = math.inf, what: str = "a number", lo_open: bool = False) -> Any:
    return BeforeValidator(lambda v: parse_number(v, lo, hi, what, lo_open))


# Field types used by the scenario schema.
Number = Annotated[Any, _num()]
NonNeg = Annotated[Any, _num(0.0, math.inf, "a non-negative number")]
Positive = Annotated[Any, _num(0.0, math.inf, "a positive number", lo_open=True)]
# Upper bounds keep results finite in float32 outputs: no market has 1e9 eligible patients a year,
# and 1e13 (local currency) is above any price or payment.
Count = Annotated[Any, _num(0.0, 1e9, "a number of patients")]
Money = Annotated[Any, _num(0.0, 1e13, "an amount of money", lo_open=True)]
MoneyOrZero = Annotated[Any, _num(0.0, 1e13, "an amount of money")]
FxRate = Annotated[Any, _num(1e-6, 1e6, "an exchange rate (local units per reporting unit)")]
Fraction = Annotated[Any, _num(0.0, 1.0, "a fraction")]
Probability = Annotated[Any, _num(0.0, 1.0, "a probability")]
Change = Annotated[Any, _num(-1.0, 10.0, "a relative change (e.g. -0.05 for -5 %)")]
DateValue = Annotated[Any, BeforeValidator(parse_date)]

"""What a scenario as known at a month (`as_of`) may say about the months after it.

A backtest from that month must not know its future, so a launch or event after `as_of` that is
certain to happen on a fixed date is refused, following `after:` chains (a certain lag behind a
certain parent is as much a fact). A certain launch or event whose whole date window lies after
`as_of`, and a capacity expansion on a fixed later date, are warned about: they can be meant (an
approval before `as_of` with a later commercial start, a plant announced then) but are where
later knowledge slips in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.periods import month_ordinal, ordinal_to_str
from sim.scenario.dists import Distribution
from sim.scenario.refs import parse_ref
from sim.scenario.schema import Scenario

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _When:
    """When a timed thing can happen: certain or not, and its earliest and latest month."""

    certain: bool
    lo: float
    hi: float


def span(spec: Any) -> tuple[float, float]:
    """The earliest and latest value of a number or distribution (a date: its months)."""
    if isinstance(spec, Distribution):
        return spec.support()
    return (float(spec), float(spec))


def _sure(p: Any) -> bool:
    return not isinstance(p, Distribution) and float(p) >= 1.0


class _Timeline:
    """Each launch's and event's _When, resolved along `after:` references (memoised)."""

    def __init__(self, scn: Scenario) -> None:
        self.scn = scn
        self.specs: dict[str, Any] = {f"event:{e}": ev for e, ev in scn.events.items()}
        self.specs.update({f"launch:{p}/{r}/{i}": la for p, prod in scn.products.items()
                           for r, pr in prod.regions.items() for i, la in pr.launches.items()})
        self.memo: dict[str, _When | None] = {}

    def of_ref(self, ref: str) -> _When | None:
        """A reference fires with the first of the launches it names (or its event)."""
        res = parse_ref(ref, self.scn)
        if isinstance(res, str):
            return None  # reported by the reference checks
        kind, parts = res
        prefix = f"{kind}:{'/'.join(parts)}"
        keys = [k for k in self.specs if k == prefix or k.startswith(prefix + "/")]
        whens = [w for w in (self.of_key(k) for k in keys) if w is not None]
        if not whens:
            return None
        sure = [w for w in whens if w.certain]
        hi = min(w.hi for w in sure) if sure else max(w.hi for w in whens)  # by when the first has fired
        return _When(bool(sure), min(w.lo for w in whens), hi)

    def of_key(self, key: str) -> _When | None:
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None  # a cycle (reported elsewhere) resolves to unknown
        spec = self.specs[key]
        rounds = getattr(spec, "rounds", None)
        certain = _sure(spec.probability) and (rounds is None or _sure(rounds.probability))
        lo, hi = span(spec.date) if spec.date is not None else (-float("inf"), -float("inf"))
        if spec.after is not None:
            parent = self.of_ref(spec.after)
            if parent is None:
                return None
            lag_lo, lag_hi = span(spec.lag_months)
            certain = certain and parent.certain
            lo, hi = max(lo, parent.lo + lag_lo), max(hi, parent.hi + lag_hi)
        self.memo[key] = _When(certain, lo, hi)
        return self.memo[key]


def timed_specs(scn: Scenario) -> list[tuple[Loc, Any]]:
    """Every event and launch (their timing specs) with its field path."""
    return [(_loc(key), spec) for key, spec in _Timeline(scn).specs.items()]


def _loc(key: str) -> Loc:
    kind, _, name = key.partition(":")
    if kind == "event":
        return ("events", name)
    p, r, i = name.split("/")
    return ("products", p, "regions", r, "launches", i)


def as_of_problems(scn: Scenario) -> list[tuple[Loc, str]]:
    """Errors: `as_of` outside the horizon; a certain launch or event on a fixed date after it."""
    if scn.as_of is None:
        return []
    known = month_ordinal(scn.as_of)
    if not month_ordinal(scn.start) <= known <= month_ordinal(scn.end):
        return [(("as_of",), f"{scn.as_of} is outside the horizon ({scn.start}..{scn.end}); expected the "
                             "month up to which the scenario states facts")]
    line = _Timeline(scn)
    out: list[tuple[Loc, str]] = []
    for key in line.specs:
        when = line.of_key(key)
        if when is not None and when.certain and when.lo == when.hi and when.lo > known:
            field = "date" if line.specs[key].after is None else "after"
            out.append((_loc(key) + (field,),
                        f"certain on {ordinal_to_str(int(when.lo))}, after as_of ({scn.as_of}): what was not "
                        "known then needs a probability below 1 or an uncertain date"))
    return out


def as_of_warnings(scn: Scenario) -> list[tuple[Loc, str]]:
    """Warnings: a certain window wholly after `as_of`; a capacity expansion on a fixed later date."""
    if scn.as_of is None:
        return []
    known = month_ordinal(scn.as_of)  # inside the horizon: the scenario passed as_of_problems
    line = _Timeline(scn)
    out: list[tuple[Loc, str]] = []
    for key in line.specs:
        when = line.of_key(key)
        if when is not None and when.certain and when.lo < when.hi and when.lo > known:
            out.append((_loc(key), f"certain to happen, and only after as_of ({scn.as_of}): is that what was "
                                   "known then (e.g. approved, with a later start)? Otherwise give it a "
                                   "probability below 1"))
    for pname, prod in scn.products.items():
        for k, step in enumerate(prod.capacity.expansions if prod.capacity is not None else []):
            lo, hi = span(step.date)
            if lo == hi and lo > known:
                out.append((("products", pname, "capacity", "expansions", k, "date"),
                            f"a fixed date after as_of ({scn.as_of}): a plan known then is usually uncertain "
                            "in date (give a range)"))
    return out

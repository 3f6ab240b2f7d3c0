"""Cross-field checks pydantic cannot do: names that must exist, dates inside the horizon,
events that depend on each other without cycles."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.errors import did_you_mean
from sim.periods import month_ordinal, ordinal_to_str
from sim.scenario.asof import as_of_problems, as_of_warnings, span, timed_specs
from sim.scenario.dists import Distribution
from sim.scenario.refs import parse_ref
from sim.scenario.schema import Scenario

Loc = tuple[str | int, ...]


def _date_support(spec: Any) -> tuple[float, float] | None:
    return None if spec is None else span(spec)


def check_references(scn: Scenario) -> list[tuple[Loc, str]]:
    """Every (field path, problem) a scenario has beyond its schema."""
    out = _something_to_simulate(scn) + _weights(scn)
    used = set(scn.preference.weights) | {w for i in scn.indications.values() for w in (i.weights or {})}
    for pname, p in scn.products.items():
        out += _product(scn, pname, p, used)
    for eid, ev in scn.events.items():
        out += _event(scn, eid, ev)
    out.extend(_cycles(scn))
    return out + as_of_problems(scn) + _discrepancy_start(scn)


def _discrepancy_start(scn: Scenario) -> list[tuple[Loc, str]]:
    disc = scn.discrepancy
    if disc is None or disc.start is None:
        return []
    if not month_ordinal(scn.start) <= month_ordinal(disc.start) <= month_ordinal(scn.end):
        return [(("discrepancy", "start"), f"{disc.start} is outside the horizon ({scn.start}..{scn.end}); "
                                           "expected the month the walk starts from")]
    return []


def scenario_warnings(scn: Scenario) -> list[tuple[Loc, str]]:
    """What is valid but probably not meant: (field path, warning)."""
    out: list[tuple[Loc, str]] = as_of_warnings(scn) + _date_and_after(scn)
    for pname, p in scn.products.items():
        steps = p.capacity.expansions if p.capacity is not None else []
        spans = [_date_support(step.date) or (0.0, 0.0) for step in steps]  # an expansion has a date
        for k, step in enumerate(steps):
            lo, hi = spans[k]
            for j in range(k):
                lo_j, hi_j = spans[j]
                uncertain = isinstance(step.date, Distribution) or isinstance(steps[j].date, Distribution)
                if uncertain and lo < hi_j and lo_j < hi:  # sharing an end month is no overlap
                    out.append((("products", pname, "capacity", "expansions", k, "date"),
                                f"the date range overlaps expansions[{j}]'s, so either may come first; each "
                                "expansion is an increase to its level (never a decrease): give ranges that do "
                                "not overlap if one must follow the other"))
    return out


def _date_and_after(scn: Scenario) -> list[tuple[Loc, str]]:
    """Both a date and `after`: it happens at the later of the two, which a variant switching a
    launch to `after:` rarely means (the base's date stays unless it writes `date: null`)."""
    return [(loc, "has both a date and 'after': it happens at the later of the two; if it should only "
                  "follow 'after', write 'date: null' (a variant keeps its base's date otherwise)")
            for loc, spec in timed_specs(scn) if spec.date is not None and spec.after is not None]


def _after_end(scn: Scenario, loc: Loc, spec: Any) -> list[tuple[Loc, str]]:
    sup = _date_support(spec)
    if sup is not None and sup[0] > month_ordinal(scn.end):
        return [(loc, f"date {ordinal_to_str(int(sup[0]))} is after the scenario's end ({scn.end}); "
                      "expected a date inside the horizon")]
    return []


def _ref(scn: Scenario, loc: Loc, ref: str | None) -> list[tuple[Loc, str]]:
    res = parse_ref(ref, scn) if ref is not None else None
    return [(loc, res)] if isinstance(res, str) else []


def _weights(scn: Scenario) -> list[tuple[Loc, str]]:
    """Markets in known regions; preference weights on attributes some product has."""
    out: list[tuple[Loc, str]] = []
    regions, attrs = set(scn.regions), _all_attributes(scn)
    for iname, ind in scn.indications.items():
        for r in ind.markets:
            if r not in regions:
                out.append((("indications", iname, "markets", r), f"unknown region '{r}'{did_you_mean(r, regions)}"))
        for w in (ind.weights or {}):
            if w not in attrs:
                out.append((("indications", iname, "weights", w),
                            f"no product has attribute '{w}'{did_you_mean(w, attrs)}"))
    out += _feeds(scn)
    for w in scn.preference.weights:
        if w not in attrs:
            out.append((("preference", "weights", w), f"no product has attribute '{w}'{did_you_mean(w, attrs)}"))
    return out


def _something_to_simulate(scn: Scenario) -> list[tuple[Loc, str]]:
    """At least one indication, one product and one launch (a run of nothing crashed)."""
    if not scn.indications:
        return [(("indications",), "a scenario needs at least one indication (a disease and line of therapy "
                                   "with its markets per region)")]
    if not scn.products:
        return [(("products",), "a scenario needs at least one product, launched in at least one market")]
    if not any(pr.launches for p in scn.products.values() for pr in p.regions.values()):
        return [(("products",), "no product launches in any market, so there is nothing to simulate; add "
                                "products.<name>.regions.<region>.launches.<indication>")]
    return []


def _feeds(scn: Scenario) -> list[tuple[Loc, str]]:
    """Line flows go to another indication sharing a region, and never back to where they started."""
    out: list[tuple[Loc, str]] = []
    inds = set(scn.indications)
    for iname, ind in scn.indications.items():
        for later in ind.feeds:
            loc: Loc = ("indications", iname, "feeds", later)
            if later not in inds:
                out.append((loc, f"unknown indication '{later}'{did_you_mean(later, inds - {iname})}"))
            elif later == iname:
                out.append((loc, "a line cannot feed itself; name a later line of therapy"))
            elif not set(ind.markets) & set(scn.indications[later].markets):
                out.append((loc, f"'{iname}' and '{later}' share no region, so no patient can flow between them"))
    seen: dict[str, int] = {}  # 0 visiting, 1 done

    def visit(i: str, path: list[str]) -> None:
        seen[i] = 0
        for later in scn.indications[i].feeds:
            if later not in inds or later == i:
                continue
            if seen.get(later) == 0:
                cycle = path[path.index(later):] + [i, later] if later in path else [i, later]
                out.append((("indications", i, "feeds", later),
                            f"line flows form a cycle ({' -> '.join(dict.fromkeys(cycle))} -> {later}); "
                            "patients must flow from earlier to later lines"))
            elif later not in seen:
                visit(later, path + [i])
        seen[i] = 1

    for i in scn.indications:
        if i not in seen:
            visit(i, [])
    return out


def _product(scn: Scenario, pname: str, p: Any, used_weights: set[str]) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    missing = sorted(used_weights - set(p.attributes))
    if missing:
        out.append((("products", pname, "attributes"),
                    f"missing attribute(s) {', '.join(missing)} that the preference weights use"))
    if p.capacity is not None:
        ords = [s.date for s in p.capacity.expansions]
        if all(isinstance(o, float) for o in ords) and ords != sorted(ords):
            out.append((("products", pname, "capacity", "expansions"), "expansions must be in date order"))
    regions, inds = set(scn.regions), set(scn.indications)
    for r, pr in p.regions.items():
        if r not in regions:
            out.append((("products", pname, "regions", r), f"unknown region '{r}'{did_you_mean(r, regions)}"))
            continue
        for i, launch in pr.launches.items():
            loc: Loc = ("products", pname, "regions", r, "launches", i)
            if i not in inds:
                out.append((loc, f"unknown indication '{i}'{did_you_mean(i, inds)}"))
                continue
            if r not in scn.indications[i].markets:
                out.append((loc, f"indication '{i}' has no market in region '{r}' (add indications.{i}.markets.{r})"))
            out += _timing(scn, loc, launch)
    return out + _deals(scn, pname, p)


def _timing(scn: Scenario, loc: Loc, spec: Any) -> list[tuple[Loc, str]]:
    """A date inside the horizon, a parent that exists, and a lag only where it counts from one."""
    out = _after_end(scn, loc + ("date",), spec.date) + _ref(scn, loc + ("after",), spec.after)
    if spec.after is None and "lag_months" in spec.model_fields_set:
        out.append((loc + ("lag_months",), "lag_months counts from 'after' (the event this one follows), which is "
                                           "not given; add 'after', or fold the lag into 'date'"))
    return out


def _deals(scn: Scenario, pname: str, p: Any) -> list[tuple[Loc, str]]:
    """One partner deal per region, in regions the product is sold in, with valid milestones."""
    out: list[tuple[Loc, str]] = []
    covered: dict[str, int] = {}
    for k, d in enumerate(p.deals):
        loc: Loc = ("products", pname, "deals", k)
        for r in (list(p.regions) if d.regions == "all" else d.regions):
            if r in covered:
                out.append((loc + ("regions",), f"region '{r}' is already covered by deals[{covered[r]}]; "
                                                 "one partner deal per region (split regions between deals)"))
            covered.setdefault(r, k)
        if d.regions != "all":
            out += [(loc + ("regions",), f"product '{pname}' is not sold in region '{r}'{did_you_mean(r, p.regions)}")
                    for r in d.regions if r not in p.regions]
        for j, m in enumerate(d.milestones):
            out += _ref(scn, loc + ("milestones", j, "on"), m.on)
        if d.upfront_date is None and "upfront" in d.model_fields_set and not _is_zero(d.upfront):
            out.append((loc + ("upfront",), "an upfront payment needs 'upfront_date' (YYYY-MM or a distribution); "
                                            "without a date it would never be paid"))
        if d.upfront_date is not None:
            out += _after_end(scn, loc + ("upfront_date",), d.upfront_date)
        if d.partner == p.company:
            out.append((loc + ("partner",), "the partner must differ from the product's company"))
    return out


def _is_zero(value: Any) -> bool:
    return not isinstance(value, Distribution) and float(value) == 0.0


def _event(scn: Scenario, eid: str, ev: Any) -> list[tuple[Loc, str]]:
    """An event's product, region(s) and channel exist; its date and parent are valid."""
    loc: Loc = ("events", eid)
    regions, prods = set(scn.regions), set(scn.products)
    prod = getattr(ev, "product", None)
    if prod is not None and prod not in prods:
        return [(loc + ("product",), f"unknown product '{prod}'{did_you_mean(prod, prods)}")]
    out: list[tuple[Loc, str]] = []
    region = getattr(ev, "region", None)
    if region is not None:
        if region not in regions:
            out.append((loc + ("region",), f"unknown region '{region}'{did_you_mean(region, regions)}"))
        elif prod is not None and region not in scn.products[prod].regions:
            out.append((loc + ("region",), f"product '{prod}' is not sold in region '{region}'"))
    regs = getattr(ev, "regions", None)
    if isinstance(regs, list):
        out += [(loc + ("regions",), f"unknown region '{r}'{did_you_mean(r, regions)}") for r in regs if r not in regions]
    channel = getattr(ev, "channel", None)
    if channel is not None and region in scn.regions and channel not in scn.regions[region].payers:
        out.append((loc + ("channel",), f"region '{region}' has no payer channel '{channel}'"
                    f"{did_you_mean(channel, scn.regions[region].payers)}"))
    return out + _timing(scn, loc, ev)


def _all_attributes(scn: Scenario) -> set[str]:
    return {a for p in scn.products.values() for a in p.attributes}


def _cycles(scn: Scenario) -> list[tuple[Loc, str]]:
    """Events that (transitively) wait for themselves never fire: refuse them."""
    graph: dict[str, str] = {}
    for eid, ev in scn.events.items():
        if ev.after is not None:
            res = parse_ref(ev.after, scn)
            if not isinstance(res, str) and res[0] == "event":
                graph[eid] = res[1][0]
    out: list[tuple[Loc, str]] = []
    for start in graph:
        seen = [start]
        cur = start
        while cur in graph:
            cur = graph[cur]
            if cur == start:
                out.append((("events", start, "after"), "events depend on each other in a cycle: "
                            + " -> ".join(seen + [start])))
                break
            if cur in seen:
                break
            seen.append(cur)
    return out


def check_corr(target: np.ndarray, k: int | None = None) -> np.ndarray:
    """Validate a correlation matrix: square, symmetric, unit diagonal, entries in [-1, 1], PD."""
    c = np.asarray(target, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"correlation matrix must be square, got shape {c.shape}")
    if k is not None and c.shape[0] != k:
        raise ValueError(f"correlation matrix is {c.shape[0]}x{c.shape[0]} for {k} inputs")
    if not np.allclose(c, c.T, atol=1e-10):
        raise ValueError("correlation matrix must be symmetric")
    if not np.allclose(np.diag(c), 1.0):
        raise ValueError("correlation matrix must have 1 on the diagonal")
    if np.any(np.abs(c) > 1.0):
        raise ValueError("correlations must lie between -1 and 1")
    if np.linalg.eigvalsh(c).min() <= 1e-10:
        raise ValueError("correlation matrix is not positive definite: the correlations are inconsistent")
    return c

"""Cross-field checks pydantic cannot do: names that must exist, dates inside the horizon,
events that depend on each other without cycles."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.errors import did_you_mean
from sim.periods import month_ordinal, ordinal_to_str
from sim.scenario.dists import Distribution
from sim.scenario.refs import parse_ref
from sim.scenario.schema import Scenario

Loc = tuple[str | int, ...]


def _date_support(spec: Any) -> tuple[float, float] | None:
    if spec is None:
        return None
    if isinstance(spec, Distribution):
        return spec.support()
    return (float(spec), float(spec))


def check_references(scn: Scenario) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    end = month_ordinal(scn.end)
    regions, inds, prods = set(scn.regions), set(scn.indications), set(scn.products)

    def beyond(loc: Loc, spec: Any) -> None:
        sup = _date_support(spec)
        if sup is not None and sup[0] > end:
            out.append((loc, f"date {ordinal_to_str(int(sup[0]))} is after the scenario's end ({scn.end}); "
                             "expected a date inside the horizon"))

    for iname, ind in scn.indications.items():
        for r in ind.markets:
            if r not in regions:
                out.append((("indications", iname, "markets", r), f"unknown region '{r}'{did_you_mean(r, regions)}"))
        for w in (ind.weights or {}):
            if w not in _all_attributes(scn):
                out.append((("indications", iname, "weights", w),
                            f"no product has attribute '{w}'{did_you_mean(w, _all_attributes(scn))}"))
    attrs = _all_attributes(scn)
    for w in scn.preference.weights:
        if w not in attrs:
            out.append((("preference", "weights", w), f"no product has attribute '{w}'{did_you_mean(w, attrs)}"))
    used_weights = set(scn.preference.weights) | {w for i in scn.indications.values() for w in (i.weights or {})}
    for pname, p in scn.products.items():
        missing = sorted(used_weights - set(p.attributes))
        if missing:
            out.append((("products", pname, "attributes"),
                        f"missing attribute(s) {', '.join(missing)} that the preference weights use"))
        if p.capacity is not None:
            ords = [s.date for s in p.capacity.expansions]
            if all(isinstance(o, float) for o in ords) and ords != sorted(ords):
                out.append((("products", pname, "capacity", "expansions"), "expansions must be in date order"))
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
                beyond(loc + ("date",), launch.date)
                if launch.after is not None:
                    res = parse_ref(launch.after, scn)
                    if isinstance(res, str):
                        out.append((loc + ("after",), res))
        covered: dict[str, int] = {}
        for k, d in enumerate(p.deals):
            for r in (list(p.regions) if d.regions == "all" else d.regions):
                if r in covered:
                    out.append((("products", pname, "deals", k, "regions"),
                                f"region '{r}' is already covered by deals[{covered[r]}]; "
                                "one partner deal per region (split regions between deals)"))
                covered.setdefault(r, k)
            if d.regions != "all":
                for r in d.regions:
                    if r not in p.regions:
                        out.append((("products", pname, "deals", k, "regions"),
                                    f"product '{pname}' is not sold in region '{r}'{did_you_mean(r, p.regions)}"))
            for j, m in enumerate(d.milestones):
                res = parse_ref(m.on, scn)
                if isinstance(res, str):
                    out.append((("products", pname, "deals", k, "milestones", j, "on"), res))
            if d.partner == p.company:
                out.append((("products", pname, "deals", k, "partner"), "the partner must differ from the product's company"))

    for eid, ev in scn.events.items():
        loc = ("events", eid)
        prod = getattr(ev, "product", None)
        if prod is not None and prod not in prods:
            out.append((loc + ("product",), f"unknown product '{prod}'{did_you_mean(prod, prods)}"))
            continue
        region = getattr(ev, "region", None)
        if region is not None:
            if region not in regions:
                out.append((loc + ("region",), f"unknown region '{region}'{did_you_mean(region, regions)}"))
            elif prod is not None and region not in scn.products[prod].regions:
                out.append((loc + ("region",), f"product '{prod}' is not sold in region '{region}'"))
        regs = getattr(ev, "regions", None)
        if isinstance(regs, list):
            for r in regs:
                if r not in regions:
                    out.append((loc + ("regions",), f"unknown region '{r}'{did_you_mean(r, regions)}"))
        channel = getattr(ev, "channel", None)
        if channel is not None and region in scn.regions and channel not in scn.regions[region].payers:
            out.append((loc + ("channel",), f"region '{region}' has no payer channel '{channel}'"
                        f"{did_you_mean(channel, scn.regions[region].payers)}"))
        beyond(loc + ("date",), ev.date)
        if ev.after is not None:
            res = parse_ref(ev.after, scn)
            if isinstance(res, str):
                out.append((loc + ("after",), res))
    out.extend(_cycles(scn))
    return out


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

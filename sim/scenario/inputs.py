"""A scenario's inputs by field path: the names its draws are sampled and recorded under.

Every number the engine samples is named by where it is written in the scenario
(`indications.LBCL_3L.uptake.ceiling`, `products.Carvykti.regions.US.price`); a launch or
event that may not happen adds a yes/no gate named by its path + '.fires'. These names key
the uniforms (common random numbers), the inputs table of a run, correlations and
sensitivity. `scenario_inputs` lists them from the scenario alone, without simulating; the
engine's sampler uses the same paths (tests/test_sampling.py checks they agree).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sim.formats import GATE_SUFFIX
from sim.scenario.dists import is_uncertain
from sim.scenario.events import Reimbursement, Timing
from sim.scenario.paths import is_path, named_values
from sim.scenario.schema import Scenario


def has_gate(spec: Timing) -> bool:
    """Whether something timed may not happen (its probability is not a plain 1)."""
    return not (isinstance(spec.probability, float) and spec.probability >= 1.0)


def _timing(spec: Timing, name: str) -> Iterator[tuple[str, Any]]:
    if has_gate(spec):
        yield name + GATE_SUFFIX, "gate"
    yield name + ".probability", spec.probability
    if spec.date is not None:
        yield name + ".date", spec.date
    yield name + ".lag_months", spec.lag_months


def _event_value(ev: Any, scn: Scenario, field: str) -> Any:
    if isinstance(ev, Reimbursement) and field == "out_of_pocket" and ev.out_of_pocket is None:
        oop = scn.regions[ev.region].payers[ev.channel].out_of_pocket
        return None if is_path(oop) else oop  # sampled under the event's name; a path is the channel's
    return getattr(ev, field)


def scenario_inputs(scn: Scenario) -> Iterator[tuple[str, Any]]:
    """(name, spec) of every number a draw samples ("gate" for a yes/no gate's uniform)."""
    for i, ind in scn.indications.items():
        for r, mk in ind.markets.items():
            base = f"indications.{i}.markets.{r}"
            yield base + ".eligible", mk.eligible
            yield from named_values(base + ".growth", mk.growth)
            up, upath = (mk.uptake, base + ".uptake") if mk.uptake is not None else (ind.uptake, f"indications.{i}.uptake")
            assert up is not None
            yield from ((f"{upath}.{k}", getattr(up, k)) for k in ("p", "q"))
            yield from named_values(upath + ".ceiling", up.ceiling)
            yield (base + ".drop_out", mk.drop_out) if mk.drop_out is not None else (f"indications.{i}.drop_out", ind.drop_out)
            yield f"indications.{i}.inertia", ind.inertia
            yield f"indications.{i}.order_of_entry", ind.order_of_entry
    yield from _regions(scn)
    yield from _products(scn)
    yield from _choices(scn)
    yield from _lines(scn)
    if scn.discrepancy is not None:  # its yearly shocks are noise of the draw, not inputs
        yield "discrepancy.scale", scn.discrepancy.scale
    for eid, ev in scn.events.items():
        name = f"events.{eid}"
        for f in ev.VALUES:
            value = _event_value(ev, scn, f)
            if value is not None:
                yield f"{name}.{f}", value
        yield from _timing(ev, name)
        if ev.rounds is not None:
            yield name + ".rounds.probability", ev.rounds.probability
            yield name + ".rounds.first_after_months", ev.rounds.first_after_months


def _regions(scn: Scenario) -> Iterator[tuple[str, Any]]:
    for r, reg in scn.regions.items():
        yield from named_values(f"regions.{r}.fx", reg.fx)
        yield from named_values(f"regions.{r}.sites", reg.sites)
        if reg.affordability is not None:
            yield from named_values(f"regions.{r}.affordability.median", reg.affordability.median)
            yield f"regions.{r}.affordability.sigma", reg.affordability.sigma


def _products(scn: Scenario) -> Iterator[tuple[str, Any]]:
    for p, prod in scn.products.items():
        base = f"products.{p}"
        if prod.capacity is not None:
            yield base + ".capacity.initial", prod.capacity.initial
            for k, step in enumerate(prod.capacity.expansions):
                yield f"{base}.capacity.expansions[{k}].date", step.date
                yield f"{base}.capacity.expansions[{k}].capacity", step.capacity
        yield from named_values(base + ".cogs", prod.cogs)
        yield base + ".manufacturing_success", prod.manufacturing_success
        yield base + ".ramp_months", prod.ramp_months
        for r, pr in prod.regions.items():
            for i, launch in pr.launches.items():
                yield from _lane(scn, p, r, i)
                yield from _timing(launch, f"{base}.regions.{r}.launches.{i}")
        for k, d in enumerate(prod.deals):
            db = f"{base}.deals[{k}]"
            if d.upfront_date is not None:
                yield db + ".upfront", d.upfront
                yield db + ".upfront_date", d.upfront_date
            yield from ((f"{db}.milestones[{j}].amount", m.amount) for j, m in enumerate(d.milestones))


def _choices(scn: Scenario) -> Iterator[tuple[str, Any]]:
    """A nested choice's inputs, in the engine's order: per market, the outside weight, nesting and
    price utility; then each class's own uptake where a product of that class launches there."""
    for i, ind in scn.indications.items():
        if ind.choice is not None:
            for _r in ind.markets:
                yield from ((f"indications.{i}.choice.{k}", getattr(ind.choice, k)) for k in ("outside", "nesting", "price"))
    for i, ind in scn.indications.items():
        if ind.choice is None:
            continue
        present = {p.modality for p in scn.products.values() for pr in p.regions.values() if i in pr.launches}
        for k, cls in ind.choice.classes.items():
            if cls.uptake is not None and k in present:
                name = f"indications.{i}.choice.classes.{k}.uptake"
                yield name + ".p", cls.uptake.p
                yield name + ".q", cls.uptake.q
                yield from named_values(name + ".ceiling", cls.uptake.ceiling)


def _lines(scn: Scenario) -> Iterator[tuple[str, Any]]:
    """Line flows between indications, then launch boluses (the engine's order)."""
    for i, ind in scn.indications.items():
        for later, feed in ind.feeds.items():
            base = f"indications.{i}.feeds.{later}"
            yield from ((f"{base}.{k}", getattr(feed, k)) for k in ("relapse", "standard_of_care", "lag_months"))
    for i, ind in scn.indications.items():
        for r, mk in ind.markets.items():
            if mk.bolus is not None:
                yield f"indications.{i}.markets.{r}.bolus.patients", mk.bolus.patients
                yield f"indications.{i}.markets.{r}.bolus.months", mk.bolus.months


def _lane(scn: Scenario, p: str, r: str, i: str) -> Iterator[tuple[str, Any]]:
    """What one launch (product x region x indication) samples: price, preference, payers, deal."""
    prod, ind = scn.products[p], scn.indications[i]
    pr = prod.regions[r]
    rb = f"products.{p}.regions.{r}"
    launch = pr.launches[i]
    yield (f"{rb}.launches.{i}.price", launch.price) if launch.price is not None else (rb + ".price", pr.price)
    yield from named_values(rb + ".gross_to_net", pr.gross_to_net)
    yield rb + ".price_change", pr.price_change
    own = ind.weights is not None
    for a, w in (ind.weights if own else scn.preference.weights).items():  # type: ignore[union-attr]
        yield (f"indications.{i}.weights.{a}" if own else f"preference.weights.{a}"), w
        yield f"products.{p}.attributes.{a}", prod.attributes[a]
    for c, ch in scn.regions[r].payers.items():
        yield from named_values(f"regions.{r}.payers.{c}.share", ch.share)
        if ch.covers_product(p) or is_path(ch.out_of_pocket):
            yield from named_values(f"regions.{r}.payers.{c}.out_of_pocket", ch.out_of_pocket)
    for k, d in enumerate(prod.deals):
        if d.regions == "all" or r in d.regions:
            yield f"products.{p}.deals[{k}].partner_share", d.partner_share
            yield f"products.{p}.deals[{k}].royalty", d.royalty


def input_names(scn: Scenario) -> list[str]:
    """The uncertain inputs a run of the scenario can record, in scenario order, each once."""
    out = dict.fromkeys(name for name, spec in scenario_inputs(scn) if spec == "gate" or is_uncertain(spec))
    return list(out)

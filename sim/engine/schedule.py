"""Everything that happens in a batch, put on its calendar: launches, capacity expansions,
deal payments, the scenario's events and the yearly price changes.

The order here is the order in which their timing and values are sampled (part of the
results under a Sobol design) and in which same-month actions apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine.calendar import Action
from sim.engine.events import event_action
from sim.engine.formulas import whole_months
from sim.engine.state import ENTRY, PRICE

if TYPE_CHECKING:
    from sim.engine.market import BatchMarket


def schedule_all(market: BatchMarket) -> None:
    """Schedule the batch; month 0's actions are applied when the simulation starts."""
    structure, scn, cal, sampler = market.structure, market.scenario, market.calendar, market.sampler
    for p, r, i in structure.lanes:  # every trigger exists up front: same event columns in every batch
        for name in (f"launch:{p}/{r}/{i}", f"launch:{p}/{r}", f"launch:{p}"):
            cal.trigger(name)
    for eid in scn.events:
        cal.trigger(f"event:{eid}")
    for lane, (p, r, i) in enumerate(structure.lanes):
        spec = scn.products[p].regions[r].launches[i]
        cal.timed(spec, f"products.{p}.regions.{r}.launches.{i}", launch_action(market, lane))
    everyone = np.arange(market.size)
    for j, p in enumerate(structure.products):
        prod = scn.products[p]
        if prod.capacity is not None:
            for k, step in enumerate(prod.capacity.expansions):
                name = f"products.{p}.capacity.expansions[{k}]"
                t = whole_months(sampler.value(step.date, name + ".date") - structure.start)
                cal.at(everyone, t, capacity_action(market, j, sampler.value(step.capacity, name + ".capacity")))
        schedule_deals(market, p)
    for eid, ev in scn.events.items():
        cal.timed(ev, f"events.{eid}", event_action(market, eid, ev), rounds=ev.rounds)
    first_jan = (12 - structure.start % 12) % 12 or 12  # the stated price holds until the first January
    if first_jan < structure.T:
        cal.queue(first_jan, yearly_prices, market, first_jan, price_paths(market))
    cal.start()


def launch_action(market: BatchMarket, lane: int) -> Action:
    """A product's launch in one market: available from then on, unless withdrawn before."""
    structure, state = market.structure, market.state
    p, r, i = structure.lanes[lane]
    c, seg = int(structure.lane_cell[lane]), int(structure.lane_seg[lane])
    affordable = bool(market.params.lane_aff[lane])  # affordability only matters in regions with a curve
    fires = [market.calendar.trigger(n) for n in (f"launch:{p}/{r}/{i}", f"launch:{p}/{r}", f"launch:{p}")]

    def act(idx: np.ndarray, t: np.ndarray) -> None:
        ok = ~state.withdrawn[idx, lane]  # withdrawn before launch: the launch never happens
        if not ok.all():
            idx, t = idx[ok], t[ok]
        state.avail[idx, lane] = True
        state.launch_t[idx, lane] = t
        state.t0[idx, seg] = np.minimum(state.t0[idx, seg], t)  # the class's diffusion starts
        state.changed.mark((ENTRY,), affordable=affordable, cell=c)
        market.calendar.fire(fires, idx, t)

    return act


def capacity_action(market: BatchMarket, product: int, value: np.ndarray) -> Action:
    """A capacity expansion of the product's manufacturing (slots per month): an increase to the
    stated level, so two expansions with overlapping uncertain dates never lower capacity."""
    def act(idx: np.ndarray, t: np.ndarray) -> None:
        cap = market.state.capacity
        cap[idx, product] = np.maximum(cap[idx, product], value[idx])

    return act


def schedule_deals(market: BatchMarket, product: str) -> None:
    """A product's deal payments: upfront on its date, each milestone when its event fires."""
    structure, sampler = market.structure, market.sampler
    cp_ix = {cp: k for k, cp in enumerate(structure.company_products)}
    prod = market.scenario.products[product]
    own = cp_ix[(prod.company, product)]
    for k, d in enumerate(prod.deals):
        par = cp_ix[(d.partner, product)]
        base = f"products.{product}.deals[{k}]"
        if d.upfront_date is not None:
            amt = sampler.value(d.upfront, base + ".upfront")
            t = whole_months(sampler.value(d.upfront_date, base + ".upfront_date") - structure.start)
            market.calendar.at(np.arange(market.size), t, _payment(market, par, own, amt))
        for j, ms in enumerate(d.milestones):
            amt = sampler.value(ms.amount, f"{base}.milestones[{j}].amount")
            market.calendar.after(ms.on).dependents.append(_payment(market, par, own, amt))


def _payment(market: BatchMarket, payer: int, payee: int, amount: np.ndarray) -> Action:
    def act(idx: np.ndarray, t: np.ndarray) -> None:
        market.book_payment(idx, t, payer, payee, amount)

    return act


def price_paths(market: BatchMarket) -> list[np.ndarray]:
    """The lanes that share one list price path: a product's indications in a region, except those
    with a price of their own (each its own path); only paths of two or more lanes are listed."""
    scn = market.scenario
    groups: dict[tuple[str, ...], list[int]] = {}
    for lane, (p, r, i) in enumerate(market.structure.lanes):
        own = scn.products[p].regions[r].launches[i].price is not None
        groups.setdefault((p, r, i) if own else (p, r), []).append(lane)
    return [np.array(g, dtype=np.int64) for g in groups.values() if len(g) > 1]


def yearly_prices(market: BatchMarket, t: int, paths: list[np.ndarray]) -> None:
    """Every January, list prices move by their yearly change once their path has started: a
    product's price in a region starts at its first launch there (or the scenario start), and its
    later indications launch at the price reached, not at the stated launch price."""
    state = market.state
    started = state.launch_t.copy()  # (draws, lanes): when each lane's price path began
    for lanes in paths:
        started[:, lanes] = started[:, lanes].min(axis=1, keepdims=True)
    prices = state.price.T  # (lanes, draws), in place so views stay valid
    np.multiply(prices, 1.0 + market.params.price_change.T, out=prices, where=t > started.T)
    state.changed.mark((PRICE,), affordable=bool(market.params.lane_aff.any()))
    if t + 12 < market.structure.T:
        market.calendar.queue(t + 12, yearly_prices, market, t + 12, paths)

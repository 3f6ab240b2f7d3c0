"""What each type of scenario event does: one handler per type, in a registry.

A handler is built once per event when the batch is scheduled (sampling the event's values,
in its fields' order) and applied to the draws where the event fires. It declares the facets
of the market it changes (sim.engine.state), so the monthly flow knows what to recompute; the
registry fires the event's trigger afterwards, for whatever follows it. An event type without
a handler is an error, never silently something else.

Adding an event type: a schema class in sim/scenario/events.py (with the VALUES it samples)
and a handler here (CONTRIBUTING.md walks through one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from typing_extensions import override

from sim.engine.calendar import Action
from sim.engine.state import ATTRACTIVENESS, AVAILABILITY, CAPACITY, PAYMENTS, PRICE
from sim.scenario import events as spec
from sim.scenario.paths import is_path

if TYPE_CHECKING:
    from sim.engine.market import BatchMarket


class EventHandler:
    """The action of one scenario event; subclasses sample their values in __init__."""

    changes: ClassVar[tuple[str, ...]] = ()  # facets of the market the action changes
    affordable: bool = False  # it acts in a region with an affordability curve

    def __init__(self, market: BatchMarket, eid: str, ev: Any) -> None:
        self.market = market
        self.state = market.state
        self.name = f"events.{eid}"
        self.ev = ev

    def value(self, spec: Any, field: str) -> np.ndarray:
        """The event's value `field` in each draw, sampled under the event's name."""
        return self.market.sampler.value(spec, f"{self.name}.{field}")

    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        """Change the market for draws idx, where the event fires in months t."""
        raise NotImplementedError


HANDLERS: dict[str, type[EventHandler]] = {}


def handles(event_type: str) -> Any:
    """Register a handler class for an event type of the scenario schema."""
    def register(cls: type[EventHandler]) -> type[EventHandler]:
        HANDLERS[event_type] = cls
        return cls

    return register


def event_action(market: BatchMarket, eid: str, ev: Any) -> Action:
    """The scheduled action of event `eid`: its handler, the note of what changed, its trigger."""
    try:
        cls = HANDLERS[ev.type]
    except KeyError:
        raise ValueError(f"events.{eid}: no handler for event type {ev.type!r} "
                         f"(known: {', '.join(sorted(HANDLERS))})") from None
    handler = cls(market, eid, ev)
    fires = [market.calendar.trigger(f"event:{eid}")]
    changed = market.state.changed

    def act(idx: np.ndarray, t: np.ndarray) -> None:
        handler.apply(idx, t)
        changed.mark(handler.changes, affordable=handler.affordable)
        market.calendar.fire(fires, idx, t)

    return act


@handles("reimbursement")
class ReimbursementHandler(EventHandler):
    """A payer channel takes the product: price cut, new out-of-pocket share, maybe a new
    share of patients in the channel (the other channels shrink in proportion)."""

    changes = (PRICE,)

    def __init__(self, market: BatchMarket, eid: str, ev: spec.Reimbursement) -> None:
        super().__init__(market, eid, ev)
        structure = market.structure
        self.lanes = market.lanes_of(ev.product, [ev.region])
        self.affordable = market.region_affordable(ev.region)
        self.region_lanes = np.flatnonzero(structure.lane_region == structure.regions.index(ev.region))
        self.channel = list(market.scenario.regions[ev.region].payers).index(ev.channel)
        ch = market.scenario.regions[ev.region].payers[ev.channel]
        self.cut = self.value(ev.price_cut, "price_cut")
        # without an own out-of-pocket share the product takes the channel's, following its path if it has one
        self.follows = ev.out_of_pocket is None and is_path(ch.out_of_pocket)
        self.oop = (np.zeros(market.size) if self.follows else
                    self.value(ev.out_of_pocket if ev.out_of_pocket is not None else ch.out_of_pocket, "out_of_pocket"))
        self.region = structure.regions.index(ev.region)
        self.new_share = self.value(ev.channel_share, "channel_share") if ev.channel_share is not None else None

    @override
    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        s, k, ii = self.state, self.channel, idx[:, None]
        s.price[ii, self.lanes] *= (1.0 - self.cut[idx])[:, None]
        s.oop[ii, self.lanes, k] = self.oop[idx][:, None]  # a path's value comes at the month's start
        s.oop_follows[ii, self.lanes, k] = self.follows
        if self.new_share is not None:
            s.share_set[idx, self.region] = True
            rl = self.region_lanes[None, :]
            old = s.share[ii, rl, k]
            scale = np.divide(1.0 - self.new_share[idx][:, None], 1.0 - old, out=np.zeros_like(old), where=old < 1.0)
            for kk in range(self.market.structure.K):
                if kk != k:
                    s.share[ii, rl, kk] *= scale
            s.share[ii, rl, k] = self.new_share[idx][:, None]


@handles("price_change")
class PriceChangeHandler(EventHandler):
    """A one-off relative change of the product's list price in a region."""

    changes = (PRICE,)

    def __init__(self, market: BatchMarket, eid: str, ev: spec.PriceChange) -> None:
        super().__init__(market, eid, ev)
        self.lanes = market.lanes_of(ev.product, [ev.region])
        self.affordable = market.region_affordable(ev.region)
        self.change = self.value(ev.change, "change")

    @override
    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        self.state.price[idx[:, None], self.lanes] *= (1.0 + self.change[idx])[:, None]


@handles("capacity")
class CapacityHandler(EventHandler):
    """The product's manufacturing capacity is set to a new level."""

    changes = (CAPACITY,)

    def __init__(self, market: BatchMarket, eid: str, ev: spec.CapacityChange) -> None:
        super().__init__(market, eid, ev)
        self.product = market.structure.products.index(ev.product)
        self.capacity = self.value(ev.capacity, "capacity")

    @override
    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        self.state.capacity[idx, self.product] = self.capacity[idx]


@handles("safety")
class SafetyHandler(EventHandler):
    """A safety signal multiplies the product's attractiveness."""

    changes = (ATTRACTIVENESS,)

    def __init__(self, market: BatchMarket, eid: str, ev: spec.Safety) -> None:
        super().__init__(market, eid, ev)
        self.lanes = market.lanes_of(ev.product, ev.regions)
        self.multiplier = self.value(ev.attractiveness, "attractiveness")

    @override
    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        self.state.safety[idx[:, None], self.lanes] *= self.multiplier[idx][:, None]


@handles("withdrawal")
class WithdrawalHandler(EventHandler):
    """The product leaves the market (a launch that was still to come never happens)."""

    changes = (AVAILABILITY,)

    def __init__(self, market: BatchMarket, eid: str, ev: spec.Withdrawal) -> None:
        super().__init__(market, eid, ev)
        self.lanes = market.lanes_of(ev.product, ev.regions)

    @override
    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        ii = idx[:, None]
        self.state.avail[ii, self.lanes] = False
        self.state.withdrawn[ii, self.lanes] = True


@handles("payment")
class PaymentHandler(EventHandler):
    """A payment between two companies (reporting currency)."""

    changes = (PAYMENTS,)

    def __init__(self, market: BatchMarket, eid: str, ev: spec.Payment) -> None:
        super().__init__(market, eid, ev)
        cp_ix = {cp: k for k, cp in enumerate(market.structure.company_products)}
        self.payer, self.payee = cp_ix[(ev.payer, "-")], cp_ix[(ev.payee, "-")]
        self.amount = self.value(ev.amount, "amount")

    @override
    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        self.market.book_payment(idx, t, self.payer, self.payee, self.amount)


@handles("readout")
class ReadoutHandler(EventHandler):
    """A marker (e.g. a trial read-out) that other events follow; changes nothing itself."""

    @override
    def apply(self, idx: np.ndarray, t: np.ndarray) -> None:
        pass

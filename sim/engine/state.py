"""What events change during a batch: the market's state, and a note of what changed.

Events (launches, listings, price and capacity changes, safety shocks, withdrawals, deal
payments) mutate `MarketState` for the draws where they fire; each says which facets of the
market it changed (`Changes.mark`), so the monthly flow recomputes only what depends on them.
Arrays are (draw, item) views with draws contiguous, as everywhere in the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

# The facets an event can change, and what the monthly flow must then recompute.
PRICE = "price"  # list price, out-of-pocket share or payer channel shares: net price, affordability
ENTRY = "entry"  # a product became available in a cell: entry ranks, payer reach
AVAILABILITY = "availability"  # a product stopped being available: payer reach, attractiveness
ATTRACTIVENESS = "attractiveness"
CAPACITY = "capacity"  # read by the flow every month: nothing to recompute
PAYMENTS = "payments"  # money only: nothing to recompute
FACETS = (PRICE, ENTRY, AVAILABILITY, ATTRACTIVENESS, CAPACITY, PAYMENTS)


@dataclass
class Changes:
    """What changed since the flow last brought its derived arrays up to date (all at first)."""

    net_price: bool = True
    affordability: bool = True  # who can afford what: price x out-of-pocket share
    access: bool = True  # each payer channel's reach of the available products
    ranks: bool = True
    rank_cells: set[int] = field(default_factory=set)  # cells whose entry ranks changed
    attractiveness: bool = True

    def mark(self, facets: Iterable[str], *, affordable: bool = False, cell: int | None = None) -> None:
        """Note that `facets` changed; `affordable`: in a region with an affordability curve,
        where payer reach depends on prices and availability; `cell`: where a product entered."""
        for facet in facets:
            if facet == PRICE:
                self.net_price = self.affordability = True
                self.access |= affordable
            elif facet == ENTRY:
                self.ranks = True
                self.access |= affordable
                assert cell is not None
                self.rank_cells.add(cell)
            elif facet == AVAILABILITY:
                self.access = self.attractiveness = True
            elif facet == ATTRACTIVENESS:
                self.attractiveness = True
            elif facet not in FACETS:
                raise ValueError(f"unknown facet {facet!r}; expected one of {', '.join(FACETS)}")


@dataclass
class MarketState:
    """The part of a batch's market that events change."""

    capacity: np.ndarray  # (draw, product) manufacturing slots per month (inf: no limit)
    price: np.ndarray  # (draw, lane) list price, local currency
    share: np.ndarray  # (draw, lane, channel) share of patients in each payer channel
    oop: np.ndarray  # (draw, lane, channel) out-of-pocket share of the price
    avail: np.ndarray  # (draw, lane) bool: launched and not withdrawn
    withdrawn: np.ndarray  # (draw, lane) bool
    launch_t: np.ndarray  # (draw, lane) month of launch (inf: not launched)
    t0: np.ndarray  # (draw, segment) month of the segment's first launch (inf: none yet)
    safety: np.ndarray  # (draw, lane) attractiveness multiplier of safety shocks
    pay: np.ndarray  # (draw, company-product, period) deal payments
    # payer paths (sim.engine.paths.PayerPaths): lanes whose out-of-pocket share follows its
    # channel's path (draw, lane, channel); regions whose shares an event has set (draw, region)
    oop_follows: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=bool))
    share_set: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    changed: Changes = field(default_factory=Changes)

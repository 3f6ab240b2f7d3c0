"""Inputs that change over time (sim.scenario.paths) in a batch: sampled per month, applied
at the start of each month, and money booked at the month's rate.

A path's value in month t overwrites its column of the `Params` array it belongs to before
the month's flow, so everything that reads that array (the uptake ceiling, the affordability
median, gross-to-net) sees the month's value, and the flow recomputes what depends on it only
in months where it moves. Two cases need more than that:
- eligible growth is a rate: eligible patients grow by the product of the monthly factors so
  far, (1 + g(s)) ** (1/12) for each month s before t (a constant rate gives (1 + g) ** (t/12));
- the exchange rate and COGS turn patients into money per month, while revenue is stored per
  period: the lanes of a region with an FX path or of a product with a COGS path book their
  revenue in the reporting currency and their cost of goods month by month, and the derived
  metrics take those sums for them (all other lanes are computed as before, bit for bit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.scenario.paths import is_path, point_name

if TYPE_CHECKING:
    from sim.engine.inputs import Sampler
    from sim.engine.market import BatchMarket
    from sim.engine.structure import Structure

# Params fields a path may set, and what the flow must recompute in a month where one moves.
AFFORDABILITY = "affordability"
NET_PRICE = "net_price"
STATE = ("payer_share", "payer_oop")  # paths of the market's state (events change it too)
RECOMPUTE = {"payer_share": AFFORDABILITY, "payer_oop": AFFORDABILITY, "aff_median": AFFORDABILITY,
             "gtn": NET_PRICE, "bass_ceiling": None, "seg_ceiling": None, "growth": None, "fx": None, "cogs": None}


@dataclass
class Varying:
    """One column of a Params array that follows a path: its value per month (T, draws)."""

    field: str
    col: int
    values: np.ndarray
    moves: np.ndarray  # (T,): month t's value differs from month t-1's in some draw


def interp_rows(x_new: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation per draw (rows of ys share the knots xs), flat outside."""
    pos = np.clip(np.searchsorted(xs, x_new, side="right") - 1, 0, len(xs) - 1)
    nxt = np.minimum(pos + 1, len(xs) - 1)
    span = xs[nxt] - xs[pos]
    w = np.divide(x_new - xs[pos], span, out=np.zeros_like(x_new), where=span > 0)
    w = np.clip(w, 0.0, 1.0)
    return ys[:, pos] * (1 - w) + ys[:, nxt] * w


def path_series(sampler: Sampler, spec: Any, name: str, structure: Structure) -> np.ndarray:
    """(draws, months) values of a path: each point sampled under its own name, then stepped or
    interpolated month by month (flat before the first point and after the last)."""
    xs = np.array([m - structure.start for m in spec.months()], dtype=float)
    ys = np.stack([sampler.value(v, point_name(name, j)) for j, v in enumerate(spec.values())], axis=1)
    months = np.arange(structure.T, dtype=float)
    if spec.interpolation == "step":
        return ys[:, np.clip(np.searchsorted(xs, months, side="right") - 1, 0, len(xs) - 1)]
    return interp_rows(months, xs, ys)


def take(sampler: Sampler, spec: Any, name: str, structure: Structure, field: str, col: int,
         varying: list[Varying]) -> np.ndarray:
    """The (draws,) value of an input at month 0; a path also adds its months to `varying`."""
    if not is_path(spec):
        return sampler.value(spec, name)
    if field not in RECOMPUTE:
        raise ValueError(f"{field} cannot follow a time path")
    series = path_series(sampler, spec, name, structure)
    values = np.ascontiguousarray(series.T)
    moves = np.r_[False, (values[1:] != values[:-1]).any(axis=1)]
    varying.append(Varying(field, col, values, moves))
    return series[:, 0].copy()


class MovingInputs:
    """What a batch's paths do to its flow, month by month (see the module docstring)."""

    def __init__(self, market: BatchMarket) -> None:
        structure, p = market.structure, market.params
        self.market = market
        self.varying = [v for v in p.varying if v.field not in ("growth",) + STATE]
        self.payers = PayerPaths(market, [v for v in p.varying if v.field in STATE])
        self.growth = [(v.col, _cumulative_growth(v.values)) for v in p.varying if v.field == "growth"]
        self.money_lanes = money_lanes(structure, p)
        self.money_region = structure.lane_region[self.money_lanes]
        self.money_product = structure.lane_product[self.money_lanes]

    @property
    def books_money(self) -> bool:
        """Whether some lanes book revenue and COGS month by month."""
        return self.money_lanes.size > 0

    def apply(self, t: int) -> None:
        """Month t's values into Params, and what the flow must recompute for them."""
        p, changed = self.market.params, self.market.state.changed
        if self.payers.active and self.payers.apply(t):
            changed.affordability = changed.access = True
        for v in self.varying:
            if t == 0 or v.moves[t]:
                getattr(p, v.field)[:, v.col] = v.values[t]
                kind = RECOMPUTE[v.field]
                if kind == AFFORDABILITY:
                    changed.affordability = changed.access = True
                elif kind == NET_PRICE:
                    changed.net_price = True

    def growth_factor(self, t: int, growth_t: np.ndarray) -> None:
        """Overwrite the rows of cells whose growth follows a path with their factor at month t."""
        for c, factor in self.growth:
            growth_t[c] = factor[t]

    def book(self, acc: dict[str, np.ndarray], per: int, served: np.ndarray, net_price: np.ndarray) -> None:
        """Add month t's revenue in the reporting currency and COGS of the money lanes.
        `served` and `net_price` are (money lanes, draws)."""
        p = self.market.params
        acc["revenue_rep"][per] += served * net_price / p.fx.T[self.money_region]
        acc["cogs_paid"][per] += served * p.cogs.T[self.money_product]


def money_lanes(structure: Structure, params: Any) -> np.ndarray:
    """The lanes whose revenue and COGS are booked month by month: in a region whose exchange
    rate, or of a product whose COGS, follows a path."""
    fx_regions = {v.col for v in params.varying if v.field == "fx"}
    cogs_products = {v.col for v in params.varying if v.field == "cogs"}
    return np.array([k for k in range(structure.L)
                     if structure.lane_region[k] in fx_regions or structure.lane_product[k] in cogs_products],
                    dtype=np.int64)


def _cumulative_growth(rates: np.ndarray) -> np.ndarray:
    """(T, draws) yearly growth rates -> (T, draws) factors: month t's is the product of
    (1 + g(s)) ** (1/12) over the months s before t."""
    logs = np.log1p(rates) * (1.0 / 12.0)
    cum = np.zeros_like(logs)
    np.cumsum(logs[:-1], axis=0, out=cum[1:])
    return np.exp(cum)


class PayerPaths:
    """Payer channels whose share of patients or out-of-pocket share follows a path.

    Each month a region's channel shares are the paths' values (constants for the others)
    rescaled to sum to 1, for every lane of the region, until a reimbursement event sets the
    region's shares in a draw (the event's shares hold from then on). A channel's out-of-pocket
    path applies to the lanes it covers, and to a product a listing adds to it at the channel's
    own out-of-pocket share; a listing with an out-of-pocket share of its own keeps that.
    """

    def __init__(self, market: BatchMarket, varying: list[Varying]) -> None:
        structure, state = market.structure, market.state
        self.state, self.K = state, structure.K
        self.active = bool(varying)
        self.shares = [v for v in varying if v.field == "payer_share"]
        self.oops = [v for v in varying if v.field == "payer_oop"]
        regions = sorted({v.col // self.K for v in self.shares})
        self.region_lanes = {r: np.flatnonzero(structure.lane_region == r) for r in regions}
        self.raw = {r: market.params.payer_raw[r].copy() for r in regions}  # each month's values go in
        self.oop_lanes = {v.col // self.K: np.flatnonzero(structure.lane_region == v.col // self.K) for v in self.oops}
        for v in self.oops:  # the lanes the channel covers follow its path
            r, k = divmod(v.col, self.K)
            ch = list(structure.scenario.regions[structure.regions[r]].payers.values())[k]
            covered = [l for l in self.oop_lanes[r].tolist() if ch.covers_product(structure.lanes[l][0])]
            state.oop_follows[:, covered, k] = True

    def apply(self, t: int) -> bool:
        """Month t's payer shares and out-of-pocket shares into the state; whether any changed."""
        s, moved = self.state, False
        for v in self.shares:
            r, k = divmod(v.col, self.K)
            self.raw[r][:, k] = v.values[t]
        for r, lanes in self.region_lanes.items():
            raw = self.raw[r]
            new = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-300)
            free = ~s.share_set[:, r]
            cur = s.share[:, lanes, :]
            want = np.where(free[:, None, None], new[:, None, :], cur)
            if not np.array_equal(want, cur):
                s.share[:, lanes, :] = want
                moved = True
        for v in self.oops:  # channel k of region r: only that region's lanes (k numbers each region's channels)
            r, k = divmod(v.col, self.K)
            lanes = self.oop_lanes[r]
            cur = s.oop[:, lanes, k]
            want = np.where(s.oop_follows[:, lanes, k], v.values[t][:, None], cur)
            if not np.array_equal(want, cur):
                s.oop[:, lanes, k] = want
                moved = True
        return moved


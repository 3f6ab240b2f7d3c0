"""A batch's results: the metrics derived from the flow's accumulators, per draw.

Lanes get infused and failed patients, revenue in local and reporting currency, cost of
goods, gross profit and the owner's revenue; cells their demand and untreated patients;
company-product rows the booked revenue and gross profit after partner splits, royalties,
deal payments and income. Computed in float64 and stored in the output dtype as soon as
nothing else needs them (float32 halves a written batch's memory; the files hold float32
either way). `derive_numpy` is the readable reference of the compiled `derive_compiled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine.paths import money_lanes
from sim.vocab import CELL_METRICS, COMPANY_METRICS, LANE_METRICS

if TYPE_CHECKING:
    from sim.engine.inputs import Params
    from sim.engine.market import BatchMarket
    from sim.engine.structure import Structure

Tables = tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]


@dataclass
class BatchOutput:
    """Every result of a batch of draws, as (draw, item, period) arrays by metric."""

    lanes: dict[str, np.ndarray]  # metric -> (B, L, NP)
    cells: dict[str, np.ndarray]  # metric -> (B, C, NP)
    companies: dict[str, np.ndarray]  # metric -> (B, CP, NP)
    draw_ids: np.ndarray
    events: dict[str, np.ndarray]  # trigger name -> month fired (nan = never), (B,)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)  # uncertain input -> value, (B,)


def batch_output(market: BatchMarket, tables: Tables) -> BatchOutput:
    """The batch's output; the calendar's closures (which refer back to the batch) are dropped."""
    lanes, cells, companies = tables
    out = BatchOutput(lanes=lanes, cells=cells, companies=companies, draw_ids=market.draw_ids,
                      events=market.calendar.fired(), inputs=dict(market.sampler.record))
    market.calendar.close()
    return out


def company_groups(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lanes grouped by their company-product row (cp[l], -1 = none), for sums in lane order:
    the lanes in group order, where each group starts in that list, and each group's row."""
    keep = np.flatnonzero(cp >= 0)
    order = keep[np.argsort(cp[keep], kind="stable")].astype(np.int64)
    rows = cp[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if order.size else np.zeros(0, np.int64)
    return order, starts.astype(np.int64), rows[starts].astype(np.int64)


def _by_company(x: np.ndarray, cp: np.ndarray, n_rows: int) -> np.ndarray:
    """Sum (NP, L, B) lane values into (NP, CP, B) company-product rows given each lane's row."""
    out = np.zeros((x.shape[0], n_rows, x.shape[2]))
    order, starts, rows = company_groups(cp)
    if order.size:
        out[:, rows, :] = np.add.reduceat(x[:, order, :], starts, axis=1)
    return out


def _views(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.transpose(2, 1, 0) for k, v in d.items()}  # (draw, item, period) views


def derive_numpy(market: BatchMarket, acc: dict[str, np.ndarray], dtype: Any) -> Tables:
    """Lane, cell and company metrics from the accumulators (period, item, draw), in numpy."""
    structure, p = market.structure, market.params
    dt = np.dtype(dtype)

    def keep(x: np.ndarray) -> np.ndarray:
        return x if x.dtype == dt else x.astype(dt)

    a = acc
    cell_demand = np.zeros((structure.NP, structure.C, market.size))
    if structure.L:
        cell_demand[:, structure.cell_of_group, :] = np.add.reduceat(a["demand"], structure.cell_starts, axis=1)
    cells = {"eligible": keep(a["eligible"]), "addressable": keep(a.pop("addressable")),
             "demand": keep(cell_demand), "untreated": keep(a.pop("eligible") - cell_demand)}
    del cell_demand
    served = a.pop("served")
    revenue = a["revenue_local"] / p.fx.T[structure.lane_region]
    cogs = served * p.cogs.T[structure.lane_product]
    ml = money_lanes(structure, p)  # booked month by month at the month's FX and COGS (sim.engine.paths)
    revenue[:, ml], cogs[:, ml] = a.pop("revenue_rep"), a.pop("cogs_paid")
    gross_profit = revenue - cogs
    ps = p.partner_share.T
    n_cp = len(structure.company_products)
    roy_flow = revenue * ps * p.royalty.T
    comp = {
        "revenue": _by_company(revenue * (1.0 - ps), p.own_cp, n_cp) + _by_company(revenue * ps, p.par_cp, n_cp),
        "gross_profit": (_by_company(gross_profit * (1.0 - ps), p.own_cp, n_cp)
                         + _by_company(gross_profit * ps, p.par_cp, n_cp)),
        "royalty": _by_company(roy_flow, p.own_cp, n_cp) - _by_company(roy_flow, p.par_cp, n_cp),
        "deal_payments": np.ascontiguousarray(market.state.pay.transpose(2, 1, 0)),
    }
    del roy_flow
    comp["income"] = comp["gross_profit"] + comp["royalty"] + comp["deal_payments"]
    comp = {k: keep(v) for k, v in comp.items()}
    lanes = {"demand": keep(a.pop("demand"))}
    infused = served * p.success.T[structure.lane_product]
    lanes["infused"] = keep(infused)
    lanes["failed"] = keep(served - infused)
    del infused, served
    lanes["dropped"] = keep(a.pop("dropped"))
    lanes["waiting"] = keep(a.pop("waiting"))
    lanes["revenue_local"] = keep(a.pop("revenue_local"))
    lanes["company_revenue"] = keep(revenue * p.owner_coef.T)
    lanes["revenue"], lanes["cogs"], lanes["gross_profit"] = keep(revenue), keep(cogs), keep(gross_profit)
    del revenue, cogs, gross_profit
    lanes = {m: lanes[m] for m in LANE_METRICS}  # the documented column order
    return _views(lanes), _views(cells), _views(comp)


def money_index(structure: Structure, params: Params) -> np.ndarray:
    """(lanes,) each lane's row in the month-by-month money accumulators, -1 for none."""
    ix = np.full(structure.L, -1, dtype=np.int64)
    ml = money_lanes(structure, params)
    ix[ml] = np.arange(ml.size)
    return ix


def derive_compiled(market: BatchMarket, acc: dict[str, np.ndarray], dtype: Any) -> Tables:
    """`derive_numpy` in one compiled pass a period (sim.engine.derive.finish)."""
    from sim.engine import derive as K  # here: readers of BatchOutput never load numba
    structure, p = market.structure, market.params
    dt = np.dtype(dtype)
    NP, L, C, CP, B = structure.NP, structure.L, structure.C, len(structure.company_products), market.size
    out = K.Outputs(np.empty((len(LANE_METRICS), NP, L, B), dtype=dt),
                    np.empty((len(CELL_METRICS), NP, C, B), dtype=dt),
                    np.empty((len(COMPANY_METRICS), NP, CP, B), dtype=dt))
    c = np.ascontiguousarray
    K.finish(K.Flows(acc["served"], acc["revenue_local"], acc["demand"], acc["dropped"], acc["waiting"],
                     acc["eligible"], acc["addressable"]),
             K.Money(c(p.fx.T), structure.lane_region, c(p.cogs.T), c(p.success.T), structure.lane_product, c(p.owner_coef.T),
                     c(p.partner_share.T), c(p.royalty.T), money_index(structure, p), acc["revenue_rep"], acc["cogs_paid"]),
             K.Books(company_groups(p.own_cp), company_groups(p.par_cp), c(market.state.pay.transpose(2, 1, 0)),
                     structure.cell_bounds, structure.cell_of_group),
             out)
    acc.clear()

    def view(x: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {m: x[k].transpose(2, 1, 0) for k, m in enumerate(names)}  # (draw, item, period) views

    return view(out.lanes, LANE_METRICS), view(out.cells, CELL_METRICS), view(out.companies, COMPANY_METRICS)


def concat_outputs(outs: Sequence[BatchOutput]) -> BatchOutput:
    """Stack per-draw (or per-batch) outputs along the draw axis.

    Event and input records are created lazily by the engine (an event nobody waits for and
    that never fires in a draw may have no record), so keys are unioned and missing values
    are NaN.
    """
    if not outs:
        raise ValueError("concat_outputs needs at least one output")

    def stack(name: str) -> dict[str, np.ndarray]:
        keys = list(getattr(outs[0], name))
        return {k: np.concatenate([getattr(o, name)[k] for o in outs], axis=0) for k in keys}

    def union(name: str) -> dict[str, np.ndarray]:
        keys: list[str] = []
        for o in outs:
            keys += [k for k in getattr(o, name) if k not in keys]
        res = {}
        for k in keys:
            parts = []
            for o in outs:
                d = getattr(o, name)
                parts.append(d[k] if k in d else np.full(len(o.draw_ids), np.nan))
            res[k] = np.concatenate(parts, axis=0)
        return res

    return BatchOutput(lanes=stack("lanes"), cells=stack("cells"), companies=stack("companies"),
                       draw_ids=np.concatenate([o.draw_ids for o in outs]), events=union("events"),
                       inputs=union("inputs"))

"""A batch's sampled inputs: every number of the scenario, drawn for each draw of the batch.

Each input is sampled from the uniform named by its field path (common random numbers), and
the value of every uncertain one is recorded, so sensitivity can be read off any run. What
stays fixed within the batch is `Params`; what events later change is the initial
`MarketState`. The order in which inputs are asked for is part of the results: a Sobol design
gives input k of the run dimension k, so this module asks in one fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.engine.lines import BolusSpec, LineLink, sample_lines
from sim.engine.paths import Varying, path_series, take
from sim.engine.state import MarketState
from sim.engine.structure import Structure
from sim.sampling.designs import Design
from sim.sampling.tables import sample
from sim.scenario.dists import Distribution, is_uncertain
from sim.scenario.paths import is_path


def by_draw(size: int, *tail: int, fill: float = 0.0, dtype: Any = float) -> np.ndarray:
    """A (draws, *tail) view of a (*reversed tail, draws) array: draws are the contiguous axis,
    so the monthly flow vectorises along draws and sums over a cell's lanes add whole rows."""
    base = np.full(tuple(reversed(tail)) + (size,), fill, dtype=dtype)
    return base.transpose(tuple(range(base.ndim))[::-1])


class Sampler:
    """Per-draw values of scenario inputs, each keyed by its field path.

    `pinned` fixes the uniforms of named inputs (sensitivity designs hold one input at a quantile).
    """

    def __init__(self, keys: np.ndarray, draw_ids: np.ndarray, design: Design | None = None,
                 pinned: dict[str, np.ndarray] | None = None) -> None:
        self.keys = keys
        self.draw_ids = draw_ids
        self.size = keys.shape[0]
        self.design = design or Design()
        self.pinned = pinned or {}
        self.record: dict[str, np.ndarray] = {}

    def uniform(self, name: str, counter: int = 0) -> np.ndarray:
        """The uniforms of input `name` (its `counter`-th use), one per draw."""
        if counter == 0 and name in self.pinned:
            return self.pinned[name]
        return self.design.u(self.keys, self.draw_ids, name, counter)

    def value(self, spec: Any, name: str) -> np.ndarray:
        """The input's value in each draw (recorded when it is uncertain)."""
        if isinstance(spec, Distribution):
            v = sample(spec, self.uniform(name))
            if is_uncertain(spec):
                self.record[name] = v
            return v
        return np.full(self.size, float(spec))


@dataclass
class Params:
    """The inputs that stay fixed within a batch, as (draw, item) arrays unless noted."""

    # cells (region x indication)
    eligible0: np.ndarray  # eligible patients per year at the start
    growth: np.ndarray
    bass_p: np.ndarray
    bass_q: np.ndarray
    bass_ceiling: np.ndarray
    hazard: np.ndarray  # monthly drop-out while waiting
    inertia: np.ndarray
    entry_elasticity: np.ndarray
    # regions
    fx: np.ndarray
    sites: np.ndarray  # (draw, region, month)
    aff_median: np.ndarray
    aff_sigma: np.ndarray
    has_aff: np.ndarray  # (region,): the region has an affordability curve
    # products
    cogs: np.ndarray
    success: np.ndarray
    # lanes (product x region x indication)
    ramp_months: np.ndarray
    gtn: np.ndarray
    price_change: np.ndarray
    base_attr: np.ndarray  # logit attractiveness from the attributes
    lane_aff: np.ndarray  # (lane,): its region has an affordability curve
    # deals: who books each lane's revenue
    own_cp: np.ndarray  # (lane,) company-product row of the owner
    par_cp: np.ndarray  # (lane,) of the partner, -1 for none
    partner_share: np.ndarray
    royalty: np.ndarray
    owner_coef: np.ndarray  # the owner's share of revenue after the split and royalty
    # segments (a cell's lanes, or one class of them under a nested choice): Bass p, q, ceiling
    seg_p: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    seg_q: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    seg_ceiling: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    # nested choice per cell: outside option's weight (relative to the cell's most attractive
    # product's exp(utility)), nesting parameter, price utility per unit of reporting currency
    outside: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    nesting: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    price_coef: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    # inputs that follow a time path: their columns above hold month 0 (sim.engine.paths)
    varying: list[Varying] = field(default_factory=list)
    # region -> (draw, channel) payer shares as given, where a channel's share follows a path
    payer_raw: dict[int, np.ndarray] = field(default_factory=dict)
    # patients flowing between lines of therapy, launch boluses (sim.engine.lines)
    line_links: list[LineLink] = field(default_factory=list)
    boluses: list[BolusSpec] = field(default_factory=list)


def sample_inputs(structure: Structure, sampler: Sampler) -> tuple[Params, MarketState]:
    """Every input that is not timing, in the engine's fixed order (cells, regions, products,
    lanes, deals); timing and event values are sampled when events are scheduled."""
    size = sampler.size
    varying: list[Varying] = []
    cells = _cells(structure, sampler, varying)
    regions = _regions(structure, sampler, varying)
    products = _products(structure, sampler, varying)
    lanes, state = _lanes(structure, sampler, products.pop("ramp_p"), products.pop("capacity"), varying)
    has_aff = regions["has_aff"]
    deals = _deals(structure, sampler)
    choice = _choice(structure, sampler, cells, lanes.pop("cell_max_util"), varying)
    links, boluses = sample_lines(structure, sampler)
    payer_raw: dict[int, np.ndarray] = lanes.pop("payer_raw")
    arrays: dict[str, Any] = {**cells, **regions, **products, **lanes, **deals, **choice}
    params = Params(**arrays, lane_aff=has_aff[structure.lane_region], varying=varying, payer_raw=payer_raw,
                    line_links=links, boluses=boluses)
    state.pay = np.zeros((size, len(structure.company_products), structure.NP))
    return params, state


def _cells(structure: Structure, sampler: Sampler, varying: list[Varying]) -> dict[str, np.ndarray]:
    scn, size, C = structure.scenario, sampler.size, structure.C
    out = {k: by_draw(size, C) for k in ("eligible0", "growth", "bass_p", "bass_q", "bass_ceiling", "hazard",
                                         "inertia", "entry_elasticity")}
    value = sampler.value
    for c, (r, i) in enumerate(structure.cells):
        ind = scn.indications[i]
        mk = ind.markets[r]
        base = f"indications.{i}.markets.{r}"
        out["eligible0"][:, c] = value(mk.eligible, base + ".eligible")
        out["growth"][:, c] = take(sampler, mk.growth, base + ".growth", structure, "growth", c, varying)
        up, upath = (mk.uptake, base + ".uptake") if mk.uptake is not None else (ind.uptake, f"indications.{i}.uptake")
        assert up is not None
        out["bass_p"][:, c] = value(up.p, upath + ".p")
        out["bass_q"][:, c] = value(up.q, upath + ".q")
        out["bass_ceiling"][:, c] = take(sampler, up.ceiling, upath + ".ceiling", structure, "bass_ceiling", c, varying)
        if mk.drop_out is not None:
            out["hazard"][:, c] = value(mk.drop_out, base + ".drop_out")
        else:
            out["hazard"][:, c] = value(ind.drop_out, f"indications.{i}.drop_out")
        out["inertia"][:, c] = value(ind.inertia, f"indications.{i}.inertia")
        out["entry_elasticity"][:, c] = value(ind.order_of_entry, f"indications.{i}.order_of_entry")
    return out


def _regions(structure: Structure, sampler: Sampler, varying: list[Varying]) -> dict[str, np.ndarray]:
    scn, size, R = structure.scenario, sampler.size, len(structure.regions)
    fx, sites = np.empty((size, R)), np.empty((size, R, structure.T))
    aff_median, aff_sigma = np.ones((size, R)), np.ones((size, R))
    has_aff = np.zeros(R, dtype=bool)
    for k, r in enumerate(structure.regions):
        reg = scn.regions[r]
        fx[:, k] = take(sampler, reg.fx, f"regions.{r}.fx", structure, "fx", k, varying)
        if is_path(reg.sites):  # the flow reads every month's sites reach from this table
            sites[:, k, :] = path_series(sampler, reg.sites, f"regions.{r}.sites", structure)
        else:
            sites[:, k, :] = sampler.value(reg.sites, f"regions.{r}.sites")[:, None]
        if reg.affordability is not None:
            has_aff[k] = True
            aff_median[:, k] = take(sampler, reg.affordability.median, f"regions.{r}.affordability.median",
                                    structure, "aff_median", k, varying)
            aff_sigma[:, k] = sampler.value(reg.affordability.sigma, f"regions.{r}.affordability.sigma")
    return {"fx": fx, "sites": sites, "aff_median": aff_median, "aff_sigma": aff_sigma, "has_aff": has_aff}


def _products(structure: Structure, sampler: Sampler, varying: list[Varying]) -> dict[str, np.ndarray]:
    scn, size, P = structure.scenario, sampler.size, len(structure.products)
    capacity, cogs, success = by_draw(size, P, fill=np.inf), by_draw(size, P), by_draw(size, P)
    ramp_p = np.empty((size, P))
    for j, p in enumerate(structure.products):
        prod = scn.products[p]
        base = f"products.{p}"
        if prod.capacity is not None:
            capacity[:, j] = sampler.value(prod.capacity.initial, base + ".capacity.initial")
        cogs[:, j] = take(sampler, prod.cogs, base + ".cogs", structure, "cogs", j, varying)
        success[:, j] = sampler.value(prod.manufacturing_success, base + ".manufacturing_success")
        ramp_p[:, j] = sampler.value(prod.ramp_months, base + ".ramp_months")
    return {"capacity": capacity, "cogs": cogs, "success": success, "ramp_p": ramp_p}


def _lanes(structure: Structure, sampler: Sampler, ramp_p: np.ndarray, capacity: np.ndarray,
           varying: list[Varying]) -> tuple[dict[str, Any], MarketState]:
    scn, size, L, K = structure.scenario, sampler.size, structure.L, structure.K
    value = sampler.value
    price, gtn, price_change = by_draw(size, L), by_draw(size, L), by_draw(size, L)
    base_attr = by_draw(size, L, fill=1.0)
    share, oop = by_draw(size, L, K), by_draw(size, L, K, fill=1.0)
    global_w = scn.preference.weights
    util = np.zeros((size, L))
    for l, (p, r, i) in enumerate(structure.lanes):
        prod = scn.products[p]
        pr = prod.regions[r]
        base = f"products.{p}.regions.{r}"
        launch = pr.launches[i]
        price_spec, price_path = ((launch.price, f"{base}.launches.{i}.price") if launch.price is not None
                                  else (pr.price, base + ".price"))
        price[:, l] = value(price_spec, price_path)
        gtn[:, l] = take(sampler, pr.gross_to_net, base + ".gross_to_net", structure, "gtn", l, varying)
        price_change[:, l] = value(pr.price_change, base + ".price_change")
        own = scn.indications[i].weights
        for a, w in (own if own is not None else global_w).items():
            wv = value(w, f"indications.{i}.weights.{a}" if own is not None else f"preference.weights.{a}")
            util[:, l] += wv * value(prod.attributes[a], f"products.{p}.attributes.{a}")
        for k, (cname, ch) in enumerate(scn.regions[r].payers.items()):
            cb = f"regions.{r}.payers.{cname}"
            share[:, l, k] = _payer(sampler, ch.share, cb + ".share", structure, "payer_share", r, k, varying)
            covered = ch.covers_product(p)
            if covered or is_path(ch.out_of_pocket):  # a path also reaches products a listing adds
                o = _payer(sampler, ch.out_of_pocket, cb + ".out_of_pocket", structure, "payer_oop", r, k, varying)
                if covered:
                    oop[:, l, k] = o
    cell_max = np.zeros((size, structure.C))
    if L:  # logit attractiveness, shifted by each cell's largest utility so exp cannot overflow
        cmax = np.maximum.reduceat(util, structure.cell_starts, axis=1)
        cell_max[:, structure.cell_of_group] = cmax
        base_attr[...] = np.exp(util - cell_max[:, structure.lane_cell])
    # each region's channel shares as given, before rescaling (a payer path rescales them monthly)
    payer_raw = {r: share[:, int(np.flatnonzero(structure.lane_region == r)[0]), :].copy()
                 for r in {v.col // K for v in varying if v.field == "payer_share"}}
    tot = share.sum(axis=2, keepdims=True)
    np.divide(share, tot, out=share, where=tot > 0)
    lanes = {"ramp_months": ramp_p[:, structure.lane_product], "gtn": gtn, "price_change": price_change,
             "base_attr": base_attr, "cell_max_util": cell_max, "payer_raw": payer_raw}
    state = MarketState(
        capacity=capacity, price=price, share=share, oop=oop,
        avail=by_draw(size, L, fill=False, dtype=bool), withdrawn=by_draw(size, L, fill=False, dtype=bool),
        launch_t=by_draw(size, L, fill=np.inf), t0=by_draw(size, structure.S, fill=np.inf),
        safety=by_draw(size, L, fill=1.0), pay=np.zeros(0),
        oop_follows=np.zeros((size, L, K), dtype=bool), share_set=np.zeros((size, len(structure.regions)), dtype=bool))
    return lanes, state


def _payer(sampler: Sampler, spec: Any, name: str, structure: Structure, field: str, region: str, k: int,
           varying: list[Varying]) -> np.ndarray:
    """A payer channel's share or out-of-pocket share at month 0; a path is registered once per
    region and channel (column region x K + channel) and applied to the state (sim.engine.paths)."""
    if not is_path(spec):
        return sampler.value(spec, name)
    col = structure.regions.index(region) * structure.K + k
    for v in varying:
        if v.field == field and v.col == col:
            return v.values[0].copy()
    take(sampler, spec, name, structure, field, col, varying)
    return varying[-1].values[0].copy()


def _choice(structure: Structure, sampler: Sampler, cells: dict[str, np.ndarray], cell_max: np.ndarray,
            varying: list[Varying]) -> dict[str, np.ndarray]:
    """Per segment, the Bass inputs (the cell's, or its class's own uptake); per cell, the nested
    choice's outside weight on the scale of the shifted attractiveness, nesting and price utility.
    A cell's ceiling path moves every segment of it without a ceiling of its own."""
    scn, size, S, C = structure.scenario, sampler.size, structure.S, structure.C
    sc = structure.seg_cell
    seg = {"seg_p": by_draw(size, S), "seg_q": by_draw(size, S), "seg_ceiling": by_draw(size, S)}
    for key, cell_key in (("seg_p", "bass_p"), ("seg_q", "bass_q"), ("seg_ceiling", "bass_ceiling")):
        seg[key][...] = cells[cell_key][:, sc]
    outside, nesting, price = np.zeros((size, C)), np.ones((size, C)), np.zeros((size, C))
    own_ceiling: set[int] = set()
    for c, (_r, i) in enumerate(structure.cells):
        ch = scn.indications[i].choice
        if ch is None:
            continue
        base = f"indications.{i}.choice"
        # exp(V0) on the scale of exp(utility - the cell's largest utility): the shifted attractiveness
        outside[:, c] = sampler.value(ch.outside, base + ".outside") * np.exp(-cell_max[:, c])
        nesting[:, c] = sampler.value(ch.nesting, base + ".nesting")
        price[:, c] = sampler.value(ch.price, base + ".price") * 1e-5  # given per 100,000
    for s in range(S):
        c, k = int(sc[s]), structure.seg_class[s]
        i = structure.cells[c][1]
        ch = scn.indications[i].choice
        cls = ch.classes.get(k) if ch is not None and k else None  # type: ignore[call-overload]
        if cls is None or cls.uptake is None:
            continue
        name = f"indications.{i}.choice.classes.{k}.uptake"
        seg["seg_p"][:, s] = sampler.value(cls.uptake.p, name + ".p")
        seg["seg_q"][:, s] = sampler.value(cls.uptake.q, name + ".q")
        seg["seg_ceiling"][:, s] = take(sampler, cls.uptake.ceiling, name + ".ceiling", structure, "seg_ceiling", s,
                                        varying)
        own_ceiling.add(s)
    for v in [v for v in varying if v.field == "bass_ceiling"]:
        varying.extend(Varying("seg_ceiling", s, v.values, v.moves)
                       for s in np.flatnonzero(sc == v.col).tolist() if s not in own_ceiling)
    return {**seg, "outside": outside, "nesting": nesting, "price_coef": price}


def _deals(structure: Structure, sampler: Sampler) -> dict[str, np.ndarray]:
    """Who books each lane's revenue: owner (1 - partner_share), partner, and the royalty the
    partner pays the owner on its booked revenue (one deal per lane; checked on load)."""
    scn, size, L = structure.scenario, sampler.size, structure.L
    cp_ix = {cp: k for k, cp in enumerate(structure.company_products)}
    own_cp = np.array([cp_ix[(scn.products[p].company, p)] for p, _, _ in structure.lanes], dtype=np.int64)
    par_cp = np.full(L, -1, dtype=np.int64)
    partner_share, royalty = np.zeros((size, L)), np.zeros((size, L))
    for l, (p, r, _i) in enumerate(structure.lanes):
        for k, d in enumerate(scn.products[p].deals):
            if d.regions != "all" and r not in d.regions:
                continue
            base = f"products.{p}.deals[{k}]"
            partner_share[:, l] = sampler.value(d.partner_share, base + ".partner_share")
            royalty[:, l] = sampler.value(d.royalty, base + ".royalty")
            par_cp[l] = cp_ix[(d.partner, p)]
    return {"own_cp": own_cp, "par_cp": par_cp, "partner_share": partner_share, "royalty": royalty,
            "owner_coef": 1.0 - partner_share * (1.0 - royalty)}

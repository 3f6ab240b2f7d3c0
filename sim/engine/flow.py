"""The monthly patient flow of a batch, steps 1-5 of the model (docs/MODEL.md), in numpy.

Each month, in each cell (region x indication): eligible patients, class uptake (Bass from the
cell's first launch), site access; then the product mix (logit on attractiveness x entry order
x launch ramp, moving with inertia), payer channels and affordability; then each product's
queue, its capacity shared by its lanes, drop-out. This is the readable reference: the
compiled flow (sim.engine.compiled) computes the same month in one pass, and the
patient-level engine asks this one for its expected demand.

Arrays here are (item, draw): the transposes of the engine's (draw, item) views.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.engine import formulas as F
from sim.engine.discrepancy import DemandDisturbance
from sim.engine.inputs import by_draw
from sim.engine.lines import LineFlows
from sim.engine.paths import MovingInputs, money_lanes
from sim.engine.queue import new_ages, serve_capped

if TYPE_CHECKING:
    from sim.engine.market import BatchMarket

ACCUMULATED_LANES = ("demand", "served", "dropped", "waiting", "revenue_local")
ACCUMULATED_CELLS = ("eligible", "addressable")
ACCUMULATED_MONEY = ("revenue_rep", "cogs_paid")  # of the lanes booking money month by month (sim.engine.paths)


def accumulators(market: BatchMarket) -> dict[str, np.ndarray]:
    """Per-period sums of the flow, laid out (period, item, draw): a month's slice is one block."""
    structure, size = market.structure, market.size
    acc = {m: np.zeros((structure.NP, structure.L, size)) for m in ACCUMULATED_LANES}
    acc.update({m: np.zeros((structure.NP, structure.C, size)) for m in ACCUMULATED_CELLS})
    n_money = money_lanes(structure, market.params).size
    acc.update({m: np.zeros((structure.NP, n_money, size)) for m in ACCUMULATED_MONEY})
    return acc


class SegmentSum:
    """Sums of consecutive row groups of an (rows, draws) array.

    np.add.reduceat along axis 0 walks each column with a stride of a whole row; here each step
    adds whole contiguous rows (gathered by index), one step per position within a segment."""

    def __init__(self, starts: np.ndarray, n_rows: int) -> None:
        starts = np.asarray(starts, dtype=np.int64)
        lengths = np.diff(np.r_[starts, n_rows])
        self.starts = starts
        self.steps = [(np.flatnonzero(lengths > k), starts[lengths > k] + k)
                      for k in range(1, int(lengths.max(initial=1)))]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(rows, draws) -> (segments, draws) sums."""
        out = x[self.starts]  # a copy (fancy indexing)
        for seg, rows in self.steps:
            out[seg] += x[rows]
        return out


def inv_pos(x: np.ndarray) -> np.ndarray:
    """1/x where x is a normal positive number, else 0 (empty segments; 1/subnormal would be inf).

    Arithmetic, not np.where / masked divide: those are much slower per element."""
    return np.reciprocal(np.maximum(x, 1e-300)) * (x > 1e-300)


def band_shares(afford: np.ndarray, mix: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Wealth bands of one cell: (K, n, B) share of each channel's patients choosing each lane.

    `afford` and `mix` are in the lanes' order from most to least affordable (`order` maps that
    position to the lane). Band j, of width afford_j - afford_(j+1), can pay the j most
    affordable lanes and splits among them by the mix; a lane's share is the sum over the
    bands that can pay it, so it never exceeds afford of that lane."""
    width = afford - np.concatenate([afford[:, 1:], np.zeros_like(afford[:, :1])], axis=1)
    per_mix = width * inv_pos(np.cumsum(mix, axis=1))  # each band's share per unit of mix
    tail = np.cumsum(per_mix[:, ::-1], axis=1)[:, ::-1]  # summed over the bands able to pay
    out = np.empty_like(afford)
    np.put_along_axis(out, order, mix * tail, axis=1)
    return out


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal consecutive keys starts, and each element's run index."""
    if not keys.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).astype(np.int64)
    return starts, np.cumsum(np.r_[0, keys[1:] != keys[:-1]]).astype(np.int64)


class Flow:
    """The numpy monthly flow of one batch, and the arrays derived from the market's state.

    Built at t + 0.5 of month 0, after month 0's events (as the engine's process starts)."""

    def __init__(self, market: BatchMarket) -> None:
        self.market = market
        structure, p, size = market.structure, market.params, market.size
        self.moving = MovingInputs(market)
        self.moving.apply(0)  # month 0's values of the inputs that follow a path
        self.lines = LineFlows(market)
        self.discrepancy = DemandDisturbance(market)
        # lanes in regions with an affordability curve, by segment
        self.aff_ix = np.flatnonzero(p.lane_aff)
        aff_starts, _ = _groups(structure.lane_seg[self.aff_ix])
        self.aff_bounds = np.r_[aff_starts, self.aff_ix.size].astype(np.int64)
        # lanes of capacity-limited products, grouped by product, for the shared queue
        capped = np.isfinite(market.state.capacity).any(axis=0)
        for ev in market.scenario.events.values():  # a capacity event can limit a product that had no limit
            if ev.type == "capacity":
                capped[structure.products.index(ev.product)] = True
        cl = np.flatnonzero(capped[structure.lane_product])
        self.cap_lanes = cl[np.argsort(structure.lane_product[cl], kind="stable")]
        prods = structure.lane_product[self.cap_lanes]
        self.cap_starts, self.cap_seg = _groups(prods)
        self.cap_prods = prods[self.cap_starts] if prods.size else np.zeros(0, np.int64)
        self.cap_bounds = np.r_[self.cap_starts, self.cap_lanes.size].astype(np.int64)
        rm = p.ramp_months.T
        with np.errstate(divide="ignore"):
            self.inv_ramp_T = np.ascontiguousarray(np.where(rm > 0, 1.0 / np.maximum(rm, 1e-300), np.inf))
        self.inertia_T = np.ascontiguousarray(p.inertia.T[structure.lane_cell])
        self.use_inertia = bool((p.inertia > 0).any())
        self.seg_sum = SegmentSum(structure.seg_starts, structure.L)
        self.cap_sum = SegmentSum(self.cap_starts, self.cap_lanes.size)
        self.ages = new_ages(self.cap_lanes.size, size)
        self.log_growth_T = np.log1p(p.growth.T)
        self.hazard_T = np.ascontiguousarray(p.hazard.T[structure.lane_cell])
        self.sites_T = np.ascontiguousarray(p.sites.transpose(2, 1, 0))  # (T, R, B)
        self.succ_T = np.ascontiguousarray(p.success.T[structure.lane_product])
        # rank ** -elasticity for every rank a lane can have, per (cell, rank - 1, draw)
        n = int(np.diff(structure.seg_bounds).max(initial=1))
        self.rank_table = np.ascontiguousarray(
            F.entry_rank_multiplier(np.arange(1.0, n + 1.0)[None, :, None], p.entry_elasticity.T[:, None, :]))
        # the flow's own state: product mix, queues, entry-rank multipliers
        self.mix = by_draw(size, structure.L)
        self.queue = by_draw(size, structure.L)
        self.rank_mult = by_draw(size, structure.L, fill=1.0)
        self.changed = market.state.changed
        self.changed.attractiveness = True
        self.changed.net_price = True
        self._nest_setup()

    def _nest_setup(self) -> None:
        """The segments' Bass pace and the nested choice (sim.engine.structure, docs in the README):
        each class's attractiveness sum, to the power of the cell's nesting parameter, against the
        outside option's weight gives the class's share of the patients its diffusion reached."""
        structure, p = self.market.structure, self.market.params
        sc = structure.seg_cell
        self.neg_pq_seg = -(p.seg_p.T + p.seg_q.T)
        self.seg_region = structure.cell_region[sc]
        self.cell_seg_sum = SegmentSum(_groups(sc)[0], structure.S)  # each cell's segments, summed
        self.nest_segs = np.flatnonzero([bool(k) for k in structure.seg_class]).astype(np.int64)
        starts, _ = _groups(sc[self.nest_segs])
        self.nest_bounds = np.r_[starts, self.nest_segs.size].astype(np.int64)
        self.nest_cells = sc[self.nest_segs[starts]] if self.nest_segs.size else np.zeros(0, np.int64)
        self.nest_sum = SegmentSum(starts, self.nest_segs.size)
        lam = p.nesting.T[sc]  # (S, B); 1 where the cell has no nested choice
        self.seg_lambda_T = np.ascontiguousarray(lam)
        self.seg_pow = np.ascontiguousarray((lam != 1.0).any(axis=1))
        self.seg_inv_lambda_T = np.ascontiguousarray(1.0 / lam)
        self.pow_lanes = np.flatnonzero(self.seg_pow[structure.lane_seg])
        self.outside_T = np.ascontiguousarray(p.outside.T)
        coef = p.price_coef.T[structure.lane_cell] * (~p.lane_aff)[:, None]  # insured markets only
        self.priced = np.flatnonzero((coef != 0).any(axis=1))
        self.price_coef_T = coef[self.priced]
        self.base_T = p.base_attr.T  # x exp(price utility) for the priced lanes (update_attractiveness)

    def class_shares(self, seg_tot: np.ndarray, seg_pool: np.ndarray) -> None:
        """Scale each nested segment's pool by its class's nested-logit share (in place):
        e_k = (sum of its products' attractiveness ** (1 / lambda)) ** lambda, share e_k / (w0 + sum e)."""
        ns = self.nest_segs
        e = seg_tot[ns] ** self.seg_lambda_T[ns]
        denom = self.outside_T[self.nest_cells] + self.nest_sum(e)
        seg_pool[ns] *= e * inv_pos(denom)[np.repeat(np.arange(self.nest_cells.size), np.diff(self.nest_bounds))]

    def price_attractiveness(self) -> None:
        """Base attractiveness x exp(price utility x net price in the reporting currency), where the
        nested choice has a price coefficient (a price change then changes how many are treated)."""
        structure, p, state = self.market.structure, self.market.params, self.market.state
        pl = self.priced
        net_rep = state.price.T[pl] * (1.0 - p.gtn.T[pl]) / p.fx.T[structure.lane_region[pl]]
        base = p.base_attr.T.copy()
        base[pl] *= np.exp(self.price_coef_T * net_rep)
        self.base_T = base

    # ------------------------------------------------------------------ derived from the state
    def refresh(self) -> None:
        """Bring what this month's events changed (entry ranks, access, attractiveness) up to date."""
        ch = self.changed
        if ch.ranks:
            self.update_ranks()
            ch.rank_cells.clear()
            ch.ranks = False
            ch.attractiveness = True
        if ch.access:
            if self.aff_ix.size:
                if ch.affordability:  # launches and withdrawals change only who can reach what
                    self.update_affordability()
                    ch.affordability = False
                self.update_reach()
            ch.access = False
        if self.priced.size and ch.net_price:  # a price change moves the nested choice's utilities
            self.price_attractiveness()
            ch.attractiveness = True
        if ch.attractiveness:
            self.update_attractiveness()
            ch.attractiveness = False

    def update_ranks(self) -> None:
        """Entry rank of each launched product in its cell (ties share a rank), as a multiplier."""
        structure, lt = self.market.structure, self.market.state.launch_t
        elasticity = self.market.params.entry_elasticity
        bounds = list(structure.seg_starts[1:]) + [structure.L]
        for sg, (a, b) in enumerate(zip(structure.seg_starts.tolist(), bounds, strict=True)):
            if int(structure.seg_cell[sg]) not in self.changed.rank_cells:
                continue
            seg = lt[:, a:b]
            rank = 1.0 + (seg[:, None, :] < seg[:, :, None]).sum(axis=2)
            self.rank_mult[:, a:b] = F.entry_rank_multiplier(rank, elasticity[:, structure.seg_cell[sg], None])

    def update_affordability(self) -> None:
        """Share of each payer channel's patients who can pay each lane's out-of-pocket amount,
        (channel, affordable lane, draw); only lanes in regions with an affordability curve."""
        ax, state, p = self.aff_ix, self.market.state, self.market.params
        reg = self.market.structure.lane_region[ax]
        x = state.oop.transpose(2, 1, 0)[:, ax, :] * state.price.T[ax][None, :, :]
        a = F.affordable_share(x, p.aff_median.T[reg][None], p.aff_sigma.T[reg][None])
        self.afford = np.ascontiguousarray(a)  # C order: the compiled kernel has one specialisation

    def update_reach(self) -> None:
        """What the wealth bands need: each channel's share able to pay each available lane (0 if
        not available), the lanes of each cell from most to least affordable, the channel shares."""
        am = np.ascontiguousarray(self.afford * self.market.state.avail.T[self.aff_ix][None, :, :])
        order = np.empty(am.shape, dtype=np.int64)
        for a, z in zip(self.aff_bounds[:-1].tolist(), self.aff_bounds[1:].tolist(), strict=True):
            order[:, a:z] = a + np.argsort(-am[:, a:z], axis=1, kind="stable")
        self.afford_avail, self.band_order = am, order
        self.channel_share = np.ascontiguousarray(self.market.state.share.transpose(2, 1, 0)[:, self.aff_ix, :])

    def affordable_weights(self, mix_T: np.ndarray) -> np.ndarray:
        """(A, B): the share of a cell's addressable patients who choose each lane, where patients
        pay themselves. A channel's patients fall in wealth bands: those able to pay the j most
        affordable lanes but not the next choose among those j by the mix. So no more patients
        choose a lane than can pay for it, and everyone able to pay the cheapest is treated."""
        am, order = self.afford_avail, self.band_order
        m = np.broadcast_to(mix_T[self.aff_ix][None, :, :], am.shape)
        w = np.zeros(am.shape)
        for a, z in zip(self.aff_bounds[:-1].tolist(), self.aff_bounds[1:].tolist(), strict=True):
            o = order[:, a:z]
            w[:, a:z] = band_shares(np.take_along_axis(am, o, axis=1), np.take_along_axis(m, o, axis=1), o - a)
        return (self.channel_share * w).sum(axis=0)

    def update_attractiveness(self) -> None:
        """Attractiveness of what is available; drop-out hazard (1 for what is not)."""
        state, av = self.market.state, self.market.state.avail.T
        self.avail_T = av.astype(float)
        self.attr_T = self.avail_T * self.base_T * self.rank_mult.T * state.safety.T
        self.hazard_eff_T = np.where(av, self.hazard_T, 1.0)

    @property
    def net_price_succ(self) -> np.ndarray:
        """(lanes, draws) net price per manufacturing slot used (only successful products are paid)."""
        if self.changed.net_price:
            self._nps = self.market.state.price.T * (1.0 - self.market.params.gtn.T) * self.succ_T
            self.changed.net_price = False
        return self._nps

    # ------------------------------------------------------------------ the month
    def demand_T(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Month t, steps 1-4: eligible and addressable patients per cell (C, B), demand per lane (L, B)."""
        structure, p, state = self.market.structure, self.market.params, self.market.state
        self.moving.apply(t)
        self.refresh()
        # 1-3: eligible, class uptake (Bass from the first launch in the cell), site access
        growth_t = np.exp(self.log_growth_T * (t / 12.0))
        self.moving.growth_factor(t, growth_t)
        elig = p.eligible0.T * growth_t * (1.0 / 12.0)
        if self.lines.active:  # patients from earlier lines of therapy, launch boluses
            self.lines.update(t)
            elig = self.lines.eligible(elig)
        # 4 (first: the nested choice needs each class's attractiveness): product mix, a logit on
        # attractiveness x entry order x launch ramp within each segment, moving with inertia
        attract = self.attr_T * F.launch_ramp(t - state.launch_t.T, self.inv_ramp_T)
        if self.pow_lanes.size:
            pl = self.pow_lanes
            attract[pl] = attract[pl] ** self.seg_inv_lambda_T[structure.lane_seg[pl]]
        seg_tot = self.seg_sum(attract)
        target = attract * inv_pos(seg_tot)[structure.lane_seg]
        mix_T = self.mix.T
        if self.use_inertia:
            mix = (self.inertia_T * mix_T + (1.0 - self.inertia_T) * target) * self.avail_T
            ctot = self.seg_sum(mix)
            # renormalise; a cell whose mix is empty (first launch) takes the target directly
            mix_T[...] = mix * inv_pos(ctot)[structure.lane_seg] + target * (ctot <= 1e-300)[structure.lane_seg]
        else:
            mix_T[...] = target
        # 2-3 per segment: class uptake (Bass from its first launch in the cell), site access, and
        # under a nested choice the class's share against standard of care
        sc = structure.seg_cell
        tau = (t - state.t0.T + 0.5) * (1.0 / 12.0)  # -inf before the first launch: F(-inf) = F(0) = 0
        seg_pool = elig[sc] * (p.seg_ceiling.T * F.bass_cdf(tau, p.seg_p.T, p.seg_q.T)) * self.sites_T[t][self.seg_region]
        if self.nest_segs.size:
            self.class_shares(seg_tot, seg_pool)
        pool = np.zeros_like(elig)
        if sc.size:
            pool[structure.cell_of_group] = self.cell_seg_sum(seg_pool)
        pool_l = seg_pool[structure.lane_seg]
        demand = pool_l * mix_T
        ax = self.aff_ix
        if ax.size:  # each payer channel's patients choose among the products they can afford
            demand[ax] = pool_l[ax] * self.affordable_weights(mix_T)
        if self.discrepancy.active:  # the model's own error (sim.engine.discrepancy)
            demand *= self.discrepancy.multiplier(t)
        return elig, pool, demand

    def demand(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`demand_T` as (draw, item) views."""
        elig, pool, demand = self.demand_T(t)
        return elig.T, pool.T, demand.T

    def serve_T(self, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 5 on (L, B): queue, capacity shared first come first served by a product's lanes, drop-out."""
        queue = self.queue.T
        q = queue + demand
        served = q * self.avail_T
        rest = q - served
        dropped = rest * self.hazard_eff_T
        queue[...] = rest - dropped
        cl = self.cap_lanes
        if cl.size:  # first come first served across each product's markets (sim.engine.queue)
            served[cl], dropped[cl], queue[cl] = serve_capped(
                self.ages, demand[cl], self.avail_T[cl], self.market.state.capacity.T[self.cap_prods],
                self.hazard_eff_T[cl], self.cap_sum, self.cap_seg)
        return served, dropped, queue

    def month(self, t: int, acc: dict[str, np.ndarray]) -> None:
        """Month t of every draw, added into its period's accumulators."""
        per = self.market.structure.period_of_month[t]
        elig, pool, demand = self.demand_T(t)
        served, dropped, waiting = self.serve_T(demand)
        acc["demand"][per] += demand
        acc["served"][per] += served
        acc["dropped"][per] += dropped
        acc["waiting"][per] = waiting
        acc["revenue_local"][per] += served * self.net_price_succ
        acc["eligible"][per] += elig
        acc["addressable"][per] += pool
        if self.lines.active:
            self.lines.record(t, served * self.succ_T)
        if self.moving.books_money:
            ml = self.moving.money_lanes
            self.moving.book(acc, per, served[ml], self.net_price_succ[ml])

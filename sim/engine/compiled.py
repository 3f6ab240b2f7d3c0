"""The monthly flow of sim.engine.flow, each step one call of a compiled kernel.

The same months as the numpy `Flow` (its reference), in the same order of operations: the
state refreshes give the same bits, the month agrees to rounding (tests/test_kernel.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from typing_extensions import override

from sim.engine import kernels as K
from sim.engine import refresh as R
from sim.engine.flow import Flow

if TYPE_CHECKING:
    from sim.engine.market import BatchMarket


class CompiledFlow(Flow):
    """`Flow` with the refreshes and the month in sim.engine.kernels."""

    def __init__(self, market: BatchMarket) -> None:
        super().__init__(market)
        structure, size = market.structure, market.size
        self.cap_lanes = np.ascontiguousarray(self.cap_lanes, dtype=np.int64)
        self.cap_prods = np.ascontiguousarray(self.cap_prods, dtype=np.int64)
        self.cell_region = np.ascontiguousarray(structure.cell_region, dtype=np.int64)
        self.no_aff = np.zeros((0, 0, size))
        self.no_order = np.zeros((0, 0, size), dtype=np.int64)
        self.depth = np.zeros(self.cap_prods.size, dtype=np.int64)  # the queue's bins in use, per product
        self.growth_t, self.bass_e = np.empty((structure.C, size)), np.empty((structure.S, size))  # scratch, every month
        self.lane_seg = np.ascontiguousarray(structure.lane_seg, dtype=np.int64)
        self.no_disc = np.ones((0, size))
        self.seg_cell = np.ascontiguousarray(structure.seg_cell, dtype=np.int64)
        self.nest = K.Nest(self.seg_pow, self.seg_lambda_T, self.seg_inv_lambda_T, self.nest_segs, self.nest_bounds,
                           np.ascontiguousarray(self.nest_cells, dtype=np.int64), self.outside_T)

    @override
    def update_ranks(self) -> None:
        structure = self.market.structure
        changed = np.zeros(structure.C, dtype=np.bool_)
        changed[list(self.changed.rank_cells)] = True
        R.refresh_ranks(self.market.state.launch_t.T, structure.seg_bounds, structure.seg_cell, changed, self.rank_table,
                        self.rank_mult.T)

    @override
    def update_reach(self) -> None:
        self.afford_avail, self.channel_share = np.empty_like(self.afford), np.empty_like(self.afford)
        self.band_order = np.empty(self.afford.shape, dtype=np.int64)
        R.refresh_reach(self.afford, self.market.state.avail.T, self.aff_ix, self.aff_bounds,
                        self.market.state.share.transpose(2, 1, 0), self.afford_avail, self.band_order,
                        self.channel_share)

    @override
    def update_attractiveness(self) -> None:
        state, av = self.market.state, self.market.state.avail.T
        self.avail_T, self.attr_T, self.hazard_eff_T = (np.empty(av.shape) for _ in range(3))
        R.refresh_attr(av, self.base_T, self.rank_mult.T, state.safety.T, self.hazard_T,
                       self.avail_T, self.attr_T, self.hazard_eff_T)

    @override
    def month(self, t: int, acc: dict[str, np.ndarray]) -> None:
        structure, p, state = self.market.structure, self.market.params, self.market.state
        per = structure.period_of_month[t]
        growth_t, bass_e, no_aff = self.growth_t, self.bass_e, self.no_aff
        # the two exps of the month, vectorised, in the reference's order of operations
        np.multiply(self.log_growth_T, t / 12.0, out=growth_t)
        np.exp(growth_t, out=growth_t)
        self.moving.growth_factor(t, growth_t)
        np.subtract(t, state.t0.T, out=bass_e)
        bass_e += 0.5
        bass_e *= 1.0 / 12.0
        np.maximum(bass_e, 0.0, out=bass_e)  # tau; 0 before the cell's first launch (F = 0)
        bass_e *= self.neg_pq_seg
        np.exp(bass_e, out=bass_e)
        self.moving.apply(t)
        self.refresh()
        aff = self.aff_ix.size > 0
        money, lines = self.moving.books_money, self.lines.active
        if money:  # what this month serves on the lanes booking money month by month
            ml = self.moving.money_lanes
            served_before = acc["served"][per][ml]
        if lines:
            self.lines.update(t)
            served_all = acc["served"][per].copy()
        K.month(
            t,
            K.Cells(p.eligible0.T, growth_t, bass_e, p.seg_ceiling.T, p.seg_p.T, p.seg_q.T, self.sites_T[t],
                    self.cell_region, self.seg_cell, lines, self.lines.extra),
            K.Lanes(self.attr_T, state.launch_t.T, self.inv_ramp_T, self.inertia_T, self.avail_T, self.mix.T,
                    self.lane_seg, structure.seg_bounds, self.discrepancy.active,
                    self.discrepancy.multiplier(t) if self.discrepancy.active else self.no_disc),
            self.use_inertia,
            self.nest,
            K.Access(self.afford_avail if aff else no_aff, self.band_order if aff else self.no_order,
                     self.channel_share if aff else no_aff, self.aff_ix, self.aff_bounds),
            K.Supply(self.cap_lanes, self.cap_bounds, self.cap_prods, state.capacity.T, self.queue.T,
                     self.hazard_eff_T, self.net_price_succ, self.ages, self.depth),
            K.Period(acc["demand"][per], acc["served"][per], acc["dropped"][per], acc["waiting"][per],
                     acc["revenue_local"][per], acc["eligible"][per], acc["addressable"][per]))
        if money:
            self.moving.book(acc, per, acc["served"][per][ml] - served_before, self.net_price_succ[ml])
        if lines:
            self.lines.record(t, (acc["served"][per] - served_all) * self.succ_T)

"""The derived metrics of a batch as one compiled pass a period (numba).

`sim.engine.outputs.derive_numpy` is the readable reference: the same operations in the same
order, so the numbers agree; cell and company sums add lanes in order, so a draw's numbers do
not depend on its batch. Arguments come in named bundles (the NamedTuples below).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sim.vocab import CELL_METRICS, COMPANY_METRICS, LANE_METRICS


@njit(cache=True, nogil=True)
def _group_sum(x, order, starts, rows, out):
    """out[rows[g]] = x[order[starts[g]]] + x[...] + ... (in that order, as np.add.reduceat);
    rows no group reaches stay 0."""
    out[:, :] = 0.0
    B = x.shape[1]
    for g in range(starts.size):
        a = starts[g]
        z = starts[g + 1] if g + 1 < starts.size else order.size
        row = rows[g]
        first = order[a]
        for b in range(B):
            out[row, b] = x[first, b]
        for k in range(a + 1, z):
            lane = order[k]
            for b in range(B):
                out[row, b] += x[lane, b]


class Flows(NamedTuple):
    """The flow's accumulators (period, item, draw)."""

    served: np.ndarray
    revenue_local: np.ndarray
    demand: np.ndarray
    dropped: np.ndarray
    waiting: np.ndarray
    eligible: np.ndarray
    addressable: np.ndarray


class Money(NamedTuple):
    """What turns patients into money: fx (R, B) and lane region (L,), COGS and success (P, B) and
    lane product (L,), the owner's coefficient, the partner's share and royalty (L, B); each
    lane's row (L,) in the revenue and COGS booked month by month (period, rows, B), or -1 for
    a lane whose FX and COGS are constant (sim.engine.paths)."""

    fx: np.ndarray
    lane_region: np.ndarray
    cogs: np.ndarray
    success: np.ndarray
    lane_product: np.ndarray
    owner_coef: np.ndarray
    partner_share: np.ndarray
    royalty: np.ndarray
    money_row: np.ndarray
    revenue_rep: np.ndarray
    cogs_paid: np.ndarray


class Books(NamedTuple):
    """Company-product rows: lanes grouped by owner and by partner (order, starts, rows), deal
    payments (period, row, draw); cells: the lanes of each cell that has lanes (bounds), those cells."""

    own: tuple
    partner: tuple
    deals: np.ndarray
    seg_bounds: np.ndarray
    seg_cell: np.ndarray


class Outputs(NamedTuple):
    """Derived metrics, (metric, period, item, draw) in the output dtype."""

    lanes: np.ndarray
    cells: np.ndarray
    companies: np.ndarray


@njit(cache=True, nogil=True)
def finish(flows, money, books, out):
    """The end of a batch in one pass a period: lane metrics (LANE_METRICS order), cell metrics
    (CELL_METRICS) and company-product metrics (COMPANY_METRICS), computed in float64 with the
    numpy version's operations in its order (sim.engine.outputs), stored in the outputs' dtype."""
    NP, L, B = flows.served.shape
    C = flows.eligible.shape[1]
    CP = out.companies.shape[2]
    shares = np.empty((5, L, B))  # revenue and gross profit of owner and partner, royalty flow
    sums = np.empty((4, CP, B))
    cell_d = np.empty((C, B))
    for p in range(NP):
        _lane_metrics(p, flows, money, out.lanes, shares)
        _cell_metrics(p, flows, books, out.cells, cell_d)
        _company_metrics(p, books, shares, sums, out.companies)


@njit(cache=True, nogil=True)
def _lane_metrics(p, flows, money, lanes_out, shares):
    served, rev_local, demand, dropped, waiting = (flows.served[p], flows.revenue_local[p], flows.demand[p],
                                                   flows.dropped[p], flows.waiting[p])
    fx, lane_region, cogs, succ, lane_product, owner, ps, roy, money_row, rev_rep, cogs_paid = money  # locals: loads hoisted out of the loops
    L, B = served.shape
    for lane in range(L):
        r = lane_region[lane]
        j = lane_product[lane]
        k = money_row[lane]
        for b in range(B):
            sv = served[lane, b]
            rl = rev_local[lane, b]
            rv = rl / fx[r, b] if k < 0 else rev_rep[p, k, b]
            cg = sv * cogs[j, b] if k < 0 else cogs_paid[p, k, b]
            g = rv - cg
            inf = sv * succ[j, b]
            share = ps[lane, b]
            shares[0, lane, b] = rv * (1.0 - share)
            shares[1, lane, b] = rv * share
            shares[2, lane, b] = g * (1.0 - share)
            shares[3, lane, b] = g * share
            shares[4, lane, b] = rv * share * roy[lane, b]
            lanes_out[0, p, lane, b] = demand[lane, b]
            lanes_out[1, p, lane, b] = inf
            lanes_out[2, p, lane, b] = sv - inf
            lanes_out[3, p, lane, b] = dropped[lane, b]
            lanes_out[4, p, lane, b] = waiting[lane, b]
            lanes_out[5, p, lane, b] = rl
            lanes_out[6, p, lane, b] = rv
            lanes_out[7, p, lane, b] = cg
            lanes_out[8, p, lane, b] = g
            lanes_out[9, p, lane, b] = rv * owner[lane, b]


@njit(cache=True, nogil=True)
def _cell_metrics(p, flows, books, cells_out, cell_d):
    demand, eligible, addressable = flows.demand[p], flows.eligible[p], flows.addressable[p]
    seg_bounds, seg_cell = books.seg_bounds, books.seg_cell
    C, B = cell_d.shape
    cell_d[:, :] = 0.0
    for s in range(seg_bounds.size - 1):
        c = seg_cell[s]
        a, z = seg_bounds[s], seg_bounds[s + 1]
        for b in range(B):
            cell_d[c, b] = demand[a, b]
        for lane in range(a + 1, z):
            for b in range(B):
                cell_d[c, b] += demand[lane, b]
    for c in range(C):
        for b in range(B):
            cells_out[0, p, c, b] = eligible[c, b]
            cells_out[1, p, c, b] = addressable[c, b]
            cells_out[2, p, c, b] = cell_d[c, b]
            cells_out[3, p, c, b] = eligible[c, b] - cell_d[c, b]


@njit(cache=True, nogil=True)
def _company_metrics(p, books, shares, sums, comp_out):
    CP, B = sums.shape[1], sums.shape[2]
    own_order, own_starts, own_rows = books.own
    par_order, par_starts, par_rows = books.partner
    s1, s2, k_gp, k_roy = sums[0], sums[1], sums[2], sums[3]
    deals = books.deals[p]
    _group_sum(shares[0], own_order, own_starts, own_rows, s1)
    _group_sum(shares[1], par_order, par_starts, par_rows, s2)
    for k in range(CP):
        for b in range(B):
            comp_out[0, p, k, b] = s1[k, b] + s2[k, b]
    _group_sum(shares[2], own_order, own_starts, own_rows, s1)
    _group_sum(shares[3], par_order, par_starts, par_rows, s2)
    for k in range(CP):
        for b in range(B):
            k_gp[k, b] = s1[k, b] + s2[k, b]
    _group_sum(shares[4], own_order, own_starts, own_rows, s1)
    _group_sum(shares[4], par_order, par_starts, par_rows, s2)
    for k in range(CP):
        for b in range(B):
            k_roy[k, b] = s1[k, b] - s2[k, b]
            d = deals[k, b]
            comp_out[1, p, k, b] = k_gp[k, b]
            comp_out[2, p, k, b] = k_roy[k, b]
            comp_out[3, p, k, b] = d
            comp_out[4, p, k, b] = (k_gp[k, b] + k_roy[k, b]) + d


def warm_up_derive() -> None:
    """Load `finish` from numba's cache with the argument types a batch passes."""
    def f(*shape: int) -> np.ndarray:
        return np.ones(shape)

    def i(*v: int) -> np.ndarray:
        return np.array(v, dtype=np.int64)

    groups = (i(0), i(0), i(0))
    finish(Flows(f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1)),
           Money(f(1, 1), i(0), f(1, 1), f(1, 1), i(0), f(1, 1), f(1, 1), f(1, 1), i(-1), f(1, 0, 1), f(1, 0, 1)),
           Books(groups, groups, f(1, 1, 1), i(0, 1), i(0)),
           Outputs(np.empty((len(LANE_METRICS), 1, 1, 1), np.float32), np.empty((len(CELL_METRICS), 1, 1, 1), np.float32),
                   np.empty((len(COMPANY_METRICS), 1, 1, 1), np.float32)))

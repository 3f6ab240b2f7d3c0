"""The batch engine's monthly flow and derived metrics as compiled loops (numba).

`sim.engine.flow.Flow` is the readable numpy reference of the same month: about sixty
whole-array operations, each a pass over memory with a temporary. Here every draw's month is
computed in one pass with no temporaries, in the same order of operations, so results agree
with the reference to rounding (tests/test_kernel.py) and each draw's numbers do not depend
on the batch it is in. Arrays are (item, draw), contiguous along draws; the innermost loops
run over draws. Arguments come in named bundles (the NamedTuples below), one per part of
the model.
Compiled on first use and cached beside this file (numba's cache), so a process pays only
the loading after the first run on a machine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

TINY = 1e-300  # below this a sum counts as empty (as `sim.engine.flow.inv_pos`)


class Cells(NamedTuple):
    """Cells (C, B): eligible at start, exp(growth x years) and exp(-(p + q) tau) this month (both
    computed by numpy's vectorised exp, as in the reference), Bass ceiling, p and q; the sites
    reach (R, B) this month; each cell's region (C,)."""

    eligible0: np.ndarray
    growth_t: np.ndarray
    bass_e: np.ndarray
    bass_ceiling: np.ndarray
    bass_p: np.ndarray
    bass_q: np.ndarray
    sites_t: np.ndarray
    region: np.ndarray


class Lanes(NamedTuple):
    """Lanes (L, B): attractiveness, launch month, 1 / ramp months, inertia, availability (0/1),
    the product mix (updated); each lane's cell (L,); segments of lanes = cells with lanes."""

    attr: np.ndarray
    launch_t: np.ndarray
    inv_ramp: np.ndarray
    inertia: np.ndarray
    avail: np.ndarray
    mix: np.ndarray
    cell: np.ndarray
    seg_bounds: np.ndarray


class Access(NamedTuple):
    """Payer channels of the lanes in regions with an affordability curve: who can afford each
    lane and each channel's reach x share (K, A, B); those lanes (A,) grouped by cell."""

    afford: np.ndarray
    share_reach: np.ndarray
    lanes: np.ndarray
    bounds: np.ndarray


class Supply(NamedTuple):
    """Capacity-limited lanes grouped by product, their products, capacity (P, B); the queue
    (L, B, updated), drop-out hazard and net price per slot (L, B)."""

    cap_lanes: np.ndarray
    cap_bounds: np.ndarray
    cap_prods: np.ndarray
    capacity: np.ndarray
    queue: np.ndarray
    hazard: np.ndarray
    net_price: np.ndarray


class Period(NamedTuple):
    """This period's accumulators: lanes (L, B) and cells (C, B)."""

    demand: np.ndarray
    served: np.ndarray
    dropped: np.ndarray
    waiting: np.ndarray
    revenue: np.ndarray
    eligible: np.ndarray
    addressable: np.ndarray


@njit(cache=True, nogil=True, error_model="numpy")
def month(t, cells, lanes, use_inertia, access, supply, acc):  # type: ignore[no-untyped-def]
    """One month for every draw: steps 1-5 of the model, added into the period's accumulators."""
    pool = _pool(cells, acc)
    _mix(t, lanes, use_inertia)
    demand = _demand(pool, lanes, access)
    _serve(demand, lanes.avail, supply, acc)


@njit(cache=True, nogil=True, error_model="numpy")
def _pool(cells, acc):  # type: ignore[no-untyped-def]
    """Steps 1-3: eligible patients, class uptake (Bass), site access: the addressable pool (C, B)."""
    C, B = cells.eligible0.shape
    pool = np.empty((C, B))
    for c in range(C):
        r = cells.region[c]
        for b in range(B):
            elig = cells.eligible0[c, b] * cells.growth_t[c, b] * (1.0 / 12.0)
            e = cells.bass_e[c, b]
            f = (1.0 - e) / (1.0 + (cells.bass_q[c, b] / cells.bass_p[c, b]) * e)
            pl = elig * (cells.bass_ceiling[c, b] * f) * cells.sites_t[r, b]
            pool[c, b] = pl
            acc.eligible[c, b] += elig
            acc.addressable[c, b] += pl
    return pool


@njit(cache=True, nogil=True, error_model="numpy")
def _mix(t, lanes, use_inertia):  # type: ignore[no-untyped-def]
    """Step 4: each cell's product mix, the logit target moved towards with inertia (in place)."""
    L, B = lanes.attr.shape
    target = np.empty((L, B))
    tot = np.empty(B)
    mix = lanes.mix
    for s in range(lanes.seg_bounds.size - 1):
        a, z = lanes.seg_bounds[s], lanes.seg_bounds[s + 1]
        _segment_target(t, lanes, a, z, target, tot)
        if use_inertia:
            _segment_inertia(lanes, a, z, target, tot)
        else:
            for l in range(a, z):
                for b in range(B):
                    mix[l, b] = target[l, b]


@njit(cache=True, nogil=True, error_model="numpy")
def _segment_target(t, lanes, a, z, target, tot):  # type: ignore[no-untyped-def]
    """Lanes a..z-1 of one cell: attractiveness x launch ramp, normalised to shares."""
    B = tot.size
    tot[:] = 0.0
    for l in range(a, z):
        for b in range(B):
            ramp = min(max((t - lanes.launch_t[l, b] + 1.0) * lanes.inv_ramp[l, b], 0.0), 1.0)
            v = lanes.attr[l, b] * ramp
            target[l, b] = v
            tot[b] = v if l == a else tot[b] + v
    for b in range(B):
        x = tot[b]
        tot[b] = (1.0 / max(x, TINY)) * (1.0 if x > TINY else 0.0)
    for l in range(a, z):
        for b in range(B):
            target[l, b] = target[l, b] * tot[b]


@njit(cache=True, nogil=True, error_model="numpy")
def _segment_inertia(lanes, a, z, target, tot):  # type: ignore[no-untyped-def]
    """Lanes a..z-1 of one cell: last month's mix kept in part, renormalised (an empty mix, at
    the first launch, takes the target directly)."""
    B = tot.size
    mix = lanes.mix
    for l in range(a, z):
        for b in range(B):
            m = (lanes.inertia[l, b] * mix[l, b] + (1.0 - lanes.inertia[l, b]) * target[l, b]) * lanes.avail[l, b]
            mix[l, b] = m
            tot[b] = m if l == a else tot[b] + m
    for b in range(B):
        x = tot[b]
        inv = (1.0 / max(x, TINY)) * (1.0 if x > TINY else 0.0)
        empty = 1.0 if x <= TINY else 0.0
        for l in range(a, z):
            mix[l, b] = mix[l, b] * inv + target[l, b] * empty


@njit(cache=True, nogil=True, error_model="numpy")
def _demand(pool, lanes, access):  # type: ignore[no-untyped-def]
    """Demand per lane: the pool x the mix; where patients pay themselves, each payer channel's
    patients choose among the products they can afford."""
    L, B = lanes.mix.shape
    mix = lanes.mix
    demand = np.empty((L, B))
    for l in range(L):
        c = lanes.cell[l]
        for b in range(B):
            demand[l, b] = pool[c, b] * mix[l, b]
    ax = access.lanes
    if ax.size:
        w = _affordable_weights(mix, access)
        for j in range(ax.size):
            l = ax[j]
            c = lanes.cell[l]
            for b in range(B):
                demand[l, b] = pool[c, b] * w[j, b]
    return demand


@njit(cache=True, nogil=True, error_model="numpy")
def _affordable_weights(mix, access):  # type: ignore[no-untyped-def]
    """(A, B): sum over channels of reach x share x the mix renormalised among what they can afford."""
    K, A, B = access.afford.shape
    ax, afford = access.lanes, access.afford
    w = np.zeros((A, B))
    den = np.empty(B)
    for k in range(K):
        for s in range(access.bounds.size - 1):
            a, z = access.bounds[s], access.bounds[s + 1]
            for j in range(a, z):
                l = ax[j]
                for b in range(B):
                    v = afford[k, j, b] * mix[l, b]
                    den[b] = v if j == a else den[b] + v
            for b in range(B):
                x = den[b]
                den[b] = (1.0 / max(x, TINY)) * (1.0 if x > TINY else 0.0)
            for j in range(a, z):
                l = ax[j]
                for b in range(B):
                    w[j, b] += access.share_reach[k, j, b] * (afford[k, j, b] * mix[l, b]) * den[b]
    return w


@njit(cache=True, nogil=True, error_model="numpy")
def _serve(demand, avail, supply, acc):  # type: ignore[no-untyped-def]
    """Step 5: queue; a product's capacity is shared by its lanes; drop-out; accumulate."""
    L, B = demand.shape
    queue = supply.queue
    served = np.empty((L, B))
    for l in range(L):
        for b in range(B):
            served[l, b] = (queue[l, b] + demand[l, b]) * avail[l, b]
    _limit_capacity(served, supply)
    for l in range(L):
        for b in range(B):
            d = demand[l, b]
            sv = served[l, b]
            rest = (queue[l, b] + d) - sv
            dr = rest * supply.hazard[l, b]
            qn = rest - dr
            queue[l, b] = qn
            acc.demand[l, b] += d
            acc.served[l, b] += sv
            acc.dropped[l, b] += dr
            acc.waiting[l, b] = qn
            acc.revenue[l, b] += sv * supply.net_price[l, b]


@njit(cache=True, nogil=True, error_model="numpy")
def _limit_capacity(served, supply):  # type: ignore[no-untyped-def]
    """Scale the lanes of each capacity-limited product so they are served at most its capacity."""
    B = served.shape[1]
    cap_lanes = supply.cap_lanes
    for s in range(supply.cap_bounds.size - 1):
        a, z = supply.cap_bounds[s], supply.cap_bounds[s + 1]
        pj = supply.cap_prods[s]
        for b in range(B):
            qp = 0.0
            for j in range(a, z):
                qp = served[cap_lanes[j], b] if j == a else qp + served[cap_lanes[j], b]
            cap = supply.capacity[pj, b]
            if qp > cap:
                ratio = cap / qp
                for j in range(a, z):
                    served[cap_lanes[j], b] = served[cap_lanes[j], b] * ratio


@njit(cache=True, nogil=True)
def refresh_attr(avail, base, rank, safety, hazard, avail_f, attr, hazard_eff):  # type: ignore[no-untyped-def]
    """Flow.update_attractiveness in one pass (the same products in the same order): availability
    as 0/1, attractiveness of what is available, drop-out hazard (1 for what is not)."""
    L, B = avail.shape
    for l in range(L):
        for b in range(B):
            on = avail[l, b]
            a = 1.0 if on else 0.0
            avail_f[l, b] = a
            attr[l, b] = ((a * base[l, b]) * rank[l, b]) * safety[l, b]
            hazard_eff[l, b] = hazard[l, b] if on else 1.0


@njit(cache=True, nogil=True)
def refresh_reach(afford, avail, ax, aff_bounds, share, out):  # type: ignore[no-untyped-def]
    """Flow.update_reach in one pass: for each payer channel and cell, the most
    affordable available lane's affordability, times each lane's channel share (K, A, B)."""
    K, A, B = afford.shape
    for k in range(K):
        for s in range(aff_bounds.size - 1):
            a, z = aff_bounds[s], aff_bounds[s + 1]
            for b in range(B):
                m = afford[k, a, b] * (1.0 if avail[ax[a], b] else 0.0)
                for j in range(a + 1, z):
                    v = afford[k, j, b] * (1.0 if avail[ax[j], b] else 0.0)
                    if v > m or v != v:  # np.maximum: the larger, NaN if either is
                        m = v
                for j in range(a, z):
                    out[k, j, b] = share[k, ax[j], b] * m


@njit(cache=True, nogil=True)
def refresh_ranks(launch_t, seg_bounds, seg_cell, changed, mult, rank_mult):  # type: ignore[no-untyped-def]
    """Flow.update_ranks for the cells in `changed`: a lane's entry rank is 1 + the number
    of lanes of its cell launched strictly earlier (ties share a rank); its multiplier is read
    from `mult[cell, rank - 1, draw]`, the rank ** -elasticity numpy computed per batch."""
    B = launch_t.shape[1]
    for s in range(seg_bounds.size - 1):
        c = seg_cell[s]
        if not changed[c]:
            continue
        a, z = seg_bounds[s], seg_bounds[s + 1]
        for l in range(a, z):
            for b in range(B):
                x = launch_t[l, b]
                r = 0
                for j in range(a, z):
                    if launch_t[j, b] < x:
                        r += 1
                rank_mult[l, b] = mult[c, r, b]


@njit(cache=True, nogil=True)
def _group_sum(x, order, starts, rows, out):  # type: ignore[no-untyped-def]
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
    lane product (L,), the owner's coefficient, the partner's share and royalty (L, B)."""

    fx: np.ndarray
    lane_region: np.ndarray
    cogs: np.ndarray
    success: np.ndarray
    lane_product: np.ndarray
    owner_coef: np.ndarray
    partner_share: np.ndarray
    royalty: np.ndarray


class Books(NamedTuple):
    """Company-product rows: lanes grouped by owner and by partner (order, starts, rows), deal
    payments (period, row, draw); cells: segments of lanes and their cells."""

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
def finish(flows, money, books, out):  # type: ignore[no-untyped-def]
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
def _lane_metrics(p, flows, money, lanes_out, shares):  # type: ignore[no-untyped-def]
    L, B = flows.served.shape[1], flows.served.shape[2]
    for lane in range(L):
        r = money.lane_region[lane]
        j = money.lane_product[lane]
        for b in range(B):
            sv = flows.served[p, lane, b]
            rl = flows.revenue_local[p, lane, b]
            rv = rl / money.fx[r, b]
            cg = sv * money.cogs[j, b]
            g = rv - cg
            inf = sv * money.success[j, b]
            share = money.partner_share[lane, b]
            shares[0, lane, b] = rv * (1.0 - share)
            shares[1, lane, b] = rv * share
            shares[2, lane, b] = g * (1.0 - share)
            shares[3, lane, b] = g * share
            shares[4, lane, b] = rv * share * money.royalty[lane, b]
            lanes_out[0, p, lane, b] = flows.demand[p, lane, b]
            lanes_out[1, p, lane, b] = inf
            lanes_out[2, p, lane, b] = sv - inf
            lanes_out[3, p, lane, b] = flows.dropped[p, lane, b]
            lanes_out[4, p, lane, b] = flows.waiting[p, lane, b]
            lanes_out[5, p, lane, b] = rl
            lanes_out[6, p, lane, b] = rv
            lanes_out[7, p, lane, b] = cg
            lanes_out[8, p, lane, b] = g
            lanes_out[9, p, lane, b] = rv * money.owner_coef[lane, b]


@njit(cache=True, nogil=True)
def _cell_metrics(p, flows, books, cells_out, cell_d):  # type: ignore[no-untyped-def]
    C, B = cell_d.shape
    cell_d[:, :] = 0.0
    for s in range(books.seg_bounds.size - 1):
        c = books.seg_cell[s]
        a, z = books.seg_bounds[s], books.seg_bounds[s + 1]
        for b in range(B):
            cell_d[c, b] = flows.demand[p, a, b]
        for lane in range(a + 1, z):
            for b in range(B):
                cell_d[c, b] += flows.demand[p, lane, b]
    for c in range(C):
        for b in range(B):
            cells_out[0, p, c, b] = flows.eligible[p, c, b]
            cells_out[1, p, c, b] = flows.addressable[p, c, b]
            cells_out[2, p, c, b] = cell_d[c, b]
            cells_out[3, p, c, b] = flows.eligible[p, c, b] - cell_d[c, b]


@njit(cache=True, nogil=True)
def _company_metrics(p, books, shares, sums, comp_out):  # type: ignore[no-untyped-def]
    CP, B = sums.shape[1], sums.shape[2]
    own_order, own_starts, own_rows = books.own
    par_order, par_starts, par_rows = books.partner
    s1, s2, k_gp, k_roy = sums[0], sums[1], sums[2], sums[3]
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
            d = books.deals[p, k, b]
            comp_out[1, p, k, b] = k_gp[k, b]
            comp_out[2, p, k, b] = k_roy[k, b]
            comp_out[3, p, k, b] = d
            comp_out[4, p, k, b] = (k_gp[k, b] + k_roy[k, b]) + d


def warm_up_engine() -> None:
    """Load every engine kernel from numba's cache with the argument types a batch passes (tiny
    arrays), so a worker pays the loading while the parent still reads the scenario.
    tests/test_kernel.py checks that a real batch then adds no new specialisation."""
    def f(*shape: int) -> np.ndarray:
        return np.ones(shape)

    def i(*v: int) -> np.ndarray:
        return np.array(v, dtype=np.int64)

    month(0, Cells(f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), i(0)),
          Lanes(f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), i(0), i(0, 1)), False,
          Access(np.zeros((0, 0, 1)), np.zeros((0, 0, 1)), i(), i(0)),
          Supply(i(), i(0), i(), f(1, 1), f(1, 1), f(1, 1), f(1, 1)),
          Period(f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1)))
    on = np.ones((1, 1), np.bool_)
    refresh_attr(on, f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1))
    refresh_reach(f(1, 1, 1), on, i(0), i(0, 1), f(1, 1, 1), f(1, 1, 1))
    refresh_ranks(f(1, 1), i(0, 1), i(0), on[0], f(1, 1, 1), f(1, 1))
    groups = (i(0), i(0), i(0))
    finish(Flows(f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1)),
           Money(f(1, 1), i(0), f(1, 1), f(1, 1), i(0), f(1, 1), f(1, 1), f(1, 1)),
           Books(groups, groups, f(1, 1, 1), i(0, 1), i(0)),
           Outputs(np.empty((10, 1, 1, 1), np.float32), np.empty((4, 1, 1, 1), np.float32),
                   np.empty((5, 1, 1, 1), np.float32)))

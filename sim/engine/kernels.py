"""The batch engine's monthly flow as compiled loops (numba); derived metrics: sim.engine.derive.

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

from sim.engine.queue_kernel import serve_capped_lanes

TINY = 1e-300  # below this a sum counts as empty (as `sim.engine.flow.inv_pos`)


@njit(cache=True, nogil=True, inline="always")
def _inv_pos(x):
    """1 / x for a sum x that is not empty, else 0 (as `sim.engine.flow.inv_pos`)."""
    return (1.0 / max(x, TINY)) * (1.0 if x > TINY else 0.0)


class Cells(NamedTuple):
    """Cells (C, B): eligible at start, exp(growth x years) this month; segments (S, B):
    exp(-(p + q) tau) this month (both exps computed by numpy, as in the reference), Bass
    ceiling, p and q; the sites reach (R, B) this month; each cell's region (C,), each
    segment's cell (S,); whether there are extra eligible patients (C, B) from earlier lines of
    therapy and launch boluses this month (sim.engine.lines), and those."""

    eligible0: np.ndarray
    growth_t: np.ndarray
    bass_e: np.ndarray
    bass_ceiling: np.ndarray
    bass_p: np.ndarray
    bass_q: np.ndarray
    sites_t: np.ndarray
    region: np.ndarray
    seg_cell: np.ndarray
    has_extra: bool
    extra: np.ndarray


class Nest(NamedTuple):
    """The nested choice: per segment (S,) whether its attractiveness is raised to 1 / lambda and
    (S, B) lambda and 1 / lambda; the nested segments (N,) grouped by cell (bounds), each group's
    cell; the outside option's weight per cell (C, B)."""

    seg_pow: np.ndarray
    lam: np.ndarray
    inv_lam: np.ndarray
    segs: np.ndarray
    bounds: np.ndarray
    cells: np.ndarray
    outside: np.ndarray


class Lanes(NamedTuple):
    """Lanes (L, B): attractiveness, launch month, 1 / ramp months, inertia, availability (0/1),
    the product mix (updated); each lane's segment (L,); the segments' lane bounds; whether
    demand is multiplied by the model-discrepancy factor (L, B) this month, and that factor."""

    attr: np.ndarray
    launch_t: np.ndarray
    inv_ramp: np.ndarray
    inertia: np.ndarray
    avail: np.ndarray
    mix: np.ndarray
    seg: np.ndarray
    seg_bounds: np.ndarray
    has_disc: bool
    disc: np.ndarray


class Access(NamedTuple):
    """Payer channels of the lanes in regions with an affordability curve (K, A, B): the share
    able to pay each available lane, each cell's lanes from most to least affordable, each
    channel's share of patients; those lanes (A,) grouped by cell."""

    afford: np.ndarray
    order: np.ndarray
    share: np.ndarray
    lanes: np.ndarray
    bounds: np.ndarray


class Supply(NamedTuple):
    """Capacity-limited lanes grouped by product, their products, capacity (P, B); the queue
    (L, B, updated), drop-out hazard and net price per slot (L, B); the capacity-limited lanes'
    queue by months waited (WAIT_BINS, capacity-limited lanes, B) and how many of each product's
    youngest bins hold anyone (products,); both updated (sim.engine.queue_kernel)."""

    cap_lanes: np.ndarray
    cap_bounds: np.ndarray
    cap_prods: np.ndarray
    capacity: np.ndarray
    queue: np.ndarray
    hazard: np.ndarray
    net_price: np.ndarray
    ages: np.ndarray
    depth: np.ndarray


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
def month(t, cells, lanes, use_inertia, nest, access, supply, acc):
    """One month for every draw: steps 1-5 of the model, added into the period's accumulators."""
    seg_tot = _mix(t, lanes, use_inertia, nest)
    pool = _pool(cells, nest, seg_tot, acc)
    demand = _demand(pool, lanes, access)
    _serve(t, demand, lanes.avail, supply, acc)


@njit(cache=True, nogil=True, error_model="numpy")
def _pool(cells, nest, seg_tot, acc):
    """Steps 1-3: eligible patients, class uptake (Bass), site access and, under a nested choice,
    the class's share against standard of care: the addressable pool of each segment (S, B)."""
    e0, growth_t, bass_e, bm, bp, bq, sites_t, region, seg_cell, has_extra, extra = cells  # locals: loads hoisted
    acc_eligible, acc_addressable = acc.eligible, acc.addressable
    C, B = e0.shape
    S = bm.shape[0]
    pool = np.empty((S, B))
    for c in range(C):
        for b in range(B):
            elig = e0[c, b] * growth_t[c, b] * (1.0 / 12.0)
            if has_extra:
                elig = max(elig + extra[c, b], 0.0)
            acc_eligible[c, b] += elig
    for s in range(S):
        c = seg_cell[s]
        r = region[c]
        for b in range(B):
            elig = e0[c, b] * growth_t[c, b] * (1.0 / 12.0)
            if has_extra:
                elig = max(elig + extra[c, b], 0.0)
            e = bass_e[s, b]
            f = (1.0 - e) / (1.0 + (bq[s, b] / bp[s, b]) * e)
            pool[s, b] = elig * (bm[s, b] * f) * sites_t[r, b]
    if nest.segs.size:
        _class_shares(nest, seg_tot, pool)
    for s in range(S):
        c = seg_cell[s]
        for b in range(B):
            acc_addressable[c, b] += pool[s, b]
    return pool


@njit(cache=True, nogil=True, error_model="numpy")
def _class_shares(nest, seg_tot, pool):
    """Flow.class_shares: each nested segment's pool x e_k / (w0 + sum of its cell's e)."""
    segs, bounds, lam, outside = nest.segs, nest.bounds, nest.lam, nest.outside
    B = pool.shape[1]
    e = np.empty((segs.size, B))
    denom = np.empty(B)
    for g in range(bounds.size - 1):
        a, z = bounds[g], bounds[g + 1]
        c = nest.cells[g]
        for k in range(a, z):
            s = segs[k]
            for b in range(B):
                e[k, b] = seg_tot[s, b] ** lam[s, b]
                denom[b] = e[k, b] if k == a else denom[b] + e[k, b]
        for b in range(B):
            denom[b] = _inv_pos(outside[c, b] + denom[b])
        for k in range(a, z):
            s = segs[k]
            for b in range(B):
                pool[s, b] *= e[k, b] * denom[b]


@njit(cache=True, nogil=True, error_model="numpy")
def _mix(t, lanes, use_inertia, nest):
    """Step 4: each segment's product mix, the logit target moved towards with inertia (in place);
    returns each segment's attractiveness sum (S, B), which the nested choice needs."""
    L, B = lanes.attr.shape
    target = np.empty((L, B))
    tot = np.empty(B)
    mix, seg_bounds = lanes.mix, lanes.seg_bounds
    seg_tot = np.empty((seg_bounds.size - 1, B))
    for s in range(seg_bounds.size - 1):
        a, z = seg_bounds[s], seg_bounds[s + 1]
        _segment_target(t, lanes.attr, lanes.launch_t, lanes.inv_ramp, a, z, target, tot,
                        nest.seg_pow[s], nest.inv_lam[s], seg_tot[s])
        if use_inertia:
            _segment_inertia(lanes.inertia, lanes.avail, mix, a, z, target, tot)
        else:
            for l in range(a, z):
                for b in range(B):
                    mix[l, b] = target[l, b]
    return seg_tot


@njit(cache=True, nogil=True, error_model="numpy")
def _segment_target(t, attr, launch_t, inv_ramp, a, z, target, tot, pow_, inv_lam, seg_tot):
    """Lanes a..z-1 of one segment: attractiveness x launch ramp (** 1 / lambda under a nested
    choice), normalised to shares; the sum before normalising goes to seg_tot (B,)."""
    B = tot.size
    tot[:] = 0.0
    for l in range(a, z):
        for b in range(B):
            ramp = min(max((t - launch_t[l, b] + 1.0) * inv_ramp[l, b], 0.0), 1.0)
            v = attr[l, b] * ramp
            if pow_:
                v = v ** inv_lam[b]
            target[l, b] = v
            tot[b] = v if l == a else tot[b] + v
    for b in range(B):
        x = tot[b]
        seg_tot[b] = x
        tot[b] = _inv_pos(x)
    for l in range(a, z):
        for b in range(B):
            target[l, b] = target[l, b] * tot[b]


@njit(cache=True, nogil=True, error_model="numpy")
def _segment_inertia(inertia, avail, mix, a, z, target, tot):
    """Lanes a..z-1 of one cell: last month's mix kept in part, renormalised (an empty mix, at
    the first launch, takes the target directly)."""
    B = tot.size
    for l in range(a, z):
        for b in range(B):
            m = (inertia[l, b] * mix[l, b] + (1.0 - inertia[l, b]) * target[l, b]) * avail[l, b]
            mix[l, b] = m
            tot[b] = m if l == a else tot[b] + m
    for b in range(B):
        x = tot[b]
        inv = _inv_pos(x)
        empty = 1.0 if x <= TINY else 0.0
        for l in range(a, z):
            mix[l, b] = mix[l, b] * inv + target[l, b] * empty


@njit(cache=True, nogil=True, error_model="numpy")
def _demand(pool, lanes, access):
    """Demand per lane: the pool x the mix; where patients pay themselves, each payer channel's
    patients choose among the products they can afford."""
    L, B = lanes.mix.shape
    mix, lane_seg = lanes.mix, lanes.seg
    demand = np.empty((L, B))
    for l in range(L):
        s = lane_seg[l]
        for b in range(B):
            demand[l, b] = pool[s, b] * mix[l, b]
    ax = access.lanes
    if ax.size:
        w = _affordable_weights(mix, access)
        for j in range(ax.size):
            l = ax[j]
            s = lane_seg[l]
            for b in range(B):
                demand[l, b] = pool[s, b] * w[j, b]
    if lanes.has_disc:  # the model's own error (sim.engine.discrepancy)
        disc = lanes.disc
        for l in range(L):
            for b in range(B):
                demand[l, b] *= disc[l, b]
    return demand


@njit(cache=True, nogil=True, error_model="numpy")
def _affordable_weights(mix, access):
    """(A, B): Flow.affordable_weights: each channel's wealth bands (those able to pay the j most
    affordable lanes) split by the mix among the lanes they can pay, summed over channels."""
    afford, order, share, ax, bounds = access.afford, access.order, access.share, access.lanes, access.bounds
    K, A, B = afford.shape
    w = np.zeros((A, B))
    cum, ms, at = np.empty((A, B)), np.empty((A, B)), np.empty((A + 1, B))
    tail = np.empty(B)
    for k in range(K):
        for s in range(bounds.size - 1):
            a, z = bounds[s], bounds[s + 1]
            for r in range(a, z):  # sorted: the mix and affordability of the r-th most affordable lane
                for b in range(B):
                    j = order[k, r, b]
                    m = mix[ax[j], b]
                    ms[r, b] = m
                    at[r, b] = afford[k, j, b]
                    cum[r, b] = m if r == a else cum[r - 1, b] + m
            for b in range(B):
                tail[b] = 0.0
                at[z, b] = 0.0
            for r in range(z - 1, a - 1, -1):  # bands from the richest down
                for b in range(B):
                    x = cum[r, b]
                    tail[b] += (at[r, b] - at[r + 1, b]) * _inv_pos(x)
                    j = order[k, r, b]
                    w[j, b] += share[k, j, b] * (ms[r, b] * tail[b])
    return w


@njit(cache=True, nogil=True, error_model="numpy")
def _serve(t, demand, avail, supply, acc):
    """Step 5: queue; a product's capacity is shared by its lanes; drop-out; accumulate."""
    L, B = demand.shape
    queue, hazard, nps = supply.queue, supply.hazard, supply.net_price
    acc_demand, acc_served, acc_dropped, acc_waiting, acc_revenue = acc.demand, acc.served, acc.dropped, acc.waiting, acc.revenue
    served, dropped = np.empty((L, B)), np.empty((L, B))
    for l in range(L):
        for b in range(B):
            sv = (queue[l, b] + demand[l, b]) * avail[l, b]
            rest = (queue[l, b] + demand[l, b]) - sv
            dr = rest * hazard[l, b]
            served[l, b] = sv
            dropped[l, b] = dr
            queue[l, b] = rest - dr
    if supply.cap_lanes.size:  # first come first served across each product's markets
        serve_capped_lanes(t, demand, avail, supply, served, dropped, queue)
    for l in range(L):
        for b in range(B):
            sv = served[l, b]
            acc_demand[l, b] += demand[l, b]
            acc_served[l, b] += sv
            acc_dropped[l, b] += dropped[l, b]
            acc_waiting[l, b] = queue[l, b]
            acc_revenue[l, b] += sv * nps[l, b]


def warm_up_engine() -> None:
    """Load every engine kernel from numba's cache with the argument types a batch passes (tiny
    arrays), so a worker pays the loading while the parent still reads the scenario.
    tests/test_kernel.py checks that a real batch then adds no new specialisation."""
    def f(*shape: int) -> np.ndarray:
        return np.ones(shape)

    def i(*v: int) -> np.ndarray:
        return np.array(v, dtype=np.int64)

    month(0, Cells(f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), i(0), i(0), False, f(1, 1)),
          Lanes(f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), i(0), i(0, 1), False, f(1, 1)), False,
          Nest(np.zeros(1, np.bool_), f(1, 1), f(1, 1), i(), i(0), i(), f(1, 1)),
          Access(np.zeros((0, 0, 1)), np.zeros((0, 0, 1), np.int64), np.zeros((0, 0, 1)), i(), i(0)),
          Supply(i(), i(0), i(), f(1, 1), f(1, 1), f(1, 1), f(1, 1), np.zeros((2, 0, 1)), i()),
          Period(f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1)))
    on = np.ones((1, 1), np.bool_)
    from sim.engine.refresh import refresh_attr, refresh_ranks, refresh_reach

    refresh_attr(on, f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1))
    refresh_reach(f(1, 1, 1), on, i(0), i(0, 1), f(1, 1, 1), f(1, 1, 1), np.zeros((1, 1, 1), np.int64), f(1, 1, 1))
    refresh_ranks(f(1, 1), i(0, 1), i(0), on[0], f(1, 1, 1), f(1, 1))
    from sim.engine.derive import warm_up_derive

    warm_up_derive()

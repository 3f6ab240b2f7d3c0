"""sim.engine.queue's month, compiled: the capacity-limited lanes served first come first
served across each product's markets.

The same rule as the numpy version, laid out so that the loops over draws stay innermost and
nothing moves: the bins are a ring (the arrivals of month m sit in bin m mod WAIT_BINS) aged in
place, and each product remembers how many of its youngest bins hold anyone (`depth`), so
months where capacity does not bind touch only the new patients. Skipped bins are exactly
zero, so results agree with numpy to rounding (drop-outs are summed in another order).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def serve_capped_lanes(t, demand, avail, supply, served, dropped, waiting):  # pragma: no cover - compiled
    """Overwrite served, dropped and waiting (L, B) of the capacity-limited lanes; age the queue."""
    bounds, depth = supply.cap_bounds, supply.depth
    B = demand.shape[1]
    new_rest = np.empty((supply.cap_lanes.size, B))
    scratch = np.empty((5, B))
    for s in range(bounds.size - 1):
        _serve_product(t, s, demand, avail, supply, served, new_rest, scratch)
        depth[s] = _age_product(t, s, supply, new_rest, dropped, waiting, scratch)


@njit(cache=True, nogil=True, error_model="numpy")
def _serve_product(t, s, demand, avail, supply, served, new_rest, scratch):  # pragma: no cover - compiled
    """The product's slots to the longest waits first, this month's patients last."""
    cl, ages = supply.cap_lanes, supply.ages
    a0, z, pj, n = supply.cap_bounds[s], supply.cap_bounds[s + 1], supply.cap_prods[s], supply.depth[s]
    A, B = ages.shape[0], demand.shape[1]
    left, tot, ratio = scratch[0], scratch[1], scratch[2]
    for b in range(B):
        left[b] = supply.capacity[pj, b]
    for j in range(a0, z):
        for b in range(B):
            served[cl[j], b] = 0.0
            new_rest[j, b] = demand[cl[j], b]
    for waited in range(n, -1, -1):  # this month's patients are `waited` 0
        slot = (t - waited) % A
        for j in range(a0, z):
            l = cl[j]
            for b in range(B):
                x = (ages[slot, j, b] if waited > 0 else demand[l, b]) * avail[l, b]
                tot[b] = x if j == a0 else tot[b] + x
        room = False
        for b in range(B):
            take = min(tot[b], left[b])
            ratio[b] = take / tot[b] if tot[b] > take else 1.0
            left[b] -= take
            room = room or left[b] > 0.0
        for j in range(a0, z):
            l = cl[j]
            for b in range(B):
                sv = ((ages[slot, j, b] if waited > 0 else demand[l, b]) * avail[l, b]) * ratio[b]
                served[l, b] += sv
                if waited > 0:
                    ages[slot, j, b] -= sv
                else:
                    new_rest[j, b] -= sv
        if not room:  # no slot left in any draw: younger waits get nothing this month
            break


@njit(cache=True, nogil=True, error_model="numpy")
def _age_product(t, s, supply, new_rest, dropped, waiting, scratch):  # pragma: no cover - compiled
    """Drop-out, then everyone waits one month more; the product's new depth."""
    cl, ages, hazard = supply.cap_lanes, supply.ages, supply.hazard
    a0, z, n = supply.cap_bounds[s], supply.cap_bounds[s + 1], supply.depth[s]
    A, B = ages.shape[0], new_rest.shape[1]
    dr, w = scratch[3], scratch[4]
    deepest, fresh = 0, False
    oldest = t % A  # waited A months (or more) if the ring is full; this month's bin next
    for j in range(a0, z):
        l = cl[j]
        for b in range(B):
            dr[b] = 0.0
            w[b] = 0.0
        for waited in range(1, n + 1):
            slot = (t - waited) % A
            full = False
            for b in range(B):
                x = ages[slot, j, b]
                d = x * hazard[l, b]
                dr[b] += d
                ages[slot, j, b] = x - d
                w[b] += x - d
                full = full or x - d != 0.0
            if full and waited > deepest:
                deepest = waited
        for b in range(B):
            if n == A:  # the longest wait joins the next longest
                ages[(t + 1) % A, j, b] = ages[(t + 1) % A, j, b] + ages[oldest, j, b]
            nr = new_rest[j, b]
            d = nr * hazard[l, b]
            ages[oldest, j, b] = nr - d
            fresh = fresh or nr - d != 0.0
            dropped[l, b] = dr[b] + d
            waiting[l, b] = w[b] + (nr - d)
    return min(A, deepest + 1) if deepest > 0 else (1 if fresh else 0)

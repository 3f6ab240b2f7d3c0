"""The compiled refreshes of what a month's events changed (numba): attractiveness, payer reach
and entry ranks, each the one-pass version of a `sim.engine.flow.Flow` method (same bits)."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def refresh_attr(avail, base, rank, safety, hazard, avail_f, attr, hazard_eff):
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
def refresh_reach(afford, avail, ax, aff_bounds, share, afford_avail, order, channel_share):
    """Flow.update_reach in one pass: the share able to pay each available lane, each cell's
    lanes sorted from most to least affordable (stable, as numpy's), the channel shares."""
    K, A, B = afford.shape
    for k in range(K):
        for s in range(aff_bounds.size - 1):
            a, z = aff_bounds[s], aff_bounds[s + 1]
            for b in range(B):
                for j in range(a, z):
                    v = afford[k, j, b] * (1.0 if avail[ax[j], b] else 0.0)
                    afford_avail[k, j, b] = v
                    channel_share[k, j, b] = share[k, ax[j], b]
                    r = j  # insertion sort, descending; equal values keep their lane order
                    while r > a and afford_avail[k, order[k, r - 1, b], b] < v:
                        order[k, r, b] = order[k, r - 1, b]
                        r -= 1
                    order[k, r, b] = j


@njit(cache=True, nogil=True)
def refresh_ranks(launch_t, seg_bounds, seg_cell, changed, mult, rank_mult):
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

"""The batch engine's monthly flow as one compiled loop (numba).

`BatchSim._demand_T` and `BatchSim._serve_T` are the readable numpy reference of the same
month: about sixty whole-array operations, each a pass over memory with a temporary. Here
every draw's month is computed in one pass with no temporaries, in the same order of
operations, so results agree with the reference to rounding (tests/test_kernel.py) and
each draw's numbers do not depend on the batch it is in. Arrays are (item, draw), contiguous
along draws; the innermost loops run over draws. `group_rows` adds up the summary's groups in
a fixed order, for the same reason.

Compiled on first use and cached beside this file (numba's cache), so a process pays only
the loading (~0.5 s with numba's import) after the first run on a machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TINY = 1e-300  # below this a sum counts as empty (as `_inv_pos`)


@njit(cache=True, nogil=True, error_model="numpy")
def month(
    t: int,
    # cells (C, B): eligible at start, exp(growth x years) and exp(-(p + q) tau) this month (both
    # computed by numpy's vectorised exp, as in the reference), Bass ceiling and p, q; region (C,)
    e0, growth_t, bass_e, bm, bp, bq, sites_t, cell_region,
    # lanes (L, B) and their cell (L,); segments of consecutive lanes = cells with lanes
    attr, launch_t, inv_ramp, inertia, avail, use_inertia, comp, lane_cell, seg_bounds,
    # payer channels of lanes in regions with an affordability curve: (K, A, B), lanes ax (A,)
    afford, share_reach, ax, aff_bounds,
    # capacity: lanes of limited products grouped by product, their product, capacity (P, B)
    cap_lanes, cap_bounds, cap_prods, capacity,
    # queue (L, B, updated), drop-out hazard and net price per slot (L, B)
    queue, hazard_eff, nps,
    # this period's accumulators
    acc_demand, acc_served, acc_dropped, acc_waiting, acc_revenue, acc_eligible, acc_addressable,
) -> None:
    """One month for every draw: steps 1-5 of MODEL.md, added into the period's accumulators."""
    C, B = e0.shape
    L = attr.shape[0]
    pool = np.empty((C, B))
    for c in range(C):
        r = cell_region[c]
        for b in range(B):
            elig = e0[c, b] * growth_t[c, b] * (1.0 / 12.0)
            e = bass_e[c, b]
            f = (1.0 - e) / (1.0 + (bq[c, b] / bp[c, b]) * e)
            pl = elig * (bm[c, b] * f) * sites_t[r, b]
            pool[c, b] = pl
            acc_eligible[c, b] += elig
            acc_addressable[c, b] += pl

    # 4: product mix per cell (segment of lanes)
    target = np.empty((L, B))
    tot = np.empty(B)
    for s in range(seg_bounds.size - 1):
        a, z = seg_bounds[s], seg_bounds[s + 1]
        tot[:] = 0.0
        for l in range(a, z):
            for b in range(B):
                ramp = min(max((t - launch_t[l, b] + 1.0) * inv_ramp[l, b], 0.0), 1.0)
                v = attr[l, b] * ramp
                target[l, b] = v
                tot[b] = v if l == a else tot[b] + v
        for b in range(B):
            x = tot[b]
            tot[b] = (1.0 / max(x, TINY)) * (1.0 if x > TINY else 0.0)
        for l in range(a, z):
            for b in range(B):
                target[l, b] = target[l, b] * tot[b]
        if use_inertia:
            for l in range(a, z):
                for b in range(B):
                    m = (inertia[l, b] * comp[l, b] + (1.0 - inertia[l, b]) * target[l, b]) * avail[l, b]
                    comp[l, b] = m
                    tot[b] = m if l == a else tot[b] + m
            for b in range(B):
                x = tot[b]
                inv = (1.0 / max(x, TINY)) * (1.0 if x > TINY else 0.0)
                empty = 1.0 if x <= TINY else 0.0
                for l in range(a, z):
                    comp[l, b] = comp[l, b] * inv + target[l, b] * empty
        else:
            for l in range(a, z):
                for b in range(B):
                    comp[l, b] = target[l, b]

    demand = np.empty((L, B))
    for l in range(L):
        c = lane_cell[l]
        for b in range(B):
            demand[l, b] = pool[c, b] * comp[l, b]

    # each payer channel's patients choose among the products they can afford
    K = afford.shape[0]
    if ax.size:
        w = np.zeros((ax.size, B))
        den = np.empty(B)
        for k in range(K):
            for s in range(aff_bounds.size - 1):
                a, z = aff_bounds[s], aff_bounds[s + 1]
                for j in range(a, z):
                    l = ax[j]
                    for b in range(B):
                        v = afford[k, j, b] * comp[l, b]
                        den[b] = v if j == a else den[b] + v
                for b in range(B):
                    x = den[b]
                    den[b] = (1.0 / max(x, TINY)) * (1.0 if x > TINY else 0.0)
                for j in range(a, z):
                    l = ax[j]
                    for b in range(B):
                        w[j, b] += share_reach[k, j, b] * (afford[k, j, b] * comp[l, b]) * den[b]
        for j in range(ax.size):
            l = ax[j]
            c = lane_cell[l]
            for b in range(B):
                demand[l, b] = pool[c, b] * w[j, b]

    # 5: queue; a product's capacity is shared first come first served by its lanes; drop-out
    served = np.empty((L, B))
    for l in range(L):
        for b in range(B):
            served[l, b] = (queue[l, b] + demand[l, b]) * avail[l, b]
    for s in range(cap_bounds.size - 1):
        a, z = cap_bounds[s], cap_bounds[s + 1]
        pj = cap_prods[s]
        for b in range(B):
            qp = 0.0
            for j in range(a, z):
                qp = served[cap_lanes[j], b] if j == a else qp + served[cap_lanes[j], b]
            cap = capacity[pj, b]
            if qp > cap:
                ratio = cap / qp
                for j in range(a, z):
                    served[cap_lanes[j], b] = served[cap_lanes[j], b] * ratio
    for l in range(L):
        for b in range(B):
            d = demand[l, b]
            sv = served[l, b]
            rest = (queue[l, b] + d) - sv
            dr = rest * hazard_eff[l, b]
            qn = rest - dr
            queue[l, b] = qn
            acc_demand[l, b] += d
            acc_served[l, b] += sv
            acc_dropped[l, b] += dr
            acc_waiting[l, b] = qn
            acc_revenue[l, b] += sv * nps[l, b]


@njit(cache=True, nogil=True)
def group_rows(xt, order, starts, out, col0):
    """Group sums for summary.csv: xt (periods, items, draws) float32 as stored; group g adds
    items order[starts[g]:starts[g + 1]] in float64, in that order, into out[g * periods + p,
    col0 + draw] (float32). One fixed order per group: a draw's sums do not depend on which
    draws share its batch, so run-time aggregates and a later re-summary agree bit for bit."""
    NP, N = xt.shape[0], xt.shape[2]
    G = starts.size
    acc = np.empty(N)
    for g in range(G):
        a = starts[g]
        z = starts[g + 1] if g + 1 < G else order.size
        for p in range(NP):
            acc[:] = 0.0
            for j in range(a, z):
                it = order[j]
                for n in range(N):
                    acc[n] += xt[p, it, n]
            row = g * NP + p
            for n in range(N):
                out[row, col0 + n] = acc[n]


@njit(cache=True, nogil=True, inline="always")
def _sum8(v, m, square):
    """sum(v - m) (or its squares) in float64 over 8 interleaved partial sums, added in a fixed
    order: one result per row whatever the batching, and 8 additions in flight instead of 1."""
    a = np.zeros(8)
    n8 = v.size - v.size % 8
    for i in range(0, n8, 8):
        for j in range(8):
            d = v[i + j] - m
            a[j] += d * d if square else d
    t = 0.0
    for i in range(n8, v.size):
        d = v[i] - m
        t += d * d if square else d
    return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) + t


BUCKETS = 1024  # radix buckets a pass in row_stats: ~10 draws a bucket at 10,000 draws
SMALL = 64  # a bucket this small is sorted rather than split again


@njit(cache=True, nogil=True, inline="always")
def _flkey(b):
    """float32 bits (as an integer) -> an integer key in the floats' order, and back again."""
    return b if b >= 0 else b ^ 0x7FFFFFFF


@njit(cache=True, nogil=True)
def _split(src, dst, lo, hi, kmin, shift, starts):
    """Counting sort of src[lo:hi] into dst[lo:hi] by (key - kmin) >> shift; bucket b then
    holds dst[starts[b]:starts[b + 1]] (absolute positions)."""
    starts[:] = 0
    for i in range(lo, hi):
        starts[((src[i] - kmin) >> shift) + 1] += 1
    starts[0] = lo
    for b in range(BUCKETS):
        starts[b + 1] += starts[b]
    fill = starts[:BUCKETS].copy()
    for i in range(lo, hi):
        b = (src[i] - kmin) >> shift
        dst[fill[b]] = src[i]
        fill[b] += 1


@njit(cache=True, nogil=True, inline="always")
def _shift(kmin, kmax):
    shift = 0
    while ((kmax - kmin) >> shift) >= BUCKETS:
        shift += 1
    return shift


@njit(cache=True, nogil=True)
def row_stats(x, ranks, mean, sd, vals):
    """Mean, sd (ddof 1) and the order statistics `ranks` (ascending) of each row of x (rows,
    draws) float32, without sorting whole rows: the summary needs ~20 ranks of 10,000 draws.

    Each row's values are split into ~1,000 buckets by an integer key that orders like the
    floats (a counting sort); a bucket holding wanted ranks is split once more by its own key
    range, and only the small buckets that hold a wanted rank are sorted. The values are exactly
    those of a full sort. Mean and sd are summed in float64 in the row's (draw) order, so they
    do not depend on how the draws were batched."""
    R, n = x.shape
    bits = x.view(np.int32)
    a = np.empty(n, np.int64)
    b2 = np.empty(n, np.int64)
    top = np.empty(BUCKETS + 1, np.int64)
    sub = np.empty(BUCKETS + 1, np.int64)
    done = np.zeros(BUCKETS, np.bool_)
    one = np.empty(1, np.int32)
    as_float = one.view(np.float32)
    for r in range(R):
        m = _sum8(x[r], 0.0, False) / n
        ss = _sum8(x[r], m, True)
        mean[r] = m
        sd[r] = np.sqrt(ss / (n - 1)) if n > 1 else 0.0
        kmin, kmax = _flkey(np.int64(bits[r, 0])), _flkey(np.int64(bits[r, 0]))
        for i in range(n):
            k = _flkey(np.int64(bits[r, i]))
            a[i] = k
            kmin = min(kmin, k)
            kmax = max(kmax, k)
        if kmin == kmax:  # a constant row (often all zeros)
            for j in range(ranks.size):
                vals[r, j] = x[r, 0]
            continue
        _split(a, b2, 0, n, kmin, _shift(kmin, kmax), top)
        j, bt = 0, 0
        while j < ranks.size:
            while top[bt + 1] <= ranks[j]:
                bt += 1
            lo, hi = top[bt], top[bt + 1]
            j2 = j
            while j2 < ranks.size and ranks[j2] < hi:
                j2 += 1
            if hi - lo <= SMALL:
                b2[lo:hi].sort()
                src = b2
            else:  # split this bucket by its own range; sort only the sub-buckets wanted
                lo_k, hi_k = b2[lo], b2[lo]
                for i in range(lo, hi):
                    lo_k = min(lo_k, b2[i])
                    hi_k = max(hi_k, b2[i])
                if lo_k == hi_k:
                    a[lo:hi] = lo_k
                else:
                    _split(b2, a, lo, hi, lo_k, _shift(lo_k, hi_k), sub)
                    done[:] = False
                    bs = 0
                    for jj in range(j, j2):
                        while sub[bs + 1] <= ranks[jj]:
                            bs += 1
                        if not done[bs]:
                            a[sub[bs]:sub[bs + 1]].sort()
                            done[bs] = True
                src = a
            for jj in range(j, j2):
                one[0] = np.int32(_flkey(src[ranks[jj]]))
                vals[r, jj] = as_float[0]
            j = j2


@njit(cache=True, nogil=True)
def refresh_attr(avail, base, rank, safety, hazard, avail_f, attr, hazard_eff):
    """BatchSim._update_attr in one pass (the same products in the same order): availability
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
def refresh_reach(afford, avail, ax, aff_bounds, share, out):
    """BatchSim._update_access's reach in one pass: for each payer channel and cell, the most
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
def refresh_ranks(launch_t, seg_bounds, seg_cell, changed, mult, rank_mult):
    """BatchSim._update_ranks for the cells in `changed`: a lane's entry rank is 1 + the number
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


@njit(cache=True, nogil=True)
def finish(served, rev_local, demand, dropped, waiting, eligible, addressable,
           fx, lane_region, cogs, succ, lane_product, owner, ps, roy,
           own_groups, par_groups, seg_bounds, seg_cell, deals,
           lanes_out, cells_out, comp_out):
    """The end of BatchSim.run in one pass a period: lane metrics (LANE_METRICS order), cell
    metrics (CELL_METRICS) and company-product metrics (COMPANY_METRICS), computed in float64
    with the numpy version's operations in its order, stored in the outputs' dtype."""
    NP, L, B = served.shape
    C = eligible.shape[1]
    CP = comp_out.shape[2]
    own_order, own_starts, own_rows = own_groups
    par_order, par_starts, par_rows = par_groups
    rv_own, rv_par = np.empty((L, B)), np.empty((L, B))
    gp_own, gp_par, roy_flow = np.empty((L, B)), np.empty((L, B)), np.empty((L, B))
    s1, s2 = np.empty((CP, B)), np.empty((CP, B))
    k_gp, k_roy = np.empty((CP, B)), np.empty((CP, B))
    cell_d = np.empty((C, B))
    for p in range(NP):
        for lane in range(L):
            r = lane_region[lane]
            j = lane_product[lane]
            for b in range(B):
                sv = served[p, lane, b]
                rl = rev_local[p, lane, b]
                rv = rl / fx[r, b]
                cg = sv * cogs[j, b]
                g = rv - cg
                inf = sv * succ[j, b]
                share = ps[lane, b]
                rv_own[lane, b] = rv * (1.0 - share)
                rv_par[lane, b] = rv * share
                gp_own[lane, b] = g * (1.0 - share)
                gp_par[lane, b] = g * share
                roy_flow[lane, b] = rv * share * roy[lane, b]
                lanes_out[0, p, lane, b] = demand[p, lane, b]
                lanes_out[1, p, lane, b] = inf
                lanes_out[2, p, lane, b] = sv - inf
                lanes_out[3, p, lane, b] = dropped[p, lane, b]
                lanes_out[4, p, lane, b] = waiting[p, lane, b]
                lanes_out[5, p, lane, b] = rl
                lanes_out[6, p, lane, b] = rv
                lanes_out[7, p, lane, b] = cg
                lanes_out[8, p, lane, b] = g
                lanes_out[9, p, lane, b] = rv * owner[lane, b]
        cell_d[:, :] = 0.0
        for s in range(seg_bounds.size - 1):
            c = seg_cell[s]
            a, z = seg_bounds[s], seg_bounds[s + 1]
            for b in range(B):
                cell_d[c, b] = demand[p, a, b]
            for lane in range(a + 1, z):
                for b in range(B):
                    cell_d[c, b] += demand[p, lane, b]
        for c in range(C):
            for b in range(B):
                cells_out[0, p, c, b] = eligible[p, c, b]
                cells_out[1, p, c, b] = addressable[p, c, b]
                cells_out[2, p, c, b] = cell_d[c, b]
                cells_out[3, p, c, b] = eligible[p, c, b] - cell_d[c, b]
        _group_sum(rv_own, own_order, own_starts, own_rows, s1)
        _group_sum(rv_par, par_order, par_starts, par_rows, s2)
        for k in range(CP):
            for b in range(B):
                comp_out[0, p, k, b] = s1[k, b] + s2[k, b]
        _group_sum(gp_own, own_order, own_starts, own_rows, s1)
        _group_sum(gp_par, par_order, par_starts, par_rows, s2)
        for k in range(CP):
            for b in range(B):
                k_gp[k, b] = s1[k, b] + s2[k, b]
        _group_sum(roy_flow, own_order, own_starts, own_rows, s1)
        _group_sum(roy_flow, par_order, par_starts, par_rows, s2)
        for k in range(CP):
            for b in range(B):
                k_roy[k, b] = s1[k, b] - s2[k, b]
                d = deals[p, k, b]
                comp_out[1, p, k, b] = k_gp[k, b]
                comp_out[2, p, k, b] = k_roy[k, b]
                comp_out[3, p, k, b] = d
                comp_out[4, p, k, b] = (k_gp[k, b] + k_roy[k, b]) + d


def warm_up() -> None:
    """Load every kernel from numba's cache with the argument types the engine and the summary
    pass (tiny arrays), so a worker process pays the loading (~0.6 s with numba's import) while
    the parent is still reading the scenario. tests/test_kernel.py checks that a real batch and
    summary then add no new specialisation."""
    def f(*shape: int) -> np.ndarray:
        return np.ones(shape)

    def i(*v: int) -> np.ndarray:
        return np.array(v, dtype=np.int64)

    month(0, f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), i(0),
          f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), False, f(1, 1), i(0), i(0, 1),
          np.zeros((0, 0, 1)), np.zeros((0, 0, 1)), i(), i(0),
          i(), i(0), i(), f(1, 1),
          f(1, 1), f(1, 1), f(1, 1),
          f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1))
    group_rows(np.ones((1, 1, 1), np.float32), i(0), i(0), np.empty((1, 1), np.float32), 0)
    row_stats(np.ones((1, 2), np.float32), i(0, 1), np.empty(1), np.empty(1), np.empty((1, 2)))
    on = np.ones((1, 1), np.bool_)
    refresh_attr(on, f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1))
    refresh_reach(f(1, 1, 1), on, i(0), i(0, 1), f(1, 1, 1), f(1, 1, 1))
    refresh_ranks(f(1, 1), i(0, 1), i(0), on[0], f(1, 1, 1), f(1, 1))
    groups = (i(0), i(0), i(0))
    finish(f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1), f(1, 1, 1),
           f(1, 1), i(0), f(1, 1), f(1, 1), i(0), f(1, 1), f(1, 1), f(1, 1),
           groups, groups, i(0, 1), i(0), f(1, 1, 1),
           np.empty((10, 1, 1, 1), np.float32), np.empty((4, 1, 1, 1), np.float32), np.empty((5, 1, 1, 1), np.float32))
    from sim.sampling.rng import hashed_uniforms
    from sim.sampling.tables import table_interp

    hashed_uniforms(np.zeros((1, 2), np.uint64), np.uint64(1), np.uint64(2), np.empty(1))
    table_interp(f(1), np.array([0.0, 1.0]), f(2), i(0, 1), np.empty(1))

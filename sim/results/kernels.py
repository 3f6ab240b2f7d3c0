"""Compiled loops of the summary: group sums and order statistics over draws (numba).

Both work in one fixed order per row, so a draw's numbers do not depend on how draws were
batched, and run-time aggregates and a later re-summary agree bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def group_sums(xt, order, starts, out, col0):
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
    for r in range(R):
        m = _sum8(x[r], 0.0, False) / n
        ss = _sum8(x[r], m, True)
        mean[r] = m
        sd[r] = np.sqrt(ss / (n - 1)) if n > 1 else 0.0
        kmin, kmax = _keys(bits[r], a)
        if kmin == kmax:  # a constant row (often all zeros)
            for j in range(ranks.size):
                vals[r, j] = x[r, 0]
            continue
        _split(a, b2, 0, n, kmin, _shift(kmin, kmax), top)
        _pick(a, b2, top, sub, done, ranks, one, vals[r])


@njit(cache=True, nogil=True)
def _keys(bits, a):
    """Each value's ordering key into a; the smallest and largest key."""
    kmin, kmax = _flkey(np.int64(bits[0])), _flkey(np.int64(bits[0]))
    for i in range(bits.size):
        k = _flkey(np.int64(bits[i]))
        a[i] = k
        kmin = min(kmin, k)
        kmax = max(kmax, k)
    return kmin, kmax


@njit(cache=True, nogil=True)
def _pick(a, b2, top, sub, done, ranks, one, out):
    """The values at `ranks` of a row whose keys b2 holds in buckets `top`, into out."""
    as_float = one.view(np.float32)
    j, bt = 0, 0
    while j < ranks.size:
        while top[bt + 1] <= ranks[j]:
            bt += 1
        lo, hi = top[bt], top[bt + 1]
        j2 = j
        while j2 < ranks.size and ranks[j2] < hi:
            j2 += 1
        src = _order_bucket(a, b2, lo, hi, sub, done, ranks, j, j2)
        for jj in range(j, j2):
            one[0] = np.int32(_flkey(src[ranks[jj]]))
            out[jj] = as_float[0]
        j = j2


@njit(cache=True, nogil=True)
def _order_bucket(a, b2, lo, hi, sub, done, ranks, j, j2):
    """Put bucket lo..hi in order where ranks[j:j2] fall: a small bucket is sorted (in b2); a
    large one is split by its own range (into a) and only its sub-buckets holding a wanted rank
    are sorted. Returns the array that then holds those ranks' keys in place."""
    if hi - lo <= SMALL:
        b2[lo:hi].sort()
        return b2
    lo_k, hi_k = b2[lo], b2[lo]
    for i in range(lo, hi):
        lo_k = min(lo_k, b2[i])
        hi_k = max(hi_k, b2[i])
    if lo_k == hi_k:
        a[lo:hi] = lo_k
        return a
    _split(b2, a, lo, hi, lo_k, _shift(lo_k, hi_k), sub)
    done[:] = False
    bs = 0
    for jj in range(j, j2):
        while sub[bs + 1] <= ranks[jj]:
            bs += 1
        if not done[bs]:
            a[sub[bs]:sub[bs + 1]].sort()
            done[bs] = True
    return a


def warm_up_summary() -> None:
    """Load the summary's kernels from numba's cache with the types the summary passes."""
    i = np.array([0], dtype=np.int64)
    group_sums(np.ones((1, 1, 1), np.float32), i, i, np.empty((1, 1), np.float32), 0)
    row_stats(np.ones((1, 2), np.float32), np.array([0, 1], dtype=np.int64), np.empty(1), np.empty(1),
              np.empty((1, 2)))

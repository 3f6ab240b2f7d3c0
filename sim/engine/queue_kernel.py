"""sim.engine.queue's month, compiled: the capacity-limited lanes served first come first
served across each product's markets, in the same order of operations as the numpy version."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def serve_capped_lanes(demand, avail, supply, served, dropped, waiting):  # pragma: no cover - compiled
    """Overwrite served, dropped and waiting (L, B) of the capacity-limited lanes; age the queue."""
    cl, bounds, prods, capacity, ages, hazard = (supply.cap_lanes, supply.cap_bounds, supply.cap_prods,
                                                 supply.capacity, supply.ages, supply.hazard)
    A = ages.shape[0]
    B = demand.shape[1]
    new_rest = np.empty(cl.size)
    for s in range(bounds.size - 1):
        a0, z = bounds[s], bounds[s + 1]
        pj = prods[s]
        for b in range(B):
            left = capacity[pj, b]
            for j in range(a0, z):
                served[cl[j], b] = 0.0
                new_rest[j] = demand[cl[j], b]
            for g in range(A, -1, -1):  # the longest waits first; this month's patients last
                tot = 0.0
                for j in range(a0, z):
                    x = (ages[g - 1, j, b] if g > 0 else demand[cl[j], b]) * avail[cl[j], b]
                    tot = x if j == a0 else tot + x
                take = min(tot, left)
                ratio = take / tot if tot > take else 1.0
                for j in range(a0, z):
                    l = cl[j]
                    sv = ((ages[g - 1, j, b] if g > 0 else demand[l, b]) * avail[l, b]) * ratio
                    served[l, b] += sv
                    if g > 0:
                        ages[g - 1, j, b] -= sv
                    else:
                        new_rest[j] -= sv
                left -= take
            for j in range(a0, z):  # drop-out, then everyone waits one month more
                l = cl[j]
                h = hazard[l, b]
                dr = 0.0
                for g in range(A):  # summed in numpy's order
                    dr += ages[g, j, b] * h
                oldest = 0.0
                for g in range(A - 1, -1, -1):
                    x = ages[g, j, b]
                    d = x * h
                    if g == A - 1:
                        oldest = x - d
                    elif g == A - 2:
                        ages[A - 1, j, b] = oldest + (x - d)
                    else:
                        ages[g + 1, j, b] = x - d
                d = new_rest[j] * h
                ages[0, j, b] = new_rest[j] - d
                dropped[l, b] = dr + d
                w = 0.0
                for g in range(A):
                    w += ages[g, j, b]
                waiting[l, b] = w

"""The queue of a capacity-limited product, by how long its patients have waited (numpy).

A product's slots go first come first served across all its markets: each month the patients
who have waited longest are served first, then the next oldest, and this month's new patients
last; within one month of arrival, the markets share pro rata. So a market launched on
saturated capacity waits behind the existing queue (as patients do in the patient-level
engine) instead of taking a pro-rata share of the slots at once. The compiled flow does the
same in sim.engine.queue_kernel (`serve_capped_lanes`).

Waits are kept by whole months up to WAIT_BINS; the last bin holds everyone who has waited
that long or longer (served first, pro rata among them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

WAIT_BINS = 24


def new_ages(n_lanes: int, size: int) -> np.ndarray:
    """(WAIT_BINS, lanes, draws): ages[a] holds the patients who have waited a + 1 months."""
    return np.zeros((WAIT_BINS, n_lanes, size))


def serve_capped(ages: np.ndarray, new: np.ndarray, avail: np.ndarray, capacity: np.ndarray,
                 hazard: np.ndarray, seg_sum: Callable[[np.ndarray], np.ndarray], seg: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One month of the capacity-limited lanes (lanes, draws): served, dropped, waiting.

    `ages` is updated (served, then drop-out at `hazard`, then one month older); `new` is this
    month's demand; `capacity` (products, draws) is shared by each product's lanes, grouped by
    `seg_sum` / `seg` (each lane's product segment)."""
    left = capacity.copy()
    served = np.zeros_like(new)
    new_rest = new.copy()
    for a in range(WAIT_BINS, -1, -1):  # the longest waits first; this month's patients last
        x = (ages[a - 1] if a > 0 else new) * avail
        tot = seg_sum(x)
        take = np.minimum(tot, left)
        ratio = np.divide(take, tot, out=np.ones_like(tot), where=tot > take)  # exactly 1 when all fit
        s = x * ratio[seg]
        served += s
        if a > 0:
            ages[a - 1] -= s
        else:
            new_rest -= s
        left -= take
    drop = ages * hazard[None]
    keep = ages - drop
    drop_new = new_rest * hazard
    dropped = drop.sum(axis=0) + drop_new
    ages[-1] = keep[-1] + keep[-2]
    ages[1:-1] = keep[:-2]
    ages[0] = new_rest - drop_new
    return served, dropped, ages.sum(axis=0)

"""Model discrepancy: a multiplicative demand disturbance per product (or lane) that evolves
over time, so the bands carry the model's own structural error into the future.

Each unit u has a log random walk W_u with a step z_k x scale at each year boundary k = 1, 2, ...
from the walk's start month s (`discrepancy.start`, default the scenario's as_of, else its
start; z standard normal, from the draw's counter-based uniforms named `discrepancy.<unit>`, so
results do not depend on batching), linearly interpolated month by month: with tau = t - s,
W(t) = W_k + f (W_(k+1) - W_k), k = tau // 12 and f = (tau mod 12) / 12. Demand is multiplied by
exp(W(t) - scale^2 (k + f^2) / 2), whose mean is 1 (Var W(t) = scale^2 (k + f^2)), so the
disturbance widens the bands without moving their centre; before s the multiplier is 1 (the past
the scenario was fitted to). Scale 0 multiplies by exactly 1, and a scenario without
`discrepancy` never computes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from sim.periods import month_ordinal

if TYPE_CHECKING:
    from sim.engine.market import BatchMarket

UNIFORM_EPS = 1e-15  # keep ndtri finite at u = 0 or 1


class DemandDisturbance:
    """The month's demand multiplier per lane (L, draws) of a batch."""

    def __init__(self, market: BatchMarket) -> None:
        structure, spec = market.structure, market.scenario.discrepancy
        self.active = spec is not None
        if spec is None:
            return
        sampler, scn = market.sampler, market.scenario
        start = spec.start or scn.as_of or scn.start
        self.first = month_ordinal(start) - month_ordinal(scn.start)
        self.scale = sampler.value(spec.scale, "discrepancy.scale")  # (draws,)
        if spec.by == "product":
            units = structure.products
            self.unit_of_lane = structure.lane_product
        else:
            units = ["/".join(lane) for lane in structure.lanes]
            self.unit_of_lane = np.arange(structure.L)
        years = max(structure.T - self.first, 0) // 12 + 2
        walk = np.zeros((years, len(units), market.size))
        for j, u in enumerate(units):
            for k in range(1, years):
                z = ndtri(np.clip(sampler.uniform(f"discrepancy.{u}", k), UNIFORM_EPS, 1 - UNIFORM_EPS))
                walk[k, j] = walk[k - 1, j] + self.scale * z
        self.walk = walk

    def multiplier(self, t: int) -> np.ndarray:
        """(L, draws) multiplier of month t's demand."""
        k, m = divmod(max(t - self.first, 0), 12)
        f = m / 12.0
        w = self.walk[k] + f * (self.walk[k + 1] - self.walk[k])
        mult = np.exp(w - 0.5 * self.scale ** 2 * (k + f * f))
        return np.ascontiguousarray(mult[self.unit_of_lane])

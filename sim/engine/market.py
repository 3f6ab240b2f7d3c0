"""One batch of draws of a scenario's market: its sampled inputs, state and event calendar.

Both engines are built on it: the batch engine adds the fluid monthly flow, the patient-level
engine individual patients. `schedule()` puts every launch, capacity step, deal payment,
scenario event and yearly price change on the calendar (sim.engine.schedule).
"""

from __future__ import annotations

import numpy as np

from sim.engine.calendar import Calendar
from sim.engine.inputs import Params, Sampler, sample_inputs
from sim.engine.schedule import schedule_all
from sim.engine.state import MarketState
from sim.engine.structure import Structure
from sim.sampling.designs import Design
from sim.sampling.posterior import posterior_pins
from sim.sampling.rng import draw_keys


class BatchMarket:
    """The world of one batch: what was sampled, what events change, and when they happen."""

    def __init__(self, structure: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                 pinned: dict[str, np.ndarray] | None = None) -> None:
        self.structure = structure
        self.scenario = structure.scenario
        self.draw_ids = np.asarray(draw_ids, dtype=np.int64)
        keys = draw_keys(seed, self.draw_ids)
        post = structure.scenario.posterior
        if post is not None:  # fitted inputs drawn jointly: each draw's particle (sim.scenario.posterior)
            assert post.sha256 is not None
            pinned = {**posterior_pins(post.file, post.sha256, tuple(post.inputs), keys), **(pinned or {})}
        self.sampler = Sampler(keys, self.draw_ids, design, pinned)
        self.size = len(self.draw_ids)
        self.calendar = Calendar(structure, self.sampler)
        self.params: Params
        self.state: MarketState
        self.params, self.state = sample_inputs(structure, self.sampler)

    def schedule(self) -> None:
        """Put everything that happens on the calendar (sampling its timing and values)."""
        schedule_all(self)

    def lanes_of(self, product: str, regions: object = "all") -> np.ndarray:
        """The lanes of a product, in `regions` ('all' or a list)."""
        return np.array([k for k, (p, r, _) in enumerate(self.structure.lanes)
                         if p == product and (regions == "all" or r in regions)], dtype=np.int64)  # type: ignore[operator]

    def region_affordable(self, region: str) -> bool:
        """Whether a region has an affordability curve (payer reach depends on prices there)."""
        return bool(self.params.has_aff[self.structure.regions.index(region)])

    def net_price(self) -> np.ndarray:
        """(draw, lane) net price per patient, local currency."""
        return self.state.price * (1.0 - self.params.gtn)

    def book_payment(self, idx: np.ndarray, t: np.ndarray, payer: int, payee: int, amount: np.ndarray) -> None:
        """A deal payment from company-product row `payer` to `payee` in months t (not before start)."""
        ok = t >= 0
        idx, t, amt = idx[ok], t[ok].astype(np.int64), amount[idx[ok]]
        per = self.structure.period_of_month[t]
        np.add.at(self.state.pay, (idx, payee, per), amt)  # type: ignore[arg-type]  # numpy's stubs: no tuples
        np.add.at(self.state.pay, (idx, payer, per), -amt)  # type: ignore[arg-type]

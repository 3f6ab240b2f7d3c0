"""How closely two engines agree on the same draws: paired means per product and period.

Used to check the batch engine against the patient-level oracle (tests/test_patient_engine.py,
benchmarks/compare_engines.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure


@dataclass(frozen=True)
class Agreement:
    """Paired comparison of a lane metric summed by product, per period: other - ref, draw by draw."""

    metric: str
    products: list[str]
    periods: list[str]
    mean_ref: np.ndarray  # (products, periods)
    mean_other: np.ndarray
    se_diff: np.ndarray  # standard error of the mean paired difference
    n: int

    @property
    def diff(self) -> np.ndarray:
        """Mean paired difference, other - ref."""
        return self.mean_other - self.mean_ref

    @property
    def z(self) -> np.ndarray:
        """Diff / se (0 where both engines are identical in every draw)."""
        return np.divide(self.diff, self.se_diff, out=np.zeros_like(self.diff), where=self.se_diff > 0)

    @property
    def rel(self) -> np.ndarray:
        """Diff / mean_ref (0 where the reference mean is 0)."""
        return np.divide(self.diff, self.mean_ref, out=np.zeros_like(self.diff), where=self.mean_ref != 0)


def compare_means(structure: Structure, ref: BatchOutput, other: BatchOutput, metric: str) -> Agreement:
    """Mean of `metric` per product and period in two runs of the same draws, with the SE of
    the paired difference (the draws share their sampled inputs, so pairing removes most of the
    between-draw variance)."""
    if not np.array_equal(ref.draw_ids, other.draw_ids):
        raise ValueError("compare_means needs the same draws in both outputs")
    P = len(structure.products)
    onehot = np.zeros((structure.L, P))
    onehot[np.arange(structure.L), structure.lane_product] = 1.0
    a = np.einsum("blp,lk->bkp", ref.lanes[metric], onehot)
    b = np.einsum("blp,lk->bkp", other.lanes[metric], onehot)
    n = a.shape[0]
    d = b - a
    se = d.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(d.shape[1:], np.nan)
    return Agreement(metric, list(structure.products), list(structure.periods), a.mean(axis=0), b.mean(axis=0), se, n)

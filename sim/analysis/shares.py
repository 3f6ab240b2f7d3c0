"""Shares over time: each group's median as a share of the sum of the groups' medians."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from sim.results import Results


def median_shares(res: Results, by: str, metric: str = "revenue") -> pd.DataFrame:
    """(years x groups) percentage of each group's median `metric` in the sum of the medians."""
    import pandas as pd

    groups, periods, arr = res.grouped(metric, by, freq="year")
    med = np.median(arr, axis=0)  # (groups, periods)
    tot = med.sum(axis=0, keepdims=True)
    share = np.divide(med, tot, out=np.zeros_like(med), where=tot > 0)
    return pd.DataFrame(100 * share.T, index=periods, columns=groups)

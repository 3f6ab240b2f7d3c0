"""The backtest chart (sim.analysis.backtest): each origin's forecast bands per product with the
sales held back, and the PIT histogram of all scored product-years."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.plots.base import pyplot, save_figure


def pit_histogram(ax: Any, scores: pd.DataFrame, bins: int = 5) -> None:
    """PIT histogram: flat if the bands are calibrated, U-shaped if too narrow, humped if too wide."""
    counts, edges = np.histogram(scores["pit"], bins=bins, range=(0, 1))
    ax.bar(edges[:-1], counts / max(len(scores), 1), width=1 / bins, align="edge", color="tab:blue",
           edgecolor="white")
    ax.axhline(1 / bins, color="0.3", ls="--", lw=1, label="calibrated")
    ax.set_xlabel("PIT (share of draws below the actual)")
    ax.set_ylabel("share of product-years")
    ax.set_xlim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"PIT, {len(scores)} product-years", fontsize=10)


def chart(path: Any, scores: pd.DataFrame, fans: dict[str, dict[str, dict[str, np.ndarray]]],
          actuals: pd.DataFrame, note: str = "") -> None:
    """Per origin, each scored product's forecast band with the held-back actuals; then the PIT
    (`note`, e.g. the discrepancy scale shown, goes into the title)."""
    plt = pyplot()
    panels = [(o, p) for o in sorted(fans) for p in sorted(set(scores.loc[scores["origin"] == o, "product"]))]
    n = len(panels) + 1
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for k, (o, prod) in enumerate(panels):
        ax = axes[k // cols][k % cols]
        years = sorted(int(y) for y in fans[o][prod])
        arr = np.stack([fans[o][prod][str(y)] for y in years], axis=1) / 1e6
        lo, mid, hi = np.percentile(arr, [10, 50, 90], axis=0)
        ax.fill_between(years, lo, hi, color="tab:blue", alpha=0.25, label="P10-P90")
        ax.plot(years, mid, color="tab:blue", lw=1.5, label="median")
        sub = actuals[actuals["product"] == prod]
        origin_year = int(o[:4]) if o[5:] == "12" else int(o[:4]) - 1
        past, fut = sub[sub["year"] <= origin_year], sub[sub["year"] > origin_year]
        ax.plot(past["year"], past["value"] / 1e6, "k.", label="fitted on")
        ax.plot(fut["year"], fut["value"] / 1e6, "o", mfc="white", mec="tab:red", label="held back")
        ax.axvline(origin_year + 0.5, color="0.5", lw=0.8, ls=":")
        ax.set_title(f"{prod}, origin {o}", fontsize=9)
        ax.set_ylabel("USD M", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xticks(years[::2])
    axes[0][0].legend(fontsize=7, frameon=False, loc="upper left")
    pit_histogram(axes[(n - 1) // cols][(n - 1) % cols], scores)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle("Backtest: forecasts from each origin against the sales held back" + (f" ({note})" if note else ""),
                 fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)

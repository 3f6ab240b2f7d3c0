"""Shares over time as a stacked area chart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.periods import period_x
from sim.plots.base import colors, pyplot

if TYPE_CHECKING:
    import pandas as pd


def plot_share(frame: pd.DataFrame, by: str, *, ax: Any = None, what: str = "net revenue") -> Any:
    """Stacked area of each group's share (sim.analysis.shares.median_shares), the largest in
    the last year at the bottom."""
    plt = pyplot()
    share = frame.to_numpy().T  # (groups, periods), %
    groups = list(frame.columns)
    order = np.argsort(-share[:, -1], kind="stable")
    x = np.array([period_x(str(p)) for p in frame.index])
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4.6))
    palette = colors(len(groups))
    ax.stackplot(x, share[order], labels=[groups[k] for k in order],
                 colors=[palette[k] for k in range(len(order))], alpha=0.9, linewidth=0.3, edgecolor="white")
    ax.set_ylim(0, 100)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel(f"share of median {what} (%)")
    ax.grid(alpha=0.3)
    ncol = 1 if len(groups) <= 12 else 2
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, ncol=ncol, frameon=False)
    ax.set_title(f"Share of {what} by {by} (median of each {by} / sum of medians)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure

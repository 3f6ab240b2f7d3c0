"""Comparison charts: paired differences over time, and scenarios side by side."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.analysis.compare import Comparison
from sim.plots.base import pyplot
from sim.plots.fan import fan_chart
from sim.vocab import is_money


def top_groups(cmp: Comparison, max_groups: int, arrays: list[np.ndarray] | None = None) -> list[int]:
    """The `max_groups` groups with the largest mean absolute values (in group order)."""
    score = np.max([np.abs(a).mean(axis=0).sum(axis=1) for a in (arrays or cmp.arrays)], axis=0)
    return sorted(np.argsort(-score, kind="stable")[:max_groups].tolist())


def plot_difference(cmp: Comparison, k: int = 1, *, max_groups: int = 9, title: str | None = None) -> Any:
    """Fan chart over time of (scenario k - baseline), one panel per group (as people read it:
    "total (CAR-T + bispecific)")."""
    import math

    plt = pyplot()
    d = cmp.difference(k)
    gi = top_groups(cmp, max_groups, [d])
    cols = min(3, len(gi))
    rows = math.ceil(len(gi) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False, sharex=True)
    money = is_money(cmp.metric)
    for n, g in enumerate(gi):
        ax = axes[n // cols][n % cols]
        fan_chart(cmp.periods, d[:, g, :], ax=ax, color="C2", money=money, currency=cmp.currency)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(cmp.name(cmp.groups[g]), fontsize=10)
        if n == 0:
            ax.legend(fontsize=7, loc="upper left")
    for n in range(len(gi), rows * cols):
        axes[n // cols][n % cols].set_visible(False)
    kind = "paired, draw by draw" if cmp.paired else "UNPAIRED: independent draws"
    fig.suptitle(title or f"{cmp.metric}: {cmp.labels[k]} minus {cmp.labels[0]} ({kind})", fontsize=11)
    fig.tight_layout()
    return fig


def plot_side_by_side(cmp: Comparison, *, max_groups: int = 6, title: str | None = None) -> Any:
    """Fan charts: one row per group, one column per scenario, shared y axis within a row."""
    plt = pyplot()
    gi = top_groups(cmp, max_groups)
    ns = len(cmp.arrays)
    fig, axes = plt.subplots(len(gi), ns, figsize=(4.4 * ns, 3.0 * len(gi)), squeeze=False,
                             sharex=True, sharey="row")
    money = is_money(cmp.metric)
    for r, g in enumerate(gi):
        for k in range(ns):
            ax = axes[r][k]
            fan_chart(cmp.periods, cmp.arrays[k][:, g, :], ax=ax, color=f"C{k % 10}", money=money,
                      currency=cmp.currency)
            ax.set_title(f"{cmp.labels[k]} — {cmp.name(cmp.groups[g])}", fontsize=9)
            if r == 0 and k == 0:
                ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title or f"{cmp.metric} by {cmp.by}: median and 50/80/90 % bands", fontsize=11)
    fig.tight_layout()
    return fig



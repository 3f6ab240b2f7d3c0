"""The convergence chart: a percentile's estimate and its relative standard error against draws."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.analysis.convergence import ConvergenceResult
from sim.plots.base import money_formatter, pyplot


def plot_convergence(res: ConvergenceResult, *, title: str | None = None, money: bool = True) -> Any:
    """Estimate ± SE (and the 95 % interval) against draws, and the relative SE on log axes."""
    plt = pyplot()
    h = res.history
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    x = h["draws"].to_numpy()
    a1.fill_between(x, h["ci_low"], h["ci_high"], color="C0", alpha=0.15, lw=0, label="95 % interval")
    a1.fill_between(x, h["estimate"] - h["se"], h["estimate"] + h["se"], color="C0", alpha=0.35, lw=0,
                    label="± 1 SE")
    a1.plot(x, h["estimate"], "o-", color="C0", ms=3, label=f"P{round(100 * res.q)} estimate")
    a1.set_xlabel("draws")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=7)
    if money:
        a1.yaxis.set_major_formatter(money_formatter())
    rel = h["rel_se"].replace([np.inf], np.nan)
    a2.plot(x, rel, "o-", color="C3", ms=3, label="relative SE")
    a2.axhline(res.target, color="black", ls="--", lw=1, label=f"target {res.target:g}")
    if len(x) > 1 and rel.notna().any() and (rel.dropna() > 0).all():
        r0, n0 = float(rel.dropna().iloc[0]), float(x[rel.notna().to_numpy()][0])
        a2.plot(x, r0 * np.sqrt(n0 / x), color="grey", lw=0.8, ls=":", label="∝ 1/√draws")
        a2.set_xscale("log")
        a2.set_yscale("log")
    a2.set_xlabel("draws")
    a2.grid(alpha=0.3, which="both")
    a2.legend(fontsize=7)
    state = "converged" if res.converged else "NOT converged"
    fig.suptitle(title or f"P{round(100 * res.q)} in {res.period}: {state} after {res.draws} draws", fontsize=11)
    fig.tight_layout()
    return fig

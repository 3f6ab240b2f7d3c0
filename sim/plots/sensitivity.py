"""Sensitivity charts: tornado, Sobol indices, sensitivity over time, the from-draws tornado."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.sensitivity import RankResult
from sim.plots.base import money_formatter, pyplot, short_name


def plot_tornado(df: pd.DataFrame, *, ax: Any = None, top: int = 15, title: str | None = None,
                 money: bool = True) -> Any:
    """Tornado chart: bars from the base median to the output with each input at P10 / P90."""
    plt = pyplot()
    d = df.head(top).iloc[::-1]
    labels = [f"{short_name(r.input)}\n[{r.value_low_text} → {r.value_high_text}]" for r in d.itertuples()]
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.5 * max(len(d), 3) + 1.4))
    base = float(df["base_median"].iloc[0]) if len(df) else 0.0
    y = np.arange(len(d))
    lo_q = int(round(100 * float(df["low_quantile"].iloc[0]))) if len(df) else 10
    hi_q = int(round(100 * float(df["high_quantile"].iloc[0]))) if len(df) else 90
    ax.barh(y, d["output_low"] - base, left=base, color="C0", alpha=0.8, label=f"input at P{lo_q}")
    ax.barh(y, d["output_high"] - base, left=base, color="C3", alpha=0.8, label=f"input at P{hi_q}")
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(y, labels, fontsize=7)
    if money:
        ax.xaxis.set_major_formatter(money_formatter())
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "Tornado: median output with each input at P10 / P90", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_sobol(df: pd.DataFrame, *, ax: Any = None, top: int = 15, title: str | None = None) -> Any:
    """First-order and total Sobol indices with their confidence half-widths."""
    plt = pyplot()
    d = df.head(top).iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.4 * max(len(d), 3) + 1.4))
    y = np.arange(len(d))
    ax.barh(y + 0.2, d["ST"], height=0.4, xerr=d["ST_conf"], color="C1", label="total (ST)")
    ax.barh(y - 0.2, d["S1"], height=0.4, xerr=d["S1_conf"], color="C0", label="first order (S1)")
    ax.set_yticks(y, [short_name(n) for n in d["input"]], fontsize=7)
    ax.set_xlim(min(0.0, float(np.nanmin(d["S1"] - d["S1_conf"])) if len(d) else 0.0), 1.05)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "Sobol indices (bars: 95 % confidence)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_over_time(rr: RankResult, *, ax: Any = None, top: int = 20, title: str | None = None) -> Any:
    """Heat map, inputs x periods, of each input's share of rank-explained variance (sign of rho as text)."""
    plt = pyplot()
    share = rr.share
    order = np.argsort(-share.max(axis=1) if share.size else np.zeros(0), kind="stable")[:top]
    S, R = share[order], rr.rho[order]
    names = [rr.inputs[i] for i in order]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rr.periods) + 4), 0.35 * max(len(names), 3) + 1.6))
    im = ax.imshow(S, aspect="auto", cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(np.arange(len(rr.periods)), rr.periods, fontsize=7, rotation=90 if len(rr.periods) > 16 else 0)
    ax.set_yticks(np.arange(len(names)), [short_name(n) for n in names], fontsize=7)
    if S.size and S.shape[0] * S.shape[1] <= 600:
        for i in range(S.shape[0]):
            for j in range(S.shape[1]):
                if abs(R[i, j]) >= 0.05:
                    ax.text(j, i, f"{R[i, j]:+.2f}", ha="center", va="center", fontsize=5.5,
                            color="white" if S[i, j] > 0.55 else "black")
    ax.figure.colorbar(im, ax=ax, label="share of rank-explained variance (ρ² normalised)")
    ax.set_title(title or "Sensitivity over time (text: Spearman ρ)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_decile_tornado(df: pd.DataFrame, *, ax: Any = None, top: int = 12, title: str = "",
                        money: bool = True) -> Any:
    """Tornado of sim.analysis.decile.decile_tornado: the output's median with each input in its
    bottom (blue) and top (red) decile of draws."""
    plt = pyplot()
    d = df.head(top).iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.55 * max(len(d), 3) + 1.6))
    fig = ax.figure
    base = float(df["base_median"].iloc[0]) if len(df) else 0.0
    yy = np.arange(len(d))
    labels = []
    for r in d.itertuples():
        name = r.input if len(r.input) <= 62 else "…" + r.input[-61:]
        labels.append(f"{name}\n{r.value_low_text} → {r.value_high_text}   (ρ = {r.spearman:+.2f})")
    ax.barh(yy, d["output_low"] - base, left=base, color="#3b7dd8", alpha=0.85,
            label="input in its bottom decile (gate: does not fire)")
    ax.barh(yy, d["output_high"] - base, left=base, color="#d64545", alpha=0.85,
            label="input in its top decile (gate: fires)")
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(yy, labels, fontsize=8)
    if money:
        ax.xaxis.set_major_formatter(money_formatter())
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig

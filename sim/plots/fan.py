"""Fan charts: the median line and graded central bands of the draws, over time."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import ScenarioError
from sim.periods import period_x
from sim.plots.base import money_formatter, pyplot, save_figure
from sim.vocab import is_money, metric_label

DEFAULT_BANDS = (90, 80, 50)


def fan_chart(
    periods: list[str],
    draws: np.ndarray,
    *,
    ax: Any = None,
    bands: tuple[int, ...] = DEFAULT_BANDS,
    color: str = "C0",
    label: str | None = None,
    actuals: dict[str, float] | None = None,
    money: bool = False,
    currency: str = "USD",
) -> Any:
    """Median line and graded central bands of `draws` (n_draws x n_periods) on `ax`."""
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != len(periods):
        raise ValueError(f"draws must be (n_draws, {len(periods)}), got {draws.shape}")
    x = np.array([period_x(p) for p in periods])
    for k, b in enumerate(sorted(bands, reverse=True)):
        lo, hi = np.percentile(draws, [50 - b / 2, 50 + b / 2], axis=0)
        alpha = 0.15 + 0.2 * k
        ax.fill_between(x, lo, hi, color=color, alpha=alpha, linewidth=0, label=f"{b} % band" if label is None else None)
    ax.plot(x, np.median(draws, axis=0), color=color, lw=2, label=label or "median")
    if actuals:
        pts = [(period_x(p), v) for p, v in actuals.items()]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="black", zorder=5, s=18, label="actual")
    if money:
        ax.yaxis.set_major_formatter(money_formatter(currency))
    ax.set_xlim(x[0] - 0.5 * (x[1] - x[0] if len(x) > 1 else 1), x[-1] + 0.5 * (x[1] - x[0] if len(x) > 1 else 1))
    ax.grid(alpha=0.3)
    return ax.figure


def plot_fan(
    results: Any,
    metric: str = "revenue",
    by: str = "total",
    *,
    filters: dict[str, list[str]] | None = None,
    freq: str | None = None,
    actuals: dict[str, dict[str, float]] | None = None,
    bands: tuple[int, ...] = DEFAULT_BANDS,
    groups: list[str] | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Fan charts of a results folder, one panel per group (or one panel on `ax`). Groups are
    named for people: the total says what it holds ("total (CAR-T + bispecific)") and, when it
    holds CAR-T and other products, the CAR-T-only fan is drawn beside it on its panel;
    modalities are spelt out ("bispecific antibody")."""
    from sim.results.modality import car_t_total, group_name, mixed_total

    plt = pyplot()
    names, periods, arr = results.grouped(metric, by, filters=filters, freq=freq)
    if groups:
        keep = [names.index(g) for g in groups if g in names]
        names, arr = [names[k] for k in keep], arr[:, keep, :]
    if not names:
        raise ScenarioError("nothing to plot: the filter matches no group")
    labels = [group_name(results, by, g, metric, filters) for g in names]
    cart = car_t_total(results, metric, filters, freq)[1] if by == "total" and mixed_total(
        results, metric, filters) else None
    money = is_money(metric)
    currency = results.meta.get("reporting_currency", "USD")
    n = len(names)

    def panel(a: Any, k: int, color: str = "C0", label: str | None = None) -> None:
        if cart is not None:  # the total and CAR-T only, on one panel
            fan_chart(periods, arr[:, k, :], ax=a, bands=bands, color="C0", label=f"{labels[k]}: median",
                      actuals=(actuals or {}).get(names[k]), money=money, currency=currency)
            fan_chart(periods, cart, ax=a, bands=bands, color="C1", label="CAR-T only: median",
                      money=money, currency=currency)
        else:
            fan_chart(periods, arr[:, k, :], ax=a, bands=bands, color=color, label=label,
                      actuals=(actuals or {}).get(names[k]), money=money, currency=currency)

    with_cart = ", with CAR-T only" if cart is not None else ""
    if ax is not None:
        if n > 1:
            for k in range(n):
                panel(ax, k, color=f"C{k % 10}", label=labels[k])
        else:
            panel(ax, 0)
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title(title or f"{metric_label(metric)} — {labels[0] if n == 1 else by}{with_cart}")
        return ax.figure
    cols = min(3, n)
    rows = math.ceil(n / cols)
    size = (8.0, 4.2) if n == 1 else (5.2 * cols, 3.4 * rows)  # one panel: room for its title
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, sharex=True)
    for k in range(n):
        a = axes[k // cols][k % cols]
        panel(a, k)
        if n > 1:
            a.set_title(labels[k], fontsize=10)
        if k == 0:
            a.legend(fontsize=7, loc="upper left")
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    unit = f" ({currency})" if money else ""
    what = f" — {labels[0]}{with_cart}\n" if n == 1 else f" by {by} — "
    fig.suptitle(title or f"{metric_label(metric)}{unit}{what}{results.scenario}, "
                 f"{results.meta.get('draws')} draws; median and {'/'.join(map(str, sorted(bands)))} % bands")
    fig.tight_layout()
    return fig


def default_charts(results: Any, folder: str | Path) -> list[Path]:
    """Total market, each product and each target: revenue fan charts (plus patients)."""
    folder = Path(folder)
    out = []
    for metric, by in (("revenue", "total"), ("revenue", "product"), ("revenue", "target"),
                       ("infused", "total"), ("revenue", "region")):
        fig = plot_fan(results, metric, by)
        out.append(save_figure(fig, folder / f"fan_{metric}_{by}.png"))
    return out

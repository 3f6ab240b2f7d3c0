"""Fan charts. Plots never run a simulation: they take per-draw arrays (or a Results
folder) and an optional matplotlib `ax`, and return the figure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import ScenarioError

DEFAULT_BANDS = (90, 80, 50)
METRIC_LABELS = {
    "revenue": "Net revenue", "company_revenue": "Company revenue", "gross_profit": "Gross profit",
    "infused": "Patients infused", "demand": "Patients demanding", "waiting": "Patients waiting",
    "dropped": "Patients dropped out", "eligible": "Eligible patients", "income": "Company income",
}
MONEY = {"revenue", "company_revenue", "gross_profit", "revenue_local", "cogs", "income", "royalty", "deal_payments"}


def period_x(label: str) -> float:
    """Mid-point of a period in fractional years, for plotting."""
    y = int(label[:4])
    if "Q" in label:
        return y + (int(label[-1]) - 1) / 4 + 0.125
    if "-" in label:
        return y + (int(label[5:7]) - 1) / 12 + 1 / 24
    return y + 0.5


def _mpl() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        import contextlib

        with contextlib.suppress(Exception):  # a GUI backend may already be active in a notebook
            matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def scale_suffix(x: float) -> tuple[float, str]:
    """x in thousands, millions or billions with its suffix (k, M, B), for short money labels."""
    a = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return x / div, suffix
    return x, ""


def _money_formatter(currency: str) -> Any:
    from matplotlib.ticker import FuncFormatter

    def fmt(x: float, _pos: int) -> str:
        v, suffix = scale_suffix(x)
        return f"{v:g}{suffix}"

    return FuncFormatter(fmt)


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
    plt = _mpl()
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
        ax.yaxis.set_major_formatter(_money_formatter(currency))
    ax.set_xlim(x[0] - 0.5 * (x[1] - x[0] if len(x) > 1 else 1), x[-1] + 0.5 * (x[1] - x[0] if len(x) > 1 else 1))
    ax.grid(alpha=0.3)
    return ax.figure


def load_actuals(path: str | Path, by: str) -> dict[str, dict[str, float]]:
    """Actuals CSV -> {group: {period: value}}. Accepts the shared sales file layout
    (product, year, net_sales_usd_m) or generic (group, period, value)."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ScenarioError(f"actuals file not found: {p}", file=str(p))
    df = pd.read_csv(p)
    key = by if by in df.columns else ("group" if "group" in df.columns else None)
    if key is None:
        raise ScenarioError(f"actuals file has no '{by}' or 'group' column (columns: {', '.join(df.columns)})", file=str(p))
    pcol = "period" if "period" in df.columns else "year"
    if pcol not in df.columns:
        raise ScenarioError("actuals file needs a 'year' or 'period' column", file=str(p))
    if "net_sales_usd_m" in df.columns:
        vals = df["net_sales_usd_m"].astype(float) * 1e6
    elif "value" in df.columns:
        vals = df["value"].astype(float)
    else:
        raise ScenarioError("actuals file needs a 'value' or 'net_sales_usd_m' column", file=str(p))
    out: dict[str, dict[str, float]] = {}
    for g, per, v in zip(df[key].astype(str), df[pcol].astype(str), vals, strict=True):
        name = g.split(" (")[0].strip()
        out.setdefault(name, {})
        out[name][per] = out[name].get(per, 0.0) + float(v)
    return out


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
    """Fan charts of a results folder, one panel per group (or one panel on `ax`)."""
    plt = _mpl()
    names, periods, arr = results.grouped(metric, by, filters=filters, freq=freq)
    if groups:
        keep = [names.index(g) for g in groups if g in names]
        names, arr = [names[k] for k in keep], arr[:, keep, :]
    if not names:
        raise ScenarioError("nothing to plot: the filter matches no group")
    money = metric in MONEY
    currency = results.meta.get("reporting_currency", "USD")
    n = len(names)
    if ax is not None:
        if n > 1:
            for k, g in enumerate(names):
                fan_chart(periods, arr[:, k, :], ax=ax, bands=bands, color=f"C{k % 10}", label=g,
                          actuals=(actuals or {}).get(g), money=money, currency=currency)
            ax.legend(fontsize=7)
        else:
            fan_chart(periods, arr[:, 0, :], ax=ax, bands=bands, actuals=(actuals or {}).get(names[0]),
                      money=money, currency=currency)
            ax.legend(fontsize=7)
        ax.set_title(title or f"{METRIC_LABELS.get(metric, metric)} — {names[0] if n == 1 else by}")
        return ax.figure
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False, sharex=True)
    for k, g in enumerate(names):
        a = axes[k // cols][k % cols]
        fan_chart(periods, arr[:, k, :], ax=a, bands=bands, actuals=(actuals or {}).get(g),
                  money=money, currency=currency)
        a.set_title(g, fontsize=10)
        if k == 0:
            a.legend(fontsize=7, loc="upper left")
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    unit = f" ({currency})" if money else ""
    fig.suptitle(title or f"{METRIC_LABELS.get(metric, metric)}{unit} by {by} — {results.scenario}, "
                 f"{results.meta.get('draws')} draws; median and {'/'.join(map(str, sorted(bands)))} % bands")
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    from sim.io import atomic_write

    plt = _mpl()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png"))
    plt.close(fig)
    return path


def default_charts(results: Any, folder: str | Path) -> list[Path]:
    """Total market, each product and each target: revenue fan charts (plus patients)."""
    folder = Path(folder)
    out = []
    for metric, by in (("revenue", "total"), ("revenue", "product"), ("revenue", "target"),
                       ("infused", "total"), ("revenue", "region")):
        fig = plot_fan(results, metric, by)
        out.append(save_figure(fig, folder / f"fan_{metric}_{by}.png"))
    return out

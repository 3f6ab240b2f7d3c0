"""Compare scenarios draw by draw.

Two scenarios run with the same seed (and the same number of draws, plain Monte Carlo or
Latin hypercube) share the uniforms of every input they have in common, so draw i of B
minus draw i of A is the effect of what differs between them, not sampling noise: the
*paired* difference. When results cannot be paired (different seeds, draw counts or
draw ids) the comparison falls back to independent draws and says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ScenarioError
from sim.results import Results

UNPAIRED_SAMPLES = 20_000  # random (A, B) pairs used for the difference distribution when unpaired


@dataclass
class Comparison:
    """Per-draw values of one metric for several results, aligned on groups and periods.

    arrays[k] is (draws_k, groups, periods); groups missing from a scenario are zeros.
    The first result is the baseline.
    """

    labels: list[str]
    groups: list[str]
    periods: list[str]
    arrays: list[np.ndarray]
    paired: bool
    metric: str
    by: str
    notes: list[str] = field(default_factory=list)
    currency: str = "USD"

    def difference(self, k: int) -> np.ndarray:
        """Draws of scenario k minus the baseline: paired draw by draw, or random pairs if unpaired."""
        a, b = self.arrays[0], self.arrays[k]
        if self.paired:
            return b - a
        rng = np.random.default_rng(0)
        m = max(UNPAIRED_SAMPLES, a.shape[0], b.shape[0])
        return b[rng.integers(b.shape[0], size=m)] - a[rng.integers(a.shape[0], size=m)]

    def period_index(self, period: str | None) -> int:
        from sim.results.folder import period_index

        return period_index(self.periods, period)


def _as_results(r: Results | str | Path) -> Results:
    return r if isinstance(r, Results) else Results(r)


def pairing_problems(results: list[Results]) -> list[str]:
    """Why draws of these results cannot be paired (empty list = they can)."""
    base = results[0]
    out = []
    for r in results[1:]:
        for key in ("seed", "draws"):
            if base.meta.get(key) != r.meta.get(key):
                out.append(f"{key} differs: {base.path} has {base.meta.get(key)}, {r.path} has {r.meta.get(key)}")
        da, db = base.meta.get("design", "mc"), r.meta.get("design", "mc")
        if da != db:
            out.append(f"sampling design differs: {base.path} used {da}, {r.path} used {db}")
    if not out:
        ids = [np.asarray(r.draws) for r in results]
        if any(x.shape != ids[0].shape or not np.array_equal(x, ids[0]) for x in ids[1:]):
            out.append("the results hold different draw ids")
    return out


def _labels(results: list[Results], labels: list[str] | None) -> list[str]:
    if labels is not None:
        if len(labels) != len(results):
            raise ScenarioError(f"{len(labels)} labels for {len(results)} results")
        return list(labels)
    names = [r.scenario for r in results]
    out = []
    for k, (r, n) in enumerate(zip(results, names, strict=True)):
        out.append(n if names.count(n) == 1 else f"{n} ({r.path.name or k + 1})")
    if len(set(out)) < len(out):
        out = [f"{k + 1}:{n}" for k, n in enumerate(out)]
    return out


def load_comparison(results_list: list[Results | str | Path], metric: str = "revenue", by: str = "total",
                    filters: dict[str, list[str]] | None = None, freq: str | None = None,
                    labels: list[str] | None = None) -> Comparison:
    """Read one metric from each results folder and align groups and periods."""
    if len(results_list) < 2:
        raise ScenarioError("compare needs at least two scenarios or results folders")
    results = [_as_results(r) for r in results_list]
    notes = []
    problems = pairing_problems(results)
    paired = not problems
    if problems:
        notes.append("draws cannot be paired (" + "; ".join(problems) + "): comparing independent draws, "
                     "so differences include sampling noise")
    designs = {r.meta.get("design", "mc") for r in results}
    if paired and "sobol" in designs:
        notes.append("Sobol designs pair inputs by the order the engine asks for them: pairing is only "
                     "partial when the scenarios' inputs differ")
    grouped = []
    errors = []
    for r in results:
        try:
            grouped.append(r.grouped(metric, by, filters=filters, freq=freq))
        except ScenarioError as exc:  # a filter naming what only some scenarios have
            if not filters or "matches nothing" not in str(exc):
                raise
            errors.append(exc)
            _, p, arr = r.grouped(metric, by, freq=freq)
            grouped.append(([], p, arr[:, :0, :]))
            notes.append(f"{r.path}: {exc.message}; counted as zero")
    if len(errors) == len(results):
        raise errors[0]
    periods = grouped[0][1]
    for (_, p, _), r in zip(grouped[1:], results[1:], strict=True):
        if p != periods:
            if set(periods) & set(p):
                common = [x for x in periods if x in set(p)]
                notes.append(f"periods differ ({r.path}); comparing the {len(common)} periods in common")
                periods = common
            else:
                raise ScenarioError(f"{results[0].path} and {r.path} have no reporting period in common")
    groups: list[str] = []
    for g, _, _ in grouped:
        groups += [x for x in g if x not in groups]
    arrays = []
    for g, p, arr in grouped:
        a = np.zeros((arr.shape[0], len(groups), len(periods)))
        pi = [p.index(x) for x in periods]
        for j, name in enumerate(g):
            a[:, groups.index(name), :] = arr[:, j, pi]
        arrays.append(a)
    for n in notes:
        warnings.warn(n, stacklevel=2)
    return Comparison(_labels(results, labels), groups, list(periods), arrays, paired, metric, by, notes,
                      results[0].meta.get("reporting_currency", "USD"))


def _p_greater_unpaired(a: np.ndarray, b: np.ndarray) -> float:
    """P(B > A) for independent draws of A and B (exact over all pairs; ties count for neither)."""
    sa = np.sort(a)
    return float(np.searchsorted(sa, b, side="left").sum() / (a.size * b.size))


def comparison_table(cmp: Comparison, period: str | None = None) -> pd.DataFrame:
    """One row per (group, scenario): median and P10-P90, and vs the baseline the difference
    (median, P10-P90, mean, sd) and the probabilities of being above / below it."""
    p = cmp.period_index(period)
    rows = []
    diffs = [None] + [cmp.difference(k)[:, :, p] for k in range(1, len(cmp.arrays))]
    for g, group in enumerate(cmp.groups):
        base = cmp.arrays[0][:, g, p]
        for k, lab in enumerate(cmp.labels):
            x = cmp.arrays[k][:, g, p]
            q10, q50, q90 = np.percentile(x, [10, 50, 90])
            row: dict[str, Any] = {"group": group, "period": cmp.periods[p], "scenario": lab,
                                   "role": "baseline" if k == 0 else "alternative", "draws": x.size,
                                   "mean": x.mean(), "median": q50, "p10": q10, "p90": q90}
            if k == 0:
                row.update(diff_mean=np.nan, diff_median=np.nan, diff_p10=np.nan, diff_p90=np.nan,
                           diff_sd=np.nan, p_greater=np.nan, p_less=np.nan)
            else:
                d = diffs[k][:, g]  # type: ignore[index]
                d10, d50, d90 = np.percentile(d, [10, 50, 90])
                if cmp.paired:
                    pg, pl = float(np.mean(d > 0)), float(np.mean(d < 0))
                else:
                    pg, pl = _p_greater_unpaired(base, x), _p_greater_unpaired(x, base)
                row.update(diff_mean=d.mean(), diff_median=d50, diff_p10=d10, diff_p90=d90,
                           diff_sd=d.std(ddof=1) if d.size > 1 else 0.0, p_greater=pg, p_less=pl)
            row["paired"] = cmp.paired
            rows.append(row)
    return pd.DataFrame(rows)


def compare(results_list: list[Results | str | Path], metric: str = "revenue", by: str = "total",
            period: str | None = None, *, filters: dict[str, list[str]] | None = None,
            freq: str | None = None, labels: list[str] | None = None) -> pd.DataFrame:
    """Compare results folders (the first is the baseline) in one period; see comparison_table."""
    return comparison_table(load_comparison(results_list, metric, by, filters, freq, labels), period)


# ---------------------------------------------------------------------------- text and charts
def _fmt(v: float, money: bool) -> str:
    if not np.isfinite(v):
        return "-"
    if money:
        from sim.plots import scale_suffix

        x, suffix = scale_suffix(v)
        if suffix:
            return f"{x:,.{2 if suffix == 'B' else 1}f}{suffix}"
    return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def format_table(df: pd.DataFrame, money: bool = True) -> str:
    lines = []
    paired = bool(df["paired"].iloc[0]) if len(df) else True
    head = (f"{'scenario':<28}{'median':>11}{'P10 - P90':>24}   {'diff median':>11}{'diff P10 - P90':>26}"
            f"{'P(>base)':>10}{'P(<base)':>10}")
    for group, sub in df.groupby("group", sort=False):
        lines.append(f"{group} ({sub['period'].iloc[0]}){'' if paired else '  [UNPAIRED]'}")
        lines.append("  " + head)
        for r in sub.itertuples():
            band = f"{_fmt(r.p10, money)} - {_fmt(r.p90, money)}"
            if r.role == "baseline":
                tail = f"   {'(baseline)':>11}"
            else:
                dband = f"{_fmt(r.diff_p10, money)} - {_fmt(r.diff_p90, money)}"
                tail = (f"   {_fmt(r.diff_median, money):>11}{dband:>26}"
                        f"{r.p_greater:>10.2f}{r.p_less:>10.2f}")
            lines.append(f"  {str(r.scenario)[:27]:<28}{_fmt(r.median, money):>11}{band:>24}{tail}")
    return "\n".join(lines)


def _top_groups(cmp: Comparison, max_groups: int, arrays: list[np.ndarray] | None = None) -> list[int]:
    """The `max_groups` groups with the largest mean absolute values (in group order)."""
    score = np.max([np.abs(a).mean(axis=0).sum(axis=1) for a in (arrays or cmp.arrays)], axis=0)
    return sorted(np.argsort(-score, kind="stable")[:max_groups].tolist())


def plot_difference(cmp: Comparison, k: int = 1, *, max_groups: int = 9, title: str | None = None) -> Any:
    """Fan chart over time of (scenario k - baseline), one panel per group."""
    import math

    from sim.plots import MONEY, _mpl, fan_chart

    plt = _mpl()
    d = cmp.difference(k)
    gi = _top_groups(cmp, max_groups, [d])
    cols = min(3, len(gi))
    rows = math.ceil(len(gi) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False, sharex=True)
    money = cmp.metric in MONEY
    for n, g in enumerate(gi):
        ax = axes[n // cols][n % cols]
        fan_chart(cmp.periods, d[:, g, :], ax=ax, color="C2", money=money, currency=cmp.currency)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(cmp.groups[g], fontsize=10)
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
    from sim.plots import MONEY, _mpl, fan_chart

    plt = _mpl()
    gi = _top_groups(cmp, max_groups)
    ns = len(cmp.arrays)
    fig, axes = plt.subplots(len(gi), ns, figsize=(4.4 * ns, 3.0 * len(gi)), squeeze=False,
                             sharex=True, sharey="row")
    money = cmp.metric in MONEY
    for r, g in enumerate(gi):
        for k in range(ns):
            ax = axes[r][k]
            fan_chart(cmp.periods, cmp.arrays[k][:, g, :], ax=ax, color=f"C{k % 10}", money=money,
                      currency=cmp.currency)
            ax.set_title(f"{cmp.labels[k]} — {cmp.groups[g]}", fontsize=9)
            if r == 0 and k == 0:
                ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title or f"{cmp.metric} by {cmp.by}: median and 50/80/90 % bands", fontsize=11)
    fig.tight_layout()
    return fig


def write_comparison(cmp: Comparison, folder: str | Path, period: str | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """comparison.csv, difference fan chart(s) and side-by-side fan charts into `folder`."""
    from sim.io import atomic_write
    from sim.plots import save_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    df = comparison_table(cmp, period)
    files = [atomic_write(folder / "comparison.csv",
                          lambda tmp: df.to_csv(tmp, index=False, float_format="%.6g"))]
    for k in range(1, len(cmp.arrays)):
        name = "difference.png" if len(cmp.arrays) == 2 else f"difference_{k}.png"
        files.append(save_figure(plot_difference(cmp, k), folder / name))
    files.append(save_figure(plot_side_by_side(cmp), folder / "side_by_side.png"))
    return df, files

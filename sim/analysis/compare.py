"""Compare scenarios draw by draw.

Two scenarios run with the same seed (and the same number of draws, plain Monte Carlo or
Latin hypercube) share the uniforms of every input they have in common, so draw i of B
minus draw i of A is the effect of what differs between them, not sampling noise: the
*paired* difference. When results cannot be paired (different seeds, draw counts or
draw ids) the comparison falls back to independent draws and says so.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ScenarioError
from sim.results import Results
from sim.results.folder import period_index
from sim.results.modality import group_name, total_modalities
from sim.vocab import total_label

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
    names: dict[str, str] = field(default_factory=dict)  # groups as people read them, if not their name

    def name(self, group: str) -> str:
        """A group as people read it: "total (CAR-T + bispecific)", "bispecific antibody"."""
        return self.names.get(group, group)

    def difference(self, k: int) -> np.ndarray:
        """Draws of scenario k minus the baseline: paired draw by draw, or random pairs if unpaired."""
        a, b = self.arrays[0], self.arrays[k]
        if self.paired:
            return b - a
        rng = np.random.default_rng(0)
        m = max(UNPAIRED_SAMPLES, a.shape[0], b.shape[0])
        return b[rng.integers(b.shape[0], size=m)] - a[rng.integers(a.shape[0], size=m)]

    def period_index(self, period: str | None) -> int:
        """Index of a period label (None: the last)."""
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


def load_comparison(results_list: Sequence[Results | str | Path], metric: str = "revenue", by: str = "total",
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
                      results[0].meta.get("reporting_currency", "USD"),
                      _group_names(results, metric, by, groups, filters))


def _group_names(results: list[Results], metric: str, by: str, groups: list[str],
                 filters: dict[str, list[str]] | None) -> dict[str, str]:
    """The groups people read under another name: a total says what it holds in every scenario
    compared ("total (CAR-T + bispecific)"), a modality is spelt out."""
    if by != "total":
        names = {g: group_name(results[0], by, g) for g in groups}
    else:
        mods: list[str] = []
        for r in results:
            with contextlib.suppress(ScenarioError):  # a filter matching nothing here: it adds nothing
                mods += total_modalities(r, metric, filters)
        names = {"total": total_label(mods)}
    return {g: n for g, n in names.items() if n != g}


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


def compare(results_list: Sequence[Results | str | Path], metric: str = "revenue", by: str = "total",
            period: str | None = None, *, filters: dict[str, list[str]] | None = None,
            freq: str | None = None, labels: list[str] | None = None) -> pd.DataFrame:
    """Compare results folders (the first is the baseline) in one period; see comparison_table."""
    return comparison_table(load_comparison(results_list, metric, by, filters, freq, labels), period)

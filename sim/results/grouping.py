"""Groupings of results: which stored items add up to each product, target, region, company...

Lanes (product x region x indication) group by any of GROUPINGS; cells (region x indication)
by region and indication; company-product rows by company, product and modality. Filters keep the
items whose label is one of the given values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import ScenarioError, did_you_mean
from sim.periods import convert_period
from sim.vocab import STOCK_METRICS
from sim.vocab import metric as metric_info

if TYPE_CHECKING:
    from sim.results.folder import Results


def item_labels(res: Results, table: str, by: str) -> list[str]:
    """Each item's group when `table` is grouped `by`."""
    if table == "lanes":
        p = [x[0] for x in res.lanes]
        m = {
            "total": ["total"] * len(p),
            "product": p,
            "region": [x[1] for x in res.lanes],
            "indication": [x[2] for x in res.lanes],
            "target": [res.product_target[x] for x in p],
            "company": [res.product_company[x] for x in p],
            "modality": [res.product_modality.get(x, "") for x in p],
            "lane": ["/".join(x) for x in res.lanes],
        }
    elif table == "cells":
        m = {"total": ["total"] * len(res.cells), "region": [c[0] for c in res.cells],
             "indication": [c[1] for c in res.cells], "lane": ["/".join(c) for c in res.cells]}
    else:
        m = {"total": ["total"] * len(res.company_products),
             "company": [c for c, _ in res.company_products],
             "product": [p for _, p in res.company_products],
             "modality": [res.product_modality.get(p, "") for _, p in res.company_products]}
    if by not in m:
        raise ScenarioError(f"cannot group {table} results by {by!r}; choose one of {', '.join(m)}")
    return m[by]


def item_mask(res: Results, table: str, filters: dict[str, list[str]] | None) -> np.ndarray:
    """The items every filter keeps (a filter value that matches nothing is an error)."""
    mask = np.ones(res.n_items(table), dtype=bool)
    for key, allowed in (filters or {}).items():
        labels = item_labels(res, table, key)
        known = set(labels)
        bad = [a for a in allowed if a not in known]
        if bad:
            raise ScenarioError(f"filter {key}={bad[0]!r} matches nothing{did_you_mean(bad[0], known)}")
        mask &= np.isin(labels, allowed)
    return mask


@dataclass(frozen=True)
class GroupPlan:
    """Which stored items add up to each group: `order` lists the kept items group by group,
    `starts` where each group begins in it."""

    by: str
    metric: str
    table: str
    groups: list[str]
    order: np.ndarray
    starts: np.ndarray


def group_plan(res: Results, metric: str, by: str, filters: dict[str, list[str]] | None = None,
               table: str | None = None) -> GroupPlan:
    """The groups of `metric` by `by` (sorted by name) and the items each adds up."""
    if table is None:
        table = res.table_for(metric)
    labels = item_labels(res, table, by)
    mask = item_mask(res, table, filters)
    groups = sorted({lab for lab, k in zip(labels, mask, strict=True) if k})
    gi = {g: k for k, g in enumerate(groups)}
    kept = [k for k, keep in enumerate(mask) if keep]
    order = np.array(sorted(kept, key=lambda k: gi[labels[k]]), dtype=np.int64)
    gidx = np.array([gi[labels[k]] for k in order], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, gidx[1:] != gidx[:-1]]) if order.size else np.zeros(0, np.int64)
    return GroupPlan(by, metric, table, groups, order, starts.astype(np.int64))


def grouped(res: Results, metric: str, by: str = "total", filters: dict[str, list[str]] | None = None,
            freq: str | None = None, table: str | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """Per-draw sums by group and period in float64: (groups, periods, (draws, groups, periods)).

    By company, money that is booked by company (revenue, gross profit) is read from the
    company table, so partners' shares count for the partner."""
    if table is None:
        m = metric_info(metric)
        table = "companies" if by == "company" and "companies" in m.tables else m.tables[0]
    arr = res.array(metric, table)
    gp = group_plan(res, metric, by, filters, table)
    groups = gp.groups
    N, NPd, I = arr.shape
    onehot = np.zeros((I, len(groups)))
    onehot[gp.order, np.repeat(np.arange(len(groups)), np.diff(np.r_[gp.starts, gp.order.size]))] = 1.0
    g = (arr.reshape(N * NPd, I) @ onehot).reshape(N, NPd, len(groups)).transpose(0, 2, 1)
    periods = res.periods
    freq = freq or res.frequency
    if freq != res.frequency:
        new = [convert_period(p, freq) for p in periods]
        out_periods = list(dict.fromkeys(new))
        idx = np.array([out_periods.index(p) for p in new])
        if metric in STOCK_METRICS:
            last = [max(k for k, x in enumerate(idx) if x == j) for j in range(len(out_periods))]
            g = g[:, :, last]
        else:
            agg = np.zeros(g.shape[:2] + (len(out_periods),))
            for j in range(len(out_periods)):
                agg[:, :, j] = g[:, :, idx == j].sum(axis=2)
            g = agg
        periods = out_periods
    return groups, periods, g


def group_rows(xt: np.ndarray, gp: GroupPlan, out: np.ndarray | None = None, col0: int = 0) -> np.ndarray:
    """Stored values laid out by `draws_last` -> rows (group * periods + period, draws) float32.

    Summed in float64 in one fixed order per group (compiled loop), so a draw's sums do not
    depend on which draws share its batch or array, unlike a BLAS product."""
    from sim.results.kernels import group_sums

    NP, N = xt.shape[0], xt.shape[2]
    if out is None:
        out = np.empty((len(gp.groups) * NP, N), dtype=np.float32)
    group_sums(xt, gp.order, gp.starts, out, col0)
    return out


def draws_last(x: np.ndarray) -> np.ndarray:
    """(draws, periods, items) -> contiguous (periods, items, draws) float32, the kernel's layout."""
    return np.ascontiguousarray(x.transpose(1, 2, 0), dtype=np.float32)

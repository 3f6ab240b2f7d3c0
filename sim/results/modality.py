"""What a total holds: the modalities of the products it adds up, its label for people, and the
CAR-T-only total shown beside it when a scenario also has bispecifics (or other products).

The stored group of a total stays "total" (summary.csv, scripts); only what people read says
"total (CAR-T + bispecific)". CAR-T is sim.vocab.CAR_T_MODALITIES (autologous + allogeneic).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sim.periods import convert_period, label_frequency
from sim.results.grouping import item_mask
from sim.vocab import STOCK_METRICS, is_car_t, modality_label, total_label
from sim.vocab import metric as metric_info

if TYPE_CHECKING:
    from sim.results.folder import Results

Filters = dict[str, list[str]]


def total_table(metric: str, table: str | None = None) -> str:
    """The table a metric's total is read from (its default table unless one is given)."""
    return table or metric_info(metric).tables[0]


def total_modalities(res: Results, metric: str = "revenue", filters: Filters | None = None,
                     table: str | None = None) -> list[str]:
    """The modalities of the products a total of `metric` adds up (those `filters` keep), sorted.
    Empty when the total is not over products (cells: eligible patients) or the folder does not
    record modalities (written before they were)."""
    table = total_table(metric, table)
    if table == "cells" or not res.product_modality:
        return []
    products = [x[0] for x in res.lanes] if table == "lanes" else [p for _, p in res.company_products]
    keep = item_mask(res, table, filters)
    return sorted({res.product_modality.get(p, "") for p, k in zip(products, keep, strict=True) if k} - {""})


def total_name(res: Results, metric: str = "revenue", filters: Filters | None = None,
               table: str | None = None) -> str:
    """The total's label for people: "total (CAR-T + bispecific)", "total (CAR-T)", or "total"."""
    return total_label(total_modalities(res, metric, filters, table))


def mixed_total(res: Results, metric: str = "revenue", filters: Filters | None = None,
                table: str | None = None) -> bool:
    """Whether the total holds CAR-T and other products (bispecifics): then the CAR-T-only
    figure is shown beside it."""
    mods = total_modalities(res, metric, filters, table)
    return any(is_car_t(m) for m in mods) and not all(is_car_t(m) for m in mods)


def car_t_filters(res: Results, metric: str = "revenue", filters: Filters | None = None,
                  table: str | None = None) -> Filters | None:
    """`filters` narrowed to the CAR-T products (None: the total holds none)."""
    cart = [m for m in total_modalities(res, metric, filters, table) if is_car_t(m)]
    return {**(filters or {}), "modality": cart} if cart else None


def group_name(res: Results, by: str, group: str, metric: str = "revenue", filters: Filters | None = None,
               table: str | None = None) -> str:
    """A stored group's label for people: the total says what it holds, a modality is spelt out."""
    if by == "total":
        return total_name(res, metric, filters, table)
    if by == "modality":
        return modality_label(group)
    return group


def car_t_total(res: Results, metric: str = "revenue", filters: Filters | None = None,
                freq: str | None = None, table: str | None = None) -> tuple[list[str], np.ndarray]:
    """The CAR-T-only total per draw: (periods, (draws, periods)); zeros when it holds no CAR-T."""
    table = total_table(metric, table)
    cart = car_t_filters(res, metric, filters, table)
    _, periods, arr = res.grouped(metric, "total", filters=cart or filters, freq=freq, table=table)
    out = arr[:, 0, :] if arr.shape[1] else np.zeros((arr.shape[0], len(periods)))
    return periods, out if cart is not None else np.zeros_like(out)


def period_totals(res: Results, metric: str, period: str, filter_sets: Sequence[Filters | None],
                  table: str | None = None) -> list[np.ndarray]:
    """Per-draw totals of `metric` in one reported `period` (stored, or coarser: the year of a
    monthly run), one per filter set, in float64. Read one part at a time, so a run of any
    size needs memory for one batch only (Results.grouped holds every draw and period)."""
    table = total_table(metric, table)
    pfreq = label_frequency(period)
    inside = [k for k, p in enumerate(res.periods) if convert_period(p, pfreq) == period]
    if not inside:
        from sim.errors import ScenarioError

        raise ScenarioError(f"period {period!r} is not in these results ({res.periods[0]}..{res.periods[-1]})")
    if metric in STOCK_METRICS:
        inside = inside[-1:]  # a level at the period's end
    masks = [item_mask(res, table, f) for f in filter_sets]
    parts: list[list[np.ndarray]] = [[] for _ in masks]
    for x in res.part_arrays(metric, table):  # (draws, periods, items) float32
        sel = x[:, inside, :].astype(np.float64).sum(axis=1)  # (draws, items)
        for out, m in zip(parts, masks, strict=True):
            out.append(sel[:, m].sum(axis=1))
    return [np.concatenate(p) if p else np.zeros(0) for p in parts]

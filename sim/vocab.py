"""The project's vocabulary, in one place: metrics, groupings, frequencies, designs, engines.

Command-line choices, charts, summaries and the engine's output order all read from here, so
a new metric or grouping is added once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

TABLES = ("lanes", "cells", "companies")  # per-draw metric tables; "events" and "inputs" are the other two
PART_TABLES = ("lanes", "cells", "companies", "events", "inputs")


@dataclass(frozen=True)
class Metric:
    """A result metric: where it is stored, what it counts and how it adds up over time."""

    name: str
    tables: tuple[str, ...]  # tables holding it, the default first
    kind: Literal["money", "patients"]
    stock: bool  # a level at the end of the period (summed over months: no), else a flow
    label: str
    local_currency: bool = False  # money in each region's own currency, not the reporting one

    @property
    def money(self) -> bool:
        """Whether the metric is money."""
        return self.kind == "money"

    def unit(self, currency: str = "USD") -> str:
        """The unit people read on an axis or in a table."""
        if self.money:
            return "local currency" if self.local_currency else currency
        return "patients at the period's end" if self.stock else "patients"


def _m(name: str, tables: tuple[str, ...], kind: Literal["money", "patients"], label: str,
       stock: bool = False, local: bool = False) -> Metric:
    return Metric(name, tables, kind, stock, label, local)


METRICS: dict[str, Metric] = {m.name: m for m in (
    _m("demand", ("lanes", "cells"), "patients", "Patients demanding"),
    _m("infused", ("lanes",), "patients", "Patients infused"),
    _m("failed", ("lanes",), "patients", "Manufacturing failures"),
    _m("dropped", ("lanes",), "patients", "Patients dropped out"),
    _m("waiting", ("lanes",), "patients", "Patients waiting", stock=True),
    _m("revenue_local", ("lanes",), "money", "Net revenue (local currency)", local=True),
    _m("revenue", ("lanes", "companies"), "money", "Net revenue"),
    _m("cogs", ("lanes",), "money", "Cost of goods"),
    _m("gross_profit", ("lanes", "companies"), "money", "Gross profit"),
    _m("company_revenue", ("lanes",), "money", "Company revenue"),
    _m("eligible", ("cells",), "patients", "Eligible patients"),
    _m("addressable", ("cells",), "patients", "Addressable patients"),
    _m("untreated", ("cells",), "patients", "Eligible patients not treated"),
    _m("royalty", ("companies",), "money", "Royalties"),
    _m("deal_payments", ("companies",), "money", "Deal payments"),
    _m("income", ("companies",), "money", "Company income"),
)}


def _table_metrics(table: str, order: tuple[str, ...]) -> tuple[str, ...]:
    assert all(table in METRICS[m].tables for m in order) and len(order) == sum(
        table in m.tables for m in METRICS.values()), f"metric order of {table} out of date"
    return order


# the engine's output order of each table (the parquet columns and metadata.json follow it)
LANE_METRICS = _table_metrics("lanes", ("demand", "infused", "failed", "dropped", "waiting", "revenue_local",
                                        "revenue", "cogs", "gross_profit", "company_revenue"))
CELL_METRICS = _table_metrics("cells", ("eligible", "addressable", "demand", "untreated"))
COMPANY_METRICS = _table_metrics("companies", ("revenue", "gross_profit", "royalty", "deal_payments", "income"))
TABLE_METRICS = {"lanes": LANE_METRICS, "cells": CELL_METRICS, "companies": COMPANY_METRICS}
MONEY = frozenset(m.name for m in METRICS.values() if m.money)
STOCK_METRICS = frozenset(m.name for m in METRICS.values() if m.stock)

GROUPINGS = ("total", "product", "target", "region", "indication", "company", "modality", "lane")

# what a product is (a scenario's `modality`), as people read it; CAR-T is both cell-therapy kinds
MODALITY_LABELS = {"autologous_cart": "autologous CAR-T", "allogeneic_cart": "allogeneic CAR-T",
                   "bispecific": "bispecific antibody", "other": "other modality"}
CAR_T_MODALITIES = ("autologous_cart", "allogeneic_cart")
# the classes a total can hold, in the order its label names them
_MODALITY_CLASS = {"autologous_cart": "CAR-T", "allogeneic_cart": "CAR-T", "bispecific": "bispecific",
                   "other": "other"}
FREQUENCIES = ("month", "quarter", "year")
FREQ_MONTHS = {"month": 1, "quarter": 3, "year": 12}
DESIGNS = ("mc", "lhs", "sobol")
ENGINES = ("batch", "patient", "cohort")
KERNELS = ("compiled", "numpy")
EXECUTORS = ("local", "dask")
PERCENTILES = (5, 10, 25, 50, 75, 90, 95)  # the summary's percentiles


def metric(name: str) -> Metric:
    """The metric called `name`, or a ScenarioError listing the known ones."""
    if name not in METRICS:
        from sim.errors import ScenarioError, did_you_mean

        raise ScenarioError(f"unknown metric {name!r}{did_you_mean(name, METRICS)}; "
                            + "; ".join(f"{t}: {', '.join(TABLE_METRICS[t])}" for t in TABLES))
    return METRICS[name]


def metric_label(name: str) -> str:
    """A metric's label for people (its name if it is not a metric)."""
    return METRICS[name].label if name in METRICS else name


def is_money(name: str) -> bool:
    """Whether the metric called `name` is money."""
    return name in MONEY


def modality_label(modality: str) -> str:
    """A modality as people read it ("autologous CAR-T"); an unknown one as it is written."""
    return MODALITY_LABELS.get(modality, modality)


def is_car_t(modality: str) -> bool:
    """Whether products of this modality are CAR-T (autologous or allogeneic)."""
    return modality in CAR_T_MODALITIES


def total_content(modalities: Iterable[str]) -> str:
    """What a total of products of these modalities holds: "CAR-T", "CAR-T + bispecific", ...
    (empty when no modality is known, e.g. a folder written before modalities were recorded)."""
    classes = {_MODALITY_CLASS.get(m, m) for m in modalities if m}
    order = [c for c in dict.fromkeys(_MODALITY_CLASS.values()) if c in classes]
    return " + ".join(order + sorted(classes - set(order)))


def total_label(modalities: Iterable[str]) -> str:
    """The label of a total: "total (CAR-T + bispecific)", or "total" when its content is unknown."""
    content = total_content(modalities)
    return f"total ({content})" if content else "total"

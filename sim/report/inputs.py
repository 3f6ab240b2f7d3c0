"""A scenario's inputs for the report: every uncertain one with its distribution and the values
drawn, and the fixed ones, in the order of the merged scenario file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.formats import GATE_SUFFIX, fmt_input, fmt_number, is_date_input


def _walk(obj: Any, path: str = "") -> list[tuple[str, Any]]:
    """(field path, node) for every node of the scenario data, in file order; a
    distribution mapping ({dist: ...}) is a leaf."""
    out: list[tuple[str, Any]] = [(path, obj)] if path else []
    if isinstance(obj, dict) and "dist" not in obj:
        for k, v in obj.items():
            out += _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for j, v in enumerate(obj):
            out += _walk(v, f"{path}[{j}]")
    return out


def _is_dist(node: Any) -> bool:
    return isinstance(node, dict) and "dist" in node


def _is_uncertain_dist(node: Any) -> bool:
    return _is_dist(node) and str(node.get("dist")) != "fixed"


def describe_dist(node: dict[str, Any]) -> str:
    """'pert(min 0.3, mode 0.45, max 0.6)' for a distribution mapping."""
    kind = str(node.get("dist"))
    params = []
    for k, v in node.items():
        if k == "dist":
            continue
        if isinstance(v, list):
            params.append(f"{k} [{', '.join(fmt_number(x) for x in v)}]")
        else:
            params.append(f"{k} {fmt_number(v)}")
    return f"{kind}({', '.join(params)})"


@dataclass
class InputRow:
    """One uncertain input: its distribution and the P10 / P50 / P90 drawn."""

    path: str
    distribution: str
    kind: str  # "continuous", "date", "gate", "recorded"
    p10: str = "–"
    p50: str = "–"
    p90: str = "–"
    sampled: bool = False


def uncertain_inputs(data: dict[str, Any] | None, inputs: pd.DataFrame | None) -> list[InputRow]:
    """Every uncertain input: distributions in the scenario (file order) and recorded gates,
    each with its sampled P10/P50/P90 (or, for a yes/no gate, how often it fired)."""
    nodes = _walk(data or {})
    lookup = dict(nodes)
    order = {p: k for k, (p, _) in enumerate(nodes)}
    recorded = [c for c in (inputs.columns if inputs is not None else []) if c != "draw"]
    rows: dict[str, InputRow] = {}
    for path, node in nodes:
        if _is_uncertain_dist(node):
            kind = "date" if is_date_input(path) else "continuous"
            rows[path] = InputRow(path, describe_dist(node), kind)
    for name in recorded:
        if name in rows:
            continue
        if name.endswith(GATE_SUFFIX):
            parent = lookup.get(name[: -len(GATE_SUFFIX)])
            p = parent.get("probability") if isinstance(parent, dict) else None
            desc = ("yes/no, probability " + (describe_dist(p) if _is_dist(p) else fmt_number(p))) if p is not None \
                else "yes/no"
            rows[name] = InputRow(name, desc, "gate")
        else:
            rows[name] = InputRow(name, "sampled (distribution set elsewhere in the scenario)",
                                  "date" if is_date_input(name) else "recorded")
    for name, row in rows.items():
        if inputs is None or name not in inputs.columns:
            continue
        x = inputs[name].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            continue
        row.sampled = True
        if row.kind == "gate":
            row.p50 = f"fires in {100 * x.mean():.0f} % of draws"
        else:
            q = np.percentile(x, [10, 50, 90])
            row.p10, row.p50, row.p90 = (fmt_input(name, v) for v in q)

    def key(name: str) -> tuple[int, str]:
        base = name[: -len(GATE_SUFFIX)] if name.endswith(GATE_SUFFIX) else name
        while base and base not in order:
            base = base.rsplit(".", 1)[0] if "." in base else ""
        return (order.get(base, len(order)), name)

    return [rows[n] for n in sorted(rows, key=key)]


def fixed_inputs(data: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(field path, value) of every fixed scalar in the scenario (file order)."""
    out = []
    for path, node in _walk(data or {}):
        if path in ("name", "description"):
            continue
        if _is_dist(node) and not _is_uncertain_dist(node):
            out.append((path, fmt_number(node.get("value"))))
        elif not isinstance(node, dict | list) and node is not None:
            out.append((path, fmt_number(node)))
    return out

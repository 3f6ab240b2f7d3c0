"""Builders of bad scenarios: a minimal valid scenario (BASE) and one-change variants of it.

Shared by the validation, fuzz and hostile-CLI tests: each case changes one thing in BASE
(a field set, deleted or renamed, the text edited, a variant that extends it) and writes it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.errors import ScenarioError
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "scenarios" / "example_small.yaml"

# A valid minimal scenario; every bad case below changes one thing in it.
BASE: dict[str, Any] = {
    "name": "mini",
    "description": "minimal valid scenario for tests",
    "start": "2020-01",
    "end": "2025-12",
    "regions": {
        "US": {"payers": {"insured": {"share": 0.8}, "self_pay": {"share": 0.2, "out_of_pocket": 1.0}}},
        "EU": {"currency": "EUR", "fx": 0.9},
    },
    "indications": {
        "LBCL": {
            "uptake": {"p": 0.05, "q": 0.5, "ceiling": 0.5},
            "markets": {"US": {"eligible": 1000}, "EU": {"eligible": 800}},
        },
    },
    "preference": {"weights": {"cr": 2.0}},
    "products": {
        "Axi": {
            "company": "Kite",
            "target": "CD19",
            "attributes": {"cr": 0.54},
            "regions": {"US": {"price": 373000, "launches": {"LBCL": "2020-06"}}},
        },
        "Bre": {
            "company": "BMS",
            "target": "CD19",
            "attributes": {"cr": 0.5},
            "regions": {
                "US": {"price": 400000, "launches": {"LBCL": {"date": "2021-01", "probability": 0.8}}},
            },
        },
    },
    "events": {
        "ro": {"type": "readout", "date": "2021-06"},
        "reimb": {"type": "reimbursement", "product": "Axi", "region": "US",
                  "channel": "insured", "after": "ro"},
    },
}


def dump(data: Any) -> str:
    # default_flow_style=None: leaf mappings on one line, so each case's change is on one line
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def line_of(text: str, marker: str) -> int:
    """1-based number of the first line of `text` containing `marker`."""
    for n, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return n
    raise AssertionError(f"marker {marker!r} not in the file")


def load_error(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value


# --- builders ----------------------------------------------------------------------------

Build = Callable[[Path], Path]


def write(tmp: Path, content: str | bytes, name: str = "scenario.yaml") -> Path:
    p = tmp / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def _walk(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    for k in keys:
        d = d[k]
    return d


def setp(dotted: str, value: Any) -> Build:
    """Set BASE at a dotted path (keys contain no dots) to `value`."""
    keys = tuple(dotted.split("."))

    def build(tmp: Path) -> Path:
        d = copy.deepcopy(BASE)
        _walk(d, keys[:-1])[keys[-1]] = value
        return write(tmp, dump(d))

    return build


def delp(dotted: str) -> Build:
    keys = tuple(dotted.split("."))

    def build(tmp: Path) -> Path:
        d = copy.deepcopy(BASE)
        del _walk(d, keys[:-1])[keys[-1]]
        return write(tmp, dump(d))

    return build


def rename(dotted: str, new: str) -> Build:
    """Rename the last key of a dotted path, keeping its value and position."""
    keys = tuple(dotted.split("."))

    def build(tmp: Path) -> Path:
        d = copy.deepcopy(BASE)
        parent = _walk(d, keys[:-1])
        items = [(new if k == keys[-1] else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        return write(tmp, dump(d))

    return build


def edit(fn: Callable[[dict[str, Any]], None]) -> Build:
    def build(tmp: Path) -> Path:
        d = copy.deepcopy(BASE)
        fn(d)
        return write(tmp, dump(d))

    return build


def text(transform: Callable[[str], str]) -> Build:
    def build(tmp: Path) -> Path:
        return write(tmp, transform(dump(BASE)))

    return build


def raw(content: str | bytes) -> Build:
    return lambda tmp: write(tmp, content)


def variant(body: str, base: dict[str, Any] | None = None) -> Build:
    """base.yaml = BASE (or `base`); variant.yaml = 'extends: base.yaml' + body; load the variant."""

    def build(tmp: Path) -> Path:
        write(tmp, dump(BASE if base is None else base), "base.yaml")
        return write(tmp, "extends: base.yaml\n" + body, "variant.yaml")

    return build


def extends_cycle(tmp: Path) -> Path:
    write(tmp, "extends: b.yaml\nname: a\n", "a.yaml")
    write(tmp, "extends: a.yaml\nname: b\n", "b.yaml")
    return tmp / "a.yaml"


def extends_self(tmp: Path) -> Path:
    return write(tmp, "extends: scenario.yaml\nname: me\n")


def a_directory(tmp: Path) -> Path:
    d = tmp / "scenario.yaml"
    d.mkdir()
    return d


def billion_laughs() -> str:
    lines = ["name: lol", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


P = "products.Axi.regions.US"
L = "products.Bre.regions.US.launches.LBCL"

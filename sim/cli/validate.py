"""`sim validate FILE...`: check scenario files and list every problem at once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sim.errors import ScenarioError


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate each file; print a line per valid one and every problem of the others."""
    from sim.engine.structure import build_structure
    from sim.scenario import load_scenario
    from sim.scenario.dists import is_uncertain

    bad = 0
    for f in args.files:
        try:
            loaded = load_scenario(f)
        except ScenarioError as exc:
            print(exc.render(), file=sys.stderr)
            bad += 1
            continue
        for w in loaded.warnings:
            print(f"warning: {w}", file=sys.stderr)
        structure = build_structure(loaded.scenario)
        n_unc = _count_uncertain(loaded.scenario, is_uncertain)
        print(f"ok: {f}: scenario '{loaded.scenario.name}', {len(structure.products)} products, "
              f"{len(structure.regions)} regions, {len(structure.indications)} indications, {structure.L} launches "
              f"(product x region x indication), {len(loaded.scenario.events)} events, "
              f"{n_unc} uncertain inputs, {structure.start // 12}-{structure.start % 12 + 1:02d}..{loaded.scenario.end}")
    return 2 if bad else 0


def _count_uncertain(obj: Any, pred: Any) -> int:
    from pydantic import BaseModel

    if pred(obj):
        return 1
    if isinstance(obj, BaseModel):
        return sum(_count_uncertain(getattr(obj, k), pred) for k in type(obj).model_fields)
    if isinstance(obj, dict):
        return sum(_count_uncertain(v, pred) for v in obj.values())
    if isinstance(obj, list):
        return sum(_count_uncertain(v, pred) for v in obj)
    return 0


def register(sub: Any) -> None:
    """Add the command to the parser's sub-commands."""
    v = sub.add_parser("validate", help="check scenario files and list every problem")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=cmd_validate)

"""The compiled monthly kernel against the numpy reference flow it replaces.

`BatchSim(kernel="numpy")` is the readable whole-array implementation of MODEL.md's monthly
steps; `kernel="compiled"` (the default) is the same month as one numba loop. They must agree
to rounding on every shipped scenario (affordability curves, capacity limits, inertia, deals,
events) and on small edge cases, and the kernel must keep the engine's batch independence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, base_scenario, load_dict

from sim.engine.batch import BatchOutput, simulate_batch
from sim.engine.structure import build_structure
from sim.scenario import load_scenario

SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))


def _max_rel_diff(a: BatchOutput, b: BatchOutput) -> float:
    worst = 0.0
    for table in ("lanes", "cells", "companies"):
        for metric, x in getattr(a, table).items():
            y = getattr(b, table)[metric]
            assert x.shape == y.shape, (table, metric)
            assert np.array_equal(np.isfinite(x), np.isfinite(y)), (table, metric)
            scale = max(float(np.abs(x).max(initial=0.0)), 1e-9)
            worst = max(worst, float(np.abs(x - y).max(initial=0.0)) / scale)
    return worst


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_compiled_kernel_matches_numpy_reference_on_shipped_scenarios(path: Path) -> None:
    st = build_structure(load_scenario(path).scenario)
    ids = np.arange(40)
    ref = simulate_batch(st, 7, ids, kernel="numpy")
    got = simulate_batch(st, 7, ids, kernel="compiled")
    assert _max_rel_diff(got, ref) < 1e-12
    # the comparison is not vacuous: patients are infused and money is made
    assert got.lanes["infused"].sum() > 0 and got.lanes["revenue"].sum() > 0


@pytest.mark.parametrize(("capacity", "inertia"), [(None, 0.0), (3.0, 0.0), (3.0, 0.6), (0.0, 0.3)])
def test_compiled_kernel_matches_reference_with_capacity_and_inertia(tmp_path, capacity, inertia) -> None:
    d = base_scenario()
    if capacity is not None:
        d["products"]["A"]["capacity"] = capacity
    d["indications"]["X"]["inertia"] = inertia
    st = build_structure(load_dict(tmp_path, d))
    ref = simulate_batch(st, 0, np.arange(3), kernel="numpy")
    got = simulate_batch(st, 0, np.arange(3), kernel="compiled")
    assert _max_rel_diff(got, ref) < 1e-12


def test_compiled_kernel_results_do_not_depend_on_the_batch() -> None:
    st = build_structure(load_scenario(REPO / "scenarios" / "cart_2022.yaml").scenario)
    whole = simulate_batch(st, 3, np.arange(30))
    part = simulate_batch(st, 3, np.arange(17, 23))
    for metric, x in whole.lanes.items():
        assert x[17:23].tobytes() == part.lanes[metric].tobytes(), metric


def test_unknown_kernel_is_refused() -> None:
    st = build_structure(load_scenario(REPO / "scenarios" / "example_small.yaml").scenario)
    with pytest.raises(ValueError, match="kernel must be one of"):
        simulate_batch(st, 0, np.arange(2), kernel="fortran")

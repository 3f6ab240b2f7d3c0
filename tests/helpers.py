"""Shared test builders: scenarios built as Python dicts, written to YAML, loaded and run;
results folders compared bit for bit. Test modules import these; fixtures are in conftest."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim.engine.batch import simulate_batch
from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure, build_structure
from sim.scenario import load_scenario
from sim.scenario.schema import Scenario

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "scenarios" / "example_small.yaml"
ACTUALS = REPO / "data" / "actuals" / "cart_sales_2017_2022.csv"  # in the repository: no test skips for it


def assert_same_parts(got: Path, ref: Path, metrics: list[tuple[str, str]], draws: int) -> None:
    """Two results folders hold the same part files, equal tables, bit-identical metric arrays."""
    import pandas as pd

    from sim.results import Results
    from sim.vocab import PART_TABLES

    a, b = Results(got), Results(ref)
    for table in PART_TABLES:
        names_a = sorted(p.name for p in (got / "parts").glob(f"{table}-*.parquet"))
        names_b = sorted(p.name for p in (ref / "parts").glob(f"{table}-*.parquet"))
        assert names_a == names_b, table
        pd.testing.assert_frame_equal(a.table(table), b.table(table), check_exact=True, obj=table)
    for metric, table in metrics:
        x, y = a.array(metric, table), b.array(metric, table)
        assert x.shape == y.shape and x.shape[0] == draws, (metric, table)
        assert x.tobytes() == y.tobytes(), (metric, table)  # bit-identical, -0.0 and NaN included
    np.testing.assert_array_equal(a.draws, np.arange(draws))

# A minimal valid scenario: one region, one indication, one product launched at the start,
# no uncertainty, no capacity limit, sites 1, one payer without out-of-pocket, success 1,
# growth 0. Tests deep-copy it (``base_scenario()``) and change what they need.
BASE: dict[str, Any] = {
    "name": "base",
    "start": "2020-01",
    "end": "2022-12",
    "regions": {"US": {"sites": 1.0, "payers": {"insured": {"share": 1.0, "out_of_pocket": 0.0}}}},
    "indications": {
        "X": {
            "uptake": {"p": 0.05, "q": 0.4, "ceiling": 0.5},
            "drop_out": 0.1,
            "markets": {"US": {"eligible": 1200.0, "growth": 0.0}},
        }
    },
    "products": {
        "A": {
            "company": "CoA",
            "target": "CD19",
            "ramp_months": 0,
            "manufacturing_success": 1.0,
            "regions": {"US": {"price": 100000.0, "launches": {"X": "2020-01"}}},
        }
    },
}


def base_scenario() -> dict[str, Any]:
    """A fresh deep copy of the minimal valid scenario dict."""
    return copy.deepcopy(BASE)


def example_scenario() -> dict[str, Any]:
    """The shipped worked example as a dict (to be modified by tests)."""
    return yaml.safe_load(EXAMPLE.read_text())


def write_scenario(tmp_path: Path, data: dict[str, Any], name: str = "scenario.yaml") -> Path:
    """Write a scenario dict as YAML in tmp_path and return the file path."""
    path = Path(tmp_path) / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_dict(tmp_path: Path, data: dict[str, Any], name: str = "scenario.yaml") -> Scenario:
    """Write, load and validate a scenario dict (the full loader path, reference checks included)."""
    return load_scenario(write_scenario(tmp_path, data, name)).scenario


def simulate(scn: Scenario, draws: int | np.ndarray = 1, seed: int = 0,
             freq: str | None = None) -> tuple[Structure, BatchOutput]:
    """build_structure + simulate_batch for draws 0..draws-1 (or the given draw ids)."""
    st = build_structure(scn, freq)
    ids = np.arange(draws) if np.isscalar(draws) else np.asarray(draws)
    return st, simulate_batch(st, seed, ids)


def assert_kernels_agree(st: Structure, seed: int, draws: int) -> BatchOutput:
    """The compiled kernels and the numpy reference give the same results (to rounding) for
    draws 0..draws-1; the compiled results, for further checks."""
    ids = np.arange(draws)
    a = simulate_batch(st, seed, ids, kernel="compiled")
    b = simulate_batch(st, seed, ids, kernel="numpy")
    for table in ("lanes", "cells", "companies"):
        for m in getattr(a, table):
            np.testing.assert_allclose(getattr(a, table)[m], getattr(b, table)[m], rtol=1e-9, atol=1e-6,
                                       err_msg=f"{table}.{m}")
    return a


def lane_index(st: Structure, product: str, region: str, indication: str) -> int:
    return st.lanes.index((product, region, indication))


def bass_F(tau: np.ndarray, p: float, q: float) -> np.ndarray:
    """Closed-form Bass cumulative adoption, written independently of sim.engine.formulas."""
    tau = np.maximum(np.asarray(tau, dtype=float), 0.0)
    e = np.exp(-(p + q) * tau)
    return (1.0 - e) / (1.0 + (q / p) * e)


def small_scenario(tmp: Path) -> Path:
    """Two products in one market, uncertain uptake (ceiling U(0.1, 0.9), q U(0.2, 0.8)): for fits."""
    d = base_scenario()
    d["end"] = "2024-12"
    d["indications"]["X"]["uptake"] = {"p": 0.05, "q": {"dist": "uniform", "min": 0.2, "max": 0.8},
                                      "ceiling": {"dist": "uniform", "min": 0.1, "max": 0.9}}
    d["products"]["A"]["attributes"] = {}
    d["products"]["B"] = {"company": "CoB", "target": "BCMA", "ramp_months": 0,
                          "regions": {"US": {"price": 150000.0, "launches": {"X": "2021-01"}}}}
    return write_scenario(tmp, d)


def make_actuals(tmp: Path, scn: Path, truth: dict[str, float], name: str = "actuals.csv") -> Path:
    """Sales of a 'true' draw (the truth's quantiles pinned), 2020-2023, as a reported actuals CSV."""
    import pandas as pd

    from sim.scenario.inputs import scenario_inputs

    loaded = load_scenario(scn)
    st = build_structure(loaded.scenario, "year")
    specs = dict(scenario_inputs(loaded.scenario))
    pinned = {n: np.array([(v - specs[n].min) / (specs[n].max - specs[n].min)]) for n, v in truth.items()}
    out = simulate_batch(st, 99, np.array([123456]), pinned=pinned)
    rows = [{"product": p, "year": y, "net_sales_usd_m": out.lanes["revenue"][0, st.lane_product == j, k].sum() / 1e6,
             "quality": "reported"}
            for j, p in enumerate(st.products) for k, y in enumerate(st.periods) if 2020 <= int(y) <= 2023]
    path = tmp / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path

"""Property tests (hypothesis): for random valid inputs, patients are conserved, capacity is
never exceeded and product shares never exceed the addressable pool."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import base_scenario, simulate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario.schema import Scenario

# Small by default so the file runs in seconds; SIM_HYPOTHESIS_EXAMPLES=1000 for a deeper search.
SETTINGS = settings(max_examples=int(os.environ.get("SIM_HYPOTHESIS_EXAMPLES", "40")), deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow])

# Any fraction, subnormal floats included (they once turned a tiny queue into NaN; see
# test_engine_theory.test_subnormal_queue_gives_no_nan).
fraction = st.floats(0.0, 1.0)
months = st.integers(2018 * 12, 2023 * 12 - 1).map(lambda o: f"{o // 12}-{o % 12 + 1:02d}")


@st.composite
def market(draw) -> dict:
    d = base_scenario()
    d["start"], d["end"] = "2020-01", "2022-12"
    ind = d["indications"]["X"]
    ind["uptake"] = {"p": draw(st.floats(1e-3, 5.0)), "q": draw(st.floats(0.0, 5.0)), "ceiling": draw(fraction)}
    ind["drop_out"] = draw(fraction)
    ind["inertia"] = draw(st.floats(0.0, 0.95))
    ind["markets"]["US"] = {"eligible": draw(st.floats(0.0, 1e6)), "growth": draw(st.floats(-0.5, 0.5))}
    prod = d["products"]["A"]
    prod["capacity"] = draw(st.floats(0.0, 5e3))
    prod["manufacturing_success"] = draw(fraction)
    prod["ramp_months"] = draw(st.floats(0.0, 24.0))
    prod["regions"]["US"]["launches"]["X"] = draw(months)
    return d


def _check_conservation(st_, out) -> None:
    L, C = out.lanes, out.cells
    for c in range(st_.C):
        ls = np.flatnonzero(st_.lane_cell == c)
        elig = np.cumsum(C["eligible"][:, c], axis=-1)
        gone = np.cumsum(L["infused"][:, ls] + L["failed"][:, ls] + L["dropped"][:, ls], axis=-1).sum(axis=1)
        total = gone + L["waiting"][:, ls].sum(axis=1) + np.cumsum(C["untreated"][:, c], axis=-1)
        np.testing.assert_allclose(total, elig, rtol=1e-9, atol=1e-6)
    for m in ("demand", "infused", "failed", "dropped", "waiting"):
        assert np.all(L[m] >= -1e-9), m


@pytest.mark.slow
@SETTINGS
@given(market())
def test_single_product_conservation_and_capacity(d) -> None:
    scn = Scenario.model_validate(d)
    st_, out = simulate(scn, draws=1, freq="month")
    _check_conservation(st_, out)
    cap = d["products"]["A"]["capacity"]
    s = d["products"]["A"]["manufacturing_success"]
    L = out.lanes
    assert np.all(L["infused"] + L["failed"] <= cap * (1 + 1e-12) + 1e-9)  # per month
    assert np.all(L["infused"] <= cap * s * (1 + 1e-12) + 1e-9)
    assert L["infused"].sum() <= cap * s * st_.T * (1 + 1e-12) + 1e-9
    np.testing.assert_allclose(L["infused"], (L["infused"] + L["failed"]) * s, rtol=1e-12, atol=1e-12)
    # yearly reporting: the same totals, capacity times months per year
    st_y, out_y = simulate(scn, draws=1, freq="year")
    assert np.all(out_y.lanes["infused"] <= cap * s * 12 * (1 + 1e-12) + 1e-9)
    np.testing.assert_allclose(out_y.lanes["infused"].sum(), L["infused"].sum(), rtol=1e-9, atol=1e-9)


@st.composite
def crowded_market(draw) -> dict:
    """Two to four products in one cell, with payer channels, affordability and capacity."""
    d = draw(market())
    d["regions"]["US"] = {
        "sites": draw(fraction),
        "payers": {"insured": {"share": 0.6, "out_of_pocket": draw(fraction)},
                   "self": {"share": 0.4, "out_of_pocket": 0.0, "covers": "none"}},
        "affordability": {"median": draw(st.floats(1e3, 1e6)), "sigma": draw(st.floats(0.1, 3.0))},
    }
    d["indications"]["X"]["order_of_entry"] = draw(st.floats(0.0, 1.0))
    d["preference"] = {"weights": {"cr": draw(st.floats(-5.0, 5.0))}}
    n = draw(st.integers(2, 4))
    base = d["products"].pop("A")
    for k in range(n):
        prod = {**base, "company": f"Co{k}", "attributes": {"cr": draw(fraction)},
                "capacity": draw(st.one_of(st.none(), st.floats(0.0, 5e3))),
                "regions": {"US": {"price": draw(st.floats(1e3, 1e6)),
                                   "launches": {"X": draw(months)}}}}
        if prod["capacity"] is None:
            del prod["capacity"]
        d["products"][f"P{k}"] = prod
    return d


@SETTINGS
@given(crowded_market())
def test_shares_never_exceed_addressable_and_patients_are_conserved(d) -> None:
    st_, out = simulate(Scenario.model_validate(d), draws=2, freq="month")
    _check_conservation(st_, out)
    demand = out.lanes["demand"].sum(axis=1)  # one cell
    addressable = out.cells["addressable"][:, 0]
    assert np.all(demand <= addressable * (1 + 1e-12) + 1e-9)
    assert np.all(addressable <= out.cells["eligible"][:, 0] * (1 + 1e-12) + 1e-9)
    for k, (p, _, _) in enumerate(st_.lanes):
        cap = d["products"][p].get("capacity")
        if cap is not None:
            assert np.all(out.lanes["infused"][:, k] + out.lanes["failed"][:, k] <= cap * (1 + 1e-12) + 1e-9)


@st.composite
def shared_capacity(draw) -> dict:
    """One capacity-limited product in two to three markets with their own drop-out and launch."""
    d = draw(market())
    x = d["indications"].pop("X")
    us = d["products"]["A"]["regions"]["US"]
    us["launches"] = {}
    for k in range(draw(st.integers(2, 3))):
        d["indications"][f"I{k}"] = {**x, "drop_out": draw(fraction),
                                     "markets": {"US": {"eligible": draw(st.floats(0.0, 1e5)), "growth": 0.0}}}
        us["launches"][f"I{k}"] = draw(months)
    return d


@SETTINGS
@given(shared_capacity())
def test_a_shared_queue_conserves_patients_and_keeps_to_capacity_with_both_kernels(d) -> None:
    from sim.engine.batch import simulate_batch
    from sim.engine.structure import build_structure

    st_ = build_structure(Scenario.model_validate(d), "month")
    outs = [simulate_batch(st_, 0, np.arange(1), kernel=k) for k in ("compiled", "numpy")]
    for out in outs:
        _check_conservation(st_, out)
        used = out.lanes["infused"] + out.lanes["failed"]
        assert np.all(used.sum(axis=1) <= d["products"]["A"]["capacity"] * (1 + 1e-12) + 1e-9)
    for m in ("infused", "dropped", "waiting"):
        np.testing.assert_allclose(outs[0].lanes[m], outs[1].lanes[m], rtol=1e-9, atol=1e-9, err_msg=m)

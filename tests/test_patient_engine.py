"""The patient-level engine as the correctness oracle of the batch engine.

The batch engine is a fluid (expected-value) model given each draw's sampled inputs; the
patient engine runs the same draws (same inputs, same events) with individual patients,
Poisson arrivals and integer manufacturing slots. Where the fluid model is exact in
expectation (no binding capacity, or capacity binding by a wide margin) the means over
draws must agree within Monte Carlo error: we use the standard error of the paired
difference and a 4 SE tolerance. Near capacity the fluid model overstates what is served
(Jensen: E[min(Q, c)] <= min(E[Q], c)); that gap is measured and bounded below.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import numpy as np
import pytest
from helpers import example_scenario, load_dict

from sim.engine.agreement import compare_means
from sim.engine.batch import simulate_batch
from sim.engine.cohort import simulate_cohort
from sim.engine.patient import HAZARDS, PatientSim, simulate_patient
from sim.engine.structure import build_structure

DRAWS = 300
SEED = 11
Z_TOL = 4.0

# One region, two indications, three products, three years. CD19 products A and B compete
# in X (B launches a year after A, when X's demand is already high); B and BCMA product C
# compete in Y. Uncertain: X's eligible patients and uptake ceiling, A's and B's prices,
# B's attractiveness, C's launch (date, and whether it happens). A's price moves every January.
ORACLE: dict[str, Any] = {
    "name": "oracle",
    "start": "2020-01",
    "end": "2022-12",
    "output": {"frequency": "year"},
    "regions": {"US": {"sites": 1.0, "payers": {"insured": {"share": 1.0, "out_of_pocket": 0.0}}}},
    "indications": {
        "X": {
            "uptake": {"p": 0.3, "q": 0.3, "ceiling": {"dist": "pert", "min": 0.3, "mode": 0.4, "max": 0.5}},
            "drop_out": 0.1,
            "inertia": 0.3,
            "order_of_entry": 0.3,
            "markets": {"US": {"eligible": {"dist": "uniform", "min": 1000, "max": 1400}, "growth": 0.02}},
        },
        "Y": {
            "uptake": {"p": 0.2, "q": 0.4, "ceiling": 0.5},
            "drop_out": 0.08,
            "markets": {"US": {"eligible": 300, "growth": 0.0}},
        },
    },
    "preference": {"weights": {"cr": 3.0}},
    "products": {
        "A": {
            "company": "CoA", "target": "CD19", "attributes": {"cr": 0.5}, "ramp_months": 0,
            "manufacturing_success": 0.95, "cogs": 50000,
            "regions": {"US": {"price": {"dist": "uniform", "min": 300000, "max": 400000},
                               "price_change": 0.03, "gross_to_net": 0.1, "launches": {"X": "2020-01"}}},
        },
        "B": {
            "company": "CoB", "target": "CD19", "attributes": {"cr": {"dist": "uniform", "min": 0.45, "max": 0.65}},
            "ramp_months": 0, "manufacturing_success": 0.9, "cogs": 60000,
            "regions": {"US": {"price": {"dist": "uniform", "min": 350000, "max": 450000},
                               "launches": {"X": "2021-01", "Y": "2021-01"}}},
        },
        "C": {
            "company": "CoC", "target": "BCMA", "attributes": {"cr": 0.7}, "ramp_months": 6,
            "manufacturing_success": 0.92,
            "regions": {"US": {"price": 450000, "launches": {"Y": {
                "date": {"dist": "uniform", "min": "2020-01", "max": "2020-07"}, "probability": 0.9}}}},
        },
    },
}

# B's slots, shared by its two indications: 1 a month, then 2 from July 2022, against a
# demand of about 4 a month at its launch rising to over 10: binding by a wide margin.
BINDING = {"initial": 1, "expansions": [{"date": "2022-07", "capacity": 2}]}


def oracle(capacity: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(ORACLE)
    if capacity is not None:
        data["products"]["B"]["capacity"] = capacity
    return data


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both engines on the same draws, without capacity limits and with B's capacity binding."""
    res = {}
    for case, cap in (("free", None), ("binding", BINDING)):
        scn = load_dict(tmp_path_factory.mktemp(case), oracle(cap))
        st = build_structure(scn)
        ids = np.arange(DRAWS)
        res[case] = (st, simulate_batch(st, SEED, ids), simulate_patient(st, SEED, ids))
    return res


def _report(st: Any, batch: Any, patient: Any, metric: str) -> Any:
    ag = compare_means(st, batch, patient, metric)
    for k, p in enumerate(ag.products):
        for m, per in enumerate(ag.periods):
            print(f"{metric:8s} {p} {per}: batch {ag.mean_ref[k, m]:14.2f} patient {ag.mean_other[k, m]:14.2f} "
                  f"se(diff) {ag.se_diff[k, m]:12.3f} z {ag.z[k, m]:+6.2f}")
    return ag


@pytest.mark.slow
@pytest.mark.parametrize("case", ["free", "binding"])
@pytest.mark.parametrize("metric", ["infused", "revenue"])
def test_means_agree_within_mc_error(runs: dict[str, Any], case: str, metric: str) -> None:
    st, batch, patient = runs[case]
    ag = _report(st, batch, patient, metric)
    assert (ag.mean_ref.sum(axis=1) > 0).all()  # every product has patients
    bad = np.abs(ag.z) > Z_TOL
    assert not bad.any(), f"{metric} disagrees beyond {Z_TOL} SE: z = {ag.z.round(2)}"


@pytest.mark.slow
def test_binding_case_binds(runs: dict[str, Any]) -> None:
    """The capacity case really is capacity-limited: B infuses its slots x success once launched."""
    st, batch, patient = runs["binding"]
    _, free, _ = runs["free"]
    lanes = [k for k, ln in enumerate(st.lanes) if ln[0] == "B"]
    y2022 = st.periods.index("2022")
    expected = (6 * 1 + 6 * 2) * 0.9  # slots in 2022 x success
    assert batch.lanes["infused"][:, lanes, y2022].sum(axis=1).mean() == pytest.approx(expected, rel=1e-6)
    assert free.lanes["infused"][:, lanes, y2022].sum(axis=1).mean() > 4 * expected
    assert patient.lanes["waiting"][:, lanes, y2022].sum(axis=1).mean() > 20


def test_same_inputs_and_expected_demand_as_batch(tmp_path) -> None:
    """Draw i of the patient engine samples the batch engine's inputs and sees its expected
    demand month by month (the shared code path: sampling, events, steps 1-4)."""
    data = example_scenario()
    data["end"] = "2023-12"
    data["products"]["Ciltacel"]["capacity"]["initial"] = 400  # keeps the queue (and the test) short
    st = build_structure(load_dict(tmp_path, data), "month")
    ids = np.array([3, 7, 8])
    batch = simulate_batch(st, SEED, ids)
    for k, i in enumerate(ids.tolist()):
        sim = PatientSim(st, SEED, i)
        out = sim.run()
        assert out.inputs.keys() == batch.inputs.keys()
        for name, v in out.inputs.items():
            assert v[0] == batch.inputs[name][k], name
        np.testing.assert_allclose(sim.expected_demand, batch.lanes["demand"][k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out.cells["eligible"][0], batch.cells["eligible"][k], rtol=1e-12)
        np.testing.assert_allclose(out.cells["addressable"][0], batch.cells["addressable"][k], rtol=1e-12)
        assert out.lanes["demand"].sum() > 0


def test_cohort_engine_equals_batch(tmp_path) -> None:
    st = build_structure(load_dict(tmp_path, oracle(BINDING)))
    ids = np.arange(5, 12)
    a, b = simulate_batch(st, SEED, ids), simulate_cohort(st, SEED, ids)
    for m in a.lanes:
        np.testing.assert_allclose(b.lanes[m], a.lanes[m], rtol=1e-12, atol=1e-9)
    for m in a.companies:
        np.testing.assert_allclose(b.companies[m], a.companies[m], rtol=1e-12, atol=1e-6)


@pytest.mark.parametrize("hazard", HAZARDS)
def test_every_patient_is_accounted_for(tmp_path, hazard: str) -> None:
    """Per-patient conservation: every arrival ends infused, failed, dropped or still waiting,
    exactly once; also with a withdrawal (the waiting patients of a withdrawn lane drop out)."""
    data = oracle(BINDING)
    data["events"] = {"pull_B": {"type": "withdrawal", "product": "B", "regions": ["US"], "date": "2022-09"}}
    st = build_structure(load_dict(tmp_path, data), "month")
    for draw in (0, 1):
        sim = PatientSim(st, SEED, draw, hazard=hazard, log=True)
        out = sim.run()
        recs = sim.records
        assert recs is not None
        n = int(sim.m_arrived.sum())
        assert n > 300
        assert len(recs) == n
        assert sorted(r.pid for r in recs) == list(range(n))  # each patient exactly once
        outcome = Counter(r.outcome for r in recs)
        L = out.lanes
        assert outcome["infused"] == L["infused"].sum()
        assert outcome["failed"] == L["failed"].sum()
        assert outcome["dropped"] == L["dropped"].sum()
        assert outcome["waiting"] == L["waiting"][:, :, -1].sum() == len(sim.waiting)
        assert L["demand"].sum() == n
        # per lane: arrivals = infused + failed + dropped + waiting at the end
        for l in range(st.L):
            lane_out = Counter(r.outcome for r in recs if r.lane == l)
            assert sum(lane_out.values()) == sim.m_arrived[l].sum()
        # the withdrawn lanes lose everyone in September 2022 and infuse nobody afterwards
        sep = st.periods.index("2022-09")
        b_lanes = [k for k, ln in enumerate(st.lanes) if ln[0] == "B"]
        assert L["waiting"][0, b_lanes, sep:].sum() == 0
        assert L["infused"][0, b_lanes, sep:].sum() == 0
        assert L["dropped"][0, b_lanes, sep].sum() > 0
        # money follows the infused patients at the month's net price
        np.testing.assert_allclose(L["revenue"][0], sim.period_totals(sim.m_infused * sim.m_net_price)[0] / sim.params.fx[0, 0])


def test_reproducible_and_independent_of_split(tmp_path) -> None:
    st = build_structure(load_dict(tmp_path, oracle(BINDING)))
    a = simulate_patient(st, SEED, np.arange(4))
    b = simulate_patient(st, SEED, np.array([2]))
    c = simulate_patient(st, SEED + 1, np.array([2]))
    for m in a.lanes:
        np.testing.assert_array_equal(a.lanes[m][2:3], b.lanes[m])
    assert not np.array_equal(a.lanes["infused"][2:3], c.lanes["infused"])


def _hazard_theory(data: dict[str, Any], tmp_path, draws: int = 60) -> tuple[Any, ...]:
    """No slots at all (capacity 0): everybody waits, so drop-out is linear in the demand and
    the expected queue has a closed form for each hazard rule."""
    st = build_structure(load_dict(tmp_path, data), "month")
    d = simulate_batch(st, SEED, np.arange(1)).lanes["demand"][0, 0]  # no uncertainty: one path
    h = data["indications"]["X"]["drop_out"]
    lam = -np.log1p(-h)
    T = d.size
    k = np.arange(T)
    decay = np.where(k[:, None] >= k[None, :], (1 - h) ** np.maximum(k[:, None] - k[None, :], 0), 0.0)
    theory = {"monthly": decay @ (d * (1 - h)),  # the batch rule: a full month's hazard at month end
              "exponential": decay @ (d * h / lam)}  # arrivals mid-window survive to its end w.p. h/lambda
    return st, d, theory


@pytest.mark.slow
@pytest.mark.parametrize("hazard", HAZARDS)
def test_waiting_queue_matches_drop_out_theory(tmp_path, hazard: str) -> None:
    data = copy.deepcopy(ORACLE)
    data["end"] = "2020-12"
    data["indications"]["X"]["markets"]["US"]["eligible"] = 1200
    data["indications"]["X"]["uptake"]["ceiling"] = 0.4
    data["indications"].pop("Y")
    data["products"].pop("B")
    data["products"].pop("C")
    data["products"]["A"]["regions"]["US"]["price"] = 350000
    data["products"]["A"]["capacity"] = 0
    st, d, theory = _hazard_theory(data, tmp_path)
    draws = 60
    p = simulate_patient(st, SEED, np.arange(draws), hazard=hazard)
    w = p.lanes["waiting"][:, 0, :]
    se = w.std(axis=0, ddof=1) / np.sqrt(draws)
    z = (w.mean(axis=0) - theory[hazard]) / se
    assert np.abs(z).max() < Z_TOL, z.round(2)
    assert p.lanes["infused"].sum() == 0
    batch = simulate_batch(st, SEED, np.arange(1)).lanes["waiting"][0, 0]
    np.testing.assert_allclose(batch, theory["monthly"], rtol=1e-10)  # the batch engine's rule


@pytest.mark.slow
def test_jensen_gap_near_capacity(tmp_path) -> None:
    """Capacity close to demand: the patient engine infuses fewer than the fluid model (never more,
    beyond noise), by a few per cent. With the batch engine's own monthly hazard the gap is pure
    Jensen (Poisson arrivals against a hard monthly limit)."""
    data = oracle({"initial": 6})
    data["end"] = "2021-12"
    st = build_structure(load_dict(tmp_path, data))
    ids = np.arange(120)
    batch = simulate_batch(st, SEED, ids)
    patient = simulate_patient(st, SEED, ids, hazard="monthly")
    ag = compare_means(st, batch, patient, "infused")
    b = ag.products.index("B")
    y = ag.periods.index("2021")
    print(f"B 2021 infused: batch {ag.mean_ref[b, y]:.2f} patient {ag.mean_other[b, y]:.2f} "
          f"gap {100 * ag.rel[b, y]:+.2f}% (z {ag.z[b, y]:+.2f})")
    assert ag.z[b, y] < -2.0  # a real, systematic gap ...
    assert -0.10 < ag.rel[b, y] < 0  # ... of a few per cent


@pytest.mark.slow
def test_capacity_event_on_uncapped_product(tmp_path) -> None:
    data = oracle(None)
    data["events"] = {"cap_B": {"type": "capacity", "product": "B", "capacity": 1, "date": "2021-06"}}
    st = build_structure(load_dict(tmp_path, data))
    ids = np.arange(40)
    ag = compare_means(st, simulate_batch(st, SEED, ids), simulate_patient(st, SEED, ids), "infused")
    assert np.abs(ag.z).max() < Z_TOL, ag.z.round(1)

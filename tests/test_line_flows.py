"""Patients flowing between lines of therapy, and launch boluses (issue 12, part 2).

Theory: the later line's eligible patients change by (relapse - standard_of_care) x the
earlier line's infused patients lag months before, so the flow conserves patients (what the
later line loses or gains is exactly that); earlier-line use shrinks the later line; a bolus
adds its patients over its months from the first launch; both kernels and the patient-level
engine (which records its own patients) agree; bad flows are refused with the field path.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_kernels_agree, base_scenario, lane_index, load_dict, simulate

from sim.engine.patient import simulate_patient
from sim.engine.structure import build_structure
from sim.errors import ScenarioError

MONTHS = 36


def _lines(relapse=0.3, soc=0.7, lag=6, later_launch="2020-01", earlier_launch="2020-01", feed=True):
    d = base_scenario()
    x = d["indications"].pop("X")
    d["indications"]["L2"] = {**x, "markets": {"US": {"eligible": 2400.0}}}
    d["indications"]["L3"] = {**x, "markets": {"US": {"eligible": 1200.0}}}
    if feed:
        d["indications"]["L2"]["feeds"] = {"L3": {"relapse": relapse, "standard_of_care": soc, "lag_months": lag}}
    d["products"]["A"]["regions"]["US"]["launches"] = {"L2": earlier_launch, "L3": later_launch}
    return d


def _cell(st, ind):
    return st.cells.index(("US", ind))


def _monthly(tmp_path, d, name):
    st, out = simulate(load_dict(tmp_path, d, name), freq="month")
    return st, out


def test_the_later_line_changes_by_relapse_minus_standard_of_care_times_earlier_infusions(tmp_path) -> None:
    st, out = _monthly(tmp_path, _lines(relapse=0.3, soc=0.7, lag=6), "a.yaml")
    st0, base = _monthly(tmp_path, _lines(feed=False), "b.yaml")
    infused_l2 = out.lanes["infused"][0, lane_index(st, "A", "US", "L2")]
    delta = out.cells["eligible"][0, _cell(st, "L3")] - base.cells["eligible"][0, _cell(st0, "L3")]
    expected = np.r_[np.zeros(6), (0.3 - 0.7) * infused_l2[:-6]]
    np.testing.assert_allclose(delta, expected, rtol=1e-10, atol=1e-9)
    # conservation: the later line loses exactly (soc - relapse) of the earlier line's infusions
    assert -delta.sum() == pytest.approx(0.4 * infused_l2[:-6].sum(), rel=1e-10)
    # the earlier line itself is unchanged
    np.testing.assert_allclose(out.cells["eligible"][0, _cell(st, "L2")], base.cells["eligible"][0, _cell(st0, "L2")])


def test_patients_who_do_not_relapse_never_reach_the_later_line(tmp_path) -> None:
    st, cured = _monthly(tmp_path, _lines(relapse=0.0, soc=0.0, lag=3), "a.yaml")
    st0, base = _monthly(tmp_path, _lines(feed=False), "b.yaml")
    np.testing.assert_allclose(cured.cells["eligible"][0, _cell(st, "L3")], base.cells["eligible"][0, _cell(st0, "L3")])
    st1, relapsing = _monthly(tmp_path, _lines(relapse=0.5, soc=0.0, lag=3), "c.yaml")
    assert relapsing.cells["eligible"][0, _cell(st1, "L3")].sum() > base.cells["eligible"][0, _cell(st0, "L3")].sum()


def test_an_earlier_line_launch_shrinks_the_later_lines_treated_patients(tmp_path) -> None:
    late = _lines(earlier_launch="2022-06", lag=12)
    early = _lines(earlier_launch="2020-03", lag=12)
    st_l, out_l = simulate(load_dict(tmp_path, late, "a.yaml"))
    st_e, out_e = simulate(load_dict(tmp_path, early, "b.yaml"))
    l3_late = out_l.lanes["infused"][0, lane_index(st_l, "A", "US", "L3")]
    l3_early = out_e.lanes["infused"][0, lane_index(st_e, "A", "US", "L3")]
    assert l3_early[0] == pytest.approx(l3_late[0])  # 2020: nothing has flowed yet (lag 12)
    assert (l3_early[1:] < l3_late[1:]).all()


def test_eligible_patients_never_fall_below_zero(tmp_path) -> None:
    d = _lines(relapse=0.0, soc=1.0, lag=1)
    d["indications"]["L3"]["markets"]["US"]["eligible"] = 12.0  # one a month, far fewer than L2 treats
    st, out = _monthly(tmp_path, d, "a.yaml")
    el = out.cells["eligible"][0, _cell(st, "L3")]
    assert (el >= 0).all() and (el[12:] == 0).all()


def test_a_bolus_adds_its_patients_over_its_months_from_the_first_launch(tmp_path) -> None:
    d = _lines(feed=False, later_launch="2021-03")
    d["indications"]["L3"]["markets"]["US"]["bolus"] = {"patients": 600.0, "months": 6}
    st, out = _monthly(tmp_path, d, "a.yaml")
    st0, base = _monthly(tmp_path, _lines(feed=False, later_launch="2021-03"), "b.yaml")
    extra = out.cells["eligible"][0, _cell(st, "L3")] - base.cells["eligible"][0, _cell(st0, "L3")]
    expected = np.zeros(MONTHS)
    expected[14:20] = 100.0
    np.testing.assert_allclose(extra, expected, atol=1e-9)


def _rich():
    d = _lines(relapse={"dist": "uniform", "min": 0.2, "max": 0.5}, soc=0.6,
               lag={"dist": "uniform", "min": 3, "max": 12})
    d["end"] = "2023-12"
    d["products"]["A"]["capacity"] = 40
    d["products"]["B"] = {"company": "CoB", "target": "BCMA", "ramp_months": 2,
                          "regions": {"US": {"price": 80000.0, "launches": {"L3": "2021-01"}}}}
    d["indications"]["L3"]["markets"]["US"]["bolus"] = {"patients": 300.0, "months": {"dist": "uniform", "min": 3,
                                                                                       "max": 9}}
    return d


def test_both_kernels_agree_with_line_flows(tmp_path) -> None:
    assert_kernels_agree(build_structure(load_dict(tmp_path, _rich())), 2, 16)


def test_the_patient_engine_flows_its_own_patients(tmp_path) -> None:
    d = _lines(relapse=0.2, soc=0.8, lag=4)
    st = build_structure(load_dict(tmp_path, d), "month")
    out = simulate_patient(st, 3, np.array([0]))
    base = simulate_patient(build_structure(load_dict(tmp_path, _lines(feed=False), "b.yaml"), "month"), 3,
                            np.array([0]))
    infused = out.lanes["infused"][0, lane_index(st, "A", "US", "L2")]  # integer patients
    delta = out.cells["eligible"][0, _cell(st, "L3")] - base.cells["eligible"][0, _cell(st, "L3")]
    np.testing.assert_allclose(delta, np.r_[np.zeros(4), -0.6 * infused[:-4]], atol=1e-9)


BAD = {
    "unknown line": ({"L3x": {"relapse": 0.3, "standard_of_care": 0.6, "lag_months": 6}}, "indications.L2.feeds.L3x",
                     "did you mean 'L3'"),
    "itself": ({"L2": {"relapse": 0.3, "standard_of_care": 0.6, "lag_months": 6}}, "indications.L2.feeds.L2",
               "cannot feed itself"),
    "lag below a month": ({"L3": {"relapse": 0.3, "standard_of_care": 0.6, "lag_months": 0}},
                          "indications.L2.feeds.L3.lag_months", "a lag of at least one month"),
    "relapse above 1": ({"L3": {"relapse": 1.3, "standard_of_care": 0.6, "lag_months": 6}},
                        "indications.L2.feeds.L3.relapse", "a fraction in [0, 1]"),
    "missing field": ({"L3": {"relapse": 0.3, "lag_months": 6}}, "indications.L2.feeds.L3.standard_of_care",
                      "missing required field"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_line_flow_is_refused_with_its_field_path(tmp_path, case) -> None:
    spec, where, expected = BAD[case]
    d = _lines(feed=False)
    d["indications"]["L2"]["feeds"] = spec
    with pytest.raises(ScenarioError) as exc:
        load_dict(tmp_path, d)
    text = str(exc.value.render() if hasattr(exc.value, "render") else exc.value)
    assert f"at '{where}'" in text and expected in text, text


def test_a_cycle_of_line_flows_is_refused(tmp_path) -> None:
    d = _lines()
    d["indications"]["L3"]["feeds"] = {"L2": {"relapse": 0.3, "standard_of_care": 0.6, "lag_months": 6}}
    with pytest.raises(ScenarioError, match="cycle"):
        load_dict(tmp_path, d)

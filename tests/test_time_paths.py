"""Inputs that change over time (issue 12, part 2): a path of dated points, stepped or linear.

Theory: a path with one point (or equal points) is the constant; a step path holds each value
until the next date; a linear one interpolates month by month; eligible growth compounds the
monthly factors; revenue is converted and COGS paid at each month's rate; both kernels and
the patient-level engine agree; point values correlate like any input; bad paths are refused
with the field path.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_kernels_agree, base_scenario, bass_F, lane_index, load_dict, simulate

from sim.engine.patient import simulate_patient
from sim.engine.structure import build_structure
from sim.errors import ScenarioError

MONTHS = 36  # base scenario: 2020-01 .. 2022-12


def _pts(*pairs):
    return [{"date": d, "value": v} for d, v in pairs]


def _flat_one_point(value):
    return _pts(("2021-06", value))


# field path in the base scenario, a constant value, where to set it
FIELDS = {
    "ceiling": (("indications", "X", "uptake", "ceiling"), 0.5),
    "growth": (("indications", "X", "markets", "US", "growth"), 0.08),
    "fx": (("regions", "US", "fx"), 1.3),
    "cogs": (("products", "A", "cogs"), 40000.0),
    "gross_to_net": (("products", "A", "regions", "US", "gross_to_net"), 0.2),
    "sites": (("regions", "US", "sites"), 0.7),
}


def _set(d, path, value):
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def _run(tmp_path, d, draws=1, freq="month", name="s.yaml"):
    return simulate(load_dict(tmp_path, d, name), draws, freq=freq)


def _assert_close(a, b):
    for table in ("lanes", "cells", "companies"):
        for m in getattr(a, table):
            np.testing.assert_allclose(getattr(a, table)[m], getattr(b, table)[m], rtol=1e-12, atol=1e-9,
                                       err_msg=f"{table}.{m}")


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("form", ["one point", "equal points, step", "equal points, linear"])
def test_a_path_that_does_not_move_is_the_constant(tmp_path, field, form) -> None:
    path, value = FIELDS[field]
    const = base_scenario()
    _set(const, path, value)
    moving = base_scenario()
    pts = _pts(("2020-06", value), ("2022-01", value))
    spec = {"one point": _flat_one_point(value), "equal points, step": {"interpolation": "step", "points": pts},
            "equal points, linear": pts}[form]
    _set(moving, path, spec)
    _, a = _run(tmp_path, const, name="a.yaml")
    _, b = _run(tmp_path, moving, name="b.yaml")
    _assert_close(a, b)


def _uptake_share(out, st):
    """Addressable / eligible per month, divided by Bass F(t) from the launch (2020-01)."""
    tau = (np.arange(MONTHS) + 0.5) / 12.0
    return out.cells["addressable"][0, 0] / out.cells["eligible"][0, 0] / bass_F(tau, 0.05, 0.4)


def test_a_step_ceiling_holds_each_value_until_the_next_date(tmp_path) -> None:
    d = base_scenario()
    d["indications"]["X"]["uptake"]["ceiling"] = {"interpolation": "step",
                                                  "points": _pts(("2020-01", 0.2), ("2021-07", 0.4))}
    st, out = _run(tmp_path, d)
    expected = np.where(np.arange(MONTHS) < 18, 0.2, 0.4)
    np.testing.assert_allclose(_uptake_share(out, st), expected, rtol=1e-12)


def test_a_linear_ceiling_is_interpolated_month_by_month_and_flat_outside(tmp_path) -> None:
    d = base_scenario()
    d["indications"]["X"]["uptake"]["ceiling"] = _pts(("2020-07", 0.2), ("2021-07", 0.5))
    st, out = _run(tmp_path, d)
    t = np.arange(MONTHS)
    expected = np.interp(t, [6, 18], [0.2, 0.5])
    np.testing.assert_allclose(_uptake_share(out, st), expected, rtol=1e-12)


def test_a_growth_path_compounds_its_monthly_factors(tmp_path) -> None:
    d = base_scenario()
    d["indications"]["X"]["markets"]["US"]["growth"] = {"interpolation": "step",
                                                         "points": _pts(("2020-01", 0.10), ("2021-01", -0.05))}
    _, out = _run(tmp_path, d)
    g = np.where(np.arange(MONTHS) < 12, 0.10, -0.05)
    factor = np.r_[1.0, np.cumprod((1 + g[:-1]) ** (1 / 12))]
    np.testing.assert_allclose(out.cells["eligible"][0, 0], 1200.0 / 12 * factor, rtol=1e-12)


def test_revenue_is_converted_at_each_months_rate_and_cogs_paid_at_each_months_cost(tmp_path) -> None:
    d = base_scenario()
    d["regions"]["US"]["fx"] = {"interpolation": "step", "points": _pts(("2020-01", 1.0), ("2020-07", 2.0))}
    d["products"]["A"]["cogs"] = _pts(("2020-01", 60000.0), ("2022-01", 30000.0))  # a learning curve
    st, monthly = _run(tmp_path, d, name="m.yaml")
    _, yearly = _run(tmp_path, d, freq="year", name="y.yaml")
    t = np.arange(MONTHS)
    fx = np.where(t < 6, 1.0, 2.0)
    cogs = np.interp(t, [0, 24], [60000.0, 30000.0])
    lane = lane_index(st, "A", "US", "X")
    rl = monthly.lanes["revenue_local"][0, lane]
    served = monthly.lanes["infused"][0, lane] + monthly.lanes["failed"][0, lane]
    np.testing.assert_allclose(monthly.lanes["revenue"][0, lane], rl / fx, rtol=1e-12)
    np.testing.assert_allclose(monthly.lanes["cogs"][0, lane], served * cogs, rtol=1e-12)
    by_year = np.arange(MONTHS) // 12
    np.testing.assert_allclose(yearly.lanes["revenue"][0, lane], np.bincount(by_year, rl / fx), rtol=1e-12)
    np.testing.assert_allclose(yearly.lanes["cogs"][0, lane], np.bincount(by_year, served * cogs), rtol=1e-12)
    # the company's books follow the lane's
    np.testing.assert_allclose(yearly.companies["revenue"][0].sum(axis=0), yearly.lanes["revenue"][0, lane],
                               rtol=1e-12)
    np.testing.assert_allclose(yearly.companies["gross_profit"][0].sum(axis=0),
                               yearly.lanes["gross_profit"][0, lane], rtol=1e-12)


def test_a_gross_to_net_path_moves_net_revenue(tmp_path) -> None:
    d = base_scenario()
    d["products"]["A"]["regions"]["US"]["gross_to_net"] = {"interpolation": "step",
                                                          "points": _pts(("2020-01", 0.0), ("2021-01", 0.25))}
    st, out = _run(tmp_path, d)
    lane = lane_index(st, "A", "US", "X")
    served = out.lanes["infused"][0, lane] + out.lanes["failed"][0, lane]
    net = np.where(np.arange(MONTHS) < 12, 100000.0, 75000.0)
    np.testing.assert_allclose(out.lanes["revenue_local"][0, lane], served * net, rtol=1e-12)


def _self_pay(d):
    d["regions"]["US"]["payers"] = {"cash": {"share": 1.0, "out_of_pocket": 1.0}}
    return d


def test_a_rising_affordability_median_lets_more_patients_pay(tmp_path) -> None:
    from scipy.stats import lognorm

    d = _self_pay(base_scenario())
    d["regions"]["US"]["affordability"] = {"median": {"interpolation": "step",
                                                      "points": _pts(("2020-01", 50000.0), ("2021-01", 200000.0))},
                                           "sigma": 1.0}
    st, out = _run(tmp_path, d)
    share = out.lanes["demand"][0, 0] / out.cells["addressable"][0, 0]
    able = lognorm.sf(100000.0, 1.0, scale=np.where(np.arange(MONTHS) < 12, 50000.0, 200000.0))
    np.testing.assert_allclose(share, able, rtol=1e-9)


def _everything_moves():
    d = _self_pay(base_scenario())
    d["regions"]["US"]["payers"]["cash"]["share"] = _pts(("2020-01", 0.9), ("2023-01", 0.6))
    d["regions"]["US"]["payers"]["hmb"] = {"share": _pts(("2020-01", 0.1), ("2023-01", 0.4)), "covers": ["B"],
                                           "out_of_pocket": {"interpolation": "step", "points": _pts(
                                               ("2020-01", 0.7), ("2022-01", {"dist": "uniform", "min": 0.2,
                                                                              "max": 0.5}))}}
    d["end"] = "2023-12"
    d["regions"]["US"]["affordability"] = {"median": _pts(("2020-01", 80000.0), ("2023-01", 300000.0))}
    d["regions"]["US"]["fx"] = {"interpolation": "step",
                                "points": _pts(("2020-01", 1.0), ("2021-04", {"dist": "uniform", "min": 1.2, "max": 1.6}))}
    d["indications"]["X"]["uptake"]["ceiling"] = _pts(("2020-01", 0.3),
                                                      ("2023-01", {"dist": "uniform", "min": 0.4, "max": 0.7}))
    d["indications"]["X"]["markets"]["US"]["growth"] = _pts(("2020-01", 0.05), ("2023-01", 0.0))
    d["products"]["A"]["cogs"] = _pts(("2020-01", 60000.0), ("2023-01", 30000.0))
    d["products"]["A"]["capacity"] = 15
    d["products"]["A"]["regions"]["US"]["gross_to_net"] = _pts(("2020-01", 0.0), ("2022-01", 0.2))
    d["products"]["B"] = {"company": "CoB", "target": "BCMA", "ramp_months": 3,
                          "regions": {"US": {"price": 60000.0, "launches": {"X": "2021-03"}}}}
    d["events"] = {"list": {"type": "reimbursement", "product": "A", "region": "US", "channel": "hmb",
                            "date": {"dist": "uniform", "min": "2021-01", "max": "2023-01"}}}
    return d


def test_both_kernels_agree_with_paths(tmp_path) -> None:
    assert_kernels_agree(build_structure(load_dict(tmp_path, _everything_moves())), 3, 16)


def test_the_patient_engine_books_money_at_each_months_rate(tmp_path) -> None:
    st = build_structure(load_dict(tmp_path, _everything_moves()), "month")
    out = simulate_patient(st, 5, np.array([0]))
    fx = np.where(np.arange(st.T) < 15, 1.0, out.inputs["regions.US.fx[1].value"][0])
    for lane in range(st.L):
        np.testing.assert_allclose(out.lanes["revenue"][0, lane], out.lanes["revenue_local"][0, lane] / fx,
                                   rtol=1e-12)


def test_path_points_are_named_inputs_that_can_be_correlated(tmp_path) -> None:
    from scipy.stats import spearmanr

    from sim.engine.batch import simulate_batch
    from sim.sampling.correlation import design_for

    d = _everything_moves()
    a, b = "indications.X.uptake.ceiling[1].value", "regions.US.fx[1].value"
    d["correlations"] = [{"inputs": [a, b], "rank": 0.8}]
    scn = load_dict(tmp_path, d)
    out = simulate_batch(build_structure(scn), 1, np.arange(2000), design_for(scn, None, 2000, 1))
    assert spearmanr(out.inputs[a], out.inputs[b])[0] == pytest.approx(0.8, abs=0.05)


BAD = {
    "value out of range": ([{"date": "2021-01", "value": 1.5}], "indications.X.uptake.ceiling[0].value",
                           "a fraction in [0, 1]"),
    "unknown interpolation": ({"interpolation": "cubic", "points": [{"date": "2021-01", "value": 0.3}]},
                              "indications.X.uptake.ceiling.interpolation", "'linear' or 'step'"),
    "no points": ([], "indications.X.uptake.ceiling", "at least one {date, value} point"),
    "dates out of order": ([{"date": "2021-01", "value": 0.3}, {"date": "2020-01", "value": 0.4}],
                           "indications.X.uptake.ceiling", "increasing date order"),
    "bad date": ({"points": [{"date": "2021-13", "value": 0.3}]}, "indications.X.uptake.ceiling.points[0].date",
                 "YYYY-MM"),
    "missing date": ([{"value": 0.3}], "indications.X.uptake.ceiling[0].date", "missing required field 'date'"),
    "unknown key": ({"points": [{"date": "2021-01", "value": 0.3}], "interpolate": "step"},
                    "indications.X.uptake.ceiling.interpolate", "unknown key"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_path_is_refused_with_its_field_path(tmp_path, case) -> None:
    spec, where, expected = BAD[case]
    d = base_scenario()
    d["indications"]["X"]["uptake"]["ceiling"] = spec
    with pytest.raises(ScenarioError) as exc:
        load_dict(tmp_path, d)
    text = str(exc.value.render() if hasattr(exc.value, "render") else exc.value)
    assert f"at '{where}'" in text and expected in text, text
    assert "scenario.yaml:" in text


# --- payer channels: shares and out-of-pocket shares that move ---------------------------------

PRICE = 300000.0


def _payers(cash_share, hmb_share, hmb_oop, events=None):
    d = base_scenario()
    d["regions"]["US"]["affordability"] = {"median": 100000.0, "sigma": 1.0}
    d["regions"]["US"]["payers"] = {"cash": {"share": cash_share, "out_of_pocket": 1.0},
                                    "hmb": {"share": hmb_share, "out_of_pocket": hmb_oop}}
    d["products"]["A"]["regions"]["US"]["price"] = PRICE
    if events:
        d["events"] = events
    return d


def _able(oop):
    from scipy.stats import lognorm

    return lognorm.sf(np.asarray(oop) * PRICE, 1.0, scale=100000.0)


def _treated_share(tmp_path, d, name="s.yaml"):
    st, out = _run(tmp_path, d, name=name)
    return out.lanes["demand"][0, 0] / out.cells["addressable"][0, 0]


def test_payer_channel_shares_follow_their_paths_rescaled_to_one(tmp_path) -> None:
    # the city insurance's share grows 0.1 -> 0.5 over 2020-07..2021-07; cash stays 0.9 as given,
    # so each month's shares are (0.9, h) / (0.9 + h)
    hmb = _pts(("2020-07", 0.1), ("2021-07", 0.5))
    share = _treated_share(tmp_path, _payers(0.9, hmb, 0.2))
    h = np.interp(np.arange(MONTHS), [6, 18], [0.1, 0.5])
    expected = (0.9 * _able(1.0) + h * _able(0.2)) / (0.9 + h)
    np.testing.assert_allclose(share, expected, rtol=1e-9)


def test_an_out_of_pocket_path_moves_who_can_pay(tmp_path) -> None:
    oop = {"interpolation": "step", "points": _pts(("2020-01", 0.8), ("2021-01", 0.3))}
    share = _treated_share(tmp_path, _payers(0.5, 0.5, oop))
    expected = 0.5 * _able(1.0) + 0.5 * np.where(np.arange(MONTHS) < 12, _able(0.8), _able(0.3))
    np.testing.assert_allclose(share, expected, rtol=1e-9)


def test_an_event_that_sets_channel_shares_holds_them_against_the_path(tmp_path) -> None:
    hmb = _pts(("2020-01", 0.1), ("2022-01", 0.5))
    ev = {"reimb": {"type": "reimbursement", "product": "A", "region": "US", "channel": "hmb", "date": "2021-01",
                    "channel_share": 0.3, "out_of_pocket": 0.1}}
    share = _treated_share(tmp_path, _payers(0.9, hmb, 0.2, ev))
    t = np.arange(MONTHS)
    h = np.interp(t, [0, 24], [0.1, 0.5])
    before = (0.9 * _able(1.0) + h * _able(0.2)) / (0.9 + h)
    after = 0.7 * _able(1.0) + 0.3 * _able(0.1)
    np.testing.assert_allclose(share, np.where(t < 12, before, after), rtol=1e-9)


def test_a_listing_without_its_own_out_of_pocket_follows_the_channels_path(tmp_path) -> None:
    oop = {"interpolation": "step", "points": _pts(("2020-01", 0.8), ("2022-01", 0.3))}
    d = _payers(0.5, 0.5, oop)
    d["regions"]["US"]["payers"]["hmb"]["covers"] = "none"  # A is listed in 2021-01
    d["events"] = {"list": {"type": "reimbursement", "product": "A", "region": "US", "channel": "hmb",
                            "date": "2021-01"}}
    share = _treated_share(tmp_path, d)
    t = np.arange(MONTHS)
    hmb_oop = np.where(t < 12, 1.0, np.where(t < 24, 0.8, 0.3))  # not covered, then the channel's path
    np.testing.assert_allclose(share, 0.5 * _able(1.0) + 0.5 * _able(hmb_oop), rtol=1e-9)


def test_out_of_pocket_paths_of_two_regions_stay_in_their_region(tmp_path) -> None:
    # channel 0 of each region has its own path: region B's values must never reach region A
    d = _payers(1.0, 0.0, 0.2)
    d["regions"]["US"]["payers"] = {"cash": {"share": 1.0, "out_of_pocket": {
        "interpolation": "step", "points": _pts(("2020-01", 0.9), ("2021-01", 0.5))}}}
    d["regions"]["EU"] = {"affordability": {"median": 100000.0, "sigma": 1.0},
                          "payers": {"cash": {"share": 1.0, "out_of_pocket": _pts(("2020-01", 0.1))}}}
    d["indications"]["X"]["markets"]["EU"] = {"eligible": 1200.0}
    d["products"]["A"]["regions"]["EU"] = {"price": PRICE, "launches": {"X": "2020-01"}}
    st, out = _run(tmp_path, d)
    us, eu = st.cells.index(("US", "X")), st.cells.index(("EU", "X"))
    lane_us, lane_eu = lane_index(st, "A", "US", "X"), lane_index(st, "A", "EU", "X")
    t = np.arange(MONTHS)
    np.testing.assert_allclose(out.lanes["demand"][0, lane_us] / out.cells["addressable"][0, us],
                               np.where(t < 12, _able(0.9), _able(0.5)), rtol=1e-9)
    np.testing.assert_allclose(out.lanes["demand"][0, lane_eu] / out.cells["addressable"][0, eu],
                               np.full(MONTHS, _able(0.1)), rtol=1e-9)

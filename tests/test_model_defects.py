"""The market-model defects of issue 12, each with the test that would have caught it: a later
indication's price, self-pay affordability, first-come-first-served capacity, month rounding
of uncertain dates and lags, upfront dates, capacity expansions, a lag without a parent, and
periods that are not stored."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import base_scenario, load_dict, simulate
from hypothesis import given, settings
from hypothesis import strategies as st

N = 100_000


def month_index(ym: str, start: str = "2020-01") -> int:
    y, m = map(int, ym.split("-"))
    y0, m0 = map(int, start.split("-"))
    return (y - y0) * 12 + (m - m0)


def _dated_events(tmp_path):
    d = base_scenario()
    d["end"] = "2025-12"
    d["events"] = {
        "first": {"type": "price_change", "product": "A", "region": "US", "change": 0.0,
                  "date": {"dist": "uniform", "min": "2022-12", "max": "2023-06"}},
        "second": {"type": "price_change", "product": "A", "region": "US", "change": 0.0,
                   "after": "first", "lag_months": {"dist": "uniform", "min": 6, "max": 12}},
    }
    return simulate(load_dict(tmp_path, d), N, seed=3)[1]


def test_uncertain_dates_and_lags_cover_the_whole_range_with_the_stated_mean(tmp_path) -> None:
    # D4: months were floored: 2023-06 and a 12-month lag never came, every date ~half a month early
    out = _dated_events(tmp_path)
    first, second = out.events["event:first"], out.events["event:second"]
    lo, hi = month_index("2022-12"), month_index("2023-06")
    assert first.min() == lo and first.max() == hi
    assert set(np.unique(first)) == set(range(lo, hi + 1))
    se = (hi - lo) / np.sqrt(12 * N)
    assert abs(first.mean() - (lo + hi) / 2) < 4 * se + 1e-9
    lag = second - first
    assert lag.min() == 6 and lag.max() == 12
    assert abs(lag.mean() - 9.0) < 4 * 6 / np.sqrt(12 * N) + 1e-9


# --- D8: a period that is not stored ---------------------------------------------------------


@pytest.fixture(scope="module")
def yearly_and_monthly(tmp_path_factory) -> tuple:
    from helpers import EXAMPLE

    from sim import run

    base = tmp_path_factory.mktemp("periods")
    return (run(EXAMPLE, draws=20, seed=1, out=base / "yearly"),
            run(EXAMPLE, draws=20, seed=1, out=base / "monthly", freq="month"))


@pytest.mark.parametrize(("which", "period", "phrases"), [
    (0, "2035", ("periods run 2018..2030",)),
    (1, "2030", ("periods run 2018-01..2030-12", "add --freq year to report 2030")),
    (1, "2030Q2", ("add --freq quarter to report 2030Q2 from these monthly results",)),
])
def test_summary_of_a_period_not_stored_exits_2_naming_the_range(yearly_and_monthly, capsys, which, period,
                                                                  phrases) -> None:
    # D8: printed an empty table and exited 0
    from sim.cli import main

    assert main(["summary", str(yearly_and_monthly[which]), "--period", period]) == 2
    captured = capsys.readouterr()
    assert f"--period '{period}' is not a reported period" in captured.err
    for phrase in phrases:
        assert phrase in captured.err, captured.err
    assert "Traceback" not in captured.err and "group" not in captured.out


def test_summary_of_a_stored_period_prints_only_it(yearly_and_monthly, capsys) -> None:
    from sim.cli import main

    assert main(["summary", str(yearly_and_monthly[1]), "--period", "2030", "--freq", "year"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [re.split(r"\s{2,}", r)[:2] for r in rows] == [["total (CAR-T)", "2030"]]  # columns: 2+ spaces apart


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["compare", "{r}", "{r}", "--out", "{tmp}/c"],
    ["sensitivity", "{scn}", "--draws", "20", "--out", "{tmp}/s"],
    ["converge", "{scn}", "--out", "{tmp}/v"],
])
def test_every_command_taking_a_period_refuses_one_not_stored(yearly_and_monthly, tmp_path, capsys,
                                                              command) -> None:
    from helpers import EXAMPLE

    from sim.cli import main

    args = [a.format(r=yearly_and_monthly[0], scn=EXAMPLE, tmp=tmp_path) for a in command]
    assert main([*args, "--period", "2035"]) == 2
    assert "periods run 2018..2030" in capsys.readouterr().err


# --- D6: overlapping uncertain capacity expansions ---------------------------------------------


def _two_expansions() -> dict:
    d = base_scenario()
    d["end"] = "2027-12"
    d["indications"]["X"]["uptake"] = {"p": 3.0, "q": 0.0, "ceiling": 1.0}  # demand far above capacity
    d["indications"]["X"]["markets"]["US"]["eligible"] = 120_000.0
    d["products"]["A"]["capacity"] = {"initial": 10, "expansions": [
        {"date": {"dist": "uniform", "min": "2023-01", "max": "2026-06"}, "capacity": 100},
        {"date": {"dist": "uniform", "min": "2023-01", "max": "2026-06"}, "capacity": 300},
    ]}
    return d


def test_overlapping_capacity_expansions_never_lower_capacity(tmp_path) -> None:
    # D6: the step to 100 landing after the step to 300 set capacity back to 100 (43.5 % of draws)
    out = simulate(load_dict(tmp_path, _two_expansions()), 2000, seed=4, freq="month")[1]
    infused = out.lanes["infused"][:, 0, :]  # (draws, months): capacity-bound every month
    assert np.all(np.diff(infused, axis=1) >= -1e-9), "capacity fell in some draws"
    np.testing.assert_allclose(infused[:, -1], 300.0)


def test_overlapping_uncertain_expansions_warn_at_validation(tmp_path) -> None:
    from helpers import write_scenario

    from sim.scenario import load_scenario

    loaded = load_scenario(write_scenario(tmp_path, _two_expansions()))
    assert len(loaded.warnings) == 1
    w = loaded.warnings[0]
    assert "products.A.capacity.expansions[1].date" in w and "overlaps" in w and "expansions[0]" in w, w
    assert "increase" in w, w  # says what the engine does with them
    fixed = _two_expansions()
    fixed["products"]["A"]["capacity"]["expansions"][1]["date"] = {"dist": "uniform", "min": "2026-07",
                                                                    "max": "2027-06"}
    assert load_scenario(write_scenario(tmp_path, fixed)).warnings == ()


def test_validate_and_run_print_the_warning_and_succeed(tmp_path, capsys) -> None:
    from helpers import write_scenario

    from sim.cli import main

    path = write_scenario(tmp_path, _two_expansions())
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "expansions[1].date" in err, err
    assert main(["run", str(path), "--draws", "5", "--out", str(tmp_path / "r"), "--no-charts", "--quiet"]) == 0
    assert "warning: " in capsys.readouterr().err


# --- D1: a label expansion's price ------------------------------------------------------------


def _expansion_scenario(own_price: float | None = None) -> dict:
    d = base_scenario()
    d["start"], d["end"] = "2018-01", "2022-12"
    d["indications"]["Y"] = {"uptake": {"p": 0.05, "q": 0.4, "ceiling": 0.5}, "drop_out": 0.1,
                             "markets": {"US": {"eligible": 600.0, "growth": 0.0}}}
    d["events"] = {"y_readout": {"type": "readout", "date": "2020-09"}}
    us = d["products"]["A"]["regions"]["US"]
    us["price_change"] = 0.05
    us["launches"] = {"X": "2018-01", "Y": {"after": "y_readout"}}
    if own_price is not None:
        us["launches"]["Y"]["price"] = own_price
    return d


def _prices(tmp_path, d: dict) -> np.ndarray:
    """List price per infused patient, (lane, month), of draw 0 (NaN where none are infused)."""
    out = simulate(load_dict(tmp_path, d), 1, freq="month")[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return out.lanes["revenue_local"][0] / out.lanes["infused"][0]


def test_a_later_indication_starts_at_the_products_current_price(tmp_path) -> None:
    # D1: Y started at the launch list price 100,000 while X was 115,762 (3 Januaries at +5 %)
    price = _prices(tmp_path, _expansion_scenario())
    x, y = price[0], price[1]
    both = np.isfinite(x) & np.isfinite(y)
    assert both.sum() > 20
    np.testing.assert_allclose(y[both], x[both], rtol=1e-12)
    np.testing.assert_allclose(x[-1], 100_000 * 1.05 ** 4, rtol=1e-12)  # Januaries 2019..2022


def test_an_indication_with_its_own_price_keeps_it_from_its_launch(tmp_path) -> None:
    price = _prices(tmp_path, _expansion_scenario(own_price=90_000.0))
    y = price[1][np.isfinite(price[1])]
    # launched 2020-09 at its own stated price, then the region's yearly change each January
    np.testing.assert_allclose(np.unique(np.round(y, 6)), [90_000.0, 90_000.0 * 1.05, 90_000.0 * 1.05 ** 2])


# --- D2: self-pay affordability ---------------------------------------------------------------


def _self_pay(price_a: float, price_b: float, weight: float) -> dict:
    d = base_scenario()
    d["regions"] = {"CN": {"currency": "CNY", "fx": 7.0, "sites": 1.0,
                           "payers": {"self": {"share": 1.0, "out_of_pocket": 1.0}},
                           "affordability": {"median": 380_000, "sigma": 1.3}}}
    d["indications"]["X"]["markets"] = {"CN": {"eligible": 1200.0, "growth": 0.0}}
    d["preference"] = {"weights": {"cr": weight}}
    a = d["products"]["A"]
    a["attributes"] = {"cr": 0.0}
    a["regions"] = {"CN": {"price": price_a, "launches": {"X": "2020-01"}}}
    d["products"]["B"] = {"company": "CoB", "target": "CD19", "ramp_months": 0, "manufacturing_success": 1.0,
                          "attributes": {"cr": 1.0},
                          "regions": {"CN": {"price": price_b, "launches": {"X": "2020-01"}}}}
    return d


def _able_to_pay(x: float) -> float:
    from scipy.stats import norm

    return float(norm.cdf((np.log(380_000) - np.log(x)) / 1.3))


@pytest.mark.parametrize("kernel", ["numpy", "compiled"])
@pytest.mark.parametrize("weight", [3.0, 0.0])
def test_no_more_self_payers_choose_a_product_than_can_pay_for_it(tmp_path, kernel, weight) -> None:
    # D2: B (CNY 1.2M, strongly preferred) got 0.686 of addressable patients while 0.188 can pay;
    # with equal preference still +57 %
    from helpers import lane_index

    from sim.engine.batch import simulate_batch
    from sim.engine.structure import build_structure

    scn = load_dict(tmp_path, _self_pay(190_000, 1_200_000, weight))
    st = build_structure(scn, "month")
    out = simulate_batch(st, 0, np.arange(1), kernel=kernel)
    addressable = out.cells["addressable"][0, 0]
    demand = out.lanes["demand"][0]
    a, b = lane_index(st, "A", "CN", "X"), lane_index(st, "B", "CN", "X")
    share_b = demand[b] / addressable
    assert np.all(share_b <= _able_to_pay(1_200_000) * (1 + 1e-12)), share_b.max()
    # everyone able to pay the cheaper product is treated by one of the two
    np.testing.assert_allclose((demand[a] + demand[b]) / addressable, _able_to_pay(190_000), rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n),
    st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))))
def test_wealth_bands_property(case) -> None:
    """A lane's share never exceeds the share able to pay it; the patients able to pay the most
    affordable lane are all placed (when every lane has some mix); equal prices give the mix."""
    from sim.engine.flow import band_shares

    afford, mix = (np.array(v)[None, :, None] for v in case)
    order = np.argsort(-afford, axis=1, kind="stable")
    sorted_a, sorted_m = (np.take_along_axis(x, order, axis=1) for x in (afford, mix))
    w = band_shares(sorted_a, sorted_m, order)
    assert np.all(w <= afford + 1e-12) and np.all(w >= 0)
    if np.all(mix > 1e-9):
        assert w.sum() == pytest.approx(afford.max(), rel=1e-9, abs=1e-12)
    same = band_shares(np.full_like(sorted_a, 0.7), sorted_m, order)
    if mix.sum() > 1e-9:
        np.testing.assert_allclose(same, 0.7 * mix / mix.sum(), rtol=1e-9, atol=1e-15)


# --- D3: capacity first come first served across a product's markets ---------------------------


def _saturated_capacity() -> dict:
    d = base_scenario()
    d["start"], d["end"] = "2022-01", "2026-12"
    d["indications"]["X"].update({"uptake": {"p": 3.0, "q": 0.0, "ceiling": 1.0}, "drop_out": 0.02})
    d["indications"]["X"]["markets"]["US"]["eligible"] = 2400.0  # 200 a month against 60 slots
    d["indications"]["Y"] = {"uptake": {"p": 3.0, "q": 0.0, "ceiling": 1.0}, "drop_out": 0.3,
                             "markets": {"US": {"eligible": 600.0, "growth": 0.0}}}
    a = d["products"]["A"]
    a["capacity"] = 60
    a["regions"]["US"]["launches"] = {"X": "2022-01", "Y": "2024-01"}
    return d


def test_a_market_launched_on_saturated_capacity_waits_behind_the_queue(tmp_path) -> None:
    # D3: capacity was shared pro rata over the queues: the new market got 103-114 infusions a
    # year in the batch engine and 0-1 in the patient-level engine (first come first served)
    from helpers import lane_index

    from sim.engine.batch import simulate_batch
    from sim.engine.patient import simulate_patient
    from sim.engine.structure import build_structure

    st = build_structure(load_dict(tmp_path, _saturated_capacity()))
    y = lane_index(st, "A", "US", "Y")
    years = [st.periods.index(p) for p in ("2024", "2025", "2026")]
    patient = simulate_patient(st, 0, np.arange(3), hazard="monthly").lanes["infused"][:, y, years]
    assert patient.max() <= 2  # the oracle: they drop out long before their turn
    for kernel in ("numpy", "compiled"):
        batch = simulate_batch(st, 0, np.arange(3), kernel=kernel)
        assert batch.lanes["infused"][:, y, years].max() <= 2, kernel
        # the product's total is still its capacity
        np.testing.assert_allclose(batch.lanes["infused"][:, :, years].sum(axis=1), 720.0, rtol=1e-9)


@pytest.mark.slow
def test_batch_and_patient_engines_agree_per_market_under_binding_capacity(tmp_path) -> None:
    from helpers import lane_index

    from sim.engine.batch import simulate_batch
    from sim.engine.patient import simulate_patient
    from sim.engine.structure import build_structure

    d = _saturated_capacity()
    d["indications"]["X"]["drop_out"] = d["indications"]["Y"]["drop_out"] = 0.1
    d["indications"]["X"]["markets"]["US"]["eligible"] = 840.0  # 70 a month against 60 slots
    st = build_structure(load_dict(tmp_path, d))
    ids = np.arange(30)
    batch = simulate_batch(st, 0, ids).lanes["infused"]
    patient = simulate_patient(st, 0, ids, hazard="monthly").lanes["infused"]
    for market in ("X", "Y"):
        lane = lane_index(st, "A", "US", market)
        se = patient[:, lane].std(axis=0) / np.sqrt(ids.size)
        gap = np.abs(batch[:, lane].mean(axis=0) - patient[:, lane].mean(axis=0))
        # pro rata, the new market's launch year was 199.8 against the oracle's 188.9 (4.5 SE)
        assert np.all(gap <= 3 * se + 1e-9), (market, gap, se)

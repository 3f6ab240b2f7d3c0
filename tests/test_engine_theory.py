"""The batch engine against theory: Bass closed form, queue fixed points, conservation of
patients, event probabilities and ordering, monotonicity, common random numbers, deal splits."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    base_scenario,
    bass_F,
    example_scenario,
    lane_index,
    load_dict,
    simulate,
)
from scipy.integrate import solve_ivp

from sim.engine import formulas
from sim.periods import month_ordinal

# ---------------------------------------------------------------------------- 1. Bass


@pytest.mark.parametrize(("p", "q"), [(0.03, 0.38), (0.1, 0.0), (0.01, 0.9), (0.5, 2.0)])
def test_bass_cdf_solves_the_bass_ode(p: float, q: float) -> None:
    """formulas.bass_cdf is the solution of dF/dt = (p + qF)(1 - F), F(0) = 0."""
    ts = np.linspace(0.0, 15.0, 61)
    sol = solve_ivp(lambda _t, f: (p + q * f) * (1 - f), (0, 15), [0.0], t_eval=ts,
                    rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(formulas.bass_cdf(ts, p, q), sol.y[0], rtol=1e-7, atol=1e-10)
    assert formulas.bass_cdf(-1.0, p, q) == 0.0  # nothing adopted before the start


BASS_CASES = [
    # p, q, ceiling, launch, growth
    (0.03, 0.38, 0.5, "2020-01", 0.0),   # launch at the start
    (0.1, 0.0, 0.8, "2020-07", 0.0),     # launch later: nothing before it; pure innovation
    (0.01, 0.9, 0.3, "2018-04", 0.0),    # launch 21 months before the start (t0 < 0)
    (0.5, 2.0, 1.0, "2019-12", 0.0),     # t0 = -1, fast diffusion
    (0.05, 0.5, 0.6, "2020-03", 0.04),   # with market growth
]


@pytest.mark.slow
@pytest.mark.parametrize(("p", "q", "m", "launch", "growth"), BASS_CASES)
def test_single_product_demand_is_bass_closed_form(tmp_path, p, q, m, launch, growth) -> None:
    d = base_scenario()
    E = 1800.0
    d["indications"]["X"]["uptake"] = {"p": p, "q": q, "ceiling": m}
    d["indications"]["X"]["markets"]["US"] = {"eligible": E, "growth": growth}
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = launch
    scn = load_dict(tmp_path, d)
    st, out = simulate(scn, draws=2, freq="month")
    assert st.NP == st.T == 36
    t = np.arange(st.T, dtype=float)
    t0 = month_ordinal(launch) - month_ordinal(d["start"])
    expect = E / 12 * (1 + growth) ** (t / 12) * m * bass_F((t - t0 + 0.5) / 12, p, q)
    expect[t < t0] = 0.0
    lane = lane_index(st, "A", "US", "X")
    for b in range(2):
        np.testing.assert_allclose(out.lanes["demand"][b, lane], expect, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(out.cells["demand"][b, 0], expect, rtol=1e-9, atol=1e-12)
        # no capacity limit, success 1: everyone demanding is infused the same month
        np.testing.assert_allclose(out.lanes["infused"][b, lane], expect, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(out.lanes["revenue"][b, lane], expect * 100000.0, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(out.cells["eligible"][b, 0], E / 12 * (1 + growth) ** (t / 12), rtol=1e-12)
        assert np.all(out.lanes["waiting"][b, lane] == 0.0)
        assert np.all(out.lanes["dropped"][b, lane] == 0.0)
        assert np.all(out.lanes["failed"][b, lane] == 0.0)
    # the same run reported by year sums the months
    st_y, out_y = simulate(scn, draws=1, freq="year")
    assert st_y.periods == ["2020", "2021", "2022"]
    np.testing.assert_allclose(out_y.lanes["demand"][0, lane], expect.reshape(3, 12).sum(axis=1), rtol=1e-9)


def test_class_uptake_starts_at_first_launch_and_is_split_among_products(tmp_path) -> None:
    """With two products, the class follows Bass from the *first* launch in the cell and the
    products' demands add up to it; the later product has no demand before its launch."""
    d = base_scenario()
    p, q, m, E = 0.04, 0.45, 0.55, 2400.0
    d["indications"]["X"]["uptake"] = {"p": p, "q": q, "ceiling": m}
    d["indications"]["X"]["markets"]["US"]["eligible"] = E
    d["preference"] = {"weights": {"cr": 2.0}}
    d["products"]["A"]["attributes"] = {"cr": 0.5}
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = "2020-05"
    d["products"]["B"] = {
        "company": "CoB", "target": "CD19", "attributes": {"cr": 0.7}, "ramp_months": 6,
        "regions": {"US": {"price": 90000.0, "launches": {"X": "2020-09"}}},
    }
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    t = np.arange(st.T, dtype=float)
    expect = np.where(t >= 4, E / 12 * m * bass_F((t - 4 + 0.5) / 12, p, q), 0.0)
    a, b = lane_index(st, "A", "US", "X"), lane_index(st, "B", "US", "X")
    np.testing.assert_allclose(out.lanes["demand"][0, [a, b]].sum(axis=0), expect, rtol=1e-9, atol=1e-12)
    assert np.all(out.lanes["demand"][0, b, :8] == 0.0)
    assert np.all(out.lanes["demand"][0, b, 8:] > 0.0)
    # logit at full ramp, no inertia, no order-of-entry effect: B's share = e^{2*0.7}/(e^{1.0}+e^{1.4})
    share_b = np.exp(1.4) / (np.exp(1.0) + np.exp(1.4))
    np.testing.assert_allclose(out.lanes["demand"][0, b, 20:] / expect[20:], share_b, rtol=1e-9)


# ---------------------------------------------------------------------------- 2. capacity and queue


def _saturated(d: dict, E: float, m: float, hazard: float) -> dict:
    """Constant arrivals: p so large that F((t - t0 + 0.5)/12) == 1.0 exactly from month 0."""
    d["indications"]["X"]["uptake"] = {"p": 1000.0, "q": 0.0, "ceiling": m}
    d["indications"]["X"]["drop_out"] = hazard
    d["indications"]["X"]["markets"]["US"]["eligible"] = E
    return d


@pytest.mark.parametrize(("hazard", "months"), [(0.5, 48), (0.2, 36), (0.05, 24)])
def test_capacity_limited_throughput_and_queue_fixed_point(tmp_path, hazard: float, months: int) -> None:
    lam, C, s = 100.0, 30.0, 0.9
    d = _saturated(base_scenario(), E=2400.0, m=0.5, hazard=hazard)  # 2400/12 * 0.5 = 100 / month
    d["end"] = f"{2020 + months // 12 - 1}-12"
    d["products"]["A"]["capacity"] = C
    d["products"]["A"]["manufacturing_success"] = s
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    assert months == st.T
    lane = 0
    np.testing.assert_allclose(out.lanes["demand"][0, lane], lam, rtol=1e-12)
    # throughput equals capacity every month (demand exceeds it from the first month)
    np.testing.assert_allclose(out.lanes["infused"][0, lane], C * s, rtol=1e-12)
    np.testing.assert_allclose(out.lanes["failed"][0, lane], C * (1 - s), rtol=1e-12)
    # waiting follows w_t = (w_{t-1} + lam - C)(1 - h): w_t = w* (1 - (1 - h)^(t + 1))
    w_star = (lam - C) * (1 - hazard) / hazard
    t = np.arange(months)
    w = out.lanes["waiting"][0, lane]
    np.testing.assert_allclose(w, w_star * (1 - (1 - hazard) ** (t + 1)), rtol=1e-9)
    # drop-outs: h * (w_{t-1} + lam - C)
    w_prev = np.r_[0.0, w[:-1]]
    np.testing.assert_allclose(out.lanes["dropped"][0, lane], hazard * (w_prev + lam - C), rtol=1e-9)
    if (1 - hazard) ** months < 1e-13:
        assert w[-1] == pytest.approx(w_star, rel=1e-12)  # converged to the fixed point
        assert w[-1] == pytest.approx((w[-1] + lam - C) * (1 - hazard), rel=1e-12)


def test_capacity_expansion_and_capacity_event_raise_throughput(tmp_path) -> None:
    d = _saturated(base_scenario(), E=2400.0, m=0.5, hazard=0.1)
    d["products"]["A"]["capacity"] = {"initial": 20.0, "expansions": [{"date": "2021-01", "capacity": 45.0}]}
    d["events"] = {"more": {"type": "capacity", "product": "A", "capacity": 70.0, "date": "2022-07"}}
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    inf = out.lanes["infused"][0, 0]
    np.testing.assert_allclose(inf[:12], 20.0, rtol=1e-12)
    np.testing.assert_allclose(inf[12:30], 45.0, rtol=1e-12)
    np.testing.assert_allclose(inf[30:], 70.0, rtol=1e-12)


def test_capacity_is_shared_pro_rata_across_a_products_lanes(tmp_path) -> None:
    d = _saturated(base_scenario(), E=2400.0, m=0.5, hazard=0.1)  # X: 100 / month
    d["indications"]["Y"] = {"uptake": {"p": 1000.0, "q": 0.0, "ceiling": 0.25}, "drop_out": 0.1,
                             "markets": {"US": {"eligible": 2400.0}}}  # Y: 50 / month
    d["products"]["A"]["regions"]["US"]["launches"]["Y"] = "2020-01"
    d["products"]["A"]["capacity"] = 30.0
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    x, y = lane_index(st, "A", "US", "X"), lane_index(st, "A", "US", "Y")
    np.testing.assert_allclose(out.lanes["infused"][0, x], 20.0, rtol=1e-12)
    np.testing.assert_allclose(out.lanes["infused"][0, y], 10.0, rtol=1e-12)
    np.testing.assert_allclose(out.lanes["waiting"][0, x], 2 * out.lanes["waiting"][0, y], rtol=1e-12)


# ---------------------------------------------------------------------------- 3. conservation


def _with_extra_events(d: dict) -> dict:
    """The example plus a withdrawal, a safety shock, a price change and a capacity event."""
    d["events"].update({
        "axi_safety": {"type": "safety", "product": "Axicel", "attractiveness": 0.5,
                       "date": {"dist": "uniform", "min": "2022-01", "max": "2026-01"}, "probability": 0.5},
        "axi_price": {"type": "price_change", "product": "Axicel", "region": "US", "change": -0.2,
                      "date": "2025-01"},
        "relma_out": {"type": "withdrawal", "product": "Relmacel", "date": "2027-01", "probability": 0.5},
        "cilta_cap": {"type": "capacity", "product": "Ciltacel", "capacity": 10.0, "date": "2026-03"},
    })
    return d


@pytest.mark.parametrize("extra", [False, True], ids=["example", "example+events"])
@pytest.mark.parametrize("freq", ["month", "year"])
def test_patients_are_conserved_per_region_and_indication(tmp_path, extra: bool, freq: str) -> None:
    d = example_scenario()
    if extra:
        d = _with_extra_events(d)
    st, out = simulate(load_dict(tmp_path, d), draws=64, seed=3, freq=freq)
    L, C = out.lanes, out.cells
    assert (L["waiting"].max(axis=(1, 2)) > 0).mean() > 0.5  # capacity binds in most draws
    for c in range(st.C):
        ls = np.flatnonzero(st.lane_cell == c)
        cum = lambda x: np.cumsum(x, axis=-1)  # noqa: E731
        elig = cum(C["eligible"][:, c])
        treated_or_lost = cum(L["infused"][:, ls] + L["failed"][:, ls] + L["dropped"][:, ls]).sum(axis=1)
        waiting_end = L["waiting"][:, ls].sum(axis=1)
        untreated = cum(C["untreated"][:, c])
        np.testing.assert_allclose(treated_or_lost + waiting_end + untreated, elig, rtol=1e-9)
        # the cell's demand is the sum of its lanes' demand, and never exceeds its addressable pool
        np.testing.assert_allclose(C["demand"][:, c], L["demand"][:, ls].sum(axis=1), rtol=1e-12)
        assert np.all(C["demand"][:, c] <= C["addressable"][:, c] * (1 + 1e-12))
        assert np.all(C["addressable"][:, c] <= C["eligible"][:, c] * (1 + 1e-12))
    for name in ("demand", "infused", "failed", "dropped", "waiting"):
        assert np.all(L[name] >= 0), name


def test_withdrawal_stops_infusions_and_drops_the_queue(tmp_path) -> None:
    d = _saturated(base_scenario(), E=2400.0, m=0.5, hazard=0.1)
    d["products"]["A"]["capacity"] = 30.0
    d["events"] = {"out": {"type": "withdrawal", "product": "A", "date": "2021-01"}}
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    L = out.lanes
    assert np.all(L["infused"][0, 0, 12:] == 0) and np.all(L["demand"][0, 0, 12:] == 0)
    assert np.all(L["waiting"][0, 0, 12:] == 0)
    assert L["dropped"][0, 0, 12] == pytest.approx(L["waiting"][0, 0, 11], rel=1e-12)


# ---------------------------------------------------------------------------- 4. events


def _count_tol(n: int, p: float) -> float:
    return 4 * np.sqrt(n * p * (1 - p))


def test_launch_probability_is_respected(tmp_path) -> None:
    d = base_scenario()
    d["end"] = "2020-12"
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = {"date": "2020-03", "probability": 0.3}
    st, out = simulate(load_dict(tmp_path, d), draws=4000, seed=11)
    fired = np.isfinite(out.events["launch:A/US/X"])
    assert abs(fired.sum() - 1200) <= _count_tol(4000, 0.3)
    # a launch that did not happen leaves no trace in the patient flow, one that did does
    demand = out.lanes["demand"][:, 0].sum(axis=1)
    assert np.array_equal(demand > 0, fired)
    assert np.all(out.events["launch:A/US/X"][fired] == 2)


def test_uncertain_probability_fires_at_its_mean(tmp_path) -> None:
    """A probability given as a distribution fires with its mean probability (the gate's
    uniform must be independent of the uniform that samples the probability)."""
    d = base_scenario()
    d["end"] = "2020-12"
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = {
        "date": "2020-03", "probability": {"dist": "uniform", "min": 0.0, "max": 1.0}}
    st, out = simulate(load_dict(tmp_path, d), draws=4000, seed=5)
    fired = np.isfinite(out.events["launch:A/US/X"]).sum()
    assert abs(fired - 2000) <= _count_tol(4000, 0.5)


def test_dependent_events_never_fire_before_or_without_their_parent(tmp_path) -> None:
    d = base_scenario()
    d["end"] = "2024-12"
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = {
        "date": {"dist": "uniform", "min": "2020-01", "max": "2022-12"}, "probability": 0.6}
    d["events"] = {
        "readout": {"type": "readout", "after": "A/US/X", "lag_months": {"dist": "uniform", "min": 3, "max": 9},
                    "probability": 0.7},
        "label": {"type": "price_change", "product": "A", "region": "US", "change": 0.1,
                  "after": "readout", "lag_months": 2.0},
        "floor": {"type": "readout", "after": "A", "date": "2021-06"},
    }
    st, out = simulate(load_dict(tmp_path, d), draws=1000, seed=2)
    ev = out.events
    launch, readout, label, floor = ev["launch:A/US/X"], ev["event:readout"], ev["event:label"], ev["event:floor"]
    assert np.isfinite(launch).any() and np.isfinite(readout).any() and np.isfinite(label).any()
    # a child never fires without its parent, and never before it
    assert not np.any(np.isfinite(readout) & ~np.isfinite(launch))
    assert not np.any(np.isfinite(label) & ~np.isfinite(readout))
    both = np.isfinite(readout)
    lag = readout[both] - launch[both]
    assert lag.min() >= 3 and lag.max() <= 9
    both = np.isfinite(label)
    assert np.all(label[both] == readout[both] + 2)
    # probability 0.7 of the readout given the launch (launches fire before the end here)
    n_launch = int(np.isfinite(launch).sum())
    assert abs(int(np.isfinite(readout).sum()) - 0.7 * n_launch) <= _count_tol(n_launch, 0.7)
    # 'after' + 'date': the later of the two
    fl = np.isfinite(floor)
    assert np.array_equal(fl, np.isfinite(launch))
    assert np.all(floor[fl] == np.maximum(launch[fl], 17))


def test_yearly_rounds_fire_only_in_the_round_month(tmp_path) -> None:
    d = base_scenario()
    d["start"], d["end"] = "2019-01", "2030-12"
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = {
        "date": {"dist": "uniform", "min": "2019-01", "max": "2022-12"}}
    d["events"] = {"listing": {"type": "reimbursement", "product": "A", "region": "US", "channel": "insured",
                               "after": "A/US", "price_cut": 0.5,
                               "rounds": {"month": 4, "probability": 0.4, "first_after_months": 6,
                                          "max_rounds": 3}}}
    scn = load_dict(tmp_path, d)
    st, out = simulate(scn, draws=2000, seed=9, freq="month")
    launch, fire = out.events["launch:A/US/X"], out.events["event:listing"]
    ok = np.isfinite(fire)
    start = month_ordinal(d["start"])
    assert np.all((start + fire[ok]) % 12 == 3)  # April
    assert np.all(fire[ok] >= launch[ok] + 6)
    assert np.all(fire[ok] < launch[ok] + 6 + 12 * 3)  # at most 3 rounds
    # P(listed within 3 rounds) = 1 - 0.6^3
    p3 = 1 - 0.6 ** 3
    assert abs(ok.sum() - p3 * 2000) <= _count_tol(2000, p3)
    # the price is halved from the listing month on
    lane = 0
    rev_per_pt = out.lanes["revenue"][:, lane] / np.where(out.lanes["infused"][:, lane] > 0,
                                                         out.lanes["infused"][:, lane], np.nan)
    for b in np.flatnonzero(ok)[:50]:
        f = int(fire[b])
        assert rev_per_pt[b, f] == pytest.approx(50000.0, rel=1e-12)
        if np.isfinite(rev_per_pt[b, f - 1]):
            assert rev_per_pt[b, f - 1] == pytest.approx(100000.0, rel=1e-12)


# ---------------------------------------------------------------------------- 6. monotonicity


def _uncertain_base() -> dict:
    d = base_scenario()
    d["end"] = "2024-12"
    d["indications"]["X"]["uptake"] = {"p": {"dist": "uniform", "min": 0.02, "max": 0.1}, "q": 0.5,
                                       "ceiling": {"dist": "pert", "min": 0.3, "mode": 0.45, "max": 0.6}}
    d["indications"]["X"]["markets"]["US"]["eligible"] = {"dist": "triangular", "min": 1000, "mode": 1500,
                                                          "max": 2500}
    d["products"]["A"]["capacity"] = {"initial": {"dist": "uniform", "min": 10, "max": 40},
                                      "expansions": [{"date": {"dist": "uniform", "min": "2021-01",
                                                               "max": "2023-01"}, "capacity": 60}]}
    d["products"]["A"]["manufacturing_success"] = {"dist": "beta", "alpha": 18, "beta": 2}
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = {
        "date": {"dist": "uniform", "min": "2020-01", "max": "2021-06"}}
    return d


def test_price_cut_never_raises_revenue(tmp_path) -> None:
    base = _uncertain_base()
    cut = _uncertain_base()
    cut["events"] = {"cut": {"type": "price_change", "product": "A", "region": "US",
                             "change": {"dist": "uniform", "min": -0.6, "max": -0.1},
                             "date": {"dist": "uniform", "min": "2021-01", "max": "2023-12"}}}
    _, o0 = simulate(load_dict(tmp_path, base, "a.yaml"), draws=200, seed=4, freq="month")
    _, o1 = simulate(load_dict(tmp_path, cut, "b.yaml"), draws=200, seed=4, freq="month")
    r0, r1 = o0.lanes["revenue"][:, 0], o1.lanes["revenue"][:, 0]
    assert np.all(r1 <= r0)  # never raises revenue, in any draw or month
    assert np.all(r1.sum(axis=1) < r0.sum(axis=1))  # and lowers it in every draw
    # no affordability effect: patients are untouched (common random numbers)
    assert np.array_equal(o0.lanes["infused"], o1.lanes["infused"])


def test_more_capacity_never_lowers_cumulative_infused(tmp_path) -> None:
    lo = example_scenario()
    hi = example_scenario()
    hi["products"]["Relmacel"]["capacity"] = {"initial": 35, "expansions": [{"date": "2024-01", "capacity": 90}]}
    hi["products"]["Ciltacel"]["capacity"]["initial"] = 80
    hi["products"]["Ciltacel"]["capacity"]["expansions"][0]["capacity"] = 260
    st, o0 = simulate(load_dict(tmp_path, lo, "lo.yaml"), draws=100, seed=8, freq="month")
    _, o1 = simulate(load_dict(tmp_path, hi, "hi.yaml"), draws=100, seed=8, freq="month")
    c0 = np.cumsum(o0.lanes["infused"], axis=2)
    c1 = np.cumsum(o1.lanes["infused"], axis=2)
    assert np.all(c1 >= c0 * (1 - 1e-12) - 1e-9)
    for p in ("Relmacel", "Ciltacel"):
        lane = [k for k, ln in enumerate(st.lanes) if ln[0] == p][0]
        # wherever capacity bound (someone waited) in the low run, more patients were infused
        bound = o0.lanes["waiting"][:, lane].max(axis=1) > 1e-6
        assert bound.sum() >= 20
        assert np.all(c1[bound, lane, -1] > c0[bound, lane, -1])
        assert np.all(o1.lanes["waiting"][:, lane] <= o0.lanes["waiting"][:, lane] + 1e-9)
    # demand does not depend on capacity
    assert np.array_equal(o0.lanes["demand"], o1.lanes["demand"])


def test_reimbursement_covering_self_pay_raises_demand(tmp_path) -> None:
    base = example_scenario()
    base["events"] = {}
    listed = example_scenario()
    listed["events"] = {"cover": {"type": "reimbursement", "product": "Relmacel", "region": "China",
                                  "channel": "basic_only", "out_of_pocket": 0.1, "date": "2024-01"}}
    st, o0 = simulate(load_dict(tmp_path, base, "a.yaml"), draws=100, seed=1, freq="month")
    _, o1 = simulate(load_dict(tmp_path, listed, "b.yaml"), draws=100, seed=1, freq="month")
    lane = lane_index(st, "Relmacel", "China", "LBCL_3L")
    d0, d1 = o0.lanes["demand"][:, lane], o1.lanes["demand"][:, lane]
    at = month_ordinal("2024-01") - month_ordinal(base["start"])
    np.testing.assert_array_equal(d0[:, :at], d1[:, :at])
    launched = d0[:, at] > 0
    assert launched.mean() > 0.5
    assert np.all(d1[launched, at:] > d0[launched, at:])
    assert np.all(d1 >= d0)


# ---------------------------------------------------------------------------- 7. common random numbers


def test_same_seed_scenarios_differing_in_a_price_share_patients(tmp_path) -> None:
    a = example_scenario()
    b = example_scenario()
    b["products"]["Axicel"]["regions"]["US"]["price"] = 300000
    st, oa = simulate(load_dict(tmp_path, a, "a.yaml"), draws=100, seed=21)
    _, ob = simulate(load_dict(tmp_path, b, "b.yaml"), draws=100, seed=21)
    # every product's patients are identical draw by draw (no affordability in the US;
    # China's self-pay patients only see Relmacel's price, which did not change)
    for m in ("demand", "infused", "waiting", "dropped"):
        assert np.array_equal(oa.lanes[m], ob.lanes[m]), m
    ax = lane_index(st, "Axicel", "US", "LBCL_3L")
    np.testing.assert_allclose(ob.lanes["revenue"][:, ax], oa.lanes["revenue"][:, ax] * 300000 / 373000,
                               rtol=1e-12)
    others = [k for k in range(st.L) if k != ax]
    assert np.array_equal(oa.lanes["revenue"][:, others], ob.lanes["revenue"][:, others])
    # a different seed gives different draws
    _, oc = simulate(load_dict(tmp_path, a, "a.yaml"), draws=100, seed=22)
    assert not np.array_equal(oa.lanes["infused"], oc.lanes["infused"])


# ---------------------------------------------------------------------------- 8. company split


def test_deal_splits_revenue_and_books_upfront_and_milestones(tmp_path) -> None:
    d = base_scenario()
    d["end"] = "2023-12"
    d["products"]["A"]["cogs"] = 20000.0
    d["products"]["A"]["regions"]["US"]["launches"]["X"] = {
        "date": {"dist": "uniform", "min": "2020-06", "max": "2022-06"}, "probability": 0.7}
    d["products"]["A"]["deals"] = [{
        "partner": "Partner", "partner_share": 0.5, "royalty": 0.1,
        "upfront": 350.0e6, "upfront_date": "2021-03",
        "milestones": [{"amount": 50.0e6, "on": "A/US/X"}],
    }]
    st, out = simulate(load_dict(tmp_path, d), draws=200, seed=6)
    assert st.periods == ["2020", "2021", "2022", "2023"]
    own = st.company_products.index(("CoA", "A"))
    par = st.company_products.index(("Partner", "A"))
    rev = out.lanes["revenue"][:, 0]
    C = out.companies
    np.testing.assert_allclose(C["revenue"][:, own], 0.5 * rev, rtol=1e-12)
    np.testing.assert_allclose(C["revenue"][:, par], 0.5 * rev, rtol=1e-12)
    np.testing.assert_allclose(C["gross_profit"][:, own] + C["gross_profit"][:, par],
                               out.lanes["gross_profit"][:, 0], rtol=1e-12)
    np.testing.assert_allclose(C["royalty"][:, own], 0.05 * rev, rtol=1e-12)  # 10 % of the partner's half
    np.testing.assert_allclose(C["royalty"][:, par], -0.05 * rev, rtol=1e-12)
    np.testing.assert_allclose(out.lanes["company_revenue"][:, 0], 0.55 * rev, rtol=1e-12)
    # upfront once, in 2021, partner pays the owner; milestone when the launch fires
    launch = out.events["launch:A/US/X"]
    fired = np.isfinite(launch)
    assert 0 < fired.sum() < 200
    expect_own = np.zeros((200, st.NP))
    expect_own[:, 1] += 350.0e6
    year_of_launch = (launch[fired] // 12).astype(int)
    expect_own[np.flatnonzero(fired), year_of_launch] += 50.0e6
    np.testing.assert_allclose(C["deal_payments"][:, own], expect_own, rtol=1e-12)
    np.testing.assert_allclose(C["deal_payments"][:, par], -expect_own, rtol=1e-12)
    np.testing.assert_allclose(C["income"], C["gross_profit"] + C["royalty"] + C["deal_payments"], rtol=1e-12)


# ---------------------------------------------------------------------------- money, access, choice


def test_money_gross_to_net_fx_yearly_price_change_and_cogs(tmp_path) -> None:
    d = _saturated(base_scenario(), E=2400.0, m=0.5, hazard=0.1)  # 100 patients / month
    d["start"], d["end"] = "2020-03", "2022-12"
    d["regions"]["US"]["fx"] = 7.0
    d["products"]["A"].update({"cogs": 20000.0, "manufacturing_success": 0.9, "capacity": 40.0})
    d["products"]["A"]["regions"]["US"].update({"price": 700000.0, "gross_to_net": 0.2, "price_change": 0.05,
                                                "launches": {"X": "2020-05"}})
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    t = np.arange(st.T)
    L = {k: v[0, 0] for k, v in out.lanes.items()}
    served = np.where(t >= 2, 40.0, 0.0)
    np.testing.assert_allclose(L["infused"], 0.9 * served, rtol=1e-12)
    # the list price moves by +5 % each January after launch (2021-01 is t = 10, 2022-01 is t = 22)
    price = 700000.0 * 1.05 ** ((t >= 10).astype(int) + (t >= 22).astype(int))
    np.testing.assert_allclose(L["revenue_local"], 0.9 * served * price * 0.8, rtol=1e-12)
    np.testing.assert_allclose(L["revenue"], 0.9 * served * price * 0.8 / 7.0, rtol=1e-12)
    np.testing.assert_allclose(L["cogs"], served * 20000.0, rtol=1e-12)  # failed batches cost too
    np.testing.assert_allclose(L["gross_profit"], L["revenue"] - L["cogs"], rtol=1e-12)


@pytest.mark.parametrize(("oop", "median", "sigma"), [(0.3, 300000.0, 1.0), (1.0, 50000.0, 0.5), (0.0, 1e3, 1.0)])
def test_affordability_is_a_lognormal_survival_of_out_of_pocket(tmp_path, oop, median, sigma) -> None:
    from scipy import stats

    d = _saturated(base_scenario(), E=2400.0, m=0.5, hazard=0.1)
    d["regions"]["US"]["payers"] = {"p": {"share": 1.0, "out_of_pocket": oop}}
    d["regions"]["US"]["affordability"] = {"median": median, "sigma": sigma}
    d["regions"]["US"]["sites"] = 0.7
    price = 400000.0
    d["products"]["A"]["regions"]["US"]["price"] = price
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    afford = stats.lognorm(s=sigma, scale=median).sf(oop * price) if oop > 0 else 1.0
    np.testing.assert_allclose(out.cells["addressable"][0, 0], 100.0 * 0.7, rtol=1e-12)
    np.testing.assert_allclose(out.lanes["demand"][0, 0], 100.0 * 0.7 * afford, rtol=1e-9)


def test_entry_order_and_inertia_move_shares_as_specified(tmp_path) -> None:
    inertia, e = 0.6, 0.5
    d = _saturated(base_scenario(), E=2400.0, m=0.5, hazard=0.1)
    d["indications"]["X"].update({"inertia": inertia, "order_of_entry": e})
    d["products"]["B"] = {"company": "CoB", "target": "CD19", "ramp_months": 0,
                          "regions": {"US": {"price": 1.0, "launches": {"X": "2020-07"}}}}
    st, out = simulate(load_dict(tmp_path, d), draws=1, freq="month")
    b = lane_index(st, "B", "US", "X")
    share_b = out.lanes["demand"][0, b] / 100.0
    target = 2.0 ** -e / (1 + 2.0 ** -e)  # second entrant: attractiveness x rank^-e
    k = np.arange(st.T - 6)
    np.testing.assert_allclose(share_b[6:], target * (1 - inertia ** (k + 1)), rtol=1e-9)
    assert np.all(share_b[:6] == 0.0)


@pytest.mark.parametrize("capacity", [0.0, 10.0])
def test_subnormal_queue_gives_no_nan(tmp_path, capacity: float) -> None:
    d = base_scenario()
    d["indications"]["X"]["uptake"]["ceiling"] = 1e-310  # demand ~ 3e-309 patients / month
    d["products"]["A"]["capacity"] = capacity
    st, out = simulate(load_dict(tmp_path, d), draws=1)
    for m in ("infused", "waiting", "dropped", "revenue"):
        assert np.all(np.isfinite(out.lanes[m])), m

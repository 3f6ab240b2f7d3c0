"""The outside option and modality classes (issue 12, part 2): a nested logit between standard
of care and the classes of products, each class diffusing from its own first launch.

Theory: shares of the outside option and the classes sum to 1 and each product's demand is
ceiling x F x e_k / (w0 + sum e) x its share within the class (closed form); with no outside
weight, lambda 1 and classes launched together it is the plain logit of today's engine; a new
class grows the number treated; a safety shock or a price change moves how many are treated;
both kernels and the patient-level engine agree; bad values are refused with the field path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_kernels_agree, base_scenario, bass_F, lane_index, load_dict, simulate
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.batch import simulate_batch
from sim.engine.structure import build_structure
from sim.errors import ScenarioError

P, Q, CEIL = 0.05, 0.4, 0.5
MONTHS = 36


def _two_classes(outside=0.0, nesting=1.0, eff=(0.0, 0.5, 1.0), bispecific_launch="2020-01", **choice):
    """CAR-T A and C, bispecific B in one US market, utility = eff x weight 1."""
    d = base_scenario()
    d["preference"] = {"weights": {"eff": 1.0}}
    d["products"]["A"]["attributes"] = {"eff": eff[0]}
    d["products"]["C"] = {"company": "CoC", "target": "CD19", "ramp_months": 0, "attributes": {"eff": eff[2]},
                          "regions": {"US": {"price": 100000.0, "launches": {"X": "2020-01"}}}}
    d["products"]["B"] = {"company": "CoB", "target": "BCMA", "modality": "bispecific", "ramp_months": 0,
                          "attributes": {"eff": eff[1]},
                          "regions": {"US": {"price": 50000.0, "launches": {"X": bispecific_launch}}}}
    if outside is not None:
        d["indications"]["X"]["choice"] = {"outside": outside, "nesting": nesting, **choice}
    return d


def _demand(st, out, product):
    return out.lanes["demand"][0, lane_index(st, product, "US", "X")]


def _reach():
    """eligible x ceiling x Bass F per month, for a class launched 2020-01."""
    tau = (np.arange(MONTHS) + 0.5) / 12.0
    return 1200.0 / 12 * CEIL * bass_F(tau, P, Q)


@pytest.mark.parametrize("outside,nesting", [(0.0, 1.0), (0.7, 1.0), (2.0, 0.5), (0.3, 0.2)])
def test_demand_matches_the_nested_logit_closed_form(tmp_path, outside, nesting) -> None:
    eff = (0.0, 0.5, 1.0)
    st, out = simulate(load_dict(tmp_path, _two_classes(outside, nesting, eff)), freq="month")
    u = dict(zip("ABC", eff, strict=True))
    within = {"A": math.exp(u["A"] / nesting), "C": math.exp(u["C"] / nesting)}
    e_cart = sum(within.values()) ** nesting
    e_bis = math.exp(u["B"])  # a class of one: (exp(u / lambda)) ** lambda
    denom = outside + e_cart + e_bis
    expected = {"A": e_cart / denom * within["A"] / sum(within.values()),
                "C": e_cart / denom * within["C"] / sum(within.values()), "B": e_bis / denom}
    for prod, share in expected.items():
        np.testing.assert_allclose(_demand(st, out, prod), _reach() * share, rtol=1e-10, err_msg=prod)
    treated = sum(expected.values())
    assert treated + outside / denom == pytest.approx(1.0, abs=1e-12)  # the shares sum to 1
    np.testing.assert_allclose(out.cells["addressable"][0, 0], _reach() * treated, rtol=1e-10)


def test_without_an_outside_weight_it_is_todays_plain_logit(tmp_path) -> None:
    st0, plain = simulate(load_dict(tmp_path, _two_classes(outside=None), "a.yaml"), freq="month")
    st1, nested = simulate(load_dict(tmp_path, _two_classes(outside=0.0), "b.yaml"), freq="month")
    for prod in "ABC":
        np.testing.assert_allclose(_demand(st1, nested, prod), _demand(st0, plain, prod), rtol=1e-12)
        for m in ("infused", "revenue"):
            np.testing.assert_allclose(nested.lanes[m][0, lane_index(st1, prod, "US", "X")],
                                       plain.lanes[m][0, lane_index(st0, prod, "US", "X")], rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(outside=st.floats(0.0, 20.0), nesting=st.floats(0.05, 1.0),
       eff=st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3)))
def test_class_and_outside_shares_sum_to_one_and_products_split_by_their_logit(tmp_path_factory, outside, nesting,
                                                                               eff) -> None:
    tmp = tmp_path_factory.mktemp("nl")
    st, out = simulate(load_dict(tmp, _two_classes(outside, nesting, eff)), freq="month")
    reach = _reach()[6]
    d = {p: _demand(st, out, p)[6] / reach for p in "ABC"}
    w = {p: math.exp(x) for p, x in zip("ABC", eff, strict=True)}
    e = {"cart": (w["A"] ** (1 / nesting) + w["C"] ** (1 / nesting)) ** nesting, "bis": w["B"]}
    outside_share = outside / (outside + e["cart"] + e["bis"])
    assert sum(d.values()) + outside_share == pytest.approx(1.0, rel=1e-9)
    assert d["B"] == pytest.approx(e["bis"] / (outside + e["cart"] + e["bis"]), rel=1e-9)
    assert d["A"] / (d["A"] + d["C"]) == pytest.approx(w["A"] ** (1 / nesting) / (w["A"] ** (1 / nesting)
                                                                                   + w["C"] ** (1 / nesting)), rel=1e-9)


def test_each_class_diffuses_from_its_own_first_launch(tmp_path) -> None:
    d = _two_classes(outside=0.0, bispecific_launch="2021-01")
    d["indications"]["X"]["choice"]["classes"] = {"bispecific": {"uptake": {"p": 0.2, "q": 0.1, "ceiling": 0.3}}}
    st, out = simulate(load_dict(tmp_path, d), freq="month")
    t = np.arange(MONTHS)
    tau_b = np.where(t >= 12, (t - 12 + 0.5) / 12.0, 0.0)
    e_cart, e_bis = 1.0 + math.e, math.exp(0.5)
    share_b = np.where(t >= 12, e_bis / (e_cart + e_bis), 0.0)
    np.testing.assert_allclose(_demand(st, out, "B"), 1200 / 12 * 0.3 * bass_F(tau_b, 0.2, 0.1) * share_b,
                               rtol=1e-10, atol=1e-12)
    # the CAR-T class keeps its own pace and ceiling from 2020-01
    share_c = np.where(t >= 12, e_cart / (e_cart + e_bis), 1.0)
    np.testing.assert_allclose(_demand(st, out, "A") + _demand(st, out, "C"), _reach() * share_c, rtol=1e-10)


def _total_treated(tmp_path, d, name):
    st, out = simulate(load_dict(tmp_path, d, name))
    return st, out, out.lanes["infused"][0].sum(axis=0)


def test_with_an_outside_option_a_new_class_grows_the_market(tmp_path) -> None:
    without = _two_classes(outside=1.5)
    del without["products"]["B"]
    st0, out0, n0 = _total_treated(tmp_path, without, "a.yaml")
    st1, out1, n1 = _total_treated(tmp_path, _two_classes(outside=1.5), "b.yaml")
    bis = out1.lanes["infused"][0, lane_index(st1, "B", "US", "X")]
    assert (n1 > n0 * 1.05).all()  # more patients treated in every year
    cart_loss = n0 - (n1 - bis)
    assert (cart_loss > 0).all() and (cart_loss < 0.8 * bis).all()  # CAR-T loses less than B gains
    # without an outside option, B only takes patients from CAR-T (today's fixed pool)
    st2, out2, n2 = _total_treated(tmp_path, _two_classes(outside=0.0), "c.yaml")
    without0 = _two_classes(outside=0.0)
    del without0["products"]["B"]
    _, _, n3 = _total_treated(tmp_path, without0, "d.yaml")
    np.testing.assert_allclose(n2, n3, rtol=1e-12)


def _safety(d):
    d["events"] = {"shock": {"type": "safety", "product": "A", "date": "2021-01", "attractiveness": 0.3}}
    return d


def _alone(outside):
    d = base_scenario()
    d["indications"]["X"]["choice"] = {"outside": outside}
    return d


def test_a_safety_shock_on_a_product_alone_reduces_the_number_treated(tmp_path) -> None:
    _, _, before = _total_treated(tmp_path, _alone(1.0), "a.yaml")
    _, _, after = _total_treated(tmp_path, _safety(_alone(1.0)), "b.yaml")
    assert after[0] == pytest.approx(before[0])  # 2020: before the shock
    assert (after[1:] < 0.8 * before[1:]).all()
    # without an outside option it only reshuffles products: alone, nothing changes
    _, _, b0 = _total_treated(tmp_path, _alone(0.0), "c.yaml")
    _, _, a0 = _total_treated(tmp_path, _safety(_alone(0.0)), "d.yaml")
    np.testing.assert_allclose(a0, b0, rtol=1e-12)


def test_a_price_utility_makes_a_price_cut_treat_more_patients(tmp_path) -> None:
    def cut(d):
        d["events"] = {"cut": {"type": "price_change", "product": "A", "region": "US", "date": "2021-01",
                               "change": -0.4}}
        return d

    priced = _alone(1.0)
    priced["indications"]["X"]["choice"]["price"] = -1.0  # utility per 100,000 of net price
    _, _, before = _total_treated(tmp_path, priced, "a.yaml")
    _, _, after = _total_treated(tmp_path, cut(_alone(1.0) | {"indications": priced["indications"]}), "b.yaml")
    assert after[0] == pytest.approx(before[0])
    assert (after[1:] > 1.1 * before[1:]).all()
    # closed form in 2022 (ceiling x F aside): share = w / (w0 + w), w = exp(-1.0 x net price / 100k)
    share = lambda price: math.exp(-price / 1e5) / (1.0 + math.exp(-price / 1e5))  # noqa: E731
    ratio = after[2] / before[2]
    assert ratio == pytest.approx(share(60000.0) / share(100000.0), rel=2e-3)  # 2022 price: -40 % then +0 %/yr
    # no price utility: the cut changes nothing for insured patients
    _, _, b0 = _total_treated(tmp_path, _alone(1.0), "c.yaml")
    _, _, a0 = _total_treated(tmp_path, cut(_alone(1.0)), "d.yaml")
    np.testing.assert_allclose(a0, b0, rtol=1e-12)


def _rich():
    d = _two_classes(outside=0.8, nesting=0.6)
    d["end"] = "2023-12"
    d["indications"]["X"]["inertia"] = 0.5
    d["indications"]["X"]["order_of_entry"] = 0.5
    d["indications"]["X"]["choice"]["price"] = -0.5
    d["indications"]["X"]["choice"]["classes"] = {"bispecific": {"uptake": {"p": 0.1, "q": 0.3, "ceiling": {
        "dist": "uniform", "min": 0.2, "max": 0.4}}}}
    d["indications"]["X"]["markets"]["CN"] = {"eligible": 3000.0}
    d["regions"]["CN"] = {"currency": "CNY", "fx": 7.0, "affordability": {"median": 300000.0, "sigma": 1.0},
                          "payers": {"cash": {"share": 1.0, "out_of_pocket": 1.0}}}
    for p, price in (("A", 900000.0), ("B", 400000.0), ("C", 1200000.0)):
        d["products"][p]["regions"]["CN"] = {"price": price, "launches": {"X": {"date": {
            "dist": "uniform", "min": "2020-06", "max": "2022-06"}}}}
    d["products"]["C"]["capacity"] = 8
    d["events"] = {"shock": {"type": "safety", "product": "C", "date": "2022-01", "attractiveness": 0.5}}
    return d


def test_both_kernels_agree_under_a_nested_choice(tmp_path) -> None:
    assert_kernels_agree(build_structure(load_dict(tmp_path, _rich())), 3, 24)


@pytest.mark.slow
def test_the_patient_engine_agrees_in_expectation_under_a_nested_choice(tmp_path) -> None:
    from sim.engine.patient import simulate_patient

    d = _two_classes(outside=1.0, nesting=0.5)
    d["indications"]["X"]["markets"]["US"]["eligible"] = 4000.0
    st = build_structure(load_dict(tmp_path, d))
    fluid = simulate_batch(st, 1, np.arange(1))
    pat = simulate_patient(st, 1, np.arange(40))
    for p in "ABC":
        lane = lane_index(st, p, "US", "X")
        f, m = fluid.lanes["infused"][0, lane].sum(), pat.lanes["infused"][:, lane].sum(axis=1)
        se = m.std(ddof=1) / np.sqrt(m.size)
        assert abs(m.mean() - f) < 4 * se + 1e-9, (p, f, m.mean(), se)


BAD = {
    "nesting 0": ({"nesting": 0.0}, "indications.X.choice.nesting", "a nesting parameter in (0, 1]"),
    "nesting above 1": ({"nesting": 1.5}, "indications.X.choice.nesting", "a nesting parameter in (0, 1]"),
    "negative outside": ({"outside": -1.0}, "indications.X.choice.outside", "non-negative"),
    "positive price": ({"price": 0.5}, "indications.X.choice.price", "a price utility (0 or negative)"),
    "unknown class": ({"classes": {"bispecfic": {}}}, "indications.X.choice.classes.bispecfic", "bispecific"),
    "unknown key": ({"outsde": 1.0}, "indications.X.choice.outsde", "did you mean 'outside'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_choice_is_refused_with_its_field_path(tmp_path, case) -> None:
    spec, where, expected = BAD[case]
    d = base_scenario()
    d["indications"]["X"]["choice"] = spec
    with pytest.raises(ScenarioError) as exc:
        load_dict(tmp_path, d)
    text = str(exc.value.render() if hasattr(exc.value, "render") else exc.value)
    assert f"at '{where}'" in text and expected in text, text

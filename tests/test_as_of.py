"""Scenarios as known at a month (`as_of`): validation refuses a later launch or event stated as
certain, the shipped as-of scenarios keep the facts before their month and nothing after it, and
a distribution given in a variant replaces the base's instead of merging into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bad_scenarios import BASE, load_error, variant, write

from sim.periods import month_ordinal
from sim.scenario import load_scenario
from sim.scenario.dists import Distribution, Uniform

ROOT = Path(__file__).resolve().parent.parent
AS_OF = {"cart_asof_2019-12.yaml": "2019-12", "cart_asof_2020-12.yaml": "2020-12"}


def _launches(scn):
    for pname, p in scn.products.items():
        for r, pr in p.regions.items():
            for i, launch in pr.launches.items():
                yield f"{pname}/{r}/{i}", launch


def test_a_certain_launch_after_as_of_is_refused(tmp_path):
    err = load_error(variant("name: v\nas_of: 2020-03\n")(tmp_path))  # Axi launches 2020-06 for sure
    msg = str(err)
    assert "products.Axi.regions.US.launches.LBCL.date" in msg
    assert "after as_of (2020-03)" in msg and "probability below 1" in msg
    assert "Bre" not in msg  # probability 0.8: already uncertain
    assert "events.ro.date" in msg  # a certain read-out in 2021-06


@pytest.mark.parametrize("launch", [
    {"date": "2020-06", "probability": 0.9},
    {"date": {"dist": "uniform", "min": "2020-04", "max": "2020-09"}},
    {"after": "ro", "lag_months": 2},
])
def test_an_uncertain_later_launch_is_accepted(tmp_path, launch):
    body = ("name: v\nas_of: 2020-03\nevents:\n  ro: {type: readout, date: '2021-06', probability: 0.7}\n"
            f"products:\n  Axi:\n    regions:\n      US:\n        launches:\n          LBCL: {json.dumps(launch)}\n")
    scn = load_scenario(variant(body)(tmp_path)).scenario
    assert scn.as_of == "2020-03"


@pytest.mark.parametrize("launch", [
    {"date": None, "after": "Axi/US/LBCL", "lag_months": 12, "probability": 1},  # a certain lag behind a certain launch
    {"date": "2020-01", "after": "Axi/US/LBCL", "lag_months": 8, "probability": 1},  # the later of date and parent
])
def test_a_certain_launch_after_as_of_through_after_is_refused(tmp_path, launch):
    body = ("name: v\nas_of: 2020-12\nevents:\n  ro: {type: readout, date: '2020-06'}\n"
            f"products:\n  Bre:\n    regions:\n      US:\n        launches:\n          LBCL: {json.dumps(launch)}\n")
    msg = str(load_error(variant(body)(tmp_path)))
    assert "products.Bre.regions.US.launches.LBCL.after" in msg and "certain on 2021-" in msg


def test_a_certain_window_after_as_of_and_a_fixed_later_expansion_are_warned_about(tmp_path):
    body = ("name: v\nas_of: 2020-03\nevents:\n  ro: {type: readout, date: '2020-02'}\n"
            "products:\n  Axi:\n    capacity: {initial: 10, expansions: [{date: '2021-01', capacity: 20}]}\n"
            "    regions:\n      US:\n        launches:\n"
            "          LBCL: {date: {dist: uniform, min: '2020-05', max: '2020-09'}}\n")
    warnings = load_scenario(variant(body)(tmp_path)).warnings
    assert any("launches.LBCL" in w and "only after as_of" in w for w in warnings), warnings
    assert any("capacity.expansions[0].date" in w and "a fixed date after as_of" in w for w in warnings), warnings


def test_as_of_outside_the_horizon_is_refused(tmp_path):
    msg = str(load_error(variant("name: v\nas_of: 2010-01\n")(tmp_path)))
    assert "'as_of'" in msg and "outside the horizon (2020-01..2025-12)" in msg


def test_a_launch_with_a_date_and_after_is_warned_about(tmp_path):
    """A variant switching a launch to `after:` keeps its base's date unless it writes `date: null`."""
    body = ("name: v\nproducts:\n  Bre:\n    regions:\n      US:\n        launches:\n"
            "          LBCL: {after: Axi/US/LBCL, lag_months: 2}\n")
    loaded = load_scenario(variant(body)(tmp_path))
    assert any("both a date and 'after'" in w and "date: null" in w for w in loaded.warnings)
    fixed = body.replace("{after:", "{date: null, after:")
    write(tmp_path, "extends: base.yaml\n" + fixed, "fixed.yaml")
    assert not load_scenario(tmp_path / "fixed.yaml").warnings


def test_facts_up_to_as_of_are_accepted(tmp_path):
    assert load_scenario(variant("name: v\nas_of: 2021-06\n")(tmp_path)).scenario.as_of == "2021-06"


@pytest.mark.parametrize("name", sorted(AS_OF))
def test_shipped_as_of_scenarios_know_nothing_certain_after_their_month(name):
    loaded = load_scenario(ROOT / "scenarios" / name)
    scn, month = loaded.scenario, month_ordinal(AS_OF[name])
    assert scn.as_of == AS_OF[name]
    for where, launch in _launches(scn):
        if isinstance(launch.date, float) and launch.date > month:
            assert launch.probability < 1.0, where
    base = load_scenario(ROOT / "scenarios" / "cart_2022.yaml").scenario
    facts = {w: la for w, la in _launches(base) if isinstance(la.date, float) and la.date <= month
             and la.probability == 1.0}
    assert len(facts) >= 8  # Kymriah and Yescarta in the US, EU, Japan and RoW at least
    mine = dict(_launches(scn))
    for where, launch in facts.items():  # what had happened by then is inherited unchanged
        assert mine[where] == launch, where
    later = {w for w, la in _launches(base) if isinstance(la.date, float) and la.date > month}
    assert later and all(mine[w] != base_la for w, base_la in _launches(base) if w in later)
    # a launch switched to `after:` does not keep the base's date behind it
    assert not [w for w, la in _launches(scn) if la.date is not None and la.after is not None]
    assert not loaded.warnings


def test_the_reference_scenario_is_as_of_2022_11():
    assert load_scenario(ROOT / "scenarios" / "cart_2022.yaml").scenario.as_of == "2022-11"


def test_a_distribution_in_a_variant_replaces_the_bases(tmp_path):
    base = {**BASE, "indications": {"LBCL": {**BASE["indications"]["LBCL"],
                                             "uptake": {"p": 0.05, "q": 0.5,
                                                        "ceiling": {"dist": "pert", "min": 0.2, "mode": 0.3,
                                                                    "max": 0.5}}}}}
    body = "name: v\nindications:\n  LBCL:\n    uptake:\n      ceiling: {dist: uniform, min: 0.1, max: 0.6}\n"
    ceiling = load_scenario(variant(body, base)(tmp_path)).scenario.indications["LBCL"].uptake.ceiling
    assert isinstance(ceiling, Uniform) and ceiling.support() == (0.1, 0.6)
    # a mapping without 'dist' still merges into the base's distribution
    write(tmp_path, "extends: base.yaml\nname: w\nindications:\n  LBCL:\n    uptake:\n      ceiling: {max: 0.6}\n",
          "w.yaml")
    merged = load_scenario(tmp_path / "w.yaml").scenario.indications["LBCL"].uptake.ceiling
    assert isinstance(merged, Distribution) and merged.support() == (0.2, 0.6)


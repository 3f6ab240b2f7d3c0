"""Scenario loading and validation (sim/scenario): every bad input is a ScenarioError that names
the file, the line, the field path and what was expected."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path

import pytest
import yaml
from bad_scenarios import (  # noqa: I001
    BASE,
    EXAMPLE,
    Build,
    L,
    P,
    a_directory,
    billion_laughs,
    delp,
    dump,
    edit,
    extends_cycle,
    extends_self,
    line_of,
    load_error,
    raw,
    rename,
    setp,
    text,
    variant,
    write,
)

from sim.errors import ScenarioError
from sim.periods import month_ordinal
from sim.scenario import LoadedScenario, Scenario, load_scenario
from sim.scenario.dists import LogNormal, Triangular, Uniform

# --- the table ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    build: Build
    path: str | None  # field path the message must name ("at '<path>'"), None for file-level
    phrases: tuple[str, ...]  # what was expected / the hint
    marker: str | None = None  # text on the offending line: the error must say file:<that line>
    file: str = "scenario.yaml"  # the file the error must point into
    line: int | None = None  # explicit expected line (when a marker cannot identify it)



CASES: dict[str, Case] = {
    # wrong types
    "name_not_text": Case(setp("name", ["a", "b"]), "name", ("valid string",), "name: [a, b]"),
    "start_not_month": Case(setp("start", 2020), "start", ("YYYY-MM",), "start: 2020"),
    "start_bad_month": Case(setp("start", "2020-13"), "start", ("YYYY-MM", "'2020-13'"), "start: 2020-13"),
    "price_text": Case(setp(f"{P}.price", "cheap"), f"{P}.price",
                       ("expected an amount of money or a distribution mapping", "'cheap'"), "price: cheap"),
    "price_list": Case(setp(f"{P}.price", [1, 2]), f"{P}.price", ("distribution mapping",), "price: [1, 2]"),
    "price_bool": Case(setp(f"{P}.price", True), f"{P}.price", ("got True",), "price: true"),
    "modality_literal": Case(setp("products.Axi.modality", "gene_therapy"), "products.Axi.modality",
                             ("autologous_cart",), "modality: gene_therapy"),
    "rounds_month_13": Case(setp("events.reimb.rounds", {"month": 13, "probability": 0.3}),
                            "events.reimb.rounds.month", ("less than or equal to 12",), "rounds:"),
    # numbers out of range
    "negative_price": Case(setp(f"{P}.price", -5), f"{P}.price",
                           ("expected an amount of money", "got -5"), "price: -5"),
    "negative_eligible": Case(setp("indications.LBCL.markets.EU.eligible", -1),
                              "indications.LBCL.markets.EU.eligible", ("number of patients",),
                              "EU: {eligible: -1}"),
    "probability_1_7": Case(setp(f"{L}.probability", 1.7), f"{L}.probability",
                            ("expected a probability in [0, 1]", "1.7"), "probability: 1.7"),
    "probability_normal": Case(setp(f"{L}.probability", {"dist": "normal", "mean": 0.5, "sd": 0.1}),
                               f"{L}.probability", ("a probability must lie in [0, 1]", "truncate it"),
                               "probability: {dist: normal"),
    "fraction_uniform_too_wide": Case(setp("products.Axi.manufacturing_success",
                                           {"dist": "uniform", "min": 0.8, "max": 1.2}),
                                      "products.Axi.manufacturing_success",
                                      ("a fraction must lie in [0, 1]",), "manufacturing_success:"),
    "huge_number_text_1e400": Case(text(lambda t: t.replace("price: 373000", "price: 1e400")),
                                   f"{P}.price", ("finite number",), "price: 1e400"),
    "huge_number_float_1e400": Case(text(lambda t: t.replace("price: 373000", "price: 1.0e+400")),
                                    f"{P}.price", ("finite number",), "price: 1.0e+400"),
    "infinite_number": Case(text(lambda t: t.replace("price: 373000", "price: .inf")),
                            f"{P}.price", ("finite number",), "price: .inf"),
    # distributions
    "unknown_distribution": Case(setp(f"{P}.price", {"dist": "lognormall", "median": 3e5, "sigma": 0.2}),
                                 f"{P}.price", ("unknown distribution 'lognormall'",
                                                "did you mean 'lognormal'"), "price: {dist: lognormall"),
    "distribution_without_dist": Case(setp(f"{P}.price", {"min": 1, "max": 2}), f"{P}.price",
                                      ("needs a 'dist' key",), "price: {min: 1"),
    "distribution_unknown_key": Case(setp(f"{P}.price", {"dist": "pert", "min": 1, "mod": 2, "max": 3}),
                                     f"{P}.price", ("unknown key", "did you mean 'mode'"), "price: {dist: pert"),
    "lognormal_p90_below_median": Case(setp(f"{P}.price", {"dist": "lognormal", "median": 3e5, "p90": 2e5}),
                                       f"{P}.price", ("p90", "must be above the median"),
                                       "price: {dist: lognormal"),
    "pert_min_above_max": Case(setp(f"{P}.price", {"dist": "pert", "min": 5e5, "mode": 4e5, "max": 3e5}),
                               f"{P}.price", ("min <= mode <= max",), "price: {dist: pert"),
    "date_dist_reversed": Case(setp(f"{L}.date", {"dist": "uniform", "min": "2022-06", "max": "2021-06"}),
                               f"{L}.date", ("min <= max",), "date: {dist: uniform"),
    # unknown keys
    "unknown_key": Case(setp(f"{P}.pricechange", 0.03), f"{P}.pricechange",
                        ("unknown key 'pricechange'", "did you mean 'price_change'", "allowed here"),
                        "pricechange:"),
    "unknown_top_level_key": Case(rename("description", "descripton"), "descripton",
                                  ("unknown key 'descripton'", "did you mean 'description'"), "descripton:"),
    "unknown_key_in_launch": Case(setp(f"{L}.probabilty", 0.5), f"{L}.probabilty",
                                  ("unknown key 'probabilty'", "did you mean 'probability'"), "probabilty:"),
    "unknown_key_in_payer": Case(setp("regions.US.payers.insured.out_of_pockt", 0.1),
                                 "regions.US.payers.insured.out_of_pockt",
                                 ("unknown key", "did you mean 'out_of_pocket'"), "out_of_pockt: 0.1"),
    "missing_required": Case(delp(f"{P}.price"), f"{P}.price", ("missing required field 'price'",),
                             line=None),
    # unknown names (cross references)
    "event_unknown_product": Case(setp("events.reimb.product", "Axii"), "events.reimb.product",
                                  ("unknown product 'Axii'", "did you mean 'Axi'"), "product: Axii"),
    "event_unknown_region": Case(setp("events.reimb.region", "USS"), "events.reimb.region",
                                 ("unknown region 'USS'", "did you mean 'US'"), "region: USS"),
    "event_unknown_channel": Case(setp("events.reimb.channel", "insurd"), "events.reimb.channel",
                                  ("no payer channel 'insurd'", "did you mean 'insured'"), "channel: insurd"),
    "event_unknown_type": Case(setp("events.reimb.type", "reimbursment"), "events.reimb",
                               ("unknown event type 'reimbursment'", "did you mean 'reimbursement'"),
                               "reimb:"),
    "launch_unknown_indication": Case(rename(f"{P}.launches.LBCL", "LBLC"), f"{P}.launches.LBLC",
                                      ("unknown indication 'LBLC'", "did you mean 'LBCL'"), "LBLC: 2020-06"),
    "launch_unknown_region": Case(rename(P, "USA"), "products.Axi.regions.USA",
                                  ("unknown region 'USA'", "did you mean 'US'"), "USA:"),
    "market_unknown_region": Case(rename("indications.LBCL.markets.EU", "EUU"),
                                  "indications.LBCL.markets.EUU", ("unknown region 'EUU'", "did you mean 'EU'"),
                                  "EUU:"),
    "launch_after_unknown_launch": Case(setp(f"{P}.launches.LBCL", {"date": "2021-01", "after": "Bre/EU"}),
                                        f"{P}.launches.LBCL.after",
                                        ("has no launches in region 'EU'", "Bre/EU"), "LBCL: {date: 2021-01, after"),
    "launch_after_unknown_product": Case(setp(f"{P}.launches.LBCL", {"date": "2021-01", "after": "Brre/US"}),
                                         f"{P}.launches.LBCL.after",
                                         ("unknown product 'Brre'", "did you mean 'Bre'"),
                                         "LBCL: {date: 2021-01, after: Brre/US}"),
    "launch_after_unknown_indication": Case(setp(f"{P}.launches.LBCL", {"date": "2021-01",
                                                                        "after": "Bre/US/LBLC"}),
                                            f"{P}.launches.LBCL.after",
                                            ("no launch in US/LBLC", "did you mean 'LBCL'"), "after: Bre/US/LBLC"),
    "event_unknown_region_in_list": Case(setp("events.safe", {"type": "safety", "product": "Axi", "date": "2022-01",
                                                              "regions": ["EUU"], "attractiveness": 0.8}),
                                         "events.safe.regions", ("unknown region 'EUU'", "did you mean 'EU'"),
                                         "regions: [EUU]"),
    "event_region_product_not_sold": Case(setp("events.reimb.region", "EU"), "events.reimb.region",
                                          ("product 'Axi' is not sold in region 'EU'",), "region: EU"),
    "milestone_on_unknown_event": Case(setp("products.Axi.deals", [{"partner": "Gilead", "partner_share": 0.5,
                                                                    "milestones": [{"amount": 1e6, "on": "roo"}]}]),
                                       "products.Axi.deals[0].milestones[0].on",
                                       ("unknown event or product 'roo'", "did you mean 'ro'"),
                                       "'on': roo"),  # safe_dump quotes the YAML-1.1 boolean 'on'
    # issue 12 D5: an upfront without a date was accepted and never paid
    "upfront_without_date": Case(setp("products.Axi.deals", [{"partner": "Gilead", "partner_share": 0.5,
                                                              "upfront": 3.5e8}]),
                                 "products.Axi.deals[0].upfront", ("needs 'upfront_date'", "never be paid"),
                                 "upfront: 350000000.0"),
    "upfront_date_after_end": Case(setp("products.Axi.deals", [{"partner": "Gilead", "partner_share": 0.5,
                                                                "upfront": 1e8, "upfront_date": "2031-01"}]),
                                   "products.Axi.deals[0].upfront_date", ("after the scenario's end",),
                                   "upfront_date: 2031-01"),
    # issue 12 D7: lag_months without after was ignored
    "launch_lag_without_after": Case(setp(f"{P}.launches.LBCL", {"date": "2020-06", "lag_months": 3}),
                                     f"{P}.launches.LBCL.lag_months", ("counts from 'after'", "fold the lag"),
                                     "lag_months: 3"),
    "event_lag_without_after": Case(setp("events.ro", {"type": "readout", "date": "2021-06", "lag_months": 2}),
                                    "events.ro.lag_months", ("counts from 'after'",), "lag_months: 2"),
    "preference_unknown_attribute": Case(setp("preference.weights", {"crr": 1.0}), "preference.weights.crr",
                                         ("no product has attribute 'crr'", "did you mean 'cr'"), "weights:"),
    "event_after_unknown_event": Case(setp("events.reimb.after", "rro"), "events.reimb.after",
                                      ("unknown event or product 'rro'", "did you mean 'ro'"), "after: rro"),
    "event_cycle": Case(setp("events.ro.after", "reimb"), "events.ro.after",
                        ("depend on each other in a cycle", "ro -> reimb -> ro"), "after: reimb"),
    # dates and ordering
    "end_before_start": Case(setp("end", "2019-06"), None, ("end (2019-06) must be after start (2020-01)",)),
    "horizon_too_long": Case(setp("end", "2090-01"), None, ("at most 60 years",)),
    "launch_beyond_horizon": Case(setp(f"{P}.launches.LBCL", "2027-03"), f"{P}.launches.LBCL.date",
                                  ("date 2027-03 is after the scenario's end (2025-12)", "inside the horizon"),
                                  "LBCL: 2027-03"),
    "launch_dist_beyond_horizon": Case(setp(f"{L}.date", {"dist": "uniform", "min": "2026-06",
                                                          "max": "2027-06"}),
                                       f"{L}.date", ("after the scenario's end",), "date: {dist: uniform"),
    "event_beyond_horizon": Case(setp("events.ro.date", "2030-01"), "events.ro.date",
                                 ("date 2030-01 is after the scenario's end",), "ro: {type: readout"),
    "sites_out_of_order": Case(setp("regions.US.sites", [{"date": "2023-01", "value": 0.9},
                                                         {"date": "2021-01", "value": 0.5}]),
                               "regions.US.sites", ("increasing date order",), "sites:"),
    "sites_duplicate_date": Case(setp("regions.US.sites", [{"date": "2021-01", "value": 0.5},
                                                           {"date": "2021-01", "value": 0.6}]),
                                 "regions.US.sites", ("increasing date order", "each date once"), "sites:"),
    "sites_value_above_one": Case(setp("regions.US.sites", [{"date": "2021-01", "value": 1.5}]),
                                  "regions.US.sites[0].value", ("a fraction in [0, 1]",), "value: 1.5"),
    "payer_shares_not_one": Case(setp("regions.US.payers.self_pay.share", 0.3), "regions.US",
                                 ("payers", "shares must sum to 1", "1.1"), "US:"),
    "uptake_missing": Case(delp("indications.LBCL.uptake"), "indications.LBCL",
                           ("no indication-level uptake",), "LBCL:"),
    "deal_partner_is_owner": Case(setp("products.Axi.deals", [{"partner": "Kite", "partner_share": 0.5}]),
                                  "products.Axi.deals[0].partner", ("partner must differ",),
                                  "- {partner: Kite"),
    # shapes
    "top_level_list": Case(raw("- name: a\n- name: b\n"), None, ("must be a mapping of keys", "list"), line=1),
    "top_level_scalar": Case(raw("just some text\n"), None, ("must be a mapping of keys", "str"), line=1),
    "non_mapping_region": Case(setp("regions.US", "big"), "regions.US",
                               ("expected a mapping of keys", "'big'"), "US: big"),
    "regions_is_a_list": Case(setp("regions", ["US", "EU"]), "regions",
                              ("expected a mapping of keys",), "regions: [US, EU]"),
    "non_text_key": Case(raw("1: one\nname: x\n"), "1", ("unknown key '1'",), line=1),
    "complex_key": Case(raw("? [a, b]\n: one\nname: x\n"), None, ("mapping keys must be plain text",)),
    "duplicate_key": Case(raw("name: x\nname: y\n"), None, ("duplicate key 'name'",), line=2),
    # files and YAML
    "missing_file": Case(lambda tmp: tmp / "scenario.yaml", None, ("file not found",)),
    "empty_file": Case(raw(""), None, ("the file is empty",)),
    "comment_only_file": Case(raw("# nothing here\n\n"), None, ("the file is empty",)),
    "a_directory": Case(a_directory, None, ("got a directory",)),
    "invalid_yaml_flow": Case(raw("name: x\nstart: 2020-01\nregions: {US: {}\nend: 2025-12\n"), None,
                              ("not valid YAML",), line=4),
    "invalid_yaml_colon": Case(text(lambda t: t.replace("description: minimal", "description: mini: mal")),
                               None, ("not valid YAML", "mapping values are not allowed"),
                               "description: mini: mal"),
    "not_utf8": Case(raw(b"name: caf\xe9\nstart: 2020-01\n"), None, ("not valid UTF-8", "byte 9")),
    "billion_laughs": Case(raw(billion_laughs()), None, ("alias/anchor bomb", "refused")),
    "extends_cycle": Case(extends_cycle, "extends", ("'extends' forms a cycle", "a.yaml", "b.yaml"),
                          file="b.yaml"),
    "extends_self": Case(extends_self, "extends", ("'extends' forms a cycle",)),
    "extends_missing_file": Case(raw("extends: nowhere.yaml\nname: v\n"), "extends",
                                 ("does not exist", "nowhere.yaml"), "extends:"),
    "extends_not_text": Case(raw("extends: {a: b.yaml}\nname: v\n"), "extends",
                             ("expected a file name or a list of file names",), "extends:"),
    "extends_empty_list": Case(raw("extends: []\nname: v\n"), "extends",
                               ("expected a file name or a list of file names",), "extends:"),
    "extends_list_missing_part": Case(raw("extends: [nowhere.yaml]\nname: v\n"), "extends",
                                      ("does not exist", "nowhere.yaml"), "extends:"),
    # errors inside a variant point into the variant
    "variant_negative_price": Case(variant("products:\n  Axi:\n    regions:\n      US:\n        price: -1\n"),
                                   f"{P}.price", ("amount of money",), "price: -1", file="variant.yaml"),
    "variant_unknown_key": Case(variant("name: v\nproducts:\n  Bre:\n    attribs: {cr: 1}\n"),
                                "products.Bre.attribs", ("did you mean 'attributes'",), "attribs:",
                                file="variant.yaml"),
}


def test_enough_cases():
    assert len(CASES) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_scenario(case_id, tmp_path):
    case = CASES[case_id]
    target = case.build(tmp_path)
    t0 = time.perf_counter()
    err = load_error(target)
    elapsed = time.perf_counter() - t0
    msg = str(err)
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert msg == err.render()
    # names the file
    assert case.file in msg, msg
    # names the field path
    if case.path is not None:
        assert f"at '{case.path}'" in msg, msg
    # says what was expected
    for phrase in case.phrases:
        assert phrase in msg, f"{phrase!r} not in {msg!r}"
    # the line
    reported = tmp_path / case.file
    if case.marker is not None:
        content = reported.read_text(encoding="utf-8")
        n = line_of(content, case.marker)
        where = f"{reported.resolve()}:{n}"
        assert where in msg or f"{reported}:{n}" in msg, f"expected {where} in {msg!r}"
        if case.path is not None:
            assert f":{n} at '{case.path}'" in msg, msg
    if case.line is not None:
        assert f"{case.file}:{case.line}" in msg, msg


# --- details of particular errors --------------------------------------------------------


def test_error_carries_structured_fields(tmp_path):
    p = setp(f"{P}.price", -5)(tmp_path)
    err = load_error(p)
    assert len(err.problems) == 1
    prob = err.problems[0]
    assert prob.path == f"{P}.price"
    assert Path(prob.file).name == "scenario.yaml"
    assert prob.line == line_of(p.read_text(), "price: -5")
    assert str(err).startswith(f"{p}: 1 problem(s)")


def test_all_problems_are_listed_at_once(tmp_path):
    def two_mistakes(d):
        d["products"]["Axi"]["regions"]["US"]["price"] = -1
        d["products"]["Bre"]["regions"]["US"]["launches"]["LBCL"]["probability"] = 1.7
        d["regions"]["US"]["currencyy"] = "USD"

    err = load_error(edit(two_mistakes)(tmp_path))
    msg = str(err)
    assert "3 problem(s)" in msg
    assert len(err.problems) == 3
    paths = {p.path for p in err.problems}
    assert paths == {f"{P}.price", f"{L}.probability", "regions.US.currencyy"}


def test_reference_problems_are_listed_at_once(tmp_path):
    def refs(d):
        d["events"]["reimb"]["channel"] = "insurd"
        d["events"]["ro"]["date"] = "2031-01"

    err = load_error(edit(refs)(tmp_path))
    assert {p.path for p in err.problems} == {"events.reimb.channel", "events.ro.date"}


def test_syntax_error_line_points_at_the_bad_line(tmp_path):
    good = dump(BASE)
    lines = good.splitlines()
    bad_at = len(lines) // 2
    lines.insert(bad_at, "  this: is: wrong")
    p = write(tmp_path, "\n".join(lines) + "\n")
    err = load_error(p)
    assert err.line == bad_at + 1
    assert f"{p}:{bad_at + 1}: not valid YAML" in str(err)


def test_non_utf8_byte_offset(tmp_path):
    content = dump(BASE).encode()
    pos = content.index(b"Kite")
    p = write(tmp_path, content[:pos] + b"\xff\xfe" + content[pos:])
    err = load_error(p)
    assert f"byte {pos}" in str(err)
    assert "UTF-8" in str(err)


def test_billion_laughs_refused_quickly(tmp_path):
    p = write(tmp_path, billion_laughs())
    t0 = time.perf_counter()
    err = load_error(p)
    assert time.perf_counter() - t0 < 1.0
    assert "nodes" in str(err)


def test_python_tags_are_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    p = write(tmp_path, f'name: !!python/object/apply:os.system ["touch {marker}"]\n'
                        + dump({k: v for k, v in BASE.items() if k != "name"}))
    err = load_error(p)
    assert "not valid YAML" in str(err)
    assert "python/object/apply:os.system" in str(err)
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!!python/object:collections.OrderedDict {}",
                                 "!!python/module:os"])
def test_other_python_tags_refused(tmp_path, tag):
    p = write(tmp_path, f"name: {tag}\n")
    assert "not valid YAML" in str(load_error(p))


def test_end_before_start_names_end(tmp_path):
    err = load_error(setp("end", "2019-06")(tmp_path))
    assert "end (2019-06) must be after start" in str(err)
    assert err.problems and Path(err.problems[0].file).name == "scenario.yaml"


def test_end_before_start_in_variant_points_into_variant(tmp_path):
    p = variant("name: v\nend: 2019-06\n")(tmp_path)
    err = load_error(p)
    assert f"{p.resolve()}:3 at 'end'" in str(err)


def test_unknown_key_in_event_has_did_you_mean(tmp_path):
    err = load_error(setp("events.reimb.chanel_share", 0.5)(tmp_path))
    msg = str(err)
    assert "at 'events.reimb.chanel_share'" in msg and "unknown key 'chanel_share'" in msg
    assert "did you mean 'channel_share'" in msg


def test_unknown_key_in_event_is_still_reported(tmp_path):
    err = load_error(setp("events.ro.dat", "2021-01")(tmp_path))
    assert "at 'events.ro.dat': unknown key 'dat'" in str(err)


@pytest.mark.parametrize("where, value, path", [
    ("products.Axi.capacity", {"initial": 5, "expansions": [{"date": "2021-01"}]},
     "products.Axi.capacity.expansions[0].capacity"),
    ("events.cap", {"type": "capacity", "product": "Axi", "date": "2021-01"}, "events.cap.capacity"),
])
def test_missing_capacity_field_is_named(tmp_path, where, value, path):
    err = load_error(setp(where, value)(tmp_path))
    assert f"at '{path}': missing required field 'capacity'" in str(err)


MILESTONE = """\
    deals:
    - partner: Gilead
      partner_share: 0.5
      milestones:
      - amount: 1000000
        on: ro
"""


def _with_milestone(t: str) -> str:
    return t.replace("    target: CD19\n", "    target: CD19\n" + MILESTONE, 1)


def test_milestone_with_quoted_on_loads(tmp_path):
    p = text(lambda t: _with_milestone(t).replace("on: ro", "'on': ro"))(tmp_path)
    deal = load_scenario(p).scenario.products["Axi"].deals[0]
    assert deal.milestones[0].on == "ro" and deal.milestones[0].amount == 1e6


def test_milestone_with_plain_on_loads(tmp_path):
    p = text(_with_milestone)(tmp_path)
    deal = load_scenario(p).scenario.products["Axi"].deals[0]
    assert deal.milestones[0].on == "ro"


def test_norway_region_key_is_read_as_written(tmp_path):
    """`NO:` is the boolean False in YAML 1.1; keys are read as written, so it is region 'NO'."""
    p = text(lambda t: t.replace("EU:", "NO:").replace("EU", "NO"))(tmp_path)
    scn = load_scenario(p).scenario
    assert "NO" in scn.regions and False not in scn.regions


def test_recursive_alias_refused(tmp_path):
    p = write(tmp_path, "name: x\na: &a [*a]\n")
    with pytest.raises(ScenarioError):
        load_scenario(p)


def test_deeply_nested_yaml_refused(tmp_path):
    p = write(tmp_path, "name: x\na: " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(ScenarioError):
        load_scenario(p)


def test_huge_integer_refused(tmp_path):
    p = text(lambda t: t.replace("price: 373000", "price: 1" + "0" * 400))(tmp_path)
    with pytest.raises(ScenarioError, match="finite"):
        load_scenario(p)


def test_nan_probability_in_distribution_refused(tmp_path):
    p = setp(f"{L}.probability", {"dist": "fixed", "value": math.nan})(tmp_path)
    load_error(p)


def test_truncated_normal_with_reversed_bounds_refused(tmp_path):
    p = setp(f"{L}.probability", {"dist": "normal", "mean": 0.5, "sd": 0.1, "min": 0.9, "max": 0.2})(tmp_path)
    load_error(p)


# --- positive tests ----------------------------------------------------------------------


def test_minimal_base_is_valid(tmp_path):
    loaded = load_scenario(write(tmp_path, dump(BASE)))
    assert isinstance(loaded, LoadedScenario)
    assert isinstance(loaded.scenario, Scenario)
    s = loaded.scenario
    assert s.name == "mini"
    assert s.products["Axi"].regions["US"].price == 373000.0
    assert s.products["Axi"].regions["US"].launches["LBCL"].date == month_ordinal("2020-06")
    assert s.products["Bre"].regions["US"].launches["LBCL"].probability == 0.8
    assert set(s.events) == {"ro", "reimb"}


def test_example_small_loads():
    loaded = load_scenario(EXAMPLE)
    s = loaded.scenario
    assert s.name == "example_small"
    assert (s.start, s.end) == ("2018-01", "2030-12")
    assert set(s.products) == {"Axicel", "Relmacel", "Ciltacel"}
    assert set(s.regions) == {"US", "China"}
    assert isinstance(s.regions["China"].fx, Uniform)
    assert s.regions["China"].fx.support() == (6.4, 7.2)
    relma = s.products["Relmacel"].regions["China"].launches["LBCL_3L"]
    assert isinstance(relma.date, Uniform)
    assert relma.date.support() == (month_ordinal("2021-06"), month_ordinal("2022-06"))
    cilta = s.products["Ciltacel"].regions["US"].launches["MM_5L"]
    assert isinstance(cilta.date, Triangular) and cilta.probability == 0.85
    assert s.products["Ciltacel"].deals[0].upfront == 350e6
    assert s.products["Relmacel"].capacity.initial == 20
    assert s.events["relma_nrdl"].type == "reimbursement"
    assert loaded.files == (str(EXAMPLE.resolve()),)
    assert len(loaded.sha256) == 64


def test_numeric_text_in_yaml(tmp_path):
    p = text(lambda t: t.replace("price: 373000", "price: 350e6"))(tmp_path)
    assert load_scenario(p).scenario.products["Axi"].regions["US"].price == 350e6


def test_lognormal_price_loads(tmp_path):
    p = setp(f"{P}.price", {"dist": "lognormal", "median": 3e5, "p90": 4e5})(tmp_path)
    price = load_scenario(p).scenario.products["Axi"].regions["US"].price
    assert isinstance(price, LogNormal)
    assert price.central() == pytest.approx(3e5)


def test_extends_merges(tmp_path):
    body = (
        "name: variant\n"
        "products:\n"
        "  Axi:\n"
        "    regions:\n"
        "      US:\n"
        "        price: 300000\n"
        "  Bre:\n"
        "    attributes: {cr: 0.6}\n"
        "events:\n"
        "  reimb: null\n"
        "description: null\n"
    )
    p = variant(body)(tmp_path)
    loaded = load_scenario(p)
    s = loaded.scenario
    assert s.name == "variant"
    # overridden
    assert s.products["Axi"].regions["US"].price == 300000.0
    assert s.products["Bre"].attributes == {"cr": 0.6}
    # inherited next to the override
    assert s.products["Axi"].company == "Kite"
    assert s.products["Axi"].regions["US"].launches["LBCL"].date == month_ordinal("2020-06")
    assert s.products["Bre"].regions["US"].price == 400000.0
    assert s.regions["EU"].fx == 0.9
    # deleted with null
    assert set(s.events) == {"ro"}
    assert s.description == ""  # back to the default
    assert "reimb" not in loaded.data["events"]
    assert loaded.files == (str((tmp_path / "base.yaml").resolve()), str(p.resolve()))
    # the base file on its own is unchanged
    base = load_scenario(tmp_path / "base.yaml")
    assert base.scenario.products["Axi"].regions["US"].price == 373000.0
    assert base.sha256 != loaded.sha256


def test_extends_chain_of_three(tmp_path):
    write(tmp_path, dump(BASE), "base.yaml")
    write(tmp_path, "extends: base.yaml\nname: mid\nend: 2028-12\n", "mid.yaml")
    sub = tmp_path / "sub"
    sub.mkdir()
    p = write(sub, "extends: ../mid.yaml\nname: leaf\n", "leaf.yaml")
    loaded = load_scenario(p)
    assert loaded.scenario.name == "leaf"
    assert loaded.scenario.end == "2028-12"
    assert [Path(f).name for f in loaded.files] == ["base.yaml", "mid.yaml", "leaf.yaml"]


def test_extends_a_list_of_parts_merges_them_in_order(tmp_path):
    """A scenario split into parts (regions, indications, products, ...) is their merge in order,
    the file itself last; an error names the part and line it comes from."""
    d = copy.deepcopy(BASE)
    parts = {"regions.yaml": {"regions": d.pop("regions")},
             "products.yaml": {"products": d.pop("products"), "preference": d.pop("preference")},
             "later.yaml": {"products": {"Axi": {"regions": {"US": {"price": 350000}}}}}}
    for name, body in parts.items():
        write(tmp_path, dump(body), name)
    write(tmp_path, dump(BASE), "whole.yaml")
    split = write(tmp_path, "extends: [regions.yaml, products.yaml, later.yaml]\n" + dump(d), "split.yaml")
    loaded, whole = load_scenario(split), load_scenario(tmp_path / "whole.yaml")
    assert loaded.scenario.products["Axi"].regions["US"].price == 350000.0  # the later part wins
    assert loaded.scenario.products["Bre"] == whole.scenario.products["Bre"]
    assert loaded.scenario.regions == whole.scenario.regions
    assert [Path(f).name for f in loaded.files] == ["regions.yaml", "products.yaml", "later.yaml", "split.yaml"]
    write(tmp_path, dump({"products": {"Axi": {"regions": {"US": {"price": -1}}}}}), "later.yaml")
    err = load_error(split)
    assert f"{(tmp_path / 'later.yaml').resolve()}:4" in str(err) and f"{P}.price" in str(err)


def test_extends_error_lines_point_into_variant(tmp_path):
    body = "name: v\nproducts:\n  Axi:\n    regions:\n      US:\n        price: -1\n"
    p = variant(body)(tmp_path)
    err = load_error(p)
    # line 7 of variant.yaml ('extends' is line 1)
    assert f"{p.resolve()}:7 at '{P}.price'" in str(err)
    assert "base.yaml" not in str(err)


def test_extends_error_in_base_points_into_base(tmp_path):
    bad = copy.deepcopy(BASE)
    bad["products"]["Bre"]["regions"]["US"]["price"] = -2
    p = variant("name: v\nproducts:\n  Axi:\n    regions:\n      US:\n        price: -1\n", base=bad)(tmp_path)
    err = load_error(p)
    base = tmp_path / "base.yaml"
    base_line = line_of(base.read_text(), "price: -2")
    msg = str(err)
    assert "2 problem(s)" in msg
    assert f"{p.resolve()}:7 at '{P}.price'" in msg
    assert f"{base.resolve()}:{base_line} at 'products.Bre.regions.US.price'" in msg


def test_extends_replacing_a_subtree_points_into_variant(tmp_path):
    body = "name: v\nregions:\n  US:\n    payers:\n      insured: {share: 0.5}\n"
    p = variant(body)(tmp_path)
    err = load_error(p)
    # the payers of the merged US region sum to 0.7 (0.5 + self_pay 0.2): the override is to blame
    assert "sum to 0.7" in str(err)
    assert "variant.yaml" in str(err)


def test_overrides_argument(tmp_path):
    p = write(tmp_path, dump(BASE))
    loaded = load_scenario(p, overrides={"name": "over", "products": {"Axi": {"regions": {"US": {"price": 1.0}}}}})
    assert loaded.scenario.name == "over"
    assert loaded.scenario.products["Axi"].regions["US"].price == 1.0
    with pytest.raises(ScenarioError, match="amount of money") as info:
        load_scenario(p, overrides={"products": {"Axi": {"regions": {"US": {"price": -1}}}}})
    assert f"at '{P}.price'" in str(info.value)


def test_sha256_ignores_key_order_and_formatting(tmp_path):
    a = write(tmp_path, dump(BASE), "a.yaml")
    b = write(tmp_path, yaml.safe_dump(BASE, sort_keys=True, default_flow_style=False), "b.yaml")
    assert load_scenario(a).sha256 == load_scenario(b).sha256
    c = setp(f"{P}.price", 373001)(tmp_path)
    assert load_scenario(c).sha256 != load_scenario(a).sha256


def test_loaded_scenario_is_frozen(tmp_path):
    loaded = load_scenario(write(tmp_path, dump(BASE)))
    s = loaded.scenario
    with pytest.raises(Exception, match="frozen"):
        s.name = "changed"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        s.regions["US"].currency = "EUR"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        s.products["Axi"].regions["US"].price = 1.0  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        s.events["reimb"].channel = "self_pay"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.path = "elsewhere"  # type: ignore[misc]
    assert s.name == "mini"
    assert s.products["Axi"].regions["US"].price == 373000.0

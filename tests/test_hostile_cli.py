"""Hostile input through the real command line: every bad scenario (wrong types, out-of-range
numbers, bad dates, unknown names, broken `extends`, unreadable or malicious YAML) ends with exit
status 2 and one error block on stderr that names the file and the field, never a traceback.

Most cases call `sim.cli.main` in-process (fast); a handful go through a real `python -m sim`
subprocess to check the exit status and stderr as a user sees them."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from bad_scenarios import BASE, L, P, billion_laughs, dump, raw, setp, text, variant, write
from helpers import EXAMPLE

from sim.cli import main


@dataclasses.dataclass(frozen=True)
class Bad:
    build: object  # Callable[[Path], Path]: writes the file(s) into tmp, returns the path to pass
    phrases: tuple[str, ...]  # what was expected / the hint, all must appear
    path: str | None = None  # field path named as "at '<path>'" (None: a file-level problem)
    file: str = "scenario.yaml"  # the file named on the first line of the error
    cmd: str = "validate"  # validate | run
    real: bool = False  # through a real subprocess
    bug: str | None = None  # a known bug: strict xfail with this reason


def extends_cycle(tmp: Path) -> Path:
    write(tmp, "extends: b.yaml\nname: a\n", "a.yaml")
    write(tmp, "extends: c.yaml\nname: b\n", "b.yaml")
    write(tmp, "extends: a.yaml\nname: c\n", "c.yaml")
    return tmp / "a.yaml"


def link_part(target: str) -> object:
    def build(tmp: Path) -> Path:
        (tmp / "part.yaml").symlink_to(target)
        return write(tmp, "extends: part.yaml\nname: v\n")

    return build


def fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "scenario.yaml")  # opening it for reading would block forever
    return tmp / "scenario.yaml"


def fifo_part(tmp: Path) -> Path:
    os.mkfifo(tmp / "part.yaml")
    return write(tmp, "extends: part.yaml\nname: v\n")


SECRET = "$6$rounds=5000$n0tAs3cr3t"


def not_a_scenario_part(tmp: Path) -> Path:
    write(tmp, f"operator7: {SECRET}\ndaemon: x\n", "shadow.yaml")
    return write(tmp, "extends: shadow.yaml\nname: v\n")


def missing(tmp: Path) -> Path:
    return tmp / "scenario.yaml"


def a_directory(tmp: Path) -> Path:
    (tmp / "scenario.yaml").mkdir()
    return tmp / "scenario.yaml"


def deep_block(levels: int) -> str:
    body = "".join("  " * (i + 1) + f"k{i}:\n" for i in range(levels))
    return "name: x\nregions:\n" + body + "  " * (levels + 1) + "v: 1\n"


PWNED = "pwned-by-yaml"


def python_apply(tmp: Path) -> Path:
    tag = f"name: !!python/object/apply:os.system ['touch {tmp / PWNED}']"
    return write(tmp, dump(BASE).replace("name: mini", tag, 1))


def ex(old: str, new: str) -> object:
    """The shipped example with one text replacement."""
    def build(tmp: Path) -> Path:
        src = EXAMPLE.read_text()
        assert old in src
        return write(tmp, src.replace(old, new, 1))

    return build


DATE_BUG = ("bug: sim/scenario/loader.py _read_yaml catches only yaml.YAMLError/RecursionError around "
            "loader.construct_document(); an impossible calendar date that matches YAML's timestamp "
            "pattern makes PyYAML's construct_yaml_timestamp raise ValueError -> traceback, exit 1")
INT_BUG = ("bug: sim/scenario/loader.py _read_yaml: an integer literal with more than 4300 digits makes "
           "PyYAML's construct_yaml_int raise ValueError (Python's int max-str-digits limit), not caught "
           "-> traceback, exit 1 (401 digits is refused cleanly as 'expected a finite number')")
U = "indications.LBCL.markets.US"
CASES: dict[str, Bad] = {
    # wrong types
    "name_is_a_list": Bad(setp("name", ["a", "b"]), ("valid string",), "name"),
    "price_is_text": Bad(setp(f"{P}.price", "cheap"), ("expected an amount of money", "'cheap'"), f"{P}.price"),
    "price_is_bool": Bad(setp(f"{P}.price", True), ("got True",), f"{P}.price", cmd="run"),
    "eligible_is_text": Bad(setp(f"{U}.eligible", "lots"), ("'lots'",), f"{U}.eligible"),
    "launches_is_a_list": Bad(setp(f"{P}.launches", ["LBCL"]), ("expected a mapping of keys",),
                              f"{P}.launches"),
    "regions_is_a_list": Bad(setp("regions", ["US", "EU"]), ("expected a mapping of keys",), "regions"),
    "events_is_a_list": Bad(setp("events", [1, 2]), ("expected a mapping of keys",), "events"),
    "currency_is_a_number": Bad(setp("regions.EU.currency", 5), ("valid string",), "regions.EU.currency"),
    "top_level_list": Bad(raw("- name: a\n- name: b\n"), ("must be a mapping of keys", "list")),
    "top_level_scalar": Bad(raw("42\n"), ("must be a mapping of keys", "int")),
    # negative and zero prices, other bad numbers
    "negative_price": Bad(setp(f"{P}.price", -5), ("expected an amount of money", "got -5"), f"{P}.price",
                          real=True),
    "zero_price": Bad(setp(f"{P}.price", 0), ("expected an amount of money", "got 0"), f"{P}.price",
                      cmd="run"),
    "price_distribution_goes_negative": Bad(setp(f"{P}.price", {"dist": "uniform", "min": -10, "max": 5}),
                                            ("can take values in [-10, 5]",), f"{P}.price"),
    "negative_capacity": Bad(setp("products.Axi.capacity", {"initial": -3}), ("a number of patients",),
                             "products.Axi.capacity.initial"),
    "zero_fx": Bad(setp("regions.EU.fx", 0), ("exchange rate",), "regions.EU.fx"),
    "growth_absurd": Bad(setp(f"{U}.growth", 1e6), ("relative change", "[-1, 10]"), f"{U}.growth"),
    "price_nan": Bad(text(lambda t: t.replace("price: 373000", "price: .nan")), ("finite number",),
                     f"{P}.price"),
    # probabilities and fractions outside [0, 1]
    "probability_above_one": Bad(setp(f"{L}.probability", 1.7), ("probability in [0, 1]", "1.7"),
                                 f"{L}.probability", cmd="run"),
    "probability_negative": Bad(setp(f"{L}.probability", -0.1), ("probability in [0, 1]", "-0.1"),
                                f"{L}.probability"),
    "probability_distribution_too_wide": Bad(setp(f"{L}.probability", {"dist": "normal", "mean": 0.5, "sd": 0.1}),
                                             ("a probability must lie in [0, 1]",), f"{L}.probability"),
    "drop_out_above_one": Bad(setp("indications.LBCL.drop_out", 1.5), ("fraction in [0, 1]",),
                              "indications.LBCL.drop_out"),
    "manufacturing_success_two": Bad(setp("products.Axi.manufacturing_success", 2), ("fraction in [0, 1]",),
                                     "products.Axi.manufacturing_success"),
    "payer_share_negative": Bad(setp("regions.US.payers.insured.share", -0.2), ("fraction in [0, 1]",),
                                "regions.US.payers.insured.share"),
    "out_of_pocket_above_one": Bad(setp("regions.US.payers.insured.out_of_pocket", 1.5),
                                   ("fraction in [0, 1]",), "regions.US.payers.insured.out_of_pocket"),
    "deal_share_above_one": Bad(setp("products.Axi.deals", [{"partner": "G", "partner_share": 1.5}]),
                                ("fraction in [0, 1]",), "products.Axi.deals[0].partner_share"),
    "reimbursement_round_probability": Bad(setp("events.reimb.rounds", {"month": 1, "probability": 1.3}),
                                           ("probability in [0, 1]",), "events.reimb.rounds.probability"),
    # dates: malformed, out of order, beyond the horizon
    "start_month_13": Bad(setp("start", "2020-13"), ("YYYY-MM", "'2020-13'"), "start"),
    "launch_date_text": Bad(setp(f"{P}.launches.LBCL", "soon"), ("YYYY-MM", "'soon'"), f"{P}.launches.LBCL"),
    "end_before_start": Bad(setp("end", "2019-06"), ("end (2019-06) must be after start (2020-01)",),
                            cmd="run"),
    "launch_beyond_horizon": Bad(setp(f"{P}.launches.LBCL", "2027-03"), ("after the scenario's end",),
                                 f"{P}.launches.LBCL.date"),
    "event_beyond_horizon": Bad(setp("events.ro.date", "2030-01"), ("after the scenario's end",),
                                "events.ro.date"),
    "sites_out_of_order": Bad(setp("regions.US.sites", [{"date": "2023-01", "value": 0.9},
                                                        {"date": "2021-01", "value": 0.5}]),
                              ("increasing date order",), "regions.US.sites"),
    "date_distribution_reversed": Bad(setp(f"{L}.date", {"dist": "uniform", "min": "2022-06", "max": "2021-06"}),
                                      ("min <= max",), f"{L}.date"),
    "impossible_calendar_date": Bad(ex("start: 2018-01", "start: 2018-02-30"), ("start",),
                                    file="scenario.yaml", real=True),
    "launch_month_13_full_date": Bad(ex("launches: {LBCL_3L: 2018-01}", "launches: {LBCL_3L: 2018-13-01}"),
                                     ("LBCL_3L",)),
    "timestamp_hour_25": Bad(raw("name: x\nstart: 2020-01-01 25:61:00\n"), ("start",), cmd="run"),
    # unknown names in events and launches
    "event_unknown_product": Bad(setp("events.reimb.product", "Axii"),
                                 ("unknown product 'Axii'", "did you mean 'Axi'"), "events.reimb.product",
                                 cmd="run"),
    "event_unknown_region": Bad(setp("events.reimb.region", "USS"), ("unknown region 'USS'",),
                                "events.reimb.region"),
    "event_unknown_channel": Bad(setp("events.reimb.channel", "insurd"), ("no payer channel 'insurd'",),
                                 "events.reimb.channel"),
    "event_unknown_type": Bad(setp("events.reimb.type", "reimbursment"),
                              ("unknown event type 'reimbursment'", "did you mean 'reimbursement'"),
                              "events.reimb"),
    "event_after_unknown_event": Bad(setp("events.reimb.after", "rro"), ("unknown event or product 'rro'",),
                                     "events.reimb.after"),
    "withdrawal_unknown_product": Bad(setp("events.w", {"type": "withdrawal", "product": "Zzz",
                                                        "date": "2022-01"}),
                                      ("unknown product 'Zzz'",), "events.w.product"),
    "safety_unknown_region": Bad(setp("events.s", {"type": "safety", "product": "Axi", "date": "2022-01",
                                                   "regions": ["EUU"], "attractiveness": 0.8}),
                                 ("unknown region 'EUU'",), "events.s.regions"),
    "launch_unknown_indication": Bad(setp(f"{P}.launches", {"LBLC": "2020-06"}),
                                     ("unknown indication 'LBLC'", "did you mean 'LBCL'"),
                                     f"{P}.launches.LBLC"),
    "launch_after_unknown_indication": Bad(setp(f"{P}.launches.LBCL", {"date": "2021-01", "after": "Bre/US/LBLC"}),
                                           ("no launch in US/LBLC",), f"{P}.launches.LBCL.after"),
    "event_cycle": Bad(setp("events.ro.after", "reimb"), ("in a cycle",), "events.ro.after"),
    "unknown_key_typo": Bad(setp(f"{P}.pricechange", 0.03), ("did you mean 'price_change'",),
                            f"{P}.pricechange"),
    # extends
    "extends_cycle": Bad(extends_cycle, ("'extends' forms a cycle", "a.yaml", "b.yaml", "c.yaml"), "extends",
                         file="c.yaml", cmd="run", real=True),
    "extends_self": Bad(raw("extends: scenario.yaml\nname: me\n"), ("'extends' forms a cycle",), "extends"),
    "extends_missing_file": Bad(raw("extends: nowhere.yaml\nname: v\n"), ("does not exist", "nowhere.yaml"),
                                "extends"),
    "extends_not_text": Bad(raw("extends: {file: a.yaml}\nname: v\n"), ("expected a file name",), "extends"),
    "extends_absolute": Bad(raw("extends: /etc/passwd\nname: v\n"), ("relative to this file's folder",), "extends"),
    "extends_dev_zero": Bad(raw("extends: /dev/zero\nname: v\n"), ("relative to this file's folder",), "extends",
                            real=True),
    "extends_home": Bad(raw("extends: ~/base.yaml\nname: v\n"), ("relative to this file's folder",), "extends"),
    "extends_not_yaml": Bad(raw("extends: notes.txt\nname: v\n"), ("ending in .yaml or .yml",), "extends"),
    "extends_link_to_device": Bad(link_part("/dev/zero"), ("not a regular file",), file="/dev/zero"),
    "extends_fifo": Bad(fifo_part, ("not a regular file",), file="part.yaml"),
    "fifo_as_scenario": Bad(fifo, ("not a regular file",), cmd="run", real=True),
    "extends_not_a_scenario": Bad(not_a_scenario_part, ("not a scenario", "2 top-level key(s)"), file="shadow.yaml"),
    "variant_negative_price": Bad(variant("products:\n  Axi:\n    regions:\n      US:\n        price: -1\n"),
                                  ("amount of money",), f"{P}.price", file="variant.yaml"),
    # files
    "missing_file": Bad(missing, ("file not found",), cmd="run"),
    "a_directory": Bad(a_directory, ("got a directory",)),
    "empty_file": Bad(raw(""), ("the file is empty",), cmd="run"),
    "whitespace_only": Bad(raw("\n   \n# just a comment\n"), ("the file is empty",)),
    "not_utf8": Bad(raw(b"name: caf\xe9\nstart: 2020-01\n"), ("not valid UTF-8", "byte 9"), real=True),
    "utf16": Bad(raw("name: x\n".encode("utf-16")), ("not valid UTF-8",)),
    "surrogate_bytes": Bad(raw(b"name: \xed\xa0\x80\n"), ("not valid UTF-8",)),
    "null_byte": Bad(raw("name: x\x00y\n"), ("not valid YAML", "control characters")),
    "larger_than_10_mb": Bad(raw("name: x\n# " + "x" * 10_500_000 + "\n"), ("larger than 10 MB",)),
    # huge numbers
    "number_1e400": Bad(text(lambda t: t.replace("price: 373000", "price: 1e400")), ("finite number",),
                        f"{P}.price"),
    "integer_401_digits": Bad(text(lambda t: t.replace("price: 373000", "price: 1" + "0" * 400)),
                              ("finite number",), f"{P}.price"),
    "integer_5000_digits": Bad(text(lambda t: t.replace("price: 373000", "price: " + "9" * 5000)),
                               ("price",)),
    # malicious or broken YAML
    "billion_laughs": Bad(raw(billion_laughs()), ("alias/anchor bomb", "refused"), cmd="run", real=True),
    "recursive_alias": Bad(raw("name: x\na: &a [*a]\n"), ("nested more than 60 levels",)),
    "recursive_mapping_alias": Bad(raw("a: &a {b: *a}\nname: x\n"), ("nested more than 60 levels",)),
    "deep_flow_nesting": Bad(raw("name: x\nregions: " + "[" * 5000 + "]" * 5000 + "\n"), ("not valid YAML",)),
    "deep_block_nesting": Bad(raw(deep_block(80)), ("nested more than 60 levels",)),
    "python_object_apply": Bad(python_apply, ("could not determine a constructor", "python/object/apply"),
                               real=True),
    "python_name_tag": Bad(raw("name: !!python/name:os.system\n"), ("could not determine a constructor",)),
    "unknown_local_tag": Bad(raw("name: !foo bar\n"), ("could not determine a constructor", "!foo")),
    "bad_binary": Bad(raw("name: !!binary 'not base64 ***'\n"), ("not valid YAML", "base64")),
    "duplicate_top_key": Bad(raw("name: x\nname: y\n"), ("duplicate key 'name'",)),
    "duplicate_product": Bad(text(lambda t: t.replace("  Bre:\n", "  Axi:\n")), ("duplicate key 'Axi'",),
                             cmd="run"),
    "complex_key": Bad(raw("? [a, b]\n: one\nname: x\n"), ("mapping keys must be plain text",)),
    "tab_indentation": Bad(raw("name: x\n\tstart: 2020-01\n"), ("not valid YAML", "tab")),
    "unclosed_flow": Bad(raw("name: x\nregions: {US: {}\nend: 2025-12\n"), ("not valid YAML",)),
    "two_documents": Bad(raw("name: x\n---\nname: y\n"), ("not valid YAML",)),
    "bad_merge_key": Bad(raw("name: x\n<<: 5\n"), ("not valid YAML", "merging")),
}


def _params():
    for name, case in CASES.items():
        marks = [pytest.mark.xfail(strict=True, reason=case.bug),
                 pytest.mark.filterwarnings("ignore::RuntimeWarning")] if case.bug else []
        yield pytest.param(name, marks=marks, id=name)


def test_enough_cases() -> None:
    assert len(CASES) >= 30
    assert sum(c.real for c in CASES.values()) >= 5


def argv_for(case: Bad, target: Path, tmp: Path) -> list[str]:
    if case.cmd == "run":
        return ["run", str(target), "--draws", "5", "--out", str(tmp / "out"), "--no-charts", "--quiet"]
    return ["validate", str(target)]


def check(case: Bad, code: int, out: str, err: str, tmp: Path) -> None:
    assert "Traceback" not in err, err
    assert code == 2, f"exit {code}\nstdout: {out}\nstderr: {err}"
    block = err.strip("\n")
    lines = block.splitlines()
    assert lines, "no error message"
    # one error block: a first line naming the file, then only indented continuation lines
    assert all(line.strip() for line in lines), f"more than one paragraph:\n{err}"
    assert all(line.startswith("  ") for line in lines[1:]), f"not one error block:\n{err}"
    assert case.file in lines[0], f"{case.file!r} not named on the first line:\n{err}"
    if case.cmd == "run":
        assert block.startswith("error: "), err
        assert not (tmp / "out").exists() and not (tmp / "out.partial").exists(), "run wrote results"
    else:
        assert "ok:" not in out
    if case.path is not None:
        assert f"at '{case.path}'" in err, err
    for phrase in case.phrases:
        assert phrase in err, f"{phrase!r} not in:\n{err}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_params()))
def test_bad_scenario_exits_2_with_one_error_block(name, tmp_path, capsys) -> None:
    case = CASES[name]
    target = case.build(tmp_path)
    argv = argv_for(case, target, tmp_path)
    if case.real:
        res = subprocess.run([sys.executable, "-m", "sim", *argv], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
        code, out, err = res.returncode, res.stdout, res.stderr
    else:
        code = main(argv)
        out, err = capsys.readouterr()
    check(case, code, out, err, tmp_path)
    assert not (tmp_path / PWNED).exists(), "a YAML tag ran a command"


def test_validate_lists_good_and_bad_files_and_exits_2(tmp_path, capsys) -> None:
    good = write(tmp_path, dump(BASE), "good.yaml")
    (tmp_path / "sub").mkdir()
    bad1 = setp(f"{P}.price", -5)(tmp_path / "sub")
    bad2 = write(tmp_path, "name: x\nname: y\n", "dup.yaml")
    assert main(["validate", str(good), str(bad1), str(bad2)]) == 2
    out, err = capsys.readouterr()
    assert f"ok: {good}" in out
    assert str(bad1) in err and "at 'products.Axi.regions.US.price'" in err
    assert "dup.yaml:2" in err and "duplicate key 'name'" in err
    assert "Traceback" not in err


def test_overlong_argument_path_is_a_user_error(tmp_path, capsys) -> None:
    assert main(["validate", str(tmp_path / ("x" * 300 + ".yaml"))]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("file not found" in err or "name too long" in err), err


def test_base_scenario_is_valid(tmp_path) -> None:
    """Sanity for the table: BASE itself validates (so each case fails for its own change)."""
    assert main(["validate", str(write(tmp_path, dump(BASE)))]) == 0
    assert yaml.safe_load(dump(BASE))["name"] == "mini"


# --- bad `sim run` arguments ----------------------------------------------------------------


RUN_ARGS: list = [
    pytest.param(["--draws", "0"], "--draws must be at least 1", id="draws_0"),
    pytest.param(["--draws", "-5"], "--draws must be at least 1", id="draws_negative"),
    pytest.param(["--workers", "0"], "--workers must be at least 1", id="workers_0"),
    pytest.param(["--seed", "-1"], "seed", id="seed_negative"),
    pytest.param(["--batch-size", "-5"], "--batch-size", id="batch_size_negative"),
    pytest.param(["--out", "FILE/sub"], "FILE", id="out_below_a_file"),
]


@pytest.mark.parametrize(("extra", "phrase"), RUN_ARGS)
def test_bad_run_arguments_exit_2(extra, phrase, tmp_path, capsys) -> None:
    blocker = tmp_path / "FILE"
    blocker.write_text("not a folder")
    extra = [x.replace("FILE", str(blocker)) for x in extra]
    argv = ["run", str(EXAMPLE), "--out", str(tmp_path / "out"), "--draws", "5", "--no-charts", "--quiet"]
    code = main(argv + extra)
    err = capsys.readouterr().err
    assert code == 2, err
    assert phrase in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


# --- numbers that validate but break the run ------------------------------------------------

HUGE_BUG = ("bug: eligible: 1.0e+300 passes validation (finite float64) and `sim run` exits 0 with inf/NaN "
            "results: sim/results.py _table casts metrics to float32, which overflows; huge inputs "
            "should be refused by validation (or the run should fail with exit 2)")
UTILITY_BUG = ("bug: sim/engine/batch.py (state set-up, `self.base_attr[:, l] = np.exp(util)`) exponentiates "
               "the preference utility weight x attribute without subtracting a maximum (unlike "
               "sim/engine/formulas.py logit_shares); a utility above ~709 (weights {cr: 3.0}, "
               "attributes {cr: 300}) overflows to inf and every result becomes NaN, exit 0")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("old", "new"), [
    pytest.param("attributes: {cr: 0.54}", "attributes: {cr: 50}", id="attribute_50_control"),
    pytest.param("US: {eligible: 8400, growth: 0.01}", "US: {eligible: 1.0e+12, growth: 0.01}",
                 id="eligible_1e12_control"),
    pytest.param("attributes: {cr: 0.54}", "attributes: {cr: 300}", id="attribute_300"),
    pytest.param("US: {eligible: 8400, growth: 0.01}", "US: {eligible: 1.0e+300, growth: 0.01}",
                 id="eligible_1e300"),
])
def test_extreme_numbers_give_finite_results_or_exit_2(old, new, tmp_path, capsys) -> None:
    import pandas as pd

    target = ex(old, new)(tmp_path)
    out = tmp_path / "out"
    code = main(["run", str(target), "--draws", "5", "--out", str(out), "--no-charts", "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:  # refused: must say where
        assert str(target) in err and " at '" in err, err
        return
    assert code == 0, err
    df = pd.read_csv(out / "summary.csv", dtype={"period": str})
    stats = df.select_dtypes("number")
    bad = df.loc[~np.isfinite(stats).all(axis=1), ["level", "group", "metric"]].drop_duplicates()
    assert bad.empty, f"non-finite results:\n{bad.head(10)}"


def test_a_file_that_is_no_scenario_is_never_echoed(tmp_path, capsys) -> None:
    """Its keys and values may be anything (a password file named .yaml): the message counts them."""
    assert main(["validate", str(not_a_scenario_part(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "not a scenario" in err and SECRET not in err and "operator7" not in err, err

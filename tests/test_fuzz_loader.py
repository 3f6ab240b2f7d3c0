"""Fuzzing the scenario loader: whatever a file holds (arbitrary YAML documents, mutated valid
scenarios, random text or bytes), `load_scenario` either returns a LoadedScenario with a validated
Scenario or raises ScenarioError; no other exception may escape to the user."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from bad_scenarios import BASE
from helpers import example_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import ScenarioError
from sim.scenario import LoadedScenario, Scenario, load_scenario

# FUZZ_EXAMPLES=5000 for a longer hunt
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- strategies ---------------------------------------------------------------------------

DATE_LIKE = st.one_of(
    st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(1, 9999), st.integers(0, 14)),
    st.dates().map(str),
    st.builds(lambda y, m: f"{y}-{m}", st.integers(-5, 3000), st.integers(-2, 20)),
    st.sampled_from(["2020-01", "2018-01", "2030-12", "2099-12", "1900-01", "2020-1", "2020/01", "2020-00",
                     "2020-13", "2020-06-15", "2020-06-15T10:00:00Z", "2020-01-01 00:00:00", "2020Q1"]),
)
NUMBER_LIKE = st.one_of(
    st.sampled_from(["1e400", "-1e400", ".inf", "-.inf", ".nan", "NaN", "0x1F", "0o17", "0b101", "1_000",
                     "+12", "-0", "1:30", "190:20:30", "1e-400", "0.", ".5", "1,000", "00012", "=", "~",
                     "null", "Null", "yes", "No", "on", "OFF", "y", "n", "true", "False", "<<", "-", "?", ""]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
NAMES = st.sampled_from(["name", "start", "end", "regions", "indications", "products", "events", "US", "EU",
                         "LBCL", "Axi", "Bre", "price", "launches", "probability", "date", "dist", "min", "max",
                         "type", "product", "region", "after", "extends", "payers", "share", "markets",
                         "eligible", "uptake", "p", "q", "ceiling", "company", "target", "correlations",
                         "inputs", "rank", "matrix", "sites", "value", "capacity", "deals", "rounds"])
TEXT = st.one_of(st.text(max_size=20), DATE_LIKE, NUMBER_LIKE, NAMES)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1), TEXT,
)
KEYS = st.one_of(NAMES, st.text(max_size=10), DATE_LIKE, NUMBER_LIKE)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=20,
)
DOCUMENTS = st.one_of(st.dictionaries(KEYS, VALUES, max_size=8), VALUES)


def dump_safe(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)


_PLAIN = re.compile(r"^[A-Za-z0-9_.+~=<][A-Za-z0-9_.+\-~=<]*(?::[A-Za-z0-9_.+\-~]+)*$")
_TIMESTAMP = re.compile(r"^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?")


def _valid_timestamp(s: str) -> bool:
    """Whether PyYAML would construct the plain scalar without raising (see the xfail below)."""
    try:
        yaml.safe_load(s)
    except ValueError:
        return False
    except yaml.YAMLError:
        return True
    return True


def dump_plain(obj: Any) -> str:
    """Flow-style YAML with strings left unquoted where possible, so date- and number-like text
    reaches YAML's implicit resolvers (timestamps, sexagesimal ints, .inf, booleans...)."""
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{dump_plain(k)}: {dump_plain(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(dump_plain(v) for v in obj) + "]"
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, float):
        return ".nan" if math.isnan(obj) else (".inf" if obj > 0 else "-.inf") if math.isinf(obj) else repr(obj)
    if isinstance(obj, int):
        return str(obj)
    s = str(obj)
    if _PLAIN.match(s) and (not _TIMESTAMP.match(s) or _valid_timestamp(s)):
        return s
    return json.dumps(s)


@pytest.fixture(scope="module")
def fuzz_dir():
    with tempfile.TemporaryDirectory(prefix="fuzz-loader-") as d:
        yield Path(d)


def load_or_scenario_error(path: Path) -> LoadedScenario | None:
    try:
        loaded = load_scenario(path)
    except ScenarioError as exc:
        assert str(exc) and exc.render() == str(exc)
        return None
    assert isinstance(loaded, LoadedScenario)
    assert isinstance(loaded.scenario, Scenario)
    return loaded


def write_text(d: Path, content: str) -> Path:
    p = d / "fuzz.yaml"
    p.write_text(content, encoding="utf-8")
    return p


# --- arbitrary documents --------------------------------------------------------------------


@pytest.mark.slow
@FUZZ
@given(doc=DOCUMENTS)
def test_arbitrary_documents_safe_dumped(fuzz_dir, doc) -> None:
    load_or_scenario_error(write_text(fuzz_dir, dump_safe(doc)))


@pytest.mark.slow
@FUZZ
@given(doc=DOCUMENTS)
def test_arbitrary_documents_with_plain_scalars(fuzz_dir, doc) -> None:
    load_or_scenario_error(write_text(fuzz_dir, dump_plain(doc)))


# --- mutations of valid scenarios -------------------------------------------------------------


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _apply(doc: Any, path: tuple, op: str, value: Any) -> None:
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if op == "drop":
        del parent[key]
    elif op == "replace":
        parent[key] = value
    elif op == "rename" and isinstance(parent, dict) and isinstance(value, str) and value not in parent:
        parent[value] = parent.pop(key)
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "duplicate" and isinstance(parent, dict):
        parent[f"{key}_copy"] = copy.deepcopy(parent[key])


MUTATION_BASES = (BASE, example_scenario())


@st.composite
def mutated_scenarios(draw) -> dict[str, Any]:
    doc = copy.deepcopy(draw(st.sampled_from(MUTATION_BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["drop", "replace", "replace", "replace", "rename", "wrap", "duplicate"]))
        value = draw(KEYS) if op == "rename" else draw(VALUES)
        _apply(doc, path, op, value)
    return _known_bug_free(doc)


@pytest.mark.slow
@FUZZ
@given(doc=mutated_scenarios(), plain=st.booleans())
def test_mutated_valid_scenarios(fuzz_dir, doc, plain) -> None:
    load_or_scenario_error(write_text(fuzz_dir, dump_plain(doc) if plain else dump_safe(doc)))


def test_the_mutation_bases_are_valid(tmp_path) -> None:
    for base in MUTATION_BASES:
        assert load_or_scenario_error(write_text(tmp_path, dump_safe(base))) is not None
        assert load_or_scenario_error(write_text(tmp_path, dump_plain(base))) is not None


# --- raw text and bytes ---------------------------------------------------------------------

YAMLISH = st.text(alphabet=st.sampled_from(list("ab01 :-[]{},&*!|>'\"%@`#?<=~.\n\t\\") + ["\x00", "\ufeff", "é"]),
                  max_size=300)


@FUZZ
@given(content=st.one_of(st.text(max_size=500), YAMLISH))
def test_random_text(fuzz_dir, content) -> None:
    load_or_scenario_error(write_text(fuzz_dir, content))


@FUZZ
@given(content=st.binary(max_size=1000))
def test_random_bytes(fuzz_dir, content) -> None:
    p = fuzz_dir / "fuzz.yaml"
    p.write_bytes(content)
    load_or_scenario_error(p)


@FUZZ
@given(prefix=st.sampled_from([dump_safe(b) for b in MUTATION_BASES]),
       cut=st.integers(0, 10_000), junk=YAMLISH)
def test_truncated_and_spliced_scenarios(fuzz_dir, prefix, cut, junk) -> None:
    """A valid file cut short (an interrupted save) or with junk spliced in."""
    cut = cut % (len(prefix) + 1)
    load_or_scenario_error(write_text(fuzz_dir, prefix[:cut] + junk + prefix[cut:][: len(junk)]))


# --- known bugs -------------------------------------------------------------------------------

DIST_BUG = ("bug: sim/scenario/dists.py parse_dist: `kind not in DIST_TYPES` raises TypeError when the 'dist' value "
            "is a list or mapping (e.g. price: {dist: [], min: 1, max: 2}); pydantic does not convert "
            "TypeError, so load_scenario / `sim validate` end in a traceback instead of a ScenarioError")


def _known_bug_free(obj: Any) -> Any:
    """Work around DIST_BUG in the generators (it has its own xfail test below), so the fuzz tests
    keep looking for other problems: an unhashable 'dist' value becomes its text."""
    if isinstance(obj, dict):
        return {k: (str(v) if k == "dist" and isinstance(v, dict | list) else _known_bug_free(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_known_bug_free(v) for v in obj]
    return obj


@pytest.mark.parametrize("value", [[], ["uniform"], {"a": 1}])
@pytest.mark.parametrize("where", ["price", "launch_date"])
def test_unhashable_dist_name_is_a_scenario_error(tmp_path, value, where) -> None:
    d = copy.deepcopy(BASE)
    us = d["products"]["Axi"]["regions"]["US"]
    if where == "price":
        us["price"] = {"dist": value, "min": 1, "max": 2}
    else:
        us["launches"]["LBCL"] = {"date": {"dist": value, "min": "2021-01", "max": "2022-01"}}
    load_or_scenario_error(write_text(tmp_path, dump_safe(d)))


DATE_BUG = ("bug: sim/scenario/loader.py _read_yaml catches only yaml.YAMLError/RecursionError around "
            "loader.construct_document(); a plain scalar that matches YAML's timestamp pattern but is no "
            "calendar date (2020-02-30, 2020-13-01, 2020-01-01 25:00:00) raises ValueError from PyYAML")


@pytest.mark.parametrize("date", ["2020-02-30", "2020-13-01", "2021-00-10", "0000-01-01", "2020-01-01 25:00:00",
                                  "2020-06-15 10:61:00"])
@pytest.mark.parametrize("key", ["start", "description"])
def test_impossible_plain_dates_are_scenario_errors(tmp_path, date, key) -> None:
    d = copy.deepcopy(BASE)
    d[key] = date
    text = dump_safe(d).replace(f"'{date}'", date)  # unquoted: YAML resolves it as a timestamp
    assert f"{key}: {date}\n" in text
    load_or_scenario_error(write_text(tmp_path, text))

"""Examples are tests: every shipped scenario runs, and the README's commands are real."""

from __future__ import annotations

import json
import re
import shlex

import numpy as np
import pytest
from helpers import REPO

from sim import run
from sim.cli import build_parser
from sim.results import Results
from sim.scenario import load_scenario

SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))


def test_there_are_shipped_scenarios() -> None:
    assert SCENARIOS, "scenarios/*.yaml is empty"


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_loads_and_runs(path, tmp_path) -> None:
    loaded = load_scenario(path)
    out = run(loaded, draws=20, seed=1, out=tmp_path / "r")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["draws"] == 20
    res = Results(out)
    for metric in ("revenue", "infused", "waiting"):
        arr = res.array(metric)
        assert arr.shape[0] == 20 and np.all(np.isfinite(arr)) and np.all(arr >= 0), metric
    assert res.array("revenue").sum() > 0  # something is sold in a shipped scenario


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return [ln.strip() for ln in text.splitlines() if ln.startswith("    ") and ln.strip()]


def test_readme_first_two_commands() -> None:
    cmds = _readme_commands()
    assert len(cmds) >= 2, "the README should open with two indented commands"
    run_cmd, test_cmd = cmds[0], cmds[1]
    assert "sim run" in run_cmd and "pytest" in test_cmd
    assert "pip install -e ." in run_cmd and '".[test]"' in test_cmd
    # the run command's arguments are accepted by the CLI, and its scenario file exists
    args = shlex.split(run_cmd.split("&&")[-1])
    assert args[:2] == ["sim", "run"]
    ns = build_parser().parse_args(args[1:])
    assert (REPO / ns.file).is_file()
    load_scenario(REPO / ns.file)
    assert ns.draws >= 1000 and ns.force


def test_readme_mentions_no_missing_scenario_files() -> None:
    text = (REPO / "README.md").read_text()
    for name in set(re.findall(r"scenarios/[\w.-]+\.yaml", text)):
        assert (REPO / name).is_file(), f"README refers to {name}, which does not exist"

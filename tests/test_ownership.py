"""Issue 17 (first part): the tool deletes or replaces only folders it created, names are single
folder names, a replace is old-or-new at every step, result files honour the umask, options
are checked before any worker starts and --workers beyond the CPUs is capped with a warning."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from helpers import EXAMPLE, base_scenario, example_scenario, write_scenario

from sim import run
from sim.cli import main
from sim.runner import folders
from sim.runner.folders import MARKER


def _argv(out: Path, *extra: str) -> list[str]:
    return ["run", str(EXAMPLE), "--draws", "20", "--seed", "1", "--out", str(out), "--no-charts", "--quiet", *extra]


def _exit_2(capsys, argv: list[str], *phrases: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for p in phrases:
        assert p in err, err
    return err


def test_force_never_deletes_a_folder_the_tool_did_not_create(tmp_path, capsys) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "data.csv").write_text("precious")
    (mine / "metadata.json").write_text("{}")  # looking like results is not enough
    _exit_2(capsys, _argv(mine, "--force"), "not a results folder written by sim run", "untouched")
    assert (mine / "data.csv").read_text() == "precious"
    assert not (tmp_path / "notes.partial").exists()  # refused before anything ran


def test_force_on_a_regular_file_or_a_link_is_refused_before_running(tmp_path, capsys) -> None:
    f = tmp_path / "results"
    f.write_text("not a folder")
    _exit_2(capsys, _argv(f, "--force"), "not a folder")
    assert f.read_text() == "not a folder" and not (tmp_path / "results.partial").exists()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_text("x")
    link = tmp_path / "linked"
    link.symlink_to(target)
    _exit_2(capsys, _argv(link, "--force"), "not a folder")
    assert (target / "keep").exists()


def test_force_replaces_the_tools_own_results(tmp_path) -> None:
    out = tmp_path / "r"
    run(EXAMPLE, draws=20, seed=1, out=out, charts=False)
    assert (out / MARKER).is_file()
    run(EXAMPLE, draws=30, seed=2, out=out, force=True, charts=False)
    assert json.loads((out / "metadata.json").read_text())["draws"] == 30
    assert not list(tmp_path.glob("r.*"))  # nothing left beside it


def test_a_partial_folder_the_tool_did_not_create_is_left_alone(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    partial = tmp_path / "r.partial"
    partial.mkdir()
    (partial / "mine.txt").write_text("x")
    _exit_2(capsys, _argv(out, "--force"), "was not written by sim run", "untouched")
    assert (partial / "mine.txt").exists()


def test_a_planted_parts_link_in_a_partial_folder_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    partial = tmp_path / "r.partial"
    partial.mkdir()
    (partial / MARKER).write_text("")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_text("x")
    (partial / "parts").symlink_to(victim)
    _exit_2(capsys, _argv(out, "--force"), "is a link")
    assert (victim / "file").read_text() == "x"


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs", "a/b", "..", ".", " base", "a\\b"])
def test_a_scenario_name_must_be_one_folder_name(tmp_path, capsys, name) -> None:
    d = example_scenario()
    d["name"] = name
    path = write_scenario(tmp_path, d)
    _exit_2(capsys, ["validate", str(path)], "at 'name'", "plain name")


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", ".."])
def test_a_run_name_must_be_one_folder_name(tmp_path, capsys, monkeypatch, name) -> None:
    monkeypatch.chdir(tmp_path)
    _exit_2(capsys, ["run", str(EXAMPLE), "--draws", "5", "--name", name, "--force", "--quiet", "--no-charts"],
            "--name", "plain name")
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob(MARKER))


def _fail_at(monkeypatch, step: int) -> None:
    """Make the n-th os.replace of a folder replace (0: old aside, 1: new in) fail like a kill."""
    real = os.replace
    calls = {"n": 0}

    def flaky(a, b):
        if Path(a).is_dir():
            if calls["n"] == step:
                raise KeyboardInterrupt("killed")
            calls["n"] += 1
        return real(a, b)

    monkeypatch.setattr(folders.os, "replace", flaky)


def _complete(folder: Path, draws: int) -> bool:
    meta = json.loads((folder / "metadata.json").read_text())
    return meta["draws"] == draws and (folder / "summary.csv").is_file() and (folder / MARKER).is_file()


@pytest.mark.parametrize("step", [0, 1])
def test_a_replace_interrupted_at_any_step_leaves_old_or_new_complete(tmp_path, monkeypatch, step) -> None:
    out = tmp_path / "r"
    run(EXAMPLE, draws=20, seed=1, out=out, charts=False)
    _fail_at(monkeypatch, step)
    with pytest.raises(KeyboardInterrupt):
        run(EXAMPLE, draws=30, seed=2, out=out, force=True, charts=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    if step == 0:  # the old results never moved: complete old at the name, complete new beside it
        assert _complete(out, 20) and _complete(tmp_path / "r.partial", 30), names
    else:  # the old results are aside, complete; the new complete one is still the partial
        aside = [p for p in tmp_path.iterdir() if p.name.startswith("r.old-")]
        assert not out.exists() and len(aside) == 1 and _complete(aside[0], 20), names
        assert _complete(tmp_path / "r.partial", 30)


def test_result_files_honour_the_umask(tmp_path) -> None:
    out = run(EXAMPLE, draws=20, seed=1, out=tmp_path / "r", charts=False)
    for f in [out / "metadata.json", out / "summary.csv", *sorted((out / "parts").glob("*.parquet"))[:2]]:
        mode = stat.S_IMODE(f.stat().st_mode)
        assert mode == 0o666 & ~_umask(), (f.name, oct(mode))


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_workers_beyond_the_cpus_are_capped_with_a_warning(tmp_path, capsys) -> None:
    code = main(_argv(tmp_path / "r", "--workers", str((os.cpu_count() or 1) + 6)))
    err = capsys.readouterr().err
    assert code == 0 and "more than the" in err
    meta = json.loads((tmp_path / "r" / "metadata.json").read_text())
    assert meta["workers"] <= (os.cpu_count() or 1)


def test_options_are_checked_before_any_worker_starts(tmp_path, capsys, monkeypatch) -> None:
    import sim.runner

    started = []
    monkeypatch.setattr(sim.runner, "WorkerPool", lambda n: started.append(n))
    for extra, phrase in ((["--draws", "0"], "--draws must be at least 1"), (["--batch-size", "0"], "--batch-size"),
                          (["--name", "../x"], "plain name")):
        argv = ["run", str(EXAMPLE), "--workers", "2", "--quiet", "--no-charts", *extra]
        if "--name" not in extra:
            argv += ["--out", str(tmp_path / "r")]
        assert main(argv) == 2
        assert phrase in capsys.readouterr().err
    assert started == []  # the pool of workers never started


def test_a_base_scenario_with_a_plain_name_still_loads(tmp_path) -> None:
    from helpers import load_dict

    assert load_dict(tmp_path, base_scenario()).name == "base"


@pytest.mark.parametrize("case,phrase", [("no products", "at least one product"),
                                         ("no indications", "at least one indication"),
                                         ("no launches", "nothing to simulate")])
def test_a_scenario_with_nothing_to_simulate_is_refused_at_validation(tmp_path, capsys, case, phrase) -> None:
    # validate said ok and run crashed with a traceback (issue 17)
    d = base_scenario()
    if case == "no products":
        d["products"] = {}
    elif case == "no indications":
        d["indications"] = {}
        d["products"]["A"]["regions"]["US"]["launches"] = {}
    else:
        d["products"]["A"]["regions"]["US"]["launches"] = {}
    path = write_scenario(tmp_path, d)
    _exit_2(capsys, ["validate", str(path)], phrase)
    _exit_2(capsys, ["run", str(path), "--draws", "5", "--out", str(tmp_path / "r"), "--quiet"], phrase)
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.partial").exists()

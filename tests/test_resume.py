"""Interrupted and resumed runs: a run killed (SIGKILL) or interrupted (SIGINT, Ctrl-C) part way
leaves `<out>.partial/` and never a folder that looks complete; `sim run --resume` computes only
the missing batches and the result is bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import EXAMPLE, assert_same_parts

from sim import run
from sim.cli import main
from sim.results import Results
from sim.runner.interrupt import CheckedBar, Interrupts

DRAWS, BATCH, SEED = 600, 20, 11  # 30 batches, a few seconds: time enough to interrupt
N_BATCHES = DRAWS // BATCH
METRICS = [("revenue", "lanes"), ("infused", "lanes"), ("waiting", "lanes"), ("demand", "lanes"),
           ("eligible", "cells"), ("untreated", "cells"), ("income", "companies")]


def cli_args(out: Path, *extra: str, seed: int = SEED, draws: int = DRAWS) -> list[str]:
    return ["run", str(EXAMPLE), "--draws", str(draws), "--batch-size", str(BATCH), "--seed", str(seed),
            "--out", str(out), "--no-charts", "--quiet", *extra]


def start(out: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim", *cli_args(out, *extra)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sim_cli(out: Path, cwd: Path, *extra: str, seed: int = SEED, draws: int = DRAWS,
            timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *cli_args(out, *extra, seed=seed, draws=draws)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def done_batches(parts: Path) -> int:
    return len(list(parts.glob("inputs-*.parquet")))


def wait_for_batches(proc: subprocess.Popen, parts: Path, n: int, timeout: float = 90) -> int:
    """Poll until at least n batches are saved (their inputs-*.parquet exists)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before it could be interrupted:\n{out}\n{err}")
        k = done_batches(parts) if parts.exists() else 0
        if k >= n:
            return k
        time.sleep(0.005)
    proc.kill()
    proc.communicate()
    pytest.fail(f"no {n} batches in {parts} after {timeout} s")


def interrupt(out: Path, cwd: Path, sig: int) -> tuple[subprocess.Popen, str, str]:
    """Start a run, send `sig` once 3 batches are saved, and collect its output."""
    proc = start(out, cwd)
    try:
        wait_for_batches(proc, partial_of(out) / "parts", 3)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc, stdout, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every resumed run must equal."""
    return run(EXAMPLE, draws=DRAWS, seed=SEED, batch_size=BATCH,
               out=tmp_path_factory.mktemp("ref") / "ref")


def assert_identical(got: Path, ref: Path) -> None:
    a, b = Results(got), Results(ref)
    assert a.meta["draws"] == b.meta["draws"] and a.meta["batches"] == b.meta["batches"] == N_BATCHES
    assert_same_parts(got, ref, METRICS, DRAWS)
    for metric, table in METRICS:
        assert np.array_equal(a.array(metric, table), b.array(metric, table)), (metric, table)
    assert (got / "summary.csv").read_bytes() == (ref / "summary.csv").read_bytes()
    assert (got / "scenario.yaml").read_text() == (ref / "scenario.yaml").read_text()
    assert not list((got / "parts").glob(".*.tmp")), "temp files left in the results"


def assert_left_incomplete(out: Path) -> Path:
    partial = partial_of(out)
    assert not out.exists(), "an interrupted run must not leave a folder that looks complete"
    assert partial.is_dir()
    assert not (partial / "metadata.json").exists()
    assert (partial / "run.json").exists()
    assert 0 < done_batches(partial / "parts") < N_BATCHES
    return partial


def resume_and_check(out: Path, cwd: Path, reference: Path) -> dict:
    res = sim_cli(out, cwd, "--resume")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert f"results: {out}" in res.stdout
    assert out.is_dir() and not partial_of(out).exists()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["status"] == "complete"
    assert 0 < meta["batches_resumed"] < N_BATCHES
    assert meta["batches"] == N_BATCHES
    assert_identical(out, reference)
    return meta


# --- SIGKILL ------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference) -> None:
    out = tmp_path / "run"
    proc, _, _ = interrupt(out, tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    partial = assert_left_incomplete(out)
    saved = done_batches(partial / "parts")
    # a half-written file of a killed writer (and its batch's other tables) must not count
    junk = partial / "parts" / ".lanes-000003.parquet.xxx.tmp"
    junk.write_bytes(b"PAR1 half a parquet file")
    # Results refuses the partial folder with a clear message
    with pytest.raises(Exception, match="metadata.json is missing.*interrupted run"):
        Results(partial)
    meta = resume_and_check(out, tmp_path, reference)
    assert meta["batches_resumed"] >= saved
    assert not junk.exists() and not (out / "parts" / junk.name).exists()


# --- SIGINT (Ctrl-C) ----------------------------------------------------------------------


@pytest.mark.slow
def test_sigint_exits_130_with_resume_hint_then_resume_is_bit_identical(tmp_path, reference) -> None:
    out = tmp_path / "run"
    proc, stdout, stderr = interrupt(out, tmp_path, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert str(partial_of(out)) in stderr, stderr
    assert "--resume" in stderr, stderr
    assert f"of {N_BATCHES} batches" in stderr, stderr
    assert "results:" not in stdout
    assert_left_incomplete(out)
    resume_and_check(out, tmp_path, reference)


# --- refusals and junk, on a partial folder made from the reference ------------------------


def make_partial(reference: Path, out: Path, keep: int = 10) -> Path:
    """What a run killed after `keep` batches leaves: run.json and the first batches' parts."""
    partial = partial_of(out)
    shutil.copytree(reference, partial)
    for name in ("metadata.json", "summary.csv", "scenario.yaml"):
        (partial / name).unlink()
    for f in (partial / "parts").glob("*.parquet"):
        if int(f.stem.rsplit("-", 1)[1]) >= keep:
            f.unlink()
    return partial


def test_rerun_without_resume_while_partial_exists_exits_2(tmp_path, reference, capsys) -> None:
    out = tmp_path / "run"
    partial = make_partial(reference, out)
    before = sorted(p.name for p in (partial / "parts").iterdir())
    assert main(cli_args(out)) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and str(partial) in err and "--force" in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in (partial / "parts").iterdir()) == before, "the partial run was touched"
    assert not out.exists()


@pytest.mark.parametrize(("extra", "kwargs", "named"), [
    ((), {"seed": SEED + 1}, f"seed (was {SEED}, now {SEED + 1})"),
    ((), {"draws": DRAWS + 50}, f"draws (was {DRAWS}, now {DRAWS + 50})"),
    (("--design", "lhs"), {}, "design (was mc, now lhs)"),
    (("--freq", "quarter"), {}, "frequency (was year, now quarter)"),
])
def test_resume_with_different_settings_exits_2_naming_the_difference(tmp_path, reference, capsys,
                                                                      extra, kwargs, named) -> None:
    out = tmp_path / "run"
    partial = make_partial(reference, out)
    args = cli_args(out, "--resume", *extra, **kwargs)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert named in err, err
    assert str(partial) in err and "--resume" in err
    assert "Traceback" not in err
    assert partial.is_dir() and not out.exists()


def test_resume_with_a_different_scenario_file_exits_2(tmp_path, reference, capsys) -> None:
    out = tmp_path / "run"
    make_partial(reference, out)
    changed = tmp_path / "changed.yaml"
    changed.write_text(EXAMPLE.read_text().replace("price: 373000", "price: 373001"))
    args = cli_args(out, "--resume")
    args[1] = str(changed)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "scenario_sha256" in err, err


def test_resume_with_nothing_to_resume_exits_2(tmp_path, capsys) -> None:
    assert main(cli_args(tmp_path / "nothing", "--resume")) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "Traceback" not in err


@pytest.mark.slow
def test_resume_ignores_temp_files_and_recomputes_half_saved_batches(tmp_path, reference) -> None:
    out = tmp_path / "run"
    partial = make_partial(reference, out, keep=10)
    parts = partial / "parts"
    # the writer was killed in the middle of batch 3's lanes table ...
    (parts / ".lanes-000003.parquet.xxx.tmp").write_bytes(b"PAR1\x00\x01 truncated")
    # ... and in batch 10: some of its tables were renamed into place, 'inputs' (written last) not
    (parts / "cells-000010.parquet").write_bytes((reference / "parts" / "cells-000010.parquet").read_bytes())
    (parts / "lanes-000010.parquet").write_bytes(b"garbage that must be overwritten")
    # and batch 7 lost a table: it is not done, so it is recomputed
    (parts / "companies-000007.parquet").unlink()
    run(EXAMPLE, draws=DRAWS, seed=SEED, batch_size=BATCH, out=out, resume=True)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["batches_resumed"] == 9  # batches 0..9 minus batch 7
    assert_identical(out, reference)


@pytest.mark.slow
def test_resume_without_batch_size_uses_the_interrupted_runs(tmp_path, reference) -> None:
    out = tmp_path / "run"
    make_partial(reference, out, keep=5)
    run(EXAMPLE, draws=DRAWS, seed=SEED, out=out, resume=True)  # no batch_size
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["batch_size"] == BATCH and meta["batches_resumed"] == 5
    assert_identical(out, reference)


@pytest.mark.slow
def test_resume_with_more_workers_is_identical(tmp_path, reference) -> None:
    out = tmp_path / "run"
    make_partial(reference, out, keep=20)
    run(EXAMPLE, draws=DRAWS, seed=SEED, batch_size=BATCH, out=out, resume=True, workers=2)
    assert json.loads((out / "metadata.json").read_text())["batches_resumed"] == 20
    assert_identical(out, reference)


@pytest.mark.slow
def test_resume_when_every_batch_was_saved(tmp_path, reference) -> None:
    out = tmp_path / "run"
    make_partial(reference, out, keep=N_BATCHES)  # killed while writing the summary
    res = sim_cli(out, tmp_path, "--resume")
    assert out.is_dir() and not partial_of(out).exists()
    assert json.loads((out / "metadata.json").read_text())["batches_resumed"] == N_BATCHES
    assert_identical(out, reference)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 0


# --- Ctrl-C as a request, taken between batches ---------------------------------------------


class _Finalized:
    """An object whose finalizer is where the signal lands (as in a temp file's or pyarrow's)."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_landing_in_a_finalizer_still_stops_the_run() -> None:
    # a KeyboardInterrupt raised inside __del__ is printed as "Exception ignored" and lost: the
    # run then finished with exit 0 (seen once in CI); as a request it is kept until checked
    before = signal.getsignal(signal.SIGINT)
    with Interrupts() as interrupts:
        _Finalized()  # collected at once
        assert interrupts.requested
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_ctrl_c_stops_at_once() -> None:
    with Interrupts() as interrupts, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.requested  # the first is a request
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


def test_ctrl_c_takes_effect_at_the_next_batch(tmp_path) -> None:
    calls: list[int] = []

    class Bar:
        def update(self, n: int) -> None:
            calls.append(n)

        def close(self) -> None:
            pass

    with Interrupts() as interrupts:
        bar = CheckedBar(Bar(), interrupts)
        bar.update(5)
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            bar.update(7)
    assert calls == [5, 7], "the batch that finished is counted before the run stops"

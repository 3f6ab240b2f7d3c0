"""Where a run writes: outputs/<scenario>/<name>, built as <name>.partial and renamed when complete.

A `.partial` folder holds run.json (what the run is: scenario hash, seed, draws, batches,
design, engine) and the batches finished so far, so `--resume` can complete it exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError


def default_out_dir(scenario_name: str, name: str | None = None, root: str | Path = "outputs") -> Path:
    """outputs/<scenario>/<name or a timestamp>."""
    stamp = name or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / scenario_name / stamp


def latest_partial(scenario_name: str, root: str | Path = "outputs") -> Path | None:
    """The most recent interrupted run of a scenario (for --resume without --out)."""
    cands = sorted(Path(root, scenario_name).glob("*.partial"), key=lambda p: p.stat().st_mtime)
    return cands[-1].with_name(cands[-1].name.removesuffix(".partial")) if cands else None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's contents, or None if it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def final_folder(scenario_name: str, out: str | Path | None, resume: bool, force: bool) -> Path:
    """The results folder a run will end in (checked: free, or --force)."""
    if out is None and resume:
        out = latest_partial(scenario_name)
        if out is None:
            raise ScenarioError(f"--resume: no interrupted run of '{scenario_name}' under outputs/{scenario_name}/")
    final = Path(out) if out is not None else default_out_dir(scenario_name)
    if final.exists() and not force:
        raise ScenarioError(f"results folder {final} already exists; choose another --out/--name or pass --force")
    return final


def prepare_partial(partial: Path, spec: dict[str, Any], *, resume: bool, force: bool,
                    keep_batch_size: bool) -> dict[str, Any]:
    """Make `partial` ready for the run `spec` describes and return the spec it runs with.

    Resuming checks the interrupted run is the same run (`keep_batch_size`: take its batch size
    when none was asked for); --force starts over; otherwise an existing one is refused."""
    if partial.exists():
        if not resume and not force:
            raise ScenarioError(
                f"an interrupted run exists at {partial}; pass --resume to complete it or --force to start over")
        if resume:
            spec = _same_run(partial, spec, keep_batch_size)
        else:
            shutil.rmtree(partial)
    elif resume:
        raise ScenarioError(f"--resume: nothing to resume at {partial}")
    parts = partial / "parts"
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"cannot create the results folder {partial}: {exc.strerror or exc}") from None
    for junk in parts.glob(".*.tmp"):  # half-written files of a killed run
        junk.unlink()
    return spec


def _same_run(partial: Path, spec: dict[str, Any], keep_batch_size: bool) -> dict[str, Any]:
    old = read_json(partial / "run.json")
    if old is None:
        return spec
    spec = dict(spec)
    if keep_batch_size:
        spec["batch_size"] = old.get("batch_size", spec["batch_size"])
    diff = {k: (old.get(k), v) for k, v in spec.items() if old.get(k) != v}
    if diff:
        raise ScenarioError(f"--resume: the interrupted run at {partial} differs in "
                            + ", ".join(f"{k} (was {a}, now {b})" for k, (a, b) in diff.items()))
    return spec

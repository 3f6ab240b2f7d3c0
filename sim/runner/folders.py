"""Where a run writes: outputs/<scenario>/<name>, built as <name>.partial and renamed when complete.

A `.partial` folder holds run.json (what the run is: scenario hash, seed, draws, batches,
design, engine) and the batches finished so far, so `--resume` can complete it exactly.

The tool deletes or replaces only folders it can show it created: `.sim-results`, written into a
partial folder before anything else, marks a results folder; `--force` refuses anything without
it (a user's folder of the same name, a regular file, a symlink). A replaced results folder is
moved aside, the new one renamed in, and only then the old one deleted, so a kill at any moment
leaves a complete old or a complete new folder under the name (plus, at worst, a marked folder
aside), never a mixture.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.io import check_component

MARKER = ".sim-results"  # written first into a results folder: only such folders are ever deleted


def default_out_dir(scenario_name: str, name: str | None = None, root: str | Path = "outputs") -> Path:
    """outputs/<scenario>/<name or a timestamp>; both names are single folder names."""
    check_component(scenario_name, "the scenario name")
    stamp = check_component(name, "--name") if name is not None else dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / scenario_name / stamp


def is_ours(folder: Path, marker: str = MARKER) -> bool:
    """Whether `folder` is a real folder (not a link) that the tool created (its `marker` file:
    a results folder's by default; sim fit and sim backtest mark theirs)."""
    return folder.is_dir() and not folder.is_symlink() and (folder / marker).is_file()


def mark(folder: Path) -> None:
    """Mark a new results folder as the tool's (before anything else is written into it)."""
    (folder / MARKER).write_text("a results folder written by sim run; sim may replace or delete it\n")


def replace_folder(new: Path, final: Path, marker: str = MARKER) -> None:
    """Put the complete folder `new` at `final`: an old folder of the tool's there (with `marker`)
    is moved aside, `new` renamed in, and the old one deleted last."""
    if not (final.exists() or final.is_symlink()):
        os.replace(new, final)
        return
    if not is_ours(final, marker):
        raise ScenarioError(f"{final} was not written by sim (no {marker}); "
                            "it was left untouched and the new results are in " + str(new))
    aside = final.with_name(f"{final.name}.old-{os.getpid()}")
    os.replace(final, aside)
    os.replace(new, final)
    shutil.rmtree(aside)


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
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise ScenarioError(f"--out {final} exists and is not a folder (a file or a link); choose another --out")
    if final.exists() and not force:
        raise ScenarioError(f"results folder {final} already exists; choose another --out/--name or pass --force")
    if final.exists() and not is_ours(final):
        raise ScenarioError(f"--force: {final} is not a results folder written by sim run (no {MARKER} in it); "
                            "it was left untouched: choose another --out, or move it away yourself")
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
        if not is_ours(partial):
            raise ScenarioError(f"{partial} was not written by sim run (no {MARKER}, or it is a link); "
                                "it was left untouched: move it away, or choose another --out")
        if (partial / "parts").is_symlink():
            raise ScenarioError(f"{partial / 'parts'} is a link; a results folder holds its own parts. "
                                "Nothing was written: move it away and run again")
        if resume:
            spec = _same_run(partial, spec, keep_batch_size)
        else:
            shutil.rmtree(partial)
    elif resume:
        raise ScenarioError(f"--resume: nothing to resume at {partial}")
    parts = partial / "parts"
    try:
        fresh = not partial.exists()
        partial.mkdir(parents=True, exist_ok=True)
        if fresh:
            mark(partial)
        parts.mkdir(exist_ok=True)
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

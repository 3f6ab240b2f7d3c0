"""A fitted posterior (written by `sim fit`) that a scenario draws some inputs from, jointly.

The file is a CSV with one row per particle: `weight`, and for each fitted input its value and
its quantile under the prior (`u:<input name>`). A run draws particle k for draw i with the
draw's own counter-based uniform (input name `posterior.particle`), so results are the same for
any number of workers, and two scenarios sharing the posterior stay paired. The particle's
quantiles then stand in for those inputs' uniforms; every other input is drawn from its prior.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from sim.errors import ScenarioError

PARTICLE_INPUT = "posterior.particle"


def file_sha256(path: str) -> str:
    """The posterior file's hash (part of the scenario's hash, so a new fit is a new scenario)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise ScenarioError(f"cannot read the posterior file ({exc.strerror or type(exc).__name__})",
                            file=path) from None


@lru_cache(maxsize=8)
def read_posterior(path: str, sha256: str, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(particles, inputs) quantiles and (particles,) cumulative weights, checked."""
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the posterior as CSV ({type(exc).__name__})", file=path) from None
    need = ["weight"] + ["u:" + n for n in names]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ScenarioError(f"the posterior has no column(s) {', '.join(missing[:4])}; it must hold the inputs "
                            "the scenario's posterior.inputs lists (as written by sim fit)", file=path)
    try:
        u = df[need[1:]].to_numpy(dtype=float)
        w = df["weight"].to_numpy(dtype=float)
    except ValueError:
        raise ScenarioError("the posterior's weights and quantiles must be numbers", file=path) from None
    if not len(w) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ScenarioError("the posterior's weights must be non-negative numbers with a positive sum", file=path)
    if not np.isfinite(u).all() or (u <= 0).any() or (u >= 1).any():
        raise ScenarioError("the posterior's quantiles (u:... columns) must lie strictly between 0 and 1", file=path)
    cum = np.cumsum(w)
    return u, cum / cum[-1]

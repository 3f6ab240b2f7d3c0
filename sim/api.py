"""The Python API (`import sim`): the library's main functions, composed across its layers.

`sim/__init__.py` exposes these (and the layers' own public names) lazily; the command line
(sim.cli) is a thin shell around the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.scenario import LoadedScenario


def run(scenario: str | Path | LoadedScenario, *, charts: bool = False, **options: Any) -> Path:
    """Run a scenario and write a results folder (see sim.runner.execute.run_scenario for the
    options); `charts=True` also draws the default fan charts into its charts/ folder."""
    from sim.runner import run_scenario

    hook = None
    if charts:
        from sim.plots import default_charts

        hook = default_charts
    return run_scenario(scenario, charts=hook, **options)

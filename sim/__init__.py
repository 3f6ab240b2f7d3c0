"""Competitive-landscape Monte Carlo simulator for the CAR-T cell-therapy market.

Notebook use::

    import sim
    scn = sim.load_scenario("scenarios/cart_2022.yaml")
    path = sim.run(scn, draws=2000, seed=1, out="outputs/cart_2022/nb")
    res = sim.Results(path)
    df = res.table("lanes")                    # tidy: draw x period x region x indication x product
    groups, periods, arr = res.grouped("revenue", by="target")
    sim.plot_fan(res, "revenue", by="product", ax=ax)   # or sim.fan_chart(periods, arr[:, 0], ax=ax)

Names are imported lazily so `import sim` stays fast.
"""

from __future__ import annotations

from typing import Any

from sim.version import __version__

_EXPORTS = {
    "load_scenario": "sim.scenario",
    "Scenario": "sim.scenario",
    "run": "sim.api",
    "Results": "sim.results",
    "summarize": "sim.results",
    "plot_fan": "sim.plots",
    "fan_chart": "sim.plots",
    "load_actuals": "sim.analysis.actuals",
    "simulate_batch": "sim.engine.batch",
    "simulate_patient": "sim.engine.patient",
    "build_structure": "sim.engine.structure",
    "ScenarioError": "sim.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")

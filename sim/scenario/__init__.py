"""Scenario layer: format (schema), loading and validation."""

from sim.scenario.loader import LoadedScenario, load_scenario
from sim.scenario.schema import Scenario

__all__ = ["LoadedScenario", "Scenario", "load_scenario"]

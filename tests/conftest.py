"""Fixtures shared by the test modules (builders they import are in helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import write_scenario


@pytest.fixture
def scenario_file(tmp_path: Path):
    """Factory fixture: scenario_file(dict) -> path of a YAML file in tmp_path."""
    counter = iter(range(10_000))

    def make(data: dict[str, Any]) -> Path:
        return write_scenario(tmp_path, data, f"scenario_{next(counter)}.yaml")

    return make

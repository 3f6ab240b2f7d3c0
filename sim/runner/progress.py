"""The progress bar of a run (tqdm on stderr), or nothing."""

from __future__ import annotations

import sys
from typing import Any


class NoBar:
    """A progress bar that shows nothing."""

    def update(self, n: int) -> None:
        """Count n more draws."""

    def close(self) -> None:
        """Nothing to close."""


def progress(total: int, enabled: bool) -> Any:
    """A bar over `total` draws, or NoBar."""
    if not enabled:
        return NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="draw", desc="simulating", file=sys.stderr)

"""Ctrl-C during a run stops it at the next batch boundary.

A KeyboardInterrupt raised wherever the signal happens to land can be lost: inside a finalizer
(a temp file's or pyarrow's) Python prints "Exception ignored" and the run carries on to the
end. Taking the signal as a request, and acting on it between batches, cannot be lost; a second
Ctrl-C stops at once, for a batch that takes too long.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class Interrupts:
    """SIGINT as a request, checked by `check()`; outside the main thread it changes nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed since the run started."""
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class CheckedBar:
    """A progress bar whose every update is a batch boundary, where Ctrl-C takes effect."""

    def __init__(self, bar: Any, interrupts: Interrupts) -> None:
        self.bar = bar
        self.interrupts = interrupts

    def update(self, n: int) -> None:
        """Count n more draws, then stop if Ctrl-C was pressed."""
        self.bar.update(n)
        self.interrupts.check()

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()

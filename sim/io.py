"""Atomic file writes: a reader never sees a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[str], Any]) -> Path:
    """Call write(tmp_path) for a temp file next to `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_npy(path: str | Path, arr: Any) -> Path:
    """An .npy file, written through a file object (np.save would append ".npy" to the temp name)."""
    import numpy as np

    def w(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)

    return atomic_write(path, w)


def atomic_text(path: str | Path, text: str) -> Path:
    """A UTF-8 text file, written atomically."""
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return atomic_write(path, w)


def atomic_json(path: str | Path, obj: Any) -> Path:
    """A JSON file (sorted keys, indented), written atomically."""
    return atomic_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

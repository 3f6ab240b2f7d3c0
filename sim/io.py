"""Atomic file writes: a reader never sees a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file under this process's umask


def atomic_write(path: str | Path, write: Callable[[str], Any]) -> Path:
    """Call write(tmp_path) for a temp file next to `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; results are shared like any file the user writes
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


def check_component(value: str, what: str) -> str:
    """A name used as one folder name: no separators, not '.' or '..', not absolute, not empty."""
    bad = (not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value
           or value != value.strip() or Path(value).is_absolute())
    if bad:
        raise ScenarioError(f"{what} {value!r} must be a plain name (one folder name: no '/', '\\', '..', "
                            "leading or trailing spaces), e.g. 'base' or 'cart_2022_nrdl'")
    return value


def read_text_file(path: Path, what: str) -> bytes:
    """The bytes of a text file the user named, or one clear error: missing, not a regular file,
    unreadable, empty or binary."""
    try:
        if not path.is_file():
            raise ScenarioError(f"{what} file not found: {path}" if not path.exists() else
                                f"the {what} path is not a regular file: {path}", file=str(path))
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read the {what} file ({exc.strerror or type(exc).__name__})",
                            file=str(path)) from None
    if b"\x00" in raw[:4096]:
        raise ScenarioError(f"the {what} file is not text (binary data); expected a CSV", file=str(path))
    if not raw.strip():
        raise ScenarioError(f"the {what} file is empty; expected a CSV with a header row", file=str(path))
    return raw

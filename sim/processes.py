"""Settings of the processes that hold batches of draws (the runner's workers, the summary's)."""

from __future__ import annotations

import sys


def keep_freed_memory() -> None:
    """Let glibc keep freed batch arrays for the next batch instead of unmapping them.

    By default every array over 128 kB-32 MB is its own mmap, returned to the system when freed,
    so each batch faults its arrays in again page by page (slow in virtual machines, and two
    workers faulting at once slow each other; figures in benchmarks/README.md). A worker's
    peak memory is unchanged (it reaches the same peak every batch)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum
        libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc (e.g. musl): keep the defaults
        pass

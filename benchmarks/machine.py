"""Machine facts printed by the benchmarks (shared by bench_run.py and compare_engines.py)."""

from __future__ import annotations

import os


def blas_threads() -> str:
    """BLAS libraries numpy loaded and their thread counts (via threadpoolctl when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        env = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ]
        return "unknown (threadpoolctl not installed" + (f"; {', '.join(env)})" if env else ")")
    import numpy  # noqa: F401  (load numpy's BLAS so threadpoolctl can see it)

    info = [f"{p.get('internal_api', '?')}: {p.get('num_threads', '?')}" for p in threadpool_info()
            if p.get("user_api") == "blas"]
    return ", ".join(info) or "unknown (no BLAS library found)"

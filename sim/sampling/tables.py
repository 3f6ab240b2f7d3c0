"""Values of an input from its uniforms: the inverse CDF, through a table for the beta family.

betaincinv (PERT, beta) dominates sampling time, so those go through a cached inverse-CDF
table (Chebyshev-spaced, 4,097 nodes; error below 1e-5 of the range), read by a compiled
lookup that gives np.interp's numbers bit for bit. Tables are also kept on disk per user.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from sim.scenario.dists import Beta, Distribution, Pert

_TABLE_N = 4097
_TABLE_U = 0.5 - 0.5 * np.cos(np.pi * np.arange(_TABLE_N) / (_TABLE_N - 1))  # dense near 0 and 1
_TABLES: dict[tuple[str, float, float], np.ndarray] = {}
# for each k of 0..4096, the last node at or below k / 4096: the start of a table lookup
_TABLE_LUT = np.clip(np.searchsorted(_TABLE_U, np.arange(4097) / 4096, side="right") - 1, 0, _TABLE_N - 1)


def _table_value(u: np.ndarray, table: np.ndarray) -> np.ndarray:
    """np.interp(u, _TABLE_U, table), the same numbers, compiled (`table_interp`)."""
    u = np.asarray(u, dtype=np.float64)
    out = np.empty(u.shape)
    table_interp(np.ascontiguousarray(u).reshape(-1), _TABLE_U, table, _TABLE_LUT, out.reshape(-1))
    return out


def _beta_table(a: float, b: float) -> np.ndarray:
    key = ("beta", a, b)
    if key not in _TABLES:
        _TABLES[key] = _disk_cached_table(a, b)
    return _TABLES[key]


def _table_cache_dir() -> Path | None:
    import os

    if os.environ.get("CART_SIM_NO_CACHE"):
        return None
    home = os.path.expanduser("~")
    root = os.environ.get("XDG_CACHE_HOME") or (os.path.join(home, ".cache") if home != "~" else "")
    return Path(root) / "cart-sim" / "beta-tables" if os.path.isabs(root) else None  # never relative to cwd


def _disk_cached_table(a: float, b: float) -> np.ndarray:
    """Betaincinv on the table's 4,097 nodes is slow enough that a scenario with tens of PERT
    inputs delayed every worker's first batch. Tables are kept in the user's cache
    folder, keyed by (a, b), the node grid and the scipy version that computed them; a missing,
    unreadable or mismatched file is recomputed (the values are the same either way)."""
    import hashlib

    import scipy

    folder = _table_cache_dir()
    tag = f"{a!r}|{b!r}|{_TABLE_N}|{scipy.__version__}"
    name = hashlib.blake2b(tag.encode(), digest_size=12).hexdigest() + ".npy"
    if folder is not None:
        try:
            t = np.load(folder / name, allow_pickle=False)
            if t.shape == _TABLE_U.shape and t.dtype == np.float64:
                return t
        except (OSError, ValueError):
            pass
    from scipy import special

    t = special.betaincinv(a, b, _TABLE_U)
    if folder is not None:
        try:
            from sim.io import atomic_npy

            atomic_npy(folder / name, t)
        except OSError:  # a read-only or full cache folder only costs the recomputation
            pass
    return t


def sample(spec: float | Distribution, u: np.ndarray) -> np.ndarray:
    """Values of one input for a vector of uniforms.

    The beta family (PERT, beta) goes through a cached inverse-CDF table (Chebyshev-spaced,
    4,097 nodes; error below 1e-5 of the range) because betaincinv dominates sampling time.
    """
    if isinstance(spec, Pert):
        r = spec.max - spec.min
        a = 1 + spec.lamb * (spec.mode - spec.min) / r
        b = 1 + spec.lamb * (spec.max - spec.mode) / r
        return spec.min + r * _table_value(u, _beta_table(a, b))
    if isinstance(spec, Beta):
        return spec.min + (spec.max - spec.min) * _table_value(u, _beta_table(spec.alpha, spec.beta))
    if isinstance(spec, Distribution):
        return spec.ppf(u)
    return np.full(np.shape(u), float(spec))


@njit(cache=True, nogil=True)
def table_interp(x, xp, fp, lut, out):
    """np.interp(x, xp, fp) with numpy's exact arithmetic and edge cases: `lut[k]` is the last
    node at or below k / (lut.size - 1) (xp spans [0, 1]), so finding a value's interval takes a
    step or two instead of a binary search."""
    n = xp.size
    m = lut.size - 1
    for i in range(x.size):
        v = x[i]
        if np.isnan(v):
            out[i] = v
        elif v > xp[n - 1]:
            out[i] = fp[n - 1]
        elif v < xp[0]:
            out[i] = fp[0]
        else:
            j = lut[min(max(int(v * m), 0), m)]
            while j > 0 and xp[j] > v:
                j -= 1
            while j + 1 < n and xp[j + 1] <= v:
                j += 1
            if j == n - 1 or xp[j] == v:
                out[i] = fp[j]
            else:
                slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
                r = slope * (v - xp[j]) + fp[j]
                if np.isnan(r):  # as numpy: try from the other end
                    r = slope * (v - xp[j + 1]) + fp[j + 1]
                    if np.isnan(r) and fp[j] == fp[j + 1]:
                        r = fp[j]
                out[i] = r

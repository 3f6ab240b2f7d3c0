"""Statistics over draws: mean, sd, percentiles and the Monte Carlo error of percentiles.

The standard error of a sample quantile is estimated without assuming a distribution, from
the order statistics: the number of draws below the true q-quantile is Binomial(n, q), so the
sorted draws at the binomial's (alpha/2, 1 - alpha/2) ranks bound a distribution-free
confidence interval for the quantile, and half its width over the normal z is an SE.
"""

from __future__ import annotations

import math

import numpy as np

from sim.vocab import PERCENTILES


def order_statistic_ranks(n: int, q: float, conf: float = 0.95) -> tuple[int, int]:
    """0-based indices (lo, hi) of the sorted draws bounding a distribution-free `conf`
    confidence interval for the q-quantile of n draws (clamped to the sample)."""
    if n < 1:
        raise ValueError("need at least one draw")
    a = (1.0 - conf) / 2.0
    lo = binom_ppf(a, n, q)  # draws below the quantile: lower limit is order statistic lo (1-based)
    hi = binom_ppf(1.0 - a, n, q) + 1
    return max(lo, 1) - 1, min(hi, n) - 1


def binom_ppf(u: float, n: int, p: float) -> int:
    """Smallest k with P(Binomial(n, p) <= k) >= u: scipy.stats.binom.ppf's own steps from
    scipy.special, because importing scipy.stats is slow in every summary process."""
    from scipy import special

    if u <= 0.0:
        return -1
    if u >= 1.0:
        return n
    k = min(max(math.ceil(float(special.bdtrik(u, n, p))), 0), n)  # a guess; then the definition
    while k > 0 and special.bdtr(k - 1, n, p) >= u:
        k -= 1
    while k < n and special.bdtr(k, n, p) < u:
        k += 1
    return k


def summarize(arr: np.ndarray, with_se: bool = False, overwrite: bool = False) -> dict[str, np.ndarray]:
    """Mean, sd, standard error of the mean and percentiles over draws (axis 0); with_se adds
    the Monte Carlo standard errors of P10, P50 and P90 (from order-statistic 95 % intervals).

    float32 (the stored results): one compiled pass per item picks the ~20 order statistics
    needed out of its draws (sim.results.kernels.row_stats), no full sort. Otherwise one sorted
    copy; percentiles and order statistics are lookups. `overwrite`: arr may be used as scratch."""
    arr = np.asarray(arr)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    n = arr.shape[0]
    rest = arr.shape[1:]
    flat = arr.reshape(n, -1) if arr.flags.c_contiguous else arr.transpose(*range(1, arr.ndim), 0).reshape(-1, n).T
    x = flat.T  # (items, draws)
    want: dict[str, tuple[int, int, float]] = {}  # statistic -> (rank a, rank b, weight of b)
    for p in PERCENTILES:  # linear interpolation, as numpy's default percentile
        h = (n - 1) * p / 100.0
        lo = int(np.floor(h))
        want[f"p{p}"] = (lo, min(lo + 1, n - 1), h - lo)
    if with_se and n >= 2:
        for p in (10, 50, 90):
            a, b = order_statistic_ranks(n, p / 100.0)
            want[f"se_p{p}"] = (int(np.clip(a, 0, n - 1)), int(np.clip(b, 0, n - 1)), -1.0)
    ranks = np.array(sorted({r for a, b, _ in want.values() for r in (a, b)}), dtype=np.int64)
    if x.dtype == np.float32:
        from sim.results.kernels import row_stats

        out = {"mean": np.empty(x.shape[0]), "sd": np.empty(x.shape[0])}
        at = np.empty((x.shape[0], ranks.size))
        row_stats(np.ascontiguousarray(x), ranks, out["mean"], out["sd"], at)
    else:
        if overwrite and x.flags.c_contiguous:
            x.sort(axis=1)  # the caller's scratch array: sort in place, no copy
        else:
            x = np.sort(x, axis=1)
        out = {"mean": x.mean(axis=1), "sd": x.std(axis=1, ddof=1) if n > 1 else np.zeros(x.shape[0])}
        at = x[:, ranks]
    col = {int(r): k for k, r in enumerate(ranks)}
    out["se_mean"] = out["sd"] / np.sqrt(n)
    z = 1.959963984540054
    for name, (a, b, w) in want.items():
        va, vb = at[:, col[a]], at[:, col[b]]
        out[name] = va + w * (vb - va) if w >= 0 else (vb - va) / (2 * z)
    if with_se and n < 2:
        for p in (10, 50, 90):
            out[f"se_p{p}"] = np.full(x.shape[0], np.inf)
    return {k: v.reshape(rest) for k, v in out.items()}

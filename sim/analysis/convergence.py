"""Monte Carlo error of reported percentiles, and running draws until it is small enough.

The standard error of a sample quantile is estimated without assuming a distribution,
from the order statistics: the number of draws below the true q-quantile is
Binomial(n, q), so the sorted draws at the binomial's (alpha/2, 1 - alpha/2) ranks bound
a distribution-free confidence interval for the quantile, and half its width over the
normal z is an SE (method "order"). The alternative "batch" method splits the draws into
consecutive batches and takes the spread of the batch quantiles (batch means).

`run_until` keeps adding batches of draws (ids continuing 0, 1, 2, ...) so that, with
plain Monte Carlo, its draws are exactly those of one run of the final size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.errors import ScenarioError
from sim.results.stats import order_statistic_ranks
from sim.vocab import PERCENTILES, is_money

if TYPE_CHECKING:  # the summary's workers use the order statistics here without pandas
    import pandas as pd

def quantile_ci(x: np.ndarray, q: float, conf: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distribution-free confidence interval of the q-quantile along `axis` (order statistics)."""
    x = np.moveaxis(np.asarray(x, dtype=float), axis, 0)
    lo, hi = order_statistic_ranks(x.shape[0], q, conf)
    part = np.partition(x, sorted({lo, hi}), axis=0)
    return part[lo], part[hi]


def quantile_se(x: np.ndarray, q: float = 0.5, axis: int = 0, method: str = "order",
                conf: float = 0.95, batches: int = 20) -> np.ndarray:
    """Monte Carlo standard error of the sample q-quantile of `x` along `axis`.

    method "order": width of the order-statistic confidence interval / (2 z);
    method "batch": sd of the quantiles of `batches` consecutive batches / sqrt(batches).
    """
    from scipy.stats import norm

    x = np.moveaxis(np.asarray(x, dtype=float), axis, 0)
    n = x.shape[0]
    if n < 2:
        return np.full(x.shape[1:], np.inf)
    if method == "order":
        lo, hi = quantile_ci(x, q, conf)
        return (hi - lo) / (2.0 * norm.ppf(0.5 + conf / 2.0))
    if method == "batch":
        b = min(batches, n // 2)
        m = n // b
        qs = np.quantile(x[: b * m].reshape((b, m) + x.shape[1:]), q, axis=1)
        return qs.std(axis=0, ddof=1) / math.sqrt(b)
    raise ValueError(f"unknown method {method!r}; expected 'order' or 'batch'")


def percentile_se(arr: np.ndarray, percentiles: tuple[int, ...] = PERCENTILES, method: str = "order"
                  ) -> dict[str, np.ndarray]:
    """{'se_p5': ..., 'se_p50': ...}: SE of each percentile over draws (axis 0), shaped like
    the entries of ``sim.results.summarize(arr)`` so the summary can carry them as columns."""
    return {f"se_p{p}": quantile_se(arr, p / 100.0, axis=0, method=method) for p in percentiles}


def relative_se(estimate: np.ndarray | float, se: np.ndarray | float) -> np.ndarray:
    """Se / |estimate|; 0 when both are 0 (a degenerate output), inf when only the estimate is."""
    est, s = np.abs(np.asarray(estimate, dtype=float)), np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(est > 0, s / np.where(est > 0, est, 1.0), np.where(s > 0, np.inf, 0.0))


# ---------------------------------------------------------------------------- run until precise
@dataclass
class ConvergenceResult:
    """The draws run until a percentile was precise enough, and its history."""

    history: pd.DataFrame  # one row per checkpoint: draws, estimate, se, rel_se, ci_low, ci_high, ...
    values: np.ndarray  # (draws, periods): the output of every draw
    periods: list[str]
    period: str
    q: float
    target: float
    converged: bool
    output: str = ""  # what was tracked, for titles and files
    money: bool = True
    seed: int = 0

    @property
    def draws(self) -> int:
        """How many draws were run."""
        return int(self.values.shape[0])


def run_until(evaluate: Callable[[np.ndarray], np.ndarray], period_index: int, until_se: float,
              batch: int = 500, max_draws: int = 100_000, q: float = 0.5, method: str = "order",
              periods: list[str] | None = None, progress: Callable[[dict[str, Any]], None] | None = None,
              min_draws: int = 100) -> ConvergenceResult:
    """Add batches of draws until the q-quantile's relative SE in one period is <= until_se.

    `evaluate(draw_ids)` returns the output (len(draw_ids), periods) of those draws.
    Draw ids continue across batches, so the draws equal those of one run of the final size.
    """
    if until_se <= 0:
        raise ScenarioError(f"--until-se must be positive, got {until_se}")
    if batch < 1:
        raise ScenarioError(f"--batch must be at least 1, got {batch}")
    if max_draws < batch:
        raise ScenarioError(f"--max-draws ({max_draws}) must be at least --batch ({batch})")
    chunks: list[np.ndarray] = []
    rows = []
    n = 0
    converged = False
    while n < max_draws:
        m = min(batch, max_draws - n)
        chunks.append(np.asarray(evaluate(np.arange(n, n + m)), dtype=float))
        n += m
        y = np.concatenate(chunks, axis=0)[:, period_index]
        est = float(np.quantile(y, q))
        se = float(quantile_se(y, q, method=method))
        lo, hi = quantile_ci(y, q)
        rel = float(relative_se(est, se))
        row = {"draws": n, "estimate": est, "se": se, "rel_se": rel, "ci_low": float(lo), "ci_high": float(hi),
               "mean": float(y.mean()), "se_mean": float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf}
        rows.append(row)
        if progress is not None:
            progress(row)
        if n >= min(min_draws, max_draws) and rel <= until_se:
            converged = True
            break
    values = np.concatenate(chunks, axis=0)
    per = periods or [str(k) for k in range(values.shape[1])]
    import pandas as pd

    return ConvergenceResult(pd.DataFrame(rows), values, list(per), per[period_index], q, until_se, converged)


def converge(scenario: Any, *, metric: str = "revenue", by: str = "total", group: str | None = None,
             filters: dict[str, list[str]] | None = None, freq: str | None = None, period: str | None = None,
             until_se: float = 0.01, batch: int = 500, max_draws: int = 100_000, seed: int = 0,
             q: float = 0.5, method: str = "order",
             progress: Callable[[dict[str, Any]], None] | None = None) -> ConvergenceResult:
    """Run a scenario in batches until the output's P{q} has relative SE <= until_se
    (sim.report.folders writes convergence.csv and its chart)."""
    from sim.analysis.evaluator import Evaluator, Measure, as_scenario

    if not 0.0 < q < 1.0:
        raise ScenarioError(f"--quantile must be between 0 and 1, got {q}")
    ev = Evaluator(as_scenario(scenario), Measure(metric, by, group, filters, freq), seed=seed)
    p = ev.period_index(period)
    res = run_until(lambda ids: ev.run(ids)[0], p, until_se, batch, max_draws, q, method,
                    periods=list(ev.periods), progress=progress)
    res.output, res.money, res.seed = ev.output.describe(), is_money(metric), seed
    return res

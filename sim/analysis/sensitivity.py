"""Which uncertain inputs matter: tornado swings, rank correlations, Sobol indices and
sensitivity over time (charts: sim.plots.sensitivity; files: sim.report.folders).

Every uncertain input of a scenario is sampled from a uniform named by its field path
(``indications.LBCL_3L.uptake.ceiling``), so an input can be held at a chosen quantile by
pinning its uniform (``simulate_batch(..., pinned={name: u})``) while everything else is
sampled with the same seed (common random numbers). Yes/no gates (names ending
``.fires``) are analysed through their uniform; the gate fires when the uniform is below
the probability, so the gate's value is *decreasing* in its uniform: holding a gate at
its P10 pins the uniform at 0.9 (does not fire unless very likely), at P90 pins it at 0.1.

Sampling stays in memory: an `Evaluator` (sim.analysis.evaluator) runs batches of draws and
reduces each batch to the one output analysed, exactly as `Results.grouped` would from a
results folder.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.evaluator import Evaluator, Measure, as_scenario
from sim.errors import ScenarioError
from sim.formats import fmt_input, is_gate
from sim.scenario import LoadedScenario, Scenario
from sim.vocab import is_money


def pin_uniform(name: str, q: float) -> float:
    """The uniform that puts input `name` at its q-quantile (gates are decreasing in u)."""
    return 1.0 - q if is_gate(name) else q


# ---------------------------------------------------------------------------- (a) tornado
def tornado(ev: Evaluator, inputs: list[str], period: str | None = None, draws: int = 500,
            lo: float = 0.1, hi: float = 0.9) -> pd.DataFrame:
    """Swing of the output's median when each input goes from its `lo` to its `hi` quantile.

    Each input is pinned at its P10 and then its P90 while all others are sampled with
    the evaluator's seed over draws 0..draws-1 (common random numbers), so the swing
    median(output | P90) - median(output | P10) is not blurred by sampling noise of the
    other inputs. Also reports the paired mean swing. Sorted by |swing|, largest first.
    """
    p = ev.period_index(period)
    ids = np.arange(draws)
    base_y, _ = ev.run(ids)
    base = float(np.median(base_y[:, p]))
    rows = []
    for name in inputs:
        y_lo, in_lo = ev.run(ids, {name: pin_uniform(name, lo)})
        y_hi, in_hi = ev.run(ids, {name: pin_uniform(name, hi)})
        v_lo = float(in_lo[name][0]) if name in in_lo else np.nan
        v_hi = float(in_hi[name][0]) if name in in_hi else np.nan
        m_lo, m_hi = float(np.median(y_lo[:, p])), float(np.median(y_hi[:, p]))
        rows.append({
            "input": name, "value_low": v_lo, "value_high": v_hi,
            "value_low_text": fmt_input(name, v_lo, short=True), "value_high_text": fmt_input(name, v_hi, short=True),
            "output_low": m_lo, "output_high": m_hi, "base_median": base,
            "swing": m_hi - m_lo, "mean_swing": float(np.mean(y_hi[:, p] - y_lo[:, p])),
        })
    df = pd.DataFrame(rows, columns=["input", "value_low", "value_high", "value_low_text", "value_high_text",
                                     "output_low", "output_high", "base_median", "swing", "mean_swing"])
    df["period"] = ev.periods[p]
    df["low_quantile"], df["high_quantile"] = lo, hi
    order = np.lexsort((-df["mean_swing"].abs().to_numpy(), -df["swing"].abs().to_numpy()))
    return df.iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------- (b) + (d) ranks
def rank_correlations(x: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    """Spearman correlation of each input (dict of (n,)) with each column of y (n, m): (k, m).

    Constant inputs or outputs have no rank correlation; they get 0.
    """
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    X = np.column_stack([np.asarray(v, dtype=float) for v in x.values()]) if x else np.zeros((y.shape[0], 0))
    rx = rankdata(X, axis=0) if X.size else X
    ry = rankdata(y, axis=0)
    rx = rx - rx.mean(axis=0)
    ry = ry - ry.mean(axis=0)
    num = rx.T @ ry
    den = np.sqrt((rx**2).sum(axis=0))[:, None] * np.sqrt((ry**2).sum(axis=0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(rho, -1.0, 1.0)


@dataclass
class RankResult:
    """Spearman correlation of each input with the output, per period."""

    inputs: list[str]
    periods: list[str]
    rho: np.ndarray  # (inputs, periods)

    @property
    def share(self) -> np.ndarray:
        """rho^2 normalised over inputs per period: an approximate share of explained variance."""
        r2 = self.rho**2
        tot = r2.sum(axis=0, keepdims=True)
        return np.divide(r2, tot, out=np.zeros_like(r2), where=tot > 0)

    def frame(self, period: str) -> pd.DataFrame:
        """One period's correlations and shares, strongest first."""
        p = self.periods.index(period)
        df = pd.DataFrame({"input": self.inputs, "spearman": self.rho[:, p], "share": self.share[:, p]})
        df["period"] = period
        return df.reindex(df["spearman"].abs().sort_values(ascending=False).index).reset_index(drop=True)

    def over_time(self) -> pd.DataFrame:
        """Every input x period as a tidy table."""
        return pd.DataFrame({
            "input": np.repeat(self.inputs, len(self.periods)),
            "period": np.tile(self.periods, len(self.inputs)),
            "spearman": self.rho.reshape(-1),
            "share": self.share.reshape(-1),
        })


def rank_sensitivity(ev: Evaluator, draws: int = 1000, inputs: list[str] | None = None) -> RankResult:
    """Spearman correlation of each recorded input with the output in every period (plain run)."""
    y, rec = ev.run(np.arange(draws))
    names = [k for k in (inputs or list(rec)) if k in rec]
    rho = rank_correlations({k: rec[k] for k in names}, y)
    return RankResult(names, list(ev.periods), rho)


# ---------------------------------------------------------------------------- (c) Sobol
def sobol_analysis(model: Any, names: list[str], n_base: int = 256, seed: int = 0,
                   num_resamples: int = 200, conf_level: float = 0.95) -> pd.DataFrame:
    """First-order and total Sobol indices (with confidence half-widths) by Saltelli sampling.

    `model(U)` maps an (n, k) array of uniforms (one column per name, in order) to n
    outputs. Inputs are the uniforms themselves: each input's distribution is its inverse
    CDF of that uniform, which leaves Sobol indices unchanged.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    k = len(names)
    if k == 0:
        return pd.DataFrame(columns=["input", "S1", "S1_conf", "ST", "ST_conf"])
    if n_base < 2 or n_base & (n_base - 1):
        raise ScenarioError(f"Sobol base sample size must be a power of 2, got {n_base}")
    problem = {"num_vars": k, "names": list(names), "bounds": [[0.0, 1.0]] * k}
    U = sobol_sample.sample(problem, n_base, calc_second_order=False, scramble=True, seed=seed)
    U = np.clip(U, 1e-9, 1.0 - 1e-9)
    Y = np.asarray(model(U), dtype=float).reshape(-1)
    if not np.isfinite(Y).all():
        raise ScenarioError("the output is not finite for some Sobol sample points")
    if np.var(Y) <= 0:
        z = np.zeros(k)
        warnings.warn("the output does not vary: Sobol indices are all zero", stacklevel=2)
        return pd.DataFrame({"input": names, "S1": z, "S1_conf": z, "ST": z, "ST_conf": z})
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        si = sobol_analyze.analyze(problem, Y, calc_second_order=False, num_resamples=num_resamples,
                                   conf_level=conf_level, print_to_console=False, seed=seed)
    return pd.DataFrame({"input": names, "S1": si["S1"], "S1_conf": si["S1_conf"],
                         "ST": si["ST"], "ST_conf": si["ST_conf"]})


def sobol_indices(ev: Evaluator, inputs: list[str], period: str | None = None, n_base: int = 256,
                  num_resamples: int = 200, conf_level: float = 0.95) -> pd.DataFrame:
    """Sobol indices of the scenario output in one period over its uncertain inputs.

    Each Saltelli row pins the uniforms of all `inputs`. The rows of one Saltelli block
    (A, the k mixed rows, B) share a draw id, so randomness that is not a named input
    (yearly reimbursement rounds) is held common within a block; what it adds to the
    output's variance shows up as 1 - sum(S1) rather than in any input's index.
    """
    p = ev.period_index(period)
    k = len(inputs)

    def model(U: np.ndarray) -> np.ndarray:
        ids = np.repeat(np.arange(U.shape[0] // (k + 2)), k + 2)
        y, _ = ev.run(ids, {name: U[:, j] for j, name in enumerate(inputs)})
        return y[:, p]

    df = sobol_analysis(model, inputs, n_base=n_base, seed=ev.seed, num_resamples=num_resamples,
                        conf_level=conf_level)
    df["period"] = ev.periods[p]
    return df.sort_values("ST", ascending=False, key=lambda s: s.fillna(-1)).reset_index(drop=True)


# ---------------------------------------------------------------------------- all together
@dataclass
class SensitivityReport:
    """Tornado, rank correlations and (optionally) Sobol indices of one output in one period."""

    output: str
    period: str
    inputs: list[str]
    tornado: pd.DataFrame
    ranks: RankResult
    sobol: pd.DataFrame | None
    money: bool = True  # the output is money

    def top(self, n: int = 10) -> pd.DataFrame:
        """Inputs ranked by |tornado swing|, with Spearman rho and Sobol ST where computed."""
        df = self.tornado[["input", "swing", "mean_swing", "value_low_text", "value_high_text"]].copy()
        r = self.ranks.frame(self.period).set_index("input")["spearman"]
        df["spearman"] = df["input"].map(r)
        if self.sobol is not None:
            sob = self.sobol.set_index("input")
            df["S1"] = df["input"].map(sob["S1"])
            df["ST"] = df["input"].map(sob["ST"])
        return df.head(n)


def sensitivity(scenario: str | Path | LoadedScenario | Scenario, *, metric: str = "revenue",
                by: str = "total", group: str | None = None, filters: dict[str, list[str]] | None = None,
                freq: str | None = None, period: str | None = None, draws: int = 500, seed: int = 0,
                sobol_n: int | None = 256) -> SensitivityReport:
    """Tornado, Spearman, Sobol and over-time sensitivity of one output (sim.report.folders
    writes them as CSV and charts)."""
    if draws < 2:
        raise ScenarioError(f"--draws must be at least 2, got {draws}")
    ev = Evaluator(as_scenario(scenario), Measure(metric, by, group, filters, freq), seed=seed)
    pi = ev.period_index(period)
    per = ev.periods[pi]
    inputs = ev.uncertain_inputs()
    tor = tornado(ev, inputs, per, draws)
    ranks = rank_sensitivity(ev, draws, inputs)
    sob = sobol_indices(ev, inputs, per, n_base=sobol_n) if sobol_n and inputs else None
    return SensitivityReport(ev.output.describe(), per, inputs, tor, ranks, sob, is_money(metric))



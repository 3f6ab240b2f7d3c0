"""Which uncertain inputs matter: tornado swings, rank correlations, Sobol indices and
sensitivity over time.

Every uncertain input of a scenario is sampled from a uniform named by its field path
(``indications.LBCL_3L.uptake.ceiling``), so an input can be held at a chosen quantile by
pinning its uniform (``simulate_batch(..., pinned={name: u})``) while everything else is
sampled with the same seed (common random numbers). Yes/no gates (names ending
``.fires``) are analysed through their uniform; the gate fires when the uniform is below
the probability, so the gate's value is *decreasing* in its uniform: holding a gate at
its P10 pins the uniform at 0.9 (does not fire unless very likely), at P90 pins it at 0.1.

Sampling stays in memory: an :class:`Evaluator` runs batches of draws with
``simulate_batch`` and reduces each batch to the one output analysed (a metric summed
over one group, per period) exactly as ``Results.grouped`` would from a results folder.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.batch import simulate_batch
from sim.engine.outputs import BatchOutput
from sim.engine.structure import Structure, build_structure
from sim.errors import ScenarioError, did_you_mean
from sim.results.folder import memory_results
from sim.scenario import LoadedScenario, Scenario, load_scenario

GATE_SUFFIX = ".fires"


# ---------------------------------------------------------------------------- evaluation
@dataclass
class Output:
    """The output analysed: `metric` summed over `group` of grouping `by` (after `filters`)."""

    metric: str = "revenue"
    by: str = "total"
    group: str | None = None
    filters: dict[str, list[str]] | None = None
    freq: str | None = None

    def describe(self) -> str:
        flt = "".join(f", {k}={'/'.join(v)}" for k, v in (self.filters or {}).items())
        return f"{self.metric} ({self.group or 'total'}{flt})"


def as_scenario(scenario: str | Path | LoadedScenario | Scenario) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, LoadedScenario):
        return scenario.scenario
    return load_scenario(scenario).scenario


@dataclass
class Evaluator:
    """Runs draws of one scenario in memory and returns one output per draw and period."""

    scenario: Scenario
    output: Output = field(default_factory=Output)
    seed: int = 0
    batch_size: int | None = None

    def __post_init__(self) -> None:
        from sim.runner.batches import default_batch_size

        self.st: Structure = build_structure(self.scenario)
        self.batch_size = self.batch_size or default_batch_size(self.st, 100_000, 1)
        probe = self._simulate(np.arange(2), None)
        groups, self.periods, _ = self._group(probe)
        out = self.output
        if out.group is None:
            if len(groups) != 1:
                raise ScenarioError(f"grouping by {out.by} gives {len(groups)} groups; choose one with "
                                    f"--group ({', '.join(groups)})")
            out.group = groups[0]
        elif out.group not in groups:
            raise ScenarioError(f"--group {out.group!r} is not a {out.by} of scenario "
                                f"'{self.scenario.name}'{did_you_mean(out.group, groups)}; "
                                f"choose one of {', '.join(groups)}")
        self.group_index = groups.index(out.group)

    def _simulate(self, draw_ids: np.ndarray, pinned: dict[str, np.ndarray] | None) -> BatchOutput:
        return simulate_batch(self.st, self.seed, draw_ids, None, pinned)

    def _group(self, out: BatchOutput) -> tuple[list[str], list[str], np.ndarray]:
        o = self.output
        return memory_results(self.st, out).grouped(o.metric, o.by, filters=o.filters, freq=o.freq)

    def period_index(self, period: str | None) -> int:
        from sim.results.folder import period_index

        return period_index(self.periods, period)

    def run(self, draw_ids: np.ndarray, pinned: dict[str, np.ndarray] | None = None
            ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(output (n, periods), recorded uncertain inputs {name: (n,)}) for the given draws.

        `pinned` maps input names to uniforms, one per draw (or a scalar for all draws).
        """
        ids = np.asarray(draw_ids, dtype=np.int64)
        n = ids.size
        pins = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in (pinned or {}).items()}
        ys, rec = [], []
        bs = int(self.batch_size or n)
        for a in range(0, n, bs):
            sl = slice(a, min(a + bs, n))
            out = self._simulate(ids[sl], {k: np.ascontiguousarray(v[sl]) for k, v in pins.items()})
            ys.append(self._group(out)[2][:, self.group_index, :])
            rec.append(out.inputs)
        y = np.concatenate(ys, axis=0) if ys else np.zeros((0, len(self.periods)))
        names = list(rec[0]) if rec else []
        inputs = {k: np.concatenate([r[k] for r in rec]) for k in names}
        return y, inputs

    def uncertain_inputs(self, n: int = 8) -> list[str]:
        """Names of the uncertain inputs, from a dry run of `n` draws (engine order)."""
        return list(self._simulate(np.arange(n), None).inputs)


def is_gate(name: str) -> bool:
    return name.endswith(GATE_SUFFIX)


def pin_uniform(name: str, q: float) -> float:
    """The uniform that puts input `name` at its q-quantile (gates are decreasing in u)."""
    return 1.0 - q if is_gate(name) else q


def format_value(name: str, v: float) -> str:
    """An input value for people: months as YYYY-MM, gates as yes/no."""
    from sim.periods import ordinal_to_str

    if not np.isfinite(v):
        return str(v)
    if is_gate(name):
        return "fires" if v >= 0.5 else "does not fire"
    if name.endswith(".date") or name.endswith("upfront_date"):
        return ordinal_to_str(int(np.floor(v)))
    return f"{v:.4g}"


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
            "value_low_text": format_value(name, v_lo), "value_high_text": format_value(name, v_hi),
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
        p = self.periods.index(period)
        df = pd.DataFrame({"input": self.inputs, "spearman": self.rho[:, p], "share": self.share[:, p]})
        df["period"] = period
        return df.reindex(df["spearman"].abs().sort_values(ascending=False).index).reset_index(drop=True)

    def over_time(self) -> pd.DataFrame:
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


# ---------------------------------------------------------------------------- charts
def _short(name: str, width: int = 60) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def plot_tornado(df: pd.DataFrame, *, ax: Any = None, top: int = 15, title: str | None = None,
                 money: bool = True) -> Any:
    """Tornado chart: bars from the base median to the output with each input at P10 / P90."""
    from sim.plots import _money_formatter, _mpl

    plt = _mpl()
    d = df.head(top).iloc[::-1]
    labels = [f"{_short(r.input)}\n[{r.value_low_text} → {r.value_high_text}]" for r in d.itertuples()]
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.5 * max(len(d), 3) + 1.4))
    base = float(df["base_median"].iloc[0]) if len(df) else 0.0
    y = np.arange(len(d))
    lo_q = int(round(100 * float(df["low_quantile"].iloc[0]))) if len(df) else 10
    hi_q = int(round(100 * float(df["high_quantile"].iloc[0]))) if len(df) else 90
    ax.barh(y, d["output_low"] - base, left=base, color="C0", alpha=0.8, label=f"input at P{lo_q}")
    ax.barh(y, d["output_high"] - base, left=base, color="C3", alpha=0.8, label=f"input at P{hi_q}")
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(y, labels, fontsize=7)
    if money:
        ax.xaxis.set_major_formatter(_money_formatter(""))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "Tornado: median output with each input at P10 / P90", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_sobol(df: pd.DataFrame, *, ax: Any = None, top: int = 15, title: str | None = None) -> Any:
    from sim.plots import _mpl

    plt = _mpl()
    d = df.head(top).iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.4 * max(len(d), 3) + 1.4))
    y = np.arange(len(d))
    ax.barh(y + 0.2, d["ST"], height=0.4, xerr=d["ST_conf"], color="C1", label="total (ST)")
    ax.barh(y - 0.2, d["S1"], height=0.4, xerr=d["S1_conf"], color="C0", label="first order (S1)")
    ax.set_yticks(y, [_short(n) for n in d["input"]], fontsize=7)
    ax.set_xlim(min(0.0, float(np.nanmin(d["S1"] - d["S1_conf"])) if len(d) else 0.0), 1.05)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "Sobol indices (bars: 95 % confidence)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


def plot_over_time(rr: RankResult, *, ax: Any = None, top: int = 20, title: str | None = None) -> Any:
    """Heat map, inputs x periods, of each input's share of rank-explained variance (sign of rho as text)."""
    from sim.plots import _mpl

    plt = _mpl()
    share = rr.share
    order = np.argsort(-share.max(axis=1) if share.size else np.zeros(0), kind="stable")[:top]
    S, R = share[order], rr.rho[order]
    names = [rr.inputs[i] for i in order]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rr.periods) + 4), 0.35 * max(len(names), 3) + 1.6))
    im = ax.imshow(S, aspect="auto", cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(np.arange(len(rr.periods)), rr.periods, fontsize=7, rotation=90 if len(rr.periods) > 16 else 0)
    ax.set_yticks(np.arange(len(names)), [_short(n) for n in names], fontsize=7)
    if S.size and S.shape[0] * S.shape[1] <= 600:
        for i in range(S.shape[0]):
            for j in range(S.shape[1]):
                if abs(R[i, j]) >= 0.05:
                    ax.text(j, i, f"{R[i, j]:+.2f}", ha="center", va="center", fontsize=5.5,
                            color="white" if S[i, j] > 0.55 else "black")
    ax.figure.colorbar(im, ax=ax, label="share of rank-explained variance (ρ² normalised)")
    ax.set_title(title or "Sensitivity over time (text: Spearman ρ)", fontsize=10)
    ax.figure.tight_layout()
    return ax.figure


# ---------------------------------------------------------------------------- all together
@dataclass
class SensitivityReport:
    output: str
    period: str
    inputs: list[str]
    tornado: pd.DataFrame
    ranks: RankResult
    sobol: pd.DataFrame | None
    files: list[Path] = field(default_factory=list)

    def top(self, n: int = 10) -> pd.DataFrame:
        """Inputs ranked by |tornado swing|, with Spearman rho and Sobol ST where computed."""
        df = self.tornado[["input", "swing", "mean_swing", "value_low_text", "value_high_text"]].copy()
        r = self.ranks.frame(self.period).set_index("input")["spearman"]
        df["spearman"] = df["input"].map(r)
        if self.sobol is not None:
            st = self.sobol.set_index("input")
            df["S1"] = df["input"].map(st["S1"])
            df["ST"] = df["input"].map(st["ST"])
        return df.head(n)


def sensitivity(scenario: str | Path | LoadedScenario | Scenario, *, metric: str = "revenue",
                by: str = "total", group: str | None = None, filters: dict[str, list[str]] | None = None,
                freq: str | None = None, period: str | None = None, draws: int = 500, seed: int = 0,
                sobol_n: int | None = 256, out: str | Path | None = None, top: int = 15) -> SensitivityReport:
    """Tornado, Spearman, Sobol and over-time sensitivity of one output; writes CSV/PNG to `out`."""
    if draws < 2:
        raise ScenarioError(f"--draws must be at least 2, got {draws}")
    ev = Evaluator(as_scenario(scenario), Output(metric, by, group, filters, freq), seed=seed)
    pi = ev.period_index(period)
    per = ev.periods[pi]
    inputs = ev.uncertain_inputs()
    tor = tornado(ev, inputs, per, draws)
    ranks = rank_sensitivity(ev, draws, inputs)
    sob = sobol_indices(ev, inputs, per, n_base=sobol_n) if sobol_n and inputs else None
    rep = SensitivityReport(ev.output.describe(), per, inputs, tor, ranks, sob)
    if out is not None:
        rep.files = write_report(rep, Path(out), top=top, money=metric in _money_metrics())
    return rep


def _money_metrics() -> set[str]:
    from sim.plots import MONEY

    return set(MONEY)


def write_report(rep: SensitivityReport, folder: Path, top: int = 15, money: bool = True) -> list[Path]:
    from sim.io import atomic_write
    from sim.plots import save_figure

    folder.mkdir(parents=True, exist_ok=True)
    files = []

    def csv(df: pd.DataFrame, name: str) -> None:
        files.append(atomic_write(folder / name, lambda tmp: df.to_csv(tmp, index=False, float_format="%.6g")))

    csv(rep.tornado, "tornado.csv")
    csv(rep.ranks.frame(rep.period), "spearman.csv")
    csv(rep.ranks.over_time(), "sensitivity_over_time.csv")
    what = f"{rep.output}, {rep.period}"
    files.append(save_figure(plot_tornado(rep.tornado, top=top, money=money,
                                          title=f"Tornado — {what}\nmedian output with each input at P10 / P90, others sampled"),
                             folder / "tornado.png"))
    files.append(save_figure(plot_over_time(rep.ranks, top=top, title=f"Sensitivity over time — {rep.output}"),
                             folder / "sensitivity_over_time.png"))
    if rep.sobol is not None:
        csv(rep.sobol, "sobol.csv")
        files.append(save_figure(plot_sobol(rep.sobol, top=top, title=f"Sobol indices — {what}"),
                                 folder / "sobol.png"))
    return files

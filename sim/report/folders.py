"""The folders that `sim compare`, `sim sensitivity` and `sim converge` write: CSV tables for
spreadsheets and the charts that go with them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.analysis.compare import Comparison, comparison_table
from sim.analysis.convergence import ConvergenceResult
from sim.analysis.sensitivity import SensitivityReport
from sim.io import atomic_write
from sim.plots.base import save_figure
from sim.plots.compare import plot_difference, plot_side_by_side
from sim.plots.convergence import plot_convergence
from sim.plots.sensitivity import plot_over_time, plot_sobol, plot_tornado


def _csv(df: pd.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False, float_format="%.6g"))


def write_comparison(cmp: Comparison, folder: str | Path, period: str | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """comparison.csv, difference fan chart(s) and side-by-side fan charts into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    df = comparison_table(cmp, period)
    files = [_csv(df, folder / "comparison.csv")]
    for k in range(1, len(cmp.arrays)):
        name = "difference.png" if len(cmp.arrays) == 2 else f"difference_{k}.png"
        files.append(save_figure(plot_difference(cmp, k), folder / name))
    files.append(save_figure(plot_side_by_side(cmp), folder / "side_by_side.png"))
    return df, files


def write_sensitivity(rep: SensitivityReport, folder: Path, top: int = 15) -> list[Path]:
    """tornado.csv, spearman.csv, sensitivity_over_time.csv (and sobol.csv) with their charts."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []

    def csv(df: pd.DataFrame, name: str) -> None:
        files.append(_csv(df, folder / name))

    csv(rep.tornado, "tornado.csv")
    csv(rep.ranks.frame(rep.period), "spearman.csv")
    csv(rep.ranks.over_time(), "sensitivity_over_time.csv")
    what = f"{rep.output}, {rep.period}"
    files.append(save_figure(plot_tornado(rep.tornado, top=top, money=rep.money,
                                          title=f"Tornado — {what}\nmedian output with each input at P10 / P90, others sampled"),
                             folder / "tornado.png"))
    files.append(save_figure(plot_over_time(rep.ranks, top=top, title=f"Sensitivity over time — {rep.output}"),
                             folder / "sensitivity_over_time.png"))
    if rep.sobol is not None:
        csv(rep.sobol, "sobol.csv")
        files.append(save_figure(plot_sobol(rep.sobol, top=top, title=f"Sobol indices — {what}"),
                                 folder / "sobol.png"))
    return files


def write_convergence(res: ConvergenceResult, folder: Path) -> list[Path]:
    """convergence.csv (one row per checkpoint) and convergence.png."""
    folder.mkdir(parents=True, exist_ok=True)
    h = res.history.assign(period=res.period, quantile=res.q, output=res.output)
    what = f"{res.output}, P{round(100 * res.q)} in {res.period}"
    state = "converged" if res.converged else "NOT converged"
    return [_csv(h, folder / "convergence.csv"),
            save_figure(plot_convergence(res, money=res.money,
                                         title=f"{what}: {state} after {res.draws} draws (seed {res.seed})"),
                        folder / "convergence.png")]

"""Sensitivity: Sobol indices against analytic shares, tornado swings against closed forms,
rank correlations, gates, and agreement of the in-memory evaluator with a written run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import base_scenario, example_scenario, load_dict, write_scenario

from sim import run
from sim.analysis.evaluator import Evaluator, Measure
from sim.analysis.sensitivity import (
    rank_correlations,
    rank_sensitivity,
    sensitivity,
    sobol_analysis,
    sobol_indices,
    tornado,
)
from sim.cli import build_parser
from sim.errors import ScenarioError
from sim.results import Results

PRICE = "products.A.regions.US.price"
COGS = "products.A.cogs"
P_LO, P_HI = 90_000.0, 110_000.0
C_LO, C_HI = 40_000.0, 50_000.0


def additive() -> dict:
    """Fixed volumes; gross profit = infused x (price - cogs) with two independent uniform inputs."""
    d = base_scenario()
    d["products"]["A"]["regions"]["US"]["price"] = {"dist": "uniform", "min": P_LO, "max": P_HI}
    d["products"]["A"]["cogs"] = {"dist": "uniform", "min": C_LO, "max": C_HI}
    return d


@pytest.fixture(scope="module")
def add_ev(tmp_path_factory: pytest.TempPathFactory) -> Evaluator:
    scn = load_dict(tmp_path_factory.mktemp("sens"), additive())
    return Evaluator(scn, Measure("gross_profit"), seed=5)


def test_sobol_wrapper_matches_analytic_linear_function():
    a, b = 3.0, 1.0  # Y = a X1 + b X2 + 0 X3, X uniform: S_i = a_i^2 / sum a_j^2, no interactions
    df = sobol_analysis(lambda U: a * U[:, 0] + b * U[:, 1], ["x1", "x2", "x3"], n_base=1024, seed=1)
    s = df.set_index("input")
    assert s.loc["x1", "S1"] == pytest.approx(0.9, abs=0.03)
    assert s.loc["x2", "S1"] == pytest.approx(0.1, abs=0.03)
    assert s.loc["x1", "ST"] == pytest.approx(0.9, abs=0.03)
    assert s.loc["x2", "ST"] == pytest.approx(0.1, abs=0.03)
    assert abs(s.loc["x3", "S1"]) < 0.02 and s.loc["x3", "ST"] < 0.01
    assert (s["S1_conf"] > 0).all() or s.loc["x3", "S1_conf"] == 0


def test_sobol_wrapper_matches_ishigami_with_interactions():
    a, b = 7.0, 0.1  # Ishigami, X_i ~ U(-pi, pi): known first-order and total indices

    def f(U: np.ndarray) -> np.ndarray:
        x = np.pi * (2 * U - 1)
        return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])

    s = sobol_analysis(f, ["x1", "x2", "x3"], n_base=2048, seed=2).set_index("input")
    np.testing.assert_allclose(s["S1"], [0.3139, 0.4424, 0.0], atol=0.04)
    np.testing.assert_allclose(s["ST"], [0.5576, 0.4424, 0.2437], atol=0.04)


def test_sobol_indices_of_additive_scenario_match_variance_shares(add_ev):
    assert sorted(add_ev.uncertain_inputs()) == sorted([PRICE, COGS])
    v_price, v_cogs = (P_HI - P_LO) ** 2, (C_HI - C_LO) ** 2  # uniform variance ∝ width^2
    df = sobol_indices(add_ev, [PRICE, COGS], "2022", n_base=256).set_index("input")
    assert df.loc[PRICE, "S1"] == pytest.approx(v_price / (v_price + v_cogs), abs=0.05)  # 0.8
    assert df.loc[COGS, "S1"] == pytest.approx(v_cogs / (v_price + v_cogs), abs=0.05)  # 0.2
    assert df.loc[PRICE, "ST"] == pytest.approx(0.8, abs=0.05)
    assert df.loc[COGS, "ST"] == pytest.approx(0.2, abs=0.05)
    assert df.index[0] == PRICE  # sorted by total index


def test_tornado_swings_match_closed_form(add_ev):
    y, _ = add_ev.run(np.arange(3), {PRICE: 0.5, COGS: 0.5})
    volume = y[0, -1] / ((P_LO + P_HI) / 2 - (C_LO + C_HI) / 2)  # patients infused in 2022 (fixed)
    df = tornado(add_ev, [PRICE, COGS], "2022", draws=50).set_index("input")
    assert df.loc[PRICE, "value_low"] == pytest.approx(P_LO + 0.1 * (P_HI - P_LO))
    assert df.loc[PRICE, "value_high"] == pytest.approx(P_LO + 0.9 * (P_HI - P_LO))
    assert df.loc[PRICE, "swing"] == pytest.approx(volume * 0.8 * (P_HI - P_LO), rel=1e-9)
    assert df.loc[COGS, "swing"] == pytest.approx(-volume * 0.8 * (C_HI - C_LO), rel=1e-9)
    assert df.loc[PRICE, "mean_swing"] == pytest.approx(df.loc[PRICE, "swing"], rel=1e-9)
    assert df.index[0] == PRICE


def test_rank_correlations_signs_and_over_time(add_ev):
    rr = rank_sensitivity(add_ev, draws=400)
    assert rr.rho.shape == (2, len(add_ev.periods))
    i_p, i_c = rr.inputs.index(PRICE), rr.inputs.index(COGS)
    assert np.all(rr.rho[i_p] > 0.8) and np.all(rr.rho[i_c] < -0.3)
    assert np.allclose(rr.share.sum(axis=0), 1.0)
    # ranks of a nearly additive output: shares close to the variance shares
    assert rr.share[i_p, -1] == pytest.approx(0.8, abs=0.07)
    t = rr.over_time()
    assert len(t) == 2 * len(add_ev.periods) and set(t.columns) >= {"input", "period", "spearman", "share"}


def test_rank_correlations_handle_constant_columns():
    x = {"a": np.arange(10.0), "const": np.ones(10)}
    y = np.column_stack([np.arange(10.0) ** 3, np.zeros(10)])
    rho = rank_correlations(x, y)
    assert rho[0, 0] == pytest.approx(1.0) and rho[1, 0] == 0.0 and np.all(rho[:, 1] == 0.0)


def test_gate_pinned_at_p10_does_not_fire_and_at_p90_fires(tmp_path):
    ev = Evaluator(load_dict(tmp_path, example_scenario()), Measure("revenue", "product", "Ciltacel"), seed=0)
    gate = "products.Ciltacel.regions.US.launches.MM_5L.fires"  # probability 0.85
    assert gate in ev.uncertain_inputs()
    df = tornado(ev, [gate], "2030", draws=40).set_index("input")
    assert df.loc[gate, "value_low"] == 0.0 and df.loc[gate, "value_high"] == 1.0
    assert df.loc[gate, "output_low"] == 0.0 and df.loc[gate, "output_high"] > 1e8
    assert df.loc[gate, "value_low_text"] == "does not fire"


def test_evaluator_agrees_with_a_written_run(tmp_path):
    path = write_scenario(tmp_path, example_scenario())
    res = Results(run(path, draws=30, seed=2, out=tmp_path / "r", summarize=False))
    groups, periods, arr = res.grouped("revenue", "product")
    ev = Evaluator(load_dict(tmp_path, example_scenario(), "again.yaml"), Measure("revenue", "product", "Axicel"), seed=2)
    y, rec = ev.run(np.arange(30))
    assert ev.periods == periods
    np.testing.assert_allclose(y, arr[:, groups.index("Axicel"), :], rtol=1e-6)
    inputs = res.table("inputs")
    np.testing.assert_allclose(rec["regions.China.fx"], inputs["regions.China.fx"].to_numpy())


def test_output_selection_errors(tmp_path):
    scn = load_dict(tmp_path, example_scenario())
    with pytest.raises(ScenarioError, match="choose one with --group"):
        Evaluator(scn, Measure("revenue", "product"))
    with pytest.raises(ScenarioError, match="did you mean 'Axicel'"):
        Evaluator(scn, Measure("revenue", "product", "Axcel"))
    ev = Evaluator(scn, Measure("revenue"))
    with pytest.raises(ScenarioError, match="not a reported period"):
        ev.period_index("2045")


def test_sensitivity_report_files(tmp_path):
    path = write_scenario(tmp_path, additive())
    from sim.report.folders import write_sensitivity

    rep = sensitivity(path, metric="gross_profit", period="2022", draws=40, sobol_n=32)
    names = {f.name for f in write_sensitivity(rep, tmp_path / "out")}
    assert names == {"tornado.csv", "tornado.png", "spearman.csv", "sensitivity_over_time.csv",
                     "sensitivity_over_time.png", "sobol.csv", "sobol.png"}
    top = rep.top(5)
    assert top["input"].iloc[0] == PRICE and {"spearman", "S1", "ST"} <= set(top.columns)


def test_cli_sensitivity(tmp_path, capsys):
    path = write_scenario(tmp_path, additive())
    ap = build_parser()
    out = tmp_path / "s"
    args = ap.parse_args(["sensitivity", str(path), "--metric", "gross_profit", "--period", "2022",
                          "--draws", "30", "--sobol-n", "0", "--out", str(out)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert PRICE in text and "swing" in text
    assert not (out / "sobol.csv").exists() and (out / "tornado.png").exists()
    df = pd.read_csv(out / "tornado.csv")
    assert df["input"].iloc[0] == PRICE
    bad = ap.parse_args(["sensitivity", str(path), "--sobol-n", "100", "--out", str(out)])
    with pytest.raises(ScenarioError, match="power of 2"):
        bad.func(bad)


def test_single_panel_charts_draw_into_a_given_axis(add_ev):
    """A chart of one panel takes an `ax` (to sit in a user's figure) and returns its figure."""
    from sim.analysis.decile import decile_tornado
    from sim.plots.base import pyplot
    from sim.plots.sensitivity import plot_decile_tornado, plot_over_time, plot_tornado

    plt = pyplot()
    y, inputs = add_ev.run(np.arange(200))
    charts = {
        "tornado": lambda ax: plot_tornado(tornado(add_ev, [PRICE, COGS], "2022", draws=30), ax=ax),
        "over time": lambda ax: plot_over_time(rank_sensitivity(add_ev, draws=100), ax=ax),
        "decile": lambda ax: plot_decile_tornado(decile_tornado(pd.DataFrame(inputs), y[:, -1]), ax=ax),
    }
    for name, draw in charts.items():
        fig, (left, right) = plt.subplots(1, 2)
        assert draw(right) is fig, name
        assert right.has_data() and not left.has_data(), name
        plt.close(fig)

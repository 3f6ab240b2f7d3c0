"""sim backtest (issue 13, part 4): scores of held-back years against naive baselines.

Checked: the baselines' arithmetic (persistence, trend, a Bass curve through the past); the
scores of a known ensemble (coverage, PIT, CRPS equal to the absolute error for a point); only
products selling at the origin are scored, only after it; the command writes its tables and
chart and refuses bad origins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import make_actuals, small_scenario

from sim.analysis.backtest import (
    BASS_P,
    BASS_Q,
    BacktestOrigin,
    baselines,
    parse_origin,
    score_origin,
    summary,
)
from sim.cli import main


def test_baselines_extrapolate_the_products_past() -> None:
    hist = {2019: 100.0, 2020: 150.0}
    b = baselines(hist, [2021, 2022])
    assert b["persistence"] == {2021: 150.0, 2022: 150.0}
    assert b["trend"] == {2021: 200.0, 2022: 250.0}
    # Bass: a curve of the stated p, q from the first year with sales, its size fitted to the past
    def F(x):
        e = np.exp(-(BASS_P + BASS_Q) * x)
        return (1 - e) / (1 + BASS_Q / BASS_P * e)

    share = np.array([F(1) - F(0), F(2) - F(1)])
    m = (share @ np.array([100.0, 150.0])) / (share @ share)
    assert b["bass"][2022] == pytest.approx(m * (F(4) - F(3)))
    assert baselines({2019: 300.0, 2020: 100.0}, [2023])["trend"][2023] == 0.0  # never below zero


def test_scores_of_a_known_ensemble() -> None:
    actuals = pd.DataFrame({"product": ["A"] * 4 + ["B"] * 2, "year": [2019, 2020, 2021, 2022, 2021, 2022],
                            "value": [10.0, 20.0, 30.0, 45.0, 5.0, 9.0]})
    ens = np.linspace(20.0, 40.0, 101)
    fans = {"A": {"2021": ens, "2022": np.full(101, 40.0)}, "B": {"2021": ens, "2022": ens}}
    s = score_origin(BacktestOrigin("x.yaml", "2020-12"), fans, actuals)
    assert list(zip(s["product"], s["year"], strict=True)) == [("A", 2021), ("A", 2022)]  # B: not selling in 2020
    r21, r22 = s.iloc[0], s.iloc[1]
    assert r21["in_p10_p90"] and r21["pit"] == pytest.approx(0.5, abs=0.01)
    assert not r22["in_p10_p90"] and r22["pit"] == 1.0
    assert r22["crps"] == pytest.approx(5.0) and r22["scaled_crps"] == pytest.approx(5.0 / 45.0)
    assert r21["scaled_crps_persistence"] == pytest.approx(10.0 / 30.0)
    t = summary(s)
    assert t.loc[0, "cover_p10_p90"] == 0.5 and t.loc[0, "product_years"] == 2


@pytest.mark.parametrize("bad", ["@2020-12", "scenarios/x.yaml@2020-13"])
def test_a_bad_origin_is_refused(bad) -> None:
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="origin"):
        parse_origin(bad)


def test_an_origin_takes_its_month_from_the_scenarios_as_of() -> None:
    from sim.errors import ScenarioError

    bare = parse_origin("scenarios/x.yaml")
    assert bare.month == "" and bare.known_as_of("2020-12") == BacktestOrigin("scenarios/x.yaml", "2020-12", "2020-12")
    assert not bare.known_as_of("2020-12").in_sample
    with pytest.raises(ScenarioError, match="states no as_of"):
        bare.known_as_of(None)
    dated = parse_origin("scenarios/x.yaml@2019-12")
    assert dated.known_as_of("2022-11").in_sample  # the scenario knows three years past the origin
    assert dated.known_as_of(None).in_sample  # nothing says what it knows
    assert not dated.known_as_of("2019-06").in_sample


def test_the_command_fits_forecasts_and_scores_each_origin(tmp_path, capsys) -> None:
    scn = small_scenario(tmp_path)
    actuals = make_actuals(tmp_path, scn, {"indications.X.uptake.ceiling": 0.55, "indications.X.uptake.q": 0.45})
    out = tmp_path / "bt"
    as_of = tmp_path / "asof.yaml"  # the same landscape, stated as known at 2021-12
    as_of.write_text(f"extends: {scn.name}\nname: asof\nas_of: 2021-12\n")
    code = main(["backtest", "--origin", str(as_of), "--origin", f"{scn}@2022-12", "--actuals", str(actuals),
                 "--inputs", "indications.X.uptake.ceiling", "--draws", "200", "--population", "150",
                 "--generations", "3", "--out", str(out)])
    captured = capsys.readouterr()
    text = captured.out
    assert code == 0, text
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["origin"]) == {"2021-12", "2022-12"}
    assert set(scores.loc[scores["in_sample"], "origin"]) == {"2022-12"}  # no as_of: it may know the future
    assert "in-sample, not forecast skill" in captured.err and "(in-sample)" in text
    assert (scores["year"] > scores["origin"].str[:4].astype(int)).all()
    table = pd.read_csv(out / "summary.csv")
    assert list(table["origin"]) == ["2021-12", "2022-12", "all"]
    assert (out / "backtest.png").stat().st_size > 10_000
    assert (out / "2021-12" / "fit" / "posterior.csv").is_file()
    assert "P10-P90" in text and "all" in text
    # a second backtest into the same folder needs --force, and --force replaces only a backtest folder
    assert main(["backtest", "--origin", f"{scn}@2021-12", "--actuals", str(actuals), "--out", str(out)]) == 2
    mine = tmp_path / "mine"
    mine.mkdir()
    assert main(["backtest", "--origin", f"{scn}@2021-12", "--actuals", str(actuals), "--out", str(mine),
                 "--force"]) == 2
    assert mine.is_dir()


def test_the_backtest_sets_the_discrepancy_scale_by_crps(tmp_path, capsys) -> None:
    scn = small_scenario(tmp_path)
    actuals = make_actuals(tmp_path, scn, {"indications.X.uptake.ceiling": 0.55, "indications.X.uptake.q": 0.45})
    out = tmp_path / "bt"
    code = main(["backtest", "--origin", f"{scn}@2021-12", "--actuals", str(actuals), "--discrepancy", "0.6,0",
                 "--draws", "300", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    scores = pd.read_csv(out / "scores.csv")
    assert sorted(set(scores["discrepancy"])) == [0.0, 0.6]
    table = pd.read_csv(out / "summary.csv")
    assert table["chosen"].sum() == 1
    best = table.loc[table["scaled_crps"].idxmin(), "discrepancy"]
    assert table.loc[table["chosen"], "discrepancy"].item() == best
    # the truth is a draw of the model itself, so adding a 60 %/year drift can only blur the forecast
    assert best == 0.0 and f"discrepancy scale chosen: {best:g}" in text
    variant = yaml.safe_load((out / "2021-12" / "d0.6" / "scenario.yaml").read_text())
    assert variant["discrepancy"] == {"scale": 0.6, "start": "2021-12"}  # the walk starts at the origin
    from sim.results import Results

    def revenue(scale):
        _, periods, arr = Results(out / "2021-12" / f"d{scale}" / "run").grouped("revenue", by="product", freq="year")
        return dict(zip(periods, np.moveaxis(arr, 2, 0), strict=True))

    calm, wild = revenue(0.0), revenue(0.6)
    assert (calm["2021"] == wild["2021"]).all()  # the years fitted on are the model's own
    assert not np.allclose(calm["2023"], wild["2023"])
    spread = scores.groupby("discrepancy").apply(lambda d: (d["p90"] - d["p10"]).mean(), include_groups=False)
    assert spread[0.6] > spread[0.0]


def test_origins_are_checked_before_anything_is_written(tmp_path, capsys) -> None:
    scn = small_scenario(tmp_path)
    out = tmp_path / "bt"
    assert main(["backtest", "--origin", str(scn), "--actuals", str(scn), "--out", str(out)]) == 2
    assert "states no as_of month" in capsys.readouterr().err and not out.exists()
    assert main(["backtest", "--origin", f"{scn}@2021-12", "--origin", f"{scn}@2021-12", "--actuals", str(scn),
                 "--out", str(out)]) == 2
    assert "two origins at 2021-12" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("bad", ["x", "0,-0.1", "0.1,0.1", ","])
def test_bad_discrepancy_scales_are_refused(tmp_path, capsys, bad) -> None:
    scn = small_scenario(tmp_path)
    assert main(["backtest", "--origin", f"{scn}@2021-12", "--actuals", str(scn), "--discrepancy", bad,
                 "--out", str(tmp_path / "bt")]) == 2
    assert "--discrepancy" in capsys.readouterr().err
    assert not (tmp_path / "bt").exists()

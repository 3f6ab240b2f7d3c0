"""Scenario comparison: paired differences under common random numbers, unpaired fallback, CLI."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import example_scenario, write_scenario

from sim import run
from sim.analysis.compare import _p_greater_unpaired, compare, load_comparison
from sim.cli import build_parser

DRAWS = 200


def _price_up(tmp_path: Path) -> Path:
    d = example_scenario()
    d["name"] = "price_up"
    d["products"]["Axicel"]["regions"]["US"]["price"] *= 1.01
    return write_scenario(tmp_path, d, "price_up.yaml")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Results of the example and of the example with Axicel's price +1 %, same seed and draws."""
    tmp = tmp_path_factory.mktemp("cmp")
    base = write_scenario(tmp, example_scenario(), "example.yaml")
    a = run(base, draws=DRAWS, seed=3, out=tmp / "A", summarize=False)
    b = run(_price_up(tmp), draws=DRAWS, seed=3, out=tmp / "B", summarize=False)
    return a, b, tmp


def test_paired_differences_have_far_smaller_spread_than_unpaired(pair):
    a, b, _ = pair
    cmp = load_comparison([a, b], "revenue", "total")
    assert cmp.paired and not cmp.notes
    p = cmp.period_index("2030")
    paired = cmp.difference(1)[:, 0, p]
    A, B = cmp.arrays[0][:, 0, p], cmp.arrays[1][:, 0, p]
    unpaired = B[np.random.default_rng(0).permutation(B.size)] - A
    ratio = paired.std(ddof=1) / unpaired.std(ddof=1)
    assert ratio < 0.2, ratio
    # a price rise of 1 % raises revenue in every draw (same patients, same uncertain inputs)
    assert np.all(paired >= 0) and np.mean(paired > 0) > 0.99


def test_compare_table_columns_and_probabilities(pair):
    a, b, _ = pair
    df = compare([a, b], metric="revenue", by="product", period="2030")
    assert list(df["scenario"].unique()) == ["example_small", "price_up"]
    assert {"median", "p10", "p90", "diff_median", "diff_p10", "diff_p90", "p_greater", "p_less", "paired"} <= set(df.columns)
    ax = df[(df.group == "Axicel") & (df.role == "alternative")].iloc[0]
    assert ax.p_greater == 1.0 and ax.p_less == 0.0
    assert ax.diff_p10 <= ax.diff_median <= ax.diff_p90
    assert ax.diff_median == pytest.approx(0.01 * df[(df.group == "Axicel") & (df.role == "baseline")].iloc[0]["median"], rel=0.05)
    # other products are untouched: identical draws, so no difference at all
    other = df[(df.group == "Ciltacel") & (df.role == "alternative")].iloc[0]
    assert other.diff_p10 == other.diff_p90 == 0.0 and other.p_greater == other.p_less == 0.0
    base = df[df.role == "baseline"]
    assert base["diff_median"].isna().all()


def test_unpaired_fallback_warns_and_uses_independent_draws(pair, tmp_path):
    a, _, _ = pair
    c = run(_price_up(tmp_path), draws=150, seed=4, out=tmp_path / "C", summarize=False)
    with pytest.warns(UserWarning, match="cannot be paired"):
        cmp = load_comparison([a, c], "revenue", "total")
    assert not cmp.paired
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare([a, c], period="2030")
    alt = table[table.role == "alternative"].iloc[0]
    assert not alt.paired and 0.2 < alt.p_greater < 0.8 and alt.p_greater + alt.p_less <= 1.0
    assert alt.diff_p90 - alt.diff_p10 > 1e8  # independent draws: the spread of two whole forecasts


def test_unpaired_probability_is_exact_over_all_pairs():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=57), rng.normal(0.3, 1, size=43)
    a[:5] = b[:5]  # ties count for neither side
    brute = np.mean(b[None, :] > a[:, None])
    assert _p_greater_unpaired(a, b) == pytest.approx(brute)
    assert _p_greater_unpaired(a, b) + _p_greater_unpaired(b, a) == pytest.approx(1 - np.mean(b[None, :] == a[:, None]))


def test_groups_only_in_one_scenario_count_as_zero(pair, tmp_path):
    a, _, _ = pair
    d = example_scenario()
    d["name"] = "new_entrant"
    d["products"]["NewCD19"] = {"company": "NewCo", "target": "CD19", "attributes": {"cr": 0.6}, "cogs": 50000,
                                "regions": {"US": {"price": 300000, "launches": {"LBCL_3L": "2024-01"}}}}
    b = run(write_scenario(tmp_path, d, "entrant.yaml"), draws=DRAWS, seed=3, out=tmp_path / "E", summarize=False)
    cmp = load_comparison([a, b], "revenue", "product")
    assert cmp.paired and "NewCD19" in cmp.groups
    g = cmp.groups.index("NewCD19")
    assert np.all(cmp.arrays[0][:, g, :] == 0) and cmp.arrays[1][:, g, -1].mean() > 0
    df = compare([a, b], by="product", period="2030")
    ax = df[(df.group == "Axicel") & (df.role == "alternative")].iloc[0]
    assert ax.p_less > 0.9  # the new entrant takes share from Axicel in (nearly) every draw


def _cli(argv: list[str]) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    return args.func(args)


@pytest.mark.slow
def test_cli_compare_runs_scenarios_and_writes_outputs(tmp_path, capsys):
    base = write_scenario(tmp_path, example_scenario(), "example.yaml")
    out = tmp_path / "cmp"
    rc = _cli(["compare", str(base), str(_price_up(tmp_path)), "--draws", "60", "--seed", "1",
               "--by", "product", "--period", "2030", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "paired" in text and "Axicel" in text and "P(>base)" in text
    for f in ("comparison.csv", "difference.png", "side_by_side.png"):
        assert (out / f).stat().st_size > 0
    df = pd.read_csv(out / "comparison.csv")
    assert set(df["scenario"]) == {"example_small", "price_up"} and df["paired"].all()
    # a results folder plus a scenario file: the new run takes the folder's seed and draws, so pairs
    out2 = tmp_path / "cmp2"
    rc = _cli(["compare", str(out / "runs" / "example_small"), str(_price_up(tmp_path)), "--out", str(out2), "--quiet"])
    assert rc == 0 and pd.read_csv(out2 / "comparison.csv")["paired"].all()


def test_cli_compare_mistakes_exit_2(tmp_path, capsys):
    from sim.cli import COMMANDS, main

    assert "compare" in COMMANDS
    base = write_scenario(tmp_path, example_scenario(), "example.yaml")
    assert main(["compare", str(base)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["compare", str(base), str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err

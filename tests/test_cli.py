"""The command line: validate, run, plot fan, summary; user errors exit 2 without a traceback."""

from __future__ import annotations

import json

import pytest
from helpers import ACTUALS, base_scenario, example_scenario, write_scenario

from sim.cli import main


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """One small run through the CLI, shared by the plot/summary tests."""
    tmp = tmp_path_factory.mktemp("cli")
    scn = write_scenario(tmp, example_scenario(), "example.yaml")
    out = tmp / "res"
    code = main(["run", str(scn), "--draws", "20", "--seed", "7", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_validate_good_file(tmp_path, capsys) -> None:
    good = write_scenario(tmp_path, base_scenario())
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok:") and str(good) in out and "1 products" in out


def test_validate_bad_file_names_file_and_field(tmp_path, capsys) -> None:
    d = base_scenario()
    d["products"]["A"]["regions"]["US"]["price"] = -5
    d["indications"]["X"]["markets"]["US"]["eligble"] = 10  # typo
    bad = write_scenario(tmp_path, d, "bad.yaml")
    good = write_scenario(tmp_path, base_scenario(), "good.yaml")
    assert main(["validate", str(good), str(bad)]) == 2
    cap = capsys.readouterr()
    assert str(bad) in cap.err
    assert "products.A.regions.US.price" in cap.err
    assert "indications.X.markets.US.eligble" in cap.err and "did you mean 'eligible'" in cap.err
    assert "Traceback" not in cap.err + cap.out
    assert str(good) in cap.out  # the good file is still reported ok


@pytest.mark.parametrize("text", ["name: [unclosed", "just text", ""])
def test_validate_unparseable_files(tmp_path, capsys, text) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text(text)
    assert main(["validate", str(f)]) == 2
    cap = capsys.readouterr()
    assert str(f) in cap.err and "Traceback" not in cap.err


@pytest.mark.slow
def test_run_writes_results_folder(results_dir) -> None:
    meta = json.loads((results_dir / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["draws"] == 20 and meta["seed"] == 7
    assert (results_dir / "summary.csv").stat().st_size > 0
    parts = {p.name.split("-")[0] for p in (results_dir / "parts").glob("*.parquet")}
    assert {"lanes", "cells", "companies"} <= parts
    pngs = list((results_dir / "charts").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_run_again_without_force_fails(results_dir, capsys) -> None:
    scn = results_dir.parent / "example.yaml"
    before = (results_dir / "metadata.json").read_text()
    code = main(["run", str(scn), "--draws", "2", "--out", str(results_dir), "--quiet", "--no-charts"])
    assert code == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and "Traceback" not in err
    assert (results_dir / "metadata.json").read_text() == before


def test_run_missing_file_exits_2(tmp_path, capsys) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["run", str(missing), "--draws", "2", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err


def test_plot_fan_by_product_with_actuals(results_dir, tmp_path, capsys) -> None:
    png = tmp_path / "fan.png"
    code = main(["plot", "fan", str(results_dir), "--by", "product", "--actuals", str(ACTUALS),
                 "--out", str(png)])
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert str(png) in capsys.readouterr().out


def test_plot_fan_default_path_and_bad_bands(results_dir, capsys) -> None:
    assert main(["plot", "fan", str(results_dir), "--metric", "infused", "--by", "region"]) == 0
    assert (results_dir / "charts" / "fan_infused_region_year.png").exists()
    assert main(["plot", "fan", str(results_dir), "--bands", "50,120"]) == 2
    assert "--bands" in capsys.readouterr().err


def test_summary_prints_percentiles(results_dir, capsys) -> None:
    assert main(["summary", str(results_dir), "--metric", "infused", "--by", "product", "--period", "2030"]) == 0
    out = capsys.readouterr().out
    assert "infused by product" in out and "20 draws" in out
    lines = [ln for ln in out.splitlines() if "2030" in ln]
    assert {ln.split()[0] for ln in lines} == {"Axicel", "Ciltacel", "Relmacel"}


def test_summary_errors_are_user_errors(results_dir, tmp_path, capsys) -> None:
    assert main(["summary", str(results_dir), "--metric", "revenu"]) == 2
    assert "unknown metric" in capsys.readouterr().err
    assert main(["summary", str(results_dir), "--filter", "region=Mars"]) == 2
    assert "matches nothing" in capsys.readouterr().err
    assert main(["summary", str(tmp_path)]) == 2  # not a results folder
    err = capsys.readouterr().err
    assert "metadata.json" in err and "Traceback" not in err


def test_fan_chart_overlays_actuals_summed_by_target(results_dir) -> None:
    import pandas as pd

    from sim.analysis.actuals import load_actuals
    from sim.plots import plot_fan
    from sim.results import Results

    actuals = load_actuals(ACTUALS, "target")
    fig = plot_fan(Results(results_dir), "revenue", "target", actuals=actuals)
    panels = {a.get_title(): a for a in fig.axes if a.get_visible()}
    assert set(panels) == {"BCMA", "CD19"}
    pts = [c for c in panels["CD19"].collections if c.get_label() == "actual"]
    assert len(pts) == 1
    xy = {round(x, 2): y for x, y in pts[0].get_offsets()}
    df = pd.read_csv(ACTUALS)
    expect = df[(df.target == "CD19") & (df.year == 2021)].net_sales_usd_m.sum() * 1e6
    assert xy[2021.5] == pytest.approx(expect)

"""Modality means something (issue 12): a total says what it holds ("total (CAR-T + bispecific)"),
CAR-T only is shown beside it when the scenario has other products, and `--by modality` works
in the summary, the fan charts and the report, with readable labels. Machine-readable outputs
keep the group "total"."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import base_scenario, write_scenario

from sim import run
from sim.cli import main
from sim.formats import fmt_money
from sim.results import Results
from sim.results.modality import (
    car_t_total,
    mixed_total,
    period_totals,
    total_modalities,
    total_name,
)
from sim.vocab import CAR_T_MODALITIES, MODALITY_LABELS, total_content, total_label

DRAWS = 24
LAST = "2022"
# product -> (modality, share of the base product's price): three kinds in one market
MIXED = {"A": ("autologous_cart", 1.0), "B": ("allogeneic_cart", 0.8), "C": ("bispecific", 0.5)}


def _scenario(products: dict[str, tuple[str, float]], name: str) -> dict[str, typing.Any]:
    d = base_scenario()
    d["name"] = name
    d["indications"]["X"]["uptake"]["ceiling"] = {"dist": "uniform", "min": 0.3, "max": 0.7}  # draws differ
    base = d["products"].pop("A")
    for k, (p, (modality, price)) in enumerate(products.items()):
        prod = {**base, "company": f"Co{p}", "target": ("CD19", "BCMA", "CD20")[k % 3], "modality": modality}
        prod["regions"] = {"US": {**base["regions"]["US"], "price": base["regions"]["US"]["price"] * price}}
        d["products"][p] = prod
    d["products"]["A"]["capacity"] = {"initial": 2}  # patients wait: a stock metric to read
    return d


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Results of a CAR-T + bispecific market (yearly and monthly) and of a CAR-T-only one."""
    root = tmp_path_factory.mktemp("modality")
    mixed = write_scenario(root, _scenario(MIXED, "mixed"), "mixed.yaml")
    cart = write_scenario(root, _scenario({"A": MIXED["A"], "B": MIXED["B"]}, "cart_only"), "cart.yaml")
    return {"mixed": run(mixed, draws=DRAWS, seed=2, out=root / "mixed"),
            "monthly": run(mixed, draws=DRAWS, seed=2, out=root / "monthly", freq="month"),
            "cart": run(cart, draws=DRAWS, seed=2, out=root / "cart"),
            "mixed_file": mixed}


def _by_product(res: Results, metric: str, freq: str | None = None) -> dict[str, np.ndarray]:
    groups, _, arr = res.grouped(metric, "product", freq=freq)
    return {g: arr[:, k, :] for k, g in enumerate(groups)}


# ---------------------------------------------------------------------------- the vocabulary
def test_the_vocabulary_names_what_a_total_holds() -> None:
    from sim.scenario.schema import MODALITIES

    assert set(MODALITY_LABELS) == set(MODALITIES)  # every modality the scenario allows has a label
    assert set(CAR_T_MODALITIES) == {"autologous_cart", "allogeneic_cart"}
    assert total_label(["bispecific", "autologous_cart"]) == "total (CAR-T + bispecific)"
    assert total_label(["allogeneic_cart", "autologous_cart"]) == "total (CAR-T)"
    assert total_label(["bispecific"]) == "total (bispecific)"
    assert total_content(["other", "autologous_cart", "bispecific"]) == "CAR-T + bispecific + other"
    assert total_label([]) == "total"  # unknown content is not invented


# ---------------------------------------------------------------------------- what a total holds
def test_the_total_label_says_what_it_holds_with_and_without_bispecifics(folders) -> None:
    mixed, cart = Results(folders["mixed"]), Results(folders["cart"])
    assert total_modalities(mixed) == ["allogeneic_cart", "autologous_cart", "bispecific"]
    assert total_name(mixed) == "total (CAR-T + bispecific)" and mixed_total(mixed)
    assert total_name(cart) == "total (CAR-T)" and not mixed_total(cart)
    # a filter narrows what the total holds
    assert total_name(mixed, filters={"product": ["C"]}) == "total (bispecific)"
    assert not mixed_total(mixed, filters={"product": ["C"]})  # no CAR-T to set beside it
    assert total_name(mixed, filters={"modality": ["autologous_cart"]}) == "total (CAR-T)"
    # eligible patients (cells) are not over products: a plain total
    assert total_name(mixed, "eligible") == "total"
    # a folder written before modalities were recorded: no content is claimed
    meta = dict(mixed.meta, structure={k: v for k, v in mixed.meta["structure"].items() if k != "product_modality"})
    assert total_name(Results(folders["mixed"], meta=meta)) == "total"


@pytest.mark.parametrize("metric", ["revenue", "infused", "gross_profit"])
def test_car_t_only_is_the_sum_over_car_t_products_and_the_total_minus_the_bispecifics(folders, metric) -> None:
    res = Results(folders["mixed"])
    prod = _by_product(res, metric)
    _, total = res.grouped(metric, "total")[1:]
    periods, cart = car_t_total(res, metric)
    assert periods == res.periods
    want = prod["A"] + prod["B"]  # the autologous and the allogeneic CAR-T
    assert prod["C"][:, -1].min() > 0 and prod["B"][:, -1].min() > 0  # each kind sells: the test can fail
    np.testing.assert_allclose(cart, want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(total[:, 0, :] - cart, prod["C"], rtol=1e-9, atol=1e-6)
    # no CAR-T kept: CAR-T only is zero, not the total
    assert not car_t_total(res, metric, filters={"modality": ["bispecific"]})[1].any()


def test_the_run_headline_reads_the_period_part_by_part(folders) -> None:
    """period_totals (what `sim run` prints) equals the grouped arrays, for a coarse period too."""
    y, m = Results(folders["mixed"]), Results(folders["monthly"])
    cart_y = car_t_total(y, "revenue")[1][:, -1]
    got = period_totals(y, "revenue", LAST, [{"modality": list(CAR_T_MODALITIES)}, {"modality": ["bispecific"]}])
    np.testing.assert_allclose(got[0], cart_y, rtol=1e-12)
    np.testing.assert_allclose(got[1], _by_product(y, "revenue")["C"][:, -1], rtol=1e-12)
    # the year of a monthly run adds its months; a stock (waiting) takes the last month
    year = period_totals(m, "revenue", LAST, [None])[0]
    np.testing.assert_allclose(year, m.grouped("revenue", "total", freq="year")[2][:, 0, -1], rtol=1e-12)
    assert not np.allclose(year, m.grouped("revenue", "total")[2][:, 0, -1])  # not just December
    wait = period_totals(m, "waiting", LAST, [None])[0]
    assert wait.max() > 0
    np.testing.assert_allclose(wait, m.grouped("waiting", "total")[2][:, 0, -1], rtol=1e-12)


@pytest.mark.parametrize("metric", ["revenue", "infused", "income"])
def test_by_modality_groups_sum_to_the_total(folders, metric) -> None:
    res = Results(folders["mixed"])
    groups, _, arr = res.grouped(metric, "modality")
    assert groups == ["allogeneic_cart", "autologous_cart", "bispecific"]  # stored names stay machine names
    _, _, total = res.grouped(metric, "total")
    assert total[:, 0, -1].min() > 0
    np.testing.assert_allclose(arr.sum(axis=1), total[:, 0, :], rtol=1e-12)


# ---------------------------------------------------------------------------- what people read
def _line_value(out: str, label: str) -> str:
    m = re.search(rf"^ *{re.escape(label)} +([\d,]+M)  \[", out, re.M)
    assert m, f"no line {label!r} in:\n{out}"
    return m.group(1)


def test_run_prints_the_labelled_total_with_car_t_only_beside_it(folders, tmp_path, capsys) -> None:
    assert main(["run", str(folders["mixed_file"]), "--draws", str(DRAWS), "--seed", "2", "--quiet",
                 "--no-charts", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    res = Results(tmp_path / "r")
    prod = _by_product(res, "revenue")
    assert _line_value(out, "total (CAR-T + bispecific)")
    cart = np.median(prod["A"][:, -1] + prod["B"][:, -1])
    assert _line_value(out, "CAR-T only") == f"{cart / 1e6:,.0f}M"
    assert _line_value(out, "bispecific antibody") == f"{np.median(prod['C'][:, -1]) / 1e6:,.0f}M"
    assert _line_value(out, "C (bispecific antibody)")  # a bispecific product says what it is
    assert re.search(r"^ +A +[\d,]+M", out, re.M)  # CAR-T products keep their names
    df = pd.read_csv(tmp_path / "r" / "summary.csv", dtype={"period": str})
    assert "total" in set(df.group) and set(df.level) == {  # summary.csv: as scripts read it
        "total", "product", "target", "region", "indication", "lane", "company"}


def test_summary_labels_the_total_and_spells_out_modalities(folders, capsys) -> None:
    mixed = str(folders["mixed"])
    assert main(["summary", mixed, "--period", LAST]) == 0
    out = capsys.readouterr().out
    res = Results(mixed)
    cart_mean = car_t_total(res, "revenue")[1][:, -1].mean()
    assert re.search(rf"^total \(CAR-T \+ bispecific\) +{LAST} ", out, re.M), out
    assert re.search(rf"^CAR-T only +{LAST} +{cart_mean:,.0f} ", out, re.M), out
    assert main(["summary", mixed, "--by", "modality", "--metric", "infused", "--period", LAST]) == 0
    out = capsys.readouterr().out
    rows = [ln.split("  ")[0] for ln in out.splitlines()[2:]]
    assert rows == ["allogeneic CAR-T", "autologous CAR-T", "bispecific antibody"], out
    assert main(["summary", str(folders["cart"]), "--period", LAST]) == 0
    out = capsys.readouterr().out
    assert "total (CAR-T) " in out and "CAR-T only" not in out
    assert main(["summary", mixed, "--filter", "modality=bispecific", "--period", LAST]) == 0
    out = capsys.readouterr().out
    assert "total (bispecific) " in out and "CAR-T only" not in out


def _texts(fig) -> tuple[str, list[str], list[str]]:
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    titles = [a.get_title() for a in fig.axes if a.get_visible()]
    legend = [t.get_text() for a in fig.axes if a.get_legend() for t in a.get_legend().get_texts()]
    return sup, titles, legend


def test_fan_charts_label_the_total_draw_car_t_only_and_spell_out_modalities(folders, tmp_path) -> None:
    from sim.plots.base import pyplot
    from sim.plots.fan import plot_fan

    res = Results(folders["mixed"])
    fig = plot_fan(res, "revenue", "total")
    sup, _, legend = _texts(fig)
    assert "total (CAR-T + bispecific), with CAR-T only" in sup
    assert legend == ["total (CAR-T + bispecific): median", "CAR-T only: median"]
    lines = {ln.get_label(): ln.get_ydata() for ln in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["CAR-T only: median"], np.median(car_t_total(res)[1], axis=0))
    pyplot().close(fig)
    fig = plot_fan(res, "revenue", "modality")
    assert _texts(fig)[1] == ["allogeneic CAR-T", "autologous CAR-T", "bispecific antibody"]
    pyplot().close(fig)
    fig = plot_fan(Results(folders["cart"]), "infused", "total")
    sup, _, legend = _texts(fig)
    assert "total (CAR-T)" in sup and "CAR-T only" not in sup + "".join(legend)
    pyplot().close(fig)
    png = tmp_path / "modality.png"
    assert main(["plot", "fan", str(folders["mixed"]), "--by", "modality", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # two reports: about 5 s
def test_report_headline_shows_the_labelled_total_car_t_only_and_modalities(folders) -> None:
    from sim.report import build_report

    res = Results(folders["mixed"])
    rep = build_report(res)
    text = rep.html
    cart = np.percentile(car_t_total(res, freq="year")[1][:, -1], [10, 50, 90])
    assert f"Total net revenue, CAR-T + bispecific, USD, {LAST}" in text
    card = re.search(rf"CAR-T-only net revenue, USD, {LAST}</div><div class=\"card-value\">([^<]+)</div>", text)
    assert card and card.group(1) == fmt_money(cart[1])
    assert f"CAR-T-only patients infused, {LAST}" in text
    assert "<td>bispecific antibody</td>" in text and "<td>allogeneic CAR-T</td>" in text
    ids = [c.id for c in rep.charts]
    assert "fan-revenue-modality" in ids
    assert "Net revenue, total (CAR-T + bispecific), with CAR-T only" in text
    other = build_report(Results(folders["cart"])).html
    assert f"Total net revenue, CAR-T, USD, {LAST}" in other and "CAR-T-only" not in other


def test_comparison_names_the_total_but_its_table_keeps_the_group(folders) -> None:
    from sim.analysis.compare import comparison_table, load_comparison

    cmp = load_comparison([folders["cart"], folders["mixed"]], "revenue", "total")
    assert cmp.name("total") == "total (CAR-T + bispecific)"  # what either total holds
    assert set(comparison_table(cmp).group) == {"total"}
    by_mod = load_comparison([folders["mixed"], folders["cart"]], "revenue", "modality")
    assert [by_mod.name(g) for g in by_mod.groups] == ["allogeneic CAR-T", "autologous CAR-T", "bispecific antibody"]

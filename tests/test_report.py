"""`sim report`: a self-contained HTML page (charts as PNG data URIs), its sections, the
decile tornado read off recorded inputs, the CLI, and a render check in headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import EXAMPLE, example_scenario, write_scenario

from sim import run
from sim.analysis.decile import decile_tornado
from sim.cli import main
from sim.report import build_report, write_report
from sim.report.inputs import describe_dist, fixed_inputs, uncertain_inputs
from sim.results import Results

DRAWS = 200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = ["header", "key-numbers", "assumptions", "fan-charts", "share", "tornado"]
CHARTS = ["fan-revenue-total", "fan-revenue-product", "fan-revenue-target", "fan-revenue-region",
          "fan-infused-total", "share-product", "share-target", "tornado-chart"]
COMPARE_CHARTS = ["compare-side-by-side", "compare-difference-total", "compare-difference-product"]


class _Page(HTMLParser):
    """Collects <img> attributes, element ids, <details> and anything that could load from outside."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.ids: list[str] = []
        self.details: list[dict[str, str | None]] = []
        self.external: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "img":
            self.imgs.append({k: v or "" for k, v in a.items()})
        if tag == "details":
            self.details.append(a)
        for key in ("src", "href"):
            v = a.get(key) or ""
            if v and not (v.startswith("data:") or v.startswith("#")):
                self.external.append(f"{tag} {key}={v[:60]}")


def _parse(text: str) -> _Page:
    p = _Page()
    p.feed(text)
    return p


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC, "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """example_small and a copy with a higher Axicel US price, same seed and draws (paired)."""
    root = tmp_path_factory.mktemp("report")
    base = run(EXAMPLE, draws=DRAWS, seed=3, out=root / "base")
    d = example_scenario()
    d["name"] = "example_small_price_up"
    d["products"]["Axicel"]["regions"]["US"]["price"] = 450000
    alt = run(write_scenario(root, d, "price_up.yaml"), draws=DRAWS, seed=3, out=root / "alt")
    return base, alt


@pytest.fixture(scope="module")
def report_pair(runs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plain report, report with --compare)."""
    base, alt = runs
    out = tmp_path_factory.mktemp("html")
    return write_report(base, out / "plain.html"), write_report(base, out / "compare.html", compare=alt)


def _check_images(page: _Page) -> None:
    assert page.imgs, "no images"
    ids = [im.get("id", "") for im in page.imgs]
    assert all(ids) and len(set(ids)) == len(ids), ids
    for im in page.imgs:
        assert im.get("alt", "").strip(), f"{im['id']} has no alt text"
        src = im["src"]
        assert src.startswith("data:image/png;base64,"), f"{im['id']} is not a PNG data URI"
        w, h = _png_size(base64.b64decode(src.split(",", 1)[1], validate=True))
        assert w > 200 and h > 100, (im["id"], w, h)


# ---------------------------------------------------------------------------- the page
@pytest.mark.slow
def test_report_is_self_contained_with_every_section(report_pair: tuple[Path, Path], runs: tuple[Path, Path]) -> None:
    path, _ = report_pair
    text = path.read_text(encoding="utf-8")
    page = _parse(text)
    for s in SECTIONS:
        assert s in page.ids, f"section {s} missing"
    assert "comparison" not in page.ids
    _check_images(page)
    assert [im["id"] for im in page.imgs] == CHARTS
    assert not page.external, page.external  # nothing loaded from outside the page
    assert not {"script", "link", "iframe", "object", "embed"} & page.tags
    assert "url(" not in text and "@import" not in text
    meta = Results(runs[0]).meta
    for needle in ("example_small", "Two regions, two indications", meta["scenario_sha256"], "0.1.0",
                   f">{DRAWS}<", ">3<", ">mc<", meta["created"].replace("T", " ")):
        assert needle in text, needle
    # key numbers: total revenue and patients in the last and a middle year, with P10-P90
    assert "Total net revenue, CAR-T, USD, 2030" in text and "Patients infused, CAR-T, 2030" in text
    assert "Total net revenue, CAR-T, USD, 2024" in text and "P10–P90" in text
    assert "CAR-T-only" not in text  # a CAR-T-only market has nothing to set beside its total


@pytest.mark.slow
def test_assumptions_list_every_uncertain_input_with_sampled_percentiles(report_pair: tuple[Path, Path],
                                                                        runs: tuple[Path, Path]) -> None:
    text = report_pair[0].read_text(encoding="utf-8")
    inputs = Results(runs[0]).table("inputs")
    for col in inputs.columns.drop("draw"):
        assert f">{col}<" in text, f"input {col} missing from the assumptions table"
    assert "pert(min 0.3, mode 0.45, max 0.6)" in text  # LBCL_3L uptake ceiling as written
    assert "triangular(min 2021-06, mode 2022-02, max 2022-12)" in text  # a launch-date distribution
    assert "yes/no, probability 0.85" in text and "% of draws" in text  # the Ciltacel launch gate
    ceiling = inputs["indications.LBCL_3L.uptake.ceiling"]
    assert f"{np.percentile(ceiling, 50):.4g}" in text  # sampled P50
    page = _parse(text)
    fixed = [d for d in page.details if d.get("id") == "fixed-inputs"]
    assert fixed and "open" not in fixed[0], "fixed inputs should be collapsed"
    assert "products.Axicel.regions.US.price" in text and "373,000" in text


@pytest.mark.slow
def test_compare_report_adds_comparison_section(report_pair: tuple[Path, Path]) -> None:
    text = report_pair[1].read_text(encoding="utf-8")
    page = _parse(text)
    assert "comparison" in page.ids
    _check_images(page)
    assert [im["id"] for im in page.imgs] == CHARTS + COMPARE_CHARTS
    assert "example_small_price_up" in text and "paired draw by draw" in text
    assert "P(&gt; baseline)" in text and "(baseline)" in text


@pytest.mark.slow
def test_report_without_inputs_table_or_scenario_yaml(runs: tuple[Path, Path], tmp_path: Path) -> None:
    """An older or trimmed results folder still gives a report, saying what is missing."""
    src = runs[0]
    dst = tmp_path / "trimmed"
    shutil.copytree(src, dst)
    (dst / "scenario.yaml").unlink()
    for f in (dst / "parts").glob("inputs-*.parquet"):
        f.unlink()
    rep = build_report(dst)
    assert "scenario.yaml is missing" in rep.html
    assert "No uncertain inputs were recorded" in rep.html
    assert len(rep.charts) == len(CHARTS) - 1  # no tornado


# ---------------------------------------------------------------------------- pieces
def test_decile_tornado_ranks_inputs_by_rank_correlation() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    x_strong = rng.uniform(0, 1, n)
    x_noise = rng.uniform(0, 1, n)
    gate = (rng.uniform(0, 1, n) < 0.7).astype(float)
    y = 100 * x_strong - 30 * gate + rng.normal(0, 5, n)
    df = pd.DataFrame({"draw": np.arange(n), "a.strong": x_strong, "b.noise": x_noise,
                       "c.launch.fires": gate, "d.constant": np.full(n, 2.0)})
    t = decile_tornado(df, y)
    assert list(t["input"][:2]) == ["a.strong", "c.launch.fires"]
    assert "d.constant" not in set(t["input"])
    s = t.set_index("input")
    assert s.loc["a.strong", "spearman"] > 0.8
    assert s.loc["a.strong", "swing"] == pytest.approx(90, abs=8)  # median at ~x=0.95 minus at ~x=0.05
    assert s.loc["c.launch.fires", "swing"] == pytest.approx(-30, abs=4)
    assert (s.loc["c.launch.fires", "value_low_text"], s.loc["c.launch.fires", "value_high_text"]) == \
        ("does not fire", "fires")
    assert abs(s.loc["b.noise", "spearman"]) < 0.1


def test_uncertain_and_fixed_inputs_from_scenario_data() -> None:
    data = {
        "name": "x", "start": "2020-01",
        "products": {"A": {"cogs": {"dist": "uniform", "min": 10, "max": 20}, "price": 1000,
                           "launches": {"X": {"date": {"dist": "uniform", "min": "2021-01", "max": "2021-12"},
                                              "probability": 0.8}},
                           "fixed_dist": {"dist": "fixed", "value": 3}}},
    }
    n = 100
    inputs = pd.DataFrame({"draw": np.arange(n), "products.A.cogs": np.linspace(10, 20, n),
                           "products.A.launches.X.date": np.full(n, 2021 * 12 + 5.0),
                           "products.A.launches.X.fires": (np.arange(n) < 80).astype(float)})
    rows = {r.path: r for r in uncertain_inputs(data, inputs)}
    assert list(rows) == ["products.A.cogs", "products.A.launches.X.fires", "products.A.launches.X.date"]
    assert rows["products.A.cogs"].distribution == "uniform(min 10, max 20)"
    assert (rows["products.A.cogs"].p10, rows["products.A.cogs"].p90) == ("11", "19")
    assert rows["products.A.launches.X.date"].p50 == "2021-06"
    assert rows["products.A.launches.X.fires"].distribution == "yes/no, probability 0.8"
    assert rows["products.A.launches.X.fires"].p50 == "fires in 80 % of draws"
    fixed = dict(fixed_inputs(data))
    assert fixed["products.A.price"] == "1,000" and fixed["products.A.fixed_dist"] == "3"
    assert "name" not in fixed and fixed["start"] == "2020-01"
    assert describe_dist({"dist": "choice", "values": [1, 2], "weights": [0.5, 0.5]}) == \
        "choice(values [1, 2], weights [0.5, 0.5])"


# ---------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_report_default_out_and_errors(runs: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    base, alt = runs
    work = tmp_path / "copy"
    shutil.copytree(base, work)
    assert main(["report", str(work), "--compare", str(alt), "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {work / 'report.html'}" in out and "11 charts" in out
    assert (work / "report.html").exists()
    assert not list(work.glob(".report.html.*.tmp"))  # written atomically, no leftovers
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["report", str(work), "--compare", str(work)]) == 2
    assert main(["report", str(tmp_path)]) == 2  # not a results folder
    assert "metadata.json is missing" in capsys.readouterr().err
    assert main(["report", str(work), "--out", str(tmp_path / "r.txt")]) == 2


# ---------------------------------------------------------------------------- headless Chromium
CHECK_JS = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images), bad = [];
  imgs.forEach(function (im) {
    var r = im.getBoundingClientRect(), st = window.getComputedStyle(im);
    if (!(im.complete && im.naturalWidth > 0 && im.naturalHeight > 0 && r.width > 0 && r.height > 0
          && st.display !== 'none' && st.visibility !== 'hidden')) bad.push(im.id || '?');
  });
  var out = document.createElement('pre');
  out.id = 'img-check';
  out.textContent = 'IMGCHECK total=' + imgs.length + ' bad=' + bad.length + ' [' + bad.join(',') + ']';
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browse(exe: str, tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}",
           "--virtual-time-budget=5000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp)


def _img_check(exe: str, tmp: Path, html_text: str, name: str) -> tuple[int, int, str]:
    page = tmp / name
    page.write_text(html_text.replace("</body>", CHECK_JS + "</body>"), encoding="utf-8")
    res = _browse(exe, tmp, page.as_uri(), "--dump-dom")
    m = re.search(r"IMGCHECK total=(\d+) bad=(\d+) \[([^\]]*)\]", res.stdout)
    assert m, f"no check result in the DOM (exit {res.returncode}): {res.stderr[-2000:]}"
    return int(m.group(1)), int(m.group(2)), m.group(3)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report_pair: tuple[Path, Path], tmp_path: Path) -> None:
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed")
    path = report_pair[1]
    text = path.read_text(encoding="utf-8")
    n_img = len(_parse(text).imgs)
    total, bad, which = _img_check(exe, tmp_path, text, "check.html")
    assert (total, bad) == (n_img, 0), f"images not rendered: {which}"
    # the check itself must notice a broken image
    broken = text.replace('id="tornado-chart" src="data:image/png;base64,',
                          'id="tornado-chart" src="data:image/png;base64,AAAA', 1)
    assert _img_check(exe, tmp_path, broken, "broken.html")[1:] == (1, "tornado-chart")
    shot = tmp_path / "report.png"
    res = _browse(exe, tmp_path, path.as_uri(), f"--screenshot={shot}", "--window-size=1280,4000")
    assert shot.exists(), f"no screenshot (exit {res.returncode}): {res.stderr[-2000:]}"
    data = shot.read_bytes()
    w, h = _png_size(data)
    assert (w, h) == (1280, 4000)
    assert len(data) > 100_000, f"screenshot only {len(data)} bytes: blank page?"

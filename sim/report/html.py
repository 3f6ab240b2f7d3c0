"""`sim report`: one self-contained HTML page describing a results folder.

The page needs nothing but itself: charts are PNG data URIs in <img> tags, the CSS is
inline and there is no JavaScript. It never re-runs the simulation: everything comes from
the results folder (metadata.json, scenario.yaml = the merged scenario, the parquet parts
and the recorded per-draw inputs). Sections:

* header: scenario, description, draws, seed, design, created, package version, sha256;
* key numbers: median and P10-P90 of total net revenue and patients infused, the total saying
  what it holds ("CAR-T + bispecific") with CAR-T only beside it in a mixed market; revenue by
  modality and by product;
* assumptions: every uncertain input with its distribution and sampled P10/P50/P90, and
  the fixed inputs in a collapsed <details>;
* fan charts: total revenue (with the CAR-T-only fan in a mixed market), revenue by product /
  modality (when there are several) / target / region, total patients infused;
* market share over time: stacked median revenue share by product and by target;
* tornado: the inputs that move total revenue in the last year most, read off the run's own
  draws (Spearman rank correlation, and the output's median with the input in its bottom
  vs top decile of draws); `sim sensitivity` gives the controlled version;
* comparison with another results folder (``--compare``): side-by-side and paired-difference
  fan charts and the comparison table (sim.compare).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.shares import median_shares
from sim.errors import ScenarioError
from sim.formats import fmt_count, fmt_money, fmt_number
from sim.plots.base import png_data_uri, pyplot
from sim.plots.fan import plot_fan
from sim.plots.share import plot_share
from sim.report.markup import Chart
from sim.report.markup import e as _e
from sim.report.markup import table as _table
from sim.report.sections import assumptions_section, comparison_section, tornado_section
from sim.report.style import CSS
from sim.results import Results
from sim.results.modality import car_t_total, mixed_total, total_modalities, total_name
from sim.scenario.yamlfile import read_yaml
from sim.version import __version__
from sim.vocab import is_car_t, modality_label, total_content

DPI = 100
TOP_INPUTS = 12


# ---------------------------------------------------------------------------- the report
@dataclass
class Report:
    """The report's page and its charts."""

    html: str
    charts: list[Chart]


class ReportBuilder:
    """Builds the report's sections from a results folder (and another to compare with)."""

    def __init__(self, res: Results, other: Results | None, top: int) -> None:
        self.res = res
        self.other = other
        self.top = top
        self.charts: list[Chart] = []
        self.currency = res.meta.get("reporting_currency", "USD")
        self.data = self._scenario_data(res)
        self.inputs = self._inputs(res)
        _, self.years, _ = res.grouped("revenue", "total", freq="year")
        # what "total" holds, said wherever it is shown; CAR-T only beside it in a mixed market
        self.modalities = total_modalities(res)
        self.content = total_content(self.modalities)
        self.total = total_name(res)
        self.mixed = mixed_total(res)
        self.last = self.years[-1]
        self.middle = self.years[len(self.years) // 2]

    # ---------------------------------------------------------------- data
    @staticmethod
    def _scenario_data(res: Results) -> dict[str, Any] | None:
        f = res.path / "scenario.yaml"
        if not f.exists():
            return None
        # the loader's limits (regular file, size, UTF-8, node count and depth: an alias bomb here
        # once took 1.5 GB); its errors name the file
        data, _ = read_yaml(f)
        return data

    @staticmethod
    def _inputs(res: Results) -> pd.DataFrame | None:
        try:
            df = res.table("inputs")
        except ScenarioError:
            return None
        return df.sort_values("draw", kind="stable").reset_index(drop=True)

    def chart(self, id: str, fig: Any, title: str, alt: str, caption: str = "") -> str:
        """A chart as an embedded figure with its caption (kept for the Report's list)."""
        c = Chart(id, title, alt, png_data_uri(fig, DPI), caption)
        self.charts.append(c)
        return c.html()

    # ---------------------------------------------------------------- sections
    def header(self) -> str:
        """Scenario, run settings and provenance."""
        m = self.res.meta
        data = self.data or {}
        desc = data.get("description") or ""
        created = str(m.get("created", ""))
        items = [
            ("Scenario", m.get("scenario", "")),
            ("Draws", fmt_number(m.get("draws"))),
            ("Seed", m.get("seed")),
            ("Design", m.get("design", "mc")),
            ("Engine", m.get("engine", "batch")),
            ("Horizon", f"{m.get('start', '')} – {m.get('end', '')} (stored by {m.get('frequency', '')})"),
            ("Currency", self.currency),
            ("Run created", created.replace("T", " ")),
            ("Package version", m.get("package_version", "")),
            ("Scenario sha256", m.get("scenario_sha256", "")),
            ("Results folder", str(self.res.path)),
        ]
        dl = "".join(f"<dt>{_e(k)}</dt><dd{' class=mono' if k in ('Scenario sha256', 'Results folder') else ''}>"
                     f"{_e(v)}</dd>" for k, v in items)
        return (f'<header id="header"><p class="kicker">CAR-T market simulation report</p>'
                f"<h1>{_e(m.get('scenario', 'scenario'))}</h1>"
                + (f'<p class="desc">{_e(desc)}</p>' if desc else "")
                + f'<dl class="meta">{dl}</dl></header>')

    def toc(self) -> str:
        """Links to the sections."""
        items = [("key-numbers", "Key numbers"), ("fan-charts", "Fan charts"),
                 ("share", "Share over time"), ("tornado", "What drives revenue")]
        if self.other is not None:
            items.append(("comparison", "Comparison"))
        items.append(("assumptions", "Assumptions"))
        return '<nav class="toc">' + " ".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in items) + "</nav>"

    def key_numbers(self) -> str:
        """Revenue and patients in the middle and last years (the total, saying what it holds, and
        CAR-T only beside it in a mixed market), revenue by modality and by product."""
        res = self.res
        years = list(dict.fromkeys([self.middle, self.last]))
        held = f", {self.content}" if self.content else ""
        rows = []
        for metric, label, cart_label, fmt in (
                ("revenue", f"Total net revenue{held}, {self.currency}", f"CAR-T-only net revenue, {self.currency}",
                 fmt_money),
                ("infused", f"Patients infused{held}", "CAR-T-only patients infused", fmt_count)):
            _, periods, arr = res.grouped(metric, "total", freq="year")
            series = [(label, arr[:, 0, :])]
            if self.mixed:
                series.append((cart_label, car_t_total(res, metric, freq="year")[1]))
            for name, x_all in series:
                for y in years:
                    q10, q50, q90 = np.percentile(x_all[:, periods.index(y)], [10, 50, 90])
                    rows.append([name, y, fmt(q50), f"{fmt(q10)} – {fmt(q90)}"])
        cards = []
        for r in rows:
            cards.append(f'<div class="card"><div class="card-label">{_e(r[0])}, {_e(r[1])}</div>'
                         f'<div class="card-value">{_e(r[2])}</div>'
                         f'<div class="card-band">P10–P90 {_e(r[3])}</div></div>')
        prod, periods, arr = res.grouped("revenue", "product", freq="year")
        p = periods.index(self.last)
        q = np.percentile(arr[:, :, p], [10, 50, 90], axis=0)
        tot = np.median(arr[:, :, p].sum(axis=1))
        order = np.argsort(-q[1], kind="stable")
        prow = [[prod[g], res.product_company.get(prod[g], ""), res.product_target.get(prod[g], ""),
                 modality_label(res.product_modality.get(prod[g], "")),
                 fmt_money(q[1][g]), f"{fmt_money(q[0][g])} – {fmt_money(q[2][g])}",
                 f"{100 * q[1][g] / tot:.1f} %" if tot > 0 else "–"] for g in order]
        ptable = _table(["product", "company", "target", "modality", f"median ({self.currency})", "P10 – P90",
                         f"median / median {self.total}"], prow, num_cols={4, 5, 6}, cls="data")
        return (f'<section id="key-numbers"><h2>Key numbers</h2>'
                f'<div class="cards">{"".join(cards)}</div>'
                + self._modality_table()
                + f"<h3>Net revenue by product, {_e(self.last)}</h3>{ptable}"
                f'<p class="note-small">Percentiles are over the {fmt_number(res.meta.get("draws"))} Monte Carlo draws; '
                f"P10–P90 is the central 80 % range. Product medians do not add up to the total's median."
                + (" CAR-T is autologous and allogeneic CAR-T; the total also holds "
                   + ", ".join(modality_label(m) for m in self.modalities if not is_car_t(m))
                   + " products." if self.mixed else "")
                + "</p></section>")

    def _modality_table(self) -> str:
        """Net revenue by modality in the last year, when the scenario has more than one."""
        if len(self.modalities) < 2:
            return ""
        mods, periods, arr = self.res.grouped("revenue", "modality", freq="year")
        x = arr[:, :, periods.index(self.last)]
        q = np.percentile(x, [10, 50, 90], axis=0)
        rows = [[modality_label(m), fmt_money(q[1][k]), f"{fmt_money(q[0][k])} – {fmt_money(q[2][k])}"]
                for k, m in enumerate(mods)]
        return (f"<h3>Net revenue by modality, {_e(self.last)}</h3>"
                + _table(["modality", f"median ({self.currency})", "P10 – P90"], rows, num_cols={1, 2},
                         cls="data"))

    def _fan(self, metric: str, by: str) -> Any:
        """A fan chart figure: one wide panel for the total, a grid (largest groups first) otherwise."""
        res = self.res
        what = {"revenue": f"Net revenue ({self.currency})", "infused": "Patients infused per year"}[metric]
        bands = "median and 50/80/90 % bands"
        if by == "total":
            fig, ax = pyplot().subplots(figsize=(10, 4.2))
            with_cart = ", with CAR-T only" if self.mixed else ""
            plot_fan(res, metric, "total", freq="year", ax=ax,
                     title=f"{what}, {total_name(res, metric)}{with_cart} — {bands}")
            fig.tight_layout()
            return fig
        groups, periods, arr = res.grouped(metric, by, freq="year")
        order = np.argsort(-np.median(arr[:, :, -1], axis=0), kind="stable")
        fig = plot_fan(res, metric, by, freq="year", groups=[groups[k] for k in order],
                       title=f"{what} by {by} — {res.scenario}, {fmt_number(res.meta.get('draws'))} draws; {bands}")
        # lay the panels out first, then put the title in the strip left above them
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        if fig._suptitle is not None:
            fig._suptitle.remove()
            fig._suptitle = None
        h = fig.get_figheight()
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.32 / h))
        fig.suptitle(title, y=1 - 0.06 / h, va="top", fontsize=11)
        return fig

    def fan_charts(self) -> str:
        """Fan charts of revenue (total, product, target, region) and patients infused."""
        res = self.res
        out = ['<section id="fan-charts"><h2>Fan charts</h2>'
               "<p>Median (line) and the 50 / 80 / 90 % central bands of the draws, by year. Panels are "
               f"ordered by median in {_e(self.last)}, largest first; each panel has its own y axis.</p>"]
        cart = ", with CAR-T only" if self.mixed else ""
        specs = [
            ("fan-revenue-total", "revenue", "total", f"Net revenue, {self.total}{cart}"),
            ("fan-revenue-product", "revenue", "product", "Net revenue by product"),
            *([("fan-revenue-modality", "revenue", "modality", "Net revenue by modality")]
              if len(self.modalities) > 1 else []),
            ("fan-revenue-target", "revenue", "target", "Net revenue by target"),
            ("fan-revenue-region", "revenue", "region", "Net revenue by region"),
            ("fan-infused-total", "infused", "total", f"Patients infused, {total_name(res, 'infused')}{cart}"),
        ]
        for cid, metric, by, title in specs:
            unit = f" ({self.currency})" if metric == "revenue" else " (patients per year)"
            cap = f"{title}{unit}" + (f"; one panel per {by}." if by != "total" else ".")
            if by == "total" and self.mixed:
                cap += " The orange fan is CAR-T only (autologous and allogeneic CAR-T)."
            out.append(self.chart(cid, self._fan(metric, by), title,
                                  f"Fan chart of {title[:1].lower() + title[1:]}{unit}, {res.scenario}", cap))
        out.append("</section>")
        return "".join(out)

    def share(self) -> str:
        """Revenue share over time by product and by target."""
        out = ['<section id="share"><h2>Share over time</h2>']
        for by in ("product", "target"):
            frame = median_shares(self.res, by)
            fig = plot_share(frame, by)
            lead = frame.iloc[-1].sort_values(ascending=False).head(3)
            text = ", ".join(f"{g} {v:.0f} %" for g, v in lead.items())
            out.append(self.chart(f"share-{by}", fig, f"Revenue share by {by}",
                                  f"Stacked area chart of median net revenue share by {by}",
                                  f"Each {by}'s median yearly net revenue as a share of the sum of the "
                                  f"medians. Largest in {self.last}: {text}."))
        out.append("</section>")
        return "".join(out)

    def build(self) -> str:
        """The whole page."""
        body = [self.header(), self.toc(), self.key_numbers(), self.fan_charts(), self.share(), tornado_section(self)]
        if self.other is not None:
            body.append(comparison_section(self))
        body.append(assumptions_section(self))  # long: last, so the charts come first
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        footer = (f"<footer>Generated {_e(stamp)} by <code>sim report</code> (sim {_e(__version__)}) from "
                  f"<span class=mono>{_e(self.res.path)}</span>. Self-contained: charts are embedded.</footer>")
        title = f"{self.res.scenario} — simulation report"
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{_e(title)}</title><style>{CSS}</style></head>"
                f'<body><main>{"".join(body)}{footer}</main></body></html>\n')


def build_report(results: Results | str | Path, compare: Results | str | Path | None = None,
                 *, top: int = TOP_INPUTS) -> Report:
    """The report's HTML (and its charts) for a results folder, optionally compared with another."""
    res = results if isinstance(results, Results) else Results(results)
    other = None if compare is None else (compare if isinstance(compare, Results) else Results(compare))
    if top < 1:
        raise ScenarioError(f"--top must be at least 1, got {top}")
    b = ReportBuilder(res, other, top)
    return Report(b.build(), b.charts)


def write_report(results: Results | str | Path, out: str | Path | None = None,
                 compare: Results | str | Path | None = None, *, top: int = TOP_INPUTS) -> Path:
    """Write the report (default RESULTS/report.html) atomically and return its path."""
    from sim.io import atomic_text

    res = results if isinstance(results, Results) else Results(results)
    rep = build_report(res, compare, top=top)
    path = Path(out) if out is not None else res.path / "report.html"
    if path.is_dir():
        path = path / "report.html"
    return atomic_text(path, rep.html)


def report_summary(path: Path) -> dict[str, Any]:
    """Counts for a written report (used by the CLI's message)."""
    text = path.read_text(encoding="utf-8")
    return {"bytes": len(text.encode()), "images": text.count("<img "), "sections": text.count("<section ")}

"""`sim report`: one self-contained HTML page describing a results folder.

The page needs nothing but itself: charts are PNG data URIs in <img> tags, the CSS is
inline and there is no JavaScript. It never re-runs the simulation: everything comes from
the results folder (metadata.json, scenario.yaml = the merged scenario, the parquet parts
and the recorded per-draw inputs). Sections:

* header: scenario, description, draws, seed, design, created, package version, sha256;
* key numbers: median and P10-P90 of total net revenue and patients infused;
* assumptions: every uncertain input with its distribution and sampled P10/P50/P90, and
  the fixed inputs in a collapsed <details>;
* fan charts: total revenue, revenue by product / target / region, total patients infused;
* market share over time: stacked median revenue share by product and by target;
* tornado: the inputs that move total revenue in the last year most, read off the run's own
  draws (Spearman rank correlation, and the output's median with the input in its bottom
  vs top decile of draws); `sim sensitivity` gives the controlled version;
* comparison with another results folder (``--compare``): side-by-side and paired-difference
  fan charts and the comparison table (sim.compare).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.errors import ScenarioError
from sim.results import Results

DPI = 100
TOP_INPUTS = 12
GATE_SUFFIX = ".fires"
DATE_SUFFIXES = (".date", "upfront_date")


# ---------------------------------------------------------------------------- small helpers
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _money(v: float) -> str:
    from sim.compare import _fmt

    return _fmt(float(v), True)


def _count(v: float) -> str:
    if not np.isfinite(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def _num(v: Any) -> str:
    """A parameter or sampled value for people: thousands separators, 4 significant digits."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int | float | np.floating | np.integer):
        x = float(v)
        if not np.isfinite(x):
            return "–"
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 1e3:
            return f"{x:,.0f}"
        return f"{x:.4g}"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _is_date_input(name: str) -> bool:
    return name.endswith(DATE_SUFFIXES)


def _fmt_input(name: str, v: float) -> str:
    from sim.periods import ordinal_to_str

    if not np.isfinite(v):
        return "–"
    if name.endswith(GATE_SUFFIX):
        return "fires" if v >= 0.5 else "does not fire"
    if _is_date_input(name):
        return ordinal_to_str(int(np.floor(v)))
    return _num(v)


def _png(fig: Any, dpi: int = DPI) -> str:
    """The figure as a PNG data URI (the figure is closed)."""
    from sim.plots import _mpl

    plt = _mpl()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class Chart:
    id: str
    title: str
    alt: str
    uri: str
    caption: str = ""

    def html(self) -> str:
        cap = f"<figcaption><strong>{_e(self.title)}.</strong> {_e(self.caption)}</figcaption>"
        return (f'<figure id="{_e(self.id)}-figure"><img id="{_e(self.id)}" src="{self.uri}" '
                f'alt="{_e(self.alt)}">{cap}</figure>')


def _table(headers: list[str], rows: list[list[str]], num_cols: set[int] | None = None,
           cls: str = "", raw: bool = False) -> str:
    """An HTML table; cells are escaped unless raw (then they are HTML already)."""
    num_cols = num_cols or set()
    th = "".join(f'<th{" class=num" if k in num_cols else ""}>{_e(h)}</th>' for k, h in enumerate(headers))
    body = []
    for r in rows:
        if len(r) == 1:  # a section row spanning the table
            body.append(f'<tr class="section"><td colspan="{len(headers)}">{r[0] if raw else _e(r[0])}</td></tr>')
            continue
        tds = "".join(f'<td{" class=num" if k in num_cols else ""}>{c if raw else _e(c)}</td>'
                      for k, c in enumerate(r))
        body.append(f"<tr>{tds}</tr>")
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# ---------------------------------------------------------------------------- scenario walking
def _walk(obj: Any, path: str = "") -> list[tuple[str, Any]]:
    """(field path, node) for every node of the scenario data, in file order; a
    distribution mapping ({dist: ...}) is a leaf."""
    out: list[tuple[str, Any]] = [(path, obj)] if path else []
    if isinstance(obj, dict) and "dist" not in obj:
        for k, v in obj.items():
            out += _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for j, v in enumerate(obj):
            out += _walk(v, f"{path}[{j}]")
    return out


def _is_dist(node: Any) -> bool:
    return isinstance(node, dict) and "dist" in node


def _is_uncertain_dist(node: Any) -> bool:
    return _is_dist(node) and str(node.get("dist")) != "fixed"


def describe_dist(node: dict[str, Any]) -> str:
    """'pert(min 0.3, mode 0.45, max 0.6)' for a distribution mapping."""
    kind = str(node.get("dist"))
    params = []
    for k, v in node.items():
        if k == "dist":
            continue
        if isinstance(v, list):
            params.append(f"{k} [{', '.join(_num(x) for x in v)}]")
        else:
            params.append(f"{k} {_num(v)}")
    return f"{kind}({', '.join(params)})"


@dataclass
class InputRow:
    path: str
    distribution: str
    kind: str  # "continuous", "date", "gate", "recorded"
    p10: str = "–"
    p50: str = "–"
    p90: str = "–"
    sampled: bool = False


def uncertain_inputs(data: dict[str, Any] | None, inputs: pd.DataFrame | None) -> list[InputRow]:
    """Every uncertain input: distributions in the scenario (file order) and recorded gates,
    each with its sampled P10/P50/P90 (or, for a yes/no gate, how often it fired)."""
    nodes = _walk(data or {})
    lookup = dict(nodes)
    order = {p: k for k, (p, _) in enumerate(nodes)}
    recorded = [c for c in (inputs.columns if inputs is not None else []) if c != "draw"]
    rows: dict[str, InputRow] = {}
    for path, node in nodes:
        if _is_uncertain_dist(node):
            kind = "date" if _is_date_input(path) else "continuous"
            rows[path] = InputRow(path, describe_dist(node), kind)
    for name in recorded:
        if name in rows:
            continue
        if name.endswith(GATE_SUFFIX):
            parent = lookup.get(name[: -len(GATE_SUFFIX)])
            p = parent.get("probability") if isinstance(parent, dict) else None
            desc = ("yes/no, probability " + (describe_dist(p) if _is_dist(p) else _num(p))) if p is not None \
                else "yes/no"
            rows[name] = InputRow(name, desc, "gate")
        else:
            rows[name] = InputRow(name, "sampled (distribution set elsewhere in the scenario)",
                                  "date" if _is_date_input(name) else "recorded")
    for name, row in rows.items():
        if inputs is None or name not in inputs.columns:
            continue
        x = inputs[name].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            continue
        row.sampled = True
        if row.kind == "gate":
            row.p50 = f"fires in {100 * x.mean():.0f} % of draws"
        else:
            q = np.percentile(x, [10, 50, 90])
            row.p10, row.p50, row.p90 = (_fmt_input(name, v) for v in q)

    def key(name: str) -> tuple[int, str]:
        base = name[: -len(GATE_SUFFIX)] if name.endswith(GATE_SUFFIX) else name
        while base and base not in order:
            base = base.rsplit(".", 1)[0] if "." in base else ""
        return (order.get(base, len(order)), name)

    return [rows[n] for n in sorted(rows, key=key)]


def fixed_inputs(data: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(field path, value) of every fixed scalar in the scenario (file order)."""
    out = []
    for path, node in _walk(data or {}):
        if path in ("name", "description"):
            continue
        if _is_dist(node) and not _is_uncertain_dist(node):
            out.append((path, _num(node.get("value"))))
        elif not isinstance(node, dict | list) and node is not None:
            out.append((path, _num(node)))
    return out


# ---------------------------------------------------------------------------- tornado from recorded draws
def decile_tornado(inputs: pd.DataFrame, y: np.ndarray, lo: float = 0.1, hi: float = 0.9) -> pd.DataFrame:
    """Sensitivity of y (one value per draw, aligned with `inputs` rows) to each recorded input.

    spearman: rank correlation over all draws. output_low / output_high: median of y over the
    draws with the input in its bottom / top decile (yes/no gates: did not fire / fired);
    swing = output_high - output_low. Sorted by |spearman| (then |swing|), largest first: the
    rank correlation uses every draw, so it ranks more reliably than decile medians do.
    """
    from scipy.stats import rankdata

    base = float(np.median(y)) if y.size else float("nan")
    rows = []
    for name in inputs.columns:
        if name == "draw":
            continue
        x = inputs[name].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        x_ok, y_ok = x[ok], y[ok]
        if x_ok.size < 10 or np.ptp(x_ok) == 0:
            continue
        rx, ry = rankdata(x_ok), rankdata(y_ok)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        den = np.sqrt((rx**2).sum() * (ry**2).sum())
        rho = float((rx * ry).sum() / den) if den > 0 else 0.0
        values = np.unique(x_ok)
        if values.size == 2:  # yes/no gate (or any two-valued input)
            low, high = x_ok == values[0], x_ok == values[1]
        else:
            ql, qh = np.quantile(x_ok, [lo, hi])
            low, high = x_ok <= ql, x_ok >= qh
        if not low.any() or not high.any():
            continue
        rows.append({
            "input": name, "spearman": rho,
            "value_low": float(np.median(x_ok[low])), "value_high": float(np.median(x_ok[high])),
            "value_low_text": _fmt_input(name, float(np.median(x_ok[low])) if values.size > 2 else values[0]),
            "value_high_text": _fmt_input(name, float(np.median(x_ok[high])) if values.size > 2 else values[1]),
            "n_low": int(low.sum()), "n_high": int(high.sum()),
            "output_low": float(np.median(y_ok[low])), "output_high": float(np.median(y_ok[high])),
            "base_median": base,
        })
    cols = ["input", "spearman", "value_low", "value_high", "value_low_text", "value_high_text",
            "n_low", "n_high", "output_low", "output_high", "base_median"]
    df = pd.DataFrame(rows, columns=cols)
    df["swing"] = df["output_high"] - df["output_low"]
    order = np.lexsort((-df["swing"].abs().to_numpy(), -df["spearman"].abs().round(6).to_numpy()))
    return df.iloc[order].reset_index(drop=True)


def plot_decile_tornado(df: pd.DataFrame, *, top: int = TOP_INPUTS, title: str = "", money: bool = True) -> Any:
    from sim.plots import _money_formatter, _mpl

    plt = _mpl()
    d = df.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(11, 0.55 * max(len(d), 3) + 1.6))
    base = float(df["base_median"].iloc[0]) if len(df) else 0.0
    yy = np.arange(len(d))
    labels = []
    for r in d.itertuples():
        name = r.input if len(r.input) <= 62 else "…" + r.input[-61:]
        labels.append(f"{name}\n{r.value_low_text} → {r.value_high_text}   (ρ = {r.spearman:+.2f})")
    ax.barh(yy, d["output_low"] - base, left=base, color="#3b7dd8", alpha=0.85,
            label="input in its bottom decile (gate: does not fire)")
    ax.barh(yy, d["output_high"] - base, left=base, color="#d64545", alpha=0.85,
            label="input in its top decile (gate: fires)")
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(yy, labels, fontsize=8)
    if money:
        ax.xaxis.set_major_formatter(_money_formatter(""))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- charts
def _colors(n: int) -> list[Any]:
    from sim.plots import _mpl

    plt = _mpl()
    if n <= 10:
        return [plt.get_cmap("tab10")(k) for k in range(n)]
    t20 = plt.get_cmap("tab20")
    pal = [t20(k) for k in range(0, 20, 2)] + [t20(k) for k in range(1, 20, 2)]  # strong colours first
    return [pal[k % 20] for k in range(n)]


def plot_share(res: Results, by: str, metric: str = "revenue") -> tuple[Any, pd.DataFrame]:
    """Stacked area of each group's median `metric` as a share of the sum of the medians."""
    from sim.plots import _mpl, period_x

    plt = _mpl()
    groups, periods, arr = res.grouped(metric, by, freq="year")
    med = np.median(arr, axis=0)  # (groups, periods)
    tot = med.sum(axis=0, keepdims=True)
    share = np.divide(med, tot, out=np.zeros_like(med), where=tot > 0)
    order = np.argsort(-med[:, -1], kind="stable")  # largest in the last year at the bottom
    x = np.array([period_x(p) for p in periods])
    fig, ax = plt.subplots(figsize=(11, 4.6))
    colors = _colors(len(groups))
    ax.stackplot(x, 100 * share[order], labels=[groups[k] for k in order],
                 colors=[colors[k] for k in range(len(order))], alpha=0.9, linewidth=0.3, edgecolor="white")
    ax.set_ylim(0, 100)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel("share of median net revenue (%)")
    ax.grid(alpha=0.3)
    ncol = 1 if len(groups) <= 12 else 2
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, ncol=ncol, frameon=False)
    ax.set_title(f"Share of net revenue by {by} (median revenue of each {by} / sum of medians)", fontsize=10)
    fig.tight_layout()
    frame = pd.DataFrame(100 * share.T, index=periods, columns=groups)
    return fig, frame


# ---------------------------------------------------------------------------- the report
@dataclass
class Report:
    html: str
    charts: list[Chart]


class _Builder:
    def __init__(self, res: Results, other: Results | None, top: int) -> None:
        self.res = res
        self.other = other
        self.top = top
        self.charts: list[Chart] = []
        self.currency = res.meta.get("reporting_currency", "USD")
        self.data = self._scenario_data(res)
        self.inputs = self._inputs(res)
        _, self.years, _ = res.grouped("revenue", "total", freq="year")
        self.last = self.years[-1]
        self.middle = self.years[len(self.years) // 2]

    # ---------------------------------------------------------------- data
    @staticmethod
    def _scenario_data(res: Results) -> dict[str, Any] | None:
        f = res.path / "scenario.yaml"
        if not f.exists():
            return None
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{f} is not valid YAML: {exc}", file=str(f)) from None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _inputs(res: Results) -> pd.DataFrame | None:
        try:
            df = res.table("inputs")
        except ScenarioError:
            return None
        return df.sort_values("draw", kind="stable").reset_index(drop=True)

    def chart(self, id: str, fig: Any, title: str, alt: str, caption: str = "") -> str:
        c = Chart(id, title, alt, _png(fig), caption)
        self.charts.append(c)
        return c.html()

    # ---------------------------------------------------------------- sections
    def header(self) -> str:
        m = self.res.meta
        data = self.data or {}
        desc = data.get("description") or ""
        created = str(m.get("created", ""))
        items = [
            ("Scenario", m.get("scenario", "")),
            ("Draws", _num(m.get("draws"))),
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
        items = [("key-numbers", "Key numbers"), ("fan-charts", "Fan charts"),
                 ("share", "Share over time"), ("tornado", "What drives revenue")]
        if self.other is not None:
            items.append(("comparison", "Comparison"))
        items.append(("assumptions", "Assumptions"))
        return '<nav class="toc">' + " ".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in items) + "</nav>"

    def key_numbers(self) -> str:
        res = self.res
        years = list(dict.fromkeys([self.middle, self.last]))
        rows = []
        for metric, label, fmt in (("revenue", f"Total net revenue ({self.currency})", _money),
                                   ("infused", "Patients infused", _count)):
            _, periods, arr = res.grouped(metric, "total", freq="year")
            for y in years:
                x = arr[:, 0, periods.index(y)]
                q10, q50, q90 = np.percentile(x, [10, 50, 90])
                rows.append([label, y, fmt(q50), f"{fmt(q10)} – {fmt(q90)}"])
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
                 _money(q[1][g]), f"{_money(q[0][g])} – {_money(q[2][g])}",
                 f"{100 * q[1][g] / tot:.1f} %" if tot > 0 else "–"] for g in order]
        ptable = _table(["product", "company", "target", f"median ({self.currency})", "P10 – P90",
                         "median / median total"], prow, num_cols={3, 4, 5}, cls="data")
        return (f'<section id="key-numbers"><h2>Key numbers</h2>'
                f'<div class="cards">{"".join(cards)}</div>'
                f"<h3>Net revenue by product, {_e(self.last)}</h3>{ptable}"
                f'<p class="note-small">Percentiles are over the {_num(res.meta.get("draws"))} Monte Carlo draws; '
                f"P10–P90 is the central 80 % range. Product medians do not add up to the total's median.</p>"
                "</section>")

    @staticmethod
    def _section_of(path: str) -> str:
        parts = path.replace("[", ".[").split(".")
        if len(parts) == 1:
            return "general"
        if parts[0] in ("products", "indications", "regions", "events") and len(parts) > 2:
            return " › ".join(parts[:2])
        return parts[0]

    def assumptions(self) -> str:
        rows_in = uncertain_inputs(self.data, self.inputs)
        body: list[str] = []
        section = None
        for r in rows_in:
            sec = self._section_of(r.path)
            if sec != section:
                body.append(f'<tr class="section"><td colspan="5"><strong>{_e(sec)}</strong></td></tr>')
                section = sec
            if r.kind == "gate":
                sampled = f'<td class="num gate" colspan="3">{_e(r.p50)}</td>'
            else:
                sampled = "".join(f'<td class="num">{_e(v)}</td>' for v in (r.p10, r.p50, r.p90))
            body.append(f'<tr><td class="mono">{_e(r.path)}</td><td>{_e(r.distribution)}</td>{sampled}</tr>')
        draws = _num(self.res.meta.get("draws"))
        if rows_in:
            n_s = sum(r.sampled for r in rows_in)
            utable = ('<table class="data inputs"><thead><tr><th>field path</th><th>distribution</th>'
                      '<th class="num">P10</th><th class="num">P50</th><th class="num">P90</th></tr></thead>'
                      f'<tbody>{"".join(body)}</tbody></table>')
            intro = (f"<p>Distributions are as written in the merged scenario (dates as YYYY-MM); P10 / P50 / "
                     f"P90 are the values actually drawn in this run's {draws} draws. Yes/no gates (a launch "
                     f"or event that may not happen) show how often they fired.</p>")
            utable = (f'<details id="uncertain-inputs" open><summary>Uncertain inputs ({len(rows_in)}; '
                      f"{n_s} sampled in this run)</summary>{utable}</details>")
        else:
            utable = ""
            intro = "<p>This scenario has no uncertain inputs: every draw is the same.</p>"
        if self.data is None:
            intro += ('<p class="note">scenario.yaml is missing from the results folder: only the recorded '
                      "inputs are listed.</p>")
        fixed = fixed_inputs(self.data)
        frows: list[str] = []
        section = None
        for path, v in fixed:
            sec = self._section_of(path)
            if sec != section:
                frows.append(f'<tr class="section"><td colspan="2"><strong>{_e(sec)}</strong></td></tr>')
                section = sec
            frows.append(f'<tr><td class="mono">{_e(path)}</td><td class="num">{_e(v)}</td></tr>')
        ftable = ('<table class="data fixed"><thead><tr><th>field path</th><th class="num">value</th></tr>'
                  f'</thead><tbody>{"".join(frows)}</tbody></table>')
        details = (f'<details id="fixed-inputs"><summary>Fixed inputs ({len(fixed)} values: prices, costs, '
                   f"launch dates, market sizes, …)</summary>{ftable}</details>") if fixed else ""
        return f'<section id="assumptions"><h2>Assumptions</h2>{intro}{utable}{details}</section>'

    def _fan(self, metric: str, by: str) -> Any:
        """A fan chart figure: one wide panel for the total, a grid (largest groups first) otherwise."""
        from sim.plots import _mpl, plot_fan

        res = self.res
        what = {"revenue": f"Net revenue ({self.currency})", "infused": "Patients infused per year"}[metric]
        bands = "median and 50/80/90 % bands"
        if by == "total":
            fig, ax = _mpl().subplots(figsize=(10, 4.2))
            plot_fan(res, metric, "total", freq="year", ax=ax, title=f"{what}, total — {bands}")
            fig.tight_layout()
            return fig
        groups, periods, arr = res.grouped(metric, by, freq="year")
        order = np.argsort(-np.median(arr[:, :, -1], axis=0), kind="stable")
        fig = plot_fan(res, metric, by, freq="year", groups=[groups[k] for k in order],
                       title=f"{what} by {by} — {res.scenario}, {_num(res.meta.get('draws'))} draws; {bands}")
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
        res = self.res
        out = ['<section id="fan-charts"><h2>Fan charts</h2>'
               "<p>Median (line) and the 50 / 80 / 90 % central bands of the draws, by year. Panels are "
               f"ordered by median in {_e(self.last)}, largest first; each panel has its own y axis.</p>"]
        specs = [
            ("fan-revenue-total", "revenue", "total", "Total net revenue"),
            ("fan-revenue-product", "revenue", "product", "Net revenue by product"),
            ("fan-revenue-target", "revenue", "target", "Net revenue by target"),
            ("fan-revenue-region", "revenue", "region", "Net revenue by region"),
            ("fan-infused-total", "infused", "total", "Patients infused (total)"),
        ]
        for cid, metric, by, title in specs:
            unit = f" ({self.currency})" if metric == "revenue" else " (patients per year)"
            cap = f"{title}{unit}" + (f"; one panel per {by}." if by != "total" else ".")
            out.append(self.chart(cid, self._fan(metric, by), title,
                                  f"Fan chart of {title.lower()}{unit}, {res.scenario}", cap))
        out.append("</section>")
        return "".join(out)

    def share(self) -> str:
        out = ['<section id="share"><h2>Share over time</h2>']
        for by in ("product", "target"):
            fig, frame = plot_share(self.res, by)
            lead = frame.iloc[-1].sort_values(ascending=False).head(3)
            text = ", ".join(f"{g} {v:.0f} %" for g, v in lead.items())
            out.append(self.chart(f"share-{by}", fig, f"Revenue share by {by}",
                                  f"Stacked area chart of median net revenue share by {by}",
                                  f"Each {by}'s median yearly net revenue as a share of the sum of the "
                                  f"medians. Largest in {self.last}: {text}."))
        out.append("</section>")
        return "".join(out)

    def tornado(self) -> str:
        res = self.res
        head = '<section id="tornado"><h2>What drives revenue: tornado</h2>'
        if self.inputs is None or len(self.inputs.columns) <= 1:
            return head + "<p>No uncertain inputs were recorded in this run, so there is nothing to rank.</p></section>"
        _, periods, arr = res.grouped("revenue", "total", freq="year")
        y = arr[:, 0, periods.index(self.last)]
        if len(y) != len(self.inputs):
            return head + (f'<p class="note">The inputs table has {len(self.inputs)} rows for {len(y)} draws; '
                           "cannot align them.</p></section>")
        df = decile_tornado(self.inputs, y)
        if df.empty:
            return head + "<p>No recorded input varies across draws.</p></section>"
        n = len(y)
        title = (f"Total net revenue in {self.last}: median with each input in its bottom / top decile of "
                 f"draws\n(black line: median over all {n} draws)")
        fig = plot_decile_tornado(df, top=self.top, title=title)
        chart = self.chart("tornado-chart", fig, f"Tornado, total net revenue {self.last}",
                           f"Tornado chart of the {min(self.top, len(df))} inputs that move total net revenue "
                           f"in {self.last} most",
                           "Bars run from the median over all draws to the median over the draws with the "
                           "input in its bottom decile (blue) and top decile (red); labels give the input's "
                           "median value in each decile and its Spearman rank correlation ρ with the output; "
                           "inputs are ranked by |ρ|.")
        rows = [[r.input, f"{r.spearman:+.2f}", f"{r.value_low_text} → {r.value_high_text}",
                 _money(r.output_low), _money(r.output_high), _money(r.swing)]
                for r in df.head(self.top).itertuples()]
        table = _table(["input", "Spearman ρ", "input: bottom → top decile", "median | bottom",
                        "median | top", "swing"], rows, num_cols={1, 3, 4, 5}, cls="data")
        k = max(1, n // 10)
        note = (f'<p class="note-small">Read off this run\'s own draws, without re-running: each conditional '
                f"median uses about {k} draws, so small swings are sampling noise (and inputs that move "
                f"together are not separated). For a controlled tornado (one input at a time, others "
                f"held at common random numbers) and Sobol indices, run <code>sim sensitivity</code>.</p>")
        return head + chart + table + note + "</section>"

    def comparison(self) -> str:
        from sim.compare import (
            comparison_table,
            load_comparison,
            plot_difference,
            plot_side_by_side,
        )

        assert self.other is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmp_total = load_comparison([self.res, self.other], "revenue", "total", freq="year")
            cmp_prod = load_comparison([self.res, self.other], "revenue", "product", freq="year")
        base, alt = cmp_total.labels
        kind = ("paired draw by draw (common random numbers)" if cmp_total.paired
                else "UNPAIRED: independent draws, so differences include sampling noise")
        out = [f'<section id="comparison"><h2>Comparison: {_e(alt)} vs {_e(base)}</h2>',
               f"<p>Baseline <strong>{_e(base)}</strong> (<span class=mono>{_e(self.res.path)}</span>) against "
               f"<strong>{_e(alt)}</strong> (<span class=mono>{_e(self.other.path)}</span>); differences are "
               f"{_e(kind)}.</p>"]
        for n in dict.fromkeys(cmp_total.notes + cmp_prod.notes):
            out.append(f'<p class="note">{_e(n)}</p>')
        out.append(self.chart("compare-side-by-side", plot_side_by_side(cmp_total, title=f"Total net revenue "
                              f"({cmp_total.currency}): median and 50/80/90 % bands"),
                              "Side by side, total net revenue",
                              f"Side-by-side fan charts of total net revenue, {base} and {alt}",
                              "Same y axis for both scenarios."))
        pair = "paired, draw by draw" if cmp_total.paired else "UNPAIRED: independent draws"
        diff_title = f"Net revenue ({cmp_total.currency}): {alt} minus {base} ({pair})"
        out.append(self.chart("compare-difference-total", plot_difference(cmp_total, title=diff_title),
                              "Difference, total net revenue",
                              f"Fan chart of the difference in total net revenue, {alt} minus {base}",
                              f"{alt} minus {base}, {kind}."))
        out.append(self.chart("compare-difference-product", plot_difference(cmp_prod, title=diff_title + " by product"),
                              "Difference by product",
                              f"Fan charts of the difference in net revenue by product, {alt} minus {base}",
                              "The products with the largest differences."))
        df = pd.concat([comparison_table(cmp_total), comparison_table(cmp_prod)], ignore_index=True)
        rows: list[list[str]] = []
        for group, sub in df.groupby("group", sort=False):
            rows.append([f"<strong>{_e(group)}</strong>"])
            for r in sub.itertuples():
                if r.role == "baseline":
                    tail = ["(baseline)", "", "", ""]
                else:
                    tail = [_money(r.diff_median), f"{_money(r.diff_p10)} – {_money(r.diff_p90)}",
                            f"{r.p_greater:.2f}", f"{r.p_less:.2f}"]
                rows.append([_e(x) for x in (r.scenario, _money(r.median), f"{_money(r.p10)} – {_money(r.p90)}",
                                             *tail)])
        out.append(f"<h3>Net revenue in {_e(cmp_total.periods[-1])} ({_e(cmp_total.currency)})</h3>")
        out.append(_table(["scenario", "median", "P10 – P90", "difference median", "difference P10 – P90",
                           "P(> baseline)", "P(< baseline)"], rows, num_cols={1, 2, 3, 4, 5, 6},
                          cls="data compare-table", raw=True))
        out.append('<p class="note-small">Differences are scenario minus baseline; P(&gt; baseline) is the '
                   "share of draws in which the scenario is higher.</p>")
        out.append("</section>")
        return "".join(out)

    def build(self) -> str:
        body = [self.header(), self.toc(), self.key_numbers(), self.fan_charts(), self.share(), self.tornado()]
        if self.other is not None:
            body.append(self.comparison())
        body.append(self.assumptions())  # long: last, so the charts come first
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        from sim import __version__

        footer = (f"<footer>Generated {_e(stamp)} by <code>sim report</code> (sim {_e(__version__)}) from "
                  f"<span class=mono>{_e(self.res.path)}</span>. Self-contained: charts are embedded.</footer>")
        title = f"{self.res.scenario} — simulation report"
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{_e(title)}</title><style>{CSS}</style></head>"
                f'<body><main>{"".join(body)}{footer}</main></body></html>\n')


CSS = """
:root{--ink:#1f2933;--muted:#52606d;--line:#e4e7eb;--bg:#f3f5f8;--accent:#2f6fba;--soft:#f7f9fb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);line-height:1.45;
 font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 40px 48px;background:#fff;min-height:100vh}
.kicker{margin:0;color:var(--accent);font-size:.78rem;letter-spacing:.08em;text-transform:uppercase;font-weight:600}
h1{font-size:1.9rem;margin:.15rem 0 .3rem}
h2{font-size:1.35rem;margin:2.4rem 0 .8rem;padding-bottom:.35rem;border-bottom:2px solid var(--line)}
h3{font-size:1.02rem;margin:1.6rem 0 .5rem}
p{margin:.5rem 0}
.desc{color:var(--muted);font-size:1.05rem;margin:.2rem 0 1rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:.25rem 1.2rem;margin:0;
 font-size:.86rem;background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;overflow-wrap:anywhere}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",monospace;font-size:.82em}
nav.toc{margin:1.2rem 0 0;padding:.55rem 0;border-top:1px solid var(--line);border-bottom:1px solid var(--line);font-size:.9rem}
nav.toc a{color:var(--accent);text-decoration:none;margin-right:1.3rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px;margin:.6rem 0 1rem}
.card{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:.7rem .9rem;background:var(--soft)}
.card-label{font-size:.8rem;color:var(--muted)}
.card-value{font-size:1.55rem;font-weight:650;margin:.1rem 0;font-variant-numeric:tabular-nums}
.card-band{font-size:.82rem;color:var(--muted);font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-size:.84rem;margin:.4rem 0 .8rem}
th{text-align:left;font-weight:600;color:var(--muted);border-bottom:2px solid var(--line);padding:5px 8px;white-space:nowrap}
td{padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:baseline}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover{background:#f0f5fb}
td.gate{text-align:center;color:var(--muted)}
tr.section td{background:var(--soft);color:var(--ink);padding-top:8px;font-size:.82rem}
table.inputs td:first-child,table.fixed td:first-child{overflow-wrap:anywhere}
details{margin:1rem 0;border:1px solid var(--line);border-radius:6px;padding:.4rem .8rem}
details summary{cursor:pointer;font-weight:600;color:var(--accent);padding:.2rem 0}
figure{margin:1.1rem 0 1.8rem}
figure img{display:block;max-width:100%;height:auto;margin:0 auto;border:1px solid var(--line);border-radius:4px}
figcaption{font-size:.84rem;color:var(--muted);margin-top:.45rem}
.note{background:#fffbea;border-left:4px solid #f0b429;padding:.5rem .8rem;font-size:.88rem}
.note-small{font-size:.82rem;color:var(--muted)}
footer{margin-top:3rem;padding-top:.8rem;border-top:1px solid var(--line);font-size:.78rem;color:var(--muted)}
@media print{body{background:#fff}main{padding:0}figure{break-inside:avoid}}
"""


def build_report(results: Results | str | Path, compare: Results | str | Path | None = None,
                 *, top: int = TOP_INPUTS) -> Report:
    """The report's HTML (and its charts) for a results folder, optionally compared with another."""
    res = results if isinstance(results, Results) else Results(results)
    other = None if compare is None else (compare if isinstance(compare, Results) else Results(compare))
    if top < 1:
        raise ScenarioError(f"--top must be at least 1, got {top}")
    b = _Builder(res, other, top)
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


__all__ = ["Chart", "Report", "build_report", "decile_tornado", "describe_dist", "fixed_inputs",
           "plot_decile_tornado", "plot_share", "uncertain_inputs", "write_report"]

"""The report's longer sections: what drives revenue, the comparison, the assumptions."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pandas as pd

from sim.analysis.compare import comparison_table, load_comparison
from sim.analysis.decile import decile_tornado
from sim.formats import fmt_money, fmt_number
from sim.plots.compare import plot_difference, plot_side_by_side
from sim.plots.sensitivity import plot_decile_tornado
from sim.report.inputs import fixed_inputs, uncertain_inputs
from sim.report.markup import e as _e
from sim.report.markup import table as _table

if TYPE_CHECKING:
    from sim.report.html import ReportBuilder


def tornado_section(b: ReportBuilder) -> str:
    """The inputs that move total revenue in the last year most, read off the run's draws."""
    res = b.res
    head = '<section id="tornado"><h2>What drives revenue: tornado</h2>'
    if b.inputs is None or len(b.inputs.columns) <= 1:
        return head + "<p>No uncertain inputs were recorded in this run, so there is nothing to rank.</p></section>"
    _, periods, arr = res.grouped("revenue", "total", freq="year")
    y = arr[:, 0, periods.index(b.last)]
    if len(y) != len(b.inputs):
        return head + (f'<p class="note">The inputs table has {len(b.inputs)} rows for {len(y)} draws; '
                       "cannot align them.</p></section>")
    df = decile_tornado(b.inputs, y)
    if df.empty:
        return head + "<p>No recorded input varies across draws.</p></section>"
    n = len(y)
    title = (f"Net revenue, {b.total}, in {b.last}: median with each input in its bottom / top decile of "
             f"draws\n(black line: median over all {n} draws)")
    fig = plot_decile_tornado(df, top=b.top, title=title)
    chart = b.chart("tornado-chart", fig, f"Tornado, net revenue, {b.total}, {b.last}",
                       f"Tornado chart of the {min(b.top, len(df))} inputs that move net revenue, {b.total}, "
                       f"in {b.last} most",
                       "Bars run from the median over all draws to the median over the draws with the "
                       "input in its bottom decile (blue) and top decile (red); labels give the input's "
                       "median value in each decile and its Spearman rank correlation ρ with the output; "
                       "inputs are ranked by |ρ|.")
    rows = [[r.input, f"{r.spearman:+.2f}", f"{r.value_low_text} → {r.value_high_text}",
             fmt_money(r.output_low), fmt_money(r.output_high), fmt_money(r.swing)]
            for r in df.head(b.top).itertuples()]
    table = _table(["input", "Spearman ρ", "input: bottom → top decile", "median | bottom",
                    "median | top", "swing"], rows, num_cols={1, 3, 4, 5}, cls="data")
    k = max(1, n // 10)
    note = (f'<p class="note-small">Read off this run\'s own draws, without re-running: each conditional '
            f"median uses about {k} draws, so small swings are sampling noise (and inputs that move "
            f"together are not separated). For a controlled tornado (one input at a time, others "
            f"held at common random numbers) and Sobol indices, run <code>sim sensitivity</code>.</p>")
    return head + chart + table + note + "</section>"


def comparison_section(b: ReportBuilder) -> str:
    """The run against another: side by side, paired differences, the table."""
    assert b.other is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp_total = load_comparison([b.res, b.other], "revenue", "total", freq="year")
        cmp_prod = load_comparison([b.res, b.other], "revenue", "product", freq="year")
    base, alt = cmp_total.labels
    total = cmp_total.name("total")  # what both totals hold
    kind = ("paired draw by draw (common random numbers)" if cmp_total.paired
            else "UNPAIRED: independent draws, so differences include sampling noise")
    out = [f'<section id="comparison"><h2>Comparison: {_e(alt)} vs {_e(base)}</h2>',
           f"<p>Baseline <strong>{_e(base)}</strong> (<span class=mono>{_e(b.res.path)}</span>) against "
           f"<strong>{_e(alt)}</strong> (<span class=mono>{_e(b.other.path)}</span>); differences are "
           f"{_e(kind)}.</p>"]
    for n in dict.fromkeys(cmp_total.notes + cmp_prod.notes):
        out.append(f'<p class="note">{_e(n)}</p>')
    out.append(b.chart("compare-side-by-side", plot_side_by_side(cmp_total, title=f"Net revenue, "
                          f"{total} ({cmp_total.currency}): median and 50/80/90 % bands"),
                          f"Side by side, net revenue, {total}",
                          f"Side-by-side fan charts of net revenue, {total}, {base} and {alt}",
                          "Same y axis for both scenarios."))
    pair = "paired, draw by draw" if cmp_total.paired else "UNPAIRED: independent draws"
    diff_title = f"Net revenue ({cmp_total.currency}): {alt} minus {base} ({pair})"
    out.append(b.chart("compare-difference-total", plot_difference(cmp_total, title=diff_title),
                          f"Difference, net revenue, {total}",
                          f"Fan chart of the difference in net revenue, {total}, {alt} minus {base}",
                          f"{alt} minus {base}, {kind}."))
    out.append(b.chart("compare-difference-product", plot_difference(cmp_prod, title=diff_title + " by product"),
                          "Difference by product",
                          f"Fan charts of the difference in net revenue by product, {alt} minus {base}",
                          "The products with the largest differences."))
    df = pd.concat([comparison_table(cmp_total), comparison_table(cmp_prod)], ignore_index=True)
    rows: list[list[str]] = []
    for group, sub in df.groupby("group", sort=False):
        rows.append([f"<strong>{_e(cmp_total.name(str(group)))}</strong>"])
        for r in sub.itertuples():
            if r.role == "baseline":
                tail = ["(baseline)", "", "", ""]
            else:
                tail = [fmt_money(r.diff_median), f"{fmt_money(r.diff_p10)} – {fmt_money(r.diff_p90)}",
                        f"{r.p_greater:.2f}", f"{r.p_less:.2f}"]
            rows.append([_e(x) for x in (r.scenario, fmt_money(r.median), f"{fmt_money(r.p10)} – {fmt_money(r.p90)}",
                                         *tail)])
    out.append(f"<h3>Net revenue in {_e(cmp_total.periods[-1])} ({_e(cmp_total.currency)})</h3>")
    out.append(_table(["scenario", "median", "P10 – P90", "difference median", "difference P10 – P90",
                       "P(> baseline)", "P(< baseline)"], rows, num_cols={1, 2, 3, 4, 5, 6},
                      cls="data compare-table", raw=True))
    out.append('<p class="note-small">Differences are scenario minus baseline; P(&gt; baseline) is the '
               "share of draws in which the scenario is higher.</p>")
    out.append("</section>")
    return "".join(out)


def _section_of(path: str) -> str:
    """The part of the scenario a field path belongs to (a row heading of the inputs table)."""
    parts = path.replace("[", ".[").split(".")
    if len(parts) == 1:
        return "general"
    if parts[0] in ("products", "indications", "regions", "events") and len(parts) > 2:
        return " › ".join(parts[:2])
    return parts[0]


def assumptions_section(b: ReportBuilder) -> str:
    """Every uncertain input with its distribution and the values drawn; the fixed ones folded."""
    rows_in = uncertain_inputs(b.data, b.inputs)
    body: list[str] = []
    section = None
    for r in rows_in:
        sec = _section_of(r.path)
        if sec != section:
            body.append(f'<tr class="section"><td colspan="5"><strong>{_e(sec)}</strong></td></tr>')
            section = sec
        if r.kind == "gate":
            sampled = f'<td class="num gate" colspan="3">{_e(r.p50)}</td>'
        else:
            sampled = "".join(f'<td class="num">{_e(v)}</td>' for v in (r.p10, r.p50, r.p90))
        body.append(f'<tr><td class="mono">{_e(r.path)}</td><td>{_e(r.distribution)}</td>{sampled}</tr>')
    draws = fmt_number(b.res.meta.get("draws"))
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
    if b.data is None:
        intro += ('<p class="note">scenario.yaml is missing from the results folder: only the recorded '
                  "inputs are listed.</p>")
    fixed = fixed_inputs(b.data)
    frows: list[str] = []
    section = None
    for path, v in fixed:
        sec = _section_of(path)
        if sec != section:
            frows.append(f'<tr class="section"><td colspan="2"><strong>{_e(sec)}</strong></td></tr>')
            section = sec
        frows.append(f'<tr><td class="mono">{_e(path)}</td><td class="num">{_e(v)}</td></tr>')
    ftable = ('<table class="data fixed"><thead><tr><th>field path</th><th class="num">value</th></tr>'
              f'</thead><tbody>{"".join(frows)}</tbody></table>')
    details = (f'<details id="fixed-inputs"><summary>Fixed inputs ({len(fixed)} values: prices, costs, '
               f"launch dates, market sizes, …)</summary>{ftable}</details>") if fixed else ""
    return f'<section id="assumptions"><h2>Assumptions</h2>{intro}{utable}{details}</section>'

"""summary.csv: the fast path (group sums written by the workers, stats spread over processes)
against the general path (grouped again from the parquet parts), against numpy, and the
order-statistic ranks behind the Monte Carlo standard errors."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
from helpers import REPO
from scipy.stats import binom

from sim import run
from sim.results import Results
from sim.results.stats import binom_ppf, order_statistic_ranks
from sim.results.summary import AGGREGATES, summary_frame, write_summary
from sim.scenario import load_scenario

CART = REPO / "scenarios" / "cart_2022.yaml"


@pytest.fixture(scope="module")
def cart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("summary") / "cart"
    return run(load_scenario(CART), draws=120, seed=11, out=out, workers=2, batch_size=35)


@pytest.mark.slow
def test_run_summary_is_byte_identical_to_a_resummary_from_the_parquet_parts(cart_run, tmp_path) -> None:
    assert not list((cart_run / "parts").glob(f"{AGGREGATES}-*.npy"))  # intermediates were removed
    again = write_summary(Results(cart_run), tmp_path / "summary.csv")  # general path: no aggregates
    assert again.read_bytes() == (cart_run / "summary.csv").read_bytes()


def test_summary_matches_numpy_on_the_stored_values(cart_run) -> None:
    df = pd.read_csv(cart_run / "summary.csv", dtype={"period": str})
    res = Results(cart_run)
    for by, metric in (("product", "revenue"), ("region", "infused"), ("total", "eligible"), ("lane", "infused")):
        groups, periods, arr = res.grouped(metric, by)  # float64 sums of the stored float32 values
        rows = df[(df.level == by) & (df.metric == metric)]
        assert len(rows) == len(groups) * len(periods) > 0
        for gi in (0, len(groups) - 1):
            for pi in (0, len(periods) // 2, len(periods) - 1):
                row = rows[(rows.group == groups[gi]) & (rows.period == periods[pi])].iloc[0]
                x = arr[:, gi, pi]
                scale = max(float(np.abs(x).max()), 1e-9)

                def close(got: float, want: float, scale: float = scale) -> bool:  # 6 digits; float32 sums
                    return abs(got - want) <= 5e-6 * abs(want) + 1e-6 * scale + 1e-9

                for p in (10, 50, 90):
                    assert close(row[f"p{p}"], np.percentile(x, p)), (by, metric, p)
                assert close(row["mean"], x.mean()) and close(row["sd"], x.std(ddof=1))


def test_summary_does_not_depend_on_worker_processes_or_batches(cart_run, tmp_path) -> None:
    one = run(load_scenario(CART), draws=120, seed=11, out=tmp_path / "one", workers=1, batch_size=120)
    assert (one / "summary.csv").read_bytes() == (cart_run / "summary.csv").read_bytes()


@pytest.mark.slow
def test_summary_frame_in_parallel_equals_serial(tmp_path) -> None:
    # keep the aggregates (a run removes them): summarize=False, then build both frames from them
    from sim.results.summary import aggregate_file

    p = run(load_scenario(REPO / "scenarios" / "example_small.yaml"), draws=40, seed=2, out=tmp_path / "r",
            batch_size=15, summarize=False)
    res = Results(p)
    serial = summary_frame(res)  # general path (no aggregates left)
    # write aggregates for the stored parts again and use the fast path, 1 and 2 processes
    from sim.engine.structure import build_structure
    from sim.results.summary import aggregates_bytes, batch_aggregates
    from sim.runner.tasks import simulate

    st = build_structure(load_scenario(REPO / "scenarios" / "example_small.yaml").scenario)
    from sim.runner.batches import plan_batches

    for task in plan_batches(40, 15):
        out = simulate(st, 2, task, "mc", 40, "batch")
        aggregate_file(p / "parts", task.index).write_bytes(aggregates_bytes(batch_aggregates(st, out)))
    fast1, fast2 = summary_frame(res, workers=1), summary_frame(res, workers=2)

    def csv(df: pd.DataFrame) -> str:
        buf = io.StringIO()
        df.to_csv(buf, index=False, float_format="%.6g")
        return buf.getvalue()

    assert csv(fast1) == csv(serial) == csv(fast2)
    # another plan than the workers' must not read their rows: it is grouped from the parts
    plan = [("region", "revenue"), ("total", "infused")]
    got = summary_frame(res, plan=plan)
    assert list(got.level.unique()) == ["region", "total"]
    want = pd.concat([serial[(serial.level == by) & (serial.metric == m)] for by, m in plan], ignore_index=True)
    assert csv(got) == csv(want)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 469, 1000, 10000])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_binom_ppf_matches_scipy_stats(n: int, p: float) -> None:
    for u in (0.001, 0.025, 0.3, 0.975, 0.999):
        assert binom_ppf(u, n, p) == int(binom.ppf(u, n, p))


def test_order_statistic_ranks_bracket_the_quantile() -> None:
    lo, hi = order_statistic_ranks(10000, 0.5)
    assert lo < 4999.5 < hi and hi - lo < 220  # about 2 x 1.96 x sqrt(n p (1 - p)) = 196 ranks


@pytest.mark.slow
def test_monthly_runs_report_quarters_and_years_too(tmp_path) -> None:
    scn = load_scenario(REPO / "scenarios" / "example_small.yaml")
    monthly = run(scn, draws=30, seed=4, out=tmp_path / "m", freq="month", workers=2, batch_size=7)
    yearly = run(scn, draws=30, seed=4, out=tmp_path / "y", freq="year", workers=1)
    m = pd.read_csv(monthly / "summary.csv", dtype={"period": str})
    y = pd.read_csv(yearly / "summary.csv", dtype={"period": str})
    assert {"2024-01", "2024Q1", "2024"} <= set(m.period)  # stored months, then quarters and years
    assert not y.period.str.contains("-|Q").any()  # a yearly run has nothing coarser to add
    key = ["level", "group", "period", "metric"]
    both = y.merge(m, on=key, suffixes=("_y", "_m"))
    assert len(both) == len(y)  # every yearly row of the yearly run is in the monthly run's summary
    for col in ("mean", "p10", "p50", "p90", "sd"):
        a, b = both[f"{col}_y"].to_numpy(), both[f"{col}_m"].to_numpy()
        # months stored in float32 then added, against years added in float64 then stored
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=1e-6 * np.abs(a).max())
    # waiting is a stock: a year's value is its December, not a sum of months
    w = m[(m.level == "total") & (m.metric == "waiting")].set_index("period")["mean"]
    assert w["2025"] == w["2025-12"] and w["2025Q2"] == w["2025-06"]
    inf = m[(m.level == "total") & (m.metric == "infused")].set_index("period")["mean"]
    months = [f"2025-{k:02d}" for k in range(1, 13)]
    assert inf["2025"] == pytest.approx(sum(inf[x] for x in months), rel=1e-5)
    # and the re-summary from the parquet parts gives the same bytes
    again = write_summary(Results(monthly), tmp_path / "again.csv")
    assert again.read_bytes() == (monthly / "summary.csv").read_bytes()


def test_aggregate_rows_are_read_by_byte_range_and_damage_is_reported(tmp_path) -> None:
    from sim.errors import ScenarioError
    from sim.results.summary import _read_rows

    x = np.arange(5 * 7, dtype=np.float32).reshape(5, 7)
    f = tmp_path / "summary-000000.npy"
    np.save(f, x)
    assert np.array_equal(_read_rows(str(f), 1, 3), x[1:4])
    assert np.array_equal(_read_rows(str(f), 4, 1), x[4:])
    with pytest.raises(ScenarioError, match="not the summary aggregates"):
        _read_rows(str(f), 3, 3)  # past the last row
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ScenarioError, match="truncated"):
        _read_rows(str(f), 0, 5)


@pytest.mark.slow
def test_summary_text_is_what_pandas_would_write(cart_run, monkeypatch) -> None:
    """summary.csv is formatted without pandas; it must be byte for byte what
    DataFrame.to_csv(float_format="%.6g") wrote before (NaN empty, inf, quoting)."""
    import sim.results.summary as R

    res = Results(cart_run)
    assert R.summary_text(res) == summary_frame(res).to_csv(index=False, float_format="%.6g")
    real = R._summary_stats

    def odd(*args):  # numbers and labels that real runs rarely have
        items = real(*args)
        it, stats = items[0]
        stats["mean"][:3] = [np.nan, np.inf, -0.0]
        stats["sd"][:2] = [-np.inf, 1e-300]
        gp = dataclasses.replace(it.gp, groups=['a,"b"'] + list(it.gp.groups[1:]))
        items[0] = (dataclasses.replace(it, gp=gp), stats)
        return items

    monkeypatch.setattr(R, "_summary_stats", odd)
    text = R.summary_text(res)
    assert text == summary_frame(res).to_csv(index=False, float_format="%.6g")
    assert ',"a,""b""",' in text and ",demand,," in text and ",inf," in text and ",-inf," in text


@pytest.mark.parametrize("text", ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rx", "", " lead", "ü/é"])
def test_csv_fields_are_quoted_as_the_csv_module_does(text: str) -> None:
    import csv

    from sim.results.summary import _csv_field

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text, "x"])
    assert _csv_field(text) + ",x\n" == buf.getvalue()

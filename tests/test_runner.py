"""Runner and results: reproducibility across batch sizes and workers, results folders,
and the Results reader's grouping and period conversion."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import EXAMPLE, example_scenario, load_dict, simulate, write_scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import run
from sim.engine.batch import simulate_batch
from sim.engine.structure import build_structure
from sim.errors import ScenarioError
from sim.results import Results
from sim.scenario import load_scenario

TABLES = ("lanes", "cells", "companies", "events")


def _concat(outs, attr: str) -> dict[str, np.ndarray]:
    return {k: np.concatenate([getattr(o, attr)[k] for o in outs], axis=0) for k in getattr(outs[0], attr)}


@pytest.fixture(scope="module")
def example_structure():
    d = example_scenario()
    d["events"]["cilta_cap"] = {"type": "capacity", "product": "Ciltacel", "capacity": 120.0,
                                "date": {"dist": "uniform", "min": "2023-01", "max": "2027-01"},
                                "probability": 0.5}
    from sim.scenario.schema import Scenario

    return build_structure(Scenario.model_validate(d), "quarter")


def test_batch_split_does_not_change_results(example_structure) -> None:
    st, n, seed = example_structure, 23, 17
    whole = simulate_batch(st, seed, np.arange(n))
    for size in (1, 7):
        outs = [simulate_batch(st, seed, np.arange(s, min(s + size, n))) for s in range(0, n, size)]
        for attr in ("lanes", "cells", "companies", "events"):
            got, ref = _concat(outs, attr), getattr(whole, attr)
            assert got.keys() == ref.keys()
            for k in ref:
                assert np.array_equal(got[k], ref[k], equal_nan=True), (size, attr, k)
    # draw i depends only on (seed, i): a batch of draws [5, 2] equals those rows of the whole
    part = simulate_batch(st, seed, np.array([5, 2]))
    assert np.array_equal(part.lanes["revenue"], whole.lanes["revenue"][[5, 2]])
    # a different seed gives different draws
    other = simulate_batch(st, seed + 1, np.arange(n))
    assert not np.array_equal(other.lanes["revenue"], whole.lanes["revenue"])


def _read_all(path) -> dict[str, pd.DataFrame]:
    res = Results(path)
    return {t: res.table(t) for t in TABLES}


@pytest.mark.slow
def test_run_is_identical_for_workers_and_batch_sizes(tmp_path) -> None:
    loaded = load_scenario(EXAMPLE)
    kw = dict(draws=24, seed=5, freq="year")
    p1 = run(loaded, out=tmp_path / "w1", workers=1, **kw)
    p2 = run(loaded, out=tmp_path / "w2", workers=2, batch_size=5, **kw)
    p3 = run(loaded, out=tmp_path / "w1b3", workers=1, batch_size=3, **kw)
    meta2 = json.loads((p2 / "metadata.json").read_text())
    assert meta2["workers"] == 2 and meta2["batches"] == 5  # the parallel path really ran
    assert len(list((p3 / "parts").glob("lanes-*.parquet"))) == 8
    ref = _read_all(p1)
    for p in (p2, p3):
        got = _read_all(p)
        for t in TABLES:
            pd.testing.assert_frame_equal(got[t], ref[t], check_exact=True)
        r_ref, r_got = Results(p1), Results(p)
        for metric in ("revenue", "infused", "waiting"):
            assert np.array_equal(r_got.array(metric), r_ref.array(metric))
        assert (p / "summary.csv").read_bytes() == (p1 / "summary.csv").read_bytes()
    # the draws are in order 0..n-1 whatever the split
    assert np.array_equal(Results(p2).draws, np.arange(24))
    # another seed differs
    p4 = run(loaded, out=tmp_path / "seed6", workers=1, draws=24, seed=6, freq="year")
    assert not np.array_equal(Results(p4).array("revenue"), Results(p1).array("revenue"))


def test_run_matches_the_engine_and_writes_a_complete_folder(tmp_path) -> None:
    loaded = load_scenario(EXAMPLE)
    path = run(loaded, draws=10, seed=3, out=tmp_path / "r", freq="quarter")
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["draws"] == 10 and meta["seed"] == 3
    assert meta["frequency"] == "quarter"
    assert (path / "summary.csv").exists() and (path / "scenario.yaml").exists()
    assert not (tmp_path / "r.partial").exists()
    st, out = simulate(loaded.scenario, draws=10, seed=3, freq="quarter")
    res = Results(path)
    assert res.periods == st.periods
    # stored as float32: every stored number is exactly the float32 rounding of the float64
    # engine's (the runner keeps batch results in float32, which must not change a bit)
    for table in ("lanes", "cells", "companies"):
        for metric, x in getattr(out, table).items():
            got = res.array(metric, table, np.float32)  # (draws, periods, items)
            want = np.ascontiguousarray(x.transpose(0, 2, 1)).astype(np.float32)
            assert got.tobytes() == want.tobytes(), (table, metric)
    # the merged scenario stored in the folder loads back to the same scenario
    again = load_scenario(path / "scenario.yaml")
    assert again.scenario == loaded.scenario


def test_existing_results_folder_needs_force(tmp_path) -> None:
    loaded = load_scenario(EXAMPLE)
    path = run(loaded, draws=3, seed=1, out=tmp_path / "r")
    stamp = (path / "metadata.json").read_text()
    with pytest.raises(ScenarioError, match="already exists"):
        run(loaded, draws=3, seed=2, out=tmp_path / "r")
    assert (path / "metadata.json").read_text() == stamp  # untouched
    run(loaded, draws=4, seed=2, out=tmp_path / "r", force=True)
    assert json.loads((path / "metadata.json").read_text())["draws"] == 4


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"draws": 0}, "draws"), ({"workers": 0}, "workers"), ({"freq": "week"}, "freq"),
])
def test_run_refuses_bad_arguments(tmp_path, kwargs, match) -> None:
    args = {"draws": 2, "seed": 0, "out": tmp_path / "r"} | kwargs
    with pytest.raises(ScenarioError, match=match):
        run(EXAMPLE, **args)
    assert not (tmp_path / "r").exists()


def test_results_grouping_and_period_conversion(tmp_path) -> None:
    d = example_scenario()
    path = write_scenario(tmp_path, d)
    pm = run(path, draws=8, seed=4, out=tmp_path / "m", freq="month")
    py = run(path, draws=8, seed=4, out=tmp_path / "y", freq="year")
    rm, ry = Results(pm), Results(py)
    # product groups add up to the total
    groups, periods, by_prod = rm.grouped("revenue", "product")
    assert groups == sorted(load_dict(tmp_path, d).products)
    _, _, total = rm.grouped("revenue", "total")
    np.testing.assert_allclose(by_prod.sum(axis=1), total[:, 0], rtol=1e-6)
    # monthly results converted to years equal a yearly run (flows summed, stocks at year end)
    for metric in ("revenue", "infused", "dropped", "waiting", "eligible"):
        g1, p1, a1 = rm.grouped(metric, "region", freq="year")
        g2, p2, a2 = ry.grouped(metric, "region")
        assert (g1, p1) == (g2, p2)
        np.testing.assert_allclose(a1, a2, rtol=2e-5, atol=1e-3, err_msg=metric)
    _, _, w_month = rm.grouped("waiting", "total")
    _, _, w_year = rm.grouped("waiting", "total", freq="year")
    np.testing.assert_array_equal(w_year[:, 0], w_month[:, 0, 11::12])
    # filters select, and a filter matching nothing is a user error
    g, _, us = rm.grouped("revenue", "product", filters={"region": ["US"]})
    assert g == ["Axicel", "Ciltacel"]
    with pytest.raises(ScenarioError, match="matches nothing"):
        rm.grouped("revenue", "product", filters={"region": ["Mars"]})
    with pytest.raises(ScenarioError, match="cannot report by month"):
        ry.grouped("revenue", "total", freq="month")


def test_parts_layout_and_reading_folders_of_the_old_layout(tmp_path) -> None:
    """Parts hold rows (period, item, draw); table() still gives draw-major rows and array()
    the same values whatever the batches. A folder written by 0.1 (rows draw, period, item, no
    part_layout in metadata.json) reads the same."""
    import pyarrow.parquet as pq

    from sim.results.parts import PART_LAYOUT

    new = run(load_scenario(EXAMPLE), draws=13, seed=2, out=tmp_path / "new", workers=1, batch_size=5)
    res = Results(new)
    assert res.part_layout == PART_LAYOUT == json.loads((new / "metadata.json").read_text())["part_layout"]
    n_lanes, NP = len(res.lanes), len(res.periods)
    first = pq.read_table(new / "parts" / "lanes-000000.parquet").to_pandas()
    assert (first.draw.to_numpy()[:5] == np.arange(5)).all() and (first.draw.to_numpy()[5:10] == np.arange(5)).all()
    assert first.period.cat.codes.is_monotonic_increasing
    df = res.table("lanes")
    assert (np.diff(df.draw.to_numpy()) >= 0).all() and len(df) == 13 * NP * n_lanes
    arr = res.array("revenue", "lanes", np.float32)
    assert np.array_equal(df.revenue.to_numpy().reshape(13, NP, n_lanes), arr)
    assert np.array_equal(res.draws, np.arange(13))
    # rewrite the parts in the old row order, and drop part_layout, as 0.1 wrote them
    old = tmp_path / "old"
    import shutil

    shutil.copytree(new, old)
    for table in ("lanes", "cells", "companies"):
        n_items = len(res.labels(table, "total"))
        for f in sorted((old / "parts").glob(f"{table}-*.parquet")):
            t = pq.read_table(f)
            B = t.num_rows // (NP * n_items)
            perm = np.arange(t.num_rows).reshape(NP, n_items, B).transpose(2, 0, 1).reshape(-1)
            pq.write_table(t.take(perm), f)
    meta = json.loads((old / "metadata.json").read_text())
    del meta["part_layout"]
    (old / "metadata.json").write_text(json.dumps(meta))
    res_old = Results(old)
    assert res_old.part_layout == "draw,period,item"
    for table, metric in (("lanes", "revenue"), ("cells", "eligible"), ("companies", "income")):
        assert np.array_equal(res_old.array(metric, table), res.array(metric, table))
        pd.testing.assert_frame_equal(res_old.table(table), res.table(table), check_exact=True)
    assert np.array_equal(res_old.draws, res.draws)
    meta["part_layout"] = "item,draw,period"
    (old / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ScenarioError, match="unknown part_layout"):
        Results(old)


@pytest.mark.slow
def test_a_worker_never_imports_pandas(tmp_path) -> None:
    """pandas costs every worker ~0.2 s of start-up; simulating, writing a batch and the summary
    statistics must not need it (pyarrow's pa.array() would import it: see results._arrow)."""
    import subprocess
    import sys

    from helpers import REPO

    code = f"""
import sys
from sim.runner.batches import BatchTask
from sim.runner.pool import warm_worker as _warm_worker
from sim.runner.tasks import run_task as _run_task
_warm_worker()
from sim.scenario import load_scenario
ld = load_scenario({str(REPO / "scenarios" / "cart_2022.yaml")!r})
_run_task(BatchTask(0, 0, 20), 1, {str(tmp_path)!r}, "mc", 20, "batch", None, (ld.data, ld.sha256, None))
from sim.results.summary import _item_stats
_item_stats([{str(tmp_path / "summary-000000.npy")!r}], 0, 10)
assert "pandas" not in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_event_calendar_keeps_simpys_order(example_structure) -> None:
    """Each month's actions run in the order they were queued; one queued for the month being
    applied (or a past one) runs straight after the action that queued it and what that queued
    before (as simpy's urgent events would); actions queued before the run for month 0 run in
    order, then what they queue."""
    from sim.engine.market import BatchMarket

    cal = BatchMarket(example_structure, 1, np.arange(2)).calendar
    order: list[str] = []

    def act(name: str, then: list[tuple[int, str, list]] | None = None):
        def f() -> None:
            order.append(f"{name}@{cal.env.now:g}")
            for m, child, grand in then or []:
                cal.queue(m, act(child, grand))
        return f

    cal.queue(0, act("X", [(0, "Z", []), (2, "W", [])]))
    cal.queue(0, act("Y"))
    cal.queue(3, act("A", [(3, "C", [(3, "C2", [])]), (5, "D", []), (2, "P", [])]))  # P: already past
    cal.queue(3, act("B", [(3, "E", [])]))
    cal.queue(2, act("V"))
    cal.start()
    cal.env.run(until=10)
    assert order == ["X@0", "Y@0", "Z@0", "V@2", "W@2", "A@3", "C@3", "P@3", "C2@3", "B@3", "E@3", "D@5"]


@settings(max_examples=300, deadline=None)
@given(draws=st.integers(1, 300_000), workers=st.integers(1, 16))
def test_default_batches_are_whole_rounds_within_the_memory_cap(example_structure, draws, workers) -> None:
    """Batches come in whole rounds of the workers (none idles while another runs a last batch)
    unless the run is tiny, never exceed the memory-based cap, and cover every draw."""
    from sim.runner.batches import DEFAULT_BATCH_ELEMENTS, default_batch_size, plan_batches

    st_ = example_structure
    size = default_batch_size(st_, draws, workers)
    per_draw = st_.L * st_.NP + st_.L * st_.K * 4
    cap = max(50, min(5000, DEFAULT_BATCH_ELEMENTS // per_draw))
    assert 1 <= size <= min(cap, draws)
    tasks = plan_batches(draws, size)
    assert tasks[0].start == 0 and tasks[-1].stop == draws
    if workers > 1 and draws >= 16 * workers:  # tiny runs cannot always split into equal rounds
        assert len(tasks) % workers == 0, (draws, workers, size, len(tasks))


def test_an_event_type_without_a_handler_is_an_error_not_a_readout(example_structure) -> None:
    """The engine's event registry refuses a type it has no handler for (0.1.0 ran it as a read-out)."""
    from types import SimpleNamespace

    from sim.engine.events import HANDLERS, event_action
    from sim.engine.market import BatchMarket
    from sim.engine.state import FACETS

    market = BatchMarket(example_structure, 1, np.arange(2))
    with pytest.raises(ValueError, match="no handler for event type 'label_expansion'"):
        event_action(market, "x", SimpleNamespace(type="label_expansion"))
    for kind, cls in HANDLERS.items():  # each handler declares what it changes, in the state's terms
        assert set(cls.changes) <= set(FACETS), kind
    with pytest.raises(ValueError, match="unknown facet"):
        market.state.changed.mark(("prices",))


def test_the_runner_and_the_command_line_load_no_kernels_until_they_simulate() -> None:
    """A pool's parent never simulates: importing the runner, the API and the command line must
    not load numba (its import and LLVM cost ~60 MB and part of a second in every run's parent)."""
    import subprocess
    import sys

    code = "import sys, sim.runner, sim.api, sim.cli, sim.cli.run, sim.results; assert 'numba' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

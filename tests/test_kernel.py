"""The compiled monthly kernel against the numpy reference flow it replaces.

`BatchSim(kernel="numpy")` is the readable whole-array implementation of MODEL.md's monthly
steps; `kernel="compiled"` (the default) is the same month as one numba loop. They must agree
to rounding on every shipped scenario (affordability curves, capacity limits, inertia, deals,
events) and on small edge cases, and the kernel must keep the engine's batch independence.
The summary's order statistics (`row_stats`) must equal a full sort's, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, base_scenario, load_dict
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays

from sim.engine.batch import BatchOutput, simulate_batch
from sim.engine.structure import build_structure
from sim.scenario import load_scenario

SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))


def _max_rel_diff(a: BatchOutput, b: BatchOutput) -> float:
    worst = 0.0
    for table in ("lanes", "cells", "companies"):
        for metric, x in getattr(a, table).items():
            y = getattr(b, table)[metric]
            assert x.shape == y.shape, (table, metric)
            assert np.array_equal(np.isfinite(x), np.isfinite(y)), (table, metric)
            scale = max(float(np.abs(x).max(initial=0.0)), 1e-9)
            worst = max(worst, float(np.abs(x - y).max(initial=0.0)) / scale)
    return worst


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_compiled_kernel_matches_numpy_reference_on_shipped_scenarios(path: Path) -> None:
    st = build_structure(load_scenario(path).scenario)
    ids = np.arange(40)
    ref = simulate_batch(st, 7, ids, kernel="numpy")
    got = simulate_batch(st, 7, ids, kernel="compiled")
    assert _max_rel_diff(got, ref) < 1e-12
    # the comparison is not vacuous: patients are infused and money is made
    assert got.lanes["infused"].sum() > 0 and got.lanes["revenue"].sum() > 0


@pytest.mark.parametrize(("capacity", "inertia"), [(None, 0.0), (3.0, 0.0), (3.0, 0.6), (0.0, 0.3)])
def test_compiled_kernel_matches_reference_with_capacity_and_inertia(tmp_path, capacity, inertia) -> None:
    d = base_scenario()
    if capacity is not None:
        d["products"]["A"]["capacity"] = capacity
    d["indications"]["X"]["inertia"] = inertia
    st = build_structure(load_dict(tmp_path, d))
    ref = simulate_batch(st, 0, np.arange(3), kernel="numpy")
    got = simulate_batch(st, 0, np.arange(3), kernel="compiled")
    assert _max_rel_diff(got, ref) < 1e-12


def test_compiled_kernel_results_do_not_depend_on_the_batch() -> None:
    st = build_structure(load_scenario(REPO / "scenarios" / "cart_2022.yaml").scenario)
    whole = simulate_batch(st, 3, np.arange(30))
    part = simulate_batch(st, 3, np.arange(17, 23))
    for metric, x in whole.lanes.items():
        assert x[17:23].tobytes() == part.lanes[metric].tobytes(), metric


def test_unknown_kernel_is_refused() -> None:
    st = build_structure(load_scenario(REPO / "scenarios" / "example_small.yaml").scenario)
    with pytest.raises(ValueError, match="kernel must be one of"):
        simulate_batch(st, 0, np.arange(2), kernel="fortran")


# ------------------------------------------------------------------ summary order statistics
def _row_stats(x: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sim.results.kernels import row_stats

    mean, sd, vals = np.empty(x.shape[0]), np.empty(x.shape[0]), np.empty((x.shape[0], ranks.size))
    row_stats(np.ascontiguousarray(x, dtype=np.float32), ranks, mean, sd, vals)
    return mean, sd, vals


def _hard_rows(n: int) -> np.ndarray:
    """Rows a bucketed selection can get wrong: zeros with a spread of positives, negatives,
    -0.0 beside +0.0, infinities, denormals, ties, one outlier making every other value share a
    bucket, constant rows."""
    rng = np.random.default_rng(3)
    x = rng.lognormal(10.0, 2.0, (14, n)).astype(np.float32)
    x[0] = 0.0
    x[1, : n // 2] = 0.0
    x[2] *= -1.0
    x[3, ::2] = -0.0
    x[3, 1::2] = 0.0
    x[4, ::3] = np.inf
    x[4, 1::3] = -np.inf
    x[5] = rng.normal(0.0, 1e-41, n).astype(np.float32)  # denormals
    x[6] = rng.integers(0, 3, n).astype(np.float32)  # heavy ties
    x[7] = 1000.0 + rng.random(n).astype(np.float32)
    x[7, 0] = 3e38  # one outlier: the rest fall in one top-level bucket and are split again
    x[8] = rng.normal(0.0, 1.0, n).astype(np.float32)
    x[9] = 7.5
    x[10, :] = rng.normal(5e6, 1e3, n).astype(np.float32)
    x[10, : n // 3] = 0.0  # zeros + a narrow band: the band is one bucket
    x[11] = -x[10]
    x[12] = np.float32(np.nextafter(np.float32(1.0), np.float32(2.0)))
    x[12, ::5] = 1.0  # two adjacent floats only
    x[13] = np.arange(n, dtype=np.float32)[::-1]
    return x


@pytest.mark.parametrize("n", [1, 2, 7, 64, 65, 1000, 10_000])
def test_row_stats_order_statistics_equal_a_full_sort(n: int) -> None:
    x = _hard_rows(n)
    ranks = np.unique(np.r_[0, np.linspace(0, n - 1, 9).astype(np.int64), n - 1]).astype(np.int64)
    mean, sd, vals = _row_stats(x, ranks)
    assert np.array_equal(vals, np.sort(x, axis=1)[:, ranks].astype(np.float64))
    finite = np.isfinite(x).all(axis=1)
    assert np.allclose(mean[finite], x[finite].mean(axis=1, dtype=np.float64), rtol=1e-12, atol=1e-300)
    if n > 1:
        assert np.allclose(sd[finite], x[finite].std(axis=1, ddof=1, dtype=np.float64), rtol=1e-9, atol=1e-300)
    else:
        assert (sd == 0.0).all()


@given(arrays(np.float32, hst.tuples(hst.integers(1, 4), hst.integers(1, 300)),
              elements=hst.floats(width=32, allow_nan=False, allow_subnormal=True)),
       hst.data())
@settings(max_examples=150, deadline=None)
def test_row_stats_property_equal_to_sort(x: np.ndarray, data: hst.DataObject) -> None:
    n = x.shape[1]
    ranks = np.array(sorted(data.draw(hst.sets(hst.integers(0, n - 1), min_size=1, max_size=25))), dtype=np.int64)
    _, _, vals = _row_stats(x, ranks)
    assert np.array_equal(vals, np.sort(x, axis=1)[:, ranks].astype(np.float64))


def test_row_stats_mean_does_not_depend_on_how_draws_were_batched() -> None:
    rng = np.random.default_rng(5)
    x = rng.lognormal(3.0, 2.5, (3, 1001)).astype(np.float32)
    m1, s1, _ = _row_stats(x, np.array([500]))
    m2, s2, _ = _row_stats(x[::-1, :].copy(), np.array([500]))  # other rows around it: same per row
    assert np.array_equal(m1, m2[::-1]) and np.array_equal(s1, s2[::-1])


@pytest.mark.slow
def test_warm_up_loads_every_signature_a_run_uses(tmp_path) -> None:
    """A worker's warm-up must load the kernels with the argument types a real batch and the
    summary pass, or each worker would compile a second specialisation during the run."""
    import subprocess
    import sys

    code = f"""
import numpy as np
from sim.engine import derive, kernels as kernel, refresh
from sim.results import kernels as summary
from sim.runner.pool import warm_up_kernels
from sim.sampling import rng, tables
warm_up_kernels()
KERNELS = {{"month": kernel, "group_sums": summary, "row_stats": summary, "hashed_uniforms": rng,
           "table_interp": tables, "refresh_attr": refresh, "refresh_reach": refresh, "refresh_ranks": refresh,
           "finish": derive}}
before = {{f: len(getattr(m, f).signatures) for f, m in KERNELS.items()}}
from sim import run
run({str(REPO / "scenarios" / "example_small.yaml")!r}, draws=30, seed=1, out={str(tmp_path / "r")!r}, workers=1)
after = {{f: len(getattr(m, f).signatures) for f, m in KERNELS.items()}}
print(before, after)
assert before == after == {{f: 1 for f in KERNELS}}, (before, after)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr

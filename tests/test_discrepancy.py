"""Model discrepancy (issue 13): a mean-one log-normal random walk on each product's demand.

Theory: scale 0 is the model without it, bit for bit; the multiplier's log has variance
scale^2 (k + f^2) at month 12k + 12f and its mean is 1; the bands widen; draws do not depend on
how they are batched; both kernels agree; bad values are refused.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_kernels_agree, base_scenario, load_dict, simulate

from sim.engine.batch import simulate_batch
from sim.engine.structure import build_structure
from sim.errors import ScenarioError

N = 4000


def _scn(scale, by="product"):
    d = base_scenario()
    d["end"] = "2024-12"
    if scale is not None:
        d["discrepancy"] = {"scale": scale, "by": by}
    return d


def test_scale_zero_is_the_model_without_it_bit_for_bit(tmp_path) -> None:
    _, a = simulate(load_dict(tmp_path, _scn(None), "a.yaml"), 50, freq="month")
    _, b = simulate(load_dict(tmp_path, _scn(0.0), "b.yaml"), 50, freq="month")
    for table in ("lanes", "cells", "companies"):
        for m, x in getattr(a, table).items():
            assert x.tobytes() == getattr(b, table)[m].tobytes(), (table, m)


def test_the_multiplier_has_mean_one_and_the_stated_log_variance(tmp_path) -> None:
    _, base = simulate(load_dict(tmp_path, _scn(None), "a.yaml"), 1, freq="month")
    _, out = simulate(load_dict(tmp_path, _scn(0.3), "b.yaml"), N, freq="month")
    ratio = out.lanes["demand"][:, 0] / base.lanes["demand"][0, 0]  # (draws, months)
    t = np.arange(ratio.shape[1])
    k, f = t // 12, (t % 12) / 12.0
    var = 0.09 * (k + f * f)
    se = np.sqrt(np.expm1(var) / N)  # sd of a mean-one log-normal / sqrt(N)
    assert (np.abs(ratio.mean(axis=0) - 1.0) < 4 * se + 1e-12).all()
    later = t >= 12
    np.testing.assert_allclose(np.log(ratio[:, later]).var(axis=0), var[later], rtol=0.1)
    assert np.allclose(ratio[:, 0], 1.0)  # the walk starts at the scenario start


@pytest.mark.parametrize("where", ["start", "as_of"])
def test_the_walk_starts_at_its_start_month_or_the_scenarios_as_of(tmp_path, where) -> None:
    """Before the walk's start (by default what the scenario knows dates from: fitted to the past)
    demand is the model's exactly; from it, the log-variance grows as from the scenario start."""
    _, base = simulate(load_dict(tmp_path, _scn(None), "a.yaml"), 1, freq="month")
    d = _scn(0.3)
    if where == "start":
        d["discrepancy"]["start"] = "2021-07"
    else:
        d["as_of"] = "2021-07"
    _, out = simulate(load_dict(tmp_path, d, "b.yaml"), N, freq="month")
    ratio = out.lanes["demand"][:, 0] / base.lanes["demand"][0, 0]
    first = 18  # 2021-07, the scenario starting 2020-01
    assert (ratio[:, :first + 1] == 1.0).all()
    tau = np.arange(ratio.shape[1] - first)
    var = 0.09 * (tau // 12 + ((tau % 12) / 12.0) ** 2)
    later = tau >= 12
    np.testing.assert_allclose(np.log(ratio[:, first:][:, later]).var(axis=0), var[later], rtol=0.1)


def test_a_walk_starting_outside_the_horizon_is_refused(tmp_path) -> None:
    d = _scn(0.3)
    d["discrepancy"]["start"] = "2031-01"
    with pytest.raises(ScenarioError, match="discrepancy.start"):
        load_dict(tmp_path, d)


def test_discrepancy_widens_the_band(tmp_path) -> None:
    d = _scn(None)
    d["indications"]["X"]["uptake"]["ceiling"] = {"dist": "uniform", "min": 0.4, "max": 0.6}
    _, a = simulate(load_dict(tmp_path, d, "a.yaml"), 2000)
    d["discrepancy"] = {"scale": 0.25}
    _, b = simulate(load_dict(tmp_path, d, "b.yaml"), 2000)

    def ratio(out):
        x = out.lanes["revenue"][:, 0, -1]
        return np.quantile(x, 0.9) / np.quantile(x, 0.1)

    assert ratio(b) > 1.3 * ratio(a)


def test_draws_do_not_depend_on_their_batch_and_kernels_agree(tmp_path) -> None:
    d = _scn({"dist": "uniform", "min": 0.05, "max": 0.4}, by="lane")
    d["regions"]["CN"] = {"currency": "CNY", "fx": 7.0, "affordability": {"median": 300000.0},
                          "payers": {"cash": {"share": 1.0, "out_of_pocket": 1.0}}}
    d["indications"]["X"]["markets"]["CN"] = {"eligible": 3000.0}
    d["products"]["A"]["regions"]["CN"] = {"price": 500000.0, "launches": {"X": "2021-01"}}
    d["products"]["A"]["capacity"] = 30
    st = build_structure(load_dict(tmp_path, d))
    whole = assert_kernels_agree(st, 4, 12)
    parts = [simulate_batch(st, 4, np.arange(a, b)) for a, b in ((0, 5), (5, 12))]
    for m, x in whole.lanes.items():
        assert x.tobytes() == np.concatenate([p.lanes[m] for p in parts]).tobytes(), m
    # by lane: the product's two markets move apart
    lanes = whole.lanes["demand"][:, :, -1]
    assert not np.allclose(lanes[:, 0] / lanes[:, 0].mean(), lanes[:, 1] / lanes[:, 1].mean())


@pytest.mark.parametrize("spec,where,expected", [
    ({"scale": -0.1}, "discrepancy.scale", "non-negative"),
    ({"scale": 0.1, "by": "company"}, "discrepancy.by", "'product' or 'lane'"),
    ({"scal": 0.1}, "discrepancy.scal", "did you mean 'scale'"),
])
def test_bad_discrepancy_is_refused(tmp_path, spec, where, expected) -> None:
    d = _scn(None)
    d["discrepancy"] = spec
    with pytest.raises(ScenarioError) as exc:
        load_dict(tmp_path, d)
    text = str(exc.value.render() if hasattr(exc.value, "render") else exc.value)
    assert f"at '{where}'" in text and expected in text, text

"""Sampling designs, rank correlation (Iman–Conover) and Monte Carlo error / convergence."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import base_scenario, example_scenario, load_dict, write_scenario
from scipy.stats import spearmanr

from sim.analysis.convergence import (
    percentile_se,
    quantile_ci,
    quantile_se,
    relative_se,
    run_until,
)
from sim.analysis.evaluator import Evaluator, Measure
from sim.cli import build_parser
from sim.engine.batch import simulate_batch
from sim.engine.structure import build_structure
from sim.results.stats import order_statistic_ranks
from sim.sampling.correlation import CorrelatedDesign, gaussian_copula, iman_conover
from sim.sampling.designs import make_design

PRICE = "products.A.regions.US.price"
CEILING = "indications.X.uptake.ceiling"
TARGET = np.array([[1.0, 0.7, -0.4], [0.7, 1.0, -0.2], [-0.4, -0.2, 1.0]])


def two_inputs() -> dict:
    """Revenue = f(ceiling) x price: monotone in both uncertain inputs."""
    d = base_scenario()
    d["products"]["A"]["regions"]["US"]["price"] = {"dist": "uniform", "min": 80_000, "max": 120_000}
    d["indications"]["X"]["uptake"]["ceiling"] = {"dist": "pert", "min": 0.3, "mode": 0.45, "max": 0.6}
    return d


# ---------------------------------------------------------------------------- designs
def test_lhs_mean_has_lower_variance_than_plain_mc(tmp_path):
    st = build_structure(load_dict(tmp_path, two_inputs()))
    n, seeds = 40, range(25)

    def mean_revenue(kind: str, seed: int) -> float:
        out = simulate_batch(st, seed, np.arange(n), make_design(kind, n, seed))
        return float(out.lanes["revenue"][:, :, -1].sum(axis=1).mean())

    mc = np.array([mean_revenue("mc", s) for s in seeds])
    lhs = np.array([mean_revenue("lhs", s) for s in seeds])
    ratio = lhs.var(ddof=1) / mc.var(ddof=1)
    assert ratio < 0.2, ratio
    assert abs(lhs.mean() - mc.mean()) < 4 * mc.std(ddof=1) / np.sqrt(len(seeds))  # same expectation


def test_lhs_puts_one_draw_in_each_stratum(tmp_path):
    st = build_structure(load_dict(tmp_path, two_inputs()))
    n = 64
    out = simulate_batch(st, 7, np.arange(n), make_design("lhs", n, 7))
    u = (out.inputs[PRICE] - 80_000) / 40_000
    assert sorted(np.floor(u * n).astype(int).tolist()) == list(range(n))


# ---------------------------------------------------------------------------- correlation
def test_iman_conover_hits_target_rank_correlation_and_keeps_marginals():
    u = np.random.default_rng(0).random((2000, 3))
    v = iman_conover(u, TARGET)
    achieved = spearmanr(v).statistic
    np.testing.assert_allclose(achieved, TARGET, atol=0.05)
    np.testing.assert_array_equal(np.sort(v, axis=0), np.sort(u, axis=0))


def test_iman_conover_several_seeds_and_sizes():
    for seed, n in ((1, 500), (2, 2000), (3, 5000)):
        u = np.random.default_rng(seed).random((n, 2))
        for r in (-0.9, 0.3, 0.95):
            v = iman_conover(u, np.array([[1.0, r], [r, 1.0]]))
            assert spearmanr(v[:, 0], v[:, 1]).statistic == pytest.approx(r, abs=0.05 if n >= 2000 else 0.08)


def test_iman_conover_rejects_inconsistent_targets():
    u = np.random.default_rng(0).random((100, 3))
    with pytest.raises(ValueError, match="positive definite"):
        iman_conover(u, np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]))
    with pytest.raises(ValueError, match="symmetric"):
        iman_conover(u, np.array([[1, 0.5, 0], [0.2, 1, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match="3 inputs"):
        iman_conover(u, np.eye(2))


def test_gaussian_copula_rank_correlation_per_draw():
    u = np.random.default_rng(5).random((4000, 3))
    v = gaussian_copula(u, TARGET)
    np.testing.assert_allclose(spearmanr(v).statistic, TARGET, atol=0.05)
    np.testing.assert_array_equal(gaussian_copula(u[:10], TARGET), v[:10])  # row by row


def test_correlated_design_in_the_engine_is_batch_invariant(tmp_path):
    st = build_structure(load_dict(tmp_path, two_inputs()))
    n = 2000

    def design() -> CorrelatedDesign:
        return CorrelatedDesign(n_total=n, seed=11, names=(PRICE, CEILING), target=[[1, 0.8], [0.8, 1]])

    whole = simulate_batch(st, 11, np.arange(n), design())
    rho = spearmanr(whole.inputs[PRICE], whole.inputs[CEILING]).statistic
    assert rho == pytest.approx(0.8, abs=0.05)
    d = design()
    halves = [simulate_batch(st, 11, ids, d) for ids in (np.arange(0, 700), np.arange(700, n))]
    np.testing.assert_array_equal(np.concatenate([h.inputs[PRICE] for h in halves]), whole.inputs[PRICE])
    # marginals: the same values as the uncorrelated design, reordered
    plain = simulate_batch(st, 11, np.arange(n))
    np.testing.assert_allclose(np.sort(whole.inputs[CEILING]), np.sort(plain.inputs[CEILING]))


# ---------------------------------------------------------------------------- convergence
def test_median_standard_error_matches_theory_for_normal_draws():
    n = 4000
    x = np.random.default_rng(0).standard_normal((n, 300))
    theory = np.sqrt(np.pi / 2) / np.sqrt(n)  # SE of the median of N(0, 1): sqrt(pi/2) / sqrt(n)
    assert quantile_se(x, 0.5).mean() == pytest.approx(theory, rel=0.05)
    assert quantile_se(x, 0.5, method="batch").mean() == pytest.approx(theory, rel=0.1)
    # and the actual spread of the sample medians across the 300 columns agrees
    assert np.median(x, axis=0).std(ddof=1) == pytest.approx(theory, rel=0.12)


def test_order_statistic_interval_covers_the_true_quantile():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=(500, 2000))
    lo, hi = quantile_ci(x, 0.9)
    true = -np.log(0.1)
    cover = np.mean((lo <= true) & (true <= hi))
    assert 0.93 <= cover <= 0.98
    assert order_statistic_ranks(1, 0.5) == (0, 0)


def test_percentile_se_shapes_and_relative_se():
    arr = np.random.default_rng(2).lognormal(size=(1000, 3, 4))
    se = percentile_se(arr)
    assert set(se) == {"se_p5", "se_p10", "se_p25", "se_p50", "se_p75", "se_p90", "se_p95"}
    assert all(v.shape == (3, 4) for v in se.values())
    assert np.all(se["se_p95"] > se["se_p50"])  # thinner tail, less precise
    assert relative_se(0.0, 0.0) == 0.0 and np.isinf(relative_se(0.0, 1.0)) and relative_se(-2.0, 1.0) == 0.5


def test_run_until_equals_a_single_run_of_the_final_size(tmp_path):
    ev = Evaluator(load_dict(tmp_path, example_scenario()), Measure("revenue"), seed=3)
    p = ev.period_index("2030")
    res = run_until(lambda ids: ev.run(ids)[0], p, until_se=0.008, batch=150, max_draws=3000)
    assert res.converged and res.draws % 150 == 0 and res.history["rel_se"].iloc[-1] <= 0.008
    assert (res.history["rel_se"].iloc[:-1] > 0.008).all()
    single, _ = ev.run(np.arange(res.draws))
    np.testing.assert_array_equal(res.values, single)
    assert res.history["estimate"].iloc[-1] == pytest.approx(np.median(single[:, p]))
    capped = run_until(lambda ids: ev.run(ids)[0], p, until_se=1e-6, batch=100, max_draws=250)
    assert not capped.converged and capped.draws == 250 and list(capped.history["draws"]) == [100, 200, 250]


@pytest.mark.slow
def test_cli_converge(tmp_path, capsys):
    path = write_scenario(tmp_path, example_scenario())
    ap = build_parser()
    out = tmp_path / "conv"
    args = ap.parse_args(["converge", str(path), "--period", "2030", "--until-se", "0.02", "--batch", "100",
                          "--out", str(out), "--quiet"])
    assert args.func(args) == 0
    assert (out / "convergence.csv").exists() and (out / "convergence.png").stat().st_size > 0
    assert "converged" in capsys.readouterr().out
    args = ap.parse_args(["converge", str(path), "--until-se", "0.0001", "--batch", "50", "--max-draws", "100",
                          "--out", str(out), "--quiet"])
    assert args.func(args) == 1
    assert "NOT converged" in capsys.readouterr().out


def test_copula_design_depends_on_each_draw_only(tmp_path):
    st = build_structure(load_dict(tmp_path, two_inputs()))
    target = [[1, -0.6], [-0.6, 1]]
    d = CorrelatedDesign(n_total=0, seed=4, names=(PRICE, CEILING), target=target, method="copula")
    whole = simulate_batch(st, 4, np.arange(2000), d)
    assert spearmanr(whole.inputs[PRICE], whole.inputs[CEILING]).statistic == pytest.approx(-0.6, abs=0.05)
    later = simulate_batch(st, 4, np.arange(1500, 2500), d)  # an extended run reuses draws 1500..1999
    np.testing.assert_array_equal(later.inputs[PRICE][:500], whole.inputs[PRICE][1500:])
    with pytest.raises(ValueError, match="method"):
        CorrelatedDesign(names=(PRICE, CEILING), target=target, method="cholesky")


# ---------------------------------------------------------------------------- input names
def _every_kind_of_input() -> dict:
    """The small example with an uncertain input in every place the engine samples one."""
    d = example_scenario()
    u = {"dist": "uniform", "min": 0.1, "max": 0.2}
    d["indications"]["MM_5L"]["weights"] = {"cr": {"dist": "uniform", "min": 1.0, "max": 3.0}}
    d["indications"]["LBCL_3L"]["markets"]["US"]["drop_out"] = u
    d["regions"]["China"]["payers"]["commercial"]["out_of_pocket"] = {"dist": "uniform", "min": 0.4, "max": 0.6}
    d["products"]["Axicel"]["regions"]["US"]["launches"]["LBCL_3L"] = {"date": "2018-01", "price": {
        "dist": "uniform", "min": 3.5e5, "max": 4e5}}
    d["products"]["Axicel"]["deals"] = [{"partner": "P", "partner_share": u, "royalty": u, "upfront": {
        "dist": "uniform", "min": 1e6, "max": 2e6}, "upfront_date": "2019-01",
        "milestones": [{"amount": {"dist": "uniform", "min": 1e6, "max": 2e6}, "on": "Axicel/US"}]}]
    d.setdefault("events", {})["later_cut"] = {
        "type": "price_change", "product": "Axicel", "region": "US", "change": {"dist": "uniform", "min": -0.2, "max": 0},
        "after": "relma_nrdl", "probability": {"dist": "uniform", "min": 0.3, "max": 0.9},
        "lag_months": {"dist": "uniform", "min": 0, "max": 12},
        "rounds": {"month": 1, "probability": {"dist": "uniform", "min": 0.3, "max": 0.9},
                   "first_after_months": {"dist": "uniform", "min": 0, "max": 6}}}
    return d


@pytest.mark.slow
@pytest.mark.parametrize("case", ["shipped", "every-kind"])
def test_input_names_without_simulating_are_what_the_engine_records(case, tmp_path):
    """scenario.inputs.input_names lists a scenario's uncertain inputs from the scenario alone;
    over enough draws (every parent event fires in some) the engine records exactly those."""
    from helpers import REPO

    from sim.scenario import load_scenario
    from sim.scenario.inputs import input_names

    scns = ([load_scenario(p).scenario for p in sorted((REPO / "scenarios").glob("*.yaml"))] if case == "shipped"
            else [load_dict(tmp_path, _every_kind_of_input())])
    for scn in scns:
        names = input_names(scn)
        assert len(names) == len(set(names))
        recorded = set(simulate_batch(build_structure(scn), 0, np.arange(300)).inputs)
        assert recorded == set(names), (scn.name, sorted(recorded ^ set(names)))
    if case == "every-kind":
        assert {"events.later_cut.rounds.first_after_months", "indications.MM_5L.weights.cr",
                "products.Axicel.deals[0].milestones[0].amount"} <= set(names)

"""Distributions (sim/scenario/dists.py, sampled by sim/sampling/tables.py): inverse CDFs against scipy, sample moments, supports, bounds, dates."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.periods import month_ordinal, ordinal_to_str
from sim.sampling.rng import draw_keys, uniforms
from sim.sampling.tables import sample
from sim.scenario.dists import (
    DIST_TYPES,
    Bernoulli,
    Beta,
    Choice,
    Fixed,
    LogNormal,
    Normal,
    Pert,
    Triangular,
    Uniform,
    is_uncertain,
)
from sim.scenario.numbers import parse_date, parse_dist, parse_number

U_GRID = np.array([1e-9, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1 - 1e-9])
N = 20_000
Z90 = stats.norm.ppf(0.9)


@pytest.fixture(scope="module")
def u_sample() -> np.ndarray:
    return uniforms(draw_keys(2024, np.arange(N)), "test_dists")


def _pert_frozen(lo, mode, hi, lamb=4.0):
    r = hi - lo
    return stats.beta(1 + lamb * (mode - lo) / r, 1 + lamb * (hi - mode) / r, loc=lo, scale=r)


def _lognorm_mean_sd(mean, sd):
    s2 = math.log(1 + (sd / mean) ** 2)
    return stats.lognorm(s=math.sqrt(s2), scale=math.exp(math.log(mean) - s2 / 2))


# (spec, scipy frozen distribution with the same law)
CASES = {
    "uniform": ({"dist": "uniform", "min": 2.0, "max": 7.0}, stats.uniform(loc=2, scale=5)),
    "uniform_negative": ({"dist": "uniform", "min": -3.0, "max": -1.0}, stats.uniform(loc=-3, scale=2)),
    "triangular": (
        {"dist": "triangular", "min": 1.0, "mode": 2.0, "max": 5.0},
        stats.triang(c=0.25, loc=1, scale=4),
    ),
    "triangular_mode_at_min": (
        {"dist": "triangular", "min": 0.0, "mode": 0.0, "max": 2.0},
        stats.triang(c=0.0, loc=0, scale=2),
    ),
    "triangular_mode_at_max": (
        {"dist": "triangular", "min": 0.0, "mode": 2.0, "max": 2.0},
        stats.triang(c=1.0, loc=0, scale=2),
    ),
    "pert": ({"dist": "pert", "min": 0.3, "mode": 0.45, "max": 0.6}, _pert_frozen(0.3, 0.45, 0.6)),
    "pert_skewed": (
        {"dist": "pert", "min": 100.0, "mode": 120.0, "max": 300.0},
        _pert_frozen(100, 120, 300),
    ),
    "pert_lamb": (
        {"dist": "pert", "min": 0.0, "mode": 3.0, "max": 10.0, "lamb": 2.0},
        _pert_frozen(0, 3, 10, 2.0),
    ),
    "normal": ({"dist": "normal", "mean": 10.0, "sd": 2.0}, stats.norm(10, 2)),
    "normal_truncated": (
        {"dist": "normal", "mean": 0.3, "sd": 0.1, "min": 0.0, "max": 1.0},
        stats.truncnorm(-3, 7, loc=0.3, scale=0.1),
    ),
    "normal_truncated_tight": (
        {"dist": "normal", "mean": 5.0, "sd": 2.0, "min": 4.0, "max": 7.0},
        stats.truncnorm(-0.5, 1.0, loc=5, scale=2),
    ),
    "normal_truncated_below_only": (
        {"dist": "normal", "mean": 1.0, "sd": 1.0, "min": 0.0},
        stats.truncnorm(-1.0, np.inf, loc=1, scale=1),
    ),
    "normal_truncated_above_only": (
        {"dist": "normal", "mean": 1.0, "sd": 1.0, "max": 1.5},
        stats.truncnorm(-np.inf, 0.5, loc=1, scale=1),
    ),
    "normal_truncated_in_tail": (
        {"dist": "normal", "mean": 0.0, "sd": 1.0, "min": 2.0, "max": 3.0},
        stats.truncnorm(2.0, 3.0),
    ),
    "lognormal_median_sigma": (
        {"dist": "lognormal", "median": 300000.0, "sigma": 0.5},
        stats.lognorm(s=0.5, scale=300000),
    ),
    "lognormal_median_p90": (
        {"dist": "lognormal", "median": 100.0, "p90": 250.0},
        stats.lognorm(s=math.log(2.5) / Z90, scale=100),
    ),
    "lognormal_mean_sd": (
        {"dist": "lognormal", "mean": 50.0, "sd": 20.0},
        _lognorm_mean_sd(50.0, 20.0),
    ),
    "beta": ({"dist": "beta", "alpha": 2.0, "beta": 5.0}, stats.beta(2, 5)),
    "beta_scaled": (
        {"dist": "beta", "alpha": 0.5, "beta": 0.7, "min": 10.0, "max": 20.0},
        stats.beta(0.5, 0.7, loc=10, scale=10),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ppf_matches_scipy(case):
    spec, ref = CASES[case]
    d = parse_dist(spec)
    got = d.ppf(U_GRID)
    np.testing.assert_allclose(got, ref.ppf(U_GRID), rtol=1e-7, atol=1e-9)
    assert d.central() == pytest.approx(ref.median(), rel=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sample_matches_theory(case, u_sample):
    spec, ref = CASES[case]
    x = sample(parse_dist(spec), u_sample)
    assert x.shape == (N,)
    mean, sd = ref.mean(), ref.std()
    assert abs(x.mean() - mean) < 5 * sd / math.sqrt(N)
    assert x.std() == pytest.approx(sd, rel=0.05)
    # empirical CDF at the theoretical quantiles
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        assert abs((x <= ref.ppf(q)).mean() - q) < 0.015


@pytest.mark.parametrize("case", sorted(CASES))
def test_sample_inside_support(case, u_sample):
    spec, _ = CASES[case]
    d = parse_dist(spec)
    lo, hi = d.support()
    x = d.ppf(u_sample)
    assert np.all(np.isfinite(x))
    assert np.all(x >= lo) and np.all(x <= hi)


def test_ppf_preserves_shape():
    d = parse_dist({"dist": "pert", "min": 0, "mode": 1, "max": 3})
    u = np.full((3, 4), 0.5)
    assert d.ppf(u).shape == (3, 4)
    assert Fixed(dist="fixed", value=2).ppf(u).shape == (3, 4)


# --- individual distributions ------------------------------------------------------------


def test_fixed():
    d = parse_dist({"dist": "fixed", "value": 4.5})
    np.testing.assert_array_equal(d.ppf(U_GRID), np.full(U_GRID.shape, 4.5))
    assert d.support() == (4.5, 4.5)
    assert d.central() == 4.5
    assert not is_uncertain(d)


def test_uniform_degenerate_and_order():
    d = parse_dist({"dist": "uniform", "min": 3, "max": 3})
    np.testing.assert_array_equal(d.ppf(U_GRID), 3.0)
    with pytest.raises(ValueError, match="min <= max"):
        parse_dist({"dist": "uniform", "min": 4, "max": 3})


def test_pert_mean_is_classic_formula(u_sample):
    lo, mode, hi = 10.0, 14.0, 30.0
    d = Pert(dist="pert", min=lo, mode=mode, max=hi)
    assert _pert_frozen(lo, mode, hi).mean() == pytest.approx((lo + 4 * mode + hi) / 6)
    assert d.ppf(u_sample).mean() == pytest.approx((lo + 4 * mode + hi) / 6, rel=0.01)


@pytest.mark.parametrize("spec, match", [
    ({"dist": "pert", "min": 5, "mode": 3, "max": 1}, "min <= mode <= max"),
    ({"dist": "pert", "min": 1, "mode": 1, "max": 1}, "min < max"),
    ({"dist": "pert", "min": 0, "mode": 1, "max": 2, "lamb": 0}, "greater than 0"),
    ({"dist": "triangular", "min": 0, "mode": 3, "max": 2}, "min <= mode <= max"),
    ({"dist": "normal", "mean": 0, "sd": 0}, "greater than 0"),
    ({"dist": "normal", "mean": 0, "sd": -1}, "greater than 0"),
    ({"dist": "lognormal", "median": 100, "p90": 50}, "must be above the median"),
    ({"dist": "lognormal", "median": 100, "p90": 100}, "must be above the median"),
    ({"dist": "lognormal", "median": 100}, "exactly one of"),
    ({"dist": "lognormal", "median": 100, "sigma": 0.3, "p90": 200}, "exactly one of"),
    ({"dist": "lognormal", "median": -1, "sigma": 0.3}, "greater than 0"),
    ({"dist": "beta", "alpha": 0, "beta": 1}, "greater than 0"),
    ({"dist": "beta", "alpha": 1, "beta": 1, "min": 1, "max": 1}, "min < max"),
    ({"dist": "choice", "values": []}, "at least 1"),
    ({"dist": "choice", "values": [1, 2], "weights": [1]}, "2 values but 1 weights"),
    ({"dist": "choice", "values": [1, 2], "weights": [1, -1]}, ">= 0"),
    ({"dist": "choice", "values": [1, 2], "weights": [0, 0]}, "not all zero"),
    ({"dist": "bernoulli", "p": 1.7}, "less than or equal to 1"),
    ({"dist": "bernoulli", "p": -0.1}, "greater than or equal to 0"),
    ({"dist": "uniform", "min": 0, "max": 1, "mode": 0.5}, "unknown key for a uniform"),
    ({"dist": "pert", "min": 0, "mod": 1, "max": 2}, "did you mean 'mode'"),
    ({"dist": "lognormal", "median": 1, "sigma": 1, "p9": 2}, "did you mean 'p90'"),
    ({"dist": "lognormall", "median": 1, "sigma": 1}, "did you mean 'lognormal'"),
    ({"dist": "gamma", "shape": 1}, "unknown distribution 'gamma'"),
    ({"min": 0, "max": 1}, "needs a 'dist' key"),
])
def test_invalid_parameters_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_dist(spec)


def test_unknown_distribution_lists_the_options():
    with pytest.raises(ValueError) as exc:
        parse_dist({"dist": "unifrom", "min": 0, "max": 1})
    msg = str(exc.value)
    assert "did you mean 'uniform'" in msg
    for name in DIST_TYPES:
        assert name in msg


def test_lognormal_median_p90_hits_both_quantiles():
    d = LogNormal(dist="lognormal", median=100, p90=250)
    np.testing.assert_allclose(d.ppf(np.array([0.5, 0.9])), [100, 250], rtol=1e-12)


def test_lognormal_mean_sd_moments():
    d = LogNormal(dist="lognormal", mean=50, sd=20)
    mu, s = d._mu_sigma()
    assert math.exp(mu + s**2 / 2) == pytest.approx(50)
    assert math.sqrt((math.exp(s**2) - 1) * math.exp(2 * mu + s**2)) == pytest.approx(20)
    assert d.support() == (0.0, math.inf)


def test_normal_truncated_support_and_central():
    d = Normal(dist="normal", mean=0.5, sd=0.2, min=0.0, max=1.0)
    assert d.support() == (0.0, 1.0)
    assert d.central() == pytest.approx(0.5)
    assert Normal(dist="normal", mean=0, sd=1).support() == (-math.inf, math.inf)


def test_normal_truncated_has_no_point_mass_at_bounds(u_sample):
    """Exact inversion (not clipping): no probability piles up at min or max."""
    d = Normal(dist="normal", mean=0.9, sd=0.2, min=0.0, max=1.0)
    x = d.ppf(u_sample)
    assert (x == 1.0).mean() < 0.001 and (x == 0.0).mean() < 0.001
    assert abs((x <= 0.9).mean() - stats.truncnorm(-4.5, 0.5, loc=0.9, scale=0.2).cdf(0.9)) < 0.015


def test_normal_truncated_far_upper_tail():
    d = Normal(dist="normal", mean=0.0, sd=1.0, min=9.0, max=10.0)
    np.testing.assert_allclose(d.ppf(np.array([0.1, 0.5, 0.9])),
                               stats.truncnorm(9, 10).ppf([0.1, 0.5, 0.9]), rtol=1e-6)


def test_normal_truncated_far_lower_tail_is_exact():
    d = Normal(dist="normal", mean=0.0, sd=1.0, min=-10.0, max=-9.0)
    np.testing.assert_allclose(d.ppf(np.array([0.1, 0.5, 0.9])),
                               stats.truncnorm(-10, -9).ppf([0.1, 0.5, 0.9]), rtol=1e-6)


def test_choice_frequencies_and_ppf(u_sample):
    d = parse_dist({"dist": "choice", "values": [2024, 2025, 2026], "weights": [1, 2, 1]})
    np.testing.assert_array_equal(d.ppf(np.array([0.1, 0.24, 0.26, 0.5, 0.74, 0.76, 0.999])),
                                  [2024, 2024, 2025, 2025, 2025, 2026, 2026])
    x = d.ppf(u_sample)
    for v, p in [(2024, 0.25), (2025, 0.5), (2026, 0.25)]:
        assert abs((x == v).mean() - p) < 0.015
    assert d.support() == (2024, 2026)
    ref = stats.rv_discrete(values=([2024, 2025, 2026], [0.25, 0.5, 0.25]))
    # off the CDF jumps (at a jump scipy takes the lower value, sim the upper: measure zero)
    grid = U_GRID[(U_GRID != 0.25) & (U_GRID != 0.75)]
    np.testing.assert_array_equal(d.ppf(grid), ref.ppf(grid))


def test_choice_unweighted_and_zero_weight(u_sample):
    d = Choice(dist="choice", values=[1, 2, 3, 4])
    x = d.ppf(u_sample)
    for v in (1, 2, 3, 4):
        assert abs((x == v).mean() - 0.25) < 0.015
    z = Choice(dist="choice", values=[1, 2, 3], weights=[1, 0, 1])
    xz = z.ppf(np.concatenate([u_sample, [0.5, 0.5 - 1e-12, 0.5 + 1e-12]]))
    assert not np.any(xz == 2)
    single = Choice(dist="choice", values=[7])
    np.testing.assert_array_equal(single.ppf(U_GRID), 7.0)


def test_choice_ppf_monotone_with_unsorted_values():
    d = Choice(dist="choice", values=[2026, 2024, 2025])
    x = d.ppf(np.array([0.1, 0.5, 0.9]))
    assert np.all(np.diff(x) >= 0), x
    assert d.central() == 2025


def test_bernoulli(u_sample):
    d = parse_dist({"dist": "bernoulli", "p": 0.3})
    x = d.ppf(u_sample)
    assert set(np.unique(x)) <= {0.0, 1.0}
    assert abs(x.mean() - 0.3) < 5 * math.sqrt(0.3 * 0.7 / N)
    assert abs(x.mean() - stats.bernoulli(0.3).mean()) < 0.015
    assert d.support() == (0.0, 1.0)
    assert isinstance(parse_dist({"dist": "yesno", "p": 0.5}), Bernoulli)
    np.testing.assert_array_equal(Bernoulli(dist="bernoulli", p=0).ppf(u_sample), 0.0)
    np.testing.assert_array_equal(Bernoulli(dist="bernoulli", p=1).ppf(u_sample), 1.0)


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_bernoulli_ppf_is_monotone(p):
    u = np.linspace(0.01, 0.99, 99) + 0.005  # off the exact step at 1 - p
    x = Bernoulli(dist="bernoulli", p=p).ppf(u)
    assert np.all(np.diff(x) >= 0)
    np.testing.assert_array_equal(x, stats.bernoulli(p).ppf(u))


def test_every_registered_type_is_covered():
    assert set(DIST_TYPES) == {"fixed", "uniform", "triangular", "pert", "normal", "lognormal",
                               "beta", "choice", "bernoulli", "yesno"}
    covered = {CASES[c][0]["dist"] for c in CASES} | {"fixed", "choice", "bernoulli", "yesno"}
    assert covered == set(DIST_TYPES)


def test_distributions_are_frozen():
    d = Uniform(dist="uniform", min=0, max=1)
    with pytest.raises(Exception, match="frozen"):
        d.max = 2  # type: ignore[misc]


def test_sample_and_is_uncertain():
    u = np.array([0.1, 0.9])
    np.testing.assert_array_equal(sample(3.5, u), [3.5, 3.5])
    assert not is_uncertain(3.5)
    assert is_uncertain(Uniform(dist="uniform", min=0, max=1))


# --- parse_number: plain numbers, numeric text, bounds, supports -------------------------


@pytest.mark.parametrize("text, value", [
    ("350e6", 350e6), ("350E6", 350e6), ("1_000", 1000.0), ("-2.5", -2.5), (" 7 ", 7.0),
    ("1e-3", 0.001), (".5", 0.5),
])
def test_numeric_text_accepted(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("value", [3, 3.0, np.float64(3.0)])
def test_plain_numbers_become_float(value):
    out = parse_number(value)
    assert out == 3.0 and type(out) is float


@pytest.mark.parametrize("bad, match", [
    ("abc", "got text 'abc'"),
    ("1e400", "finite"),
    ("inf", "finite"),
    ("nan", "finite"),
    (float("inf"), "finite"),
    (float("nan"), "finite"),
    (True, "got True"),
    (None, "got None"),
    ([1, 2], "distribution mapping like"),
])
def test_parse_number_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        parse_number(bad)


@pytest.mark.parametrize("value, lo, hi, what, match", [
    (1.7, 0, 1, "a probability", r"expected a probability in \[0, 1\], got 1.7"),
    (-0.1, 0, 1, "a fraction", r"in \[0, 1\]"),
    (-5, 1e-12, math.inf, "a positive number", r"in \[1e-12, inf\]"),
    ({"dist": "normal", "mean": 0.5, "sd": 0.1}, 0, 1, "a probability",
     r"can take values in \[-inf, inf\] but a probability must lie in \[0, 1\] \(truncate it"),
    ({"dist": "normal", "mean": 0.5, "sd": 0.1, "min": 0, "max": 1.2}, 0, 1, "a probability",
     r"\[0, 1.2\]"),
    ({"dist": "uniform", "min": 0.5, "max": 1.5}, 0, 1, "a probability", "uniform distribution"),
    ({"dist": "lognormal", "median": 0.5, "sigma": 0.1}, 0, 1, "a fraction", r"\[0, inf\]"),
    ({"dist": "fixed", "value": 1.7}, 0, 1, "a probability", r"\[1.7, 1.7\]"),
    ({"dist": "beta", "alpha": 2, "beta": 2, "min": -1, "max": 1}, 0, 1, "a fraction", r"\[-1, 1\]"),
    ({"dist": "choice", "values": [0.5, 2]}, 0, 1, "a probability", r"\[0.5, 2\]"),
    ({"dist": "bernoulli", "p": 0.5}, 1e-12, math.inf, "a positive number", r"\[0, 1\]"),
    ({"dist": "pert", "min": -1, "mode": 0, "max": 1}, 0, math.inf, "a non-negative number",
     "pert distribution"),
])
def test_parse_number_support_outside_range(value, lo, hi, what, match):
    with pytest.raises(ValueError, match=match):
        parse_number(value, lo, hi, what)


@pytest.mark.parametrize("value", [
    {"dist": "normal", "mean": 0.5, "sd": 0.1, "min": 0, "max": 1},
    {"dist": "beta", "alpha": 2, "beta": 8},
    {"dist": "uniform", "min": 0, "max": 1},
    {"dist": "pert", "min": 0.1, "mode": 0.2, "max": 0.9},
    {"dist": "triangular", "min": 0, "mode": 1, "max": 1},
    {"dist": "bernoulli", "p": 0.4},
    {"dist": "choice", "values": [0, 0.5, 1]},
    {"dist": "fixed", "value": 1},
    0, 1, 0.5, "0.5",
])
def test_parse_number_accepts_in_range(value):
    out = parse_number(value, 0, 1, "a probability")
    if isinstance(out, float):
        assert 0 <= out <= 1
    else:
        lo, hi = out.support()
        assert 0 <= lo <= hi <= 1


def test_parse_number_passes_built_distribution_through_bounds():
    d = Uniform(dist="uniform", min=0, max=2)
    assert parse_number(d, 0, 5) is d
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        parse_number(d, 0, 1, "a fraction")


def test_parse_number_lognormal_never_positive_bound_ok():
    assert isinstance(parse_number({"dist": "lognormal", "median": 3, "sigma": 1}, 0), LogNormal)


def test_parse_number_lognormal_is_positive():
    d = parse_number({"dist": "lognormal", "median": 3e5, "sigma": 0.2}, 0.0, math.inf,
                     "a positive number", lo_open=True)
    assert isinstance(d, LogNormal)
    with pytest.raises(ValueError, match="positive"):
        parse_number({"dist": "fixed", "value": 0.0}, 0.0, math.inf, "a positive number", lo_open=True)
    with pytest.raises(ValueError, match="positive"):
        parse_number(0.0, 0.0, math.inf, "a positive number", lo_open=True)


def test_parse_number_huge_integer_is_a_value_error():
    with pytest.raises(ValueError, match="finite"):
        parse_number(10**400)


def test_parse_number_rejects_nan_distribution_parameter():
    with pytest.raises(ValueError):
        parse_number({"dist": "fixed", "value": float("nan")}, 0, 1, "a probability")


def test_parse_number_rejects_infinite_distribution_parameter():
    with pytest.raises(ValueError):
        parse_number({"dist": "uniform", "min": 1, "max": "1e400"}, 1e-12, math.inf)


def test_normal_min_above_max_refused():
    with pytest.raises(ValueError):
        parse_dist({"dist": "normal", "mean": 0.5, "sd": 0.1, "min": 0.9, "max": 0.2})


# --- dates -------------------------------------------------------------------------------


def test_month_ordinal_and_back():
    assert month_ordinal("2023-06") == 2023 * 12 + 5
    assert month_ordinal("2023-6") == 2023 * 12 + 5
    assert month_ordinal(" 2023-06 ") == 2023 * 12 + 5
    assert month_ordinal(dt.date(2023, 6, 17)) == 2023 * 12 + 5
    assert ordinal_to_str(month_ordinal("2023-01")) == "2023-01"
    assert ordinal_to_str(month_ordinal("1999-12")) == "1999-12"


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(1900, 2200), st.integers(1, 12))
def test_month_roundtrip(year, month):
    o = month_ordinal(f"{year:04d}-{month:02d}")
    assert ordinal_to_str(o) == f"{year:04d}-{month:02d}"
    assert month_ordinal(ordinal_to_str(o)) == o


@pytest.mark.parametrize("bad", ["2023-13", "2023-00", "23-06", "2023/06", "June 2023", "1899-12",
                                 "2201-01", 2023, 2023.5, None, "2023-06-01"])
def test_month_ordinal_rejects(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_ordinal(bad)


def test_parse_date_plain():
    assert parse_date("2021-06") == float(2021 * 12 + 5)
    assert parse_date(dt.date(2021, 6, 30)) == float(2021 * 12 + 5)
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_date("2021-14")


def test_parse_date_uniform():
    d = parse_date({"dist": "uniform", "min": "2021-06", "max": "2022-06"})
    assert isinstance(d, Uniform)
    assert d.support() == (month_ordinal("2021-06"), month_ordinal("2022-06"))
    assert d.central() == pytest.approx(month_ordinal("2021-12"))


def test_parse_date_triangular_and_pert():
    t = parse_date({"dist": "triangular", "min": "2021-06", "mode": "2022-02", "max": "2022-12"})
    assert isinstance(t, Triangular)
    assert (t.min, t.mode, t.max) == (month_ordinal("2021-06"), month_ordinal("2022-02"),
                                      month_ordinal("2022-12"))
    p = parse_date({"dist": "pert", "min": "2021-01", "mode": "2021-03", "max": "2022-01"})
    assert isinstance(p, Pert)
    assert p.min == month_ordinal("2021-01") and p.max == month_ordinal("2022-01")


def test_parse_date_normal_sd_in_months():
    d = parse_date({"dist": "normal", "mean": "2022-01", "sd": 3, "min": "2021-06"})
    assert isinstance(d, Normal)
    assert d.mean == month_ordinal("2022-01") and d.sd == 3.0
    assert d.min == month_ordinal("2021-06")
    assert d.central() > d.mean  # truncated below: median shifts up


def test_parse_date_choice_and_fixed():
    c = parse_date({"dist": "choice", "values": ["2024-01", "2025-01"], "weights": [3, 1]})
    assert isinstance(c, Choice)
    assert c.values == [month_ordinal("2024-01"), month_ordinal("2025-01")]
    f = parse_date({"dist": "fixed", "value": "2024-07"})
    assert isinstance(f, Fixed) and f.value == month_ordinal("2024-07")
    lognorm = parse_date({"dist": "lognormal", "median": "2024-01", "sigma": 0.001})
    assert lognorm.central() == pytest.approx(month_ordinal("2024-01"))


@pytest.mark.parametrize("spec, match", [
    ({"dist": "uniform", "min": "2022-06", "max": "2021-06"}, "min <= max"),
    ({"dist": "uniform", "min": "2022-13", "max": "2023-01"}, "YYYY-MM"),
    ({"dist": "uniform", "min": 2022, "max": "2023-01"}, "YYYY-MM"),
    ({"dist": "triangular", "min": "2022-01", "mode": "2021-01", "max": "2023-01"}, "min <= mode"),
])
def test_parse_date_distribution_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_date(spec)


def test_parse_date_passes_distribution_through():
    d = Uniform(dist="uniform", min=24000, max=24010)
    assert parse_date(d) is d


# --- property: ppf is monotone -----------------------------------------------------------

_f = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
_pos = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
_shape = st.floats(0.05, 50, allow_nan=False, allow_infinity=False)


@st.composite
def _ordered3(draw):
    a, b, c = sorted(draw(st.lists(_f, min_size=3, max_size=3)))
    assume(a < c)
    return a, b, c


@st.composite
def valid_dists(draw):
    kind = draw(st.sampled_from(["fixed", "uniform", "triangular", "pert", "normal", "normal_trunc",
                                 "lognormal_ms", "lognormal_mp", "lognormal_msd", "beta",
                                 "choice"]))
    if kind == "fixed":
        return Fixed(dist="fixed", value=draw(_f))
    if kind == "uniform":
        a, b = sorted(draw(st.lists(_f, min_size=2, max_size=2)))
        return Uniform(dist="uniform", min=a, max=b)
    if kind == "triangular":
        a, b, c = draw(_ordered3())
        return Triangular(dist="triangular", min=a, mode=b, max=c)
    if kind == "pert":
        a, b, c = draw(_ordered3())
        return Pert(dist="pert", min=a, mode=b, max=c, lamb=draw(st.floats(0.1, 20)))
    if kind == "normal":
        return Normal(dist="normal", mean=draw(_f), sd=draw(_pos))
    if kind == "normal_trunc":
        mean, sd = draw(_f), draw(_pos)
        lo = mean + sd * draw(st.floats(-6, 5))
        hi = lo + sd * draw(st.floats(0.01, 8))
        return Normal(dist="normal", mean=mean, sd=sd, min=lo, max=hi)
    if kind == "lognormal_ms":
        return LogNormal(dist="lognormal", median=draw(_pos), sigma=draw(st.floats(0.01, 3)))
    if kind == "lognormal_mp":
        med = draw(_pos)
        return LogNormal(dist="lognormal", median=med, p90=med * draw(st.floats(1.01, 20)))
    if kind == "lognormal_msd":
        return LogNormal(dist="lognormal", mean=draw(_pos), sd=draw(_pos))
    if kind == "beta":
        a, b = sorted(draw(st.lists(_f, min_size=2, max_size=2, unique=True)))
        return Beta(dist="beta", alpha=draw(_shape), beta=draw(_shape), min=a, max=b)
    if kind == "choice":
        # sorted: unsorted values are covered by test_choice_ppf_monotone_with_unsorted_values
        values = sorted(draw(st.lists(_f, min_size=1, max_size=6)))
        weights = draw(st.one_of(st.none(), st.lists(st.floats(0, 10), min_size=len(values),
                                                     max_size=len(values))))
        if weights is not None:
            assume(sum(weights) > 0)
        return Choice(dist="choice", values=values, weights=weights)
    raise AssertionError(kind)


@settings(max_examples=200, deadline=None, database=None)
@given(valid_dists(), st.lists(st.floats(1e-12, 1 - 1e-12), min_size=2, max_size=30))
def test_ppf_monotone_in_u(d, us):
    u = np.sort(np.asarray(us))
    x = d.ppf(u)
    assert not np.any(np.isnan(x))
    assert np.all(np.diff(x) >= 0), (d, u, x)
    lo, hi = d.support()
    # min + (max - min) * 1.0 may overshoot max by an ulp; allow rounding, nothing more
    tol = 4 * np.finfo(float).eps * max([abs(b) for b in (lo, hi) if math.isfinite(b)] + [1.0])
    assert np.all(x >= lo - tol) and np.all(x <= hi + tol)


@settings(max_examples=200, deadline=None, database=None)
@given(valid_dists())
def test_ppf_monotone_on_fine_grid(d):
    u = np.linspace(1e-9, 1 - 1e-9, 513)
    x = d.ppf(u)
    assert np.all(np.diff(x) >= 0)


# ---------------------------------------------------------------------------- beta table disk cache
def test_beta_tables_cache_on_disk_and_survive_bad_files(tmp_path, monkeypatch) -> None:
    from scipy import special

    from sim.sampling import tables as dists

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("CART_SIM_NO_CACHE", raising=False)
    monkeypatch.setattr(dists, "_TABLES", {})
    want = special.betaincinv(2.5, 4.0, dists._TABLE_U)
    first = dists._beta_table(2.5, 4.0)  # computed and saved
    files = list((tmp_path / "cart-sim" / "beta-tables").glob("*.npy"))
    assert len(files) == 1 and np.array_equal(first, want)
    monkeypatch.setattr(dists, "_TABLES", {})
    assert np.array_equal(dists._beta_table(2.5, 4.0), want)  # read back from disk, same bits
    files[0].write_bytes(b"not a numpy file")  # a damaged cache file is recomputed, not trusted
    monkeypatch.setattr(dists, "_TABLES", {})
    assert np.array_equal(dists._beta_table(2.5, 4.0), want)
    np.save(files[0], np.zeros(7))  # wrong shape: recomputed
    monkeypatch.setattr(dists, "_TABLES", {})
    assert np.array_equal(dists._beta_table(2.5, 4.0), want)
    other = dists._beta_table(4.0, 2.5)  # another (a, b) gets its own file
    assert np.array_equal(other, special.betaincinv(4.0, 2.5, dists._TABLE_U))
    assert len(list((tmp_path / "cart-sim" / "beta-tables").glob("*.npy"))) == 2


def test_beta_table_cache_can_be_switched_off(tmp_path, monkeypatch) -> None:
    from sim.sampling import tables as dists

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CART_SIM_NO_CACHE", "1")
    monkeypatch.setattr(dists, "_TABLES", {})
    dists._beta_table(3.0, 3.0)
    assert not (tmp_path / "cart-sim").exists()


def test_table_lookup_equals_np_interp_bit_for_bit() -> None:
    """PERT and beta draws read their inverse-CDF table through a compiled lookup; it must give
    np.interp's numbers exactly, at and between the nodes, at the ends and outside them."""
    from sim.sampling.tables import _TABLE_U, _beta_table, _table_value

    rng = np.random.default_rng(11)
    x = np.r_[rng.random(100_000), _TABLE_U, np.nextafter(_TABLE_U, 2.0), np.nextafter(_TABLE_U, -1.0),
              0.0, 1.0, -0.5, 1.5, np.nan, 5e-324, 1 - 2**-53]
    for a, b in ((2.0, 5.0), (1.0, 1.0), (0.5, 0.5), (40.0, 1.2)):
        t = _beta_table(a, b)
        assert np.array_equal(_table_value(x, t), np.interp(x, _TABLE_U, t), equal_nan=True)
    flat = np.zeros_like(_TABLE_U)  # a constant table
    assert np.array_equal(_table_value(x, flat), np.interp(x, _TABLE_U, flat), equal_nan=True)
    grid = x[:12].reshape(3, 4)  # any shape
    assert np.array_equal(_table_value(grid, _beta_table(2.0, 5.0)), np.interp(grid, _TABLE_U, _beta_table(2.0, 5.0)))

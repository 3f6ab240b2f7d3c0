"""Pure formulas of the market model, kept small so they can be tested against theory."""

from __future__ import annotations

import numpy as np


def bass_cdf(t_years: np.ndarray | float, p: np.ndarray | float, q: np.ndarray | float) -> np.ndarray:
    """Bass adoption fraction F(t) = (1 - e^{-(p+q)t}) / (1 + (q/p) e^{-(p+q)t}); 0 for t <= 0."""
    t = np.maximum(np.asarray(t_years, dtype=float), 0.0)
    e = np.exp(-(np.asarray(p) + np.asarray(q)) * t)
    return (1.0 - e) / (1.0 + (np.asarray(q) / np.asarray(p)) * e)


def affordable_share(out_of_pocket: np.ndarray, median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Share of patients who can pay `out_of_pocket`: 1 - LogNormalCDF(x; median, sigma); 1 at x = 0."""
    from scipy import special

    x = np.asarray(out_of_pocket, dtype=float)
    with np.errstate(divide="ignore"):
        z = (np.log(median) - np.log(np.where(x > 0, x, 1.0))) / sigma
    return np.where(x > 0, special.ndtr(z), 1.0)


def entry_rank_multiplier(rank: np.ndarray, elasticity: np.ndarray | float) -> np.ndarray:
    """Order-of-entry effect on attractiveness: rank^-e (first entrant 1, later ones less)."""
    return np.power(np.maximum(rank, 1.0), -np.asarray(elasticity))


def launch_ramp(months_since_launch: np.ndarray, inv_ramp_months: np.ndarray) -> np.ndarray:
    """Linear ramp of a product's attractiveness from launch to full after 1 / inv_ramp_months months
    (inverse given so a ramp of 0 months is inf: full from the launch month; -inf before launch -> 0)."""
    return np.clip((np.asarray(months_since_launch, dtype=float) + 1.0) * inv_ramp_months, 0.0, 1.0)


def whole_months(x: np.ndarray) -> np.ndarray:
    """The month a sampled date or lag falls in: the nearest (half up), not the floor.

    Flooring never reached a range's last month and put every uncertain date about half a
    month early; the nearest month covers the range and keeps the stated mean.
    """
    return np.floor(np.asarray(x) + 0.5)

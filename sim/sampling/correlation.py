"""Rank correlation between named inputs (Iman & Conover 1982).

Iman–Conover reorders each column of a sample so that the columns' rank correlation
matches a target, keeping every column's values (its marginal) exactly. It works on a
whole sample of n draws, so for the engine it is applied to the uniforms of all N draws
of a run at once (like Latin hypercube strata, the result then depends on N as well as
the seed and the draw id): see :class:`CorrelatedDesign`.

`gaussian_copula` is the per-draw alternative: it maps each draw's uniforms on its own
(draw i still depends on (seed, i) only), at the price of matching the target only in
expectation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from typing_extensions import override

from sim.sampling.designs import Design, make_design
from sim.sampling.rng import draw_keys
from sim.scenario.checks import check_corr


def spearman_to_pearson(rho_s: np.ndarray) -> np.ndarray:
    """Pearson correlation of a bivariate normal whose Spearman correlation is rho_s."""
    return 2.0 * np.sin(np.pi * np.asarray(rho_s, dtype=float) / 6.0)


def _nearest_pd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    c2 = (v * np.maximum(w, 1e-8)) @ v.T
    d = np.sqrt(np.diag(c2))
    return c2 / np.outer(d, d)


def iman_conover(u: np.ndarray, target_corr: np.ndarray, *, spearman: bool = True) -> np.ndarray:
    """Reorder the columns of `u` (n, k) so their rank correlation is `target_corr` (k, k).

    Each output column is a permutation of the input column: marginals are kept exactly.
    The existing order of `u` provides the randomness: scores are normal (van der Waerden)
    scores of each column's ranks, their sample correlation is removed (Cholesky) and the
    target imposed, and each column of `u` is rearranged to follow the ranks of the result.
    With `spearman`, the target is taken as a Spearman correlation (converted to the
    Pearson correlation of the normal scores), else as the scores' correlation itself.
    """
    from scipy.stats import norm, rankdata

    u = np.asarray(u, dtype=float)
    if u.ndim != 2:
        raise ValueError(f"u must be (n, k), got shape {u.shape}")
    n, k = u.shape
    c = check_corr(target_corr, k)
    if k < 2 or n < 3:
        return u.copy()
    if spearman:
        c = spearman_to_pearson(c)
        np.fill_diagonal(c, 1.0)
        if np.linalg.eigvalsh(c).min() <= 1e-10:
            c = _nearest_pd(c)
    ranks = rankdata(u, axis=0, method="ordinal")
    scores = norm.ppf(ranks / (n + 1.0))
    e = np.corrcoef(scores, rowvar=False)
    if np.linalg.eigvalsh(e).min() <= 1e-12:
        e = _nearest_pd(e)
    q = np.linalg.cholesky(e)  # lower: e = q q^T
    p = np.linalg.cholesky(c)
    t = scores @ np.linalg.inv(q).T @ p.T  # rows now have correlation ~ c
    out = np.empty_like(u)
    for j in range(k):
        order = np.argsort(np.argsort(t[:, j], kind="stable"), kind="stable")  # rank of each row in t
        out[:, j] = np.sort(u[:, j])[order]
    return out


def gaussian_copula(u: np.ndarray, target_corr: np.ndarray, *, spearman: bool = True) -> np.ndarray:
    """Per-draw transform of independent uniforms (n, k) into uniforms with rank correlation
    `target_corr` in expectation (normal copula); each row depends on that row only."""
    from scipy.stats import norm

    u = np.asarray(u, dtype=float)
    c = check_corr(target_corr, u.shape[1])
    if spearman:
        c = spearman_to_pearson(c)
        np.fill_diagonal(c, 1.0)
        if np.linalg.eigvalsh(c).min() <= 1e-10:
            c = _nearest_pd(c)
    z = norm.ppf(np.clip(u, 1e-15, 1 - 1e-15)) @ np.linalg.cholesky(c).T
    return np.clip(norm.cdf(z), 1e-15, 1 - 1e-15)


@dataclass
class CorrelatedDesign(Design):
    """A sampling design whose named inputs are rank-correlated.

    Wraps a base design (mc, lhs or sobol); inputs not in `names` come from it unchanged.

    method "iman-conover" (default): on first use, makes the base uniforms of the
    correlated inputs for all `n_total` draws of the run (draw ids 0..n_total-1 with the
    run's seed), reorders them with Iman–Conover (exact marginals, target met closely)
    and serves each batch its draws' rows. Reproducible from (seed, N, draw id), like LHS;
    independent of batch size and worker count.

    method "copula": a normal copula applied draw by draw to the base uniforms of the
    batch, so draw i depends on (seed, i) only (runs can be extended, as `sim converge`
    does); the target is met in expectation.
    """

    kind: str = "correlated"
    base: Design | None = None
    names: tuple[str, ...] = ()
    target: Any = None  # (k, k) Spearman correlation of `names`
    method: str = "iman-conover"
    _u: np.ndarray | None = field(default=None, repr=False, compare=False)
    _last: tuple[bytes, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.method not in ("iman-conover", "copula"):
            raise ValueError(f"unknown correlation method {self.method!r}; expected 'iman-conover' or 'copula'")
        self.names = tuple(self.names)
        check_corr(np.asarray(self.target, dtype=float), len(self.names))
        if self.base is None:
            self.base = Design("mc", self.n_total, self.seed)

    def _matrix(self) -> np.ndarray:
        if self._u is None:
            assert self.base is not None
            ids = np.arange(self.n_total)
            keys = draw_keys(self.seed, ids)
            raw = np.column_stack([self.base.u(keys, ids, name, 0) for name in self.names])
            self._u = iman_conover(raw, np.asarray(self.target, dtype=float))
        return self._u

    def _batch(self, keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
        assert self.base is not None
        tag = ids.tobytes() + keys.tobytes()
        if self._last is None or self._last[0] != tag:
            raw = np.column_stack([self.base.u(keys, ids, name, 0) for name in self.names])
            self._last = (tag, gaussian_copula(raw, np.asarray(self.target, dtype=float)))
        return self._last[1]

    @override
    def u(self, keys: np.ndarray, draw_ids: np.ndarray, name: str, counter: int) -> np.ndarray:
        assert self.base is not None
        if counter == 0 and name in self.names:
            ids = np.asarray(draw_ids, dtype=np.int64)
            j = self.names.index(name)
            if self.method == "copula":
                return self._batch(keys, ids)[:, j]
            if ids.size and (ids.min() < 0 or ids.max() >= self.n_total):
                raise ValueError(f"draw id outside 0..{self.n_total - 1} of a correlated design")
            return self._matrix()[ids, j]
        return self.base.u(keys, draw_ids, name, counter)


def correlation_block(scn: Any) -> tuple[tuple[str, ...], np.ndarray] | None:
    """All correlated inputs of a scenario and their block-diagonal target rank correlation."""
    if not scn.correlations:
        return None
    names: list[str] = []
    blocks = []
    for c in scn.correlations:
        names.extend(c.inputs)
        blocks.append(np.asarray(c.as_matrix(), dtype=float))
    target = np.zeros((len(names), len(names)))
    k = 0
    for b in blocks:
        n = b.shape[0]
        target[k:k + n, k:k + n] = b
        k += n
    return tuple(names), target


def design_for(scn: Any, kind: str | None, n_total: int, seed: int) -> Design:
    """The run's design, wrapped so the scenario's correlated inputs get their rank correlation."""
    base = make_design(kind, n_total, seed)
    block = correlation_block(scn)
    if block is None:
        return base
    names, target = block
    return CorrelatedDesign(kind=f"{base.kind}+correlated", n_total=n_total, seed=seed, base=base,
                            names=names, target=target, method=scn.correlation_method)

"""Sampling designs: how the uniforms behind each uncertain input are made.

Every design keeps draw i reproducible from (seed, i) — for Latin hypercube and Sobol
also from the run's total number of draws N, since those designs stratify over N.
Plain Monte Carlo pairs two scenarios input by input (common random numbers); LHS
keeps that pairing too (strata are assigned per input name); Sobol assigns dimensions
in the order the engine asks for inputs, so pairing across scenarios is only partial.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from typing_extensions import override

from sim.sampling.rng import stable_id, uniforms
from sim.vocab import DESIGNS


@dataclass
class Design:
    """Plain Monte Carlo: independent uniforms per (draw, input)."""

    kind: str = "mc"
    n_total: int = 0
    seed: int = 0
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def u(self, keys: np.ndarray, draw_ids: np.ndarray, name: str, counter: int) -> np.ndarray:
        """The uniforms of input `name` (its `counter`-th use) for the draws of a batch."""
        return uniforms(keys, name, counter)


@dataclass
class LatinHypercube(Design):
    """Each input's N draws fall one in each of N equal strata (a random permutation per input)."""

    kind: str = "lhs"

    def _perm(self, name: str) -> np.ndarray:
        if name not in self._cache:
            ss = np.random.SeedSequence([self.seed, int(stable_id(name)) & 0xFFFFFFFF, int(stable_id(name)) >> 32])
            self._cache[name] = np.random.Generator(np.random.PCG64(ss)).permutation(self.n_total)
        return self._cache[name]

    @override
    def u(self, keys: np.ndarray, draw_ids: np.ndarray, name: str, counter: int) -> np.ndarray:
        jitter = uniforms(keys, name, counter)
        if counter != 0:
            return jitter
        return (self._perm(name)[draw_ids] + jitter) / self.n_total


@dataclass
class ScrambledSobol(Design):
    """Scrambled Sobol points; draw i is point i, input k of the run is dimension k."""

    kind: str = "sobol"
    max_dims: int = 512
    _dims: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def _block(self, start: int, n: int) -> np.ndarray:
        key = ("block", start, n)
        if key not in self._cache:
            from scipy.stats import qmc

            eng = qmc.Sobol(d=self.max_dims, scramble=True, seed=np.random.default_rng(self.seed))
            if start:
                eng.fast_forward(start)
            self._cache.clear()
            with warnings.catch_warnings():  # balance needs n = 2^k; the README says so
                warnings.simplefilter("ignore", UserWarning)
                self._cache[key] = eng.random(n)
        return self._cache[key]

    @override
    def u(self, keys: np.ndarray, draw_ids: np.ndarray, name: str, counter: int) -> np.ndarray:
        if counter != 0:
            return uniforms(keys, name, counter)
        if name not in self._dims:
            self._dims[name] = len(self._dims)
        d = self._dims[name]
        if d >= self.max_dims:
            return uniforms(keys, name, counter)
        start, stop = int(draw_ids.min()), int(draw_ids.max()) + 1
        if stop - start != draw_ids.size:
            raise ValueError("Sobol design needs contiguous draw ids in a batch")
        pts = self._block(start, stop - start)[:, d]
        return np.clip(pts, 1e-12, 1 - 1e-12)


def make_design(kind: str | None, n_total: int, seed: int) -> Design:
    """The sampling design called `kind` for a run of n_total draws."""
    kind = kind or "mc"
    if kind == "mc":
        return Design("mc", n_total, seed)
    if kind == "lhs":
        return LatinHypercube("lhs", n_total, seed)
    if kind == "sobol":
        return ScrambledSobol("sobol", n_total, seed)
    raise ValueError(f"unknown sampling design {kind!r}; expected one of {', '.join(DESIGNS)}")

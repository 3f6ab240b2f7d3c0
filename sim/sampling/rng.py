"""Counter-based uniforms: draw i's inputs depend only on (seed, i, input name).

Each draw gets a 128-bit key from ``SeedSequence(seed, spawn_key=(i,))``. An input's
uniform is a hash of (draw key, stable id of the input's name, counter), computed
vectorised over all draws of a batch. Hence: results do not depend on batch size or
worker count, and two scenarios run with one seed share the uniform of every input
they have in common (common random numbers), whatever else differs between them.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S12 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(12)


def draw_keys(seed: int, draw_ids: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 keys, one per draw, from the SeedSequence of (seed, draw)."""
    ids = np.asarray(draw_ids, dtype=np.int64)
    out = np.empty((ids.size, 2), dtype=np.uint64)
    for j, i in enumerate(ids.tolist()):
        out[j] = np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(2, np.uint64)
    return out


@functools.lru_cache(maxsize=65536)
def stable_id(name: str) -> np.uint64:
    """A 64-bit id of an input name that is the same in every process and run."""
    return np.uint64(int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little"))


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a bijective avalanche on uint64."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def uniforms(keys: np.ndarray, name: str, counter: int = 0) -> np.ndarray:
    """Uniforms in (0, 1), one per draw, for input `name` (and its `counter`-th use): the hash
    of `_uniforms_numpy` in one compiled pass (the engine asks for ~750 inputs a batch)."""
    with np.errstate(over="ignore"):
        step = np.uint64(counter + 1) * _GOLDEN
    out = np.empty(keys.shape[0])
    hashed_uniforms(np.ascontiguousarray(keys, dtype=np.uint64), stable_id(name), step, out)
    return out


def _uniforms_numpy(keys: np.ndarray, name: str, counter: int = 0) -> np.ndarray:
    """The reference of `uniforms`, in whole-array numpy operations."""
    with np.errstate(over="ignore"):
        x = keys[:, 0] ^ stable_id(name)
        x = _mix(x + np.uint64(counter + 1) * _GOLDEN)
        x = _mix(x ^ keys[:, 1])
    # 52 bits + 0.5: strictly inside (0, 1) (53 bits could round up to exactly 1.0)
    return ((x >> _S12).astype(np.float64) + 0.5) * (1.0 / 4503599627370496.0)


@njit(cache=True, nogil=True, inline="always")
def _splitmix(x):
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True)
def hashed_uniforms(keys, sid, step, out):
    """`uniforms`, draw by draw: the same integer operations as its numpy reference
    (`_uniforms_numpy`, equal bit for bit in tests/test_rng.py) in one pass."""
    for i in range(keys.shape[0]):
        x = _splitmix((keys[i, 0] ^ sid) + step)
        x = _splitmix(x ^ keys[i, 1])
        out[i] = (np.float64(x >> np.uint64(12)) + 0.5) * (1.0 / 4503599627370496.0)

"""Distributions as data: every uncertain number in a scenario is one of these.

Each is a frozen pydantic model with its inverse CDF (``ppf``): all sampling goes through the
inverse CDF of a uniform (sim.sampling), so plain Monte Carlo, Latin hypercube and Sobol
designs only differ in how the uniforms are made, and two scenarios sharing an input share
its uniform (common random numbers). Where a number may be one of these: sim.scenario.numbers.
"""

from __future__ import annotations

import math
import typing
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import override


class _LazySpecial:
    """scipy.special, imported on first use: validating a scenario needs no scipy (start-up time)."""

    def __getattr__(self, name: str) -> Any:
        from scipy import special as _sp

        return getattr(_sp, name)


special = _LazySpecial()


class Distribution(BaseModel):
    """The base of every distribution: frozen, unknown keys refused, finite parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    if TYPE_CHECKING:
        dist: str  # each kind's own Literal name ("uniform", "pert", ...)

    @model_validator(mode="after")
    def _finite(self) -> Distribution:
        for name in type(self).model_fields:
            v = getattr(self, name)
            vals = v if isinstance(v, list) else [v]
            for x in vals:
                if isinstance(x, float) and not math.isfinite(x):
                    raise ValueError(f"{name} must be a finite number, got {x}")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """The inverse CDF at uniforms u."""
        raise NotImplementedError

    def support(self) -> tuple[float, float]:  # pragma: no cover - abstract
        """The smallest and largest values it can take (infinite for unbounded tails)."""
        raise NotImplementedError

    def central(self) -> float:
        """The median."""
        return float(self.ppf(np.array([0.5]))[0])


class Fixed(Distribution):
    """Always the same value (written as a distribution where a scenario's format wants one)."""

    dist: Literal["fixed"]
    value: float

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.value, dtype=float)

    @override
    def support(self) -> tuple[float, float]:
        return (self.value, self.value)


class Uniform(Distribution):
    """Every value between min and max equally likely."""

    dist: Literal["uniform"]
    min: float
    max: float

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if not self.min <= self.max:
            raise ValueError(f"uniform needs min <= max, got min={self.min}, max={self.max}")
        return self

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.min + (self.max - self.min) * np.asarray(u, dtype=float)

    @override
    def support(self) -> tuple[float, float]:
        return (self.min, self.max)


class Triangular(Distribution):
    """Min, most likely and max, with straight-line density between."""

    dist: Literal["triangular"]
    min: float
    mode: float
    max: float

    @model_validator(mode="after")
    def _order(self) -> Triangular:
        if not (self.min <= self.mode <= self.max and self.min < self.max):
            raise ValueError(
                f"triangular needs min <= mode <= max and min < max, got {self.min}, {self.mode}, {self.max}"
            )
        return self

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        a, c, b = self.min, self.mode, self.max
        fc = (c - a) / (b - a)
        lo = a + np.sqrt(u * (b - a) * (c - a))
        hi = b - np.sqrt((1 - u) * (b - a) * (b - c))
        return np.where(u < fc, lo, hi)

    @override
    def support(self) -> tuple[float, float]:
        return (self.min, self.max)


class Pert(Distribution):
    """Beta-PERT: the analyst's min / most likely / max with less weight in the tails."""

    dist: Literal["pert"]
    min: float
    mode: float
    max: float
    lamb: float = Field(4.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> Pert:
        if not (self.min <= self.mode <= self.max and self.min < self.max):
            raise ValueError(
                f"pert needs min <= mode <= max and min < max, got {self.min}, {self.mode}, {self.max}"
            )
        return self

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        r = self.max - self.min
        a = 1 + self.lamb * (self.mode - self.min) / r
        b = 1 + self.lamb * (self.max - self.mode) / r
        return self.min + r * special.betaincinv(a, b, np.asarray(u, dtype=float))

    @override
    def support(self) -> tuple[float, float]:
        return (self.min, self.max)


class Normal(Distribution):
    """Normal, optionally truncated to [min, max] (exact inversion, no clipping mass)."""

    dist: Literal["normal"]
    mean: float
    sd: float = Field(gt=0)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _order(self) -> Normal:
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"normal truncation needs min < max, got min={self.min}, max={self.max}")
        return self

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        a = (self.min - self.mean) / self.sd if self.min is not None else -np.inf
        b = (self.max - self.mean) / self.sd if self.max is not None else np.inf
        if a > 0:  # both bounds in the upper tail: invert the mirrored lower tail for accuracy
            lo, hi = special.ndtr(-b), special.ndtr(-a)
            x = self.mean - self.sd * special.ndtri(lo + (1.0 - u) * (hi - lo))
        else:
            lo, hi = special.ndtr(a), special.ndtr(b)
            x = self.mean + self.sd * special.ndtri(lo + u * (hi - lo))
        if self.min is not None or self.max is not None:
            x = np.clip(x, self.min if self.min is not None else -np.inf,
                        self.max if self.max is not None else np.inf)
        return x

    @override
    def support(self) -> tuple[float, float]:
        return (
            self.min if self.min is not None else -math.inf,
            self.max if self.max is not None else math.inf,
        )


_Z90 = 1.2815515655446004


class LogNormal(Distribution):
    """Lognormal given by median+sigma, median+p90 (analysts' favourite) or mean+sd."""

    dist: Literal["lognormal"]
    median: float | None = Field(None, gt=0)
    sigma: float | None = Field(None, gt=0)
    p90: float | None = Field(None, gt=0)
    mean: float | None = Field(None, gt=0)
    sd: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_form(self) -> LogNormal:
        forms = {
            "median+sigma": self.median is not None and self.sigma is not None,
            "median+p90": self.median is not None and self.p90 is not None,
            "mean+sd": self.mean is not None and self.sd is not None,
        }
        given = [k for k, v in forms.items() if v]
        if len(given) != 1:
            raise ValueError("lognormal needs exactly one of: median+sigma, median+p90, mean+sd")
        if given == ["median+p90"] and not self.p90 > self.median:  # type: ignore[operator]
            raise ValueError(f"lognormal p90 ({self.p90}) must be above the median ({self.median})")
        return self

    def _mu_sigma(self) -> tuple[float, float]:
        if self.mean is not None and self.sd is not None:
            s2 = math.log(1 + (self.sd / self.mean) ** 2)
            return math.log(self.mean) - s2 / 2, math.sqrt(s2)
        assert self.median is not None
        if self.sigma is not None:
            return math.log(self.median), self.sigma
        assert self.p90 is not None
        return math.log(self.median), math.log(self.p90 / self.median) / _Z90

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        mu, s = self._mu_sigma()
        return np.exp(mu + s * special.ndtri(np.asarray(u, dtype=float)))

    @override
    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)


class Beta(Distribution):
    """A beta distribution on [min, max] (default [0, 1])."""

    dist: Literal["beta"]
    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)
    min: float = 0.0
    max: float = 1.0

    @model_validator(mode="after")
    def _order(self) -> Beta:
        if not self.min < self.max:
            raise ValueError(f"beta needs min < max, got {self.min}, {self.max}")
        return self

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        x = special.betaincinv(self.alpha, self.beta, np.asarray(u, dtype=float))
        return self.min + (self.max - self.min) * x

    @override
    def support(self) -> tuple[float, float]:
        return (self.min, self.max)


class Choice(Distribution):
    """A discrete choice among values, e.g. the year of a decision."""

    dist: Literal["choice"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"choice has {len(self.values)} values but {len(self.weights)} weights"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("choice weights must be >= 0 and not all zero")
        return self

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        vals = np.asarray(self.values, dtype=float)
        w = np.asarray(self.weights if self.weights is not None else [1.0] * len(self.values), dtype=float)
        order = np.argsort(vals, kind="stable")  # sorted, so the inverse CDF is monotone in u
        vals, w = vals[order], w[order]
        cdf = np.cumsum(w) / w.sum()
        idx = np.searchsorted(cdf, np.asarray(u, dtype=float), side="right")
        return vals[np.minimum(idx, len(vals) - 1)]

    @override
    def support(self) -> tuple[float, float]:
        return (min(self.values), max(self.values))


class Bernoulli(Distribution):
    """Yes/no with a probability: 1.0 with probability p, else 0.0."""

    dist: Literal["bernoulli", "yesno"]
    p: float = Field(ge=0, le=1)

    @override
    def ppf(self, u: np.ndarray) -> np.ndarray:
        return (np.asarray(u, dtype=float) > 1.0 - self.p).astype(float)  # monotone inverse CDF

    @override
    def support(self) -> tuple[float, float]:
        return (0.0, 1.0)


def _kinds() -> dict[str, type[Distribution]]:
    """Every distribution class by the names its `dist:` literal allows (a new class is found here)."""
    out: dict[str, type[Distribution]] = {}
    for cls in Distribution.__subclasses__():
        for name in typing.get_args(cls.model_fields["dist"].annotation):
            out[name] = cls
    return out


DIST_TYPES: dict[str, type[Distribution]] = _kinds()  # "uniform" -> Uniform, ...


def is_uncertain(spec: Any) -> bool:
    """Whether a value varies between draws (a distribution other than `fixed`)."""
    return isinstance(spec, Distribution) and not isinstance(spec, Fixed)

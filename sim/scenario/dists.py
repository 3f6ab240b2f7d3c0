"""Distributions as data: every uncertain number in a scenario is one of these.

Each is a frozen pydantic model with its inverse CDF (``ppf``): all sampling goes through the
inverse CDF of a uniform (sim.sampling), so plain Monte Carlo, Latin hypercube and Sobol
designs only differ in how the uniforms are made, and two scenarios sharing an input share
its uniform (common random numbers). The field types at the end (Fraction, Money, ...) are
what the scenario schema accepts: a plain number or a distribution whose support fits.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sim.periods import month_ordinal


class _LazySpecial:
    """scipy.special, imported on first use: validating a scenario needs no scipy (start-up time)."""

    def __getattr__(self, name: str) -> Any:
        from scipy import special as _sp

        return getattr(_sp, name)


special = _LazySpecial()


class Distribution(BaseModel):
    """The base of every distribution: frozen, unknown keys refused, finite parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    dist: Literal["fixed"]
    value: float

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.value, dtype=float)

    def support(self) -> tuple[float, float]:
        return (self.value, self.value)


class Uniform(Distribution):
    dist: Literal["uniform"]
    min: float
    max: float

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if not self.min <= self.max:
            raise ValueError(f"uniform needs min <= max, got min={self.min}, max={self.max}")
        return self

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.min + (self.max - self.min) * np.asarray(u, dtype=float)

    def support(self) -> tuple[float, float]:
        return (self.min, self.max)


class Triangular(Distribution):
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

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        a, c, b = self.min, self.mode, self.max
        fc = (c - a) / (b - a)
        lo = a + np.sqrt(u * (b - a) * (c - a))
        hi = b - np.sqrt((1 - u) * (b - a) * (b - c))
        return np.where(u < fc, lo, hi)

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

    def ppf(self, u: np.ndarray) -> np.ndarray:
        r = self.max - self.min
        a = 1 + self.lamb * (self.mode - self.min) / r
        b = 1 + self.lamb * (self.max - self.mode) / r
        return self.min + r * special.betaincinv(a, b, np.asarray(u, dtype=float))

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

    def ppf(self, u: np.ndarray) -> np.ndarray:
        mu, s = self._mu_sigma()
        return np.exp(mu + s * special.ndtri(np.asarray(u, dtype=float)))

    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)


class Beta(Distribution):
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

    def ppf(self, u: np.ndarray) -> np.ndarray:
        x = special.betaincinv(self.alpha, self.beta, np.asarray(u, dtype=float))
        return self.min + (self.max - self.min) * x

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

    def ppf(self, u: np.ndarray) -> np.ndarray:
        vals = np.asarray(self.values, dtype=float)
        w = np.asarray(self.weights if self.weights is not None else [1.0] * len(self.values), dtype=float)
        order = np.argsort(vals, kind="stable")  # sorted, so the inverse CDF is monotone in u
        vals, w = vals[order], w[order]
        cdf = np.cumsum(w) / w.sum()
        idx = np.searchsorted(cdf, np.asarray(u, dtype=float), side="right")
        return vals[np.minimum(idx, len(vals) - 1)]

    def support(self) -> tuple[float, float]:
        return (min(self.values), max(self.values))


class Bernoulli(Distribution):
    """Yes/no with a probability: 1.0 with probability p, else 0.0."""

    dist: Literal["bernoulli", "yesno"]
    p: float = Field(ge=0, le=1)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return (np.asarray(u, dtype=float) > 1.0 - self.p).astype(float)  # monotone inverse CDF

    def support(self) -> tuple[float, float]:
        return (0.0, 1.0)


Dist = Fixed | Uniform | Triangular | Pert | Normal | LogNormal | Beta | Choice | Bernoulli
DIST_TYPES: dict[str, type[Distribution]] = {
    "fixed": Fixed,
    "uniform": Uniform,
    "triangular": Triangular,
    "pert": Pert,
    "normal": Normal,
    "lognormal": LogNormal,
    "beta": Beta,
    "choice": Choice,
    "bernoulli": Bernoulli,
    "yesno": Bernoulli,
}

Num = float | Distribution


def _fmt_bound(x: float) -> str:
    return f"{x:g}"


def parse_dist(value: dict[str, Any], *, dates: bool = False) -> Distribution:
    """Build a distribution from its mapping; date parameters become month ordinals."""
    from pydantic import ValidationError

    from sim.errors import did_you_mean

    kind = value.get("dist")
    if kind is not None and not isinstance(kind, str):
        raise ValueError(f"'dist' must be a name (one of {', '.join(sorted(DIST_TYPES))}), got {kind!r}")
    if kind is None:
        raise ValueError(
            f"a distribution needs a 'dist' key (one of {', '.join(sorted(DIST_TYPES))}), got keys {sorted(value)}"
        )
    if kind not in DIST_TYPES:
        raise ValueError(
            f"unknown distribution {kind!r}{did_you_mean(kind, DIST_TYPES)}; expected one of {', '.join(sorted(DIST_TYPES))}"
        )
    data = dict(value)
    if dates:
        for key in ("value", "min", "mode", "max", "mean", "median"):
            if key in data and data[key] is not None:
                data[key] = float(month_ordinal(data[key]))
        if kind == "choice" and isinstance(data.get("values"), list):
            data["values"] = [float(month_ordinal(v)) for v in data["values"]]
        if kind in ("normal",) and "sd" in data:
            data["sd"] = float(data["sd"])  # sd of a date is in months
    try:
        return DIST_TYPES[kind].model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                fields = set(DIST_TYPES[kind].model_fields) - {"dist"}
                msg = f"unknown key for a {kind} distribution{did_you_mean(loc, fields)}; allowed: {', '.join(sorted(fields))}"
            msgs.append(f"{loc}: {msg}" if loc else msg)
        raise ValueError("; ".join(msgs)) from None


def parse_number(value: Any, lo: float = -math.inf, hi: float = math.inf, what: str = "a number",
                 lo_open: bool = False) -> float | Distribution:
    """Accept a plain number or a distribution mapping whose support lies in [lo, hi]
    ((lo, hi] with lo_open, where a continuous distribution may touch lo with zero mass)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {what} or a distribution mapping, got {value!r}")
    if isinstance(value, str):
        # YAML 1.1 reads 350e6 as text; accept numeric text so users need not write 350.0e+6.
        try:
            value = float(value.replace("_", ""))
        except (ValueError, OverflowError):
            raise ValueError(f"expected {what} or a distribution mapping, got text {value!r}") from None
    if isinstance(value, int | float):
        try:
            x = float(value)
        except OverflowError:
            raise ValueError(f"expected a finite number, got a number with {len(str(value))} digits") from None
        if not math.isfinite(x):
            raise ValueError(f"expected a finite number, got {value!r}")
        if x < lo or x > hi or (lo_open and x <= lo):
            raise ValueError(f"expected {what} in {'(' if lo_open else '['}{_fmt_bound(lo)}, {_fmt_bound(hi)}], got {value!r}")
        return x
    if isinstance(value, Distribution):
        d = value
    elif isinstance(value, dict):
        d = parse_dist(value)
    else:
        raise ValueError(f"expected {what} or a distribution mapping like {{dist: pert, min: .., mode: .., max: ..}}, got {value!r}")
    s_lo, s_hi = shown_lo, shown_hi = d.support()
    # an unbounded tail counts up to the most extreme value the sampler can draw (u within 1e-15 of 0 or 1)
    if math.isinf(s_lo):
        s_lo = float(d.ppf(np.array([1e-15]))[0])
    if math.isinf(s_hi):
        s_hi = float(d.ppf(np.array([1 - 1e-15]))[0])
    atom_at_lo = isinstance(d, Fixed | Choice | Bernoulli) and s_lo <= lo
    if s_lo < lo or s_hi > hi or (lo_open and atom_at_lo):
        raise ValueError(
            f"this {d.dist} distribution can take values in [{_fmt_bound(shown_lo)}, {_fmt_bound(shown_hi)}] "
            f"but {what} must lie in {'(' if lo_open else '['}{_fmt_bound(lo)}, {_fmt_bound(hi)}]"
            + (" (truncate it with min/max)" if isinstance(d, Normal) else "")
        )
    return d


def parse_date(value: Any) -> float | Distribution:
    """A month 'YYYY-MM' or a distribution over months (params given as 'YYYY-MM')."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, dict):
        return parse_dist(value, dates=True)
    return float(month_ordinal(value))


def _num(lo: float = -math.inf, hi: float = math.inf, what: str = "a number", lo_open: bool = False) -> Any:
    return BeforeValidator(lambda v: parse_number(v, lo, hi, what, lo_open))


# Field types used by the scenario schema.
Number = Annotated[Any, _num()]
NonNeg = Annotated[Any, _num(0.0, math.inf, "a non-negative number")]
Positive = Annotated[Any, _num(0.0, math.inf, "a positive number", lo_open=True)]
# Upper bounds keep results finite in float32 outputs: no market has 1e9 eligible patients a year,
# and 1e13 (local currency) is above any price or payment.
Count = Annotated[Any, _num(0.0, 1e9, "a number of patients")]
Money = Annotated[Any, _num(0.0, 1e13, "an amount of money", lo_open=True)]
MoneyOrZero = Annotated[Any, _num(0.0, 1e13, "an amount of money")]
FxRate = Annotated[Any, _num(1e-6, 1e6, "an exchange rate (local units per reporting unit)")]
Fraction = Annotated[Any, _num(0.0, 1.0, "a fraction")]
Probability = Annotated[Any, _num(0.0, 1.0, "a probability")]
Change = Annotated[Any, _num(-1.0, 10.0, "a relative change (e.g. -0.05 for -5 %)")]
DateValue = Annotated[Any, BeforeValidator(parse_date)]


def is_uncertain(spec: Any) -> bool:
    """Whether a value varies between draws (a distribution other than `fixed`)."""
    return isinstance(spec, Distribution) and not isinstance(spec, Fixed)

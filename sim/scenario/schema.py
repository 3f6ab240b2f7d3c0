"""The scenario format: frozen pydantic models, unknown keys refused (events: sim.scenario.events).

Numbers typed Number/Fraction/... may be plain numbers or distribution mappings
(see sim.scenario.dists). Dates are 'YYYY-MM' or a distribution over months. Collections of
named things are mappings keyed by name so that a variant (`extends:`) can override
one entry without restating the others.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.errors import ScenarioError
from sim.periods import month_ordinal
from sim.scenario.events import Event, Timing
from sim.scenario.model import Frozen, Month
from sim.scenario.numbers import (
    Change,
    Count,
    DateValue,
    Fraction,
    FxRate,
    Money,
    MoneyOrZero,
    NonNeg,
    Number,
    Positive,
    parse_number,
)
from sim.scenario.paths import path_of

# Fields that may change over time (a number, or dated points: sim.scenario.paths); built at
# run time, so type checkers see them as Any like the other number fields.
if TYPE_CHECKING:
    FractionPath: TypeAlias = Any
    ChangePath: TypeAlias = Any
    MoneyPath: TypeAlias = Any
    MoneyOrZeroPath: TypeAlias = Any
    FxRatePath: TypeAlias = Any
else:
    FractionPath = path_of(Fraction, "Fraction")
    ChangePath = path_of(Change, "Change")
    MoneyPath = path_of(Money, "Money")
    MoneyOrZeroPath = path_of(MoneyOrZero, "MoneyOrZero")
    FxRatePath = path_of(FxRate, "FxRate")


class Payer(Frozen):
    """A payer channel: the share of patients it covers and what they still pay themselves."""

    share: FractionPath  # a path: each month's shares of a region's channels are rescaled to sum to 1
    out_of_pocket: FractionPath = 0.0
    covers: Literal["all", "none"] | list[str] = "all"

    def covers_product(self, product: str) -> bool:
        """Whether the channel pays for `product` (its patients then pay `out_of_pocket` of the price)."""
        return self.covers == "all" or (isinstance(self.covers, list) and product in self.covers)


class Affordability(Frozen):
    """Share of patients able to pay an out-of-pocket amount X: 1 - LogNormalCDF(X; median, sigma)."""

    median: MoneyPath
    sigma: Positive = 1.0


class Region(Frozen):
    """A region: currency, exchange rate, treatment-site reach, payer channels, affordability."""

    currency: str = "USD"
    fx: FxRatePath = 1.0  # local currency units per unit of reporting currency
    sites: FractionPath = 1.0  # share of eligible patients within reach of a qualified site
    payers: dict[str, Payer] = Field(default_factory=lambda: {"insured": Payer(share=1.0)})
    affordability: Affordability | None = None

    @model_validator(mode="after")
    def _check(self) -> Region:
        if not self.payers:
            raise ValueError("payers: at least one payer channel is needed")
        shares = [p.share for p in self.payers.values()]
        if all(isinstance(s, float) for s in shares) and abs(sum(shares) - 1.0) > 1e-6:
            raise ValueError(f"payers: channel shares must sum to 1, they sum to {sum(shares):g}")
        return self


class Uptake(Frozen):
    """Bass diffusion of the class: innovation p and imitation q per year, ceiling m (fraction)."""

    p: Positive
    q: NonNeg
    ceiling: FractionPath


class Bolus(Frozen):
    """Prevalent patients who are eligible when the market's first product launches: spread evenly
    over `months` from then on, on top of the yearly incident patients (they pass through uptake,
    site reach and choice like them)."""

    patients: Count
    months: Annotated[Any, BeforeValidator(lambda v: parse_number(v, 1.0, 600.0, "a number of months"))] = 12.0


class Market(Frozen):
    """One region x indication: eligible patients per year (at scenario start) and growth."""

    eligible: Count
    growth: ChangePath = 0.0  # yearly
    uptake: Uptake | None = None
    drop_out: Fraction | None = None
    bolus: Bolus | None = None


class LineFeed(Frozen):
    """How treating this line changes a later line's eligible patients, in each region where both
    have a market: of the patients infused here, `relapse` reach the later line `lag_months` later
    (the others do not), where under standard of care `standard_of_care` of them would have (the
    later line's `eligible` counts those). Each month the later line gains (relapse -
    standard_of_care) x the patients infused here lag_months before: earlier-line use shrinks it."""

    relapse: Fraction
    standard_of_care: Fraction
    lag_months: Annotated[Any, BeforeValidator(lambda v: parse_number(v, 0.5, 600.0, "a lag of at least one month"))]


MODALITIES = ("autologous_cart", "allogeneic_cart", "bispecific", "other")
Modality = Literal["autologous_cart", "allogeneic_cart", "bispecific", "other"]
NestingParam = Annotated[Any, BeforeValidator(lambda v: parse_number(v, 0.0, 1.0, "a nesting parameter", lo_open=True))]
PriceUtility = Annotated[Any, BeforeValidator(lambda v: parse_number(v, -1e3, 0.0, "a price utility (0 or negative)"))]


class ClassChoice(Frozen):
    """A class of products (a modality) in an indication's nested choice: its own diffusion."""

    uptake: Uptake | None = None  # default: the market's or the indication's


class NestedChoice(Frozen):
    """A nested logit between standard of care (the outside option) and the classes of products
    (by modality), each class adopted at its own Bass pace from its first launch in a market."""

    outside: NonNeg = 0.0  # weight of standard of care, on the scale of exp(sum of attribute x weight)
    nesting: NestingParam = 1.0  # 1: a plain logit over all products; towards 0: classes substitute less
    price: PriceUtility = 0.0  # utility per 100,000 of net price (reporting currency), regions without self-pay
    classes: dict[Modality, ClassChoice] = {}


class Indication(Frozen):
    """A disease and line of therapy: its markets per region, uptake, drop-out, choice settings."""

    name: str = ""
    uptake: Uptake | None = None
    markets: dict[str, Market]
    drop_out: Fraction = 0.05  # monthly hazard of leaving the queue (progression, death)
    inertia: Fraction = 0.0  # share of last month's product mix kept each month
    order_of_entry: NonNeg = 0.0  # attractiveness x rank^-e (Urban et al.: e ~ 0.5)
    weights: dict[str, Number] | None = None
    choice: NestedChoice | None = None  # without it: one pool of all products, no outside option
    feeds: dict[str, LineFeed] = {}  # later lines of therapy that this one's treated patients reach

    @model_validator(mode="after")
    def _uptake_everywhere(self) -> Indication:
        if self.uptake is None:
            missing = [r for r, m in self.markets.items() if m.uptake is None]
            if missing:
                raise ValueError(
                    f"uptake: no indication-level uptake and none for market(s) {', '.join(missing)}"
                )
        return self


def _launch(v: Any) -> Any:
    if isinstance(v, str | _dt.date):
        return {"date": v}
    return v


class Launch(Timing):
    """A product's launch in one market: timing, probability and an optional own price."""

    price: Money | None = None  # overrides the product's regional price in this indication


LaunchSpec = Annotated[Launch, BeforeValidator(_launch)]


class ProductRegion(Frozen):
    """A product in a region: its price path and its launches by indication."""

    price: Money  # list price per patient, local currency
    price_change: Change = 0.0  # yearly, applied each January after launch
    gross_to_net: FractionPath = 0.0
    launches: dict[str, LaunchSpec]


class CapacityStep(Frozen):
    """A manufacturing expansion: from its date, capacity is at least `capacity` (an expansion
    never lowers it, whatever order uncertain dates fall in; a `capacity` event sets a level)."""

    date: DateValue
    capacity: Count


class Capacity(Frozen):
    """Manufacturing slots per month for the product, shared by all its regions and indications."""

    initial: Count
    expansions: list[CapacityStep] = []


def _capacity(v: Any) -> Any:
    if isinstance(v, int | float | dict) and not (isinstance(v, dict) and "initial" in v):
        return {"initial": v}
    return v


class Milestone(Frozen):
    """A payment from partner to owner when an event fires."""

    amount: MoneyOrZero  # reporting currency, paid by the partner to the owner
    on: str  # event reference


class Deal(Frozen):
    """A partner deal: the partner books `partner_share` of revenue and cost in `regions` and
    pays `royalty` on its booked revenue, plus upfront and milestones to the owner."""

    partner: str
    regions: Literal["all"] | list[str] = "all"
    partner_share: Fraction
    royalty: Fraction = 0.0
    upfront: MoneyOrZero = 0.0
    upfront_date: DateValue | None = None
    milestones: list[Milestone] = []


class Product(Frozen):
    """An entrant: company, target, modality, attributes, economics, supply, deals, regions."""

    company: str
    target: str
    modality: Modality = "autologous_cart"
    attributes: dict[str, Number] = {}
    ramp_months: NonNeg = 12.0
    manufacturing_success: Fraction = 1.0
    cogs: MoneyOrZeroPath = 0.0  # reporting currency per manufacturing slot used
    capacity: Annotated[Capacity | None, BeforeValidator(_capacity)] = None
    deals: list[Deal] = []
    regions: dict[str, ProductRegion]


class Preference(Frozen):
    """Weights of the product attributes in the choice between products."""

    weights: dict[str, Number] = {}


class Correlation(Frozen):
    """Rank (Spearman) correlation between named uncertain inputs (field paths, as in `sim
    sensitivity`); a yes/no event is named by its path + '.fires'."""

    inputs: list[str] = Field(min_length=2)
    rank: float | None = Field(None, ge=-1, le=1)
    matrix: list[list[float]] | None = None

    @model_validator(mode="after")
    def _one(self) -> Correlation:
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError("inputs: each input may appear once")
        if (self.rank is None) == (self.matrix is None):
            raise ValueError("give either 'rank' (for two inputs) or 'matrix' (k x k)")
        if self.rank is not None and len(self.inputs) != 2:
            raise ValueError("'rank' is for exactly two inputs; use 'matrix' for more")
        if self.matrix is not None:
            k = len(self.inputs)
            if len(self.matrix) != k or any(len(row) != k for row in self.matrix):
                raise ValueError(f"matrix must be {k} x {k} for {k} inputs")
        return self

    def as_matrix(self) -> list[list[float]]:
        """The correlation as a k x k matrix."""
        if self.matrix is not None:
            return self.matrix
        r = float(self.rank)  # type: ignore[arg-type]
        return [[1.0, r], [r, 1.0]]


class Discrepancy(Frozen):
    """Model discrepancy: each product's (or lane's) demand times a mean-one log-normal random
    walk, with yearly steps of standard deviation `scale` from its `start` month (default: the
    scenario's as_of, else its start), interpolated month by month. It widens the bands where the
    model's structure is uncertain; 0 is the model without it, exactly. Before `start` the model
    alone describes the past the scenario was fitted to."""

    scale: NonNeg
    by: Literal["product", "lane"] = "product"
    start: Month | None = None


class PosteriorRef(Frozen):
    """Inputs drawn jointly from a fitted posterior (sim fit) instead of their priors."""

    file: str  # a CSV written by sim fit; relative to the scenario file that names it
    inputs: list[str] = Field(min_length=1)
    sha256: str | None = None  # of the file, set when the scenario is loaded


class Output(Frozen):
    """How results are stored: by month, quarter or year."""

    frequency: Literal["month", "quarter", "year"] = "year"


class Scenario(Frozen):
    """A whole scenario: horizon, regions, indications, products, events, correlations."""

    name: str
    description: str = ""
    start: Month
    end: Month = "2030-12"
    as_of: Month | None = None  # what the scenario knows dates from: later launches must be uncertain
    reporting_currency: str = "USD"
    regions: dict[str, Region]
    indications: dict[str, Indication]
    products: dict[str, Product]
    preference: Preference = Preference()
    events: dict[str, Event] = {}
    correlations: list[Correlation] = []
    correlation_method: Literal["iman-conover", "copula"] = "iman-conover"
    discrepancy: Discrepancy | None = None
    posterior: PosteriorRef | None = None
    output: Output = Output()

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        from sim.io import check_component

        try:
            return check_component(name, "name")
        except ScenarioError as exc:  # results go to outputs/<name>/: one folder name
            raise ValueError(exc.message) from None

    @field_validator("end")
    @classmethod
    def _horizon(cls, end: str, info: ValidationInfo) -> str:
        start = info.data.get("start")
        if start is None:
            return end
        if month_ordinal(end) <= month_ordinal(start):
            raise ValueError(f"end ({end}) must be after start ({start})")
        if month_ordinal(end) - month_ordinal(start) > 12 * 60:
            raise ValueError("the horizon from start to end must be at most 60 years")
        return end

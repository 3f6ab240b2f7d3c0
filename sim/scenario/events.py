"""The scenario format's timing (a date and/or a parent event, a probability, yearly rounds)
and its events, one class per `type:`.

Adding an event type: a class here, with the VALUES its handler samples, in the `Event`
union; and its handler in sim/engine/events.py (CONTRIBUTING.md walks through one).
"""

from __future__ import annotations

import typing
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from sim.scenario.model import Frozen
from sim.scenario.numbers import (
    Change,
    Count,
    DateValue,
    Fraction,
    MoneyOrZero,
    NonNeg,
    Positive,
    Probability,
)


class Timing(Frozen):
    """When something happens: a date, and/or after another event; with a probability."""

    date: DateValue | None = None
    probability: Probability = 1.0
    after: str | None = None
    lag_months: NonNeg = 0.0

    @model_validator(mode="after")
    def _when(self) -> Timing:
        if self.date is None and self.after is None:
            raise ValueError("give a 'date' (YYYY-MM or a distribution) or 'after' (an event it follows)")
        return self


class Rounds(Frozen):
    """Yearly decision rounds (e.g. national reimbursement negotiations)."""

    month: int = Field(ge=1, le=12)
    probability: Probability
    first_after_months: NonNeg = 0.0
    max_rounds: int = Field(10, ge=1, le=50)


class _Event(Timing):
    """What every event has: timing (date, after, lag, probability) and optional yearly rounds.

    VALUES lists the fields the event's handler samples (sim.engine.events), in that order."""

    VALUES: ClassVar[tuple[str, ...]] = ()
    rounds: Rounds | None = None


class Reimbursement(_Event):
    """A payer channel takes the product, for a price cut and a new out-of-pocket share."""

    VALUES = ("price_cut", "out_of_pocket", "channel_share")
    type: Literal["reimbursement"]
    product: str
    region: str
    channel: str
    out_of_pocket: Fraction | None = None  # what covered patients still pay; default: the channel's
    price_cut: Fraction = 0.0
    channel_share: Fraction | None = None  # new share of patients in the channel, if it changes


class PriceChange(_Event):
    """A one-off relative change of a product's list price in a region."""

    VALUES = ("change",)
    type: Literal["price_change"]
    product: str
    region: str
    change: Change


class CapacityChange(_Event):
    """The product's manufacturing capacity is set to a new level."""

    VALUES = ("capacity",)
    type: Literal["capacity"]
    product: str
    capacity: Count


class Safety(_Event):
    """A safety signal multiplies the product's attractiveness."""

    VALUES = ("attractiveness",)
    type: Literal["safety"]
    product: str
    regions: Literal["all"] | list[str] = "all"
    attractiveness: Positive  # multiplier on the product's attractiveness


class Withdrawal(_Event):
    """The product leaves the market in some or all regions."""

    type: Literal["withdrawal"]
    product: str
    regions: Literal["all"] | list[str] = "all"


class Readout(_Event):
    """A marker (e.g. a trial read-out) that other events can follow."""

    type: Literal["readout"]


class Payment(_Event):
    """A payment between two companies (reporting currency)."""

    VALUES = ("amount",)
    type: Literal["payment"]
    payer: str
    payee: str
    amount: MoneyOrZero  # reporting currency


Event = Annotated[
    Reimbursement | PriceChange | CapacityChange | Safety | Withdrawal | Readout | Payment,
    Field(discriminator="type"),
]
# the `type:` of each event class of the union, in its order
EVENT_TYPES = [typing.get_args(c.model_fields["type"].annotation)[0] for c in typing.get_args(typing.get_args(Event)[0])]

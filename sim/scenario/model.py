"""The base of the scenario format's models, and its month type."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from sim.periods import month_ordinal


class Frozen(BaseModel):
    """The base of every model of the format: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _month_str(v: Any) -> str:
    month_ordinal(v)  # validates
    return v if isinstance(v, str) else f"{v.year:04d}-{v.month:02d}"


Month = Annotated[str, BeforeValidator(_month_str)]

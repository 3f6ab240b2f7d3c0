"""Inputs that change over time: a number, or a path of dated points, stepped or interpolated.

A field that accepts a path takes either a plain number or distribution (constant over the
horizon), or dated points:

    ceiling: [{date: 2020-01, value: 0.2}, {date: 2026-01, value: {dist: pert, ...}}]   # linear
    ceiling: {interpolation: step, points: [{date: 2020-01, value: 0.2}, ...]}

Between points a linear path is interpolated month by month, a step path holds each point's
value until the next; before the first point and after the last the path is flat, so a path
with one point is that constant. Point j's value is sampled under the field's name + `[j].value`
whichever form it is written in, so a variant that switches form keeps its common random numbers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, create_model, model_validator

from sim.periods import month_ordinal
from sim.scenario.model import Frozen, Month


class TimePath(Frozen):
    """Dated points and how to read between them (the points' value type is set per field)."""

    interpolation: Literal["linear", "step"] = "linear"
    points: list[Any] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        v = {"points": v} if isinstance(v, list) else v
        if isinstance(v, dict) and v.get("points") == []:
            raise ValueError("a time path needs at least one {date, value} point")
        return v

    @model_validator(mode="after")
    def _increasing(self) -> TimePath:
        ords = self.months()
        if ords != sorted(ords) or len(set(ords)) != len(ords):
            raise ValueError("points must be in increasing date order, each date once")
        return self

    def months(self) -> list[int]:
        """The points' months as ordinals."""
        return [month_ordinal(p.date) for p in self.points]

    def values(self) -> list[Any]:
        """The points' values (numbers or distributions)."""
        return [p.value for p in self.points]


def _kind(v: Any) -> str:
    if isinstance(v, TimePath | list) or (isinstance(v, dict) and "points" in v):
        return "path"
    return "number"


def path_of(number: Any, name: str) -> Any:
    """The field type 'a `number`, or a path of dated `number` points' (pydantic models are
    made per value type, so each point's value is checked as that field's numbers are)."""
    point = create_model(f"{name}Point", __base__=Frozen, date=(Month, ...), value=(number, ...))
    path = create_model(f"{name}Path", __base__=TimePath, points=(list[point], Field(min_length=1)))  # type: ignore[valid-type]
    return Annotated[Annotated[number, Tag("number")] | Annotated[path, Tag("path")], Discriminator(_kind)]


def is_path(spec: Any) -> bool:
    """Whether an input is a time path (not a constant number or distribution)."""
    return isinstance(spec, TimePath)


def point_name(name: str, j: int) -> str:
    """The input name of point j of the path written at field path `name`."""
    return f"{name}[{j}].value"


def named_values(name: str, spec: Any) -> list[tuple[str, Any]]:
    """(input name, number or distribution) of a field that may be a path: itself, or each point."""
    if is_path(spec):
        return [(point_name(name, j), v) for j, v in enumerate(spec.values())]
    return [(name, spec)]

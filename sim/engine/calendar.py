"""The event calendar of a batch: simpy schedules what happens in which month, for which draws.

Each month that has something to apply is one simpy timeout, whose callback applies that
month's actions in the order they were scheduled, each to exactly the draws for which it
happens then. Something that follows another (`after:`) waits on its parent's `Trigger` and is
scheduled when the parent fires; one due in the month being applied runs straight after its
parent (the order of simpy's urgent events). The monthly flow runs at t + 0.5, after the
month's events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from sim.engine.formulas import whole_months
from sim.engine.inputs import Sampler
from sim.engine.structure import Structure
from sim.sampling.rng import uniforms
from sim.scenario.events import Rounds, Timing
from sim.scenario.inputs import GATE_SUFFIX, has_gate
from sim.scenario.refs import trigger_name

Action = Callable[[np.ndarray, np.ndarray], None]  # (draw indices, months) -> None


@dataclass
class Trigger:
    """Something other events can wait for; remembers when it fired in each draw."""

    fired_at: np.ndarray
    dependents: list[Action] = field(default_factory=list)


class Calendar:
    """Triggers, and the actions queued per month, of one batch of draws."""

    def __init__(self, structure: Structure, sampler: Sampler) -> None:
        self.structure = structure
        self.sampler = sampler
        self.size = sampler.size
        self.env = simpy.Environment()
        self.triggers: dict[str, Trigger] = {}
        # actions queued per month; those due in the month being applied (and before the run,
        # in month 0) go to `_urgent`
        self._agenda: dict[int, list[tuple[Callable[..., None], tuple[Any, ...]]]] = {}
        self._urgent: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._applying = 0

    # ------------------------------------------------------------------ triggers
    def trigger(self, name: str) -> Trigger:
        """The trigger called `name` ('launch:P/R/I', 'event:ID'), created on first use."""
        if name not in self.triggers:
            self.triggers[name] = Trigger(np.full(self.size, np.nan))
        return self.triggers[name]

    def after(self, ref: str) -> Trigger:
        """The trigger an `after:` or `on:` reference of the scenario names."""
        return self.trigger(trigger_name(ref, self.structure.scenario))

    def fire(self, triggers: list[Trigger], idx: np.ndarray, t: np.ndarray) -> None:
        """Record that triggers fired for draws idx at months t (only a draw's first time counts)
        and run what follows them, for the draws where it is the first time."""
        for tr in triggers:
            fa = tr.fired_at
            new = np.isnan(fa[idx])
            if new.all():  # the usual case (a lane's own launch, a first launch): no selection
                i2, t2 = idx, t
            elif new.any():
                i2, t2 = idx[new], t[new]
            else:
                continue
            fa[i2] = t2
            for dep in tr.dependents:
                dep(i2, t2)

    def fired(self) -> dict[str, np.ndarray]:
        """The month each trigger fired in each draw (NaN: never), copied."""
        return {k: v.fired_at + 0.0 for k, v in self.triggers.items()}

    # ------------------------------------------------------------------ scheduling
    def at(self, idx: np.ndarray, t: np.ndarray, action: Action) -> None:
        """Schedule `action` for draws `idx` at months `t` (relative; may be < 0 = before start)."""
        ok = np.isfinite(t) & (t < self.structure.T)
        idx, t = idx[ok], np.floor(t[ok])
        if idx.size == 0:
            return
        when = np.maximum(t, 0.0)
        order = np.argsort(when, kind="stable")
        idx, t, when = idx[order], t[order], when[order]
        months, starts = np.unique(when, return_index=True)
        bounds = list(starts[1:]) + [idx.size]
        for m, a, b in zip(months.tolist(), starts.tolist(), bounds, strict=True):
            self.queue(int(m), action, idx[a:b], t[a:b])

    def queue(self, m: int, fn: Callable[..., None], *args: Any) -> None:
        """Call fn(*args) in month m, after what is already queued for it; in the month being
        applied (or one already past), straight after the current action (and what it queued
        before)."""
        if self._applying >= 0 and m <= self._applying:
            self._urgent.append((fn, args))
            return
        if m not in self._agenda:
            self._agenda[m] = []
            self.env.timeout(m - self.env.now).callbacks.append(self._apply_month)
        self._agenda[m].append((fn, args))

    def _apply_month(self, event: Any) -> None:
        m = int(self.env.now)
        self._applying = m
        urgent = self._urgent
        for fn, args in [(None, ())] + self._agenda.pop(m, []):
            if fn is not None:
                fn(*args)
            while urgent:
                f, a = urgent.popleft()
                f(*a)
        self._applying = -1

    def start(self) -> None:
        """Apply, at the start of the run, what is due in month 0 (queued last)."""
        self.env.timeout(0).callbacks.append(self._apply_month)

    def timed(self, spec: Timing, name: str, action: Action, rounds: Rounds | None = None) -> None:
        """Schedule something with a date and/or a parent event, a probability and yearly rounds."""
        sampler, structure = self.sampler, self.structure
        if has_gate(spec):
            gate = sampler.uniform(name + GATE_SUFFIX) < sampler.value(spec.probability, name + ".probability")
            sampler.record[name + GATE_SUFFIX] = gate.astype(float)
        else:
            gate = np.ones(self.size, dtype=bool)
        date = sampler.value(spec.date, name + ".date") - structure.start if spec.date is not None else None
        lag = sampler.value(spec.lag_months, name + ".lag_months")

        def when(idx: np.ndarray, t_parent: np.ndarray | None) -> None:
            if t_parent is not None:
                t = t_parent + whole_months(lag[idx])
                if date is not None:
                    t = np.maximum(t, whole_months(date[idx]))
            else:
                t = whole_months(date[idx])  # type: ignore[index]
            if rounds is not None:
                t = self._rounds(idx, t, rounds, name)
            keep = gate[idx]
            self.at(idx[keep], t[keep], action)

        if spec.after is None:
            when(np.arange(self.size), None)
        else:
            self.after(spec.after).dependents.append(when)

    def _rounds(self, idx: np.ndarray, t: np.ndarray, rounds: Rounds, name: str) -> np.ndarray:
        """First successful yearly round at or after t + first_after_months (nan if none)."""
        sampler, structure = self.sampler, self.structure
        p = sampler.value(rounds.probability, name + ".rounds.probability")[idx]
        gap = whole_months(sampler.value(rounds.first_after_months, name + ".rounds.first_after_months")[idx])
        earliest = t + gap
        cal = (structure.start + earliest) % 12  # calendar month index 0..11
        first = earliest + (rounds.month - 1 - cal) % 12
        out = np.full(idx.size, np.nan)
        for k in range(rounds.max_rounds):
            u = uniforms(sampler.keys[idx], name + ".rounds", k)
            hit = np.isnan(out) & (u < p)
            out[hit] = first[hit] + 12 * k
        return out

    def run(self) -> None:
        """Run the simulation past the last month's flow."""
        self.env.run(until=self.structure.T + 1)

    def close(self) -> None:
        """Drop triggers and queued actions: their closures refer back to the batch, so its
        arrays are freed at once instead of at the next cyclic garbage collection."""
        self.triggers.clear()
        self._agenda.clear()
        self._urgent.clear()

"""The patient-level engine (``--engine patient``): the correctness oracle of the batch engine.

One draw at a time, individual patients are simpy processes. Everything that is not
patient flow is the batch engine's own code, so both engines see identical inputs:
`PatientSim` builds the same `BatchMarket` with a batch of one draw (``draw_ids=[i]``), so
sampling (same uniforms, same seed -> the same parameters as draw i of a batch) and the
event calendar (launches, reimbursement rounds, price and capacity changes, withdrawals,
deal payments) are the batch engine's, in the same simpy Environment. Only the monthly
fluid flow is replaced by patients.

Patient flow of month t (the batch engine evaluates month t at time t + 0.5, after all
of that month's events; here month t is the window [t + 0.5, t + 1.5) of the same clock):

* at t + 0.5 a monthly step computes the batch engine's *expected* demand of each lane
  (its own code: `sim.engine.flow.Flow` built once, then `Flow.demand(t)` each month:
  eligible pool, Bass uptake, sites, logit shares with inertia, payer access and
  affordability), takes a snapshot of the month's net prices, availability and capacity,
  and refills each product's slot pool;
* per cell, an arrival process draws Poisson(expected demand) patients per lane, each
  arriving at a uniform time inside the window, and starts one simpy process per patient;
* a patient asks its product's slot pool (a `simpy.Container`, shared first come first
  served by all the product's lanes) for one manufacturing slot; while waiting it may
  drop out (see below); with a slot it is manufactured at once (no vein-to-vein lag, as in
  the batch engine), fails with probability 1 - success, else is infused; revenue is the
  month's net price / fx, cost of goods is paid for every manufactured patient.

Alignment with the batch engine (what is exact in expectation, what is not):

* Slots: month t's capacity c_t is released at the start of the window (t + 0.5) and
  unused slots expire at its end, as the batch engine serves at most c_t per month.
  A fractional c_t is rounded at random (floor(c_t) + Bernoulli(frac(c_t))) so that the
  expected number of slots is c_t. Infinite capacity = no queue at all.
* Within a product, slots go first come first served across its lanes; so does the batch
  engine, with its queue kept by months waited (sim.engine.queue): the longest waits first,
  then the next, this month's patients last, pro rata within a month of arrival.
* Drop-out, ``hazard="exponential"`` (default): each waiting patient has an exponential
  patience with rate -ln(1 - h) per month, so a patient who waits one full month drops
  out with probability h, as in the batch engine. The batch engine, however, applies the
  whole monthly hazard h to every patient still unserved at the end of the month, even
  one who arrived in that month (on average half a month earlier); in continuous time such
  a patient drops out with probability 1 - h / -ln(1-h) ~ h / 2 before the next refill.
  So under binding capacity the patient engine keeps more patients in the queue (fewer
  dropped, more waiting), and infuses more whenever the queue is later drawn down.
  ``hazard="monthly"`` reproduces the batch engine's discrete rule instead: at the end of
  each month every patient still waiting drops out with probability h (booked in that
  month). With it, the only differences left are Poisson noise, integer patients and
  random rounding of slots.
* A lane that is not available in a month (withdrawn) loses all its waiting patients at
  the start of that month (booked as dropped), as the batch engine's hazard of 1 does.
* What is exact in expectation: without binding capacity, E[infused] = E[demand] x success
  and revenue = infused x net price / fx, so the means over draws agree up to Monte Carlo
  error. Under binding capacity the fluid model serves min(E[queue + new], c) while the
  patient engine serves E[min(queue + new, slots)] <= the former (Jensen's inequality):
  the gap is largest when demand is close to capacity, and vanishes when capacity binds
  by a wide margin (always full) or not at all. `benchmarks/compare_engines.py --gap`
  measures it (figures in benchmarks/README.md): about a per cent near capacity = mean
  demand, nothing detectable far from it, a few per cent in a product's launch months while
  its queue is still short (tests/test_patient_engine.py).

Metrics: lane ``demand`` is the number of arrivals (the batch engine's is the expected
number); cell ``eligible``/``addressable`` are the expected values of both engines and
cell ``demand`` is the arrivals. ``waiting`` is the number waiting at the end of the
month (last month of a period). The patient engine's own random numbers come from
``SeedSequence(seed, spawn_key=(i, 1))`` for draw i, so it is reproducible and
independent of how draws are split.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from sim.engine.flow import Flow, accumulators
from sim.engine.market import BatchMarket
from sim.engine.outputs import BatchOutput, batch_output, concat_outputs, derive_compiled
from sim.engine.paths import money_lanes
from sim.engine.structure import Structure
from sim.sampling.designs import Design

Hazard = Literal["exponential", "monthly"]
HAZARDS = ("exponential", "monthly")

# outcome codes of the optional per-patient log
INFUSED, FAILED, DROPPED, WAITING = "infused", "failed", "dropped", "waiting"


@dataclass
class _Waiting:
    """A patient waiting for a slot: its lane, pool request and give-up event, and its process."""

    pid: int
    lane: int
    req: simpy.resources.container.ContainerGet
    give_up: simpy.Event
    proc: simpy.Process | None = None


@dataclass(frozen=True)
class PatientRecord:
    """One patient of the optional log: lane, arrival time, outcome and the month it was booked in."""

    pid: int
    lane: int
    arrived: float
    outcome: str
    month: int


class PatientSim:
    """One draw of the scenario with individual patients (see the module docstring)."""

    def __init__(self, structure: Structure, seed: int, draw_id: int, design: Design | None = None,
                 pinned: dict[str, np.ndarray] | None = None, hazard: Hazard = "exponential",
                 log: bool = False) -> None:
        if hazard not in HAZARDS:
            raise ValueError(f"hazard must be one of {', '.join(HAZARDS)}, got {hazard!r}")
        self.structure = structure
        self.market = BatchMarket(structure, seed, np.array([int(draw_id)]), design, pinned)
        self.params = self.market.params
        self.env = self.market.calendar.env
        self.hazard_mode = hazard
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(draw_id), 1))))
        L, T, P = structure.L, structure.T, len(structure.products)
        # monthly ledgers, (L, T)
        self.m_arrived = np.zeros((L, T), dtype=np.int64)
        self.m_served = np.zeros((L, T), dtype=np.int64)
        self.m_infused = np.zeros((L, T), dtype=np.int64)
        self.m_dropped = np.zeros((L, T), dtype=np.int64)
        self.m_waiting = np.zeros((L, T), dtype=np.int64)
        self.m_net_price = np.zeros((L, T))  # local net price of the month (price x (1 - gtn))
        self.m_fx = np.ones((L, T))  # exchange rate and COGS of each lane's month (they may follow a path)
        self.m_cogs = np.zeros((L, T))
        self.m_slots = np.zeros((P, T))  # slots released per product and month (inf = no limit)
        self.expected_demand = np.zeros((L, T))  # the batch engine's fluid demand, for checks
        self.m_eligible = np.zeros((structure.C, T))  # expected values, as in the batch engine
        self.m_addressable = np.zeros((structure.C, T))
        self.month = -1
        self.closed = False
        self.waiting: dict[int, _Waiting] = {}
        self.records: list[PatientRecord] | None = [] if log else None
        self._arrival_time: dict[int, float] = {}
        self._next_pid = 0

    # ------------------------------------------------------------------ flow
    def _flow(self, acc: dict[str, np.ndarray]) -> Any:
        structure = self.structure
        if structure.L == 0:
            self.closed = True
            return
        yield self.env.timeout(0.5)
        flow = Flow(self.market)  # the batch engine's flow, so its expected demand is reused as is
        P = len(structure.products)
        self.pools = [simpy.Container(self.env) for _ in range(P)]
        self.unlimited = np.zeros(P, dtype=bool)
        self.lane_prod = structure.lane_product.tolist()
        self.succ = self.params.success[0].copy()
        h = self.params.hazard[0, structure.lane_cell]
        self.h_lane = h
        with np.errstate(divide="ignore"):
            self.renege_rate = np.where(h >= 1.0, np.inf, -np.log1p(-np.minimum(h, 1.0)))  # per month
        cell_lanes = [np.flatnonzero(structure.lane_cell == c) for c in range(structure.C)]
        for t in range(structure.T + 1):
            if t > 0:
                self._end_month(t - 1)
                flow.lines.record(t - 1, self.m_infused[:, t - 1:t].astype(float))  # its own patients
            if t == structure.T:
                break
            self.month = t
            elig, pool, demand = flow.demand(t)  # the batch engine's expected values
            self.expected_demand[:, t] = demand[0]
            self.m_eligible[:, t] = elig[0]
            self.m_addressable[:, t] = pool[0]
            avail = self.market.state.avail[0].copy()
            self.m_net_price[:, t] = self.market.net_price()[0]
            self.m_fx[:, t] = self.params.fx[0, structure.lane_region]
            self.m_cogs[:, t] = self.params.cogs[0, structure.lane_product]
            # lanes not available this month lose their waiting patients (batch: hazard 1)
            for w in [w for w in self.waiting.values() if not avail[w.lane]]:
                self._drop_waiting(w, t, interrupt=True)
            self._refill(t)
            lam = np.where(avail, demand[0], 0.0)
            for lanes in cell_lanes:
                n = self.rng.poisson(np.maximum(lam[lanes], 0.0))
                if n.sum() == 0:
                    continue
                who = np.repeat(lanes, n)
                when = self.rng.random(who.size)
                order = np.argsort(when, kind="stable")
                self.m_arrived[:, t] += np.bincount(who, minlength=structure.L)
                self.env.process(self._arrivals(who[order], when[order]))
            yield self.env.timeout(1)
        self._close(acc)

    def _refill(self, t: int) -> None:
        """Month t's slots: last month's unused slots expire, the new ones go FCFS to the queue."""
        for j, pool in enumerate(self.pools):
            cap = float(self.market.state.capacity[0, j])
            if pool.level > 0:  # nobody is waiting when slots are left (unit requests, FIFO)
                pool.get(pool.level)
            self.unlimited[j] = math.isinf(cap)
            self.m_slots[j, t] = cap
            if self.unlimited[j]:
                n = len(pool.get_queue)
            else:
                c = max(cap, 0.0)
                n = int(math.floor(c))
                n += int(self.rng.random() < c - n)
            if n > 0:
                pool.put(n)

    def _end_month(self, m: int) -> None:
        """End of month m: the discrete monthly hazard (``hazard='monthly'``), then the waiting count."""
        if self.hazard_mode == "monthly" and self.waiting:
            ws = list(self.waiting.values())
            u = self.rng.random(len(ws))
            for w, x in zip(ws, u.tolist(), strict=True):
                if x < self.h_lane[w.lane]:
                    self._drop_waiting(w, m, interrupt=False)
        for w in self.waiting.values():
            self.m_waiting[w.lane, m] += 1

    def _drop_waiting(self, w: _Waiting, m: int, interrupt: bool) -> None:
        """The step takes a waiting patient out of the queue (booked as dropped in month m)."""
        w.req.cancel()
        del self.waiting[w.pid]
        self.m_dropped[w.lane, m] += 1
        self._log(w.pid, w.lane, DROPPED, m)
        if interrupt and w.proc is not None:
            w.proc.interrupt("lane not available")
        elif not w.give_up.triggered:
            w.give_up.succeed()

    def _close(self, acc: dict[str, np.ndarray]) -> None:
        self.closed = True
        structure = self.structure
        for w in self.waiting.values():
            self._log(w.pid, w.lane, WAITING, structure.T - 1)
        # the batch engine's accumulators, from the ledgers; `run` then replaces infused and
        # failed (the batch engine derives them from served x success)
        last = np.r_[np.flatnonzero(np.diff(structure.period_of_month)), structure.T - 1]  # last month of each period
        ledgers = {"demand": self.m_arrived, "served": self.m_served, "infused": self.m_infused,
                   "dropped": self.m_dropped, "revenue_local": self.m_infused * self.m_net_price,
                   "eligible": self.m_eligible, "addressable": self.m_addressable}
        ml = money_lanes(structure, self.params)  # booked at each month's FX and COGS (sim.engine.paths)
        if ml.size:
            ledgers["revenue_rep"] = (self.m_infused * self.m_net_price / self.m_fx)[ml]
            ledgers["cogs_paid"] = (self.m_served * self.m_cogs)[ml]
        for name, x in ledgers.items():
            if name in acc:
                _put_acc(acc, name, self.period_totals(x)[0])
        if "waiting" in acc:
            _put_acc(acc, "waiting", self.m_waiting[:, last].astype(float))

    def period_totals(self, x: np.ndarray) -> np.ndarray:
        """(items, T) monthly ledger -> (1, items, NP) period sums."""
        out = np.zeros((x.shape[0], self.structure.NP))
        np.add.at(out.T, self.structure.period_of_month, x.T.astype(float))
        return out[None]

    # ------------------------------------------------------------------ patients
    def _arrivals(self, lanes: np.ndarray, offsets: np.ndarray) -> Generator[simpy.Event, Any, None]:
        """One cell's arrivals of the month: patients at sorted offsets inside the window."""
        start = self.env.now
        for l, s in zip(lanes.tolist(), offsets.tolist(), strict=True):
            due = start + s
            if due > self.env.now:
                yield self.env.timeout(due - self.env.now)
            self.env.process(self._patient(l))

    def _patient(self, l: int) -> Generator[simpy.Event, Any, None]:
        pid = self._next_pid
        self._next_pid += 1
        if self.records is not None:
            self._arrival_time[pid] = self.env.now
        j = self.lane_prod[l]
        if self.unlimited[j]:
            self._serve(pid, l)
            return
        req = self.pools[j].get(1)
        if req.triggered:  # a slot was free: FIFO Container requests resolve at once
            self._serve(pid, l)
            return
        if self.hazard_mode == "exponential":
            rate = self.renege_rate[l]
            give_up = self.env.timeout(0.0 if math.isinf(rate) else self.rng.exponential(1.0 / rate)) \
                if rate > 0 else self.env.event()
        else:
            give_up = self.env.event()  # succeeded by the month-end step when the patient drops out
        w = _Waiting(pid, l, req, give_up, self.env.active_process)
        self.waiting[pid] = w
        try:
            yield req | give_up
        except simpy.Interrupt:  # lane withdrawn: the step has booked the drop-out
            return
        if self.closed:  # past the horizon: stays counted as waiting
            return
        if req.triggered:
            del self.waiting[pid]
            self._serve(pid, l)
        elif pid in self.waiting:  # its patience ran out (exponential hazard)
            req.cancel()
            del self.waiting[pid]
            self.m_dropped[l, self.month] += 1
            self._log(pid, l, DROPPED, self.month)
        # else: the month-end step dropped it and booked it

    def _serve(self, pid: int, l: int) -> None:
        m = self.month
        self.m_served[l, m] += 1
        ok = self.rng.random() < self.succ[self.lane_prod[l]]
        if ok:
            self.m_infused[l, m] += 1
        self._log(pid, l, INFUSED if ok else FAILED, m)

    def _log(self, pid: int, l: int, outcome: str, m: int) -> None:
        if self.records is not None:
            self.records.append(PatientRecord(pid, l, self._arrival_time[pid], outcome, m))

    def run(self) -> BatchOutput:
        """Simulate the draw, patient by patient, and return its results."""
        market = self.market
        acc = accumulators(market)
        market.schedule()
        self.env.process(self._flow(acc))
        market.calendar.run()
        if not self.closed:
            raise RuntimeError("the patient flow did not reach its closing step at month T + 0.5; "
                               "the calendar must run past it")
        out = batch_output(market, derive_compiled(market, acc, np.float64))
        if self.structure.L:
            # the engines share the accumulators' meaning; check they were laid out right
            if not (np.allclose(out.lanes["demand"], self.period_totals(self.m_arrived))
                    and np.allclose(out.cells["eligible"], self.period_totals(self.m_eligible))):
                raise RuntimeError("patient-engine ledgers and BatchSim output disagree; "
                                   "update PatientSim._put_acc to BatchSim's accumulator layout")
            infused = self.period_totals(self.m_infused)
            out.lanes["infused"] = infused
            out.lanes["failed"] = self.period_totals(self.m_served) - infused
        return out


def _put_acc(acc: dict[str, np.ndarray], name: str, x: np.ndarray) -> None:
    """Add an (items, periods) table to the batch engine's accumulator `name` (one draw)."""
    a = acc[name]
    n, NP = x.shape
    if a.shape != (NP, n, 1):  # (period, item, draw): the batch engine's layout
        raise RuntimeError(f"unexpected layout {a.shape} of the accumulator {name!r}; update _put_acc")
    a[:, :, 0] += x.T


def simulate_patient(structure: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                     pinned: dict[str, np.ndarray] | None = None,
                     hazard: Hazard = "exponential") -> BatchOutput:
    """The patient-level engine over draws `draw_ids` (one `PatientSim` per draw), as a BatchOutput."""
    ids = np.asarray(draw_ids, dtype=np.int64)
    outs = []
    for k, i in enumerate(ids.tolist()):
        pin = {n: v[k:k + 1] for n, v in pinned.items()} if pinned else None
        outs.append(PatientSim(structure, seed, i, design, pin, hazard=hazard).run())
    return concat_outputs(outs)

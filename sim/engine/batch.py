"""The batch engine: one simpy Environment per batch of draws.

simpy schedules the discrete events (launches, label expansions, reimbursement rounds,
price and capacity changes, withdrawals, deal payments), grouped by month: each month that
has something to apply is one simpy timeout, whose callback applies that month's actions in
the order they were scheduled, each to exactly the draws for which it happens then. Events
that follow another are scheduled when their parent fires; one due the same month runs
straight after its parent (the order of simpy's urgent events). One monthly flow process
advances the patient flow of all draws at once (at t + 0.5, after the month's events): by
default in one compiled pass (sim/engine/kernel.py), or with the readable numpy version of
the same month (`kernel="numpy"`, the kernel's oracle in the tests). No individual patients
are simulated here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from sim.engine import formulas as F
from sim.engine.structure import Structure
from sim.sampling.designs import Design
from sim.sampling.rng import draw_keys, uniforms
from sim.sampling.tables import sample
from sim.scenario.dists import Distribution, is_uncertain
from sim.scenario.refs import parse_ref
from sim.scenario.schema import Reimbursement, Rounds, Scenario, Timing

LANE_METRICS = (
    "demand", "infused", "failed", "dropped", "waiting",
    "revenue_local", "revenue", "cogs", "gross_profit", "company_revenue",
)
CELL_METRICS = ("eligible", "addressable", "demand", "untreated")
COMPANY_METRICS = ("revenue", "gross_profit", "royalty", "deal_payments", "income")


def _by_draw(B: int, *tail: int, fill: float = 0.0, dtype: Any = float) -> np.ndarray:
    """A (B, *tail) view of a (*reversed tail, B) array: draws are the contiguous axis, so the
    monthly flow vectorises along draws and sums over a cell's lanes add whole rows."""
    base = np.full(tuple(reversed(tail)) + (B,), fill, dtype=dtype)
    return base.transpose(tuple(range(base.ndim))[::-1])


class Sampler:
    """Per-draw values of scenario inputs, each keyed by its field path (common random numbers).

    Records the values of every uncertain input, so sensitivity can be read off any run.
    `pinned` fixes the uniforms of named inputs (used by sensitivity designs).
    """

    def __init__(self, keys: np.ndarray, draw_ids: np.ndarray, design: Design | None = None,
                 pinned: dict[str, np.ndarray] | None = None) -> None:
        self.keys = keys
        self.draw_ids = draw_ids
        self.B = keys.shape[0]
        self.design = design or Design()
        self.pinned = pinned or {}
        self.record: dict[str, np.ndarray] = {}

    def u(self, name: str, counter: int = 0) -> np.ndarray:
        if counter == 0 and name in self.pinned:
            return self.pinned[name]
        return self.design.u(self.keys, self.draw_ids, name, counter)

    def val(self, spec: Any, name: str) -> np.ndarray:
        if isinstance(spec, Distribution):
            v = sample(spec, self.u(name))
            if is_uncertain(spec):
                self.record[name] = v
            return v
        return np.full(self.B, float(spec))


@dataclass
class Trigger:
    """Something other events can wait for; remembers when it fired in each draw."""

    fired_at: np.ndarray
    dependents: list[Callable[[np.ndarray, np.ndarray], None]] = field(default_factory=list)


@dataclass
class BatchOutput:
    lanes: dict[str, np.ndarray]  # metric -> (B, L, NP)
    cells: dict[str, np.ndarray]  # metric -> (B, C, NP)
    companies: dict[str, np.ndarray]  # metric -> (B, CP, NP)
    draw_ids: np.ndarray
    events: dict[str, np.ndarray]  # trigger name -> month fired (nan = never), (B,)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)  # uncertain input -> value, (B,)


class BatchSim:
    # "compiled": the monthly flow runs in sim.engine.kernel (numba); "numpy": the readable
    # reference in _demand_T/_serve_T, kept as the kernel's oracle in the tests
    KERNELS = ("compiled", "numpy")

    def __init__(self, st: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                 pinned: dict[str, np.ndarray] | None = None, kernel: str = "compiled",
                 out_dtype: Any = np.float64) -> None:
        if kernel not in self.KERNELS:
            raise ValueError(f"kernel must be one of {self.KERNELS}, not {kernel!r}")
        self.kernel = kernel
        self.out_dtype = out_dtype  # of the results; float32 when they are only written (the runner)
        self.st = st
        self.scn: Scenario = st.scenario
        self.draw_ids = np.asarray(draw_ids, dtype=np.int64)
        self.S = Sampler(draw_keys(seed, self.draw_ids), self.draw_ids, design, pinned)
        self.B = B = len(self.draw_ids)
        NP = st.NP
        self.env = simpy.Environment()
        self.triggers: dict[str, Trigger] = {}
        self._init_params()
        self.pay = np.zeros((B, len(st.company_products), NP))
        self.access_dirty = self.price_dirty = True
        self.afford_dirty = True  # prices or out-of-pocket changed: affordability, not only reach
        self.rank_dirty = True
        self.rank_cells: set[int] = set()
        self.attr_dirty = True
        # the event calendar: actions queued per month, each month one simpy timeout. Actions
        # due in the month being applied (and before the run, in month 0) go to `_urgent`
        self._agenda: dict[int, list[tuple[Callable[..., None], tuple[Any, ...]]]] = {}
        self._urgent: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._applying = 0

    # ------------------------------------------------------------------ inputs
    def _init_params(self) -> None:
        st, scn, S, B = self.st, self.scn, self.S, self.B
        L, C, P, K = st.L, st.C, len(st.products), st.K
        R = len(st.regions)
        # cells
        self.E0 = _by_draw(B, C)
        self.growth = _by_draw(B, C)
        self.bp = _by_draw(B, C)
        self.bq = _by_draw(B, C)
        self.bm = _by_draw(B, C)
        self.hazard = _by_draw(B, C)
        self.inertia = _by_draw(B, C)
        self.entry_e = _by_draw(B, C)
        for c, (r, i) in enumerate(st.cells):
            ind = scn.indications[i]
            mk = ind.markets[r]
            base = f"indications.{i}.markets.{r}"
            self.E0[:, c] = S.val(mk.eligible, base + ".eligible")
            self.growth[:, c] = S.val(mk.growth, base + ".growth")
            up, upath = (mk.uptake, base + ".uptake") if mk.uptake is not None else (ind.uptake, f"indications.{i}.uptake")
            assert up is not None
            self.bp[:, c] = S.val(up.p, upath + ".p")
            self.bq[:, c] = S.val(up.q, upath + ".q")
            self.bm[:, c] = S.val(up.ceiling, upath + ".ceiling")
            if mk.drop_out is not None:
                self.hazard[:, c] = S.val(mk.drop_out, base + ".drop_out")
            else:
                self.hazard[:, c] = S.val(ind.drop_out, f"indications.{i}.drop_out")
            self.inertia[:, c] = S.val(ind.inertia, f"indications.{i}.inertia")
            self.entry_e[:, c] = S.val(ind.order_of_entry, f"indications.{i}.order_of_entry")
        self.t0 = _by_draw(B, C, fill=np.inf)
        # regions
        self.fx = np.empty((B, R))
        self.sites = np.empty((B, R, st.T))
        self.aff_median = np.ones((B, R))
        self.aff_sigma = np.ones((B, R))
        self.has_aff = np.zeros(R, dtype=bool)
        months = np.arange(st.T, dtype=float)
        for k, r in enumerate(st.regions):
            reg = scn.regions[r]
            self.fx[:, k] = S.val(reg.fx, f"regions.{r}.fx")
            if isinstance(reg.sites, list):
                xs = np.array([_ord(p.date) - st.start for p in reg.sites], dtype=float)
                ys = np.stack([S.val(p.value, f"regions.{r}.sites[{j}].value") for j, p in enumerate(reg.sites)], axis=1)
                self.sites[:, k, :] = _interp_rows(months, xs, ys)
            else:
                self.sites[:, k, :] = S.val(reg.sites, f"regions.{r}.sites")[:, None]
            if reg.affordability is not None:
                self.has_aff[k] = True
                self.aff_median[:, k] = S.val(reg.affordability.median, f"regions.{r}.affordability.median")
                self.aff_sigma[:, k] = S.val(reg.affordability.sigma, f"regions.{r}.affordability.sigma")
        # products
        self.capacity = _by_draw(B, P, fill=np.inf)
        self.cogs = _by_draw(B, P)
        self.success = _by_draw(B, P)
        ramp_p = np.empty((B, P))
        for j, p in enumerate(st.products):
            prod = scn.products[p]
            base = f"products.{p}"
            if prod.capacity is not None:
                self.capacity[:, j] = S.val(prod.capacity.initial, base + ".capacity.initial")
            self.cogs[:, j] = S.val(prod.cogs, base + ".cogs")
            self.success[:, j] = S.val(prod.manufacturing_success, base + ".manufacturing_success")
            ramp_p[:, j] = S.val(prod.ramp_months, base + ".ramp_months")
        # lanes
        self.avail = _by_draw(B, L, fill=False, dtype=bool)
        self.withdrawn = _by_draw(B, L, fill=False, dtype=bool)
        self.launch_t = _by_draw(B, L, fill=np.inf)
        self.price = _by_draw(B, L)
        self.gtn = _by_draw(B, L)
        self.price_chg = _by_draw(B, L)
        self.base_attr = _by_draw(B, L, fill=1.0)
        self.safety = _by_draw(B, L, fill=1.0)
        self.rank_mult = _by_draw(B, L, fill=1.0)
        self.ramp_months = ramp_p[:, st.lane_product]
        self.comp = _by_draw(B, L)
        self.queue = _by_draw(B, L)
        self.share = _by_draw(B, L, K)
        self.oop = _by_draw(B, L, K, fill=1.0)
        global_w = scn.preference.weights
        util = np.zeros((B, L))
        for l, (p, r, i) in enumerate(st.lanes):
            prod = scn.products[p]
            pr = prod.regions[r]
            base = f"products.{p}.regions.{r}"
            launch = pr.launches[i]
            price_spec, price_path = (launch.price, f"{base}.launches.{i}.price") if launch.price is not None else (pr.price, base + ".price")
            self.price[:, l] = S.val(price_spec, price_path)
            self.gtn[:, l] = S.val(pr.gross_to_net, base + ".gross_to_net")
            self.price_chg[:, l] = S.val(pr.price_change, base + ".price_change")
            weights = scn.indications[i].weights if scn.indications[i].weights is not None else global_w
            for a, w in weights.items():
                wv = S.val(w, f"indications.{i}.weights.{a}" if scn.indications[i].weights is not None else f"preference.weights.{a}")
                util[:, l] += wv * S.val(prod.attributes[a], f"products.{p}.attributes.{a}")
            reg = scn.regions[r]
            for k, (cname, ch) in enumerate(reg.payers.items()):
                self.share[:, l, k] = S.val(ch.share, f"regions.{r}.payers.{cname}.share")
                covered = ch.covers == "all" or (isinstance(ch.covers, list) and p in ch.covers)
                if covered:
                    self.oop[:, l, k] = S.val(ch.out_of_pocket, f"regions.{r}.payers.{cname}.out_of_pocket")
        if L:  # logit attractiveness, shifted by each cell's largest utility so exp cannot overflow
            seg_max = np.maximum.reduceat(util, st.seg_starts, axis=1)
            self.base_attr[...] = np.exp(util - seg_max[:, st.lane_seg])
        tot = self.share.sum(axis=2, keepdims=True)
        np.divide(self.share, tot, out=self.share, where=tot > 0)
        self.lane_aff = self.has_aff[st.lane_region]
        # deal shares: lane -> company-product rows
        self._deal_matrices()

    def _deal_matrices(self) -> None:
        """Who books each lane's revenue: owner (1 - partner_share), partner, and the royalty
        the partner pays the owner on its booked revenue (one deal per lane; checked on load)."""
        st, scn, S, B = self.st, self.scn, self.S, self.B
        cp_ix = {cp: k for k, cp in enumerate(st.company_products)}
        self.own_cp = np.array([cp_ix[(scn.products[p].company, p)] for p, _, _ in st.lanes], dtype=np.int64)
        self.par_cp = np.full(st.L, -1, dtype=np.int64)
        self.partner_share = np.zeros((B, st.L))
        self.royalty = np.zeros((B, st.L))
        for l, (p, r, _i) in enumerate(st.lanes):
            for k, d in enumerate(scn.products[p].deals):
                if d.regions != "all" and r not in d.regions:
                    continue
                base = f"products.{p}.deals[{k}]"
                self.partner_share[:, l] = S.val(d.partner_share, base + ".partner_share")
                self.royalty[:, l] = S.val(d.royalty, base + ".royalty")
                self.par_cp[l] = cp_ix[(d.partner, p)]
        self.owner_coef = 1.0 - self.partner_share * (1.0 - self.royalty)

    def _by_company(self, x: np.ndarray, cp: np.ndarray) -> np.ndarray:
        """Sum (NP, L, B) lane values into (NP, CP, B) company-product rows given each lane's row."""
        out = np.zeros((x.shape[0], len(self.st.company_products), x.shape[2]))
        order, starts, rows = _company_groups(cp)
        if order.size:
            out[:, rows, :] = np.add.reduceat(x[:, order, :], starts, axis=1)
        return out

    # ------------------------------------------------------------------ events
    def trigger(self, name: str) -> Trigger:
        if name not in self.triggers:
            self.triggers[name] = Trigger(np.full(self.B, np.nan))
        return self.triggers[name]

    def _ref_trigger(self, ref: str) -> Trigger:
        res = parse_ref(ref, self.scn)
        assert not isinstance(res, str), res
        kind, parts = res
        return self.trigger(("launch:" if kind == "launch" else "event:") + "/".join(parts))

    def _fire(self, names: list[str] | list[Trigger], idx: np.ndarray, t: np.ndarray) -> None:
        """Record that triggers fired for draws idx at months t (only a draw's first time counts)
        and run what follows them, for the draws where it is the first time."""
        for name in names:
            tr = self.trigger(name) if isinstance(name, str) else name
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

    def at(self, idx: np.ndarray, t: np.ndarray, action: Callable[[np.ndarray, np.ndarray], None]) -> None:
        """Schedule `action` for draws `idx` at months `t` (relative; may be < 0 = before start)."""
        ok = np.isfinite(t) & (t < self.st.T)
        idx, t = idx[ok], np.floor(t[ok])
        if idx.size == 0:
            return
        when = np.maximum(t, 0.0)
        order = np.argsort(when, kind="stable")
        idx, t, when = idx[order], t[order], when[order]
        months, starts = np.unique(when, return_index=True)
        bounds = list(starts[1:]) + [idx.size]
        for m, a, b in zip(months.tolist(), starts.tolist(), bounds, strict=True):
            self._queue(int(m), action, idx[a:b], t[a:b])

    def _queue(self, m: int, fn: Callable[..., None], *args: Any) -> None:
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

    def timed(self, spec: Timing, name: str, action: Callable[[np.ndarray, np.ndarray], None],
              rounds: Rounds | None = None) -> None:
        """Schedule something with a date and/or a parent event, a probability and yearly rounds."""
        S, st = self.S, self.st
        if isinstance(spec.probability, float) and spec.probability >= 1.0:
            gate = np.ones(self.B, dtype=bool)
        else:
            fires = S.u(name + ".fires")
            gate = fires < S.val(spec.probability, name + ".probability")
            self.S.record[name + ".fires"] = gate.astype(float)
        date = S.val(spec.date, name + ".date") - st.start if spec.date is not None else None
        lag = S.val(spec.lag_months, name + ".lag_months")

        def when(idx: np.ndarray, t_parent: np.ndarray | None) -> None:
            t = np.floor(t_parent + lag[idx]) if t_parent is not None else np.floor(date[idx])  # type: ignore[index]
            if t_parent is not None and date is not None:
                t = np.maximum(t, np.floor(date[idx]))
            if rounds is not None:
                t = self._rounds(idx, t, rounds, name)
            keep = gate[idx]
            self.at(idx[keep], t[keep], action)

        if spec.after is None:
            when(np.arange(self.B), None)
        else:
            self._ref_trigger(spec.after).dependents.append(when)

    def _rounds(self, idx: np.ndarray, t: np.ndarray, rounds: Rounds, name: str) -> np.ndarray:
        """First successful yearly round at or after t + first_after_months (nan if none)."""
        S, st = self.S, self.st
        p = S.val(rounds.probability, name + ".rounds.probability")[idx]
        gap = np.floor(S.val(rounds.first_after_months, name + ".rounds.first_after_months")[idx])
        earliest = t + gap
        cal = (st.start + earliest) % 12  # calendar month index 0..11
        first = earliest + (rounds.month - 1 - cal) % 12
        out = np.full(idx.size, np.nan)
        for k in range(rounds.max_rounds):
            u = uniforms(S.keys[idx], name + ".rounds", k)
            hit = np.isnan(out) & (u < p)
            out[hit] = first[hit] + 12 * k
        return out

    def _schedule_all(self) -> None:
        st, scn, S = self.st, self.scn, self.S
        lane_ix = {ln: k for k, ln in enumerate(st.lanes)}
        for p, r, i in st.lanes:  # every trigger exists up front: same event columns in every batch
            for name in (f"launch:{p}/{r}/{i}", f"launch:{p}/{r}", f"launch:{p}"):
                self.trigger(name)
        for eid in scn.events:
            self.trigger(f"event:{eid}")
        for (p, r, i), l in lane_ix.items():
            spec = scn.products[p].regions[r].launches[i]
            self.timed(spec, f"products.{p}.regions.{r}.launches.{i}", self._launch_action(l, p, r, i))
        for j, p in enumerate(st.products):
            prod = scn.products[p]
            if prod.capacity is not None:
                for k, step in enumerate(prod.capacity.expansions):
                    name = f"products.{p}.capacity.expansions[{k}]"
                    t = np.floor(S.val(step.date, name + ".date") - st.start)
                    val = S.val(step.capacity, name + ".capacity")
                    self.at(np.arange(self.B), t, self._cap_action(j, val))
            self._schedule_deals(p)
        for eid, ev in scn.events.items():
            self.timed(ev, f"events.{eid}", self._event_action(eid, ev), rounds=ev.rounds)
        first_jan = (12 - st.start % 12) % 12 or 12  # the stated price holds until the first January
        if first_jan < st.T:
            self._queue(first_jan, self._yearly_prices, first_jan)
        self.env.timeout(0).callbacks.append(self._apply_month)  # month 0: what is due at the start

    def _launch_action(self, l: int, p: str, r: str, i: str) -> Callable[[np.ndarray, np.ndarray], None]:
        c = int(self.st.lane_cell[l])
        aff = bool(self.lane_aff[l])
        fires = [self.trigger(n) for n in (f"launch:{p}/{r}/{i}", f"launch:{p}/{r}", f"launch:{p}")]

        def act(idx: np.ndarray, t: np.ndarray) -> None:
            ok = ~self.withdrawn[idx, l]  # withdrawn before launch: the launch never happens
            if not ok.all():
                idx, t = idx[ok], t[ok]
            self.avail[idx, l] = True
            self.launch_t[idx, l] = t
            self.t0[idx, c] = np.minimum(self.t0[idx, c], t)
            self.rank_dirty = True
            self.access_dirty |= aff  # affordability only matters in regions that have a curve
            self.rank_cells.add(c)
            self._fire(fires, idx, t)

        return act

    def _cap_action(self, j: int, val: np.ndarray) -> Callable[[np.ndarray, np.ndarray], None]:
        def act(idx: np.ndarray, t: np.ndarray) -> None:
            self.capacity[idx, j] = val[idx]

        return act

    def _pay(self, idx: np.ndarray, t: np.ndarray, payer: int, payee: int, amount: np.ndarray) -> None:
        ok = t >= 0
        idx, t, amt = idx[ok], t[ok].astype(np.int64), amount[idx[ok]]
        per = self.st.period_of_month[t]
        np.add.at(self.pay, (idx, payee, per), amt)
        np.add.at(self.pay, (idx, payer, per), -amt)

    def _schedule_deals(self, p: str) -> None:
        st, scn, S = self.st, self.scn, self.S
        cp_ix = {cp: k for k, cp in enumerate(st.company_products)}
        prod = scn.products[p]
        own = cp_ix[(prod.company, p)]
        for k, d in enumerate(prod.deals):
            par = cp_ix[(d.partner, p)]
            base = f"products.{p}.deals[{k}]"
            if d.upfront_date is not None:
                amt = S.val(d.upfront, base + ".upfront")
                t = np.floor(S.val(d.upfront_date, base + ".upfront_date") - st.start)
                self.at(np.arange(self.B), t, lambda idx, t, a=amt, pa=par: self._pay(idx, t, pa, own, a))
            for j, ms in enumerate(d.milestones):
                amt = S.val(ms.amount, f"{base}.milestones[{j}].amount")
                self._ref_trigger(ms.on).dependents.append(
                    lambda idx, t, a=amt, pa=par: self._pay(idx, t, pa, own, a))

    def _lanes_of(self, product: str, regions: Any = "all") -> np.ndarray:
        return np.array([k for k, (p, r, _) in enumerate(self.st.lanes)
                         if p == product and (regions == "all" or r in regions)], dtype=np.int64)

    def _event_action(self, eid: str, ev: Any) -> Callable[[np.ndarray, np.ndarray], None]:
        st, S = self.st, self.S
        name = f"events.{eid}"
        kind = ev.type
        fire_names = [f"event:{eid}"]

        if kind == "reimbursement":
            assert isinstance(ev, Reimbursement)
            ls = self._lanes_of(ev.product, [ev.region])
            aff = bool(self.has_aff[st.regions.index(ev.region)])
            region_lanes = np.flatnonzero(st.lane_region == st.regions.index(ev.region))
            k = list(self.scn.regions[ev.region].payers).index(ev.channel)
            ch = self.scn.regions[ev.region].payers[ev.channel]
            cut = S.val(ev.price_cut, name + ".price_cut")
            oop = S.val(ev.out_of_pocket if ev.out_of_pocket is not None else ch.out_of_pocket,
                        name + ".out_of_pocket")
            new_share = S.val(ev.channel_share, name + ".channel_share") if ev.channel_share is not None else None

            def act(idx: np.ndarray, t: np.ndarray) -> None:
                ii = idx[:, None]
                self.price[ii, ls] *= (1.0 - cut[idx])[:, None]
                self.oop[ii, ls, k] = oop[idx][:, None]
                if new_share is not None:
                    rl = region_lanes[None, :]
                    old = self.share[ii, rl, k]
                    scale = np.divide(1.0 - new_share[idx][:, None], 1.0 - old,
                                      out=np.zeros_like(old), where=old < 1.0)
                    for kk in range(st.K):
                        if kk != k:
                            self.share[ii, rl, kk] *= scale
                    self.share[ii, rl, k] = new_share[idx][:, None]
                self.price_dirty = self.afford_dirty = True
                self.access_dirty |= aff
                self._fire(fire_names, idx, t)

        elif kind == "price_change":
            ls = self._lanes_of(ev.product, [ev.region])
            aff = bool(self.has_aff[st.regions.index(ev.region)])
            chg = S.val(ev.change, name + ".change")

            def act(idx: np.ndarray, t: np.ndarray) -> None:
                self.price[idx[:, None], ls] *= (1.0 + chg[idx])[:, None]
                self.price_dirty = self.afford_dirty = True
                self.access_dirty |= aff
                self._fire(fire_names, idx, t)

        elif kind == "capacity":
            j = st.products.index(ev.product)
            cap = S.val(ev.capacity, name + ".capacity")

            def act(idx: np.ndarray, t: np.ndarray) -> None:
                self.capacity[idx, j] = cap[idx]
                self._fire(fire_names, idx, t)

        elif kind == "safety":
            ls = self._lanes_of(ev.product, ev.regions)
            mult = S.val(ev.attractiveness, name + ".attractiveness")

            def act(idx: np.ndarray, t: np.ndarray) -> None:
                self.safety[idx[:, None], ls] *= mult[idx][:, None]
                self.attr_dirty = True
                self._fire(fire_names, idx, t)

        elif kind == "withdrawal":
            ls = self._lanes_of(ev.product, ev.regions)

            def act(idx: np.ndarray, t: np.ndarray) -> None:
                ii = idx[:, None]
                self.avail[ii, ls] = False
                self.withdrawn[ii, ls] = True
                self.access_dirty = self.attr_dirty = True
                self._fire(fire_names, idx, t)

        elif kind == "payment":
            cp_ix = {cp: k for k, cp in enumerate(st.company_products)}
            payer, payee = cp_ix[(ev.payer, "-")], cp_ix[(ev.payee, "-")]
            amt = S.val(ev.amount, name + ".amount")

            def act(idx: np.ndarray, t: np.ndarray) -> None:
                self._pay(idx, t, payer, payee, amt)
                self._fire(fire_names, idx, t)

        else:  # readout: a marker others can follow

            def act(idx: np.ndarray, t: np.ndarray) -> None:
                self._fire(fire_names, idx, t)

        return act

    def _yearly_prices(self, t: int) -> None:
        """Every January, launched products' list prices move by their yearly change (the stated
        price holds at the later of launch and scenario start); then the next January is queued."""
        P_ = self.price.T  # (lanes, draws), in place so views stay valid
        np.multiply(P_, 1.0 + self.price_chg.T, out=P_, where=t > self.launch_t.T)
        self.price_dirty = self.afford_dirty = True
        self.access_dirty |= bool(self.lane_aff.any())
        if t + 12 < self.st.T:
            self._queue(t + 12, self._yearly_prices, t + 12)

    @property
    def net_price(self) -> np.ndarray:
        return self.price * (1.0 - self.gtn)

    @property
    def net_price_succ(self) -> np.ndarray:
        """(lanes, draws) net price per manufacturing slot used (only successful products are paid)."""
        if self.price_dirty:
            self._nps = self.price.T * (1.0 - self.gtn.T) * self.succ_T
            self.price_dirty = False
        return self._nps

    # ------------------------------------------------------------------ flow
    # The flow works on (item, draw) arrays: `x.T` of the (draw, item) views above.
    def _segsum(self, x: np.ndarray) -> np.ndarray:
        """Sum the lanes of each cell: (L, B) -> (segments, B)."""
        return self.seg_sum(x)

    def _update_ranks(self) -> None:
        """Entry rank of each launched product in its cell (ties share a rank), as a multiplier."""
        st = self.st
        if self.kernel == "compiled":
            from sim.engine.kernel import refresh_ranks

            changed = np.zeros(st.C, dtype=np.bool_)
            changed[list(self.rank_cells)] = True
            refresh_ranks(self.launch_t.T, st.seg_bounds, st.seg_cell, changed, self.rank_table, self.rank_mult.T)
            self.rank_cells.clear()
            self.rank_dirty = False
            self.attr_dirty = True
            return
        lt = self.launch_t
        bounds = list(st.seg_starts[1:]) + [st.L]
        for sg, (a, b) in enumerate(zip(st.seg_starts.tolist(), bounds, strict=True)):
            if int(st.seg_cell[sg]) not in self.rank_cells:
                continue
            seg = lt[:, a:b]
            rank = 1.0 + (seg[:, None, :] < seg[:, :, None]).sum(axis=2)
            self.rank_mult[:, a:b] = F.entry_rank_multiplier(rank, self.entry_e[:, st.seg_cell[sg], None])
        self.rank_cells.clear()
        self.rank_dirty = False
        self.attr_dirty = True

    def _update_access(self) -> None:
        """Affordability of each lane for each payer channel, and each channel's reach per cell.

        Only lanes in regions with an affordability curve need this; elsewhere everyone
        who wants a product can have it and demand follows the product mix directly.
        Arrays here are (channel, affordable lane, draw).
        """
        ax = self.aff_ix
        if ax.size == 0:
            self.access_dirty = False
            return
        if self.afford_dirty:  # launches and withdrawals change only who can reach what
            reg = self.st.lane_region[ax]
            oop = self.oop.transpose(2, 1, 0)[:, ax, :]
            x = oop * self.price.T[ax][None, :, :]
            a = F.affordable_share(x, self.aff_median.T[reg][None], self.aff_sigma.T[reg][None])
            self.afford = np.ascontiguousarray(a)  # C order: the compiled kernel has one specialisation
            self.afford_dirty = False
        a = self.afford
        if self.kernel == "compiled":
            from sim.engine.kernel import refresh_reach

            self.share_reach = np.empty_like(a)
            refresh_reach(a, self.avail.T, ax, self.aff_bounds, self.share.transpose(2, 1, 0), self.share_reach)
        else:
            am = a * self.avail.T[ax][None, :, :]
            reach = np.maximum.reduceat(am, self.aff_starts, axis=1)[:, self.aff_seg, :]
            self.share_reach = np.ascontiguousarray(self.share.transpose(2, 1, 0)[:, ax, :] * reach)
        self.access_dirty = False

    def _refresh(self) -> None:
        """Bring what this month's events changed (entry ranks, access, attractiveness) up to date."""
        if self.rank_dirty:
            self._update_ranks()
        if self.access_dirty:
            self._update_access()
        if self.attr_dirty:
            self._update_attr()

    def _update_attr(self) -> None:
        av = self.avail.T
        if self.kernel == "compiled":
            from sim.engine.kernel import refresh_attr

            self.avail_T, self.attr_T, self.hazard_eff_T = (np.empty(av.shape) for _ in range(3))
            refresh_attr(av, self.base_attr.T, self.rank_mult.T, self.safety.T, self.hazard_T,
                         self.avail_T, self.attr_T, self.hazard_eff_T)
        else:
            self.avail_T = av.astype(float)
            self.attr_T = self.avail_T * self.base_attr.T * self.rank_mult.T * self.safety.T
            self.hazard_eff_T = np.where(av, self.hazard_T, 1.0)
        self.attr_dirty = False

    def _prepare_flow(self) -> None:
        """Everything the monthly flow needs that is fixed within a batch (also used by the
        patient-level engine, which reuses `_demand`)."""
        st = self.st
        self.aff_ix = np.flatnonzero(self.lane_aff)
        cells = st.lane_cell[self.aff_ix]
        starts = [k for k in range(cells.size) if k == 0 or cells[k] != cells[k - 1]]
        self.aff_starts = np.array(starts, dtype=np.int64)
        self.aff_bounds = np.r_[self.aff_starts, self.aff_ix.size].astype(np.int64)
        self.aff_seg = (np.cumsum(np.r_[0, np.diff(cells) != 0]).astype(np.int64) if cells.size
                        else np.zeros(0, np.int64))
        # lanes of capacity-limited products, grouped by product, for the shared queue
        capped = np.isfinite(self.capacity).any(axis=0)
        for ev in self.scn.events.values():  # a capacity event can limit a product that had no limit
            if ev.type == "capacity":
                capped[st.products.index(ev.product)] = True
        cl = np.flatnonzero(capped[st.lane_product])
        self.cap_lanes = cl[np.argsort(st.lane_product[cl], kind="stable")]
        prods = st.lane_product[self.cap_lanes]
        starts = np.flatnonzero(np.r_[True, prods[1:] != prods[:-1]]) if prods.size else np.zeros(0, np.int64)
        self.cap_starts = starts.astype(np.int64)
        self.cap_prods = prods[starts] if prods.size else np.zeros(0, np.int64)
        self.cap_seg = (np.cumsum(np.r_[0, prods[1:] != prods[:-1]]).astype(np.int64) if prods.size
                        else np.zeros(0, np.int64))
        rm = self.ramp_months.T
        with np.errstate(divide="ignore"):
            self.inv_ramp_T = np.ascontiguousarray(np.where(rm > 0, 1.0 / np.maximum(rm, 1e-300), np.inf))
        self.inertia_T = np.ascontiguousarray(self.inertia.T[st.lane_cell])
        self.use_inertia = bool((self.inertia > 0).any())
        self.seg_sum = SegmentSum(st.seg_starts, st.L)
        self.cap_sum = SegmentSum(self.cap_starts, self.cap_lanes.size)
        self.log_growth_T = np.log1p(self.growth.T)
        self.hazard_T = np.ascontiguousarray(self.hazard.T[st.lane_cell])
        self.sites_T = np.ascontiguousarray(self.sites.transpose(2, 1, 0))  # (T, R, B)
        self.succ_T = np.ascontiguousarray(self.success.T[st.lane_product])
        # rank ** -elasticity for every rank a lane can have, per (cell, rank - 1, draw): the
        # compiled rank update reads its multipliers here (numpy's power, as the numpy update)
        n = int(np.diff(st.seg_bounds).max(initial=1))
        self.rank_table = np.ascontiguousarray(
            F.entry_rank_multiplier(np.arange(1.0, n + 1.0)[None, :, None], self.entry_e.T[:, None, :]))
        self.attr_dirty = True
        self.price_dirty = True

    def _demand_T(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Month t, steps 1-4: eligible and addressable patients per cell (C, B), demand per lane (L, B)."""
        st = self.st
        self._refresh()
        # 1-3: eligible, class uptake (Bass from the first launch in the cell), site access
        t0 = self.t0.T
        elig = self.E0.T * np.exp(self.log_growth_T * (t / 12.0)) * (1.0 / 12.0)
        tau = (t - t0 + 0.5) * (1.0 / 12.0)  # -inf before the first launch: F(-inf) = F(0) = 0
        pool = elig * (self.bm.T * F.bass_cdf(tau, self.bp.T, self.bq.T)) * self.sites_T[t][st.cell_region]
        # 4: product mix: logit on attractiveness x entry order x launch ramp, moving with inertia
        attract = self.attr_T * F.launch_ramp(t - self.launch_t.T, self.inv_ramp_T)
        target = attract * _inv_pos(self._segsum(attract))[st.lane_seg]
        comp_T = self.comp.T
        if self.use_inertia:
            mix = (self.inertia_T * comp_T + (1.0 - self.inertia_T) * target) * self.avail_T
            ctot = self._segsum(mix)
            # renormalise; a cell whose mix is empty (first launch) takes the target directly
            comp_T[...] = mix * _inv_pos(ctot)[st.lane_seg] + target * (ctot <= 1e-300)[st.lane_seg]
        else:
            comp_T[...] = target
        pool_l = pool[st.lane_cell]
        demand = pool_l * comp_T
        ax = self.aff_ix
        if ax.size:
            # each payer channel's patients choose among the products they can afford
            ac = self.afford * comp_T[ax][None, :, :]
            den = np.add.reduceat(ac, self.aff_starts, axis=1)
            w = (self.share_reach * ac * _inv_pos(den)[:, self.aff_seg, :]).sum(axis=0)
            demand[ax] = pool_l[ax] * w
        return elig, pool, demand

    def _demand(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_demand_T` as (draw, item) views."""
        elig, pool, demand = self._demand_T(t)
        return elig.T, pool.T, demand.T

    def _serve_T(self, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 5 on (L, B): queue, capacity shared first come first served by a product's lanes, drop-out."""
        queue = self.queue.T
        q = queue + demand
        served = q * self.avail_T
        cl = self.cap_lanes
        if cl.size:
            qc = served[cl]
            qp = self.cap_sum(qc)
            cap = self.capacity.T[self.cap_prods]
            ratio_p = np.divide(cap, qp, out=np.ones_like(qp), where=qp > cap)  # exactly 1 when not binding
            served[cl] = qc * ratio_p[self.cap_seg]
        rest = q - served
        dropped = rest * self.hazard_eff_T
        queue[...] = rest - dropped
        return served, dropped, queue

    def _flow(self) -> Any:
        st = self.st
        yield self.env.timeout(0.5)
        self._prepare_flow()
        if self.kernel == "compiled":
            yield from self._flow_compiled()
            return
        acc = self.acc
        pom = st.period_of_month
        for t in range(st.T):
            per = pom[t]
            elig, pool, demand = self._demand_T(t)
            served, dropped, waiting = self._serve_T(demand)
            acc["demand"][per] += demand
            acc["served"][per] += served
            acc["dropped"][per] += dropped
            acc["waiting"][per] = waiting
            acc["revenue_local"][per] += served * self.net_price_succ
            acc["eligible"][per] += elig
            acc["addressable"][per] += pool
            yield self.env.timeout(1)

    def _flow_compiled(self) -> Any:
        """The same months as the numpy flow above, each one call of the compiled kernel."""
        from sim.engine.kernel import month

        st, B = self.st, self.B
        acc = self.acc
        pom = st.period_of_month
        seg_bounds, aff_bounds = st.seg_bounds, self.aff_bounds
        cap_bounds = np.r_[self.cap_starts, self.cap_lanes.size].astype(np.int64)
        cell_region = np.ascontiguousarray(st.cell_region, dtype=np.int64)
        lane_cell = np.ascontiguousarray(st.lane_cell, dtype=np.int64)
        cap_lanes = np.ascontiguousarray(self.cap_lanes, dtype=np.int64)
        cap_prods = np.ascontiguousarray(self.cap_prods, dtype=np.int64)
        no_aff = np.zeros((0, 0, B))
        neg_pq = -(self.bp.T + self.bq.T)
        growth_t, bass_e = np.empty((st.C, B)), np.empty((st.C, B))
        for t in range(st.T):
            per = pom[t]
            # the two exps of the month, vectorised, in the reference's order of operations
            np.multiply(self.log_growth_T, t / 12.0, out=growth_t)
            np.exp(growth_t, out=growth_t)
            np.subtract(t, self.t0.T, out=bass_e)
            bass_e += 0.5
            bass_e *= 1.0 / 12.0
            np.maximum(bass_e, 0.0, out=bass_e)  # tau; 0 before the cell's first launch (F = 0)
            bass_e *= neg_pq
            np.exp(bass_e, out=bass_e)
            self._refresh()
            aff = self.aff_ix.size > 0
            month(t, self.E0.T, growth_t, bass_e, self.bm.T, self.bp.T, self.bq.T, self.sites_T[t], cell_region,
                  self.attr_T, self.launch_t.T, self.inv_ramp_T, self.inertia_T, self.avail_T,
                  self.use_inertia, self.comp.T, lane_cell, seg_bounds,
                  self.afford if aff else no_aff, self.share_reach if aff else no_aff, self.aff_ix, aff_bounds,
                  cap_lanes, cap_bounds, cap_prods, self.capacity.T,
                  self.queue.T, self.hazard_eff_T, self.net_price_succ,
                  acc["demand"][per], acc["served"][per], acc["dropped"][per], acc["waiting"][per],
                  acc["revenue_local"][per], acc["eligible"][per], acc["addressable"][per])
            yield self.env.timeout(1)

    def run(self) -> BatchOutput:
        st, B = self.st, self.B
        L, C, NP = st.L, st.C, st.NP
        # accumulators laid out (period, item, draw): a month's slice is one contiguous block
        self.acc = {m: np.zeros((NP, L, B)) for m in ("demand", "served", "dropped", "waiting", "revenue_local")}
        self.acc["eligible"] = np.zeros((NP, C, B))
        self.acc["addressable"] = np.zeros((NP, C, B))
        self._schedule_all()
        if st.L:
            self.env.process(self._flow())
        self.env.run(until=st.T + 1)
        # everything below stays (period, item, draw), contiguous along draws; per-lane
        # coefficients are (item, draw) rows broadcast over periods. Results are computed in
        # float64 and stored as out_dtype as soon as nothing else needs them (float32 halves a
        # written batch's memory; the files hold float32 either way, so their bytes are equal)
        dt = np.dtype(self.out_dtype)
        if self.kernel == "compiled":
            return self._finish_compiled(dt)

        def keep(x: np.ndarray) -> np.ndarray:
            return x if x.dtype == dt else x.astype(dt)

        a = self.acc
        cell_demand = np.zeros((NP, C, B))
        if L:
            cell_demand[:, st.seg_cell, :] = np.add.reduceat(a["demand"], st.seg_starts, axis=1)
        cells = {"eligible": keep(a["eligible"]), "addressable": keep(a.pop("addressable")),
                 "demand": keep(cell_demand), "untreated": keep(a.pop("eligible") - cell_demand)}
        del cell_demand
        served = a.pop("served")
        revenue = a["revenue_local"] / self.fx.T[st.lane_region]
        cogs = served * self.cogs.T[st.lane_product]
        gross_profit = revenue - cogs
        ps = self.partner_share.T
        bc = self._by_company
        roy_flow = revenue * ps * self.royalty.T
        comp = {
            "revenue": bc(revenue * (1.0 - ps), self.own_cp) + bc(revenue * ps, self.par_cp),
            "gross_profit": bc(gross_profit * (1.0 - ps), self.own_cp) + bc(gross_profit * ps, self.par_cp),
            "royalty": bc(roy_flow, self.own_cp) - bc(roy_flow, self.par_cp),
            "deal_payments": np.ascontiguousarray(self.pay.transpose(2, 1, 0)),
        }
        del roy_flow
        comp["income"] = comp["gross_profit"] + comp["royalty"] + comp["deal_payments"]
        comp = {k: keep(v) for k, v in comp.items()}
        lanes = {"demand": keep(a.pop("demand"))}
        infused = served * self.success.T[st.lane_product]
        lanes["infused"] = keep(infused)
        lanes["failed"] = keep(served - infused)
        del infused, served
        lanes["dropped"] = keep(a.pop("dropped"))
        lanes["waiting"] = keep(a.pop("waiting"))
        lanes["revenue_local"] = keep(a.pop("revenue_local"))
        lanes["company_revenue"] = keep(revenue * self.owner_coef.T)
        lanes["revenue"], lanes["cogs"], lanes["gross_profit"] = keep(revenue), keep(cogs), keep(gross_profit)
        del revenue, cogs, gross_profit
        lanes = {m: lanes[m] for m in LANE_METRICS}  # the documented column order

        def view(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {k: v.transpose(2, 1, 0) for k, v in d.items()}  # (draw, item, period) views

        return self._output(view(lanes), view(cells), view(comp))

    def _output(self, lanes: dict[str, np.ndarray], cells: dict[str, np.ndarray],
                comp: dict[str, np.ndarray]) -> BatchOutput:
        events = {k: v.fired_at + 0.0 for k, v in self.triggers.items()}
        out = BatchOutput(lanes=lanes, cells=cells, companies=comp, draw_ids=self.draw_ids,
                          events=events, inputs=dict(self.S.record))
        # event closures refer back to this object: break the cycles so its arrays are freed
        # at once instead of at the next cyclic garbage collection (memory stays flat per batch)
        self.triggers.clear()
        self.acc = {}
        return out

    def _finish_compiled(self, dt: np.dtype) -> BatchOutput:
        """The derived metrics above in one compiled pass (sim.engine.kernel.finish)."""
        from sim.engine.kernel import finish

        st, a, B = self.st, self.acc, self.B
        NP, L, C, CP = st.NP, st.L, st.C, len(st.company_products)

        lanes_out = np.empty((len(LANE_METRICS), NP, L, B), dtype=dt)
        cells_out = np.empty((len(CELL_METRICS), NP, C, B), dtype=dt)
        comp_out = np.empty((len(COMPANY_METRICS), NP, CP, B), dtype=dt)
        finish(a["served"], a["revenue_local"], a["demand"], a["dropped"], a["waiting"], a["eligible"],
               a["addressable"], np.ascontiguousarray(self.fx.T), st.lane_region,
               np.ascontiguousarray(self.cogs.T), np.ascontiguousarray(self.success.T),
               st.lane_product, np.ascontiguousarray(self.owner_coef.T),
               np.ascontiguousarray(self.partner_share.T), np.ascontiguousarray(self.royalty.T),
               _company_groups(self.own_cp), _company_groups(self.par_cp), st.seg_bounds,
               st.seg_cell, np.ascontiguousarray(self.pay.transpose(2, 1, 0)),
               lanes_out, cells_out, comp_out)
        self.acc = {}

        def view(out: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
            return {m: out[k].transpose(2, 1, 0) for k, m in enumerate(names)}  # (draw, item, period) views

        return self._output(view(lanes_out, LANE_METRICS), view(cells_out, CELL_METRICS),
                            view(comp_out, COMPANY_METRICS))


class SegmentSum:
    """Sums of consecutive row groups of an (rows, draws) array.

    np.add.reduceat along axis 0 walks each column with a stride of a whole row; here each step
    adds whole contiguous rows (gathered by index), one step per position within a segment."""

    def __init__(self, starts: np.ndarray, n_rows: int) -> None:
        starts = np.asarray(starts, dtype=np.int64)
        lengths = np.diff(np.r_[starts, n_rows])
        self.starts = starts
        self.steps = [(np.flatnonzero(lengths > k), starts[lengths > k] + k) for k in range(1, int(lengths.max(initial=1)))]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = x[self.starts]  # a copy (fancy indexing)
        for seg, rows in self.steps:
            out[seg] += x[rows]
        return out


def _company_groups(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lanes grouped by their company-product row (cp[l], -1 = none), for sums in lane order:
    the lanes in group order, where each group starts in that list, and each group's row."""
    keep = np.flatnonzero(cp >= 0)
    order = keep[np.argsort(cp[keep], kind="stable")].astype(np.int64)
    rows = cp[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if order.size else np.zeros(0, np.int64)
    return order, starts.astype(np.int64), rows[starts].astype(np.int64)


def _inv_pos(x: np.ndarray) -> np.ndarray:
    """1/x where x is a normal positive number, else 0 (empty segments; 1/subnormal would be inf).

    Arithmetic, not np.where / masked divide: those are ~10x slower per element."""
    return np.reciprocal(np.maximum(x, 1e-300)) * (x > 1e-300)


def _ord(s: str) -> int:
    from sim.periods import month_ordinal

    return month_ordinal(s)


def _interp_rows(x_new: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation per draw (rows of ys share the knots xs), flat outside."""
    pos = np.clip(np.searchsorted(xs, x_new, side="right") - 1, 0, len(xs) - 1)
    nxt = np.minimum(pos + 1, len(xs) - 1)
    span = xs[nxt] - xs[pos]
    w = np.divide(x_new - xs[pos], span, out=np.zeros_like(x_new), where=span > 0)
    w = np.clip(w, 0.0, 1.0)
    return ys[:, pos] * (1 - w) + ys[:, nxt] * w


def simulate_batch(st: Structure, seed: int, draw_ids: np.ndarray, design: Design | None = None,
                   pinned: dict[str, np.ndarray] | None = None, kernel: str = "compiled",
                   out_dtype: Any = np.float64) -> BatchOutput:
    return BatchSim(st, seed, draw_ids, design, pinned, kernel, out_dtype).run()


"""Fitting a scenario's uncertain inputs to reported sales: ABC-SMC in batches of simulations.

Approximate Bayesian computation by sequential Monte Carlo (Toni et al. 2009; Beaumont et al.
2009): the scenario's distributions are the priors of the chosen inputs; generation 0 samples
them, each later generation perturbs particles of the one before (pyabc's weighted multivariate
normal kernel), keeps those whose simulated sales lie within the generation's tolerance of the
actuals (a weighted quantile of the previous distances), and weights them by prior / kernel
mixture density. The inputs are fitted in their uniform (probability) scale, where every prior
is U(0, 1), so a particle is a set of quantiles and any scenario distribution can be a prior.

Why batches, not pyabc's own loop: pyabc simulates one particle per model call, which here is a
single-draw simulation (about 25-30 per second); the batch engine simulates a whole generation's
proposals at once (over 1,000 per second), pinning each proposal's quantiles as the draw's
inputs. pyabc supplies the perturbation kernel and the weighted statistics.

Every other uncertain input is drawn from its prior as in a run (common random numbers by draw
id), so the posterior accounts for what is not fitted. Distance: the root mean square, over the
product-years fitted, of log((simulated + 1M) / (actual + 1M)) / sigma, where the simulated value
carries observation error (noisy ABC): a log-normal error of sd sigma, 0.05 for reported figures
and 0.15 for approximate ones (the actuals' quality column: `reported` or `approx`, then a note).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.errors import ScenarioError
from sim.io import read_text_file

if TYPE_CHECKING:
    import pandas as pd

    from sim.engine.structure import Structure

# sd of log(reported / true) by the quality column's first word (a note may follow it)
OBS_ERROR = {"reported": 0.05, "approx": 0.15, "approximate": 0.15}
KERNEL_SCALING = 2.0  # wider than Silverman's rule: fewer accepted, but weights that do not collapse
FLOOR = 1e6  # reporting-currency units added to both sides of the log ratio (a product with no sales)
COLUMNS = ("product", "year", "net_sales_usd_m")


@dataclass(frozen=True)
class Target:
    """The actuals a fit matches: one row per product-year."""

    product: tuple[str, ...]
    period: tuple[str, ...]
    value: np.ndarray  # reporting currency
    sigma: np.ndarray  # observation error (sd of the log)
    sha256: str
    path: str


def load_target(path: str | Path, structure: Structure, until: str | None = None) -> Target:
    """Read and check an actuals CSV against the scenario: product, year, net_sales_usd_m
    (millions of the reporting currency) and optionally quality (reported / approximate)."""
    import pandas as pd

    p = Path(path)
    raw = read_text_file(p, "actuals")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the actuals as CSV ({type(exc).__name__}); expected a header "
                            f"{','.join(COLUMNS)}[,quality] and one row per product-year", file=str(p)) from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ScenarioError(f"actuals need the column(s) {', '.join(missing)} (found: {', '.join(df.columns)})",
                            file=str(p))
    if df.empty:
        raise ScenarioError("the actuals file has a header but no rows", file=str(p))
    last_year = int(until[:4]) if until else None
    rows: list[tuple[str, str, float, float]] = []
    for n, r in enumerate(df.itertuples(index=False), start=2):
        rows += _row(p, n, r._asdict(), structure, last_year, until)
    if not rows:
        raise ScenarioError(f"no actuals up to {until} to fit" if until else "no actuals to fit", file=str(p))
    prod, per, val, sig = zip(*rows, strict=True)
    return Target(tuple(prod), tuple(per), np.array(val), np.array(sig), hashlib.sha256(raw).hexdigest(), str(p))


def _row(p: Path, n: int, r: dict[str, str], structure: Structure, last_year: int | None,
         until: str | None) -> list[tuple[str, str, float, float]]:
    """One checked actuals row as (product, year, value, sigma); none if after --until."""
    from sim.errors import did_you_mean

    where = f"row {n}"
    prod = r["product"].split(" (")[0].strip()
    if prod not in structure.products:
        raise ScenarioError(f"{where}: unknown product '{prod}'{did_you_mean(prod, structure.products)}; "
                            "expected a product of the scenario", file=str(p))
    try:
        year = int(r["year"])
        value = float(r["net_sales_usd_m"]) * 1e6
    except ValueError:
        raise ScenarioError(f"{where}: year must be a whole year and net_sales_usd_m a number, got "
                            f"{r['year']!r} and {r['net_sales_usd_m']!r}", file=str(p)) from None
    if not math.isfinite(value) or value < 0:
        raise ScenarioError(f"{where}: net_sales_usd_m must be a non-negative number, got {r['net_sales_usd_m']!r}",
                            file=str(p))
    first, last = int(structure.periods[0][:4]), int(structure.periods[-1][:4])
    if not first <= year <= last:
        raise ScenarioError(f"{where}: year {year} is outside the scenario's horizon ({first}-{last})", file=str(p))
    words = (r.get("quality") or "reported").split()
    quality = words[0].lower() if words else "reported"
    if quality not in OBS_ERROR:
        raise ScenarioError(f"{where}: quality must start with one of {', '.join(OBS_ERROR)} (a note may follow), "
                            f"got {r.get('quality')!r}", file=str(p))
    if last_year is not None and until is not None and (year > last_year or (year == last_year and until[5:] != "12")):
        return []  # a year counts only if the whole of it is known by --until
    return [(prod, str(year), value, OBS_ERROR[quality])]


def select_inputs(names: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The uncertain inputs matching any pattern (field paths, `*` and `?` wildcards; brackets are
    literal, as in a path point's name `ceiling[0].value`), in scenario order."""
    from fnmatch import fnmatchcase

    literal = {pat: pat.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]") for pat in patterns}
    chosen = [n for n in names if any(fnmatchcase(n, literal[pat]) for pat in patterns)]
    unmatched = [pat for pat in patterns if not any(fnmatchcase(n, literal[pat]) for n in names)]
    if unmatched:
        raise ScenarioError(f"--inputs {', '.join(unmatched)} match(es) no uncertain input of the scenario; "
                            f"uncertain inputs include {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}")
    gates = [n for n in chosen if n.endswith(".fires")]
    if gates:
        raise ScenarioError(f"--inputs: yes/no gates cannot be fitted ({', '.join(gates[:3])}); "
                            "fit their probability instead")
    return chosen


class Simulator:
    """Sales per product-year of the target for batches of proposals (quantiles of the fitted
    inputs), each simulated as one draw of the scenario with those quantiles pinned: here, in
    `workers` local processes, or over a dask cluster (`cluster`, a scheduler address)."""

    def __init__(self, scenario_data: dict[str, Any], sha256: str, names: list[str], target: Target, seed: int,
                 workers: int = 1, cluster: str | None = None) -> None:
        self.args = (scenario_data, sha256, tuple(names), target.product, target.period, seed)
        self.workers = workers
        self.pool: Any = None
        self.client: Any = None
        if cluster is not None:
            from sim.runner.dask import connect

            self.client, _ = connect(cluster, workers)
            self.workers = max(sum(self.client.nthreads().values()), 1)
            self.remote_args = self.client.scatter(self.args, broadcast=True)
        elif workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers, initializer=_worker_init, initargs=self.args)
        _worker_init(*self.args)  # small batches are simulated here

    def __call__(self, u: np.ndarray, draw_ids: np.ndarray) -> np.ndarray:
        """(n, inputs) quantiles and their draw ids -> (n, product-years) simulated values."""
        if (self.pool is None and self.client is None) or len(draw_ids) < 2 * self.workers:
            return _simulate(u, draw_ids)
        chunks = np.array_split(np.arange(len(draw_ids)), self.workers)
        if self.client is not None:  # results come back in the order submitted, whichever worker ran them
            futs = [self.client.submit(_simulate_remote, self.remote_args, u[c], draw_ids[c], pure=False)
                    for c in chunks]
            return np.concatenate(self.client.gather(futs))
        parts = self.pool.map(_simulate, [u[c] for c in chunks], [draw_ids[c] for c in chunks])
        return np.concatenate(list(parts))

    def close(self) -> None:
        """Stop the worker processes (or leave the cluster)."""
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.client is not None:
            self.client.close()


_STATE: dict[str, Any] = {}  # this process's model for the fit (local runs and process pools)
_STATES: dict[tuple[Any, ...], dict[str, Any]] = {}  # on a dask worker: one per fit, keyed by its settings


def _worker_init(scenario_data: dict[str, Any], sha256: str, names: tuple[str, ...], products: tuple[str, ...],
                 periods: tuple[str, ...], seed: int) -> None:
    from sim.runner.tasks import structure_for
    from sim.sampling.correlation import design_for

    structure = structure_for(scenario_data, sha256, "year")
    scn = structure.scenario
    # correlations hold within each batch (the copula method does not depend on the number of draws)
    design = design_for(scn.model_copy(update={"correlation_method": "copula"}), None, 1, seed)
    prod_ix = np.array([structure.products.index(p) for p in products])
    per_ix = np.array([structure.periods.index(p) for p in periods])
    state = dict(structure=structure, design=design, names=names, prod_ix=prod_ix, per_ix=per_ix, seed=seed)
    _STATES[(sha256, names, products, periods, seed)] = state
    _STATE.clear()
    _STATE.update(state)


def _simulate_remote(args: tuple[Any, ...], u: np.ndarray, draw_ids: np.ndarray) -> np.ndarray:
    """On a dask worker: build each fit's model once per process, then simulate with that fit's
    model (threads of one worker serving two fits never share one)."""
    key = (args[1], *args[2:])
    if key not in _STATES:
        _worker_init(*args)
    return _simulate(u, draw_ids, _STATES[key])


def _simulate(u: np.ndarray, draw_ids: np.ndarray, state: dict[str, Any] | None = None) -> np.ndarray:
    from sim.engine.batch import simulate_batch

    state = _STATE if state is None else state
    st = state["structure"]
    pinned = {n: np.ascontiguousarray(u[:, k]) for k, n in enumerate(state["names"])}
    out = simulate_batch(st, state["seed"], draw_ids, state["design"], pinned)
    rev = out.lanes["revenue"]  # (draw, lane, period)
    by_product = np.zeros((rev.shape[0], len(st.products), rev.shape[2]))
    for lane, j in enumerate(st.lane_product.tolist()):
        by_product[:, j] += rev[:, lane]
    return by_product[:, state["prod_ix"], state["per_ix"]]


@dataclass
class FitSettings:
    """How long and how finely to fit."""

    population: int = 1000
    generations: int = 8
    alpha: float = 0.5  # each tolerance is this weighted quantile of the previous distances
    min_epsilon: float = 0.0
    min_acceptance: float = 0.02
    seed: int = 0


@dataclass
class Generation:
    """One generation's figures, as progress shows them."""

    t: int
    epsilon: float
    acceptance: float
    ess: float
    simulations: int
    seconds: float


@dataclass
class FitResult:
    """The last generation's particles (quantiles u, values), weights and distances."""

    names: list[str]
    u: np.ndarray
    weights: np.ndarray
    distances: np.ndarray
    generations: list[Generation] = field(default_factory=list)
    stopped: str = ""


def distance(sim: np.ndarray, target: Target, rng: np.random.Generator) -> np.ndarray:
    """Noisy-ABC distance of each simulation (rows) to the target (see the module docstring)."""
    noisy = np.log(sim + FLOOR) + target.sigma * rng.standard_normal(sim.shape)
    z = (noisy - np.log(target.value + FLOOR)) / target.sigma
    return np.sqrt(np.mean(z * z, axis=1))


def abc_smc(simulate: Callable[[np.ndarray, np.ndarray], np.ndarray], target: Target, names: list[str],
            settings: FitSettings, progress: Callable[[Generation], None] | None = None) -> FitResult:
    """ABC-SMC over the inputs' quantiles (module docstring); deterministic for a seed."""
    import pandas as pd
    from pyabc.transition import MultivariateNormalTransition
    from pyabc.weighted_statistics import effective_sample_size, weighted_quantile

    rng = np.random.default_rng(settings.seed)
    np.random.seed(settings.seed % 2**32)  # pyabc's kernels draw from numpy's global generator
    n, d = settings.population, len(names)
    t0 = time.perf_counter()
    u = rng.random((n, d))
    dist = distance(simulate(u, np.arange(n)), target, rng)
    next_id, w = n, np.full(n, 1.0 / n)
    res = FitResult(names, u, w, dist)
    _report(res, Generation(0, math.inf, 1.0, float(n), n, time.perf_counter() - t0), progress)
    for t in range(1, settings.generations):
        eps = float(weighted_quantile(res.distances, res.weights, alpha=settings.alpha))
        kernel = MultivariateNormalTransition(scaling=KERNEL_SCALING)
        kernel.fit(pd.DataFrame(res.u, columns=names), res.weights)
        start, n_sim = time.perf_counter(), 0
        keep_u: list[np.ndarray] = []
        keep_d: list[np.ndarray] = []
        rate = max(res.generations[-1].acceptance * 0.5, 0.05)
        n_acc = 0
        while n_acc < n:
            need = n - n_acc
            m = int(min(max(math.ceil(need / rate * 1.2), 64), 20 * n))
            prop = _inside(kernel, m, d)
            if not len(prop):
                continue
            ids = np.arange(next_id, next_id + len(prop))
            next_id += len(prop)
            dd = distance(simulate(prop, ids), target, rng)
            n_sim += len(prop)
            ok = dd <= eps
            keep_u.append(prop[ok])
            keep_d.append(dd[ok])
            n_acc += int(ok.sum())
            rate = max(n_acc / n_sim, 1e-3)
            if n_sim > n / settings.min_acceptance:
                break
        acc_u, acc_d = np.concatenate(keep_u)[:n], np.concatenate(keep_d)[:n]
        if len(acc_u) < n:
            res.stopped = f"acceptance below {settings.min_acceptance:g} at generation {t}"
            break
        dens = np.asarray(kernel.pdf(pd.DataFrame(acc_u, columns=names)), dtype=float).reshape(-1)
        w = 1.0 / np.maximum(dens, 1e-300)  # uniform prior on the quantiles: density 1 inside
        w /= w.sum()
        res.u, res.weights, res.distances = acc_u, w, acc_d
        gen = Generation(t, eps, n / n_sim, float(effective_sample_size(w)), n_sim, time.perf_counter() - start)
        _report(res, gen, progress)
        if eps <= settings.min_epsilon:
            res.stopped = f"tolerance {eps:.3g} reached the minimum {settings.min_epsilon:g}"
            break
    if not res.stopped:
        res.stopped = f"{len(res.generations)} generations"
    return res


def _inside(kernel: Any, m: int, d: int, tries: int = 50) -> np.ndarray:
    """Up to `m` kernel proposals inside the prior's support (the unit cube), gathered before
    simulating: with many inputs most proposals fall outside, and simulating only what was left
    of one draw of `m` made many small batches, each with the engine's fixed cost."""
    got: list[np.ndarray] = []
    have = 0
    for _ in range(tries):
        prop = kernel.rvs(size=m).to_numpy().reshape(m, d)
        prop = prop[((prop > 0.0) & (prop < 1.0)).all(axis=1)]
        got.append(prop)
        have += len(prop)
        if have >= m:
            break
    return np.concatenate(got)[:m]


def _report(res: FitResult, gen: Generation, progress: Callable[[Generation], None] | None) -> None:
    res.generations.append(gen)
    if progress is not None:
        progress(gen)


def posterior_table(res: FitResult, specs: dict[str, Any]) -> pd.DataFrame:
    """The posterior as a table: particle, weight, each input's value and its quantile (u:...)."""
    import pandas as pd

    from sim.sampling.tables import sample

    cols: dict[str, Any] = {"particle": np.arange(len(res.weights)), "weight": res.weights}
    for k, name in enumerate(res.names):
        cols[name] = sample(specs[name], res.u[:, k])
    for k, name in enumerate(res.names):
        cols["u:" + name] = res.u[:, k]
    cols["distance"] = res.distances
    return pd.DataFrame(cols)

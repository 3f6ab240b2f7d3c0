"""The stored regression baseline: every number the shipped scenarios produce, as digests.

Each record is one result array: a SHA-256 of its float64 bytes (bit-exact, -0.0 and NaN
included) and six statistics (sum, sum of |x|, sum of squares, min, max, a fixed weighted
sum) that say how much it moved when it did. The engine is checked on every shipped scenario
with both kernels and the patient-level engine on the small example; the whole pipeline
(runner, parquet parts, summary.csv) on every shipped scenario.

Floating-point results can differ in the last bit between machines (numpy picks SIMD code
for the CPU it runs on; numba compiles for it), so digests are compared only on a machine
with the same fingerprint as the one that wrote the baseline; elsewhere the statistics are
compared to a relative 1e-9, which any change of the model still fails.

Regenerate only with `python tests/update_baseline.py --reason "..."`.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "tests" / "baseline" / "regression.json"
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
ENGINE_DRAWS = 4
RUN_DRAWS = 24
SEED = 7
RTOL = 1e-9


def fingerprint() -> dict[str, Any]:
    """What decides the last bit of a floating-point result on this machine."""
    import llvmlite.binding as llvm
    import numba
    import scipy

    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as feats
    return {
        "numpy": np.__version__, "scipy": scipy.__version__, "numba": numba.__version__,
        "machine": platform.machine(), "llvm_cpu": llvm.get_host_cpu_name(),
        "cpu_features": sorted(k for k, v in feats.items() if v),
    }


_WEIGHTS: dict[int, np.ndarray] = {}


def record(x: Any) -> dict[str, Any]:
    """Digest and statistics of one array (as float64)."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    flat = a.reshape(-1)
    if flat.size not in _WEIGHTS:
        _WEIGHTS[flat.size] = np.sin(np.arange(flat.size, dtype=np.float64) * 0.7 + 0.3)
    fin = flat[np.isfinite(flat)]
    stats = [float(fin.sum()), float(np.abs(fin).sum()), float((fin * fin).sum()),
             float(fin.min()) if fin.size else 0.0, float(fin.max()) if fin.size else 0.0,
             float(np.where(np.isfinite(flat), flat, 0.0) @ _WEIGHTS[flat.size])]
    return {"sha256": hashlib.sha256(a.tobytes()).hexdigest(), "shape": list(a.shape),
            "nonfinite": int(flat.size - fin.size), "stats": stats}


def _named_matrix(d: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """Columns in name order as one (rows, names) matrix."""
    keys = sorted(d)
    return keys, (np.column_stack([np.asarray(d[k], dtype=np.float64) for k in keys])
                  if keys else np.zeros((0, 0)))


def names_digest(names: list[str]) -> str:
    """A short digest of a list of names (the lists themselves are in the baseline's `names`)."""
    return f"{len(names)} names, " + hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


# a correlation added to the small example, so the correlated designs are covered too
CORRELATED = {"correlations": [{"inputs": ["indications.LBCL_3L.uptake.ceiling", "regions.China.fx",
                                           "products.Ciltacel.regions.US.launches.MM_5L.date"],
                                "matrix": [[1.0, 0.5, -0.3], [0.5, 1.0, 0.2], [-0.3, 0.2, 1.0]]}]}


def engine_records(path: Path, engine: str, design: str = "mc", correlated: str | None = None) -> dict[str, Any]:
    """Every array one engine produces for the first draws of a scenario (designs other than mc
    and correlations matter here because they depend on the order the engine asks for inputs)."""
    from sim import build_structure, load_scenario, simulate_batch
    from sim.engine.patient import simulate_patient
    from sim.sampling.correlation import design_for

    overrides = dict(CORRELATED, correlation_method=correlated) if correlated else None
    scn = load_scenario(path, overrides).scenario
    st = build_structure(scn)
    n = ENGINE_DRAWS if engine != "patient" else 2
    ids = np.arange(n)
    plan = design_for(scn, design, 2 * n, SEED) if design != "mc" or correlated else None
    if engine == "patient":
        out = simulate_patient(st, SEED, ids, plan)
    else:
        out = simulate_batch(st, SEED, ids, plan, kernel=engine)
    recs: dict[str, Any] = {}
    for table in ("lanes", "cells", "companies"):
        for metric, arr in getattr(out, table).items():
            recs[f"{table}.{metric}"] = record(arr)
    for table in ("events", "inputs"):
        keys, mat = _named_matrix(getattr(out, table))
        recs[table] = record(mat)
        recs[f"{table}.names"] = names_digest(keys)
    return recs


def names_of(path: Path) -> dict[str, list[str]]:
    """The events and inputs a scenario records (kept once per scenario, to say what changed)."""
    from sim import build_structure, load_scenario, simulate_batch

    out = simulate_batch(build_structure(load_scenario(path).scenario), SEED, np.arange(ENGINE_DRAWS))
    return {"events": sorted(out.events), "inputs": sorted(out.inputs)}


def run_records(path: Path) -> dict[str, Any]:
    """The whole pipeline: a run's five tables (as written to parquet) and summary.csv."""
    import pandas as pd

    from sim import Results, run

    with tempfile.TemporaryDirectory() as tmp:
        folder = run(path, draws=RUN_DRAWS, seed=SEED, out=Path(tmp) / "r", workers=1)
        res = Results(folder)
        recs: dict[str, Any] = {}
        for table in ("lanes", "cells", "companies", "events", "inputs"):
            df = res.table(table)
            labels = [c for c in df.columns if df[c].dtype == "category"]
            keys, mat = _named_matrix({c: df[c].to_numpy() for c in df.columns if c not in labels})
            recs[f"{table}.values"] = record(mat)
            recs[f"{table}.columns"] = names_digest(keys)
            if labels:
                recs[f"{table}.labels"] = names_digest(
                    [f"{c}={v}" for c in labels for v in df[c].astype(str).tolist()])
        text = (folder / "summary.csv").read_text()
    frame = pd.read_csv(io.StringIO(text), dtype={"group": str, "period": str})
    recs["summary.csv"] = f"{len(frame)} rows, " + hashlib.sha256(text.encode()).hexdigest()[:32]
    recs["summary.values"] = record(frame[frame.columns[4:]].to_numpy(dtype=float))
    return recs


def sensitivity_records(path: Path) -> dict[str, Any]:
    """Tornado, rank correlations and Sobol indices (their input order matters)."""
    from sim import load_scenario
    from sim.analysis.evaluator import Evaluator, Measure
    from sim.analysis.sensitivity import rank_sensitivity, sobol_indices, tornado

    ev = Evaluator(load_scenario(path).scenario, Measure("revenue", "total"), seed=SEED)
    inputs = ev.uncertain_inputs()
    tor = tornado(ev, inputs, None, draws=16)
    ranks = rank_sensitivity(ev, 32, inputs)
    sob = sobol_indices(ev, inputs, None, n_base=8, num_resamples=20)
    recs: dict[str, Any] = {"inputs": names_digest(inputs),
                            "tornado.order": names_digest(tor["input"].tolist()),
                            "sobol.order": names_digest(sob["input"].tolist())}
    for name, df in (("tornado", tor), ("sobol", sob)):
        recs[f"{name}.values"] = record(df.select_dtypes("number").to_numpy(dtype=float))
    recs["ranks.rho"] = record(ranks.rho)
    return recs


def cases() -> Iterator[tuple[str, Any]]:
    """(case id, function computing its records) for every case of the baseline."""
    small = REPO / "scenarios" / "example_small.yaml"
    cart = REPO / "scenarios" / "cart_2022.yaml"
    for path in SCENARIOS:
        for kernel in ("compiled", "numpy"):
            yield f"engine/{path.stem}/{kernel}", (lambda p=path, k=kernel: engine_records(p, k))
    yield f"engine/{small.stem}/patient", (lambda: engine_records(small, "patient"))
    for path in (small, cart):
        for design in ("lhs", "sobol"):
            yield f"engine/{path.stem}/{design}", (lambda p=path, d=design: engine_records(p, "compiled", d))
    for method in ("iman-conover", "copula"):
        yield f"engine/{small.stem}/correlated-{method}", (
            lambda m=method: engine_records(small, "compiled", "mc", m))
    yield f"analysis/{small.stem}/sensitivity", (lambda: sensitivity_records(small))
    for path in SCENARIOS:
        yield f"run/{path.stem}", (lambda p=path: run_records(p))


def load_baseline() -> dict[str, Any]:
    return json.loads(BASELINE.read_text())


def differences(expected: dict[str, Any], got: dict[str, Any], exact: bool) -> list[str]:
    """What differs between two cases' records, one line per array (empty: the same)."""
    out = []
    for name in sorted(set(expected) | set(got)):
        if name not in got:
            out.append(f"{name}: missing now")
            continue
        if name not in expected:
            out.append(f"{name}: new (not in the baseline)")
            continue
        a, b = expected[name], got[name]
        if isinstance(a, str):  # a digest of names or text
            if a != b:
                out.append(f"{name}: {a} -> {b}")
            continue
        if a["shape"] != b["shape"] or a["nonfinite"] != b["nonfinite"]:
            out.append(f"{name}: shape {a['shape']} -> {b['shape']}, non-finite {a['nonfinite']} -> {b['nonfinite']}")
        elif exact and a["sha256"] != b["sha256"]:
            rel = _rel(a["stats"], b["stats"])
            out.append(f"{name}: changed (sum {a['stats'][0]:.10g} -> {b['stats'][0]:.10g}, "
                       f"largest relative change of a statistic {rel:.3g})")
        elif not exact and _rel(a["stats"], b["stats"]) > RTOL:
            out.append(f"{name}: changed beyond {RTOL:g} (sum {a['stats'][0]:.10g} -> {b['stats'][0]:.10g})")
    return out


def _rel(a: list[float], b: list[float]) -> float:
    """Largest change of a statistic relative to the array's own magnitude (so a statistic that
    cancels to near zero, like a weighted sum, is not judged by its own tiny size)."""
    amax = max(abs(a[3]), abs(a[4]), abs(b[3]), abs(b[4]))
    scales = [max(a[1], b[1]), max(a[1], b[1]), max(a[2], b[2]), amax, amax, max(a[1], b[1])]
    return max(abs(x - y) / max(s, 1e-300) if x != y else 0.0 for x, y, s in zip(a, b, scales, strict=True))

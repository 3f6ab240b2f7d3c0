"""Benchmark of `sim.runner.run()` on the realistic scenario: speed, memory, start-up.

    python benchmarks/bench_run.py                       # 1,000 and 10,000 draws, 2 workers
    python benchmarks/bench_run.py --quick               # 100 and 1,000 draws (~30 s)
    python benchmarks/bench_run.py --draws 5000 --workers 1 --json bench.json

Every measurement runs in a fresh child process (this script re-invoked with a hidden
`--child` argument) so peak RSS is per measurement: the child reports
getrusage(RUSAGE_SELF) (the runner process) and getrusage(RUSAGE_CHILDREN) (the largest
worker process it waited for). Results folders go to a temp dir, deleted after each run.
Targets (>= 2,000 draws/s end to end on 2 cores, <= 1 GB peak memory) are reported as
PASS/FAIL; they never change the exit status (only a failed measurement does).
See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import blas_threads  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIOS = (ROOT / "scenarios" / "cart_2022.yaml", ROOT / "scenarios" / "example_small.yaml")
TARGET_DRAWS_PER_S = 2000.0
TARGET_PEAK_MB = 1024.0
TARGET_CORES = 2


# --------------------------------------------------------------------------- child side
def _maxrss_mb(who: int) -> float:
    kb = resource.getrusage(who).ru_maxrss
    # Linux reports kilobytes, macOS bytes
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its reaped children (the workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def _dir_bytes(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants now (Linux /proc), in MB.

    Forked workers share pages with their parent, so this still counts shared pages twice:
    an upper bound, but of memory in use at one moment, unlike adding per-process peaks."""
    total_kb, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total_kb / 1024


class _TreeSampler:
    """Samples the process tree's resident memory every 20 ms in a thread; keeps the peak."""

    def __init__(self) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_mb(os.getpid()))
            self._stop.wait(0.02)

    def __enter__(self) -> _TreeSampler:
        if sys.platform.startswith("linux"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _child_run(spec: dict[str, Any]) -> dict[str, Any]:
    """One `run()` with outputs written; timing from outside and from metadata.json."""
    from sim import run

    out = Path(spec["out"])
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    with _TreeSampler() as sampler:
        path = run(spec["scenario"], draws=spec["draws"], seed=spec["seed"], out=out,
                   workers=spec["workers"], batch_size=spec["batch_size"], force=True,
                   summarize=spec["summarize"], charts=False)
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    meta = json.loads((path / "metadata.json").read_text())
    size, nfiles = _dir_bytes(path)
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "timing": meta["timing"],
        "batch_size": meta["batch_size"],
        "batches": meta["batches"],
        "output_bytes": size,
        "output_files": nfiles,
        "rss_parent_mb": _maxrss_mb(resource.RUSAGE_SELF),
        "rss_worker_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
        "rss_tree_peak_mb": sampler.peak,
    }


def _child_engine(spec: dict[str, Any]) -> dict[str, Any]:
    """The engine alone (no writing, one process): one batch vs one draw at a time."""
    import numpy as np

    from sim.engine.batch import simulate_batch
    from sim.engine.structure import build_structure
    from sim.runner.batches import default_batch_size
    from sim.scenario import load_scenario

    st = build_structure(load_scenario(spec["scenario"]).scenario)
    seed, n_single = spec["seed"], spec["single_draws"]
    n_batch = default_batch_size(st, spec["batch_draws"], 1)  # what run() uses with 1 worker
    simulate_batch(st, seed, np.arange(2))  # warm-up (lazy imports, caches)
    t0 = time.perf_counter()
    simulate_batch(st, seed, np.arange(n_batch))
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in range(n_single):
        simulate_batch(st, seed, np.arange(d, d + 1))
    t_single = time.perf_counter() - t0
    return {
        "batch_draws": n_batch, "batch_seconds": t_batch, "batch_draws_per_second": n_batch / t_batch,
        "single_draws": n_single, "single_seconds": t_single,
        "single_draws_per_second": n_single / t_single,
        "rss_parent_mb": _maxrss_mb(resource.RUSAGE_SELF),
    }


def child_main(arg: str) -> int:
    spec = json.loads(arg)
    res = _child_engine(spec) if spec["kind"] == "engine" else _child_run(spec)
    print("BENCH-RESULT " + json.dumps(res))
    return 0


# --------------------------------------------------------------------------- parent side
def in_child(spec: dict[str, Any], label: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; raise with its stderr if it fails."""
    if sys.stderr.isatty():
        print(f"  measuring: {label} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                          capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child measurement failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    res = json.loads(lines[-1].removeprefix("BENCH-RESULT "))
    res["process_seconds"] = elapsed  # includes interpreter start and imports
    return res


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info(scenario: Path) -> dict[str, Any]:
    import numpy

    from sim.engine.structure import build_structure
    from sim.scenario import load_scenario

    loaded = load_scenario(scenario)
    st = build_structure(loaded.scenario)
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "numpy": numpy.__version__,
        "blas_threads": blas_threads(),
        "load_average_start": _loadavg(),
        "scenario": str(scenario),
        "scenario_name": loaded.scenario.name,
        "lanes": st.L,
        "cells": st.C,
        "periods": st.NP,
        "frequency": st.freq,
        "months": st.T,
        "products": len(st.products),
        "regions": len(st.regions),
        "indications": len(st.indications),
        "events": len(loaded.scenario.events),
    }


def startup_times(scenario: Path, repeats: int = 3) -> dict[str, Any]:
    """Fresh-interpreter wall time of `sim validate` (import sim.cli + load + validate)."""
    code = f"import sys, sim.cli; sys.exit(sim.cli.main(['validate', {str(scenario)!r}]))"

    def timed(args: list[str]) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"start-up command failed: {proc.stderr.strip()}")
        return dt

    bare = [timed([sys.executable, "-c", "pass"]) for _ in range(repeats)]
    full = [timed([sys.executable, "-c", code]) for _ in range(repeats)]
    return {"repeats": repeats, "validate_seconds": statistics.median(full), "validate_all": full,
            "interpreter_seconds": statistics.median(bare)}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(headers: list[str], rows: list[list[str]], left: int = 0, indent: str = "  ") -> None:
    """Fixed-width table; the first `left` columns are left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h) for k, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return indent + "  ".join(c.ljust(w) if k < left else c.rjust(w)
                                  for k, (c, w) in enumerate(zip(cells, widths, strict=True)))

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))


def parse_draws(text: str) -> list[int]:
    try:
        vals = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"draw counts must be positive integers, got {text!r}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Benchmark sim.run(): speed, memory, start-up.")
    ap.add_argument("--scenario", type=Path, default=None,
                    help="scenario file (default scenarios/cart_2022.yaml if present, else example_small.yaml)")
    ap.add_argument("--draws", type=parse_draws, default=None,
                    help="comma-separated draw counts (default 1000,10000; --quick: 100,1000)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for run() (default 2)")
    ap.add_argument("--baseline-draws", type=int, default=None,
                    help="draws for the one-draw-at-a-time baseline (default 200; --quick: 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small draw counts, finishes in ~30 s")
    ap.add_argument("--json", type=Path, default=None, metavar="PATH", help="also save all figures as JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    return ap


def print_machine(scenario: Path, chosen: str, mode: str, workers: int) -> dict[str, Any]:
    """Print the header (scenario, machine, software, load) and return the machine's figures."""
    info = machine_info(scenario)
    try:
        rel = scenario.relative_to(ROOT)
    except ValueError:
        rel = scenario
    print(f"cart-sim run benchmark ({mode} mode)")
    print(f"scenario : {rel} ({chosen}) - '{info['scenario_name']}'")
    print(f"           {info['lanes']} lanes (product x region x indication), {info['cells']} cells "
          f"(region x indication), {info['periods']} periods ({info['frequency']}, {info['months']} months); "
          f"{info['products']} products, {info['regions']} regions, {info['indications']} indications, "
          f"{info['events']} event{'s' if info['events'] != 1 else ''}")
    cpus = info["cpu_count"]
    aff = info["cpu_affinity"]
    print(f"machine  : {cpus} CPUs" + (f" ({aff} usable)" if aff is not None and aff != cpus else "")
          + f", {info['platform']}")
    print(f"software : python {info['python']}, numpy {info['numpy']}, BLAS threads {info['blas_threads']}")
    load = info["load_average_start"]
    if load is not None:
        print(f"load     : {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15-min load average at start; "
              f"other busy processes make every figure below pessimistic)")
    usable = aff or cpus or 1
    if workers > usable:
        print(f"note     : --workers {workers} > {usable} usable CPUs; workers share cores")
    return info


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child is not None:
        return child_main(args.child)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    draws_list = args.draws or ([100, 1000] if args.quick else [1000, 10000])
    base_draws = args.baseline_draws or (20 if args.quick else 200)
    if args.scenario is not None:
        scenario = args.scenario.resolve()
        if not scenario.exists():
            print(f"error: scenario file {args.scenario} not found", file=sys.stderr)
            return 2
        chosen = "given with --scenario"
    else:
        scenario = next((p for p in DEFAULT_SCENARIOS if p.exists()), DEFAULT_SCENARIOS[-1])
        chosen = "default" if scenario == DEFAULT_SCENARIOS[0] else \
            "fallback: scenarios/cart_2022.yaml not found"
    t_all = time.perf_counter()
    failures = 0
    report: dict[str, Any] = {"mode": "quick" if args.quick else "full", "workers": args.workers,
                              "seed": args.seed, "targets": {"draws_per_second": TARGET_DRAWS_PER_S,
                                                             "peak_mb": TARGET_PEAK_MB,
                                                             "cores": TARGET_CORES}}

    # ---- machine and scenario
    info = report["machine"] = print_machine(scenario, chosen, report["mode"], args.workers)
    usable = info["cpu_affinity"] or info["cpu_count"] or 1

    # ---- start-up
    su = startup_times(scenario)
    report["startup"] = su
    print()
    print(f"start-up (fresh `python -c \"import sim.cli; sim.cli.main(['validate', ...])\"`, "
          f"median of {su['repeats']}): {su['validate_seconds']:.2f} s "
          f"(bare interpreter {su['interpreter_seconds']:.2f} s)")

    # ---- runs
    tmp = Path(tempfile.mkdtemp(prefix="cart-bench-"))
    runs: list[dict[str, Any]] = []
    try:
        for n in draws_list:
            spec = {"kind": "run", "scenario": str(scenario), "draws": n, "seed": args.seed,
                    "workers": args.workers, "batch_size": None, "summarize": True,
                    "out": str(tmp / f"run-{n}")}
            try:
                r = in_child(spec, f"run() with {n:,} draws")
            except RuntimeError as exc:
                print(f"\nrun with {n} draws failed: {exc}", file=sys.stderr)
                failures += 1
                continue
            finally:
                shutil.rmtree(tmp / f"run-{n}", ignore_errors=True)
            r["draws"] = n
            r["draws_per_second"] = n / r["wall_seconds"]
            r["sum_of_peaks_mb"] = r["rss_parent_mb"] + (args.workers * r["rss_worker_mb"]
                                                         if args.workers > 1 else 0.0)
            # the target is checked on the sampled peak of the whole process tree (parent and workers
            # at the same moment); the sum of per-process peaks (different moments) is shown beside it
            r["peak_estimate_mb"] = r["rss_tree_peak_mb"] or r["sum_of_peaks_mb"]
            runs.append(r)
        report["runs"] = runs

        # ---- baseline: one draw per batch through the same runner, then the engine alone
        base: dict[str, Any] | None = None
        engine: dict[str, Any] | None = None
        try:
            base = in_child({"kind": "run", "scenario": str(scenario), "draws": base_draws,
                             "seed": args.seed, "workers": args.workers, "batch_size": 1,
                             "summarize": False, "out": str(tmp / "baseline")},
                            f"run() with batch_size=1, {base_draws:,} draws")
            base["draws"] = base_draws
            engine = in_child({"kind": "engine", "scenario": str(scenario), "seed": args.seed,
                               "batch_draws": 200 if args.quick else max(draws_list),
                               "single_draws": base_draws},
                              "engine alone, batched vs one draw at a time")
        except RuntimeError as exc:
            print(f"\nbaseline failed: {exc}", file=sys.stderr)
            failures += 1
        finally:
            shutil.rmtree(tmp / "baseline", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # ---- print
    print()
    print(f"run() end to end, {args.workers} worker(s), outputs written (parquet parts + summary.csv, "
          f"charts off), each in a fresh process:")
    rows = []
    for r in runs:
        t = r["timing"]
        rows.append([
            f"{r['draws']:,}", f"{r['batch_size']:,}", str(r["batches"]), f"{r['wall_seconds']:.2f}",
            f"{r['draws_per_second']:,.0f}", f"{t['simulate_and_write_seconds']:.2f}",
            f"{t['draws_per_second']:,.0f}", f"{t.get('summary_seconds', 0.0):.2f}",
            f"{r['output_bytes'] / 1e6:.2f}", f"{r['output_bytes'] / r['draws'] / 1e3:.1f}",
            f"{r['cpu_seconds']:.1f}", f"{r['draws'] / r['cpu_seconds']:,.0f}",
        ])
    print_table(["draws", "batch", "batches", "wall s", "draws/s", "sim+write s", "sim draws/s",
                 "summary s", "output MB", "kB/draw", "CPU s", "draws/CPU-s"], rows)

    print()
    print("peak memory (max RSS, MB), and targets:")
    rows = []
    for r in runs:
        worker = f"{r['rss_worker_mb']:.0f}" if args.workers > 1 else "-"
        rows.append([
            f"{r['draws']:,}", f"{r['rss_parent_mb']:.0f}", worker, f"{r['sum_of_peaks_mb']:.0f}",
            f"{r['peak_estimate_mb']:.0f}",
            f"{verdict(r['peak_estimate_mb'] <= TARGET_PEAK_MB)}",
            f"{verdict(r['draws_per_second'] >= TARGET_DRAWS_PER_S)} ({r['draws_per_second']:,.0f})",
        ])
        r["memory_pass"] = r["peak_estimate_mb"] <= TARGET_PEAK_MB
        r["speed_pass"] = r["draws_per_second"] >= TARGET_DRAWS_PER_S
    total_hdr = f"parent+{args.workers}xworker" if args.workers > 1 else "total"
    print_table(["draws", "parent", "largest worker", total_hdr, "tree peak (sampled)", f"<= {TARGET_PEAK_MB:.0f} MB",
                 f">= {TARGET_DRAWS_PER_S:,.0f} draws/s"], rows)
    if args.workers != TARGET_CORES or usable < TARGET_CORES:
        print(f"  note: the speed target is for {TARGET_CORES} workers on {TARGET_CORES} cores; "
              f"this run used {args.workers} worker(s) on {usable} usable CPU(s)")

    if base is not None and engine is not None:
        report["baseline"] = {"run_batch_size_1": base, "engine_only": engine}
        b_rate = base["timing"]["draws_per_second"]
        ref = runs[-1] if runs else None
        print()
        print(f"baseline: one draw at a time (batch_size=1, per-draw cohort), {base_draws} draws:")
        rows = []
        if ref is not None:
            r_rate = ref["timing"]["draws_per_second"]
            ratio = r_rate / b_rate
            report["baseline"]["run_speedup"] = ratio
            rows.append([f"run(), {args.workers} worker(s), sim+write",
                         f"{r_rate:,.0f} ({ref['draws']:,} draws, batch {ref['batch_size']:,})",
                         f"{b_rate:,.1f}", f"{ratio:,.0f}x"])
        e_ratio = engine["batch_draws_per_second"] / engine["single_draws_per_second"]
        report["baseline"]["engine_speedup"] = e_ratio
        rows.append(["engine only, 1 process, no I/O",
                     f"{engine['batch_draws_per_second']:,.0f} (1 batch of {engine['batch_draws']:,})",
                     f"{engine['single_draws_per_second']:,.1f}", f"{e_ratio:,.0f}x"])
        print_table(["measure", "batched draws/s", "per-draw draws/s", "batch/per-draw"], rows, left=2)

    total = time.perf_counter() - t_all
    report["benchmark_seconds"] = total
    report["load_average_end"] = _loadavg()
    print()
    end_load = report["load_average_end"]
    print(f"benchmark took {total:.1f} s"
          + (f"; 1-min load average at end {end_load[0]:.2f} on {usable} CPU(s)" if end_load else ""))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"figures saved to {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

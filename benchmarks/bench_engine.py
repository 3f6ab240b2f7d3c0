"""Engine throughput of this tree against another source tree, interleaved in one sitting.

    python benchmarks/bench_engine.py --against ../before      # a git worktree of an older commit
    python benchmarks/bench_engine.py --against ../before --rounds 7 --draws 840

This machine's speed varies up to 2x between days, so a change is judged only against a
baseline measured in the same run: each round runs one child process per tree (alternating
which goes first), each child warms the kernels up and then times `simulate_batch` on the
reference scenario, reporting the CPU seconds of its fastest batch. The figure is the median
over rounds of those per-tree bests, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys, time
import numpy as np
from sim.engine.batch import simulate_batch
from sim.engine.structure import build_structure
from sim.scenario import load_scenario
scenario, draws, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
st = build_structure(load_scenario(scenario).scenario)
simulate_batch(st, 1, np.arange(50))  # loads (or compiles) the kernels
best = float("inf")
for r in range(repeats):
    t = time.process_time()
    simulate_batch(st, 1, np.arange(r * draws, (r + 1) * draws))
    best = min(best, time.process_time() - t)
print(json.dumps({"best_cpu_s": best}))
"""


def measure(tree: Path, scenario: Path, draws: int, repeats: int) -> float:
    """CPU seconds of the fastest batch in a fresh process importing `sim` from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(scenario), str(draws), str(repeats)], env=env,
                         capture_output=True, text=True, check=True, cwd=tree)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["best_cpu_s"])


def main() -> int:
    """Print each tree's median best batch time and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", type=Path, required=True, help="the other source tree (its sim/ is imported)")
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "cart_2022.yaml")
    ap.add_argument("--draws", type=int, default=840, help="draws per batch (default 840, a run's default batch)")
    ap.add_argument("--repeats", type=int, default=5, help="batches timed per child (best counts)")
    ap.add_argument("--rounds", type=int, default=5, help="children per tree, interleaved")
    args = ap.parse_args()
    other = args.against.resolve()
    if not (other / "sim" / "__init__.py").exists():
        print(f"error: --against {other}: no sim/ package there", file=sys.stderr)
        return 2
    times: dict[str, list[float]] = {"this": [], "against": []}
    for r in range(args.rounds):
        order = [("this", ROOT), ("against", other)][:: 1 if r % 2 == 0 else -1]
        for name, tree in order:
            times[name].append(measure(tree, args.scenario.resolve(), args.draws, args.repeats))
        print(f"round {r + 1}: this {times['this'][-1]:.3f} s, against {times['against'][-1]:.3f} s", flush=True)
    this, against = statistics.median(times["this"]), statistics.median(times["against"])
    print(f"engine CPU per batch of {args.draws} draws ({args.scenario.name}), median of {args.rounds} "
          f"rounds' best of {args.repeats}:")
    print(f"  this tree     {this:.3f} s  ({args.draws / this:,.0f} draws per CPU second)")
    print(f"  {other}  {against:.3f} s  ({args.draws / against:,.0f} draws per CPU second)")
    print(f"  this / against = {this / against:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

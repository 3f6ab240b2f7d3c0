"""The runner: a run's draws in batches, over worker processes or a dask cluster, to a folder.

batches (how draws are split) -> tasks (what a worker does with a batch) -> pool (local
workers) / dask -> folders (where a run writes, resume) -> execute (`run_scenario`).
"""

from sim.runner.execute import run_scenario
from sim.runner.pool import WorkerPool

__all__ = ["WorkerPool", "run_scenario"]

"""The local worker processes of a run, started (and warmed) before the scenario is read."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from sim.processes import keep_freed_memory


def warm_up_kernels() -> None:
    """Load every compiled kernel a batch and the summary use (sampling, engine, summary)."""
    from sim.engine.kernels import warm_up_engine
    from sim.results.kernels import warm_up_summary
    from sim.sampling import warm_up_sampling

    warm_up_sampling()
    warm_up_engine()
    warm_up_summary()


def warm_worker() -> None:
    """Worker start-up: everything a batch and the summary import or load, done while the
    parent is still reading and validating the scenario (see WorkerPool)."""
    keep_freed_memory()
    from scipy import special  # noqa: F401  (affordability curves, sampling)

    import sim.results.write  # noqa: F401  (pyarrow)

    warm_up_kernels()


class WorkerPool:
    """The local worker processes of run(). Started before the scenario is read, so that each
    worker's imports and numba's loading of the compiled kernels overlap the parent's loading
    and validation; the summary then runs in the same warm processes."""

    def __init__(self, workers: int) -> None:
        self.size = workers
        self.executor = ProcessPoolExecutor(max_workers=workers, initializer=warm_worker)
        self.executor.submit(int)  # the first task starts every (forked) worker now

    def close(self) -> None:
        """Stop the workers (tasks not yet started are dropped)."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

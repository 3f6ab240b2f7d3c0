"""How a run's draws are split into batches: bounded memory per worker, whole rounds of workers."""

from __future__ import annotations

from dataclasses import dataclass

from sim.engine.structure import Structure

# per-draw (lanes x periods + lanes x channels x 4) held per batch; the batch size and memory
# this gives on cart_2022 are in benchmarks/README.md
DEFAULT_BATCH_ELEMENTS = 1_800_000


@dataclass(frozen=True)
class BatchTask:
    """Draws start..stop-1 of a run, written as part `index`."""

    index: int
    start: int
    stop: int


def default_batch_size(structure: Structure, draws: int, workers: int) -> int:
    """As large as the memory cap allows; at least two batches a worker when there is enough work;
    equal batches in whole rounds of the workers, so none idles while another runs a last one."""
    per_draw = max(1, structure.L * structure.NP + structure.L * structure.K * 4)
    size = max(50, min(5000, DEFAULT_BATCH_ELEMENTS // per_draw))
    if workers > 1 and draws > 2 * workers * 50:
        size = min(size, max(50, -(-draws // (2 * workers))))
    if workers > 1:  # whole rounds of equal batches (but in tiny runs)
        n = -(-draws // size)
        size = -(-draws // (-(-n // workers) * workers))
    return int(max(1, min(size, draws)))


def plan_batches(draws: int, batch_size: int) -> list[BatchTask]:
    """The batches of a run of `draws` draws."""
    return [BatchTask(k, s, min(s + batch_size, draws)) for k, s in enumerate(range(0, draws, batch_size))]

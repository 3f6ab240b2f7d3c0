"""Results: tidy parquet tables written batch by batch, read back and summarised.

parts (arrow tables of a batch) -> write (a batch into parts/) -> folder (`Results`, the
reader) -> grouping (products, targets, regions, companies) -> stats (percentiles and their
error) -> summary (summary.csv).
"""

from sim.results.folder import Results
from sim.results.stats import summarize

__all__ = ["Results", "summarize"]

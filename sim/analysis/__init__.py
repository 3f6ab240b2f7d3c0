"""Analysis of results and scenarios; every function here returns data (charts: sim.plots).

compare (paired differences between scenarios), evaluator (draws evaluated in memory),
sensitivity (tornado, rank correlations, Sobol), convergence (Monte Carlo error, run until
precise), calibration and actuals (observed values against a run), decile (inputs ranked
from a run's own draws), shares (shares over time).
"""

"""Every chart: fan charts, comparisons, sensitivity, convergence, shares over time.

Charts take results or analysis data and an optional matplotlib `ax`, and return the figure.
"""

from sim.plots.fan import default_charts, fan_chart, plot_fan

__all__ = ["default_charts", "fan_chart", "plot_fan"]

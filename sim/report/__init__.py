"""What is written for people: the HTML report of a run, and the folders of tables and charts
that comparisons, sensitivity and convergence write."""

from sim.report.html import Report, build_report, report_summary, write_report

__all__ = ["Report", "build_report", "report_summary", "write_report"]

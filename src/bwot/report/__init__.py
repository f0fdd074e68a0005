"""The report: the results table in the original's shape, PR curves, convergence and a retrieval gallery."""

from bwot.report.build import build_report, write_tables
from bwot.report.tables import PAPER, metrics_markdown, metrics_table

__all__ = ["PAPER", "build_report", "metrics_markdown", "metrics_table", "write_tables"]

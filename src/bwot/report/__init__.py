"""The report: the results table in the original's shape with 95% intervals and paired differences,
sweeps, PR curves, convergence and a retrieval gallery."""

from bwot.report.build import LossFiles, build_report
from bwot.report.tables import PAPER, metrics_table

__all__ = ["PAPER", "LossFiles", "build_report", "metrics_table"]

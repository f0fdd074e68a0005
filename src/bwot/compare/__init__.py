"""`bwot compare`: two runs evaluated on the same queries and targets, with the report's paired bootstrap."""

from bwot.compare.compare import ClassDifference, Comparison, RunEval, compare_runs

__all__ = ["ClassDifference", "Comparison", "RunEval", "compare_runs"]

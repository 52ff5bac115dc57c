"""The comparison report: a verdict, then tables and figures of time to accuracy, error at equal cost, and final results."""

from parity.report.index import write_index
from parity.report.write import write_report

__all__ = ["write_index", "write_report"]

"""The comparison report: tables and figures of time to accuracy, error at equal cost, and final results."""

from parity.report.write import write_report

__all__ = ["write_report"]

"""``ci-collector report``: CI health from the local store, as CircleCI Insights defines it."""

from .model import Report, ReportQuery
from .queries import build_report

__all__ = ["Report", "ReportQuery", "build_report"]

"""Delivery metrics (DORA, split by AI-assisted vs human changes) for a service over [start, end).

- rules.py   the rules, written out at its top, and the pure functions that apply them
- reads.py   the handful of reads (each from an indexed time range) and `metrics`, which runs them
- models.py  the rows read and the answer, `Metrics`

What the API and the CLI use is importable from here.
"""

from graph.metrics.models import Durations, FailedDeployment, Metrics, Rate, SpendMonth, SpendRow, Week
from graph.metrics.reads import metrics
from graph.metrics.rules import MetricsError

__all__ = [
    "Durations",
    "FailedDeployment",
    "Metrics",
    "MetricsError",
    "Rate",
    "SpendMonth",
    "SpendRow",
    "Week",
    "metrics",
]

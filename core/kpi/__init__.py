"""KPIs over the inference event log: SQL aggregates, period-over-period tests, targets and alerts."""

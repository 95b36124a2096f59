"""Monitoring: drift tests over datasets and production events, saved monitors, their runs, and alerts."""

"""Datasets: import, versions, lineage, profile, redaction, export."""

"""Shared UI pieces: errors, charts, tables."""

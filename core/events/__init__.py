"""The inference event log: one row per model call, whatever path it came by (server, SDK call, HTTP, file)."""

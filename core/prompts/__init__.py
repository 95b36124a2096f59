"""Prompt templates: sandboxed Jinja2 rendering, immutable versions, labels, diffs."""

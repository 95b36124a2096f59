"""Serving registered models over an OpenAI-compatible HTTP API: keys, deployments, the scheduler and the routes."""

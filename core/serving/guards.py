"""Guardrail hooks on the serving path. The evaluation issue fills them in from core.guardrails; today they pass
everything through.

Both read the deployment version's `guardrails` JSON (None for a request that names a model, not a deployment) and
return (text, hits, blocked_reply): the possibly changed text, a list of hits
[{"guard", "stage", "action", "span"}] recorded on the event as guard_flags, and a reply to send instead of the
model's when the guard blocks (None otherwise).
"""
from __future__ import annotations

from typing import Any

Hits = list[dict[str, Any]]


def apply_input(version: dict[str, Any] | None, messages: list[dict]) -> tuple[list[dict], Hits, str | None]:
    """Before the model: the messages it will read."""
    return messages, [], None


def apply_output(version: dict[str, Any] | None, text: str) -> tuple[str, Hits, str | None]:
    """After the model: the answer the client will get."""
    return text, [], None

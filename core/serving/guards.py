"""Guardrail hooks on the serving path. They run the version's guards through core.guardrails.apply (the
evaluation issue); a version without guardrails passes everything through.

Both read the deployment version's `guardrails` JSON (None for a request that names a model, not a deployment) and
return (text, hits, blocked_reply): the possibly changed text, a list of hits
[{"guard", "stage", "action", "span"}] recorded on the event as guard_flags, and a reply to send instead of the
model's when the guard blocks (None otherwise).
"""
from __future__ import annotations

from typing import Any

Hits = list[dict[str, Any]]


def apply_input(version: dict[str, Any] | None, messages: list[dict]) -> tuple[list[dict], Hits, str | None]:
    """Before the model: the messages it will read (core.guardrails.apply)."""
    if not version or not version.get("guardrails"):
        return messages, [], None
    from core.guardrails import apply

    return apply.apply_input(version, messages)


def apply_output(version: dict[str, Any] | None, text: str) -> tuple[str, Hits, str | None]:
    """After the model: the answer the client will get (core.guardrails.apply)."""
    if not version or not version.get("guardrails"):
        return text, [], None
    from core.guardrails import apply

    return apply.apply_output(version, text)

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


# Guards that judge a whole answer (valid JSON, on topic): a part of an answer cannot be checked by them.
WHOLE_ANSWER_GUARDS = ("json_schema", "topic")
# Text held back at the end of a streamed answer: what the guards may still find (an e-mail address, a phone or
# card number, a key) once more of it has arrived. The end's run without spaces is always held back too.
HOLD_CHARS = 64


class StreamedOutput:
    """The output guards over a streamed answer: `feed` each delta and send what it returns, `finish` at the end.

    After every delta the text so far goes through `apply_output` (the guards that can judge a part of an answer);
    only a prefix that later text cannot change is sent: the last HOLD_CHARS characters and the word being
    written are held back, so a redacting guard never lets the raw span out. A blocking guard stops the answer
    (`blocked`); what it had found is not sent. A deployment with a whole-answer guard that blocks (json_schema,
    topic) holds the whole answer until its end. `finish` runs every output guard on the whole answer and returns
    what is left to send (the blocked reply when a block came before anything was sent). `sent` is the text the
    client got; `hits` the guard_flags of the last check.
    """

    def __init__(self, version: dict[str, Any] | None):
        self.version = version
        config = (version or {}).get("guardrails") or {}
        specs = config.get("output") or []
        partial = [s for s in specs if s.get("guard") not in WHOLE_ANSWER_GUARDS]
        self.partial = {**version, "guardrails": {**config, "output": partial}} if partial else None
        self.hold_all = any(s.get("guard") in WHOLE_ANSWER_GUARDS and s.get("action") == "block" for s in specs)
        self.raw = self.sent = ""
        self.hits: Hits = []
        self.blocked_reply: str | None = None

    @property
    def blocked(self) -> bool:
        return self.blocked_reply is not None

    def feed(self, delta: str) -> str:
        """The next delta from the model; returns the text to send now ("" for none)."""
        self.raw += delta
        if self.blocked or self.hold_all:
            return ""
        if self.partial is None:  # no guard can change a part of the answer
            return self._send(self.raw)
        text, hits, blocked_reply = apply_output(self.partial, self.raw)
        if blocked_reply is not None:
            self.hits, self.blocked_reply = hits, blocked_reply
            return ""
        return self._send(text[:_settled(text)])

    def finish(self) -> str:
        """The whole answer through every output guard: the rest to send."""
        if not self.blocked:
            text, self.hits, blocked_reply = apply_output(self.version, self.raw)
            if blocked_reply is None:
                return self._send(text)
            self.blocked_reply = blocked_reply
        return "" if self.sent else self._send(self.blocked_reply)

    def _send(self, text: str) -> str:
        if len(text) > len(self.sent) and text.startswith(self.sent):
            delta, self.sent = text[len(self.sent):], text
            return delta
        return ""


def _settled(text: str) -> int:
    """Where the held-back end of a growing text begins."""
    word = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
    return max(0, min(len(text) - HOLD_CHARS, word))

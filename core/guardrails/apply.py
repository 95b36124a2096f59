"""Running a deployment version's guards on a request's messages and on the model's answer.

The version's `guardrails` JSON:

    {"input":  [{"guard": "pii", "action": "redact"},
                {"guard": "injection", "action": "block", "embedding": true},
                {"guard": "deny_list", "words": ["chargeback fraud"], "patterns": ["\\bcvv\\b"], "action": "flag"},
                {"guard": "topic", "topics": ["billing and invoices", "the mobile app"], "action": "flag"}],
     "output": [{"guard": "secrets", "action": "redact"}, {"guard": "pii", "action": "redact"},
                {"guard": "max_length", "max_chars": 2000, "action": "redact"},
                {"guard": "json_schema", "schema": {...}, "action": "block"}],
     "blocked_reply": "Sorry, I can't help with that request."}

Guards run in order; `flag` records the hit, `redact` replaces the found text (PII by its type's placeholder,
secrets by <SECRET>, an over-long answer is cut), `block` answers with `blocked_reply` instead of the model. Input
guards read the user messages (system prompts are the deployment's own). Every hit becomes one entry of the
event's guard_flags: {"guard", "stage", "action", "span": [start, end], "detail"} (plus "message" for input).
A guard that cannot run (the embedding model missing) records an "error" hit and lets the text through: a guard
outage must not take the service down; the flag makes it visible in the KPIs.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from core.errors import InvalidInput, WorkbenchError
from core.guardrails import deny_list, injection, json_schema, max_length, pii, secrets, topic
from core.guardrails.base import ACTIONS, STAGES, Guard

GUARDS: dict[str, Guard] = {g.GUARD.name: g.GUARD for g in (pii, deny_list, injection, topic, secrets, max_length,
                                                             json_schema)}
DEFAULT_BLOCKED_REPLY = "Sorry, I can't help with that request."
MAX_HITS_PER_GUARD = 20

Hits = list[dict[str, Any]]


def check_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The guardrails JSON checked: known guards, actions that suit them, their parameters; a sentence if not."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise InvalidInput("Guardrails are a JSON object with input and output lists.")
    unknown = set(config) - {"input", "output", "blocked_reply"}
    if unknown:
        raise InvalidInput(f"Unknown guardrails key {', '.join(sorted(unknown))}; use input, output, blocked_reply.")
    for stage in STAGES:
        specs = config.get(stage) or []
        if not isinstance(specs, list):
            raise InvalidInput(f"The {stage} guards must be a list.")
        for spec in specs:
            if not isinstance(spec, dict) or spec.get("guard") not in GUARDS:
                raise InvalidInput(f"Unknown {stage} guard {spec!r}; the guards are {', '.join(GUARDS)}.")
            guard = GUARDS[spec["guard"]]
            action = spec.get("action", "flag")
            if action not in ACTIONS or action not in guard.actions:
                raise InvalidInput(f"The {guard.name} guard can {' or '.join(guard.actions)}, not {action!r}.")
            if stage not in guard.stages:
                raise InvalidInput(f"The {guard.name} guard runs on {' and '.join(guard.stages)} only.")
            if guard.check_params:
                guard.check_params(spec)
    reply = config.get("blocked_reply")
    if reply is not None and (not isinstance(reply, str) or not reply.strip()):
        raise InvalidInput("The blocked reply must be a non-empty text.")
    return config


@lru_cache(maxsize=1)
def _models_dir() -> str:
    from core.settings import Settings

    return str(Settings.from_env().models_dir)


def _redact(text: str, findings) -> str:
    spans = sorted(findings, key=lambda f: f.start)
    out, last = [], 0
    for f in spans:
        if f.start < last:
            continue  # overlapping findings: the first one redacted covers it
        out += [text[last:f.start], f.replacement]
        last = f.end
    out.append(text[last:])
    return "".join(out)


def guard_text(specs: list[dict[str, Any]], stage: str, text: str, *,
               models_dir: str | None = None) -> tuple[str, Hits, bool]:
    """(text after redactions, hits, blocked) for one text through a list of guard specs."""
    hits: Hits = []
    for spec in specs or []:
        guard = GUARDS[spec["guard"]]
        action = spec.get("action", "flag")
        params = dict(spec)
        if guard.uses_embeddings:
            params["_models_dir"] = models_dir or _models_dir()
        try:
            findings = guard.detect(text, params)
        except WorkbenchError as exc:
            hits.append({"guard": guard.name, "stage": stage, "action": "error", "span": None,
                         "detail": exc.message[:200]})
            continue
        if not findings:
            continue
        hits += [{"guard": guard.name, "stage": stage, "action": action, "span": [f.start, f.end],
                  "detail": f.detail} for f in findings[:MAX_HITS_PER_GUARD]]
        if action == "block":
            return text, hits, True
        if action == "redact":
            text = _redact(text, findings)
    return text, hits, False


def _config(version: dict[str, Any] | None) -> dict[str, Any] | None:
    if not version:
        return None
    config = version.get("guardrails") if "guardrails" in version or "deployment" in version else version
    return config or None


def apply_input(version: dict[str, Any] | None, messages: list[dict]) -> tuple[list[dict], Hits, str | None]:
    """The user messages through the input guards: (messages, hits, blocked reply or None)."""
    config = _config(version)
    if not config or not config.get("input"):
        return messages, [], None
    out, hits = [], []
    for index, message in enumerate(messages):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, str):
            out.append(message)
            continue
        text, found, blocked = guard_text(config["input"], "input", content)
        hits += [{**hit, "message": index} for hit in found]
        if blocked:
            return messages, hits, config.get("blocked_reply") or DEFAULT_BLOCKED_REPLY
        out.append({**message, "content": text} if text != content else message)
    return out, hits, None


def apply_output(version: dict[str, Any] | None, text: str) -> tuple[str, Hits, str | None]:
    """The model's answer through the output guards: (answer, hits, blocked reply or None)."""
    config = _config(version)
    if not config or not config.get("output") or not isinstance(text, str):
        return text, [], None
    changed, hits, blocked = guard_text(config["output"], "output", text)
    if blocked:
        return text, hits, config.get("blocked_reply") or DEFAULT_BLOCKED_REPLY
    return changed, hits, None
